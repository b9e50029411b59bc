//! Nothing to link: this crate holds the test of the book's Korean edition,
//! `cargo test -p book-i18n`: `tests/korean/main.rs` (the checks) and `tests/korean/english.rs`
//! (the English book cut into messages). See `docs/po/TRANSLATING-ko.md`.
