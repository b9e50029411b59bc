//! Socket.IO tests' tools: the lab with short heartbeats, raw Engine.IO requests, and the lab's
//! other members (TCP, WebSocket) to meet in a room.
#![allow(dead_code)]

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tungstenite::{Message, WebSocket};

use crate::support::{self, Raw, Running, DEADLINE};

/// The lab on two ephemeral ports with these Socket.IO timings; returns it and the TCP address.
pub fn lab(sio: server::sio::Config) -> (Running, SocketAddr) {
    lab_with(server::hub::Limits::default(), sio)
}

/// The same, with the hub's limits too.
pub fn lab_with(limits: server::hub::Limits, sio: server::sio::Config) -> (Running, SocketAddr) {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_addr = tcp.local_addr().unwrap();
    let hub = Arc::new(server::hub::Hub::new(limits));
    let config = server::lessons::http_chat::Config::default();
    let run = move |web, shutdown: &common::Shutdown| {
        server::lessons::lab::run_with(tcp, web, shutdown, hub, config, Default::default(), sio)
    };
    (support::start(run), tcp_addr)
}

/// One HTTP request on a fresh connection; the status and body.
pub fn request(addr: SocketAddr, method: &str, target: &str, body: &str, headers: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(format!("{head}{body}").as_bytes()); // the server may refuse early
    let (status, _, body) = support::read_response(&mut BufReader::new(stream), false);
    (status, body)
}

/// A polling GET on session `sid`.
pub fn poll(addr: SocketAddr, eio: u8, sid: &str) -> (u16, String) {
    request(addr, "GET", &format!("/socket.io/?EIO={eio}&transport=polling&sid={sid}"), "", "")
}

/// A polling POST of `payload` on session `sid`.
pub fn send(addr: SocketAddr, eio: u8, sid: &str, payload: &str) -> (u16, String) {
    request(addr, "POST", &format!("/socket.io/?EIO={eio}&transport=polling&sid={sid}"), payload, "")
}

/// The polling handshake: the session id and the open packet's JSON.
pub fn handshake(addr: SocketAddr, eio: u8) -> (String, serde_json::Value) {
    let (status, body) = request(addr, "GET", &format!("/socket.io/?EIO={eio}&transport=polling"), "", "");
    assert_eq!(status, 200, "{body}");
    let open = match eio {
        4 => body.strip_prefix('0').unwrap().to_string(),
        _ => {
            let (_, rest) = body.split_once(":0").unwrap();
            rest[..rest.rfind('}').unwrap() + 1].to_string()
        }
    };
    let open: serde_json::Value = serde_json::from_str(&open).unwrap();
    (open["sid"].as_str().unwrap().to_string(), open)
}

/// Polls until a payload holds `needle`; returns that payload. Bounded in polls and time.
pub fn poll_until(addr: SocketAddr, eio: u8, sid: &str, needle: &str) -> String {
    let deadline = Instant::now() + DEADLINE;
    let mut seen = String::new();
    for _ in 0..50 {
        assert!(Instant::now() < deadline, "no {needle:?} within {DEADLINE:?}; got {seen}");
        let (status, body) = poll(addr, eio, sid);
        assert_eq!(status, 200, "{body}");
        if body.contains(needle) {
            return body;
        }
        seen.push_str(&body);
    }
    panic!("no {needle:?} in 50 polls; got {seen}");
}

/// A TCP member (like `nc`) as `nick` in `room`.
pub fn tcp_member(addr: SocketAddr, nick: &str, room: &str) -> Raw {
    let mut raw = Raw::connect(addr);
    raw.send(&format!("/nick {nick}\n/join {room}\n"));
    line_with(&mut raw, &format!("you are now {nick} in {room}"));
    raw
}

/// The next line of `raw` that contains `needle` (others are skipped; at most 100).
pub fn line_with(raw: &mut Raw, needle: &str) -> String {
    for _ in 0..100 {
        let line = raw.line();
        if line.contains(needle) {
            return line;
        }
    }
    panic!("no line with {needle:?}");
}

/// A WebSocket member of the lab's own chat (`/ws`) as `nick` in `room`.
pub fn ws_member(addr: SocketAddr, nick: &str, room: &str) -> WebSocket<TcpStream> {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut ws = tungstenite::client::client(format!("ws://{addr}/ws"), stream).unwrap().0;
    ws.send(Message::text(format!("/nick {nick}"))).unwrap();
    ws.send(Message::text(format!("/join {room}"))).unwrap();
    text_with(&mut ws, &format!("you are now {nick} in {room}"));
    ws
}

/// A WebSocket to `path` on the lab (a raw Engine.IO client).
pub fn websocket(addr: SocketAddr, path: &str) -> Result<WebSocket<TcpStream>, tungstenite::Error> {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    tungstenite::client::client(format!("ws://{addr}{path}"), stream).map(|(ws, _)| ws).map_err(|e| match e {
        tungstenite::HandshakeError::Failure(e) => e,
        tungstenite::HandshakeError::Interrupted(_) => panic!("a blocking handshake was interrupted"),
    })
}

/// The next text message that contains `needle` (others are skipped; at most 100).
pub fn text_with(ws: &mut WebSocket<TcpStream>, needle: &str) -> String {
    for _ in 0..100 {
        match ws.read() {
            Ok(Message::Text(text)) if text.contains(needle) => return text.to_string(),
            Ok(_) => {}
            Err(e) => panic!("waiting for {needle:?}: {e}"),
        }
    }
    panic!("no message with {needle:?}");
}

/// Short heartbeats, so a silent client is closed within a test's patience.
pub fn quick() -> server::sio::Config {
    server::sio::Config {
        ping_interval: Duration::from_millis(200),
        // Long enough that a busy machine does not drop a client that does answer.
        ping_timeout: Duration::from_millis(1000),
        ..Default::default()
    }
}
