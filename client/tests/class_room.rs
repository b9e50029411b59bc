//! Class mode against thirty students' servers at once (issue 24): correct ones, known mistakes,
//! hostile ones and dead ones, all enrolled in the same second. The board must say of each what
//! `cargo client check` says, and a chat member in the same lab must stay quick meanwhile. (A
//! test binary of its own: cargo runs binaries one after another, so its load does not land on
//! the graders' own timing-sensitive tests.)

#[path = "support/class.rs"]
mod class;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use client::check;
use server::class::{grade, Checks, Config};
use server::lessons::{echo as echo_lesson, threaded_echo};

use class::{class_lab, enroll, graded, row, Events};
use support::Raw;

/// All thirty graded within this, four at a time, on a busy two-core machine.
const ALL_GRADED: Duration = Duration::from_secs(180);
/// A chat member's round trip (its line, back from the room) at the 99th percentile while the
/// lab grades the thirty: the chapter states it.
const CHAT_P99: Duration = Duration::from_millis(500);

/// A server that runs `serve` on a thread per connection, for as long as the test lives.
fn threaded(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> String {
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

/// The room's servers: (nickname, address, what it is), and what keeps them running.
fn thirty() -> (Vec<(String, String)>, Vec<support::Running>) {
    let mut running = Vec::new();
    let mut servers = Vec::new();
    let mut add = |kind: &str, addr: String| servers.push((format!("{kind}-{}", servers.len()), addr));
    // Correct: lesson 3's server, and lesson 2's (one client at a time is enough for `echo`).
    for _ in 0..8 {
        let server = support::start(|l, s| threaded_echo::run(l, s, 16));
        add("correct", server.addr.to_string());
        running.push(server);
    }
    for _ in 0..2 {
        let server = support::start(echo_lesson::run);
        add("one-at-a-time", server.addr.to_string());
        running.push(server);
    }
    // Known mistakes (as in echo.rs): no echo, reading to the end first, CRLF, one read only.
    add("silent", threaded(|mut s| while let Ok(1..) = s.read(&mut [0u8; 4096]) {}));
    add(
        "to-the-end",
        threaded(|mut s| {
            let mut all = Vec::new();
            if s.read_to_end(&mut all).is_ok() {
                let _ = s.write_all(&all);
            }
        }),
    );
    add(
        "crlf",
        threaded(|mut s| {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = s.read(&mut buf) {
                let line = String::from_utf8_lossy(&buf[..n]).replace('\n', "\r\n");
                if s.write_all(line.as_bytes()).is_err() {
                    return;
                }
            }
        }),
    );
    add(
        "one-read",
        threaded(|mut s| {
            let mut buf = [0u8; 4096];
            if let Ok(n @ 1..) = s.read(&mut buf) {
                let _ = s.write_all(&buf[..n]);
            }
        }),
    );
    add(
        "shouts",
        threaded(|mut s| {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = s.read(&mut buf) {
                if s.write_all(&buf[..n].to_ascii_uppercase()).is_err() {
                    return;
                }
            }
        }),
    );
    // Stops reading once 64 KiB have come, waiting for a newline that is still far away.
    add(
        "stops-reading",
        threaded(|mut s| {
            let (mut buf, mut total) = ([0u8; 4096], 0);
            while let Ok(n @ 1..) = s.read(&mut buf) {
                total += n;
                if s.write_all(&buf[..n]).is_err() || total >= 64 * 1024 {
                    thread::sleep(Duration::from_secs(12));
                    return;
                }
            }
        }),
    );
    // Hostile: trickling, flooding, escape sequences, another protocol, never answering.
    for _ in 0..2 {
        // One byte a second for at most 30 s; bytes without a newline as fast as they are taken.
        add(
            "trickle",
            threaded(|mut s| {
                for _ in 0..30 {
                    if s.write_all(b"x").is_err() {
                        return;
                    }
                    thread::sleep(Duration::from_secs(1));
                }
            }),
        );
        add("flood", threaded(|mut s| while s.write_all(&[b'x'; 64 * 1024]).is_ok() {}));
        add(
            "escapes",
            threaded(|mut s| {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = s.read(&mut buf) {
                    let evil = "\u{1b}[2J\u{1b}]52;c;cm0=\u{7}<script>alert(1)</script>\u{202e}\n";
                    if s.write_all(&evil.as_bytes()[..n.min(evil.len())]).is_err() {
                        return;
                    }
                }
            }),
        );
        add(
            "ssh",
            threaded(|mut s| {
                let _ = s.write_all(b"SSH-2.0-OpenSSH_9.6\r\n");
                thread::sleep(Duration::from_secs(3));
            }),
        );
        add(
            "never",
            threaded(|s| {
                thread::sleep(Duration::from_secs(30));
                drop(s);
            }),
        );
    }
    // Dead: ports that were open a moment ago.
    for _ in 0..4 {
        add("dead", TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string());
    }
    assert_eq!(servers.len(), 30);
    (servers, running)
}

/// A chat member's round trips, until told to stop: its line, back from the room.
fn chat_round_trips(tcp: SocketAddr, stop: mpsc::Receiver<()>) -> Vec<Duration> {
    let mut member = Raw::connect(tcp);
    member.send("/nick teacher\n");
    while member.line() != "* you are now teacher in lobby" {}
    let mut trips = Vec::new();
    for i in 0..100_000 {
        if stop.try_recv().is_ok() {
            break;
        }
        let started = Instant::now();
        member.send(&format!("ping {i}\n"));
        let wanted = format!("teacher: ping {i}");
        while member.line() != wanted {}
        trips.push(started.elapsed());
        thread::sleep(Duration::from_millis(20));
    }
    trips
}

#[test]
fn thirty_servers_at_once_the_board_says_what_check_says_and_the_chat_stays_quick() {
    let config = Config { enrolls_per_window: 100, every: Duration::from_secs(3600), ..Config::new("echo") };
    let (lab, tcp) = class_lab(config, Arc::new(Checks));
    let (servers, _running) = thirty();
    let (stop, stopping) = mpsc::channel();
    let chat = thread::spawn(move || chat_round_trips(tcp, stopping));
    let mut events = Events::open(lab.addr);
    let started = Instant::now();
    for (nick, addr) in &servers {
        let (status, line) = enroll(lab.addr, nick, addr);
        assert_eq!(status, 200, "{nick}: {line}");
    }
    let done = |b: &serde_json::Value| servers.iter().all(|(nick, _)| graded(b, nick));
    let board = events.until(ALL_GRADED, "all thirty graded", done);
    let took = started.elapsed();
    let _ = stop.send(());
    let mut trips = chat.join().unwrap();
    trips.sort();
    let p99 = trips[(trips.len() * 99 / 100).min(trips.len() - 1)];
    println!(
        "thirty graded in {took:?}; chat round trips: {} of them, median {:?}, p99 {p99:?}, max {:?}",
        trips.len(),
        trips[trips.len() / 2],
        trips[trips.len() - 1]
    );
    assert!(trips.len() >= 20, "the chat member made only {} round trips", trips.len());
    assert!(p99 <= CHAT_P99, "the chat's p99 round trip was {p99:?} while the lab graded");
    // What `cargo client check` says of each, run now, as many at a time as the lab runs.
    let names = check::names("echo");
    let queue = Arc::new(std::sync::Mutex::new(servers.clone()));
    let (tx, rx) = mpsc::channel();
    for _ in 0..server::class::MAX_GRADINGS {
        let (queue, tx) = (queue.clone(), tx.clone());
        thread::spawn(move || {
            // The lock only to take one: a guard in a `while let` would hold it for the grading.
            loop {
                let Some((nick, addr)) = queue.lock().unwrap().pop() else { return };
                let mut verdicts = Vec::new();
                let graded = check::grade("echo", Some(&addr), |v| verdicts.push(v)).map(|_| verdicts);
                let _ = tx.send((nick, graded));
            }
        });
    }
    drop(tx);
    for (nick, checked) in rx.iter() {
        let row = row(&board, &nick).unwrap();
        match checked {
            Err(line) => assert_eq!(row["error"], line, "{nick}"),
            Ok(verdicts) => {
                let cells = row["cells"].as_array().unwrap();
                assert_eq!(cells.len(), names.len(), "{nick}");
                for (cell, verdict) in cells.iter().zip(&verdicts) {
                    let (what, hint) = grade::what_and_hint(&verdict.mark);
                    assert_eq!(
                        cell["outcome"],
                        grade::word(&verdict.mark),
                        "{nick}: {}\n{row:#}",
                        verdict.check
                    );
                    assert_eq!(cell["hint"], hint, "{nick}: {}", verdict.check);
                    // What a check saw may differ in a count of bytes or a timing: its start must not.
                    let shown = cell["what"].as_str().unwrap_or_default();
                    assert_eq!(shown.is_empty(), what.is_empty(), "{nick}: {}", verdict.check);
                }
            }
        }
    }
    // The thirty are what they claim: all the correct ones pass, every other one fails.
    for (nick, _) in &servers {
        let cells = row(&board, nick).unwrap()["cells"].as_array().unwrap().clone();
        let all_pass = cells.iter().all(|c| c["outcome"] == "PASS");
        assert_eq!(all_pass, nick.starts_with("correct") || nick.starts_with("one-at-a-time"), "{nick}");
    }
}
