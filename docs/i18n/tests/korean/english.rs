//! The English book as mdbook-xgettext cuts it into messages, and the Markdown facts the
//! tests compare across the two editions (code blocks, `code` spans, links, heading anchors).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use mdbook_i18n_helpers::{extract_events, extract_messages, reconstruct_markdown};
use pulldown_cmark::{CodeBlockKind, Event, Tag, TagEnd};

pub(crate) fn docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub(crate) fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Where one message of the English book comes from.
#[derive(Default)]
pub(crate) struct Origin {
    /// Its place in the book (SUMMARY.md, then the chapters in order): failures list in it.
    pub(crate) order: usize,
    /// The files it appears in: `SUMMARY.md`, `introduction.md`, ...
    pub(crate) files: BTreeSet<String>,
    /// Cut from a fenced or indented code block.
    pub(crate) code: bool,
    /// Nothing to translate: no Latin letter outside `code` spans (a table cell `--addr`,
    /// `127.0.0.1:7878`, `1`, or one already in Korean). Its msgstr may stay empty.
    pub(crate) wordless: bool,
    /// The anchor mdBook gives it, when it is a section heading (level 2 and below).
    pub(crate) anchor: Option<String>,
}

/// Every message of the English book, cut as mdbook-xgettext cuts it (once: the cutting
/// highlights every code block to find its comments, which takes seconds in a debug build).
pub(crate) fn english() -> &'static BTreeMap<String, Origin> {
    static ENGLISH: OnceLock<BTreeMap<String, Origin>> = OnceLock::new();
    ENGLISH.get_or_init(cut_english)
}

pub(crate) fn cut_english() -> BTreeMap<String, Origin> {
    let src = docs().join("src");
    let mut messages: BTreeMap<String, Origin> = BTreeMap::new();
    let summary = read(&src.join("SUMMARY.md"));
    for (_, message) in extract_messages(&summary).expect("SUMMARY.md is Markdown") {
        // mdbook-xgettext keeps a title's text, not its link: "[Glossary](glossary.md)".
        let order = messages.len();
        let origin = messages
            .entry(strip_links(&message.message))
            .or_insert_with(|| Origin { order, ..Origin::default() });
        origin.files.insert("SUMMARY.md".into());
    }
    for chapter in chapters(&summary) {
        let text = read(&src.join(&chapter));
        let (code_lines, anchors) = code_lines_and_anchors(&text);
        let extracted = extract_messages(&text)
            .unwrap_or_else(|e| panic!("mdbook-i18n-helpers cannot cut {chapter}: {e:?}"));
        for (line, message) in extracted {
            let wordless = is_wordless(&message.message);
            let order = messages.len();
            let origin =
                messages.entry(message.message).or_insert_with(|| Origin { order, ..Origin::default() });
            origin.files.insert(chapter.clone());
            origin.wordless = wordless;
            origin.code |= code_lines.contains(&line);
            if let Some(anchor) = anchors.get(&line) {
                origin.anchor = Some(anchor.clone());
            }
        }
    }
    messages
}

/// The chapter files SUMMARY.md links to, in its order.
pub(crate) fn chapters(summary: &str) -> Vec<String> {
    let mut files = Vec::new();
    for (_, event) in extract_events(summary, None) {
        if let Event::Start(Tag::Link { dest_url, .. }) = event {
            if dest_url.ends_with(".md") && !files.iter().any(|f| f == dest_url.as_ref()) {
                files.push(dest_url.to_string());
            }
        }
    }
    files
}

pub(crate) fn strip_links(text: &str) -> String {
    let events: Vec<_> = extract_events(text, None)
        .into_iter()
        .filter(|(_, e)| !matches!(e, Event::Start(Tag::Link { .. }) | Event::End(TagEnd::Link)))
        .collect();
    reconstruct_markdown(&events, None).expect("a title is Markdown").0
}

/// The lines inside code blocks, and the anchor of each section heading by its line.
pub(crate) fn code_lines_and_anchors(text: &str) -> (BTreeSet<usize>, BTreeMap<usize, String>) {
    let mut code = BTreeSet::new();
    let mut anchors = BTreeMap::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut in_code = false;
    let mut heading: Option<(usize, Option<String>, String)> = None;
    for (line, event) in extract_events(text, None) {
        match event {
            // A block without comments or strings to cut is one message, from its fence line.
            Event::Start(Tag::CodeBlock(_)) => {
                in_code = true;
                code.insert(line);
            }
            Event::End(TagEnd::CodeBlock) => in_code = false,
            Event::Text(t) if in_code => {
                code.extend(line..=line + t.matches('\n').count());
            }
            Event::Start(Tag::Heading { id, .. }) => {
                heading = Some((line, id.map(|id| id.to_string()), String::new()));
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, _, words)) = heading.as_mut() {
                    words.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(level)) => {
                if let Some((line, id, words)) = heading.take() {
                    // mdBook's ids: an explicit {#id}, or the words lower-cased, spaces to
                    // hyphens, punctuation dropped, and -1, -2 on repeats.
                    let id = id.unwrap_or_else(|| {
                        let base = anchor_of(&words);
                        let n = seen.entry(base.clone()).or_insert(0);
                        *n += 1;
                        if *n == 1 {
                            base
                        } else {
                            format!("{base}-{}", *n - 1)
                        }
                    });
                    if level != pulldown_cmark::HeadingLevel::H1 {
                        anchors.insert(line, id);
                    }
                }
            }
            _ => {}
        }
    }
    (code, anchors)
}

pub(crate) fn is_wordless(markdown: &str) -> bool {
    !extract_events(markdown, None)
        .iter()
        .any(|(_, e)| matches!(e, Event::Text(t) if t.chars().any(|c| c.is_ascii_alphabetic())))
}

pub(crate) fn anchor_of(words: &str) -> String {
    words
        .chars()
        .filter_map(|c| match c {
            c if c.is_alphanumeric() || c == '_' || c == '-' => Some(c.to_ascii_lowercase()),
            c if c.is_whitespace() => Some('-'),
            _ => None,
        })
        .collect()
}

/// The `code` spans and link targets of a piece of Markdown.
pub(crate) fn spans_and_links(markdown: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (_, event) in extract_events(markdown, None) {
        match event {
            Event::Code(code) => found.insert(format!("`{code}`")),
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                found.insert(format!("({dest_url})"))
            }
            _ => false,
        };
    }
    found
}

/// Each code block of a chapter: its info string (`rust,file=PATH`, or `indented`) and its text.
pub(crate) fn code_blocks(markdown: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, String)> = None;
    for (_, event) in extract_events(markdown, None) {
        match event {
            Event::Start(Tag::CodeBlock(kind)) => {
                let info = match kind {
                    CodeBlockKind::Fenced(info) => info.to_string(),
                    CodeBlockKind::Indented => "indented".into(),
                };
                current = Some((info, String::new()));
            }
            Event::Text(text) => {
                if let Some((_, body)) = current.as_mut() {
                    body.push_str(&text);
                }
            }
            Event::End(TagEnd::CodeBlock) => blocks.extend(current.take()),
            _ => {}
        }
    }
    blocks
}
