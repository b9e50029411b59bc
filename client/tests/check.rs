//! `cargo client check`: the reference servers pass every check, and deliberately broken servers
//! fail with the hint that names their mistake.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use client::check::{self, Report};
use server::hub::{Hub, Limits};
use server::lessons::{chat, echo, lab, threaded_echo, ws_echo};

fn checked(lesson: &str, addr: &str) -> (Report, String) {
    let mut out = Vec::new();
    let report = check::run(lesson, Some(addr), &mut out).unwrap();
    (report, String::from_utf8(out).unwrap())
}

#[test]
fn the_reference_servers_pass_every_check() {
    let echo_server = support::start(echo::run);
    let threaded = support::start(|l, s| threaded_echo::run(l, s, 16));
    let chat_server = support::start(|l, s| chat::run(l, s, Arc::new(Hub::new(Limits::default()))));
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let lab_server = support::start(move |web, s| {
        lab::run(tcp, web, s, Arc::new(Hub::new(Limits::default())), Default::default(), Default::default())
    });
    let ws = support::start(|l, s| ws_echo::run(l, s, 16));
    for (lesson, addr) in [
        ("echo", echo_server.addr),
        ("threaded-echo", threaded.addr),
        ("chat", chat_server.addr),
        ("http", lab_server.addr),
        ("ws", lab_server.addr),
        ("ws", ws.addr),
    ] {
        let (report, out) = checked(lesson, &addr.to_string());
        assert_eq!(report.failed, 0, "{lesson}:\n{out}");
        assert!(report.passed >= 4, "{lesson}:\n{out}");
        assert!(out.ends_with(&format!("{} passed, 0 failed\n", report.passed)), "{out}");
    }
}

/// A server that runs `serve` on a thread per connection, for as long as the test lives.
fn broken(serve: fn(TcpStream)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || serve(stream));
        }
    });
    addr
}

fn fails_with(lesson: &str, addr: &str, hint: &str) {
    let (report, out) = checked(lesson, addr);
    assert!(report.failed > 0, "{lesson}: the broken server passed:\n{out}");
    assert!(
        out.lines().any(|l| l.starts_with("FAIL") && l.contains(hint)),
        "{lesson}: no FAIL with {hint:?}:\n{out}"
    );
    // Every failure comes with a hint: "FAIL lesson: what — hint".
    for line in out.lines().filter(|l| l.starts_with("FAIL")) {
        let hint = line.split_once(" — ").map(|(_, hint)| hint.trim()).unwrap_or_default();
        assert!(hint.len() > 10, "a failure without a hint: {line}");
    }
}

#[test]
fn an_echo_that_answers_one_read_only_is_caught() {
    let addr = broken(|mut stream| {
        let mut buf = [0u8; 4096];
        if let Ok(n @ 1..) = stream.read(&mut buf) {
            let _ = stream.write_all(&buf[..n]);
        }
    });
    fails_with("echo", &addr, "one read() is not one message");
}

#[test]
fn a_chat_that_does_not_broadcast_is_caught() {
    let addr = broken(|stream| {
        let mut out = stream.try_clone().unwrap();
        let _ = out.write_all(b"* welcome\n");
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Some(nick) = line.strip_prefix("/nick ") {
                let _ = writeln!(out, "* you are now {nick} in lobby");
            }
        }
    });
    fails_with("chat", &addr, "did you broadcast to the room?");
}

#[test]
fn an_http_server_without_content_length_is_caught() {
    let addr = broken(|mut stream| {
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf);
        let _ = stream.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"messages\":[],\"last\":0}",
        );
    });
    fails_with("http", &addr, "always send Content-Length");
}

#[test]
fn a_wrong_accept_key_is_caught() {
    let addr = broken(|mut stream| {
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf);
        // A classic mistake: base64 of the *hex* digest.
        let _ = stream.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: YjM3YTRmMmNjMDYyNGYxNjkwZjY0NjA2Y2YzODU5NDViMmJlYzRlYQ==\r\n\r\n");
    });
    fails_with("ws", &addr, "of the raw 20-byte digest");
}

#[test]
fn a_silent_server_fails_fast_and_never_hangs() {
    let silent = broken(|stream| {
        thread::sleep(Duration::from_secs(30));
        drop(stream);
    });
    let started = Instant::now();
    fails_with("chat", &silent, "greet each new client");
    assert!(started.elapsed() < Duration::from_secs(30), "the checker waited for the silent server");
    // An echo that never answers: one failure, and the checks that would wait the same are skipped.
    let started = Instant::now();
    let (report, out) = checked("echo", &silent);
    assert_eq!((report.passed, report.failed, report.skipped), (0, 1, 3), "{out}");
    assert!(out.ends_with("0 passed, 1 failed, 3 skipped\n"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

#[test]
fn an_echo_that_reads_to_the_end_before_replying_is_told_so_quickly() {
    let addr = broken(|mut stream| {
        let mut all = Vec::new();
        if stream.read_to_end(&mut all).is_ok() {
            let _ = stream.write_all(&all);
        }
    });
    let started = Instant::now();
    fails_with("echo", &addr, "reads to the end of input before it replies");
    // One deadline (2 s) and the half-close that proves it, not one deadline per check.
    assert!(started.elapsed() < Duration::from_secs(8), "took {:?}", started.elapsed());
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
