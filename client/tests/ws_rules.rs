//! The rules every WebSocket server here keeps (ws-echo, the ws chat, the lab's /ws and the
//! handshake lesson): the upgrade request (RFC 6455, section 4.2.1), the names and pages it may
//! come from, the first frame, and the limits on a message still arriving.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::ws::unfinished::{Budget, Guard};
use server::hub::{Hub, Limits};
use server::lessons::ws_chat::Origins;
use server::lessons::{handshake, ws_chat, ws_echo};
use support::{read_head, start, Running, DEADLINE};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The four servers, each with the path its WebSocket lives on.
fn every_server() -> Vec<(&'static str, Running, &'static str)> {
    let chat = Arc::new(Hub::new(Limits::default()));
    vec![
        ("ws-echo", start(|l, s| ws_echo::run(l, s, 8)), "/"),
        (
            "ws chat",
            start(move |l, s| ws_chat::run(l, s, chat, server::http::Limits::default(), Origins::default())),
            "/ws",
        ),
        ("lab", support::lab(Limits::default(), Origins::default()).0, "/ws"),
        ("handshake", start(|l, s| handshake::run(l, s, handshake::MAX_CONNECTIONS)), "/"),
    ]
}

/// An upgrade request for `path` with `Host: host`; `extra` lines go before the blank line.
fn upgrade(method_and_version: (&str, &str), path: &str, host: &str, key: &str, extra: &str) -> String {
    let (method, version) = method_and_version;
    format!(
        "{method} {path} HTTP/{version}\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// Sends `request` and returns the response head (up to the blank line, or what came).
fn answer(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

#[test]
fn every_server_refuses_a_malformed_upgrade_and_accepts_a_host_without_port() {
    for (name, server, path) in every_server() {
        let addr = server.addr.to_string();
        let get = ("GET", "1.1");
        let cases = [
            (upgrade(get, path, &addr, "########################", ""), "400", "not base64"),
            (upgrade(get, path, &addr, "AAAAAAAAAAAAAAAAAAAAAAAA", ""), "400", "18 bytes"),
            (upgrade(get, path, &addr, KEY, &format!("Sec-WebSocket-Key: {KEY}\r\n")), "400", "two keys"),
            (upgrade(("GET", "1.0"), path, &addr, KEY, ""), "400", "HTTP/1.0"),
            (upgrade(("POST", "1.1"), path, &addr, KEY, "Content-Length: 0\r\n"), "405", "POST"),
            (upgrade(get, path, "evil.example", KEY, ""), "421", "a rebinding name"),
            // Typed by hand, as most tutorials do: no port.
            (upgrade(get, path, "localhost", KEY, ""), "101", "Host without a port"),
            (upgrade(get, path, "127.0.0.1", KEY, ""), "101", "Host without a port"),
        ];
        for (request, status, what) in cases {
            let head = answer(server.addr, &request);
            assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{name}, {what}: {head}");
            if status == "405" {
                assert!(head.contains("Allow: GET\r\n"), "{name}: {head}");
            }
        }
        // Only the echo admits every page; the others, only their own.
        let from_nowhere = answer(server.addr, &upgrade(get, path, &addr, KEY, "Origin: null\r\n"));
        let expected = if name == "ws-echo" { "101" } else { "403" };
        assert!(
            from_nowhere.starts_with(&format!("HTTP/1.1 {expected} ")),
            "{name}, Origin: null: {from_nowhere}"
        );
    }
}

/// A raw connection upgraded on `addr`, for frames no library would send.
fn upgraded(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream.write_all(upgrade(("GET", "1.1"), "/", &addr.to_string(), KEY, "").as_bytes()).unwrap();
    let head = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    stream
}

const MASK: Option<[u8; 4]> = Some([0x37, 0xfa, 0x21, 0x3d]);

/// The next frame from the server: (opcode, payload).
fn next_frame(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    let frame = common::frame::read(stream, 1 << 24).expect("a frame before the deadline");
    (frame.opcode, frame.payload)
}

fn close_code(stream: &mut TcpStream) -> u16 {
    let (opcode, payload) = next_frame(stream);
    assert_eq!(opcode, 0x8, "expected a Close frame, got opcode {opcode} ({payload:?})");
    u16::from_be_bytes([payload[0], payload[1]])
}

/// `frame` with its first byte's FIN and RSV bits replaced by `bits`.
fn with_bits(mut frame: Vec<u8>, bits: u8) -> Vec<u8> {
    frame[0] = (frame[0] & 0x0f) | bits;
    frame
}

#[test]
fn the_first_frame_keeps_the_same_rules_on_the_handshake_lesson_as_on_the_echo() {
    use common::frame::encode;
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("unmasked", encode(0x1, b"hello", None), 1002),
        ("RSV1 set", with_bits(encode(0x1, b"hello", MASK), 0x80 | 0x40), 1002),
        ("reserved opcode 3", encode(0x3, b"", MASK), 1002),
        ("a fragmented ping", with_bits(encode(0x9, b"ping", MASK), 0), 1002),
        ("a ping of 126 bytes", encode(0x9, &[b'p'; 126], MASK), 1002),
        ("a continuation first", encode(0x0, b"hello", MASK), 1002),
        ("invalid UTF-8", encode(0x1, b"caf\xe9", MASK), 1007),
        (
            "17 MiB announced",
            [&[0x82u8, 0x80 | 127][..], &(17u64 << 20).to_be_bytes(), &[0; 4]].concat(),
            1009,
        ),
    ];
    let servers = [
        ("handshake", start(|l, s| handshake::run(l, s, handshake::MAX_CONNECTIONS))),
        ("ws-echo", start(|l, s| ws_echo::run(l, s, 8))),
    ];
    for (server_name, server) in &servers {
        for (what, bytes, code) in &cases {
            let mut stream = upgraded(server.addr);
            stream.write_all(bytes).unwrap();
            assert_eq!(close_code(&mut stream), *code, "{server_name}: {what}");
        }
        // A message in two fragments, the first frame without FIN, comes back whole.
        let mut stream = upgraded(server.addr);
        stream.write_all(&with_bits(encode(0x1, b"frag", MASK), 0)).unwrap();
        stream.write_all(&encode(0x0, b"ments", MASK)).unwrap();
        assert_eq!(next_frame(&mut stream), (0x1, b"fragments".to_vec()), "{server_name}");
    }
}

#[test]
fn ctrl_c_tells_every_handshake_client_1001_even_before_its_first_frame() {
    let mut server = start(|l, s| handshake::run(l, s, handshake::MAX_CONNECTIONS));
    // All 16 the lesson serves at once: 12 talking, 4 that have not sent a frame yet.
    let mut talking: Vec<TcpStream> = (0..12).map(|_| upgraded(server.addr)).collect();
    for stream in &mut talking {
        stream.write_all(&common::frame::encode(0x1, b"hi", MASK)).unwrap();
        assert_eq!(next_frame(stream), (0x1, b"hi".to_vec()));
    }
    let mut waiting: Vec<TcpStream> = (0..4).map(|_| upgraded(server.addr)).collect();
    server.stop_within(Duration::from_secs(1)).unwrap();
    for stream in talking.iter_mut().chain(&mut waiting) {
        assert_eq!(close_code(stream), 1001);
    }
}

/// The echo with its limits on unfinished messages shortened to `deadline` and `budget`.
fn guarded_echo(deadline: Duration, budget: &Arc<Budget>) -> Running {
    let guard = Guard { deadline, budget: budget.clone() };
    start(move |l, s| ws_echo::run_within(l, s, server::http::Limits::default(), guard))
}

/// The head of a masked binary frame announcing `len` bytes (64-bit length), and its payload.
fn announce(len: u64) -> Vec<u8> {
    [&[0x82u8, 0x80 | 127][..], &len.to_be_bytes(), &[0; 4]].concat()
}

#[test]
fn a_message_that_stops_halfway_is_closed_with_1008_at_its_deadline_and_a_quiet_client_is_not() {
    let budget = Budget::new(1 << 20);
    let server = guarded_echo(Duration::from_millis(400), &budget);
    let mut quiet = upgraded(server.addr);
    // A ping between messages starts no clock.
    quiet.write_all(&common::frame::encode(0x9, b"still here", MASK)).unwrap();
    assert_eq!(next_frame(&mut quiet), (0xA, b"still here".to_vec()));

    let mut stuck = upgraded(server.addr);
    let began = Instant::now();
    stuck.write_all(&announce(1000)).unwrap();
    stuck.write_all(&[0; 10]).unwrap();
    assert_eq!(close_code(&mut stuck), 1008);
    let took = began.elapsed();
    assert!(took >= Duration::from_millis(400), "closed after {took:?}, before the deadline");

    // The quiet one, silent for longer than the deadline, is still served.
    assert!(began.elapsed() > Duration::from_millis(400));
    quiet.write_all(&common::frame::encode(0x1, b"after a while", MASK)).unwrap();
    assert_eq!(next_frame(&mut quiet), (0x1, b"after a while".to_vec()));
}

#[test]
fn unfinished_messages_share_one_budget_and_the_connection_over_it_gets_1009() {
    let budget = Budget::new(256 * 1024);
    let server = guarded_echo(Duration::from_secs(60), &budget);
    let payload = vec![b'x'; 200 * 1024];
    let frame = common::frame::encode(0x2, &payload, MASK);
    let (first_part, rest) = frame.split_at(150 * 1024);

    let mut first = upgraded(server.addr);
    first.write_all(first_part).unwrap();
    wait_for(|| budget.used() >= 150 * 1024, || format!("the server holds {} bytes", budget.used()));

    let mut second = upgraded(server.addr);
    let _ = second.write_all(first_part); // the server may close before it has read it all
    assert_eq!(close_code(&mut second), 1009);
    // What the second had sent is given back when its connection ends.
    drop(second);
    wait_for(|| budget.used() <= 150 * 1024, || format!("still {} bytes held", budget.used()));

    // The first is unaffected: its message ends, and comes back whole.
    first.write_all(rest).unwrap();
    let (opcode, echoed) = next_frame(&mut first);
    assert!(opcode == 0x2 && echoed == payload, "opcode {opcode}, {} bytes", echoed.len());
    drop(first);
    wait_for(|| budget.used() == 0, || format!("{} bytes never given back", budget.used()));
}

/// Waits (bounded, polling) until `done`; fails saying `why`.
fn wait_for(done: impl Fn() -> bool, why: impl Fn() -> String) {
    let until = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < until, "{}", why());
        std::thread::sleep(Duration::from_millis(5));
    }
}
