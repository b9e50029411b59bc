//! The checker's end of a connection to a server nobody has reviewed.
//!
//! A teacher points `check` at thirty servers written this week. Any of them may never answer,
//! answer one byte a second, send bytes forever without a newline, claim a body of a terabyte,
//! or speak another protocol. So the checker never talks to a server through a bare socket:
//!
//! - every read and write waits at most [`DEADLINE`] (one answer), and never past the end of the
//!   whole check ([`CHECK_TIME`]), however the server trickles its bytes;
//! - every connection reads at most its budget of bytes ([`MAX_BYTES`] unless a check asks for
//!   more), so no answer can grow a buffer without end;
//! - when either limit cuts a check short, the [`Target`] remembers why, and the run blames that
//!   (too slow, too much) instead of whatever the check was waiting for.
//!
//! What a server sends is shown only through `super::shown`, which escapes every character that
//! could steer a terminal.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::trace::{Layer, Traced};

use super::{fail, fail_all, Failure};

/// How long any single answer may take. A correct server on a classroom network answers in
/// milliseconds; two seconds leaves room for a slow laptop without making a hung server slow.
pub const DEADLINE: Duration = Duration::from_secs(2);

/// How long one whole check may take, whatever the server does: a server that answers a byte
/// at a time never makes a single read wait, so single deadlines alone would let it hold the
/// checker for minutes.
pub const CHECK_TIME: Duration = Duration::from_secs(10);

/// How many bytes one connection reads at most (the largest check, the 1 MiB echo, needs half).
pub const MAX_BYTES: usize = 2 * 1024 * 1024;

/// Why a limit cut a check short: the cause the run reports, whatever the check expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    /// The check's `time` ran out, with this many bytes received on its connections.
    OutOfTime { time: Duration, received: usize },
    /// A connection received more than its budget.
    TooMuch { budget: usize },
}

/// The server one check talks to: its address, the check's deadline, and what went wrong.
/// Cheap to clone into the threads of a check; every clone shares the deadline and the record.
#[derive(Clone)]
pub struct Target {
    pub addr: String,
    time: Duration,
    deadline: Instant,
    trouble: Arc<Mutex<(Option<Trouble>, usize)>>,
    /// A connection opened before the check (the run's "is anyone listening" probe): the first
    /// connection the check asks for. Closing it unused would be a client that connects and
    /// leaves at once, and a one-client server that spins on that would fail every later check.
    spare: Arc<Mutex<Option<TcpStream>>>,
}

impl Target {
    pub fn new(addr: &str, time: Duration, spare: Option<TcpStream>) -> Target {
        Target {
            addr: addr.to_string(),
            time,
            deadline: Instant::now() + time,
            trouble: Arc::new(Mutex::new((None, 0))),
            spare: Arc::new(Mutex::new(spare)),
        }
    }

    /// What cut the check short, if a limit did.
    pub fn trouble(&self) -> Option<Trouble> {
        self.record().0
    }

    /// Hands `peer`'s connection on to the next check, instead of closing it (see `spare`).
    pub fn keep(&self, peer: Peer) {
        *self.spare.lock().unwrap_or_else(|p| p.into_inner()) = Some(peer.stream.into_inner());
    }

    /// Takes back the probe connection if no check used it.
    pub fn take_spare(&self) -> Option<TcpStream> {
        self.spare.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn record(&self) -> std::sync::MutexGuard<'_, (Option<Trouble>, usize)> {
        self.trouble.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn note(&self, trouble: Trouble) {
        self.record().0.get_or_insert(trouble);
    }

    fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// A connection with the check's limits, traced (`--trace`) as `layer`.
    pub fn connect(&self, layer: Layer) -> Result<Peer, Failure> {
        let spare = self.take_spare();
        let stream = match spare {
            Some(stream) => stream,
            None => common::net::connect(&self.addr, "...").map_err(|_| {
                fail_all(format!("cannot connect to {} any more", self.addr), super::hint::GONE)
            })?,
        };
        // Small writes go out at once: a check that sends a message in pieces means pieces.
        let _ = stream.set_nodelay(true);
        let stream = Traced::new(stream, layer);
        Ok(Peer { stream, target: self.clone(), answer: DEADLINE, budget: MAX_BYTES, allowed: MAX_BYTES })
    }
}

/// One connection of a check: `Read` and `Write` with the check's deadlines and a byte budget.
pub struct Peer {
    stream: Traced<TcpStream>,
    target: Target,
    /// How long one read or write may wait (at most until the check's deadline).
    answer: Duration,
    /// Bytes this connection may still read, of the `allowed` in all.
    budget: usize,
    allowed: usize,
}

impl Peer {
    /// Lets one read or write wait up to `answer` (still never past the check's deadline).
    pub fn wait_up_to(&mut self, answer: Duration) {
        self.answer = answer;
    }

    /// Lets this connection read up to `bytes` in all, for a check that expects that much.
    pub fn allow(&mut self, bytes: usize) {
        (self.budget, self.allowed) = (bytes, bytes);
    }

    /// A second handle on the same connection (for a thread that reads while another writes),
    /// with the same limits and a budget of its own.
    pub fn try_clone(&self) -> Result<Peer, Failure> {
        let stream = self.stream.try_clone().map_err(|e| {
            fail(format!("cannot use the socket from two threads: {e}"), super::hint::CHECKER)
        })?;
        Ok(Peer {
            stream,
            target: self.target.clone(),
            answer: self.answer,
            budget: self.allowed,
            allowed: self.allowed,
        })
    }

    /// The bare socket, without limits or accounting: for a goodbye that must not count as
    /// the check's reading (see `chat::Goodbye`).
    pub fn raw_clone(&self) -> Option<TcpStream> {
        self.stream.try_clone().ok().map(Traced::into_inner)
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.stream.shutdown(how)
    }

    /// Closes with a reset (RST), not a FIN, the way a killed client or a closed laptop does.
    pub fn reset(self) {
        let _ = socket2::SockRef::from(&*self.stream).set_linger(Some(Duration::ZERO));
    }

    /// Asks the kernel for a small receive buffer: a member that does not read then fills up
    /// after a few kilobytes instead of a few megabytes.
    pub fn shrink_receive_buffer(&self, bytes: usize) {
        let _ = socket2::SockRef::from(&*self.stream).set_recv_buffer_size(bytes);
    }

    /// The wait for the next read or write: the answer's deadline, cut to what the check has
    /// left; an error once the check's time is up.
    fn wait(&self) -> io::Result<Duration> {
        let left = self.target.left();
        if left.is_zero() {
            let received = self.target.record().1;
            self.target.note(Trouble::OutOfTime { time: self.target.time, received });
            return Err(io::Error::new(io::ErrorKind::TimedOut, "the check's time ran out"));
        }
        Ok(self.answer.min(left))
    }
}

impl Read for Peer {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.budget == 0 {
            self.target.note(Trouble::TooMuch { budget: self.allowed });
            return Err(io::Error::other("the server sent more than the checker reads"));
        }
        let wait = self.wait()?;
        self.stream.set_read_timeout(Some(wait))?;
        let room = buf.len().min(self.budget);
        let n = self.stream.read(&mut buf[..room]).inspect_err(|e| {
            // Cut short by the check's deadline, not by the answer's own: the check ran out.
            if common::net::is_timeout(e) && wait < self.answer {
                let received = self.target.record().1;
                self.target.note(Trouble::OutOfTime { time: self.target.time, received });
            }
        })?;
        self.budget -= n;
        self.target.record().1 += n;
        Ok(n)
    }
}

impl Write for Peer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.set_write_timeout(Some(self.wait()?))?;
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// Reads until `n` bytes have come (or a deadline passes, or the peer closes).
pub fn read_exactly(stream: &mut impl Read, n: usize) -> Result<Vec<u8>, ReadFailure> {
    if n > MAX_BYTES {
        return Err(ReadFailure::TooLong { n });
    }
    let mut got = vec![0u8; n];
    let mut filled = 0;
    while filled < n {
        match stream.read(&mut got[filled..]) {
            Ok(0) => return Err(ReadFailure::Closed { filled, n }),
            Ok(k) => filled += k,
            Err(e) if common::net::is_timeout(&e) => return Err(ReadFailure::Late { filled, n }),
            Err(e) => return Err(ReadFailure::Broken { filled, n, why: common::net::describe(&e) }),
        }
    }
    Ok(got)
}

/// Why `read_exactly` came back short.
#[derive(Debug)]
pub enum ReadFailure {
    /// The peer closed its side (read returned 0).
    Closed { filled: usize, n: usize },
    /// Nothing more within the deadline.
    Late { filled: usize, n: usize },
    /// The connection broke (a reset, usually).
    Broken { filled: usize, n: usize, why: String },
    /// More than the checker reads for one answer.
    TooLong { n: usize },
}

impl std::fmt::Display for ReadFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadFailure::Closed { filled, n } => {
                write!(f, "the connection closed after {filled} of {n} bytes")
            }
            ReadFailure::Late { filled, n } => write!(f, "only {filled} of {n} bytes, then silence"),
            ReadFailure::Broken { filled, n, why } => write!(f, "{why} after {filled} of {n} bytes"),
            ReadFailure::TooLong { n } => {
                write!(f, "an answer of {n} bytes; the checker reads at most {MAX_BYTES}")
            }
        }
    }
}
