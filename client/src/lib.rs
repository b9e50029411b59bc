//! The client side of every lesson. `main.rs` only parses flags; each lesson's `run` takes the
//! address and its input and output, so tests drive the real client code.
//!
//! Besides the lessons: `check` (the `grader` crate) grades a server someone wrote (`enroll`
//! hands it to a teacher's lab to grade instead), `compare` measures every transport of a running
//! lab, `nc` is a raw client for machines without one, `sio` is a Socket.IO client, and `upgrade`
//! is the client's side of the WebSocket handshake that the WebSocket clients share.

/// The checks live in a crate of their own, which the lab can use too (issue 24).
pub use grader as check;
pub mod compare;
pub mod enroll;
pub mod lessons;
pub mod nc;
pub mod sio;
pub mod upgrade;

/// Where each lesson's server listens unless told otherwise (`cargo server --help` says the same).
/// Loopback only: nothing on the network can reach a server bound here.
pub mod defaults {
    /// Lessons 1-4 and 7 (`lifecycle`, `echo`, `threaded-echo`, `chat`, `handshake`), and the
    /// lab's TCP chat.
    pub const TCP: &str = common::DEFAULT_ADDR;
    /// `cargo server http` and `cargo server ws`, and the lab's web side (its page, HTTP, `/ws`).
    pub const HTTP: &str = "127.0.0.1:8080";
    /// `cargo server ws-echo`: the port the Autobahn test suite expects.
    pub const WS_ECHO: &str = "127.0.0.1:9001";
}
