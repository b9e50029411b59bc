//! The grader for chapter 3's exercise: the echo server with a thread per client.
//!
//! Everything the echo grader checks, plus the one thing lesson 2's server cannot do: serve a
//! second client while the first is still connected. A one-at-a-time server accepts the second
//! connection (the kernel completes the TCP handshake from the listen backlog before `accept`),
//! so the second client is connected, and yet nobody reads what it sends.

use super::{check, echo, fail, read_exactly, send, Check, Outcome, Target};
use common::trace::Layer;

pub fn checks() -> Vec<Check> {
    let mut checks = echo::checks();
    checks.push(check("two clients are served at once", two_at_once));
    checks
}

/// A second client waited while the first was connected.
pub const THREADS: &str = "serve each client on its own thread";

pub const HINTS: &[&str] = &[THREADS];

fn two_at_once(target: &Target) -> Outcome {
    let mut first = target.connect(Layer::Raw)?;
    send(&mut first, b"first\n");
    read_exactly(&mut first, 6)
        .map_err(|e| fail(format!("the first client got no echo: {e}"), echo::NO_ECHO))?;
    // The first client stays connected (and idle) while the second talks.
    let mut second = target.connect(Layer::Raw)?;
    send(&mut second, b"second\n");
    read_exactly(&mut second, 7)
        .map_err(|_| fail("the second client got no echo while the first was connected", THREADS))?;
    Ok(())
}
