//! What the class-mode tests share: a lab in class mode, its endpoints, and its event stream.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use server::class::{Config, Grade};

use crate::support::{start, Running, DEADLINE};

/// A lab in class mode on two ephemeral ports; returns it (its `addr` is the web side) and the
/// TCP chat's address.
pub fn class_lab(config: Config, grade: Arc<dyn Grade>) -> (Running, SocketAddr) {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_addr = tcp.local_addr().unwrap();
    let hub = Arc::new(server::hub::Hub::new(Default::default()));
    let running = start(move |web, shutdown| {
        let http = server::lessons::http_chat::Config::default();
        let class = Some((config, grade));
        server::lessons::lab::run_with_class(tcp, web, shutdown, hub, http, Default::default(), class)
    });
    (running, tcp_addr)
}

/// One request on a fresh connection, with `extra` header lines; the status and the body.
pub fn request(lab: SocketAddr, method: &str, path: &str, body: &str, extra: &str) -> (u16, String) {
    request_from(lab, None, method, path, body, extra)
}

/// [`request`] from another loopback address (`127.0.0.2`: another machine, as the lab sees it).
pub fn request_from(
    lab: SocketAddr,
    from: Option<std::net::IpAddr>,
    method: &str,
    path: &str,
    body: &str,
    extra: &str,
) -> (u16, String) {
    let mut stream = match from {
        None => TcpStream::connect(lab).unwrap(),
        Some(ip) => {
            let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            socket.bind(&SocketAddr::new(ip, 0).into()).unwrap();
            socket.connect(&lab.into()).unwrap();
            socket.into()
        }
    };
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {lab}\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body).to_string();
    (status, body)
}

/// `POST /class/enroll`; the status and the line for the student (`ok` or `error`).
pub fn enroll(lab: SocketAddr, nick: &str, addr: &str) -> (u16, String) {
    enroll_from(lab, None, nick, addr)
}

/// [`enroll`] from another loopback address.
pub fn enroll_from(lab: SocketAddr, from: Option<std::net::IpAddr>, nick: &str, addr: &str) -> (u16, String) {
    let body = serde_json::json!({ "nick": nick, "addr": addr }).to_string();
    let (status, answer) = request_from(lab, from, "POST", "/class/enroll", &body, "");
    let answer: Value = serde_json::from_str(&answer).unwrap_or(Value::Null);
    let line = answer.get("ok").or(answer.get("error")).and_then(Value::as_str).unwrap_or_default();
    (status, line.to_string())
}

/// The board, as `GET /class/state` answers it.
pub fn state(lab: SocketAddr) -> Value {
    let (status, body) = request(lab, "GET", "/class/state", "", "");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// The scoreboard's event stream, as a page reads it.
pub struct Events(BufReader<TcpStream>);

impl Events {
    pub fn open(lab: SocketAddr) -> Events {
        let stream = TcpStream::connect(lab).unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        write!(&stream, "GET /class/events HTTP/1.1\r\nHost: {lab}\r\n\r\n").unwrap();
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        while !head.ends_with("\r\n\r\n") {
            assert!(reader.read_line(&mut head).unwrap() > 0, "closed after {head:?}");
        }
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n") && head.contains("text/event-stream"), "{head}");
        Events(reader)
    }

    /// The next board, or `None` when `deadline` has passed.
    pub fn next(&mut self, deadline: Instant) -> Option<Value> {
        let mut line = String::new();
        while Instant::now() < deadline {
            line.clear();
            match self.0.read_line(&mut line) {
                Ok(0) => return None,
                Ok(_) => {
                    if let Some(json) = line.trim_end().strip_prefix("data: ") {
                        return Some(serde_json::from_str(json).unwrap());
                    }
                }
                Err(_) => {} // a read timeout: look at the deadline again
            }
        }
        None
    }

    /// Reads boards until one satisfies `done` (within `limit`); that board.
    pub fn until(&mut self, limit: Duration, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        let mut last = Value::Null;
        while let Some(board) = self.next(deadline) {
            if done(&board) {
                return board;
            }
            last = board;
        }
        panic!("no board where {what} within {limit:?}; the last was {last:#}");
    }
}

/// The row of `nick` on `board`.
pub fn row<'a>(board: &'a Value, nick: &str) -> Option<&'a Value> {
    board["students"].as_array()?.iter().find(|s| s["nick"] == nick)
}

/// The outcomes of `nick`'s cells (`"PASS"`, `"FAIL"`, `"SKIP"`, or null when not graded).
pub fn outcomes(board: &Value, nick: &str) -> Vec<String> {
    let Some(row) = row(board, nick) else { return Vec::new() };
    let cells = row["cells"].as_array().cloned().unwrap_or_default();
    cells.iter().map(|c| c["outcome"].as_str().unwrap_or("-").to_string()).collect()
}

/// True once `nick` has a grading on `board` and is not waiting for another.
pub fn graded(board: &Value, nick: &str) -> bool {
    row(board, nick).is_some_and(|r| r["stage"] == "done" && !r["graded"].is_null())
}
