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
    let report = check::run(lesson, addr, &mut out).unwrap();
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
fn a_silent_server_or_no_server_fails_fast_and_never_hangs() {
    let silent = broken(|stream| {
        thread::sleep(Duration::from_secs(30));
        drop(stream);
    });
    let started = Instant::now();
    fails_with("chat", &silent, "greet each new client");
    assert!(started.elapsed() < Duration::from_secs(30), "the checker waited for the silent server");
    let nobody = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    fails_with("echo", &nobody, "is your server running");
    let mut out = Vec::new();
    assert!(check::run("telnet", &nobody, &mut out).is_err());
}
