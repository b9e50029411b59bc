//! The grader for chapter 3's exercise: the echo server with a thread per client.
//!
//! Everything the echo grader checks, plus the one thing lesson 2's server cannot do: serve a
//! second client while the first is still connected. A one-at-a-time server accepts the second
//! connection (the kernel completes the TCP handshake from the listen backlog before `accept`),
//! so the second client is connected, and yet nobody reads what it sends.

use std::io::Write;

use super::{connect, echo, fail, read_exactly, send_failed, Check, Outcome};
use common::trace::Layer;

pub fn checks() -> Vec<Check> {
    let mut checks = echo::checks();
    checks.push(("two clients are served at once", two_at_once));
    checks
}

fn two_at_once(addr: &str) -> Outcome {
    let mut first = connect(addr, Layer::Raw)?;
    first.write_all(b"first\n").map_err(send_failed)?;
    read_exactly(&mut first, 6)
        .map_err(|e| fail(format!("the first client got no echo: {e}"), "write back every byte you read"))?;
    // The first client stays connected (and idle) while the second talks.
    let mut second = connect(addr, Layer::Raw)?;
    second.write_all(b"second\n").map_err(send_failed)?;
    read_exactly(&mut second, 7).map_err(|_| {
        fail(
            "the second client got no echo while the first was connected",
            "serve each client on its own thread",
        )
    })?;
    Ok(())
}
