//! `cargo client check one-thread-echo`: chapter 14's servers pass, and the grader tells a server
//! that waits on one client (in `read`, or in a `write` to a client that stopped reading) from one
//! that serves fifty at once.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use client::check::{self, Report};
use server::evloop::Config;
use server::lessons::{echo, one_thread_echo, one_thread_poll};

fn checked(addr: &str) -> (Report, String) {
    let mut out = Vec::new();
    let report = check::run("one-thread-echo", Some(addr), &mut out).unwrap();
    (report, String::from_utf8(out).unwrap())
}

#[test]
fn the_one_thread_servers_pass_every_check() {
    let mio = support::start(|l, s| one_thread_echo::run(l, s, &Config::default()));
    let poll = support::start(|l, s| one_thread_poll::run(l, s, &Config::default()));
    let servers = if cfg!(unix) { vec![mio.addr, poll.addr] } else { vec![mio.addr] };
    for addr in servers {
        let (report, out) = checked(&addr.to_string());
        assert_eq!(report.failed, 0, "{out}");
        assert!(out.contains("PASS one-thread-echo: 50 clients are served at once"), "{out}");
        assert!(out.contains("PASS one-thread-echo: a client that stops reading holds up nobody"), "{out}");
    }
}

#[test]
fn a_server_that_waits_in_one_clients_read_is_caught() {
    let server = support::start(echo::run); // lesson 2: one client at a time
    let (report, out) = checked(&server.addr.to_string());
    assert!(report.failed > 0, "{out}");
    assert!(out.lines().any(|l| l.starts_with("FAIL") && l.contains("second client got no echo")), "{out}");
}

/// One thread, non-blocking sockets, every client tried in turn: right, except that a write
/// that would block is retried until it goes through (`write_all` by hand), so one client that
/// stops reading stops everyone. Runs until `stop`.
fn waits_in_write(listener: TcpListener, stop: Arc<AtomicBool>) {
    listener.set_nonblocking(true).unwrap();
    let mut clients: Vec<TcpStream> = Vec::new();
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        if let Ok((stream, _)) = listener.accept() {
            stream.set_nonblocking(true).unwrap();
            clients.push(stream);
        }
        clients.retain_mut(|client| match client.read(&mut buf) {
            Ok(0) => false,
            Ok(n) => {
                let mut sent = 0;
                while sent < n && !stop.load(Ordering::Relaxed) {
                    match client.write(&buf[sent..n]) {
                        Ok(k) => sent += k,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            thread::sleep(Duration::from_millis(1))
                        }
                        Err(_) => return false,
                    }
                }
                true
            }
            Err(e) => e.kind() == ErrorKind::WouldBlock,
        });
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_one_thread_server_that_waits_in_a_write_is_caught() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let stop = stop.clone();
        thread::spawn(move || waits_in_write(listener, stop))
    };
    let (report, out) = checked(&addr);
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
    assert!(out.contains("PASS one-thread-echo: 50 clients are served at once"), "{out}");
    assert_eq!(report.failed, 1, "{out}");
    assert!(out.contains("FAIL one-thread-echo: beside a client that stopped reading"), "{out}");
}
