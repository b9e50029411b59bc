//! `cargo client check`: every reference server passes every check; for every FAIL a grader can
//! print, a wrong solution here trips exactly that FAIL with that hint; and hostile servers
//! (silent, trickling, flooding, lying about lengths, printing escape sequences, speaking
//! another protocol) get a clear FAIL in bounded time and never reach the terminal raw.
//!
//! The wrong solutions live in one file per grader (`echo.rs`, `chat.rs`, `http.rs`, `ws.rs`),
//! the hostile servers in `hostile.rs`; this file holds what they share.

#[path = "../support/mod.rs"]
mod support;

mod chat;
mod echo;
mod hostile;
mod http;
mod ws;

use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;

use client::check::{self, Report};
use server::hub::{Hub, Limits};
use server::lessons::{chat as chat_lesson, echo as echo_lesson, handshake, threaded_echo, ws_chat, ws_echo};

fn checked(lesson: &str, addr: &str) -> (Report, String) {
    let mut out = Vec::new();
    let report = check::run(lesson, Some(addr), &mut out).unwrap();
    (report, String::from_utf8(out).unwrap())
}

/// A server that runs `serve` on a thread per connection, for as long as the test lives.
pub fn threaded(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let serve = Arc::new(serve);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let serve = serve.clone();
            thread::spawn(move || serve(stream));
        }
    });
    addr
}

/// A server that serves one connection at a time. When `serve` returns false, the program
/// ends: its port closes first, then that connection (so no checker can connect in between).
pub fn one_at_a_time(mut serve: impl FnMut(&mut TcpStream) -> bool + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        while let Ok((mut stream, _)) = listener.accept() {
            if !serve(&mut stream) {
                drop(listener);
                return;
            }
        }
    });
    addr
}

/// A server that takes one connection, closes its port, and then serves that connection: a
/// program without a loop around accept(), seen from the second client on.
pub fn first_only(serve: impl FnOnce(TcpStream) + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            drop(listener);
            serve(stream);
        }
    });
    addr
}

/// The hint of each FAIL line (`FAIL lesson: what — hint`).
fn hints_in(out: &str) -> BTreeSet<String> {
    let fails = out.lines().filter(|l| l.starts_with("FAIL "));
    fails.map(|l| l.rsplit_once(" — ").map(|(_, hint)| hint.to_string()).unwrap_or_default()).collect()
}

/// No character that could steer a terminal: no control character but the line ends, nothing
/// invisible or direction-changing.
pub fn assert_printable(out: &str) {
    for c in out.chars() {
        let steering = (c.is_control() && c != '\n')
            || matches!(c, '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}');
        assert!(!steering, "{:?} reached the output:\n{out}", c);
    }
}

/// Runs `lesson`'s grader against `addr` and asserts that the FAILs carry exactly `expected`
/// hints (each a hint `check::hints` lists). Returns them, for the coverage count.
pub fn trips(lesson: &str, addr: &str, expected: &[&str]) -> BTreeSet<String> {
    let (report, out) = checked(lesson, addr);
    assert_printable(&out);
    let seen = hints_in(&out);
    let expected: BTreeSet<String> = expected.iter().map(|h| h.to_string()).collect();
    assert_eq!(seen, expected, "{lesson} at {addr}: the FAILs' hints differ:\n{out}");
    assert_eq!(report.failed, out.lines().filter(|l| l.starts_with("FAIL ")).count());
    let known: BTreeSet<String> = check::hints(lesson).iter().map(|h| h.to_string()).collect();
    assert!(seen.is_subset(&known), "{lesson}: a hint that check::hints does not list:\n{out}");
    seen
}

/// [`trips`] for each wrong server at once: their checks mostly wait (for deadlines, for
/// replies), so running them side by side saves minutes and costs little CPU.
pub fn trips_each(lesson: &str, cases: &[(String, &[&str])]) -> Vec<BTreeSet<String>> {
    thread::scope(|scope| {
        let runs: Vec<_> =
            cases.iter().map(|(addr, hints)| scope.spawn(move || trips(lesson, addr, hints))).collect();
        runs.into_iter().map(|run| run.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    })
}

/// Every hint `lesson` can print was tripped by one of its wrong solutions.
pub fn covers(lesson: &str, tripped: &[BTreeSet<String>]) {
    let tripped: BTreeSet<String> = tripped.iter().flatten().cloned().collect();
    let all: BTreeSet<String> = check::hints(lesson).iter().map(|h| h.to_string()).collect();
    let missing: Vec<&String> = all.difference(&tripped).collect();
    assert!(missing.is_empty(), "{lesson}: no wrong solution trips {missing:#?}");
}

#[test]
fn the_reference_servers_pass_every_check() {
    let echo_server = support::start(echo_lesson::run);
    let threaded = support::start(|l, s| threaded_echo::run(l, s, 16));
    let chat_server = support::start(|l, s| chat_lesson::run(l, s, Arc::new(Hub::new(Limits::default()))));
    let (lab_server, lab_tcp) = support::lab(Limits::default(), Default::default());
    let ws = support::start(|l, s| ws_echo::run(l, s, 16));
    let ws_chat_server = support::start(|l, s| {
        ws_chat::run(l, s, Arc::new(Hub::new(Limits::default())), Default::default(), Default::default())
    });
    let handshake_server = support::start(|l, s| handshake::run(l, s, 16));
    let runs = [
        ("echo", echo_server.addr),
        ("threaded-echo", threaded.addr),
        ("chat", chat_server.addr),
        ("chat", lab_tcp),
        ("http", lab_server.addr),
        ("ws", lab_server.addr),
        ("ws", ws.addr),
        ("ws", ws_chat_server.addr),
        ("ws", handshake_server.addr),
    ];
    for (lesson, addr) in runs {
        let (report, out) = checked(lesson, &addr.to_string());
        assert_eq!(report.failed, 0, "{lesson} at {addr}:\n{out}");
        assert_eq!(report.passed, check::names(lesson).len(), "{lesson}:\n{out}");
        assert!(out.ends_with(&format!("{} passed, 0 failed\n", report.passed)), "{out}");
    }
}

#[test]
fn threaded_echo_runs_the_echo_checks_and_one_more() {
    let echo: BTreeSet<&str> = check::hints("echo").into_iter().collect();
    let threaded: BTreeSet<&str> = check::hints("threaded-echo").into_iter().collect();
    assert_eq!(threaded.difference(&echo).count(), 1, "{threaded:?}");
    assert_eq!(check::names("threaded-echo")[..check::names("echo").len()], check::names("echo")[..]);
    // Lesson 2's server, one client at a time, is the wrong solution for lesson 3.
    let sequential = support::start(echo_lesson::run);
    let seen = trips("threaded-echo", &sequential.addr.to_string(), &["serve each client on its own thread"]);
    assert_eq!(seen.len(), 1);
}

#[test]
fn nobody_listening_is_one_error_naming_the_reference_server() {
    let nobody = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let mut out = Vec::new();
    let error = check::run("echo", Some(&nobody), &mut out).unwrap_err();
    assert_eq!(
        error,
        format!(
            "no server at {nobody}: start yours (or the reference, `cargo server echo`) in another terminal, \
             or give its address with --addr HOST:PORT"
        )
    );
    assert!(out.is_empty(), "no line per check: {}", String::from_utf8_lossy(&out));
    assert!(check::run("telnet", Some(&nobody), &mut out)
        .unwrap_err()
        .contains("echo, threaded-echo, chat, http, ws"));
}

#[test]
fn without_addr_each_lesson_checks_where_its_reference_server_listens() {
    for (lesson, addr) in [
        ("echo", "127.0.0.1:7878"),
        ("threaded-echo", "127.0.0.1:7878"),
        ("chat", "127.0.0.1:7878"),
        ("http", "127.0.0.1:8080"),
        // `cargo server handshake`, the WebSocket exercise's reference.
        ("ws", "127.0.0.1:7878"),
    ] {
        assert_eq!(check::default_addr(lesson), Some(addr), "{lesson}");
    }
}

#[test]
fn grade_tells_each_verdict_as_it_comes_for_whoever_shows_them() {
    let echo_server = support::start(echo_lesson::run);
    let mut verdicts = Vec::new();
    let report = check::grade("echo", Some(&echo_server.addr.to_string()), |v| verdicts.push(v)).unwrap();
    assert_eq!(verdicts.iter().map(|v| v.check).collect::<Vec<_>>(), check::names("echo"));
    assert!(verdicts.iter().all(|v| v.mark == check::Mark::Pass), "{verdicts:?}");
    assert_eq!(report.passed, verdicts.len());
    // A server that reads and never answers: one FAIL with its hint, the rest skipped.
    let silent =
        threaded(|mut stream| while let Ok(1..) = std::io::Read::read(&mut stream, &mut [0u8; 64]) {});
    let mut marks = Vec::new();
    check::grade("echo", Some(&silent), |v| marks.push(v.mark)).unwrap();
    assert!(
        matches!(&marks[0], check::Mark::Fail { hint, .. } if *hint == check::echo::NO_ECHO),
        "{marks:?}"
    );
    assert!(marks[1..].iter().all(|m| *m == check::Mark::Skip), "{marks:?}");
}
