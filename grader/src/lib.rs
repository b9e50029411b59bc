//! The grader: `cargo client check LESSON` grades a server someone wrote (in any language) over
//! the wire. A check is a function from an address to a verdict with a hint, bounded in time and
//! bytes, that never prints a peer's bytes raw. The crate depends on `common` only, so that both
//! the `client` CLI and a server (the lab grading a class) can run the same checks.
//!
//! Each check connects to the student's server, does one thing a correct server must handle, and
//! prints `PASS` or `FAIL` with a hint. The checks only ever see bytes on a socket, so they test
//! what the chapter promises a client, not how the server is written.
//!
//! Three rules keep the checker usable with thirty students waiting, whatever their servers do:
//!
//! - **Every wait has a deadline, every read a size.** A server that never answers, trickles,
//!   floods or claims a huge body fails the check; it does not hang, slow or crash the checker
//!   (see [`peer`]). And nothing a server sends reaches the terminal raw ([`shown`]).
//! - **Never cause what you blame.** The "is anyone listening" probe's connection is the first
//!   check's, so the checker never connects and leaves at once; a server that cannot take that
//!   is told so by a check of its own, with the real cause.
//! - **One cause, one line.** Nobody listening is one error line, not a failure per check; and a
//!   failure that every later check would repeat (the server never answers at all, or only once
//!   the client has closed its side) stops the run, and the rest are listed as skipped.
//!
//! One file per lesson's grader: [`echo`], [`threaded_echo`], [`chat`] (and its [`flood`]
//! check), [`http`], [`ws`]. A new grader is a file with a `checks()` list and a line in [`grader`].

pub mod chat;
pub mod echo;
mod flood;
pub mod http;
pub mod one_thread;
mod peer;
pub mod threaded_echo;
pub mod ws;

use std::io::Write;
use std::time::Duration;

use peer::{read_exactly, Peer, ReadFailure};
pub use peer::{Target, Trouble, CHECK_TIME, DEADLINE, MAX_BYTES};

/// How much of a failure's description a FAIL line shows: the start of a 1 MiB body says as
/// much as all of it, and a line must fit a terminal.
pub const MAX_SHOWN: usize = 300;

/// What went wrong, and what to look at.
#[derive(Debug)]
pub struct Failure {
    /// What the check saw. It may quote the server, so it is printed only through [`shown`].
    pub what: String,
    pub hint: &'static str,
    /// Every later check would fail the same way: stop here.
    pub stops_the_run: bool,
}

type Outcome = Result<(), Failure>;

/// A check: its name, as printed, the function that runs it, and the time it may take in all.
pub struct Check {
    pub name: &'static str,
    run: fn(&Target) -> Outcome,
    time: Duration,
}

/// A check that may take [`CHECK_TIME`].
fn check(name: &'static str, run: fn(&Target) -> Outcome) -> Check {
    Check { name, run, time: CHECK_TIME }
}

impl Check {
    /// The same check, allowed `time` in all (for one that must push megabytes through).
    fn taking(self, time: Duration) -> Check {
        Check { time, ..self }
    }
}

fn fail(what: impl Into<String>, hint: &'static str) -> Failure {
    Failure { what: what.into(), hint, stops_the_run: false }
}

/// A failure that makes the rest of the checks pointless (they would all wait for the same thing).
fn fail_all(what: impl Into<String>, hint: &'static str) -> Failure {
    Failure { stops_the_run: true, ..fail(what, hint) }
}

/// Hints that more than one grader may print, beside each grader's own (`HINTS` in its file).
pub mod hint {
    /// A connection was refused in the middle of the run.
    pub const GONE: &str = "is your server still running? It stopped accepting connections during the checks";
    /// A check ran out of its time (see `Trouble::OutOfTime`).
    pub const TOO_SLOW: &str =
        "answer at once and whole: write each line or response with one write_all, not a byte at a time";
    /// A connection read more than its budget (see `Trouble::TooMuch`).
    pub const TOO_MUCH: &str = "send only the answer asked for, and end each line with \\n \
                                (a loop that writes without reading floods the client)";
    /// A bug in the checker itself: never a student's.
    pub const CHECKER: &str = "tell your teacher, with the line above";
}

/// Sends `bytes`, and lets a failure pass. A failed write is not the verdict: what the server
/// did (reset, closed, went silent, stopped reading) shows in what the check reads next, and
/// that check's hint names the cause; "sending failed" would name none.
fn send(stream: &mut impl Write, bytes: &[u8]) {
    if let Err(e) = stream.write_all(bytes) {
        log::debug!("sending {} bytes failed: {e}", bytes.len());
    }
}

/// The one way a failure's description reaches the terminal. It may quote the server, and a
/// terminal obeys what it prints: ESC `[2J` clears the screen, OSC 52 writes the clipboard, BEL
/// rings, U+202E turns the rest of the line around. Every control character (C0, DEL, C1) and
/// every invisible or direction-changing one is shown as an escape (`\x1b`, `\u{202e}`), so
/// an escape sequence arrives as harmless text; and the description is cut at [`MAX_SHOWN`].
pub fn shown(what: &str) -> String {
    common::trace::dump::escaped(what.as_bytes(), MAX_SHOWN)
}

/// When a limit cut the check short, that is the cause, whatever the check was waiting for.
fn blame(trouble: Trouble) -> Failure {
    match trouble {
        Trouble::OutOfTime { time, received } => fail_all(
            format!("the check ran out of its {time:?} with only {received} bytes from the server"),
            hint::TOO_SLOW,
        ),
        Trouble::TooMuch { budget } => fail_all(
            format!("the server sent more than {budget} bytes without the answer the check waited for"),
            hint::TOO_MUCH,
        ),
    }
}

/// The tally of one run.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub passed: usize,
    pub failed: usize,
    /// Not run, because an earlier failure stopped the run.
    pub skipped: usize,
}

/// One lesson's grader: the checks, the hints they can print, and where that lesson's server
/// listens by default.
struct Grader {
    checks: Vec<Check>,
    hints: Vec<&'static str>,
    default_addr: &'static str,
    /// The reference server, as the learner starts it.
    reference: &'static str,
}

/// Where the lessons' reference servers listen unless told otherwise (as `client::defaults`).
pub mod defaults {
    /// Lessons 2-4 and 7 (`echo`, `threaded-echo`, `chat`, `handshake`), and the lab's TCP chat.
    pub const TCP: &str = common::DEFAULT_ADDR;
    /// `cargo server http`, and the lab's web side.
    pub const HTTP: &str = "127.0.0.1:8080";
}

/// The lessons `check` knows, in the order of the book.
pub const LESSONS: &[&str] = &["echo", "threaded-echo", "chat", "http", "ws", "one-thread-echo"];

fn grader(lesson: &str) -> Option<Grader> {
    use defaults::{HTTP, TCP};
    use hint::{GONE, TOO_MUCH, TOO_SLOW};
    let (checks, hints, default_addr, reference) = match lesson {
        // An echo reads exactly what it sent: it never reads enough to be flooded.
        "echo" => (echo::checks(), [echo::HINTS, &[GONE, TOO_SLOW]].concat(), TCP, "cargo server echo"),
        "threaded-echo" => (
            threaded_echo::checks(),
            [echo::HINTS, threaded_echo::HINTS, &[GONE, TOO_SLOW]].concat(),
            TCP,
            "cargo server threaded-echo",
        ),
        "chat" => {
            (chat::checks(), [chat::HINTS, &[GONE, TOO_SLOW, TOO_MUCH]].concat(), TCP, "cargo server chat")
        }
        "http" => {
            (http::checks(), [http::HINTS, &[GONE, TOO_SLOW, TOO_MUCH]].concat(), HTTP, "cargo server http")
        }
        // The WebSocket exercise is chapter 7's: its reference is the hand-made handshake server.
        "ws" => (
            ws::checks(),
            [ws::HINTS, http::OF_A_RESPONSE, &[GONE, TOO_SLOW, TOO_MUCH]].concat(),
            TCP,
            "cargo server handshake",
        ),
        "one-thread-echo" => (
            one_thread::checks(),
            [echo::HINTS, threaded_echo::HINTS, one_thread::HINTS, &[GONE, TOO_SLOW]].concat(),
            TCP,
            "cargo server one-thread-echo",
        ),
        _ => return None,
    };
    Some(Grader { checks, hints, default_addr, reference })
}

/// Every hint `lesson`'s grader can print (all but [`hint::CHECKER`], which blames the checker
/// itself). The tests keep a wrong server that trips each one.
pub fn hints(lesson: &str) -> Vec<&'static str> {
    grader(lesson).map(|g| g.hints).unwrap_or_default()
}

/// Where `lesson`'s reference server listens by default: what `check` uses without `--addr`.
pub fn default_addr(lesson: &str) -> Option<&'static str> {
    grader(lesson).map(|g| g.default_addr)
}

/// What one check found: the library's answer, for whoever shows it (the CLI prints a line
/// each; a scoreboard could fill a cell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The check, as printed.
    pub check: &'static str,
    pub mark: Mark,
}

/// A check's mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    Pass,
    /// What the check saw, already made safe to show ([`shown`]), and what to look at.
    Fail {
        what: String,
        hint: &'static str,
    },
    /// Not run: an earlier failure stopped the run.
    Skip,
}

/// Grades the server at `addr` (the lesson's default address when `None`) with `lesson`'s checks,
/// telling `each` every verdict as it comes. Every check is bounded in time and bytes (see
/// [`peer`]), so the whole run is too. An error (an unknown lesson, nobody listening) is one line.
pub fn grade(lesson: &str, addr: Option<&str>, mut each: impl FnMut(Verdict)) -> Result<Report, String> {
    let Some(grader) = grader(lesson) else {
        return Err(format!("no checks for {lesson:?}: pick one of {}", LESSONS.join(", ")));
    };
    let addr = addr.unwrap_or(grader.default_addr);
    // Nobody listening is one fact, not a failure of every check: say it once. The probe's
    // connection is the first check's (see `Target`).
    let mut spare =
        Some(common::net::connect(addr, lesson).map_err(|e| match e.strip_prefix("no server at ") {
            Some(_) => format!(
                "no server at {addr}: start yours (or the reference, `{}`) in another terminal, \
             or give its address with --addr HOST:PORT",
                grader.reference
            ),
            None => e,
        })?);
    let mut report = Report::default();
    let mut stopped = false;
    for Check { name, run, time } in grader.checks {
        if stopped {
            report.skipped += 1;
            each(Verdict { check: name, mark: Mark::Skip });
            continue;
        }
        let target = Target::new(addr, time, spare.take());
        let outcome = std::panic::catch_unwind(|| run(&target))
            .unwrap_or_else(|_| Err(fail("the checker itself failed", hint::CHECKER)));
        spare = target.take_spare();
        let mark = match outcome.map_err(|failure| target.trouble().map_or(failure, blame)) {
            Ok(()) => {
                report.passed += 1;
                Mark::Pass
            }
            Err(Failure { what, hint, stops_the_run }) => {
                report.failed += 1;
                stopped = stops_the_run;
                Mark::Fail { what: shown(&what), hint }
            }
        };
        each(Verdict { check: name, mark });
    }
    Ok(report)
}

/// Runs `lesson`'s checks against the server at `addr` (its default address when `None`),
/// printing one line per check, then the tally. An error (an unknown lesson, nobody listening)
/// is one line.
pub fn run(lesson: &str, addr: Option<&str>, out: &mut impl Write) -> Result<Report, String> {
    let mut written = Ok(());
    let report = grade(lesson, addr, |Verdict { check, mark }| {
        let line = match mark {
            Mark::Pass => format!("PASS {lesson}: {check}"),
            Mark::Fail { what, hint } => format!("FAIL {lesson}: {what} — {hint}"),
            Mark::Skip => format!("SKIP {lesson}: {check} — fix the failure above first"),
        };
        if written.is_ok() {
            written = writeln!(out, "{line}");
        }
    })?;
    let skipped = if report.skipped > 0 { format!(", {} skipped", report.skipped) } else { String::new() };
    written
        .and_then(|()| writeln!(out, "{} passed, {} failed{skipped}", report.passed, report.failed))
        .map_err(|e| e.to_string())?;
    Ok(report)
}

/// The names of `lesson`'s checks, in order (for tests and the book).
pub fn names(lesson: &str) -> Vec<&'static str> {
    grader(lesson).map(|g| g.checks.iter().map(|c| c.name).collect()).unwrap_or_default()
}

/// Sends part of a message, then resets the connection, as a killed client does; then asks
/// `still_served` (a fresh exchange with other clients) whether the server kept going.
fn vanish(target: &Target, partial: &[u8], still_served: impl Fn(&Target) -> Outcome) -> Outcome {
    let mut peer = target.connect(common::trace::Layer::Raw)?;
    let _ = peer.write_all(partial);
    // Closing sends a reset (RST), not a FIN. The server's next read fails with "connection
    // reset" instead of returning 0, the way it does when a laptop lid closes.
    peer.reset();
    // The server's thread for this client may not have run since: on a busy machine a server
    // that dies of the reset could die only during a *later* check, which would then be blamed,
    // or only after every later check has connected, and pass. Half a second was not always
    // enough beside four busy loops; then the check asks whether everyone else is still served.
    std::thread::sleep(MEET_THE_RESET);
    still_served(target)
}

/// How long [`vanish`] gives the server to meet the reset before the check goes on.
const MEET_THE_RESET: Duration = Duration::from_millis(1500);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_escapes_everything_that_steers_a_terminal_and_keeps_the_rest() {
        let hostile = "got \u{1b}[2J\u{1b}]52;c;cm0=\u{7} \u{9b}31m \u{202e}txt.exe 안녕\r\n";
        let safe = shown(hostile);
        assert_eq!(safe, "got \\x1b[2J\\x1b]52;c;cm0=\\x07 \\u{9b}31m \\u{202e}txt.exe 안녕\\r\\n");
        assert!(!safe.chars().any(char::is_control));
        let long = shown(&"x".repeat(MAX_SHOWN * 2));
        assert!(long.starts_with(&"x".repeat(MAX_SHOWN)) && long.ends_with("more bytes"), "{long}");
    }

    #[test]
    fn every_grader_lists_its_hints_and_every_hint_is_a_sentence() {
        for lesson in LESSONS {
            let hints = hints(lesson);
            assert!(hints.len() >= 5, "{lesson}: {hints:?}");
            assert!(hints.iter().all(|h| h.len() > 10), "{lesson}: {hints:?}");
            assert!(!names(lesson).is_empty());
        }
        assert!(hints("telnet").is_empty());
    }
}
