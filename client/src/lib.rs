//! The client side of every lesson. `main.rs` only parses flags; each lesson's `run` takes the
//! address and its input and output, so tests drive the real client code.

pub mod check;
pub mod compare;
pub mod lessons;
