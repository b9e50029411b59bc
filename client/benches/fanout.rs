//! Chat fan-out: one message to 1,000 WebSocket members, and how long until the last one has it.
//!
//!     cargo bench -p client --bench fanout [-- MEMBERS MESSAGES]
//!
//! The WebSocket chat (lesson 8) runs in this process with room for the members; each member is
//! a tungstenite client with a thread reading its socket. A TCP member publishes MESSAGES lines,
//! 50 ms apart, each carrying its send time; for each line the delay of the *last* member to
//! receive it is kept, and the table shows their percentiles.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use common::Shutdown;
use server::hub::{Hub, Limits};
use tungstenite::Message;

fn main() {
    let mut args = std::env::args().skip(1).filter_map(|a| a.parse::<usize>().ok());
    let members = args.next().unwrap_or(1000);
    let messages = args.next().unwrap_or(50);

    let hub = Arc::new(Hub::new(Limits { max_members: members + 10, ..Limits::default() }));
    let (tcp, web) = (TcpListener::bind("127.0.0.1:0").unwrap(), TcpListener::bind("127.0.0.1:0").unwrap());
    let (tcp_addr, web_addr) = (tcp.local_addr().unwrap(), web.local_addr().unwrap());
    let shutdown = Shutdown::new();
    let stopper = shutdown.clone();
    let config = server::lessons::http_chat::Config { max_connections: members + 10, ..Default::default() };
    let server =
        thread::spawn(move || server::lessons::lab::run(tcp, web, &stopper, hub, config, Default::default()));

    // The clock every thread reads: the time since this instant, in microseconds.
    let epoch = Instant::now();
    let (arrivals, arrived) = mpsc::channel::<(usize, u64)>();
    let (ready_tx, ready) = mpsc::channel();
    let started = Instant::now();
    for n in 0..members {
        let (arrivals, ready_tx) = (arrivals.clone(), ready_tx.clone());
        thread::Builder::new()
            .name(format!("member {n}"))
            .stack_size(64 * 1024)
            .spawn(move || {
                let stream = TcpStream::connect(web_addr).unwrap();
                let (mut ws, _) = tungstenite::client::client(format!("ws://{web_addr}/ws"), stream).unwrap();
                while let Ok(message) = ws.read() {
                    if let Message::Text(text) = message {
                        for line in text.lines() {
                            // A member once the hub says so (the upgrade alone is not enough).
                            if line.starts_with("* you are now ") {
                                let _ = ready_tx.send(());
                            }
                            if let Some(seq) = line.strip_prefix("publisher: m ").and_then(|s| s.parse().ok())
                            {
                                let _ = arrivals.send((seq, epoch.elapsed().as_micros() as u64));
                            }
                        }
                    }
                }
            })
            .expect("a member thread");
    }
    for _ in 0..members {
        ready.recv_timeout(Duration::from_secs(30)).expect("a member never connected");
    }
    let connect_time = started.elapsed();

    let mut publisher = TcpStream::connect(tcp_addr).unwrap();
    publisher.set_nodelay(true).unwrap();
    publisher.write_all(b"/nick publisher\n").unwrap();
    let mut own = std::io::BufReader::new(publisher.try_clone().unwrap());
    let mut line = String::new();
    while line.trim_end() != "* you are now publisher in lobby" {
        line.clear();
        assert!(
            std::io::BufRead::read_line(&mut own, &mut line).unwrap() > 0,
            "the publisher was not renamed"
        );
    }
    // The publisher's own copy of every line must be read, or its outbox fills up.
    thread::spawn(move || std::io::copy(&mut own, &mut std::io::sink()));
    let mut sent_at = Vec::new();
    let mut last_arrival = vec![0u64; messages];
    let mut count = vec![0usize; messages];
    for seq in 0..messages {
        sent_at.push(epoch.elapsed().as_micros() as u64);
        publisher.write_all(format!("m {seq}\n").as_bytes()).unwrap();
        // Collect arrivals for 50 ms, then send the next.
        let until = Instant::now() + Duration::from_millis(50);
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            let Ok((s, at)) = arrived.recv_timeout(left) else { break };
            last_arrival[s] = last_arrival[s].max(at);
            count[s] += 1;
        }
    }
    // Stragglers.
    while let Ok((s, at)) = arrived.recv_timeout(Duration::from_secs(2)) {
        last_arrival[s] = last_arrival[s].max(at);
        count[s] += 1;
        if count.iter().all(|&c| c == members) {
            break;
        }
    }
    let complete = count.iter().filter(|&&c| c == members).count();
    let mut delays: Vec<f64> = (0..messages)
        .filter(|&s| count[s] == members)
        .map(|s| (last_arrival[s] - sent_at[s]) as f64 / 1000.0)
        .collect();
    delays.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| {
        delays
            .get(((p / 100.0) * (delays.len().max(1) - 1) as f64).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!("chat fan-out: {members} WebSocket members, {messages} messages 50 ms apart (connecting them took {:.1} s)", connect_time.as_secs_f64());
    println!("| messages that reached every member | last member's delay p50 | p95 | p99 | max |");
    println!("|---|---|---|---|---|");
    println!(
        "| {complete} of {messages} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
        pct(50.0),
        pct(95.0),
        pct(99.0),
        pct(100.0)
    );
    shutdown.trigger();
    let _ = server.join();
}
