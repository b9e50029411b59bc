//! What `--trace` costs: a loopback echo round trip with both ends wrapped in `Traced`, tracing
//! off (the default) and on, against bare `TcpStream`s, in the same run.
//!
//!     cargo bench -p common --bench trace [-- ROUND_TRIPS]
//!
//! 16-byte chat lines, one in flight, the way `client/benches/tcp_echo.rs` measures lesson 3.
//! The three take turns in rounds, in rotating order, with a fresh connection (a fresh server
//! thread) each round, so where the scheduler places a thread falls on all three alike. "On"
//! decodes and formats every event but hands the text to a sink that drops it: the cost of the
//! trace itself, not of the terminal that would show it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Instant;

use common::trace::{Layer, Sink, Traced};

#[derive(Clone, Copy)]
enum Wrap {
    Bare,
    Off,
    On,
}

const NAMES: [&str; 3] =
    ["bare TcpStream (the floor)", "Traced, tracing off", "Traced, tracing on (output dropped)"];

/// Echoes `stream` until it closes.
fn echo(mut stream: impl Read + Write) {
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n @ 1..) = stream.read(&mut buf) {
        if stream.write_all(&buf[..n]).is_err() {
            break;
        }
    }
}

/// An echo server whose connections are wrapped as `how`.
fn echo_server(how: Wrap) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            stream.set_nodelay(true).unwrap();
            thread::spawn(move || match how {
                Wrap::Bare => echo(stream),
                Wrap::Off => echo(off(stream)),
                Wrap::On => echo(on(stream)),
            });
        }
    });
    addr
}

fn off(stream: TcpStream) -> Traced<TcpStream> {
    let traced = Traced::new(stream, Layer::Lines);
    assert!(!traced.is_traced(), "this benchmark measures tracing off: do not enable it");
    traced
}

fn on(stream: TcpStream) -> Traced<TcpStream> {
    Traced::on(stream, "peer", Layer::Lines, Sink::new(|_| {}))
}

/// A warm-up, then `count` round trips on `stream`; returns each one's duration in nanoseconds.
fn round_trips(mut stream: impl Read + Write, count: usize) -> Vec<u64> {
    let message = *b"fifteen bytes..\n";
    let mut reply = [0u8; 16];
    let mut once = || {
        let start = Instant::now();
        stream.write_all(&message).unwrap();
        stream.read_exact(&mut reply).unwrap();
        start.elapsed().as_nanos() as u64
    };
    (0..200).for_each(|_| {
        once();
    });
    (0..count).map(|_| once()).collect()
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    sorted[((p / 100.0) * (sorted.len() - 1) as f64).round() as usize] as f64 / 1000.0
}

fn main() {
    let count: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let wraps = [Wrap::Bare, Wrap::Off, Wrap::On];
    let addrs = wraps.map(echo_server);
    let mut samples = [Vec::new(), Vec::new(), Vec::new()];
    let rounds = 30;
    for round in 0..rounds {
        for k in 0..3 {
            let which = (round + k) % 3;
            let stream = TcpStream::connect(addrs[which]).unwrap();
            stream.set_nodelay(true).unwrap();
            let n = count / rounds;
            samples[which].extend(match wraps[which] {
                Wrap::Bare => round_trips(stream, n),
                Wrap::Off => round_trips(off(stream), n),
                Wrap::On => round_trips(on(stream), n),
            });
        }
    }
    println!("Echo round trip through Traced, 16-byte lines, {count} round trips each over {rounds} connections (microseconds)");
    println!("| both ends | p50 | p99 | mean |");
    println!("|---|---|---|---|");
    let mut means = Vec::new();
    for (name, samples) in NAMES.iter().zip(samples.iter_mut()) {
        samples.sort_unstable();
        let mean = samples.iter().sum::<u64>() as f64 / samples.len() as f64 / 1000.0;
        means.push(mean);
        let (p50, p99) = (percentile(samples, 50.0), percentile(samples, 99.0));
        println!("| {name} | {p50:.1} | {p99:.1} | {mean:.1} |");
    }
    println!("ratio off / bare (mean): {:.3}", means[1] / means[0]);
    println!("ratio on / bare (mean): {:.3}", means[2] / means[0]);
}
