//! Lesson 8 and the lab end to end: WebSocket, TCP and HTTP clients in one room of one hub.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use client::lessons::ws_chat::{leave, WsChat};
use server::hub::Limits;
use server::lessons::ws_chat::{self, Origins};
use support::{Raw, Running, DEADLINE};
use tungstenite::Message;

/// The lab; chapter 14's one-thread lab when tests/one_thread_chat.rs compiles this file again.
fn lab_server(limits: Limits) -> (Running, SocketAddr) {
    support::chat_lab(limits, Origins { extra: vec!["http://trusted.example".into()] })
}

/// Reads lines until `wanted`; bounded in lines and (through the reads) in time.
fn until(client: &mut Raw, wanted: &str) {
    for _ in 0..50 {
        if client.line() == wanted {
            return;
        }
    }
    panic!("{wanted:?} never came");
}

/// A tcp member called `nick`, renamed and settled.
fn tcp_member(addr: SocketAddr, nick: &str) -> Raw {
    let mut member = Raw::connect(addr);
    member.send(&format!("/nick {nick}\n"));
    until(&mut member, &format!("* you are now {nick} in lobby"));
    member
}

/// A raw WebSocket client (tungstenite), optionally sending an `Origin` header.
fn ws_client(
    addr: SocketAddr,
    origin: Option<&str>,
) -> Result<tungstenite::WebSocket<TcpStream>, tungstenite::Error> {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut request =
        tungstenite::client::IntoClientRequest::into_client_request(format!("ws://{addr}/ws")).unwrap();
    if let Some(origin) = origin {
        request.headers_mut().insert("Origin", origin.parse().unwrap());
    }
    tungstenite::client::client(request, stream).map(|(ws, _)| ws).map_err(|e| match e {
        tungstenite::HandshakeError::Failure(e) => e,
        tungstenite::HandshakeError::Interrupted(_) => panic!("a blocking handshake was interrupted"),
    })
}

fn next_text(ws: &mut tungstenite::WebSocket<TcpStream>) -> String {
    loop {
        match ws.read().unwrap() {
            Message::Text(text) => return text.to_string(),
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => continue,
        }
    }
}

fn text_until(ws: &mut tungstenite::WebSocket<TcpStream>, wanted: &str) {
    for _ in 0..50 {
        if next_text(ws) == wanted {
            return;
        }
    }
    panic!("{wanted:?} never came");
}

/// Keyboard input the test types into, line by line.
struct Keyboard(mpsc::Receiver<String>, Vec<u8>);

impl Read for Keyboard {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.1.is_empty() {
            self.1 = self.0.recv().map(|line| format!("{line}\n").into_bytes()).unwrap_or_default();
        }
        let n = buf.len().min(self.1.len());
        buf[..n].copy_from_slice(&self.1[..n]);
        self.1.drain(..n);
        Ok(n)
    }
}

fn screen_until(screen: &mpsc::Receiver<String>, wanted: &str) {
    for _ in 0..50 {
        if screen.recv_timeout(DEADLINE).expect("the client printed nothing more") == wanted {
            return;
        }
    }
    panic!("{wanted:?} never shown");
}

#[test]
fn websocket_tcp_and_http_clients_share_one_room_in_the_lab() {
    if support::one_thread() {
        return; // no HTTP transports on the one-thread lab: one_thread_lab.rs has this without them
    }
    let (server, tcp) = lab_server(Limits::default());
    let mut nc = tcp_member(tcp, "nc-user");

    // The lesson's WebSocket client, typing and reading on its own threads.
    let (keys, typed) = mpsc::channel();
    let (shown, screen) = mpsc::channel();
    let chat = WsChat::connect(&server.addr.to_string()).unwrap();
    let writer = chat.writer();
    let client = thread::spawn(move || {
        let input = std::io::BufReader::new(Keyboard(typed, Vec::new()));
        chat.run(Some("ws-user"), None, input, &mut support::Screen(shown, Vec::new()))
    });
    screen_until(&screen, "* you are now ws-user in lobby");
    // One notice, under its name, once its arrival grace ends (`hub::arrivals`).
    until(&mut nc, "* ws-user has entered lobby");

    keys.send("안녕, from the WebSocket".into()).unwrap();
    until(&mut nc, "ws-user: 안녕, from the WebSocket");
    screen_until(&screen, "[you] 안녕, from the WebSocket");
    nc.send("hello from nc\n");
    screen_until(&screen, "nc-user: hello from nc");

    // An HTTP client posts; both others see it, and a poll shows all three.
    let body = r#"{"nick":"curl","text":"hello from HTTP"}"#;
    let mut http = TcpStream::connect(server.addr).unwrap();
    write!(
        http,
        "POST /send HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        server.addr,
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    http.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    until(&mut nc, "curl: hello from HTTP");
    screen_until(&screen, "curl: hello from HTTP");

    leave(&writer);
    until(&mut nc, "* ws-user has left the chat");
    assert_eq!(client.join().unwrap(), Ok(()));
}

#[test]
fn the_page_is_served_and_only_its_own_origin_may_open_a_websocket() {
    let (server, _) = lab_server(Limits::default());
    let mut page = TcpStream::connect(server.addr).unwrap();
    write!(page, "GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", server.addr).unwrap();
    let mut response = String::new();
    page.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{}", &response[..100]);
    assert!(response.contains("Content-Type: text/html; charset=utf-8"));
    for transport in ["WebSocket", "Server-Sent Events", "long polling", "polling"] {
        assert!(response.contains(transport), "the page offers no {transport}");
    }

    // The icon every browser asks for on its own: an answer, not a 404 in the log.
    let mut icon = TcpStream::connect(server.addr).unwrap();
    write!(icon, "GET /favicon.ico HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", server.addr).unwrap();
    let mut response = String::new();
    icon.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.contains("Content-Type: image/svg+xml") && response.ends_with("</svg>"), "{response}");

    let own = format!("http://{}", server.addr);
    for origin in [None, Some(own.as_str()), Some("http://trusted.example")] {
        let mut ws = ws_client(server.addr, origin).unwrap_or_else(|e| panic!("{origin:?} refused: {e}"));
        text_until(&mut ws, "* welcome to the socket-steps chat! /help lists the commands");
    }
    for origin in ["https://evil.example", "http://localhost:1"] {
        match ws_client(server.addr, Some(origin)) {
            Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
            other => panic!("{origin} was not refused: {:?}", other.map(|_| ())),
        }
    }
}

#[test]
fn rule_breakers_get_their_close_code_and_the_room_carries_on() {
    let (server, tcp) = lab_server(Limits::default());
    let mut nc = tcp_member(tcp, "watcher");
    let too_long = "x".repeat(ws_chat::MAX_MESSAGE + 1);
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (common::frame::encode(0x1, b"/nick unmasked", None), 1002),
        (common::frame::encode(0x1, b"caf\xe9", Some([1, 2, 3, 4])), 1007),
        (common::frame::encode(0x1, too_long.as_bytes(), Some([1, 2, 3, 4])), 1009),
    ];
    for (bytes, code) in cases {
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        let already = client::upgrade::upgrade(
            &mut stream,
            &server.addr.to_string(),
            "/ws",
            client::upgrade::HANDSHAKE_TIMEOUT,
            &client::lessons::ws_chat::EXPECTED,
        )
        .unwrap();
        stream.write_all(&bytes).unwrap();
        let mut input = std::io::Cursor::new(already).chain(&stream);
        let close = (0..10)
            .map(|_| common::frame::read(&mut input, 1 << 20).unwrap())
            .find(|frame| frame.opcode == 0x8)
            .expect("no close frame");
        assert_eq!(close.close_code(), Some(code));
    }
    nc.send("still here\n");
    until(&mut nc, "watcher: still here");
}

#[test]
fn shutdown_sends_going_away_and_a_full_server_says_try_again_later() {
    let (mut server, _) = lab_server(Limits { max_members: 1, ..Limits::default() });
    let mut first = ws_client(server.addr, None).unwrap();
    text_until(&mut first, "* you are now guest-1 in lobby");
    let mut second = ws_client(server.addr, None).unwrap();
    match second.read().unwrap() {
        Message::Close(Some(frame)) => {
            assert_eq!(u16::from(frame.code), 1013);
            assert!(frame.reason.contains("server full"), "{}", frame.reason);
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    server.stop_within(Duration::from_secs(1)).unwrap();
    loop {
        match first.read() {
            Ok(Message::Close(Some(frame))) => break assert_eq!(u16::from(frame.code), 1001),
            Ok(_) => continue,
            Err(e) => panic!("no close frame before {e}"),
        }
    }
}
