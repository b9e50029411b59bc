//! The Korean edition of the book (issue 17): `docs/po/ko.po` against the English in `docs/src`.
//!
//! The book is translated with gettext: mdbook-xgettext cuts every chapter into messages (a
//! paragraph, a heading, a list item, a table cell), `docs/po/ko.po` holds the Korean of each,
//! and mdbook-gettext swaps it in when the book is built in Korean. These tests cut `docs/src`
//! the same way, with the same library (mdbook-i18n-helpers 0.4.0), and fail when
//!
//! - ko.po or messages.pot is out of date: the English has a message they lack, or they have
//!   one the English no longer has (`scripts/po-update` brings both up to date);
//! - a message of the English book has no Korean, or fuzzy Korean (msgmerge's guess after the
//!   English changed, which the build ignores): a new English paragraph cannot land untranslated;
//! - a message cut from a code block has Korean: code, commands and output are shared with the
//!   English, so the checked excerpts and sessions cannot drift in translation;
//! - a chapter, translated as mdbook-gettext translates it, has a code block that differs from
//!   the English one, in its text or its info string (```rust,file=PATH, ```console,session=...);
//! - a translation drops an `inline code` span or a link target of its English, or a section
//!   heading's translation does not keep the English anchor with `{#id}` (links and the
//!   language switch land on it);
//! - the Korean drifts from the term table, mixes question forms, quotes with straight quotes or
//!   leaves an emphasis mark beside Hangul (`style.rs`);
//! - a text of a figure (`docs/src/*.svg`) has no Korean in `docs/po/figures-ko.po` (`figures.rs`);
//! - a drawing in text (```` ```text,drawing ````) has no Korean, or its Korean lost a line, a
//!   call or an arrow (`drawings.rs`): unlike other code blocks, its words are translated.
//!
//! `docs/po/TRANSLATING-ko.md` is the translators' guide.

mod drawings;
mod english;
mod figures;
mod style;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use english::{chapters, code_blocks, docs, english, read, spans_and_links, Origin};
use mdbook_i18n_helpers::{extract_events, reconstruct_markdown, translate_events};

const REFRESH: &str = "scripts/po-update brings docs/po/messages.pot and docs/po/ko.po up to \
                       date with docs/src (it needs mdbook-xgettext and gettext's msgmerge; \
                       see docs/po/TRANSLATING-ko.md)";

/// At most this many messages are quoted in a failure; the count says how many there are.
const QUOTED: usize = 15;

/// A PO file's messages: msgid to (msgstr, fuzzy). The header (empty msgid) is left out.
fn po(name: &str) -> BTreeMap<String, (String, bool)> {
    let path = docs().join("po").join(name);
    let catalog = polib::po_file::parse(&path)
        .unwrap_or_else(|e| panic!("cannot parse {} as a PO file: {e}", path.display()));
    catalog
        .messages()
        .filter(|m| !m.msgid().is_empty())
        .map(|m| {
            let msgstr = m.msgstr().unwrap_or_default().to_string();
            (m.msgid().to_string(), (msgstr, m.is_fuzzy()))
        })
        .collect()
}

/// A failure message: a headline, then each message quoted with the files it is in.
fn report(headline: &str, msgids: &[(&str, String)], fix: &str) -> String {
    let mut msgids = msgids.to_vec();
    msgids.sort_by_key(|(id, _)| english().get(*id).map_or(usize::MAX, |o| o.order));
    let mut out = format!("{} {headline}:\n", msgids.len());
    for (msgid, files) in msgids.iter().take(QUOTED) {
        let short: String = msgid.chars().take(100).collect();
        let more = if short.len() < msgid.len() { "…" } else { "" };
        let _ = writeln!(out, "  [{files}] {short:?}{more}");
    }
    if msgids.len() > QUOTED {
        let _ = writeln!(out, "  … and {} more", msgids.len() - QUOTED);
    }
    out + fix
}

fn files_of(origin: Option<&Origin>) -> String {
    origin.map_or_else(
        || "gone from docs/src".into(),
        |o| o.files.iter().cloned().collect::<Vec<_>>().join(", "),
    )
}

#[test]
fn the_po_files_have_every_message_of_the_english_book_and_no_other() {
    let english = english();
    let mut failures = Vec::new();
    for name in ["messages.pot", "ko.po"] {
        let po = po(name);
        let missing: Vec<_> = english
            .iter()
            .filter(|(id, _)| !po.contains_key(*id))
            .map(|(id, o)| (id.as_str(), files_of(Some(o))))
            .collect();
        let stale: Vec<_> = po
            .keys()
            .filter(|id| !english.contains_key(*id))
            .map(|id| (id.as_str(), files_of(None)))
            .collect();
        if !missing.is_empty() {
            failures.push(report(
                &format!("message(s) of the English book missing from docs/po/{name}"),
                &missing,
                REFRESH,
            ));
        }
        if !stale.is_empty() {
            failures.push(report(
                &format!("message(s) in docs/po/{name} that the English book no longer has"),
                &stale,
                REFRESH,
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

#[test]
fn every_message_of_the_book_has_korean() {
    let english = english();
    let ko = po("ko.po");
    let (mut untranslated, mut fuzzy) = (Vec::new(), Vec::new());
    for (id, origin) in english {
        // A drawing in text is translated like prose (drawings.rs); other code is not.
        if (origin.code && !drawings::is_drawing(id)) || origin.wordless {
            continue;
        }
        match ko.get(id) {
            Some((msgstr, true)) if !msgstr.is_empty() => fuzzy.push((id.as_str(), files_of(Some(origin)))),
            Some((msgstr, false)) if !msgstr.is_empty() => {}
            _ => untranslated.push((id.as_str(), files_of(Some(origin)))),
        }
    }
    let mut failures = Vec::new();
    if !untranslated.is_empty() {
        failures.push(report(
            "message(s) of the English book have no Korean",
            &untranslated,
            "translate them in docs/po/ko.po (docs/po/TRANSLATING-ko.md); if ko.po lacks them, \
             run scripts/po-update first",
        ));
    }
    if !fuzzy.is_empty() {
        failures.push(report(
            "message(s) of the English book have fuzzy Korean \
             (the English changed; the build shows the English until the Korean is checked)",
            &fuzzy,
            "check each translation against its new English, fix it, and delete its \
             `#, fuzzy` line in docs/po/ko.po",
        ));
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

#[test]
fn code_blocks_stay_shared_with_the_english() {
    let english = english();
    // The cutting must find them: mdbook-xgettext makes a message of each Rust comment and
    // of each console block that quotes a string, and this book has dozens of both.
    let code = english.values().filter(|o| o.code).count();
    assert!(code > 20, "only {code} messages from code blocks found: has the cutting changed?");
    let ko = po("ko.po");
    let translated: Vec<_> = english
        .iter()
        .filter(|(id, o)| {
            o.code && !drawings::is_drawing(id) && ko.get(*id).is_some_and(|(s, _)| !s.is_empty())
        })
        .map(|(id, o)| (id.as_str(), files_of(Some(o))))
        .collect();
    assert!(
        translated.is_empty(),
        "\n{}",
        report(
            "message(s) cut from code blocks have a translation in docs/po/ko.po",
            &translated,
            "code, commands and program output stay as in the English (the excerpts are checked \
             against the project's files): leave these msgstr empty",
        )
    );
}

#[test]
fn translations_keep_the_code_spans_links_and_anchors_of_their_english() {
    let english = english();
    let ko = po("ko.po");
    let mut dropped = Vec::new();
    for (id, (msgstr, _)) in &ko {
        if msgstr.is_empty() {
            continue;
        }
        let origin = english.get(id);
        let kept = spans_and_links(msgstr);
        let lost: Vec<_> = spans_and_links(id).into_iter().filter(|s| !kept.contains(s)).collect();
        if !lost.is_empty() {
            dropped.push((id.as_str(), format!("{}; lost {}", files_of(origin), lost.join(" "))));
        }
        if let Some(anchor) = origin.and_then(|o| o.anchor.as_ref()) {
            if !msgstr.trim_end().ends_with(&format!("{{#{anchor}}}")) {
                dropped.push((
                    id.as_str(),
                    format!("{}; a heading: end it with {{#{anchor}}}", files_of(origin)),
                ));
            }
        }
    }
    assert!(
        dropped.is_empty(),
        "\n{}",
        report(
            "translation(s) in docs/po/ko.po lose what must stay as in the English",
            &dropped,
            "keep every `code` span and link target of the English in the Korean (commands and \
             names stay English), and end a section heading's Korean with the English anchor, \
             `{#id}`, so links to it still land",
        )
    );
}

/// Every chapter of the book: its file, its English, and its Korean as mdbook-gettext makes it
/// from docs/po/ko.po (its `translate`).
fn chapters_in_korean() -> Vec<(String, String, String)> {
    let path = docs().join("po/ko.po");
    let catalog =
        polib::po_file::parse(&path).unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()));
    let src = docs().join("src");
    let chapters = chapters(&read(&src.join("SUMMARY.md")));
    assert!(chapters.len() > 5, "SUMMARY.md lists only {chapters:?}");
    chapters
        .into_iter()
        .map(|chapter| {
            let english = read(&src.join(&chapter));
            let events = extract_events(&english, None);
            let translated = translate_events(&events, &catalog)
                .unwrap_or_else(|e| panic!("{chapter}: the Korean does not fit the English: {e:?}"));
            let (korean, _) = reconstruct_markdown(&translated, None)
                .unwrap_or_else(|e| panic!("{chapter}: cannot rebuild the Korean Markdown: {e:?}"));
            (chapter, english, korean)
        })
        .collect()
}

#[test]
fn every_chapter_in_korean_has_the_code_blocks_of_the_english() {
    let mut differ = Vec::new();
    for (chapter, english, korean) in chapters_in_korean() {
        // A drawing's words are translated: compare what it must keep (drawings.rs).
        let kept = |blocks: Vec<(String, String)>| -> Vec<(String, String)> {
            let kept = |(info, body): (String, String)| {
                let body =
                    if info == "text,drawing" { format!("{:?}", drawings::skeleton(&body)) } else { body };
                (info, body)
            };
            blocks.into_iter().map(kept).collect()
        };
        let (before, after) = (kept(code_blocks(&english)), kept(code_blocks(&korean)));
        if before != after {
            let first = before.iter().zip(&after).position(|(b, a)| b != a);
            differ.push(format!(
                "{chapter}: {} code blocks in English, {} in Korean; first difference at block {}",
                before.len(),
                after.len(),
                first.map_or("past the shorter list".into(), |i| format!("{} ({:?})", i + 1, before[i].0)),
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "the Korean edition changes code blocks of the English (a translated message swallowed or \
         split one):\n  {}\nfind the message in docs/po/ko.po whose msgstr adds or removes a ``` fence",
        differ.join("\n  ")
    );
}
