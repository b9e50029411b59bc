//! The chat suites of lesson 4 (tests/chat.rs), of lesson 8 and the lab (tests/ws_chat.rs) and
//! of the paste (tests/paste.rs) against chapter 14's one-thread chat and lab: one suite, two
//! servers. Each file picks its server by the name of the test crate it is compiled into.

// Both files declare `mod support;`: two copies of the helpers in this crate, on purpose.
#![allow(clippy::duplicate_mod)]

#[path = "chat.rs"]
mod suite;

#[path = "paste.rs"]
mod paste;

#[path = "ws_chat.rs"]
mod ws_suite;
