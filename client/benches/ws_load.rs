//! A WebSocket echo load driver on one epoll thread, for `bench/ws-echo`:
//!
//!     cargo bench -p client --bench ws_load -- HOST:PORT CONNECTIONS SECONDS [WINDOW]
//!
//! The same job as `bench/ws-echo-load.mjs` (Node's `ws` client): CONNECTIONS clients, each
//! keeping WINDOW 16-byte text messages in flight and sending a new one for every echo; after a
//! 1 s warm-up it counts echoes for SECONDS and prints one JSON line, `{"msgs_per_s": N, ...}`.
//! Why a second driver: on two cores, Node's client is a single JavaScript thread doing the same
//! work per message as the server it measures, so past one connection it runs out first and
//! every server scores about what the *driver* can do. This one spends a read and a write per
//! wake-up, not per message, and parses frames in place, so the servers are what runs out.
//! Every echo is checked against what was sent.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

const PAYLOAD: &[u8; 16] = b"xxxxxxxxxxxxxxxx";

struct Client {
    socket: mio::net::TcpStream,
    /// Bytes read and not yet a whole frame.
    input: Vec<u8>,
    /// Frames to send that the socket did not take yet.
    output: Vec<u8>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let usage = "usage: ws_load HOST:PORT CONNECTIONS SECONDS [WINDOW]";
    let addr = args.first().expect(usage).trim_start_matches("ws://").trim_end_matches('/').to_string();
    let connections: usize = args.get(1).and_then(|a| a.parse().ok()).expect(usage);
    let seconds: f64 = args.get(2).and_then(|a| a.parse().ok()).expect(usage);
    let window: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(1);

    // Client frames are masked (RFC 6455 5.3); one frame, encoded once, sent over and over.
    let frame = common::frame::encode(0x1, PAYLOAD, Some([0x12, 0x34, 0x56, 0x78]));
    let expected = client::upgrade::Expected { what: "a WebSocket echo", command: "", addr: "" };
    let mut poll = Poll::new().expect("epoll");
    let mut clients: Vec<Client> = (0..connections)
        .map(|i| {
            let mut stream = TcpStream::connect(&addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
            let already =
                client::upgrade::upgrade(&mut stream, &addr, "/", Duration::from_secs(5), &expected)
                    .unwrap_or_else(|e| panic!("upgrade {i}: {e}"));
            stream.set_nodelay(true).expect("nodelay");
            stream.set_nonblocking(true).expect("non-blocking");
            let mut socket = mio::net::TcpStream::from_std(stream);
            let both = Interest::READABLE | Interest::WRITABLE;
            poll.registry().register(&mut socket, Token(i), both).expect("register");
            Client { socket, input: already, output: frame.repeat(window) }
        })
        .collect();

    let mut events = Events::with_capacity(1024);
    let mut chunk = vec![0u8; 64 * 1024];
    let (mut counted, mut bad) = (0u64, 0u64);
    let started = Instant::now();
    let counting_from = started + Duration::from_secs(1);
    let until = counting_from + Duration::from_secs_f64(seconds);
    // Every client starts by sending its window.
    let mut ready: Vec<usize> = (0..connections).collect();
    loop {
        let now = Instant::now();
        if now >= until {
            break;
        }
        let counting = now >= counting_from;
        for &i in &ready {
            let client = &mut clients[i];
            loop {
                match client.socket.read(&mut chunk) {
                    Ok(0) => panic!("connection {i}: the server closed it"),
                    Ok(n) => client.input.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => panic!("connection {i}: {e}"),
                }
            }
            // Server frames are not masked: 2 bytes of head and the 16 bytes back.
            let whole = client.input.len() / (2 + PAYLOAD.len());
            for echo in client.input.chunks_exact(2 + PAYLOAD.len()).take(whole) {
                if echo[0] != 0x81 || usize::from(echo[1]) != PAYLOAD.len() || echo[2..] != PAYLOAD[..] {
                    bad += 1;
                }
                client.output.extend_from_slice(&frame);
            }
            client.input.drain(..whole * (2 + PAYLOAD.len()));
            if counting {
                counted += whole as u64;
            }
            while !client.output.is_empty() {
                match client.socket.write(&client.output) {
                    Ok(n) => drop(client.output.drain(..n)),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => panic!("connection {i}: {e}"),
                }
            }
        }
        ready.clear();
        poll.poll(&mut events, Some(until.saturating_duration_since(Instant::now()))).expect("poll");
        ready.extend(events.iter().map(|event| event.token().0));
    }
    let elapsed = until.duration_since(counting_from).as_secs_f64();
    println!(
        "{{\"connections\":{connections},\"size\":{},\"window\":{window},\"msgs_per_s\":{},\"bad\":{bad}}}",
        PAYLOAD.len(),
        (counted as f64 / elapsed).round()
    );
    std::process::exit(if bad > 0 { 1 } else { 0 });
}
