//! Lesson 7: the hand-made handshake and frames, against the lesson server and against
//! tungstenite on the other side.

mod support;

use std::net::TcpStream;

use server::lessons::{handshake, ws_echo};
use support::start;
use tungstenite::Message;

#[test]
fn the_hand_made_client_and_the_hand_made_server_understand_each_other() {
    let server = start(|l, s| handshake::run(l, s, handshake::MAX_CONNECTIONS));
    let addr = server.addr.to_string();
    assert_eq!(client::lessons::handshake::run(&addr, "안녕, WebSocket").unwrap(), "안녕, WebSocket");
    // Long enough for the 16-bit length form.
    let long = "x".repeat(300);
    assert_eq!(client::lessons::handshake::run(&addr, &long).unwrap(), long);
}

#[test]
fn the_hand_made_client_works_against_tungstenite_on_the_server() {
    let server = start(|listener, shutdown| ws_echo::run(listener, shutdown, 4));
    assert_eq!(client::lessons::handshake::run(&server.addr.to_string(), "bridged").unwrap(), "bridged");
}

#[test]
fn after_the_first_frame_tungstenite_carries_on_with_the_same_socket() {
    let server = start(|l, s| handshake::run(l, s, handshake::MAX_CONNECTIONS));
    let stream = TcpStream::connect(server.addr).unwrap();
    let (mut ws, response) = tungstenite::client::client(format!("ws://{}/", server.addr), stream).unwrap();
    assert_eq!(response.status(), 101);
    for text in ["first, decoded by hand", "second, by tungstenite", "세 번째"] {
        ws.send(Message::text(text)).unwrap();
        assert_eq!(ws.read().unwrap(), Message::text(text));
    }
    ws.close(None).unwrap();
    assert!(matches!(ws.read(), Ok(Message::Close(_))));
}

#[test]
fn a_plain_http_request_gets_426_from_the_lesson_server() {
    let server = start(|l, s| handshake::run(l, s, handshake::MAX_CONNECTIONS));
    let stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(support::DEADLINE)).unwrap();
    let mut stream = stream;
    let request = format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr);
    std::io::Write::write_all(&mut stream, request.as_bytes()).unwrap();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 426 Upgrade Required\r\n"), "{response}");
    assert!(response.contains("Upgrade: websocket\r\n"), "{response}");
}
