//! The pieces chapter 14's one-thread servers share: the connection contract, the limits, and
//! how a non-blocking `accept` and a readiness loop treat their errors.
//!
//! A one-thread server owns every connection as a small state machine. Each time the OS says a
//! socket is ready, the loop calls [`Conn::drive`], which reads and writes until one of them
//! would block (`WouldBlock`) and returns; nothing in it may wait. Whatever a thread used to keep
//! on its stack between two blocking calls (half a message, bytes not yet sent, where the
//! handshake is) now lives in the connection's fields.
//!
//! - [`echo`]: the TCP echo connection (bytes in, the same bytes out, a bounded write buffer);
//! - [`mio_loop`]: the loop on `mio` (epoll, kqueue, IOCP), generic over [`Conn`];
//! - [`bell`]: how the hub's lines for a member reach the loop without a scan of every connection;
//! - [`ws`]: the WebSocket echo connection, tungstenite over the non-blocking stream.
//!
//! The `poll(2)` loop written out by hand is a lesson of its own:
//! `crate::lessons::one_thread_poll`.

pub mod bell;
pub mod chat;
pub mod echo;
pub mod member;
pub mod mio_loop;
pub mod web;
pub mod ws;

use std::io;
use std::time::{Duration, Instant};

use log::{debug, warn};

/// Clients served at once by one thread; the next one is told the server is busy. Higher than
/// the threaded servers' caps: a connection here costs its buffers, not a thread.
pub const MAX_CONNECTIONS: usize = 20_000;

/// How often the loop looks at every connection's clock (idle, head deadline, linger): once
/// per tick, not once per wake-up, so 10,000 idle connections cost a scan four times a second.
pub const TICK: Duration = Duration::from_millis(250);

/// While a connection holds a line back (flood control), how soon the loop looks again.
pub const HOLD_RETRY: Duration = Duration::from_millis(5);

/// How many reads one connection may do in one turn before the others get theirs: a client
/// that sends as fast as loopback allows must not keep the loop to itself.
pub const READS_PER_TURN: usize = 32;

/// How many clients one turn accepts from a listener before the connections it has get theirs
/// (the rest are accepted on the next turn, which does not wait).
pub const ACCEPTS_PER_TURN: usize = 64;

/// The one scratch buffer every `read` of a turn goes through (one per loop, not one per
/// connection: 10,000 connections with 16 KiB each would be 160 MiB).
pub const SCRATCH: usize = 16 * 1024;

/// The limits of one loop (tests shorten the timeouts).
#[derive(Clone, Debug)]
pub struct Config {
    pub max_connections: usize,
    /// A TCP echo client silent this long is told and closed (the echo lessons' 300 s).
    pub idle: Duration,
    /// A WebSocket client must finish its request head in this time (slowloris).
    pub head: Duration,
    /// After Ctrl-C, how long the goodbyes may take to leave before every socket is closed.
    pub grace: Duration,
    /// A chat member whose socket took none of the bytes waiting for it for this long has
    /// stopped reading: it is dropped (the threaded chat's write timeout, `conn::WRITE_TIMEOUT`).
    pub write_timeout: Duration,
    /// The deadline on a message in progress and the budget for unfinished messages across
    /// connections (chapter 6's limits; WebSocket connections only).
    pub unfinished: common::ws::unfinished::Guard,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_connections: MAX_CONNECTIONS,
            idle: crate::lessons::echo::IDLE_TIMEOUT,
            head: crate::http::REQUEST_DEADLINE,
            grace: common::shutdown::GRACE,
            write_timeout: crate::conn::WRITE_TIMEOUT,
            unfinished: common::ws::unfinished::Guard::default(),
        }
    }
}

/// What a connection asks of the loop after a turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Waiting for readiness: readable always, writable too if [`Conn::wants_write`].
    Open,
    /// It used up [`READS_PER_TURN`] with bytes still waiting: drive it again next turn
    /// without waiting for the OS (which may not report the same readiness twice).
    Busy,
    /// Finished: drop it (which closes the socket).
    Closed,
}

/// One connection's state machine, as the loop sees it.
pub trait Conn {
    /// Reads and writes until one would block, `budget` reads at most; `scratch` is the loop's
    /// shared read buffer.
    fn drive(&mut self, scratch: &mut [u8], now: Instant) -> Status;
    /// Whether it should be woken when the socket can take more bytes (bytes wait to be sent).
    fn wants_write(&self) -> bool;
    /// Whether it still reads: false while its write buffer is full (the client must read
    /// first) and once it is closing.
    fn wants_read(&self) -> bool;
    /// Looks at the clock once a [`TICK`]; returns true when it changed state (a deadline
    /// passed, a notice was queued) and must be driven.
    fn expire(&mut self, now: Instant, config: &Config) -> bool;
    /// The server is stopping: queue the goodbye and stop reading.
    fn stop(&mut self);
    /// The OS said its socket became readable (or closed, or failed). A connection that the
    /// loop also drives for other reasons (its bell) reads only after this, until a read says
    /// `WouldBlock`: a `read` that can only say `WouldBlock` is a system call for nothing, and
    /// with 10,000 members it would be 10,000 of them per line of chat.
    fn readable(&mut self) {}
    /// Takes the bell the loop answers ([`bell`]): the connection has it rung whenever
    /// something other than its socket gives it work (another member's line in its outbox, a
    /// kick), and the loop drives it after the turn. Connections with no hub have no use for it.
    fn hang_bell(&mut self, bell: bell::Bell) {
        let _ = bell;
    }
    /// Whether it holds lines back (flood control): nothing rings for those, so the loop drives
    /// it again every [`HOLD_RETRY`] until it holds none.
    fn holds_lines(&self) -> bool {
        false
    }
}

/// What one non-blocking `accept` gave.
pub enum Accepted<S> {
    Client(S, std::net::SocketAddr),
    /// `WouldBlock`: the queue is empty; the next client makes the listener readable again.
    Drained,
    /// A client that gave up while it waited (reset before accept): its problem, try the next.
    Skip,
    /// This process is out of something (`EMFILE`): stop for now and try again after a tick,
    /// rather than spin.
    Failed,
}

/// Sorts the result of one `accept` on a non-blocking listener.
pub fn accepted<S>(result: io::Result<(S, std::net::SocketAddr)>) -> Accepted<S> {
    match result {
        Ok((stream, peer)) => Accepted::Client(stream, peer),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Accepted::Drained,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Accepted::Skip,
        Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset) => {
            debug!("a client gave up while it waited to be accepted: {e}");
            Accepted::Skip
        }
        Err(e) => {
            warn!("accept() failed: {e}; trying again in {} ms", TICK.as_millis());
            Accepted::Failed
        }
    }
}

/// What one `read` or `write` on a non-blocking socket means for the state machine.
pub enum Io {
    Done(usize),
    /// `WouldBlock`: wait for the OS to say the socket is ready again.
    Blocked,
    /// End of stream (a read of 0) or an error, already described for the log.
    End(Option<String>),
}

/// Sorts the result of one `read` or `write`. `Interrupted` (a signal arrived) reads as
/// `Done(0)` for a write and is retried by the caller's loop.
pub fn io_result(result: io::Result<usize>) -> Io {
    match result {
        Ok(0) => Io::End(None),
        Ok(n) => Io::Done(n),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Io::Blocked,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Io::Done(0),
        Err(e) => Io::End(Some(common::net::describe(&e))),
    }
}

/// The notice a client over the cap reads before its connection closes.
pub fn busy_notice(max_connections: usize) -> String {
    format!("* server busy: {max_connections} clients already connected, try again later\n")
}
