//! Lesson 6 (WebSocket echo) end to end: the server in-process on 127.0.0.1:0, driven by the
//! real client, by tungstenite's client, and by hand-made bytes for what no polite client sends.

mod support;

use std::io::{Cursor, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use server::lessons::ws_echo;
use support::{read_head, start, Running, DEADLINE};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

fn echo_server(max_connections: usize) -> Running {
    start(move |listener, shutdown| ws_echo::run(listener, shutdown, max_connections))
}

/// A tungstenite client, like any library a reader might pick.
fn library_client(addr: SocketAddr) -> tungstenite::WebSocket<TcpStream> {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let config =
        tungstenite::protocol::WebSocketConfig::default().max_message_size(None).max_frame_size(None);
    tungstenite::client::client_with_config(format!("ws://{addr}/"), stream, Some(config)).unwrap().0
}

/// A raw connection that has done the upgrade by hand, for sending frames no library would.
fn upgraded(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream.write_all(&with_host(&upgrade_request(&[]), addr)).unwrap();
    let head = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{head}");
    assert!(head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), "{head}");
    stream
}

/// `request` with its `Host: HOST` naming the server at `addr` (the server answers to its own
/// names only).
fn with_host(request: &[u8], addr: SocketAddr) -> Vec<u8> {
    String::from_utf8_lossy(request).replace("Host: HOST", &format!("Host: {addr}")).into_bytes()
}

/// The RFC 6455 example request (its Host to be filled in by [`with_host`]), with `extra`
/// headers replacing same-named ones.
fn upgrade_request(extra: &[(&str, &str)]) -> Vec<u8> {
    let mut headers = vec![
        ("Host", "HOST"),
        ("Upgrade", "websocket"),
        ("Connection", "keep-alive, Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ];
    for (name, value) in extra {
        headers.retain(|(n, _)| n != name);
        if !value.is_empty() {
            headers.push((name, value));
        }
    }
    let lines: String = headers.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
    format!("GET / HTTP/1.1\r\n{lines}\r\n").into_bytes()
}

/// A client frame: FIN set, the given opcode, masked with a fixed key (or not at all).
fn frame(opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    common::frame::encode(opcode, payload, masked.then_some([0x37, 0xfa, 0x21, 0x3d]))
}

/// The next server frame: (opcode, payload). Server frames are never masked.
fn read_frame(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    let frame = common::frame::read(stream, 1 << 24).expect("a frame before the deadline");
    assert_eq!(frame.mask, None, "the server masked a frame");
    (frame.opcode, frame.payload)
}

/// Reads the server's Close frame and returns its code.
fn close_code(stream: &mut TcpStream) -> u16 {
    let (opcode, payload) = read_frame(stream);
    assert_eq!(opcode, 0x8, "expected a Close frame, got opcode {opcode} ({payload:?})");
    u16::from_be_bytes([payload[0], payload[1]])
}

#[test]
fn the_lesson_client_gets_every_line_back() {
    let server = echo_server(8);
    let mut output = Vec::new();
    let input = Cursor::new("hello\n안녕하세요, 세계!\n\nlast\n");
    let replies = client::lessons::ws_echo::run(&server.addr.to_string(), input, &mut output).unwrap();
    assert_eq!(replies, 4);
    assert_eq!(String::from_utf8(output).unwrap(), "hello\n안녕하세요, 세계!\n\nlast\n");
}

#[test]
fn text_binary_large_and_ping_come_back_unchanged() {
    let server = echo_server(8);
    let mut ws = library_client(server.addr);
    let big: String = (0..2 * 1024 * 1024).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let binary: Vec<u8> = (0..=255).collect();
    for message in [Message::text("짧은 글"), Message::text(big), Message::binary(binary)] {
        ws.send(message.clone()).unwrap();
        assert_eq!(ws.read().unwrap(), message);
    }
    ws.send(Message::Ping(b"are you there".to_vec().into())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Pong(b"are you there".to_vec().into()));
    ws.close(None).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Close(None)); // the server's answer
    assert!(matches!(ws.read(), Err(tungstenite::Error::ConnectionClosed)));
}

#[test]
fn bad_handshakes_get_the_right_http_status() {
    let server = echo_server(8);
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (b"GET / HTTP/1.1\r\nHost: HOST\r\n\r\n".to_vec(), "426 Upgrade Required", "Upgrade: websocket"),
        (
            upgrade_request(&[("Sec-WebSocket-Version", "8")]),
            "426 Upgrade Required",
            "Sec-WebSocket-Version: 13",
        ),
        (
            upgrade_request(&[("Sec-WebSocket-Key", "")]),
            "400 Bad Request",
            "Sec-WebSocket-Key header is missing",
        ),
        (upgrade_request(&[("Connection", "keep-alive")]), "400 Bad Request", "must list `Upgrade`"),
        (
            b"POST / HTTP/1.1\r\nHost: HOST\r\nContent-Length: 0\r\n\r\n".to_vec(),
            "405 Method Not Allowed",
            "Allow: GET",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: HOST\r\nthis is not a header\r\n\r\n".to_vec(),
            "400 Bad Request",
            "malformed request",
        ),
        (
            format!("GET / HTTP/1.1\r\nHost: HOST\r\nX: {}\r\n\r\n", "y".repeat(9000)).into_bytes(),
            "431",
            "over 8192 bytes",
        ),
    ];
    for (request, status, says) in cases {
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        let _ = stream.write_all(&with_host(&request, server.addr)); // it may answer (and close) before all is sent
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        assert!(response.starts_with(&format!("HTTP/1.1 {status}")), "{status}: {response}");
        assert!(response.contains(says), "{status} should say {says:?}: {response}");
        assert!(response.contains("Content-Length: "), "{response}");
    }
    // The server is still fine.
    let mut ws = library_client(server.addr);
    ws.send(Message::text("still here")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("still here"));
}

#[test]
fn rule_breaking_frames_get_the_right_close_code_and_others_carry_on() {
    let server = echo_server(8);
    let mut bystander = library_client(server.addr);
    let cases: Vec<(Vec<u8>, CloseCode)> = vec![
        (frame(0x1, b"hello", false), CloseCode::Protocol), // unmasked client frame
        (frame(0x1, b"caf\xe9", true), CloseCode::Invalid), // not UTF-8
        (frame(0x3, b"", true), CloseCode::Protocol),       // reserved opcode
        // A header announcing 17 MiB: refused before a byte of it is read.
        ([&[0x82u8, 0x80 | 127][..], &(17u64 << 20).to_be_bytes(), &[0, 0, 0, 0]].concat(), CloseCode::Size),
    ];
    for (bytes, expected) in cases {
        let mut stream = upgraded(server.addr);
        stream.write_all(&bytes).unwrap();
        assert_eq!(close_code(&mut stream), u16::from(expected), "after {:02x?}", &bytes[..2]);
    }
    // A client that vanishes in the middle of a frame.
    let mut vanishing = upgraded(server.addr);
    vanishing.write_all(&frame(0x1, b"never finished", true)[..6]).unwrap();
    socket2::SockRef::from(&vanishing).set_linger(Some(Duration::ZERO)).unwrap();
    drop(vanishing);

    bystander.send(Message::text("unaffected")).unwrap();
    assert_eq!(bystander.read().unwrap(), Message::text("unaffected"));
}

#[test]
fn a_client_close_is_echoed_with_its_code() {
    let server = echo_server(8);
    let mut stream = upgraded(server.addr);
    stream.write_all(&frame(0x8, &[0x0f, 0xa0, b'o', b'k'], true)).unwrap(); // 4000, "ok"
    assert_eq!(close_code(&mut stream), 4000);
    let mut rest = Vec::new();
    assert_eq!(
        stream.read_to_end(&mut rest).unwrap(),
        0,
        "the server closes the TCP connection after the handshake"
    );
}

#[test]
fn shutdown_sends_going_away_to_every_client_within_a_second() {
    let mut server = echo_server(8);
    let mut clients: Vec<TcpStream> = (0..3).map(|_| upgraded(server.addr)).collect();
    for stream in &mut clients {
        stream.write_all(&frame(0x1, b"hi", true)).unwrap();
        assert_eq!(read_frame(stream), (0x1, b"hi".to_vec()));
    }
    server.stop_within(Duration::from_secs(1)).unwrap();
    for stream in &mut clients {
        assert_eq!(close_code(stream), 1001);
    }
}

#[test]
fn the_client_over_the_cap_gets_503() {
    let server = echo_server(1);
    let mut first = library_client(server.addr);
    first.send(Message::text("in")).unwrap();
    assert_eq!(first.read().unwrap(), Message::text("in"));
    let mut second = TcpStream::connect(server.addr).unwrap();
    second.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut response = String::new();
    let _ = second.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{response}");
    assert!(response.contains("Retry-After: 5\r\n"), "{response}");
}
