//! Hostile servers: what a grader meets when thirty servers are written in a week. Each must get
//! a clear FAIL, in bounded time and memory, and nothing it sends may reach the terminal raw.

use std::io::{Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use client::check::{self, hint};

use super::{assert_printable, threaded, trips};

/// A byte every 600 ms, for at most 24 s: never silent long enough for a single read's
/// deadline (2 s, with room for a busy machine), and too slow for any check's whole answer
/// (the shortest, an echo's 22 bytes, would take 13 s; a check has 10).
pub fn trickle() -> String {
    threaded(|mut stream| {
        for _ in 0..40 {
            if stream.write_all(b"x").is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(600));
        }
    })
}

/// Bytes without a newline, as fast as the client takes them, until it closes.
pub fn flood() -> String {
    threaded(|mut stream| {
        let chunk = vec![b'x'; 64 * 1024];
        while stream.write_all(&chunk).is_ok() {}
    })
}

/// Terminal escapes in every answer: clear the screen (CSI 2J, and its one-byte C1 form),
/// write the clipboard (OSC 52), ring the bell, and turn the line around (U+202E).
const ESCAPES: &str = "\u{1b}[2J\u{1b}]52;c;cm0gLXJmIH4=\u{7}\u{9b}2J\u{7}\u{202e}txt.exe\r\n";

/// Answers every request with `answer(request)` once it has read one, then closes.
fn answering(answer: fn(&[u8]) -> Vec<u8>) -> String {
    threaded(move |mut stream| {
        let mut buf = [0u8; 4096];
        if let Ok(n @ 1..) = stream.read(&mut buf) {
            let _ = stream.write_all(&answer(&buf[..n]));
        }
        thread::sleep(Duration::from_millis(200));
    })
}

#[test]
fn a_trickle_or_a_flood_fails_fast_whatever_the_lesson() {
    let (trickle, flood) = (trickle(), flood());
    for lesson in ["http", "ws"] {
        let started = Instant::now();
        trips(lesson, &trickle, &[hint::TOO_SLOW]);
        let took = started.elapsed();
        assert!(took < check::CHECK_TIME + Duration::from_secs(5), "{lesson}: a trickle held it {took:?}");
        let started = Instant::now();
        trips(lesson, &flood, &[hint::TOO_MUCH]);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{lesson}: a flood took {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn escape_sequences_from_the_server_are_shown_escaped() {
    // An echo that answers with escapes instead, the same length as the line it got.
    let echo = answering(|got| ESCAPES.bytes().cycle().take(got.len()).collect());
    let (_, out) = super::checked("echo", &echo);
    assert_printable(&out);
    assert!(out.contains("\\x1b[2J"), "the escape is shown, as text:\n{out}");
    // A 400 whose body carries them, as the answer to every request.
    let http = answering(|_| {
        let body = format!("{{\"error\": \"{ESCAPES}\"}}");
        format!("HTTP/1.1 400 Bad Request\r\nContent-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
    });
    let (_, out) = super::checked("http", &http);
    assert_printable(&out);
    assert!(out.contains("\\u{202e}txt.exe"), "{out}");
    // An upgrade answered with them in the status line.
    let ws = answering(|_| format!("HTTP/1.1 400 {ESCAPES}\r\n\r\n").into_bytes());
    let (_, out) = super::checked("ws", &ws);
    assert_printable(&out);
    // The chat's lines are never printed; its FAILs are printable all the same.
    let (_, out) = super::checked("chat", &answering(|_| ESCAPES.repeat(3).into_bytes()));
    assert_printable(&out);
}

#[test]
fn a_terabyte_content_length_is_refused_without_allocating_it() {
    let huge = answering(|_| b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n{}".to_vec());
    trips("http", &huge, &[client::check::http::HUGE_LENGTH]);
}

#[test]
fn a_server_of_another_protocol_gets_one_clear_failure() {
    // An SSH server's banner, to every lesson; and an echo, to the HTTP grader.
    let ssh = threaded(|mut stream| {
        let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.6\r\n");
        thread::sleep(Duration::from_secs(3));
    });
    for lesson in check::LESSONS {
        let started = Instant::now();
        let (report, out) = super::checked(lesson, &ssh);
        assert!(report.failed >= 1, "{lesson}:\n{out}");
        assert_printable(&out);
        // Bounded: each check ends at its deadline, and most sooner.
        assert!(started.elapsed() < Duration::from_secs(45), "{lesson} took {:?}:\n{out}", started.elapsed());
    }
    let echo = threaded(|mut stream| {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = stream.read(&mut buf) {
            let _ = stream.write_all(&buf[..n]);
        }
    });
    trips("http", &echo, &[client::check::http::HEAD]);
}

#[test]
fn a_server_that_never_answers_fails_fast() {
    let silent = threaded(|stream| {
        thread::sleep(Duration::from_secs(30));
        drop(stream);
    });
    for lesson in check::LESSONS {
        let started = Instant::now();
        let (report, out) = super::checked(lesson, &silent);
        assert!(report.failed >= 1 && report.passed == 0, "{lesson}:\n{out}");
        assert!(started.elapsed() < Duration::from_secs(30), "{lesson} took {:?}:\n{out}", started.elapsed());
    }
}
