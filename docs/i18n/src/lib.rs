//! Nothing to link: this crate holds the test of the book's Korean edition,
//! `tests/korean.rs` (`cargo test -p book-i18n`). See `docs/po/TRANSLATING-ko.md`.
