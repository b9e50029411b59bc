//! Chapter 14's TCP echo on one thread, with `poll(2)` by hand and on mio: every test runs
//! against both loops. The slow peers (support/slow.rs) make every partial write really happen.

mod support;

use std::io::{Cursor, Write};
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use server::evloop::{echo::MAX_PENDING, Config};
use server::lessons::{one_thread_echo, one_thread_poll};
use support::{slow, start, Raw, Running};

/// The two loops, with `config`.
fn servers(config: Config) -> Vec<(&'static str, Running)> {
    let mut servers = vec![];
    #[cfg(unix)]
    {
        let config = config.clone();
        servers.push(("poll", start(move |l, s| one_thread_poll::run(l, s, &config))));
    }
    servers.push(("mio", start(move |l, s| one_thread_echo::run(l, s, &config))));
    servers
}

fn short(max_connections: usize) -> Config {
    Config { max_connections, idle: Duration::from_millis(600), ..Config::default() }
}

/// A client that sends a line and gets it back: the loop is not stuck on anyone else.
fn answers_at_once(addr: SocketAddr, label: &str) {
    let start = Instant::now();
    let mut probe = Raw::connect(addr);
    probe.send("probe\n");
    assert_eq!(probe.line(), "probe", "{label}");
    assert!(start.elapsed() < Duration::from_secs(2), "{label}: a probe took {:?}", start.elapsed());
}

#[test]
fn the_echo_client_gets_every_line_back_including_korean() {
    for (label, server) in servers(Config::default()) {
        let input = "hello\n안녕하세요, 세계!\nlast line\n".as_bytes().to_vec();
        let mut output = Vec::new();
        let summary = client::lessons::echo::run(
            &server.addr.to_string(),
            "echo",
            Cursor::new(input.clone()),
            &mut output,
        )
        .expect("echo client");
        assert_eq!(output, input, "{label}");
        assert_eq!(summary.lines_received, 3, "{label}");
    }
}

#[test]
fn fifty_clients_are_served_at_once_by_one_thread() {
    for (label, server) in servers(Config::default()) {
        let mut clients: Vec<Raw> = (0..50).map(|_| Raw::connect(server.addr)).collect();
        // All connected before anyone is answered: a loop that served one client at a time
        // would answer the first and leave the others waiting.
        for (i, client) in clients.iter_mut().enumerate().rev() {
            client.send(&format!("client {i}\n"));
        }
        for (i, client) in clients.iter_mut().enumerate() {
            assert_eq!(client.line(), format!("client {i}"), "{label}");
        }
    }
}

#[test]
fn a_client_that_does_not_read_is_pushed_back_and_loses_nothing() {
    for (label, server) in servers(Config::default()) {
        let mut slow = slow::connect(server.addr);
        let data = slow::pattern(8 * 1024 * 1024);
        // Phase 1: send without reading. The server echoes until our receive window and its
        // send buffer are full, keeps at most MAX_PENDING bytes, then stops reading us: our
        // writes stall long before 8 MiB.
        let sent = slow::write_until_stalled(&mut slow, &data, Duration::from_millis(500));
        assert!(sent < data.len(), "{label}: 8 MiB went in without the server pushing back");
        assert!(sent > MAX_PENDING, "{label}: the server stopped reading after {sent} bytes");
        // Meanwhile the loop serves everyone else.
        answers_at_once(server.addr, label);
        // Phase 2: read it all back (the server's partial writes, resumed on each writable
        // event, in 536-byte segments through a tiny window), while we send the rest.
        let mut writer = slow.try_clone().unwrap();
        let rest = data[sent..].to_vec();
        let sending = thread::spawn(move || writer.write_all(&rest));
        let echoed = slow::read_exactly(&mut slow, data.len(), Duration::from_secs(60)).expect(label);
        sending.join().unwrap().expect("send the rest");
        assert!(echoed == data, "{label}: the echo came back changed");
    }
}

#[test]
fn the_client_over_the_cap_is_told_and_the_next_is_served_after_one_leaves() {
    for (label, server) in servers(short(2)) {
        let mut clients: Vec<Raw> = (0..2).map(|_| Raw::connect(server.addr)).collect();
        for (i, client) in clients.iter_mut().enumerate() {
            client.send(&format!("{i}\n"));
            assert_eq!(client.line(), i.to_string(), "{label}");
        }
        let mut third = Raw::connect(server.addr);
        assert_eq!(third.line(), "* server busy: 2 clients already connected, try again later", "{label}");
        assert!(third.closed(), "{label}");
        clients.remove(0).stream.shutdown(std::net::Shutdown::Both).unwrap();
        let served = (0..100).any(|_| {
            let mut next = Raw::connect(server.addr);
            next.send("in\n");
            next.line() == "in" || {
                thread::sleep(Duration::from_millis(10));
                false
            }
        });
        assert!(served, "{label}: no client was served after one left");
    }
}

#[test]
fn a_silent_client_is_told_and_closed_and_a_reset_one_harms_no_one() {
    for (label, server) in servers(short(8)) {
        let mut quiet = Raw::connect(server.addr);
        let mut vanishing = Raw::connect(server.addr);
        vanishing.send("half a mess");
        socket2::SockRef::from(&vanishing.stream).set_linger(Some(Duration::ZERO)).unwrap();
        drop(vanishing); // a reset, not a close
        answers_at_once(server.addr, label);
        assert_eq!(quiet.line(), "* idle for 0 s: closing the connection", "{label}");
        assert!(quiet.closed(), "{label}");
    }
}

#[test]
fn ctrl_c_tells_every_client_and_stops_within_a_second_even_with_one_stalled() {
    for (label, mut server) in servers(Config::default()) {
        let mut clients: Vec<Raw> = (0..3).map(|_| Raw::connect(server.addr)).collect();
        for client in &mut clients {
            client.send("hi\n");
            assert_eq!(client.line(), "hi", "{label}");
        }
        // One that stopped reading, with the server's buffers for it full.
        let mut stalled = slow::connect(server.addr);
        slow::write_until_stalled(&mut stalled, &slow::pattern(4 << 20), Duration::from_millis(300));
        let start = Instant::now();
        server.stop_within(Duration::from_secs(1)).unwrap();
        assert!(start.elapsed() < Duration::from_secs(1), "{label}");
        for client in &mut clients {
            assert_eq!(client.line(), common::GOODBYE, "{label}");
            assert!(client.closed(), "{label}");
        }
    }
}

/// A connection whose handler takes 50 ms per turn: the first client of [`SlowFirst`].
struct SlowEcho {
    echo: server::evloop::echo::Echo<mio::net::TcpStream>,
    slow: bool,
}

impl server::evloop::Conn for SlowEcho {
    fn drive(&mut self, scratch: &mut [u8], now: Instant) -> server::evloop::Status {
        if self.slow {
            thread::sleep(HANDLER_TIME); // a database call, a big JSON, a hash: work, not waiting
        }
        self.echo.drive(scratch, now)
    }
    fn wants_write(&self) -> bool {
        self.echo.wants_write()
    }
    fn wants_read(&self) -> bool {
        self.echo.wants_read()
    }
    fn expire(&mut self, now: Instant, config: &Config) -> bool {
        self.echo.expire(now, config)
    }
    fn stop(&mut self) {
        self.echo.stop()
    }
}

const HANDLER_TIME: Duration = Duration::from_millis(50);

/// The echo on the mio loop, with a slow handler for the first client only.
struct SlowFirst(usize);

impl server::evloop::mio_loop::Protocol for SlowFirst {
    type Conn = SlowEcho;
    fn open(&mut self, stream: mio::net::TcpStream, peer: SocketAddr, now: Instant) -> SlowEcho {
        self.0 += 1;
        SlowEcho { echo: server::evloop::echo::Echo::new(stream, peer, now), slow: self.0 == 1 }
    }
    fn refuse(&mut self, _stream: mio::net::TcpStream, _max: usize) {}
    fn socket(conn: &mut SlowEcho) -> Option<&mut mio::net::TcpStream> {
        Some(conn.echo.stream_mut())
    }
}

/// Round trips of one line on `client`; returns them sorted.
fn round_trips(client: &mut Raw, count: usize) -> Vec<Duration> {
    let mut times: Vec<Duration> = (0..count)
        .map(|i| {
            thread::sleep(Duration::from_millis(3)); // land anywhere in the slow one's turns
            let start = Instant::now();
            client.send(&format!("quick {i}\n"));
            assert_eq!(client.line(), format!("quick {i}"));
            start.elapsed()
        })
        .collect();
    times.sort();
    times
}

#[test]
fn a_handler_that_takes_50_ms_stalls_every_client_on_the_loop() {
    let server = start(|l, s| server::evloop::mio_loop::serve(l, s, &Config::default(), SlowFirst(0)));
    let slow = Raw::connect(server.addr);
    let mut quick = Raw::connect(server.addr);
    let alone = round_trips(&mut quick, 20);
    // The slow client talks all the time; the quick one's lines now wait behind its handler.
    let mut talking = slow.stream.try_clone().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopping = stop.clone();
    let talker = thread::spawn(move || {
        for i in 0..2000 {
            if stopping.load(std::sync::atomic::Ordering::Relaxed)
                || talking.write_all(format!("slow {i}\n").as_bytes()).is_err()
            {
                break;
            }
            thread::sleep(Duration::from_millis(1)); // always something to read: always a slow turn
        }
    });
    thread::sleep(Duration::from_millis(20)); // the talker is under way
    let beside = round_trips(&mut quick, 20);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    talker.join().unwrap();
    let (p50, worst) = (beside[10], beside[19]);
    eprintln!(
        "quick client's round trip: alone p50 {:?}; beside a 50 ms handler p50 {p50:?}, worst {worst:?}",
        alone[10]
    );
    assert!(worst >= HANDLER_TIME * 8 / 10, "nobody waited for the slow handler: worst {worst:?}");
    assert!(p50 >= HANDLER_TIME / 5, "the slow handler did not hold up the quick client: p50 {p50:?}");
    drop(slow.stream.shutdown(std::net::Shutdown::Both));
}
