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
