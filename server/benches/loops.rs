//! poll vs epoll vs threads: chapter 14's two one-thread echo servers and lesson 3's threaded
//! one, at 100, 1,000 and 10,000 connections.
//!
//!     cargo bench -p server --bench loops [-- SECONDS [LESSON...]]
//!
//! (LESSON: `one-thread-poll`, `one-thread-echo` or `threaded-echo`, to rerun some rows only.)
//!
//! For each server (the real binary, release build, in its own process) and each number of
//! connections N, this process opens N connections, then measures:
//! - **one talks, the rest idle**: 2,000 round trips of 16 bytes on one connection while N - 1
//!   sit idle: p50 and p99 of the round trip. This is where `poll(2)` pays for its list: every
//!   wake-up hands the kernel all N sockets and scans them all back;
//! - **everyone talks**: each connection keeps one 16-byte message in flight for SECONDS
//!   (default 2): echoes per second, all connections together.
//!
//! The connections are driven from one thread on mio (epoll on Linux), so the harness costs the
//! same for every server. Linux (it reads nothing from /proc, but 10,000 connections need
//! `ulimit -n` of 10,100 here and in the server).

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

const MESSAGE: &[u8; 16] = b"0123456789abcde\n";
const ROUND_TRIPS: usize = 2000;

fn start(lesson: &str, connections: usize) -> (Child, String) {
    let mut server = Command::new(env!("CARGO_BIN_EXE_server"))
        .args([lesson, "--addr", "127.0.0.1:0", "--max-connections", &(connections + 10).to_string()])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the server");
    let mut log = BufReader::new(server.stderr.take().expect("its log"));
    let mut line = String::new();
    while !line.contains("listening on") {
        line.clear();
        assert!(log.read_line(&mut line).expect("read its log") > 0, "{lesson} did not start");
    }
    let addr =
        line.split("listening on ").nth(1).and_then(|rest| rest.split(',').next()).expect("an address");
    // Keep draining the server's log so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in log.lines() {});
    (server, addr.to_string())
}

fn connect_all(addr: &str, n: usize, poll: &Poll) -> Vec<mio::net::TcpStream> {
    (0..n)
        .map(|i| {
            let stream = TcpStream::connect(addr).expect("connect (is ulimit -n high enough?)");
            stream.set_nodelay(true).expect("nodelay");
            stream.set_nonblocking(true).expect("non-blocking");
            let mut stream = mio::net::TcpStream::from_std(stream);
            poll.registry().register(&mut stream, Token(i), Interest::READABLE).expect("register");
            stream
        })
        .collect()
}

/// Reads what is there; returns how many whole 16-byte echoes it completed.
fn read_echoes(stream: &mut mio::net::TcpStream, partial: &mut usize) -> usize {
    let mut buf = [0u8; 4096];
    let mut done = 0;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => panic!("the server closed a connection"),
            Ok(n) => {
                *partial += n;
                done += *partial / MESSAGE.len();
                *partial %= MESSAGE.len();
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return done,
            Err(e) => panic!("read: {e}"),
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6
}

fn one_talks(streams: &mut [mio::net::TcpStream], poll: &mut Poll) -> (f64, f64) {
    let mut events = Events::with_capacity(64);
    let mut times = Vec::with_capacity(ROUND_TRIPS);
    let mut partial = 0;
    for _ in 0..ROUND_TRIPS {
        let start = Instant::now();
        streams[0].write_all(MESSAGE).expect("write");
        let mut got = 0;
        while got == 0 {
            poll.poll(&mut events, Some(Duration::from_secs(5))).expect("poll");
            assert!(!events.is_empty(), "no echo within 5 s");
            got += read_echoes(&mut streams[0], &mut partial);
        }
        times.push(start.elapsed());
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99))
}

fn everyone_talks(streams: &mut [mio::net::TcpStream], poll: &mut Poll, seconds: f64) -> f64 {
    let mut events = Events::with_capacity(1024);
    let mut partial = vec![0usize; streams.len()];
    for stream in streams.iter_mut() {
        stream.write_all(MESSAGE).expect("write");
    }
    let start = Instant::now();
    let mut echoes = 0usize;
    while start.elapsed().as_secs_f64() < seconds {
        poll.poll(&mut events, Some(Duration::from_secs(5))).expect("poll");
        assert!(!events.is_empty(), "no echo within 5 s");
        for event in &events {
            let i = event.token().0;
            let done = read_echoes(&mut streams[i], &mut partial[i]);
            for _ in 0..done {
                streams[i].write_all(MESSAGE).expect("write");
            }
            echoes += done;
        }
    }
    echoes as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let seconds: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(2.0);
    println!("machine: {} cores; 16-byte messages; everyone-talks cells last {seconds} s", cores());
    println!("| server | connections | one talks: round trip p50 | p99 | everyone talks: echoes/s |");
    println!("|---|---|---|---|---|");
    let chosen: Vec<String> = std::env::args().skip(2).filter(|a| !a.starts_with('-')).collect();
    for lesson in ["one-thread-poll", "one-thread-echo", "threaded-echo"] {
        if !chosen.is_empty() && !chosen.iter().any(|c| c == lesson) {
            continue;
        }
        for n in [100, 1000, 10_000] {
            let (mut server, addr) = start(lesson, n);
            let mut poll = Poll::new().expect("epoll");
            let mut streams = connect_all(&addr, n, &poll);
            let (p50, p99) = one_talks(&mut streams, &mut poll);
            let rate = everyone_talks(&mut streams, &mut poll, seconds);
            println!("| {lesson} | {n} | {p50:.0} µs | {p99:.0} µs | {rate:.0} |");
            drop(streams);
            let _ = Command::new("kill").args(["-INT", &server.id().to_string()]).status();
            let _ = server.wait();
        }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
