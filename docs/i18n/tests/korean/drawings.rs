//! Drawings in text (issue 25): a ```` ```text,drawing ```` block is a picture made of
//! characters (chapter 1's calls, the handshake's two columns), not program output, so its
//! words are translated like prose. Its message (the whole block) gets Korean in ko.po, like
//! any paragraph; what must stay is the drawing: the same fence, the same number of lines, and
//! on each line the same calls (`accept(`) and arrows (`-->`, `<---`) in the same order.
//! Everything else in a code block stays as in the English.

use super::english::english;
use super::{files_of, po, report};

const FENCE: &str = "```text,drawing\n";

/// A message cut from a drawing (the whole block, fence included).
pub(crate) fn is_drawing(msgid: &str) -> bool {
    msgid.starts_with(FENCE)
}

/// What a translation must keep of a drawing: per line, its calls and arrows in order.
pub(crate) fn skeleton(block: &str) -> Vec<Vec<String>> {
    block.lines().map(line_skeleton).collect()
}

fn line_skeleton(line: &str) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let drawn = |c: char| "-<>|+=".contains(c);
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        if drawn(chars[i]) {
            while i < chars.len() && drawn(chars[i]) {
                i += 1;
            }
            if i - start >= 2 {
                out.push(chars[start..i].iter().collect());
            }
        } else if word(chars[i]) {
            while i < chars.len() && word(chars[i]) {
                i += 1;
            }
            if chars.get(i) == Some(&'(') {
                out.push(chars[start..=i].iter().collect());
            }
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn drawings_in_korean_keep_their_calls_and_arrows() {
    let english = english();
    let drawings = english.keys().filter(|id| is_drawing(id)).count();
    assert!(drawings >= 5, "only {drawings} ```text,drawing blocks in the book: has the cutting changed?");
    let ko = po("ko.po");
    let mut broken = Vec::new();
    for (id, (msgstr, _)) in &ko {
        if !is_drawing(id) || msgstr.is_empty() {
            continue;
        }
        let files = files_of(english.get(id));
        if !msgstr.starts_with(FENCE) || !msgstr.trim_end().ends_with("```") {
            broken.push((id.as_str(), format!("{files}; the Korean must be the same ```text,drawing block")));
        } else if msgstr.lines().count() != id.lines().count() {
            broken.push((
                id.as_str(),
                format!(
                    "{files}; {} lines in English, {} in Korean",
                    id.lines().count(),
                    msgstr.lines().count()
                ),
            ));
        } else if let Some(line) = skeleton(id).iter().zip(skeleton(msgstr)).position(|(e, k)| *e != k) {
            broken
                .push((id.as_str(), format!("{files}; line {} lost or moved a call or an arrow", line + 1)));
        }
    }
    assert!(
        broken.is_empty(),
        "\n{}",
        report(
            "drawing(s) in Korean that no longer match their English drawing",
            &broken,
            "translate the words of a drawing, keep its lines, calls (accept()) and arrows (-->) as they are",
        )
    );
}

#[test]
fn a_skeleton_is_the_calls_and_arrows_of_each_line() {
    assert_eq!(
        skeleton("accept() ... waits ...\n  <--- SYN --  connect(x)"),
        [vec!["accept("], vec!["<---", "--", "connect("]]
    );
    assert_eq!(skeleton("accept() ... 기다림 ..."), skeleton("accept() ... waits ..."));
    assert_ne!(skeleton("recv() 14바이트"), skeleton("recv() -> 14 bytes"));
}
