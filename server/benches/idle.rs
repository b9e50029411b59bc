//! How many idle connections lesson 3's thread-per-connection server holds, and what each costs.
//!
//!     cargo bench -p server --bench idle [-- CONNECTIONS [LESSON]]
//!
//! LESSON is `threaded-echo` (the default) or one of chapter 14's one-thread echo servers,
//! `one-thread-echo` (mio) or `one-thread-poll`.
//!
//! Starts `server LESSON` (the real binary, release build) with room for CONNECTIONS
//! (default 10,000), opens them one by one from this process, checks that every one is served
//! (one byte echoed), then reads the server's resident memory (VmRSS) and thread count from
//! /proc. Linux only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn main() {
    let wanted: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let lesson = std::env::args().nth(2).filter(|a| !a.starts_with('-')).unwrap_or("threaded-echo".into());
    let mut server = Command::new(env!("CARGO_BIN_EXE_server"))
        .args([lesson.as_str(), "--addr", "127.0.0.1:0", "--max-connections", &wanted.to_string()])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = server.id();
    let mut log = BufReader::new(server.stderr.take().unwrap());
    let mut line = String::new();
    for _ in 0..20 {
        line.clear();
        assert!(log.read_line(&mut line).unwrap() > 0, "the server did not start");
        if line.contains("listening on") {
            break;
        }
    }
    let addr = line.split("listening on ").nth(1).unwrap().split(',').next().unwrap().to_string();
    // Keep draining the server's log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in log.lines() {});

    let base_rss = status(pid, "VmRSS:");
    let started = Instant::now();
    let mut open = Vec::with_capacity(wanted);
    let mut failure = None;
    for n in 0..wanted {
        let attempt = TcpStream::connect(&addr).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(b"x")?;
            let mut byte = [0u8; 1];
            s.read_exact(&mut byte)?;
            Ok(s)
        });
        match attempt {
            Ok(stream) => open.push(stream),
            Err(e) => {
                failure = Some(format!("connection {} failed: {e}", n + 1));
                break;
            }
        }
    }
    let took = started.elapsed();
    std::thread::sleep(Duration::from_millis(500)); // let the last threads settle into read()
    let rss = status(pid, "VmRSS:");
    let threads = status(pid, "Threads:");
    if lesson == "threaded-echo" {
        println!(
            "threaded-echo with idle connections (thread stack {} KiB)",
            server::lessons::threaded_echo::STACK_SIZE / 1024
        );
    } else {
        println!("{lesson} with idle connections (one thread)");
    }
    println!("| connections served | server threads | server RSS | RSS per connection | time to open them |");
    println!("|---|---|---|---|---|");
    println!(
        "| {} | {threads} | {:.1} MiB | {:.1} KiB | {:.1} s |",
        open.len(),
        rss as f64 / 1024.0,
        (rss - base_rss) as f64 / open.len().max(1) as f64,
        took.as_secs_f64()
    );
    if let Some(failure) = failure {
        println!("stopped early: {failure}");
    }
    drop(open);
    let _ = Command::new("kill").args(["-INT", &pid.to_string()]).status();
    let _ = server.wait();
}
