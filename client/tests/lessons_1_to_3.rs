//! Lessons 1–3 end to end: the real servers in-process on 127.0.0.1:0, driven by the real
//! client code and by raw sockets (what `nc` would do).

mod support;

use std::io::{Cursor, Write};
use std::net::TcpListener;
use std::thread;
use std::time::Duration;

use client::lessons;
use server::lessons::{echo, lifecycle, threaded_echo};
use support::{start, start_on, Raw};

fn lifecycle_server() -> support::Running {
    let listener = lifecycle::open("127.0.0.1:0".parse().unwrap()).expect("open");
    start_on(listener, lifecycle::run)
}

#[test]
fn lifecycle_replies_and_the_listening_socket_keeps_listening() {
    let server = lifecycle_server();
    let addr = server.addr.to_string();
    assert_eq!(lessons::lifecycle::run(&addr, "hello, server").unwrap(), "hello, server");
    // The listening socket went back to accept(): a second client is served the same way.
    assert_eq!(lessons::lifecycle::run(&addr, "안녕하세요").unwrap(), "안녕하세요");
}

#[test]
fn lifecycle_survives_a_client_that_vanishes_mid_message() {
    let server = lifecycle_server();
    let mut half = Raw::connect(server.addr);
    half.send("no newline here");
    drop(half);
    assert_eq!(lessons::lifecycle::run(&server.addr.to_string(), "still here").unwrap(), "still here");
}

/// Runs the echo client with `input` against `addr` and returns what it printed.
fn echo_client(addr: &str, input: Vec<u8>) -> (Vec<u8>, lessons::echo::Summary) {
    let mut output = Vec::new();
    let summary = lessons::echo::run(addr, "echo", Cursor::new(input), &mut output).expect("echo client");
    (output, summary)
}

#[test]
fn echo_client_gets_every_line_back_including_korean() {
    let server = start(echo::run);
    let input = "hello\n안녕하세요, 세계!\nlast line\n".as_bytes().to_vec();
    let (output, summary) = echo_client(&server.addr.to_string(), input.clone());
    assert_eq!(String::from_utf8(output).unwrap(), String::from_utf8(input).unwrap());
    assert_eq!(summary.lines_received, 3);
    assert!(!summary.closed_by_server);
}

#[test]
fn one_mebibyte_line_echoes_back_intact_on_both_echo_servers() {
    // Every byte value a line may hold, in an order that catches reordered or dropped chunks.
    let mut message: Vec<u8> = (0..1024 * 1024).map(|i: usize| b'!' + (i * 7 % 90) as u8).collect();
    message.push(b'\n');
    for server in [start(echo::run), start(|l, s| threaded_echo::run(l, s, 4))] {
        let (output, summary) = echo_client(&server.addr.to_string(), message.clone());
        assert!(output == message, "the 1 MiB message came back changed ({} bytes)", output.len());
        assert_eq!(summary.bytes_sent, message.len() as u64);
    }
}

#[test]
fn echo_serves_one_client_at_a_time_the_second_waits() {
    let server = start(echo::run);
    let mut first = Raw::connect(server.addr);
    first.send("first\n");
    assert_eq!(first.line(), "first");

    // connect() succeeds (the kernel queues the handshake), but nobody reads what we send.
    let mut second = Raw::connect(server.addr);
    second.send("second\n");
    assert!(second.silent_for(Duration::from_millis(300)), "the second client was served at once");

    // The first leaves; the server goes back to accept() and the second is served.
    first.stream.shutdown(std::net::Shutdown::Both).unwrap();
    assert_eq!(second.line(), "second");
}

#[test]
fn threaded_echo_serves_two_clients_at_once() {
    let server = start(|l, s| threaded_echo::run(l, s, 4));
    let mut first = Raw::connect(server.addr);
    first.send("first\n");
    assert_eq!(first.line(), "first");
    let mut second = Raw::connect(server.addr);
    second.send("second\n");
    assert_eq!(second.line(), "second"); // while the first is still connected
    first.send("again\n");
    assert_eq!(first.line(), "again");
}

#[test]
fn threaded_echo_refuses_the_client_over_the_cap_then_serves_again() {
    let server = start(|l, s| threaded_echo::run(l, s, 2));
    let mut clients: Vec<Raw> = (0..2).map(|_| Raw::connect(server.addr)).collect();
    for (i, client) in clients.iter_mut().enumerate() {
        client.send(&format!("{i}\n"));
        assert_eq!(client.line(), i.to_string());
    }
    let mut third = Raw::connect(server.addr);
    assert_eq!(third.line(), "* server busy: 2 clients already connected, try again later");
    assert!(third.closed());

    // One leaves: a new client gets its place once the leaving thread has finished.
    let leaving = clients.remove(0);
    leaving.stream.shutdown(std::net::Shutdown::Both).unwrap();
    // Bounded by time, not by a count of tries: a busy machine finishes the thread later.
    let deadline = std::time::Instant::now() + support::DEADLINE;
    let mut served = false;
    while !served && std::time::Instant::now() < deadline {
        let mut next = Raw::connect(server.addr);
        next.send("in\n");
        served = next.line() == "in";
        if !served {
            thread::sleep(Duration::from_millis(10));
        }
    }
    assert!(served, "no client was served within {:?} after one left", support::DEADLINE);
}

#[test]
fn echo_servers_survive_a_peer_that_vanishes_mid_message() {
    for server in [start(echo::run), start(|l, s| threaded_echo::run(l, s, 4))] {
        let mut vanishing = Raw::connect(server.addr);
        vanishing.send("half a mess");
        // Reset rather than close: the peer is killed, not polite.
        socket2::SockRef::from(&vanishing.stream).set_linger(Some(Duration::ZERO)).unwrap();
        drop(vanishing);
        let (output, _) = echo_client(&server.addr.to_string(), b"next client\n".to_vec());
        assert_eq!(output, b"next client\n");
    }
}

#[test]
fn shutdown_while_blocked_in_accept_returns_promptly() {
    for mut server in [lifecycle_server(), start(echo::run), start(|l, s| threaded_echo::run(l, s, 4))] {
        server.stop_within(Duration::from_secs(1)).unwrap();
    }
}

#[test]
fn shutdown_tells_connected_clients_and_joins_their_threads() {
    let mut server = start(|l, s| threaded_echo::run(l, s, 4));
    let mut clients: Vec<Raw> = (0..3).map(|_| Raw::connect(server.addr)).collect();
    for client in &mut clients {
        client.send("hi\n");
        assert_eq!(client.line(), "hi");
    }
    server.stop_within(Duration::from_secs(1)).unwrap();
    for client in &mut clients {
        assert_eq!(client.line(), common::GOODBYE);
        assert!(client.closed());
    }

    let mut server = start(echo::run);
    let mut client = Raw::connect(server.addr);
    client.send("hi\n");
    assert_eq!(client.line(), "hi");
    server.stop_within(Duration::from_secs(1)).unwrap();
    assert_eq!(client.line(), common::GOODBYE);
}

#[test]
fn shutdown_does_not_wait_for_a_client_that_stopped_reading() {
    let mut server = start(|l, s| threaded_echo::run(l, s, 4));
    let mut stalled = Raw::connect(server.addr);
    // Send far more than the socket buffers hold and never read. Once our own write times out,
    // every buffer on the way is full and the server is stuck in its write_all to us.
    let chunk = vec![b'x'; 1024 * 1024];
    stalled.stream.set_write_timeout(Some(Duration::from_millis(300))).unwrap();
    let stuck = (0..64).any(|_| stalled.stream.write_all(&chunk).is_err());
    assert!(stuck, "64 MiB went out without the buffers filling up");
    server.stop_within(Duration::from_secs(2)).unwrap();
}

#[test]
fn client_skips_invalid_utf8_and_reports_a_server_that_vanishes_mid_line() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let fake = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.write_all(b"\xff\xfe bad\nfine\ncut off in the mid").unwrap();
    });
    let mut output = Vec::new();
    let result = lessons::echo::run(&addr, "echo", Cursor::new(Vec::new()), &mut output);
    fake.join().unwrap();
    assert_eq!(output, b"fine\n");
    let error = result.unwrap_err();
    assert!(error.contains("in the middle of a line"), "{error}");
}

#[test]
fn connection_refused_says_which_server_to_start() {
    let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap(); // bound, then closed
    let error =
        lessons::echo::run(&addr.to_string(), "threaded-echo", Cursor::new(Vec::new()), &mut Vec::new())
            .unwrap_err();
    assert_eq!(
        error,
        format!("no server at {addr}: start it in another terminal with `cargo server threaded-echo --addr {addr}`")
    );
    let error = lessons::lifecycle::run(&addr.to_string(), "hi").unwrap_err();
    assert!(error.ends_with(&format!("`cargo server lifecycle --addr {addr}`")), "{error}");
}
