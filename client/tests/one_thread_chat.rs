//! The chat suites of lesson 4 (tests/chat.rs) and of the paste (tests/paste.rs), every TCP test
//! of them, against chapter 14's one-thread chat: one suite, two servers. Each file picks its
//! server by the name of the test crate it is compiled into.

// Both files declare `mod support;`: two copies of the helpers in this crate, on purpose.
#![allow(clippy::duplicate_mod)]

#[path = "chat.rs"]
mod suite;

#[path = "paste.rs"]
mod paste;
