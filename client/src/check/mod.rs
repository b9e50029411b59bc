//! `cargo client check LESSON`: grades a server someone wrote (in any language) over the wire.
//!
//! Each check connects to the student's server, does one thing a correct server must handle, and
//! prints `PASS` or `FAIL` with a hint. The checks only ever see bytes on a socket, so they test
//! what the chapter promises a client, not how the server is written.
//!
//! Two rules keep the checker usable with thirty students waiting:
//!
//! - **Every wait has a deadline.** A server that never answers fails the check; it does not hang
//!   the checker.
//! - **One cause, one line.** Nobody listening is one error line, not a failure per check; and a
//!   failure that every later check would repeat (the server never answers at all, or only once
//!   the client has closed its side) stops the run, and the rest are listed as skipped.
//!
//! One file per lesson's grader: [`echo`], [`threaded_echo`], [`chat`], [`http`], [`ws`].

mod chat;
mod echo;
mod http;
mod one_thread;
mod threaded_echo;
mod ws;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::trace::{Layer, Traced};

/// How long any single answer may take. A correct server on a classroom network answers in
/// milliseconds; two seconds leaves room for a slow laptop without making a hung server slow.
pub const DEADLINE: Duration = Duration::from_secs(2);

/// What went wrong, and what to look at.
#[derive(Debug)]
pub struct Failure {
    pub what: String,
    pub hint: &'static str,
    /// Every later check would fail the same way: stop here.
    pub stops_the_run: bool,
}

type Outcome = Result<(), Failure>;

/// A check: its name, as printed, and the function that runs it against an address.
type Check = (&'static str, fn(&str) -> Outcome);

fn fail(what: impl Into<String>, hint: &'static str) -> Failure {
    Failure { what: what.into(), hint, stops_the_run: false }
}

/// A failure that makes the rest of the checks pointless (they would all wait for the same thing).
fn fail_all(what: impl Into<String>, hint: &'static str) -> Failure {
    Failure { stops_the_run: true, ..fail(what, hint) }
}

/// Sending failed: the server closed or reset the connection while we were still talking.
fn send_failed(e: io::Error) -> Failure {
    fail(
        format!("sending failed: {}", common::net::describe(&e)),
        "keep reading until the client closes; a server that closes early cuts the client off",
    )
}

/// The tally of one run.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub passed: usize,
    pub failed: usize,
    /// Not run, because an earlier failure stopped the run.
    pub skipped: usize,
}

/// One lesson's grader: the checks, and where that lesson's server listens by default.
struct Grader {
    checks: Vec<Check>,
    default_addr: &'static str,
    /// The reference server, as the learner starts it.
    reference: &'static str,
}

/// The lessons `check` knows, in the order of the book.
pub const LESSONS: &[&str] = &["echo", "threaded-echo", "chat", "http", "ws", "one-thread-echo"];

fn grader(lesson: &str) -> Option<Grader> {
    let (checks, default_addr, reference) = match lesson {
        "echo" => (echo::checks(), crate::defaults::TCP, "cargo server echo"),
        "threaded-echo" => (threaded_echo::checks(), crate::defaults::TCP, "cargo server threaded-echo"),
        "chat" => (chat::checks(), crate::defaults::TCP, "cargo server chat"),
        "http" => (http::checks(), crate::defaults::HTTP, "cargo server http"),
        // The WebSocket exercise is chapter 7's: its reference is the hand-made handshake server.
        "ws" => (ws::checks(), crate::defaults::TCP, "cargo server handshake"),
        "one-thread-echo" => (one_thread::checks(), crate::defaults::TCP, "cargo server one-thread-echo"),
        _ => return None,
    };
    Some(Grader { checks, default_addr, reference })
}

/// Where `lesson`'s reference server listens by default: what `check` uses without `--addr`.
pub fn default_addr(lesson: &str) -> Option<&'static str> {
    grader(lesson).map(|g| g.default_addr)
}

/// Runs `lesson`'s checks against the server at `addr` (its default address when `None`),
/// printing one line per check. An error (an unknown lesson, nobody listening) is one line.
pub fn run(lesson: &str, addr: Option<&str>, out: &mut impl Write) -> Result<Report, String> {
    let Some(grader) = grader(lesson) else {
        return Err(format!("no checks for {lesson:?}: pick one of {}", LESSONS.join(", ")));
    };
    let addr = addr.unwrap_or(grader.default_addr);
    // Nobody listening is one fact, not a failure of every check: say it once.
    drop(common::net::connect(addr, lesson).map_err(|e| match e.strip_prefix("no server at ") {
        Some(_) => format!(
            "no server at {addr}: start yours (or the reference, `{}`) in another terminal, \
             or give its address with --addr HOST:PORT",
            grader.reference
        ),
        None => e,
    })?);
    let write = |out: &mut dyn Write, line: String| writeln!(out, "{line}").map_err(|e| e.to_string());
    let mut report = Report::default();
    let mut stopped = false;
    for (name, check) in grader.checks {
        if stopped {
            report.skipped += 1;
            write(out, format!("SKIP {lesson}: {name} — fix the failure above first"))?;
            continue;
        }
        let outcome = std::panic::catch_unwind(|| check(addr)).unwrap_or_else(|_| {
            Err(fail("the checker itself failed", "tell your teacher, with the line above"))
        });
        match outcome {
            Ok(()) => {
                report.passed += 1;
                write(out, format!("PASS {lesson}: {name}"))?;
            }
            Err(Failure { what, hint, stops_the_run }) => {
                report.failed += 1;
                stopped = stops_the_run;
                write(out, format!("FAIL {lesson}: {what} — {hint}"))?;
            }
        }
    }
    let skipped = if report.skipped > 0 { format!(", {} skipped", report.skipped) } else { String::new() };
    write(out, format!("{} passed, {} failed{skipped}", report.passed, report.failed))?;
    Ok(report)
}

/// A connection with deadlines on every read and write, traced (`--trace`) as `layer`.
fn connect(addr: &str, layer: Layer) -> Result<Traced<TcpStream>, Failure> {
    let hint = "is your server still running? It stopped accepting connections during the checks";
    let stream = common::net::connect(addr, "...")
        .map_err(|_| fail(format!("cannot connect to {addr} any more"), hint))?;
    let stream = Traced::new(stream, layer);
    stream
        .set_read_timeout(Some(DEADLINE))
        .and_then(|()| stream.set_write_timeout(Some(DEADLINE)))
        .map_err(|e| fail(format!("cannot set a deadline on the socket: {e}"), hint))?;
    // Small writes go out at once: a check that sends a message in pieces means pieces.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Reads until `n` bytes have come (or the deadline passes, or the peer closes).
fn read_exactly(stream: &mut impl Read, n: usize) -> Result<Vec<u8>, ReadFailure> {
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
enum ReadFailure {
    /// The peer closed its side (read returned 0).
    Closed { filled: usize, n: usize },
    /// Nothing more within the deadline.
    Late { filled: usize, n: usize },
    /// The connection broke (a reset, usually).
    Broken { filled: usize, n: usize, why: String },
}

impl std::fmt::Display for ReadFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadFailure::Closed { filled, n } => {
                write!(f, "the connection closed after {filled} of {n} bytes")
            }
            ReadFailure::Late { filled, n } => write!(f, "only {filled} of {n} bytes within {DEADLINE:?}"),
            ReadFailure::Broken { filled, n, why } => write!(f, "{why} after {filled} of {n} bytes"),
        }
    }
}

/// Sends part of a message, then resets the connection, as a killed client does.
fn vanish(addr: &str, partial: &[u8]) -> Outcome {
    let stream = connect(addr, Layer::Raw)?;
    let _ = (&stream).write_all(partial);
    // Linger 0: closing sends a reset (RST), not a FIN. The server's next read fails with
    // "connection reset" instead of returning 0, the way it does when a laptop lid closes.
    let _ = socket2::SockRef::from(&*stream).set_linger(Some(Duration::ZERO));
    drop(stream);
    Ok(())
}
