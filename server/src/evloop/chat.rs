//! The TCP chat connection of chapter 14: lesson 4's reader thread and writer thread, as one
//! state machine driven by the loop, over the same hub.
//!
//! The hub never waits for a receiver: it drops lines into outboxes. On threads, each outbox had
//! a writer thread blocked on it. Here the loop empties every outbox that has mail into its
//! connection's write buffer (up to [`MAX_WRITE_BUFFER`]) and writes until `WouldBlock`. A
//! reader that stops reading fills its socket, then its write buffer, then its outbox: the hub
//! sees it behind, then stalled, exactly as with a writer thread blocked in `write`.
//!
//! Flood control is the one rule that waits on threads (a sender waits while someone in its
//! room is behind). The loop cannot wait, so it asks [`Hub::may_speak`] first and, while the
//! answer is no, keeps the sender's line and reads no more from it: TCP slows the sender down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use common::line::{LineError, LineReader, INVALID_UTF8};
use common::protocol::MAX_LINE_BYTES;
use common::trace::Traced;
use log::info;
use mio::net::TcpStream;

use super::bell::Bell;
use super::member::Member;
use super::{io_result, Config, Conn, Io, Status, READS_PER_TURN};
use crate::hub::{Hub, LeaveReason};
use crate::lessons::chat::{is_http_request, web_side_at};

/// Bytes of chat lines waiting for the socket, at most, before the outbox is left to fill (and
/// the hub to judge the reader): a few hundred lines.
pub const MAX_WRITE_BUFFER: usize = 64 * 1024;

/// One chat member's connection.
pub struct ChatConn {
    lines: LineReader<Traced<TcpStream>>,
    peer: SocketAddr,
    member: Member,
    /// Lines for the socket, not yet written.
    out: Vec<u8>,
    first_line: bool,
    /// No more reading: the member left (or never joined). What is queued still goes out.
    closing: bool,
    /// When the socket last took bytes, or had nothing waiting for it (for the write timeout).
    last_progress: Instant,
    /// The write timeout passed: close without another word.
    dead: bool,
    /// Bytes may wait in the socket: no read has said `WouldBlock` since the OS said readable.
    may_read: bool,
}

impl ChatConn {
    pub fn new(stream: Traced<TcpStream>, peer: SocketAddr, hub: Arc<Hub>) -> ChatConn {
        let member = Member::join(hub, peer, None);
        ChatConn {
            lines: LineReader::new(stream, MAX_LINE_BYTES),
            peer,
            closing: !member.is_in(),
            member,
            out: Vec::new(),
            first_line: true,
            last_progress: Instant::now(),
            dead: false,
            may_read: true,
        }
    }

    pub fn socket(&mut self) -> &mut TcpStream {
        self.lines.get_mut()
    }

    /// Leaves the hub (once) and stops reading.
    fn leave(&mut self, reason: LeaveReason) {
        self.closing = true;
        self.member.leave(reason);
    }

    /// Moves what the hub queued into the write buffer, while it has room.
    fn collect(&mut self) {
        while self.out.len() < MAX_WRITE_BUFFER {
            let Some(delivery) = self.member.next() else { break };
            self.out.extend_from_slice(delivery.line().as_bytes());
            self.out.push(b'\n');
        }
    }

    /// Moves the hub's lines out until the socket is full or none wait; `false` if the
    /// connection broke. Emptying the inbox matters: a line queued while the write buffer was
    /// full rang no bell of its own (one ring per drive), so nothing else would fetch it.
    fn deliver(&mut self) -> bool {
        loop {
            self.collect();
            if !self.flush() {
                return false;
            }
            if !self.out.is_empty() || !self.member.mail_waits() {
                return true;
            }
        }
    }

    /// Writes until the buffer is empty or the socket is full; `false` if the connection broke.
    fn flush(&mut self) -> bool {
        if self.out.is_empty() {
            self.last_progress = Instant::now();
        }
        while !self.out.is_empty() {
            match io_result(std::io::Write::write(self.lines.get_mut(), &self.out)) {
                Io::Done(n) => {
                    self.out.drain(..n);
                    self.last_progress = Instant::now();
                }
                Io::Blocked => return true,
                Io::End(why) => {
                    info!("{}: {} while writing: dropping it", self.peer, why.as_deref().unwrap_or("closed"));
                    return false;
                }
            }
        }
        true
    }

    /// Carries out one line (or holds it back, flood control); false when the member is done.
    fn line(&mut self, line: String) -> bool {
        if std::mem::take(&mut self.first_line) && is_http_request(&line) {
            info!("{} sent an HTTP request to the chat port: pointing it to the web side", self.peer);
            self.member.tell(web_side_at(self.lines.get_ref().local_addr().ok()));
            self.leave(LeaveReason::NotAChatClient);
            return false;
        }
        if !self.member.say(line) {
            self.closing = true;
            return false;
        }
        true
    }
}

impl Conn for ChatConn {
    fn drive(&mut self, _scratch: &mut [u8], _now: Instant) -> Status {
        if self.dead || self.member.kicked() {
            // The hub dropped it (too slow, or gone), or it stopped reading: nothing more is owed.
            return Status::Closed;
        }
        for _ in 0..READS_PER_TURN {
            if !self.deliver() {
                self.leave(LeaveReason::Lost);
                return Status::Closed;
            }
            if self.closing {
                self.collect();
                let done = self.out.is_empty() && !self.member.mail_waits();
                return if done { Status::Closed } else { Status::Open };
            }
            if self.member.is_held() {
                if !self.member.carry_on() {
                    self.closing = true;
                    continue; // it left: flush and close
                }
                if self.member.is_held() {
                    return Status::Open; // still held: the loop asks again soon
                }
            }
            if !self.may_read {
                return Status::Open; // driven for its mail: nothing new to read
            }
            let refusal = match self.lines.read_line() {
                Ok(Some(line)) => {
                    self.line(line);
                    continue;
                }
                Ok(None) => {
                    self.leave(LeaveReason::Quit);
                    continue;
                }
                Err(LineError::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    self.may_read = false;
                    return Status::Open;
                }
                Err(LineError::TooLong { limit }) => format!("line longer than {limit} bytes: not sent"),
                Err(LineError::InvalidUtf8 { .. }) => INVALID_UTF8.to_string(),
                Err(e) => {
                    info!("{}: {e}", self.peer);
                    self.leave(LeaveReason::Lost);
                    return Status::Closed;
                }
            };
            self.member.tell(refusal);
        }
        Status::Busy
    }

    fn wants_write(&self) -> bool {
        !self.out.is_empty()
    }

    fn wants_read(&self) -> bool {
        !self.closing && !self.member.is_held()
    }

    fn expire(&mut self, now: Instant, config: &Config) -> bool {
        // Quiet members stay (lesson 4 has no idle cut either). One whose socket took nothing
        // of what waits for it within the write timeout has stopped reading: dropped, as the
        // threaded chat's blocked `write` times out. (While others speak, the hub usually
        // notices first: its stall window is shorter.) A held line is retried here too.
        if !self.out.is_empty() && now.saturating_duration_since(self.last_progress) >= config.write_timeout {
            info!("{}: took nothing for {} s: dropping it", self.peer, config.write_timeout.as_secs());
            self.leave(LeaveReason::Lost);
            self.dead = true;
            return true;
        }
        self.member.is_held()
    }

    fn stop(&mut self) {
        self.leave(LeaveReason::Shutdown);
    }

    fn readable(&mut self) {
        self.may_read = true;
    }

    fn hang_bell(&mut self, bell: Bell) {
        self.member.hang_bell(bell);
    }

    fn holds_lines(&self) -> bool {
        self.member.is_held()
    }
}
