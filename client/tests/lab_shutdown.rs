//! Ctrl-C on the lab under load: a few hundred mixed clients (TCP members, WebSocket members,
//! streams, long-polls, pollers) with traffic, then the trigger. Every client is told, and the
//! lab's `run` returns: within a second on an idle machine; on a busy one the handlers take longer
//! to write their goodbyes, and the grace waits for them while they keep finishing (up to
//! `common::shutdown::LAST_CALL`), so the bound here is that plus the time to join the threads.

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
    // A client waits longer than the stop may take (the bound the test allows, below): beside
    // four busy loops a waiting long-poll gave up before a lab that was still within it.
    stream.set_read_timeout(Some(common::shutdown::LAST_CALL + DEADLINE * 2)).unwrap();
    stream
}

/// Reads lines to the end; told = the last one is the goodbye.
fn told_goodbye(reader: &mut BufReader<TcpStream>, who: &str) -> Told {
    let (mut line, mut last) = (String::new(), String::new());
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => last = line.trim_end().to_string(),
            Err(e) => return Err(format!("{who}: {e} after {last:?}")),
        }
    }
    (last == common::GOODBYE).then_some(()).ok_or(format!("{who} ended with {last:?}"))
}

/// A TCP member that reads everything and, if `talk`, says something every 20 ms until `stop`.
fn tcp_member(addr: SocketAddr, ready: Arc<Barrier>, talk: Option<Arc<AtomicBool>>) -> JoinHandle<Told> {
    let stream = connect(addr);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    thread::spawn(move || {
        let mut welcome = String::new();
        let joined = reader.read_line(&mut welcome).map_err(|e| format!("no welcome: {e}"));
        // Every client meets at the barrier, even one that failed to join: otherwise the test
        // would wait there forever instead of failing.
        ready.wait();
        joined?;
        let talking = talk.map(|stop| {
            let mut stream = stream;
            thread::spawn(move || {
                for n in 0..10_000 {
                    if stop.load(Ordering::SeqCst) || writeln!(stream, "message {n}").is_err() {
                        break;
                    }
                    thread::sleep(Duration::from_millis(20));
                }
            })
        });
        let told = told_goodbye(&mut reader, if talking.is_some() { "talker" } else { "tcp member" });
        talking.map(JoinHandle::join);
        told
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
    write!(stream, "GET {target} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
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
        let request = format!("GET /poll?room=lobby&since=999999 HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        ready.wait();
        for _ in 0..10_000 {
            if writer.write_all(request.as_bytes()).is_err() {
                return Ok(()); // closed between requests
            }
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) => return Ok(()), // closed before it read the request
                // The same, when our request reached a socket the server had closed (an idle
                // keep-alive connection, closed at the trigger): its kernel answers with a reset.
                // Nothing of an answer had come: the request was never read (RFC 9112, 9.6).
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(()),
                Ok(_) if line.starts_with("HTTP/1.1 200") => {}
                Ok(_) => return Err(format!("poll got {line:?}")),
                Err(e) => return Err(format!("poll: {e}")),
            }
            let (mut length, mut last) = (0, false);
            loop {
                line.clear();
                reader.read_line(&mut line).map_err(|e| format!("poll head: {e}"))?;
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(n) = lower.strip_prefix("content-length:") {
                    length = n.trim().parse().unwrap_or(0);
                }
                last |= lower.trim_end() == "connection: close";
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).map_err(|e| format!("poll body cut: {e}"))?;
            // The server said this was the last answer on this connection: a client that sent
            // another request now would race the server's close.
            if last {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    })
}

#[test]
fn ctrl_c_under_mixed_load_tells_every_client_and_stops() {
    let limits = Limits { max_members: 1000, ..Limits::default() };
    let (mut lab, tcp) = support::lab(limits, Default::default());
    let web = lab.addr;
    let clients = TCP_MEMBERS + WS_MEMBERS + STREAMS + LONG_POLLS + POLLERS + TALKERS;
    let ready = Arc::new(Barrier::new(clients + 1));
    let stop = Arc::new(AtomicBool::new(false));
    let mut told: Vec<(&str, JoinHandle<Told>)> = Vec::new();
    for _ in 0..TCP_MEMBERS {
        told.push(("tcp", tcp_member(tcp, ready.clone(), None)));
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
        told.push(("talker", tcp_member(tcp, ready.clone(), Some(stop.clone()))));
    }
    ready.wait();
    // Traffic for a moment, then Ctrl-C in the middle of it.
    thread::sleep(Duration::from_millis(500));
    let triggered = Instant::now();
    let bound = common::shutdown::LAST_CALL + DEADLINE;
    lab.stop_within(bound).expect("the lab failed");
    let took = triggered.elapsed();
    stop.store(true, Ordering::SeqCst);
    let mut untold = Vec::new();
    for (kind, client) in told {
        if let Err(what) = client.join().expect("a client thread panicked") {
            untold.push(format!("{kind}: {what}"));
        }
    }
    assert!(untold.is_empty(), "{} of {clients} clients were not told: {untold:#?}", untold.len());
    eprintln!("{clients} clients: the lab stopped {took:?} after the trigger");
    assert!(took < bound, "the lab took {took:?} to stop");
}
