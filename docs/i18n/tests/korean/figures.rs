//! The figures in Korean (issue 25). Each `<text>` and `<title>` of `docs/src/*.svg` has its
//! Korean in `docs/po/figures-ko.po`: the figure's file name as msgctxt, the English (its inner
//! markup, white space collapsed) as msgid. `scripts/book_ko.py` draws the Korean edition's
//! figures from it. A figure whose text changed, or a new figure, fails here until its Korean is
//! in that file, as a new paragraph of the book does.

use std::collections::BTreeSet;
use std::fs;

use super::english::{docs, read};

/// Texts with nothing to translate: numbers, "596.98 ms", "⋮" (`wordless` in scripts/book_ko.py).
fn wordless(text: &str) -> bool {
    !text
        .split_whitespace()
        .filter(|word| *word != "ms")
        .any(|word| word.chars().any(|c| c.is_ascii_alphabetic()))
}

/// The (figure, text) pairs of every figure: the inner markup of each `<text>` and `<title>`.
fn figure_texts() -> BTreeSet<(String, String)> {
    let mut texts = BTreeSet::new();
    let entries = fs::read_dir(docs().join("src")).expect("docs/src is readable");
    for path in entries.map(|e| e.expect("docs/src lists").path()) {
        if path.extension().is_none_or(|e| e != "svg") {
            continue;
        }
        let name = path.file_name().expect("a file name").to_string_lossy().into_owned();
        let svg = read(&path);
        for tag in ["title", "text"] {
            let (open, close) = (format!("<{tag}"), format!("</{tag}>"));
            let mut rest = svg.as_str();
            while let Some(start) = rest.find(&open) {
                let after = &rest[start + open.len()..];
                // `<text` and not `<textPath`: the tag name ends at a space or `>`.
                let Some(head_end) = after.find('>').filter(|_| after.starts_with([' ', '>', '\n'])) else {
                    rest = after;
                    continue;
                };
                let body = &after[head_end + 1..];
                let end = body.find(&close).unwrap_or_else(|| panic!("{name}: a <{tag}> is not closed"));
                let text = body[..end].split_whitespace().collect::<Vec<_>>().join(" ");
                if !wordless(&text) {
                    texts.insert((name.clone(), text));
                }
                rest = &body[end..];
            }
        }
    }
    assert!(texts.len() > 50, "only {} texts found in docs/src/*.svg", texts.len());
    texts
}

/// The `<tspan ...>` tags of a text, sorted: the Korean may move them, not drop or change them.
fn tspans(markup: &str) -> Vec<&str> {
    let mut tags: Vec<&str> = markup
        .match_indices("<tspan")
        .map(|(at, _)| &markup[at..at + markup[at..].find('>').unwrap_or(0) + 1])
        .collect();
    tags.sort_unstable();
    tags
}

#[test]
fn every_text_of_every_figure_has_korean() {
    let path = docs().join("po/figures-ko.po");
    let catalog =
        polib::po_file::parse(&path).unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()));
    let figures = figure_texts();
    let mut korean = BTreeSet::new();
    let mut wrong = Vec::new();
    for message in catalog.messages().filter(|m| !m.msgid().is_empty()) {
        let key = (message.msgctxt().to_string(), message.msgid().to_string());
        let msgstr = message.msgstr().unwrap_or_default();
        if !figures.contains(&key) {
            wrong.push(format!("{}: {:?} is no longer in the figure: remove it", key.0, key.1));
        } else if msgstr.is_empty() || message.is_fuzzy() {
            wrong.push(format!("{}: {:?} has no Korean (or fuzzy Korean)", key.0, key.1));
        } else if tspans(msgstr) != tspans(&key.1) {
            wrong.push(format!("{}: {:?} lost or changed a <tspan>: {msgstr:?}", key.0, key.1));
        }
        korean.insert(key);
    }
    for (figure, text) in figures.difference(&korean) {
        wrong.push(format!(
            "{figure}: {text:?} has no entry: add msgctxt {figure:?}, msgid {text:?} and its Korean"
        ));
    }
    assert!(
        wrong.is_empty(),
        "docs/po/figures-ko.po is out of step with docs/src/*.svg:\n  {}\nscripts/book_ko.py draws the Korean \
         figures from it (docs/po/TRANSLATING-ko.md)",
        wrong.join("\n  ")
    );
}

#[test]
fn the_figure_checks_catch_what_they_are_for() {
    assert!(wordless("0.15") && wordless("596.98 ms") && wordless("⋮") && !wordless("0x6c = 108"));
    assert_eq!(tspans(r#"a <tspan class="warn">deadlock</tspan>."#), [r#"<tspan class="warn">"#]);
}
