//! Nothing to link: this crate holds the test of the book's Korean edition,
//! `tests/korean/` (`main.rs`, the tests; `english.rs`, the English cut into messages) (`cargo test -p book-i18n`). See `docs/po/TRANSLATING-ko.md`.
