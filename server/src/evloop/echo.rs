//! The TCP echo connection of chapter 14: what lesson 2's `serve_connection` kept on its stack,
//! kept in fields, so that one thread can hold thousands of them.
//!
//! The blocking handler was `read`, then `write_all`, in a loop. Without blocking, neither call
//! may wait: a `read` with nothing there returns `WouldBlock`, and a `write` to a full socket
//! takes only part of the bytes, or none (`WouldBlock`). So the bytes read but not yet sent wait
//! in [`Echo`]'s write buffer, and the loop is asked to say when the socket can take more.
//! The buffer is bounded ([`MAX_PENDING`]): a client that sends and never reads is simply not
//! read from until it reads, which is what TCP does to a blocking server by itself.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::Instant;

use log::info;

use super::{io_result, Config, Conn, Io, Status, READS_PER_TURN};

/// Bytes read but not yet echoed, per connection, at most. Past it the connection is not read
/// from until the client reads (its own sends then fill the kernel's buffers and block it).
pub const MAX_PENDING: usize = 64 * 1024;

/// A stream the loop can shut down (std's and mio's `TcpStream`, traced or not).
pub trait Socket: Read + Write {
    fn shut(&self, how: Shutdown);
}

impl Socket for std::net::TcpStream {
    fn shut(&self, how: Shutdown) {
        let _ = self.shutdown(how);
    }
}

impl Socket for mio::net::TcpStream {
    fn shut(&self, how: Shutdown) {
        let _ = self.shutdown(how);
    }
}

impl<S: Socket> Socket for common::trace::Traced<S> {
    fn shut(&self, how: Shutdown) {
        (**self).shut(how);
    }
}

/// One echo client: its socket, the bytes waiting to go back, and its clock.
pub struct Echo<S> {
    stream: S,
    peer: SocketAddr,
    /// Read from the client, not yet written back (a partial `write` leaves the rest here).
    pending: Vec<u8>,
    last_heard: Instant,
    /// No more reading: the client closed its side, or the server is closing this connection.
    /// What is pending still goes out, then the socket closes.
    closing: bool,
    /// Bytes written to the client: its echoes, and any notice.
    sent: u64,
}

impl<S: Socket> Echo<S> {
    pub fn new(stream: S, peer: SocketAddr, now: Instant) -> Self {
        Echo { stream, peer, pending: Vec::new(), last_heard: now, closing: false, sent: 0 }
    }

    pub fn stream(&self) -> &S {
        &self.stream
    }

    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Writes what is pending until it is all sent or the socket is full. `false`: the
    /// connection broke.
    fn flush(&mut self) -> bool {
        while !self.pending.is_empty() {
            match io_result(self.stream.write(&self.pending)) {
                // A partial write: the rest stays for the next writable event.
                Io::Done(n) => {
                    self.pending.drain(..n);
                    self.sent += n as u64;
                }
                Io::Blocked => return true,
                Io::End(why) => {
                    info!("{}: {} while echoing", self.peer, why.as_deref().unwrap_or("write returned 0"));
                    return false;
                }
            }
        }
        true
    }

    /// The connection is finished once it is closing and nothing is left to send.
    fn finish(&mut self) -> Status {
        info!("{} closed after {} bytes sent", self.peer, self.sent);
        self.stream.shut(Shutdown::Write);
        Status::Closed
    }
}

impl<S: Socket> Conn for Echo<S> {
    fn drive(&mut self, scratch: &mut [u8], now: Instant) -> Status {
        for _ in 0..READS_PER_TURN {
            if !self.flush() {
                return Status::Closed;
            }
            if self.closing {
                return if self.pending.is_empty() { self.finish() } else { Status::Open };
            }
            if self.pending.len() >= MAX_PENDING {
                // Full: read no more until the client has read some (a writable event).
                return Status::Open;
            }
            let room = scratch.len().min(MAX_PENDING - self.pending.len());
            match io_result(self.stream.read(&mut scratch[..room])) {
                Io::Done(n) => {
                    self.pending.extend_from_slice(&scratch[..n]);
                    self.last_heard = now;
                }
                // Nothing more to read now; the next readable event brings us back.
                Io::Blocked => return Status::Open,
                Io::End(None) => self.closing = true,
                Io::End(Some(why)) => {
                    info!("{}: {why} after {} bytes sent", self.peer, self.sent);
                    return Status::Closed;
                }
            }
        }
        Status::Busy
    }

    fn wants_write(&self) -> bool {
        !self.pending.is_empty()
    }

    fn wants_read(&self) -> bool {
        !self.closing && self.pending.len() < MAX_PENDING
    }

    fn expire(&mut self, now: Instant, config: &Config) -> bool {
        if self.closing || now.duration_since(self.last_heard) < config.idle {
            return false;
        }
        info!("{} was silent for {} s: closing", self.peer, config.idle.as_secs());
        let notice = format!("* idle for {} s: closing the connection\n", config.idle.as_secs());
        self.pending.extend_from_slice(notice.as_bytes());
        self.closing = true;
        true
    }

    fn stop(&mut self) {
        if !self.closing {
            self.pending.extend_from_slice(format!("{}\n", common::GOODBYE).as_bytes());
            self.closing = true;
            info!("told {} the server is shutting down", self.peer);
        }
    }
}
