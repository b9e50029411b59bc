//! TCP echo round trip: lesson 3's threaded echo server against the loopback floor, a bare
//! `read`/`write_all` echo, driven by the same client in the same run.
//!
//!     cargo bench -p client --bench tcp_echo [-- ROUND_TRIPS]
//!
//! 16-byte messages, one in flight. The two servers take turns in rounds, in alternating order,
//! with a fresh connection (so a fresh server thread) each round: where the scheduler happens to
//! place a thread changes a round trip by a factor of four on our 2-core machine, so placement
//! must fall on both servers alike.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Instant;

use common::Shutdown;

/// The floor: the least an echo server can do.
fn bare_echo(listener: TcpListener) {
    for stream in listener.incoming().flatten() {
        thread::spawn(move || {
            let mut stream = stream;
            let mut buf = [0u8; 16 * 1024];
            while let Ok(n @ 1..) = stream.read(&mut buf) {
                if stream.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
    }
}

/// `count` round trips on `stream`; returns each one's duration in nanoseconds.
fn round_trips(stream: &mut TcpStream, count: usize) -> Vec<u64> {
    let message = [b'x'; 16];
    let mut reply = [0u8; 16];
    (0..count)
        .map(|_| {
            let start = Instant::now();
            stream.write_all(&message).unwrap();
            stream.read_exact(&mut reply).unwrap();
            start.elapsed().as_nanos() as u64
        })
        .collect()
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    sorted[((p / 100.0) * (sorted.len() - 1) as f64).round() as usize] as f64 / 1000.0
}

fn main() {
    let count: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let floor = TcpListener::bind("127.0.0.1:0").unwrap();
    let floor_addr = floor.local_addr().unwrap();
    thread::spawn(move || bare_echo(floor));
    let ours = TcpListener::bind("127.0.0.1:0").unwrap();
    let ours_addr = ours.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let stopper = shutdown.clone();
    let server = thread::spawn(move || server::lessons::threaded_echo::run(ours, &stopper, 16));

    let addrs = [floor_addr, ours_addr];
    let mut samples = [Vec::new(), Vec::new()];
    let rounds = 20;
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            let mut client = TcpStream::connect(addrs[which]).unwrap();
            client.set_nodelay(true).unwrap();
            round_trips(&mut client, 200); // warm up this connection
            samples[which].extend(round_trips(&mut client, count / rounds));
        }
    }
    println!("TCP echo round trip, 16-byte messages, {count} round trips each over {rounds} connections (microseconds)");
    println!("| server | p50 | p99 | mean |");
    println!("|---|---|---|---|");
    let mut means = Vec::new();
    for (name, samples) in
        ["bare read/write_all echo (the floor)", "threaded-echo (lesson 3)"].iter().zip(samples.iter_mut())
    {
        samples.sort_unstable();
        let mean = samples.iter().sum::<u64>() as f64 / samples.len() as f64 / 1000.0;
        means.push(mean);
        println!(
            "| {name} | {:.1} | {:.1} | {mean:.1} |",
            percentile(samples, 50.0),
            percentile(samples, 99.0)
        );
    }
    println!("ratio (threaded-echo mean / floor mean): {:.3}", means[1] / means[0]);
    shutdown.trigger();
    let _ = server.join();
}
