//! Chapter 14's WebSocket echo on one thread: tungstenite over non-blocking sockets, resumed on
//! readiness at every step (the handshake, reads, flushes), and the limits on hostile peers.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::ws::unfinished::{Budget, Guard};
use server::evloop::Config;
use server::lessons::one_thread_echo;
use support::{slow, start, Running, DEADLINE};
use tungstenite::Message;

fn server(config: Config) -> Running {
    start(move |listener, shutdown| one_thread_echo::run_ws(listener, shutdown, &config))
}

fn client_over(stream: TcpStream, addr: SocketAddr) -> tungstenite::WebSocket<TcpStream> {
    let config =
        tungstenite::protocol::WebSocketConfig::default().max_message_size(None).max_frame_size(None);
    tungstenite::client::client_with_config(format!("ws://{addr}/"), stream, Some(config)).expect("upgrade").0
}

fn client(addr: SocketAddr) -> tungstenite::WebSocket<TcpStream> {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    client_over(stream, addr)
}

/// The close code in the server's next frame, which must be a Close.
fn close_code(ws: &mut tungstenite::WebSocket<TcpStream>) -> u16 {
    loop {
        match ws.read() {
            Ok(Message::Close(Some(frame))) => return frame.code.into(),
            Ok(Message::Close(None)) => return 1005,
            Ok(_) => continue,
            Err(e) => panic!("no Close frame: {e}"),
        }
    }
}

const REQUEST: &str = "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                       Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

#[test]
fn text_binary_ping_and_close_work_as_on_the_threaded_server() {
    let server = server(Config::default());
    let mut ws = client(server.addr);
    for message in [Message::text("짧은 글"), Message::binary((0..=255).collect::<Vec<u8>>())] {
        ws.send(message.clone()).unwrap();
        assert_eq!(ws.read().unwrap(), message);
    }
    ws.send(Message::Ping(b"are you there".to_vec().into())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Pong(b"are you there".to_vec().into()));
    ws.close(None).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Close(None));
    assert!(matches!(ws.read(), Err(tungstenite::Error::ConnectionClosed)));
}

#[test]
fn a_handshake_sent_in_pieces_is_resumed_on_each_readiness() {
    let server = server(Config::default());
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_nodelay(true).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    // Seven bytes a segment: the server's accept is interrupted some twenty times. (Not one
    // byte at a time: tungstenite refuses a head that takes over 64 reads of under 128 bytes
    // on average, its own guard against slow heads.)
    for piece in REQUEST.as_bytes().chunks(7) {
        stream.write_all(piece).unwrap();
        thread::sleep(Duration::from_millis(2));
    }
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("the 101 before the deadline");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{head}");
    assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
    stream.write_all(&common::frame::encode(0x1, b"after", Some([1, 2, 3, 4]))).unwrap();
    let frame = common::frame::read(&mut stream, 1024).unwrap();
    assert_eq!((frame.opcode, frame.payload), (0x1, b"after".to_vec()));
}

#[test]
fn big_messages_to_a_slow_reader_wait_in_the_write_buffer_and_stall_no_one() {
    let server = server(Config::default());
    let mut slow_ws = client_over(slow::connect(server.addr), server.addr);
    let big = slow::pattern(4 * 1024 * 1024);
    slow_ws.send(Message::binary(big.clone())).unwrap();
    // While that echo leaves in 536-byte segments through a tiny window, others are served.
    let mut quick = client(server.addr);
    let start = Instant::now();
    for i in 0..20 {
        quick.send(Message::text(format!("quick {i}"))).unwrap();
        assert_eq!(quick.read().unwrap(), Message::text(format!("quick {i}")));
    }
    assert!(start.elapsed() < Duration::from_secs(3), "20 quick echoes took {:?}", start.elapsed());
    slow_ws.get_ref().set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    assert!(slow_ws.read().unwrap() == Message::binary(big), "the big echo came back changed");
}

#[test]
fn an_oversized_frame_is_refused_with_1009() {
    let server = server(Config::default());
    let mut ws = client(server.addr);
    // A frame head that announces 17 MiB: refused from the head, before any payload.
    let mut head = vec![0x82, 0x80 | 127];
    head.extend_from_slice(&(17u64 << 20).to_be_bytes());
    head.extend_from_slice(&[1, 2, 3, 4]);
    // And more of its payload than the read buffer holds: tungstenite must never be read on
    // after the refusal (it would wait for the payload it did not make room for).
    head.extend_from_slice(&[b'x'; 3 * server::evloop::ws::READ_BUFFER]);
    let _ = ws.get_mut().write_all(&head);
    assert_eq!(close_code(&mut ws), 1009);
    let mut next = client(server.addr);
    next.send(Message::text("still here")).unwrap();
    assert_eq!(next.read().unwrap(), Message::text("still here"));
}

#[test]
fn slowloris_and_endless_heads_are_cut() {
    let config = Config { head: Duration::from_millis(400), ..Config::default() };
    let server = server(config);
    let mut slowloris = TcpStream::connect(server.addr).unwrap();
    slowloris.set_read_timeout(Some(DEADLINE)).unwrap();
    slowloris.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut endless = TcpStream::connect(server.addr).unwrap();
    endless.set_read_timeout(Some(DEADLINE)).unwrap();
    let header = format!("X-Long: {}\r\n", "a".repeat(10_000));
    endless.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    let _ = endless.write_all(header.as_bytes());
    let start = Instant::now();
    for stream in [&mut slowloris, &mut endless] {
        let mut rest = Vec::new();
        let ended = match stream.read_to_end(&mut rest) {
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        };
        assert!(ended, "the connection was not closed");
    }
    assert!(start.elapsed() < Duration::from_secs(3), "took {:?}", start.elapsed());
    // The loop still serves a polite client.
    let mut ws = client(server.addr);
    ws.send(Message::text("still here")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("still here"));
}

#[test]
fn ctrl_c_sends_1001_to_everyone_within_a_second() {
    let mut server = server(Config::default());
    let mut clients: Vec<_> = (0..5).map(|_| client(server.addr)).collect();
    for ws in &mut clients {
        ws.send(Message::text("hi")).unwrap();
        assert_eq!(ws.read().unwrap(), Message::text("hi"));
    }
    let start = Instant::now();
    server.stop_within(Duration::from_secs(1)).unwrap();
    assert!(start.elapsed() < Duration::from_secs(1));
    for ws in &mut clients {
        assert_eq!(close_code(ws), 1001);
    }
}

#[test]
fn the_client_over_the_cap_gets_503() {
    let server = server(Config { max_connections: 1, ..Config::default() });
    let mut first = client(server.addr);
    first.send(Message::text("one")).unwrap();
    assert_eq!(first.read().unwrap(), Message::text("one"));
    let mut second = TcpStream::connect(server.addr).unwrap();
    second.set_read_timeout(Some(DEADLINE)).unwrap();
    let _ = second.write_all(REQUEST.as_bytes());
    let mut answer = String::new();
    let _ = second.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{answer}");
    assert!(answer.ends_with("* server busy: 1 clients already connected, try again later\n"), "{answer}");
}

/// A first fragment (no FIN) of a binary message: the message stays unfinished after it.
fn first_fragment(payload: &[u8]) -> Vec<u8> {
    let mut frame = common::frame::encode(0x2, payload, Some([1, 2, 3, 4]));
    frame[0] &= 0x7f;
    frame
}

#[test]
fn a_message_past_its_deadline_gets_1008_and_others_go_on() {
    let unfinished = Guard { deadline: Duration::from_millis(300), ..Guard::default() };
    let server = server(Config { unfinished, ..Config::default() });
    let mut slow = client(server.addr);
    slow.get_mut().write_all(&first_fragment(b"the rest never comes")).unwrap();
    let mut other = client(server.addr);
    other.send(Message::text("still here")).unwrap();
    assert_eq!(other.read().unwrap(), Message::text("still here"));
    let start = Instant::now();
    assert_eq!(close_code(&mut slow), 1008);
    assert!(start.elapsed() < Duration::from_secs(3), "took {:?}", start.elapsed());
    other.send(Message::binary(vec![7; 100_000])).unwrap();
    assert_eq!(other.read().unwrap(), Message::binary(vec![7; 100_000]));
}

#[test]
fn unfinished_messages_over_the_budget_get_1009() {
    let unfinished = Guard { budget: Budget::new(1_500), ..Guard::default() };
    let server = server(Config { unfinished, ..Config::default() });
    let ping = common::frame::encode(0x9, b"p", Some([1, 2, 3, 4]));
    let mut first = client(server.addr);
    first.get_mut().write_all(&first_fragment(&[1; 1_000])).unwrap();
    // The pong says the server has read the fragment before the second client's comes.
    first.get_mut().write_all(&ping).unwrap();
    assert_eq!(first.read().unwrap(), Message::Pong(b"p".to_vec().into()));
    let mut second = client(server.addr);
    second.get_mut().write_all(&first_fragment(&[2; 1_000])).unwrap();
    assert_eq!(close_code(&mut second), 1009);
    // The first finishes its message and has its echo; a big whole message is unaffected.
    first.get_mut().write_all(&common::frame::encode(0x0, b"end", Some([1, 2, 3, 4]))).unwrap();
    let mut whole = vec![1; 1_000];
    whole.extend_from_slice(b"end");
    assert_eq!(first.read().unwrap(), Message::binary(whole));
}
