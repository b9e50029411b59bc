//! Ctrl-C on the lab under load: a few hundred mixed clients (TCP members, WebSocket members,
//! streams, long-polls, pollers) with traffic, then the trigger. Every client is told, and the
//! lab's `run` returns within a second or two.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use server::hub::Limits;
use support::DEADLINE;
use tungstenite::Message;

const TCP_MEMBERS: usize = 150;
const WS_MEMBERS: usize = 150;
const STREAMS: usize = 80;
const LONG_POLLS: usize = 80;
const POLLERS: usize = 20;
const TALKERS: usize = 6;

/// What one client saw at the end: `Ok` if it was told, `Err(what it saw instead)`.
type Told = Result<(), String>;

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream
}

/// A TCP member that reads everything; told = its last line is the goodbye.
fn tcp_member(addr: SocketAddr, ready: Arc<Barrier>) -> JoinHandle<Told> {
    let stream = connect(addr);
    thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).map_err(|e| e.to_string())?; // the welcome
        ready.wait();
        let mut last = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) => break,
                Ok(_) => last = line.trim_end().to_string(),
                Err(e) => return Err(format!("{e} after {last:?}")),
            }
        }
        (last == common::GOODBYE).then_some(()).ok_or(format!("tcp member ended with {last:?}"))
    })
}

/// A TCP member that talks until `stop`, and reads on another thread like any member.
fn talker(addr: SocketAddr, ready: Arc<Barrier>, stop: Arc<AtomicBool>) -> JoinHandle<Told> {
    let mut writer = connect(addr);
    let listening = tcp_member(addr, ready.clone());
    let _ = &mut writer;
    let stream = writer;
    let talking = {
        let stream = stream.try_clone().unwrap();
        thread::spawn(move || {
            let mut stream = stream;
            ready.wait();
            for n in 0..10_000 {
                if stop.load(Ordering::SeqCst) || writeln!(stream, "message {n}").is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(5));
            }
        })
    };
    thread::spawn(move || {
        // The talker's own connection reads its echo and the goodbye too.
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        let mut last = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) => break,
                Ok(_) => last = line.trim_end().to_string(),
                Err(e) => return Err(format!("talker: {e} after {last:?}")),
            }
        }
        let _ = talking.join();
        listening.join().unwrap()?;
        (last == common::GOODBYE).then_some(()).ok_or(format!("talker ended with {last:?}"))
    })
}

/// A WebSocket member; told = a close frame arrived.
fn ws_member(addr: SocketAddr, ready: Arc<Barrier>) -> JoinHandle<Told> {
    let stream = connect(addr);
    let (mut socket, _) = tungstenite::client(format!("ws://{addr}/ws"), stream).expect("upgrade");
    thread::spawn(move || {
        ready.wait();
        loop {
            match socket.read() {
                Ok(Message::Close(_)) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(format!("ws member: {e}, no close frame")),
            }
        }
    })
}

/// An HTTP request on a new connection; told = `check` accepts what came back before EOF.
fn http(addr: SocketAddr, target: &str, ready: Arc<Barrier>, check: fn(&str) -> bool) -> JoinHandle<Told> {
    let mut stream = connect(addr);
    write!(stream, "GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    thread::spawn(move || {
        ready.wait();
        let mut got = Vec::new();
        match stream.read_to_end(&mut got) {
            Ok(_) => {}
            Err(e) => return Err(format!("{e} after {:?}", String::from_utf8_lossy(&got))),
        }
        let got = String::from_utf8_lossy(&got);
        check(&got).then_some(()).ok_or_else(|| format!("got {got:?}"))
    })
}

/// Polls once every few milliseconds on one persistent connection; told = every request it sent
/// got a whole answer (the server may close the connection between requests).
fn poller(addr: SocketAddr, ready: Arc<Barrier>) -> JoinHandle<Told> {
    let stream = connect(addr);
    thread::spawn(move || {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        ready.wait();
        for _ in 0..10_000 {
            if writer.write_all(b"GET /poll?room=lobby&since=999999 HTTP/1.1\r\nHost: x\r\n\r\n").is_err() {
                return Ok(()); // closed between requests
            }
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) => return Ok(()), // closed before it read the request
                Ok(_) if line.starts_with("HTTP/1.1 200") => {}
                Ok(_) => return Err(format!("poll got {line:?}")),
                Err(e) => return Err(format!("poll: {e}")),
            }
            let mut length = 0;
            loop {
                line.clear();
                reader.read_line(&mut line).map_err(|e| format!("poll head: {e}"))?;
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some(n) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = n.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).map_err(|e| format!("poll body cut: {e}"))?;
            thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    })
}

#[test]
fn ctrl_c_under_mixed_load_tells_every_client_and_stops_within_two_seconds() {
    common::logging::init();
    let limits = Limits { max_members: 1000, ..Limits::default() };
    let (mut lab, tcp) = support::lab(limits, Default::default());
    let web = lab.addr;
    let clients = TCP_MEMBERS + WS_MEMBERS + STREAMS + LONG_POLLS + POLLERS + 2 * TALKERS;
    let ready = Arc::new(Barrier::new(clients + 1));
    let stop = Arc::new(AtomicBool::new(false));
    let mut told: Vec<(&str, JoinHandle<Told>)> = Vec::new();
    for _ in 0..TCP_MEMBERS {
        told.push(("tcp", tcp_member(tcp, ready.clone())));
    }
    for _ in 0..WS_MEMBERS {
        told.push(("ws", ws_member(web, ready.clone())));
    }
    for _ in 0..STREAMS {
        told.push((
            "stream",
            http(web, "/stream?room=lobby", ready.clone(), |got| got.contains("event: bye")),
        ));
    }
    for _ in 0..LONG_POLLS {
        let answered = |got: &str| got.starts_with("HTTP/1.1 200");
        told.push(("long-poll", http(web, "/long-poll?room=quiet&since=999999", ready.clone(), answered)));
    }
    for _ in 0..POLLERS {
        told.push(("poll", poller(web, ready.clone())));
    }
    for _ in 0..TALKERS {
        told.push(("talker", talker(tcp, ready.clone(), stop.clone())));
    }
    ready.wait();
    // Traffic for a moment, then Ctrl-C in the middle of it.
    thread::sleep(Duration::from_millis(500));
    let triggered = Instant::now();
    lab.stop_within(Duration::from_secs(2)).expect("the lab failed");
    let took = triggered.elapsed();
    stop.store(true, Ordering::SeqCst);
    let mut untold = Vec::new();
    for (kind, client) in told {
        if let Err(what) = client.join().expect("a client thread panicked") {
            untold.push(format!("{kind}: {what}"));
        }
    }
    eprintln!("stopped in {took:?}");
    assert!(untold.is_empty(), "{} of {clients} clients were not told: {untold:#?}", untold.len());
    assert!(took < Duration::from_secs(2), "the lab took {took:?} to stop");
}
