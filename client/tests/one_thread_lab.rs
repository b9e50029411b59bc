//! Chapter 14's lab on one thread: `nc`, the WebSocket chat and the page on one hub, one loop.
//! (tests/one_thread_chat.rs runs the lab's WebSocket suite against it too.)

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;

use server::hub::Limits;
use support::{Raw, DEADLINE};
use tungstenite::Message;

fn one_thread_lab() -> (support::Running, std::net::SocketAddr) {
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_addr = tcp.local_addr().unwrap();
    let hub = std::sync::Arc::new(server::hub::Hub::new(Limits::default()));
    let config = server::evloop::Config::default();
    let run = move |web, s: &common::Shutdown| {
        server::lessons::one_thread_lab::run(tcp, web, s, hub, &config, Default::default())
    };
    (support::start(run), tcp_addr)
}

#[test]
fn nc_and_a_websocket_member_share_a_room_and_the_chat_checker_passes() {
    let (server, tcp) = one_thread_lab();
    let mut nc = Raw::connect(tcp);
    nc.send("/nick nc-user\n");
    assert!((0..10).any(|_| nc.line() == "* you are now nc-user in lobby"));

    let stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let (mut ws, _) = tungstenite::client::client(format!("ws://{}/ws", server.addr), stream).unwrap();
    ws.send(Message::text("/nick ws-user")).unwrap();
    assert!((0..10).any(|_| nc.line() == "* guest-2 is now known as ws-user"));
    ws.send(Message::text("안녕, from the loop")).unwrap();
    assert!((0..10).any(|_| nc.line() == "ws-user: 안녕, from the loop"));
    nc.send("hello from nc\n");
    let heard =
        (0..20).any(|_| matches!(ws.read(), Ok(Message::Text(t)) if t.as_str() == "nc-user: hello from nc"));
    assert!(heard, "the WebSocket member never heard nc");

    let mut out = Vec::new();
    let report = client::check::run("chat", Some(&tcp.to_string()), &mut out).unwrap();
    assert_eq!(report.failed, 0, "{}", String::from_utf8_lossy(&out));
}

#[test]
fn the_http_transports_are_pointed_to_the_threaded_lab() {
    let (server, _) = one_thread_lab();
    let mut http = TcpStream::connect(server.addr).unwrap();
    http.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(http, "GET /poll?room=lobby HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr).unwrap();
    let mut answer = String::new();
    let _ = http.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n"), "{answer}");
    assert!(answer.contains("cargo server lab"), "{answer}");
}
