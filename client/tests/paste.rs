//! People who paste: one member sends thousands of lines as fast as its socket allows while the
//! others read at full speed. Nobody who reads may be dropped, every line must arrive exactly
//! once and in order; a member that stopped reading is still dropped, and the room told.

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use server::hub::{Hub, Limits};
use server::lessons::{chat, one_thread_chat};
use support::{Raw, Running, DEADLINE};
use tungstenite::Message;

const LINES: usize = 5000;
const STALLED_NOTICE: &str = "* stalled stopped reading and was dropped (too slow to keep up)";

fn pasted(i: usize) -> String {
    format!("line {i:05} of the paste, padded to look like a log file ..........................")
}

/// A TCP member called `nick` with everything up to its rename read (the room hears of it
/// when its arrival grace ends).
fn member(addr: SocketAddr, nick: &str) -> Raw {
    let mut client = Raw::connect(addr);
    client.send(&format!("/nick {nick}\n"));
    let wanted = format!("* you are now {nick} in lobby");
    assert!((0..100).any(|_| client.line() == wanted), "{nick} never got its nickname");
    client
}

/// Reads until `from`'s whole paste has arrived; returns the pasted lines heard and whether the
/// stalled member's drop was announced. Bounded: a line every [`DEADLINE`], at most 3 × LINES.
fn read_paste(client: &mut Raw, from: &str) -> (Vec<String>, bool) {
    let (mut heard, mut told) = (Vec::new(), false);
    let prefix = format!("{from}: ");
    let last = format!("{prefix}{}", pasted(LINES - 1));
    for _ in 0..3 * LINES {
        let line = client.line();
        told |= line == STALLED_NOTICE;
        assert!(!line.contains("dropped") || line == STALLED_NOTICE, "{line}");
        if let Some(text) = line.strip_prefix(&prefix) {
            heard.push(text.to_string());
        }
        if line == last {
            return (heard, told);
        }
    }
    panic!("the paste never ended; {} lines heard", heard.len());
}

/// A member that never reads, with a tiny receive buffer so that it stalls soon.
fn stalled_member(addr: SocketAddr, room: &mut [Raw]) -> socket2::Socket {
    let stalled = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    stalled.set_recv_buffer_size(4096).unwrap();
    stalled.connect(&addr.into()).unwrap();
    (&stalled).write_all(b"/nick stalled\n").unwrap();
    for client in room {
        // It says nothing: the room hears of it when its arrival grace ends (`hub::arrivals`).
        assert!((0..10).any(|_| client.line() == "* stalled has entered lobby"));
    }
    stalled
}

fn check(heard: &[String], who: &str) {
    assert_eq!(heard.len(), LINES, "{who} heard {} of {LINES} lines", heard.len());
    for (i, line) in heard.iter().enumerate() {
        assert_eq!(*line, pasted(i), "{who}: line {i} is wrong");
    }
}

#[test]
fn a_tcp_paste_reaches_every_reader_once_and_in_order_and_only_the_stalled_member_is_dropped() {
    let limits = Limits { stall: Duration::from_secs(2), ..Limits::default() };
    let hub = Arc::new(Hub::new(limits));
    let server: Running = if env!("CARGO_CRATE_NAME") == "one_thread_chat" {
        // tests/one_thread_chat.rs compiles this file again, for chapter 14's one-thread chat.
        let config = server::evloop::Config::default();
        support::start(move |listener, shutdown| one_thread_chat::run(listener, shutdown, hub, &config))
    } else {
        support::start(move |listener, shutdown| chat::run(listener, shutdown, hub))
    };
    let mut readers: Vec<Raw> = ["r1", "r2", "r3"].iter().map(|nick| member(server.addr, nick)).collect();
    let mut paster = member(server.addr, "paster");
    for reader in &mut readers {
        assert!((0..10).any(|_| reader.line() == "* paster has entered lobby"));
    }
    let mut room: Vec<Raw> = readers.drain(..).chain(std::iter::once(paster)).collect();
    let _stalled = stalled_member(server.addr, &mut room);
    paster = room.pop().unwrap();

    // The paste, in one write as `cat log.txt | nc` would do it; it blocks whenever the server
    // holds the paster back.
    let whole: String = (0..LINES).map(|i| pasted(i) + "\n").collect();
    let mut writing = paster.stream.try_clone().unwrap();
    let start = Instant::now();
    let writer = thread::spawn(move || writing.write_all(whole.as_bytes()));
    let readers: Vec<_> = room
        .into_iter()
        .chain(std::iter::once(paster))
        .enumerate()
        .map(|(i, mut client)| thread::spawn(move || (i, read_paste(&mut client, "paster"))))
        .collect();
    let mut told = 0;
    for reader in readers {
        let (i, (heard, was_told)) = reader.join().unwrap();
        check(&heard, &format!("reader {i}"));
        told += usize::from(was_told);
    }
    writer.join().unwrap().unwrap();
    eprintln!("{LINES} lines to 4 readers in {:?}", start.elapsed());
    // 500 kB is far more than the stalled member's buffers: it stalled during the paste, and all
    // four who read were told.
    assert_eq!(told, 4, "only {told} of 4 were told of the stalled member's drop");
}

/// A WebSocket client split in two like the server's: one half only writes, the other only
/// reads, each with its own tungstenite context over a clone of the socket.
fn ws_split(
    addr: SocketAddr,
    nick: &str,
) -> (tungstenite::WebSocket<TcpStream>, tungstenite::WebSocket<TcpStream>) {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let (mut ws, _) = tungstenite::client::client(format!("ws://{addr}/ws"), stream.try_clone().unwrap())
        .unwrap_or_else(|e| panic!("handshake: {e}"));
    ws.send(Message::text(format!("/nick {nick}"))).unwrap();
    let wanted = format!("* you are now {nick} in lobby");
    let settled = (0..20).any(|_| matches!(ws.read(), Ok(Message::Text(text)) if text.as_str() == wanted));
    assert!(settled, "{nick} never got its nickname");
    // Nothing else is on its way to us now: the reading half may start on a fresh context.
    let reading = tungstenite::WebSocket::from_raw_socket(stream, tungstenite::protocol::Role::Client, None);
    (ws, reading)
}

#[test]
fn a_websocket_paste_reaches_every_reader_once_and_in_order() {
    let (server, tcp) = support::chat_lab(Limits::default(), Default::default());
    let mut readers: Vec<Raw> = ["r1", "r2"].iter().map(|nick| member(tcp, nick)).collect();
    let (mut writing, mut reading) = ws_split(server.addr, "paster");
    for reader in &mut readers {
        assert!((0..10).any(|_| reader.line() == "* paster has entered lobby"));
    }
    let writer = thread::spawn(move || {
        for i in 0..LINES {
            writing.send(Message::text(pasted(i)))?;
        }
        Ok::<_, tungstenite::Error>(writing)
    });
    let mut handles: Vec<_> = readers
        .into_iter()
        .map(|mut client| thread::spawn(move || read_paste(&mut client, "paster").0))
        .collect();
    handles.push(thread::spawn(move || {
        let mut heard = Vec::new();
        while heard.len() < LINES {
            match reading.read() {
                Ok(Message::Text(text)) => {
                    assert!(!text.contains("dropped"), "{text}");
                    if let Some(line) = text.strip_prefix("paster: ") {
                        heard.push(line.to_string());
                    }
                }
                Ok(_) => {}
                Err(e) => panic!("the paster's own connection failed after {} lines: {e}", heard.len()),
            }
        }
        heard
    }));
    for (i, handle) in handles.into_iter().enumerate() {
        check(&handle.join().unwrap(), &format!("reader {i}"));
    }
    let _ = writer.join().unwrap().unwrap();
}
