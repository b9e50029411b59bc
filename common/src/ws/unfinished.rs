//! Limits on a message that is still arriving.
//!
//! A frame's head announces its length before its payload: a client can announce 16 MiB, send
//! all but the last byte, and wait. tungstenite keeps what arrived until the rest comes, so thirty
//! such clients held half a gigabyte, forever. Two limits stop that:
//!
//! - a **deadline**: from the first byte of a message to its last, at most [`MESSAGE_DEADLINE`]
//!   (close code 1008, policy violation). A quiet client is not concerned: no message has started;
//! - a **budget**: the bytes of every connection's unfinished message, counted together, stay
//!   under [`MEMORY_BUDGET`]. The connection whose bytes would go over it is refused with 1009
//!   (message too big), and the others carry on.
//!
//! To know whether a message has started, the reader follows the frame heads going past
//! ([`Frames`]): it reads their lengths, nothing else. tungstenite still checks every rule.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tungstenite::protocol::frame::coding::CloseCode;

/// How long one message may take to arrive, from its first byte to its last. 16 MiB (the echo's
/// largest message) at 1 MB/s takes 16 s.
pub const MESSAGE_DEADLINE: Duration = Duration::from_secs(20);

/// The memory that unfinished messages may hold, all connections together: four of the echo's
/// largest messages arriving at once, or thousands of chat lines.
pub const MEMORY_BUDGET: usize = 64 * 1024 * 1024;

/// Bytes held for unfinished messages, across connections.
#[derive(Debug)]
pub struct Budget {
    limit: usize,
    used: AtomicUsize,
}

impl Budget {
    /// A budget of `limit` bytes, for one server (tests use small ones).
    pub fn new(limit: usize) -> Arc<Budget> {
        Arc::new(Budget { limit, used: AtomicUsize::new(0) })
    }

    /// The process's budget of [`MEMORY_BUDGET`], shared by every server in it.
    pub fn shared() -> Arc<Budget> {
        static SHARED: OnceLock<Arc<Budget>> = OnceLock::new();
        SHARED.get_or_init(|| Budget::new(MEMORY_BUDGET)).clone()
    }

    /// Bytes held right now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Takes `n` bytes, unless that would go over the limit.
    fn take(&self, n: usize) -> bool {
        let update = |used: usize| used.checked_add(n).filter(|&total| total <= self.limit);
        self.used.fetch_update(Ordering::AcqRel, Ordering::Acquire, update).is_ok()
    }

    fn give_back(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }
}

/// The limits one connection's reader keeps to.
#[derive(Debug, Clone)]
pub struct Guard {
    pub deadline: Duration,
    pub budget: Arc<Budget>,
}

impl Default for Guard {
    fn default() -> Self {
        Guard { deadline: MESSAGE_DEADLINE, budget: Budget::shared() }
    }
}

/// One connection's unfinished message: when it started and what it holds of the budget.
#[derive(Debug)]
pub struct Watch {
    guard: Guard,
    frames: Frames,
    started: Option<Instant>,
    held: usize,
    /// The close code and reason, once a limit was passed.
    pub refusal: Option<(CloseCode, String)>,
}

impl Watch {
    pub fn new(guard: Guard) -> Watch {
        Watch { guard, frames: Frames::default(), started: None, held: 0, refusal: None }
    }

    /// How long the next read may wait: `None` with no message under way (a quiet client waits
    /// as long as it likes), else what is left of the deadline (an error if nothing is).
    pub fn wait(&mut self) -> io::Result<Option<Duration>> {
        let Some(started) = self.started else { return Ok(None) };
        let left = self.guard.deadline.saturating_sub(started.elapsed());
        if left.is_zero() {
            let why = format!("a message took over {} s to arrive", self.guard.deadline.as_secs_f32());
            return Err(self.refuse(CloseCode::Policy, why));
        }
        Ok(Some(left))
    }

    /// Follows the bytes just read: starts the clock at a message's first byte, stops it at its
    /// last, and counts what an unfinished message holds against the budget.
    pub fn saw(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.frames.follow(bytes) {
            self.release();
        }
        if self.frames.idle() {
            return Ok(());
        }
        self.started.get_or_insert_with(Instant::now);
        if !self.guard.budget.take(bytes.len()) {
            let why = "the server's memory for unfinished messages is full; send smaller messages, or later";
            return Err(self.refuse(CloseCode::Size, why.to_string()));
        }
        self.held += bytes.len();
        Ok(())
    }

    fn release(&mut self) {
        self.guard.budget.give_back(std::mem::take(&mut self.held));
        self.started = None;
    }

    fn refuse(&mut self, code: CloseCode, why: String) -> io::Error {
        let error = io::Error::other(why.clone());
        self.refusal = Some((code, why));
        error
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.release();
    }
}

/// Where the byte stream is among the frames: only the heads' lengths are read.
#[derive(Debug, Default)]
struct Frames {
    /// The head of the next frame, while it arrives (2 to 14 bytes).
    head: Vec<u8>,
    /// Payload bytes of the current frame still to come.
    payload_left: u64,
    /// A data frame without FIN came, and its message's last frame has not.
    in_message: bool,
}

impl Frames {
    /// Between messages: no frame half-read, no message half-sent.
    fn idle(&self) -> bool {
        self.head.is_empty() && self.payload_left == 0 && !self.in_message
    }

    /// Follows `bytes`; true if the stream was between messages at some point within them.
    fn follow(&mut self, mut bytes: &[u8]) -> bool {
        let mut between = false;
        while let Some((&byte, rest)) = bytes.split_first() {
            if self.payload_left > 0 {
                let n = bytes.len().min(usize::try_from(self.payload_left).unwrap_or(usize::MAX));
                self.payload_left -= n as u64;
                bytes = &bytes[n..];
            } else {
                self.head.push(byte);
                bytes = rest;
                let Some(length) = self.head_complete() else { continue };
                // Continuation, text and binary frames (and reserved data opcodes) carry a
                // message; control frames (opcode 8 and up) may come between its fragments.
                if self.head[0] & 0x08 == 0 {
                    self.in_message = self.head[0] & 0x80 == 0;
                }
                self.head.clear();
                self.payload_left = length;
            }
            between |= self.idle();
        }
        between
    }

    /// The payload length, once the whole head (length and masking key included) is in.
    fn head_complete(&self) -> Option<u64> {
        let head = &self.head;
        let second = *head.get(1)?;
        let extended = match second & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask = if second & 0x80 != 0 { 4 } else { 0 };
        if head.len() < 2 + extended + mask {
            return None;
        }
        Some(match extended {
            0 => u64::from(head[1] & 0x7f),
            _ => head[2..2 + extended].iter().fold(0, |n, &b| (n << 8) | u64::from(b)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::encode;

    #[test]
    fn frames_know_when_a_message_is_unfinished() {
        let mut frames = Frames::default();
        let text = encode(0x1, b"hello", Some([1, 2, 3, 4]));
        // Whole: between messages after it, however it is cut.
        for cut in 0..text.len() {
            assert!(!frames.follow(&text[..cut]));
            assert!(frames.follow(&text[cut..]));
            assert!(frames.idle());
        }
        // A first fragment, a ping between fragments, the last fragment.
        let mut first = encode(0x1, b"hel", Some([1, 2, 3, 4]));
        first[0] &= 0x7f; // no FIN
        assert!(!frames.follow(&first));
        assert!(!frames.follow(&encode(0x9, b"ping", Some([1, 2, 3, 4]))));
        assert!(!frames.idle());
        assert!(frames.follow(&encode(0x0, b"lo", Some([1, 2, 3, 4]))));
        // A big frame: 16- and 64-bit lengths.
        for len in [300, 70_000] {
            let big = encode(0x2, &vec![0; len], Some([1, 2, 3, 4]));
            assert!(!frames.follow(&big[..big.len() - 1]));
            assert!(frames.follow(&big[big.len() - 1..]));
        }
    }

    #[test]
    fn the_budget_is_shared_and_given_back() {
        let budget = Budget::new(100);
        let guard = Guard { deadline: Duration::from_secs(60), budget: budget.clone() };
        let head = [0x82, 0x80 | 126, 0x01, 0x00, 1, 2, 3, 4]; // 256 bytes announced
        let (mut a, mut b) = (Watch::new(guard.clone()), Watch::new(guard));
        a.saw(&head).unwrap();
        a.saw(&[0; 60]).unwrap();
        assert_eq!(budget.used(), 68);
        b.saw(&head).unwrap();
        assert!(b.saw(&[0; 60]).is_err(), "over the budget");
        assert_eq!(b.refusal.as_ref().map(|r| r.0), Some(CloseCode::Size));
        drop(a);
        assert_eq!(budget.used(), 8, "a connection's bytes come back when it ends");
    }
}
