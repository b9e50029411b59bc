//! The sessions the chapters tell: their steps, read from the book's Markdown.

use std::collections::BTreeMap;
use std::fs;

use crate::book::{blocks, markdown_files, Block};

/// A step of a session, in the order the chapter tells it.
pub struct Step {
    pub place: String,
    pub attrs: BTreeMap<String, String>,
    /// The command after `$ ` (continuation lines joined), if the step starts a program.
    pub command: Option<String>,
    /// What the book shows the terminal printing; `None` for a hidden step.
    pub expected: Option<Vec<String>>,
}

impl Step {
    pub fn flag(&self, name: &str) -> bool {
        self.attrs.contains_key(name)
    }
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(String::as_str)
    }
}

pub fn parse_attrs(list: &str) -> BTreeMap<String, String> {
    list.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| match part.split_once('=') {
            Some((key, value)) => (key.to_string(), value.to_string()),
            None => (part.to_string(), String::new()),
        })
        .collect()
}

/// Splits a console block into its command (the `$ ` line and its `\` continuations) and the
/// lines it shows after it.
pub fn command_and_output(body: &str) -> (Option<String>, Vec<String>) {
    let mut lines = body.lines().peekable();
    let mut command = None;
    if let Some(first) = lines.peek().and_then(|line| line.strip_prefix("$ ")) {
        let mut text = first.to_string();
        lines.next();
        while text.ends_with('\\') {
            text.pop();
            match lines.next() {
                Some(more) => text.push_str(more),
                None => break,
            }
        }
        command = Some(text);
    }
    (command, lines.map(str::to_string).collect())
}

/// Every session of the book, by chapter and name, its steps in order.
pub fn sessions(unmarked: &mut Vec<String>) -> BTreeMap<(String, String), Vec<Step>> {
    let mut sessions: BTreeMap<(String, String), Vec<(usize, Step)>> = BTreeMap::new();
    for path in markdown_files() {
        let text = fs::read_to_string(&path).expect("a readable chapter");
        let chapter = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        for block in blocks(&text).into_iter().filter(|b| b.info.split(',').next() == Some("console")) {
            let place = format!("{chapter}:{}", block.line);
            if !is_marked(&block) {
                unmarked.push(place.clone());
            }
            let Some(name) = block.attr("session") else { continue };
            let (command, output) = command_and_output(&block.body);
            let attrs = parse_attrs(&block.info);
            let step = Step { place, attrs, command, expected: Some(output) };
            sessions.entry((chapter.clone(), name.to_string())).or_default().push((block.line, step));
        }
        for (number, line) in text.lines().enumerate() {
            let Some(inner) = line.trim().strip_prefix("<!--").and_then(|c| c.strip_suffix("-->")) else {
                continue;
            };
            let Some((attrs, command)) = inner.trim().split_once(": $ ") else { continue };
            let attrs = parse_attrs(attrs);
            let Some(name) = attrs.get("session").cloned() else { continue };
            let place = format!("{chapter}:{}", number + 1);
            let step = Step { place, attrs, command: Some(command.trim().to_string()), expected: None };
            sessions.entry((chapter.clone(), name)).or_default().push((number + 1, step));
        }
    }
    sessions
        .into_iter()
        .map(|(key, mut steps)| {
            steps.sort_by_key(|(line, _)| *line);
            (key, steps.into_iter().map(|(_, step)| step).collect())
        })
        .collect()
}

/// A console block that shows output is a session, or says why it cannot be one.
pub fn is_marked(block: &Block) -> bool {
    // A block without a `$ ` prompt lists commands to copy; one with a prompt and other lines
    // shows what a program printed.
    let (command, output) = command_and_output(&block.body);
    let shows_output =
        command.is_some() && output.iter().any(|line| !line.trim().is_empty() && !line.starts_with("$ "));
    let marked = block.attr("session").is_some() || block.flag("measured") || block.flag("illustrative");
    !shows_output || marked
}
