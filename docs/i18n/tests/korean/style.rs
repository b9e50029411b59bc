//! The Korean edition reads as one book (issue 25): the term table's words and not their
//! look-alikes, one question form, and no Markdown that the Korean build renders wrong.
//!
//! - A message whose English uses a term of the table must not use a variant the table rules
//!   out (`FORBIDDEN`: 닫기 프레임 for *close frame*, where the table says 종료 프레임). The word
//!   the table wants must be in `docs/src/ko-glossary.md`, so the list cannot drift from it.
//! - A question to the reader ends in ~ㄹ까요 (`무엇을 출력할까요?`), in every chapter: not
//!   ~습니까, not 해요체 ~나요/~가요. Quotations (“새로운 게 있나?”) and code are left alone.
//! - Quotes in Korean prose are the curly ones: a straight `"` before Hangul renders as an
//!   opening quote (“없다“는), see `docs/po/TRANSLATING-ko.md`.
//! - In each chapter as the Korean build writes it, no `*` or `_` that should have been
//!   emphasis is left as a literal character beside Hangul (`_ACK_는`).

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use super::drawings::is_drawing;
use super::english::{docs, english, read};
use super::{chapters_in_korean, files_of, po, report};

/// (the English term, a variant that contradicts the term table, the table's word).
const FORBIDDEN: &[(&str, &str, &str)] = &[
    ("close frame", "닫기 프레임", "종료 프레임"),
    ("opcode", "opcode", "옵코드"),
    ("test suite", "테스트 스위트", "테스트 모음"),
    ("case", "사례", "케이스"),
    ("lock", "잠금", "락"),
    ("maintainer", "관리자", "메인테이너"),
    ("probe", "탐색 패킷", "탐지 패킷"),
    ("split", "분할", "나누기"),
    ("tap", "탭", "관측점"),
    ("watcher", "감시자", "워처"),
    ("wire", "와이어", "회선"),
];

/// The one question ending of the book.
const QUESTION: &str = "까요";

fn is_hangul(c: char) -> bool {
    ('\u{ac00}'..='\u{d7a3}').contains(&c)
}

/// A message without its `code` spans, link targets and parenthesised English glosses
/// ("옵코드(opcode)"): what is left is the Korean a reader reads.
fn prose(msgstr: &str) -> String {
    let mut out = String::new();
    let mut rest = msgstr;
    while let Some(start) = rest.find(['`', '(']) {
        out.push_str(&rest[..start]);
        let (open, after) = rest[start..].split_at(1);
        let close = if open == "`" { '`' } else { ')' };
        match after.find(close) {
            Some(end) if open == "`" || out.ends_with(']') || after[..end].is_ascii() => {
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str(open);
                rest = after;
            }
        }
    }
    out + rest
}

/// Does the English use `term` as a word (or its plural, past, -ing form)?
fn uses(english: &str, term: &str) -> bool {
    let english = english.to_lowercase();
    english.match_indices(term).any(|(at, _)| {
        let before = english[..at].chars().next_back();
        let word: String = english[at + term.len()..].chars().take_while(|c| c.is_alphabetic()).collect();
        !before.is_some_and(char::is_alphanumeric)
            && ["", "s", "es", "ed", "ing", "ting"].contains(&word.as_str())
    })
}

#[test]
fn translations_use_the_term_tables_words_not_their_variants() {
    let table = read(&docs().join("src/ko-glossary.md"));
    for (term, _, wanted) in FORBIDDEN {
        assert!(
            table.contains(&format!("| {wanted}")) || table.contains(&format!(", {wanted}")),
            "FORBIDDEN says {wanted} for {term}, but docs/src/ko-glossary.md's table does not: add the row"
        );
    }
    let english = english();
    let ko = po("ko.po");
    let mut drifted = Vec::new();
    for (id, (msgstr, _)) in &ko {
        let korean = prose(msgstr);
        for (term, variant, wanted) in FORBIDDEN {
            if korean.chars().any(is_hangul) && uses(&prose(id), term) && korean.contains(variant) {
                drifted.push((
                    id.as_str(),
                    format!("{}; {variant} for {term}: the table says {wanted}", files_of(english.get(id))),
                ));
            }
        }
    }
    assert!(drifted.is_empty(), "\n{}", report(
        "translation(s) use a word the term table rules out",
        &drifted,
        "use the term table's word (docs/src/ko-glossary.md); FORBIDDEN in docs/i18n/tests/korean/style.rs lists the variants",
    ));
}

/// The Korean words that end a question (before a `?`) other than with ~ㄹ까요.
fn other_questions(msgstr: &str) -> Vec<String> {
    let mut text = prose(msgstr);
    // Quoted speech keeps its own voice: “새로운 게 있나?”
    for (open, close) in [('“', '”'), ('‘', '’')] {
        while let Some(start) = text.find(open) {
            let Some(len) = text[start..].find(close) else { break };
            text.replace_range(start..start + len + close.len_utf8(), "");
        }
    }
    let mut found = Vec::new();
    for (at, _) in text.match_indices('?') {
        let before = text[..at].trim_end_matches(|c: char| !c.is_alphanumeric() && !c.is_whitespace());
        let word: String = before
            .chars()
            .rev()
            .take_while(|&c| is_hangul(c))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if !word.is_empty() && !word.ends_with(QUESTION) {
            found.push(format!("{word}?"));
        }
    }
    found
}

#[test]
fn every_question_to_the_reader_has_one_form() {
    let english = english();
    let ko = po("ko.po");
    let mut mixed = Vec::new();
    for (id, (msgstr, _)) in &ko {
        let others = other_questions(msgstr);
        if !others.is_empty() {
            mixed.push((id.as_str(), format!("{}; {}", files_of(english.get(id)), others.join(" "))));
        }
    }
    assert!(
        mixed.is_empty(),
        "\n{}",
        report(
            "translation(s) ask a question in another form than ~ㄹ까요",
            &mixed,
            "ask every question of the book in one form, ~ㄹ까요 (무엇을 출력할까요?), as \
         docs/po/TRANSLATING-ko.md says; quoted speech (“…?”) may keep its own",
        )
    );
}

#[test]
fn korean_prose_quotes_with_curly_quotes() {
    let english = english();
    let ko = po("ko.po");
    let straight: Vec<_> = ko
        .iter()
        .filter(|(id, (msgstr, _))| {
            // A drawing is code: its quotes are the English drawing's.
            let text = if is_drawing(id) { String::new() } else { prose(msgstr) };
            text.chars().any(is_hangul) && text.contains('"')
        })
        .map(|(id, _)| (id.as_str(), files_of(english.get(id))))
        .collect();
    assert!(straight.is_empty(), "\n{}", report(
        "translation(s) quote with straight quotes, which render as two opening quotes before Hangul (“없다“는)",
        &straight,
        "type the curly ones, “없다”는 (code spans keep theirs)",
    ));
}

#[test]
fn no_emphasis_mark_is_left_beside_hangul_in_the_korean_build() {
    let mut literal = Vec::new();
    for (chapter, _, korean) in chapters_in_korean() {
        let mut in_code = false;
        for event in Parser::new_ext(&korean, Options::ENABLE_TABLES | Options::ENABLE_HEADING_ATTRIBUTES) {
            match event {
                Event::Start(Tag::CodeBlock(_)) => in_code = true,
                Event::End(TagEnd::CodeBlock) => in_code = false,
                Event::Text(text) if !in_code => {
                    let chars: Vec<char> = text.chars().collect();
                    for (i, c) in chars.iter().enumerate() {
                        let beside =
                            |j: Option<usize>| j.and_then(|j| chars.get(j)).is_some_and(|&c| is_hangul(c));
                        if matches!(c, '*' | '_') && (beside(i.checked_sub(1)) || beside(Some(i + 1))) {
                            let around: String =
                                chars[i.saturating_sub(12)..(i + 12).min(chars.len())].iter().collect();
                            literal.push(format!("{chapter}: {around:?}"));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    assert!(
        literal.is_empty(),
        "emphasis that the Korean build leaves as a literal * or _ beside Hangul:\n  {}\nput a space or \
         punctuation after the closing mark (`*소켓*(socket)은`), or reword (docs/po/TRANSLATING-ko.md)",
        literal.join("\n  ")
    );
}

#[test]
fn the_style_checks_catch_what_they_are_for() {
    assert_eq!(other_questions("무엇을 출력합니까? 누가 답하나요? 어떨까요?"), ["출력합니까?", "답하나요?"]);
    assert!(other_questions("“새로운 게 있나?”라고 묻습니다. 왜일까요(`ss -tan`)? which one?").is_empty());
    assert_eq!(
        prose("옵코드(opcode)는 `opcode`와 [링크](a.md#x) 예약된 opcode"),
        "옵코드는 와 [링크] 예약된 opcode"
    );
    assert!(uses("a reserved opcode", "opcode") && uses("Locks", "lock") && !uses("a blocked read", "lock"));
    assert!(!uses("case-by-case? no: a staircase", "case") || uses("two cases", "case"));
}
