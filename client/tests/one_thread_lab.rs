//! Chapter 14's lab on one thread: `nc`, the WebSocket chat and the page on one hub, one loop.
//! (tests/one_thread_chat.rs runs the lab's WebSocket suite against it too.)

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;

use server::hub::Limits;
use support::{Raw, DEADLINE};
use tungstenite::Message;

fn one_thread_lab() -> (support::Running, std::net::SocketAddr) {
    support::one_thread_lab(Limits::default(), Default::default())
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
    // The loop's tick announces it under its name once its arrival grace ends.
    assert!((0..10).any(|_| nc.line() == "* ws-user has entered lobby"));
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

/// One request on a fresh connection; the whole answer (the loop closes after it).
fn get(addr: std::net::SocketAddr, target: &str) -> String {
    let mut http = TcpStream::connect(addr).unwrap();
    http.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(http, "GET {target} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = http.read_to_string(&mut answer);
    answer
}

#[test]
fn the_waiting_http_transports_are_pointed_to_the_threaded_lab() {
    let (server, _) = one_thread_lab();
    for target in ["/long-poll?room=lobby", "/stream?room=lobby"] {
        let answer = get(server.addr, target);
        assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n"), "{target}: {answer}");
        assert!(answer.contains("cargo server lab"), "{target}: {answer}");
    }
}

/// `GET /poll` is answered at once, from the room's history, as chapter 5's lab answers it: the
/// page catches up with it before its WebSocket joins (it showed "could not catch up" before).
#[test]
fn poll_answers_at_once_with_what_the_room_said() {
    let (server, tcp) = one_thread_lab();
    let mut nc = Raw::connect(tcp);
    nc.send("/nick poller-friend\n");
    nc.send("said before the page came\n");
    assert!((0..10).any(|_| nc.line() == "poller-friend: said before the page came"));
    let answer = get(server.addr, "/poll?room=lobby&since=0");
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let said: Vec<_> =
        json["messages"].as_array().unwrap().iter().filter_map(|m| m["text"].as_str()).collect();
    assert!(said.contains(&"said before the page came"), "{json}");
    let last = json["last"].as_u64().unwrap();
    let later = get(server.addr, &format!("/poll?room=lobby&since={last}"));
    assert!(later.contains("\"messages\":[]"), "nothing is newer than {last}: {later}");
    assert!(get(server.addr, "/poll?since=soon").starts_with("HTTP/1.1 400 Bad Request\r\n"));
}

/// The page joins as `/ws?nick=NICK&room=ROOM`: under its own name, in its room, with no guest
/// step for the room to watch (what the threaded lab does); a taken name makes a guest, told.
#[test]
fn the_page_joins_under_its_own_name_and_room() {
    let (server, tcp) = one_thread_lab();
    let mut nc = Raw::connect(tcp);
    nc.send("/nick nc-user\n/join games\n");
    assert!((0..10).any(|_| nc.line() == "* you are now nc-user in games"));
    let connect = |query: &str| {
        let stream = TcpStream::connect(server.addr).unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        tungstenite::client::client(format!("ws://{}/ws?{query}", server.addr), stream).unwrap().0
    };
    let mut page = connect("nick=%EB%AF%BC%EC%A7%80&room=games");
    let said = |ws: &mut tungstenite::WebSocket<TcpStream>| match ws.read() {
        Ok(Message::Text(text)) => text.to_string(),
        other => panic!("{other:?}"),
    };
    assert_eq!(said(&mut page), "* welcome to the socket-steps chat! /help lists the commands");
    assert_eq!(said(&mut page), "* you are now 민지 in games");
    assert_eq!(nc.line(), "* 민지 has entered games", "no guest first, no rename");
    let mut twin = connect("nick=nc-user&room=games");
    // Its own welcome at once; the lobby hears of the guest only once it settles.
    let lines: Vec<String> = (0..3).map(|_| said(&mut twin)).collect();
    assert!(lines[1].starts_with("* you are now guest-"), "{lines:?}");
    assert!(lines[2].starts_with("! ") && lines[2].contains("nc-user"), "told why: {lines:?}");
}

/// The lab's `/ws` keeps chapter 6's limits: a message stalled past the deadline gets 1008, and
/// the other members chat on.
#[test]
fn a_stalled_message_on_ws_gets_1008_and_the_others_chat_on() {
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_addr = tcp.local_addr().unwrap();
    let hub = std::sync::Arc::new(server::hub::Hub::new(Limits::default()));
    let unfinished = common::ws::unfinished::Guard {
        deadline: std::time::Duration::from_millis(300),
        ..Default::default()
    };
    let config = server::evloop::Config { unfinished, ..Default::default() };
    let server = support::start(move |web, shutdown| {
        server::lessons::one_thread_lab::run(tcp, web, shutdown, hub, &config, Default::default())
    });
    let connect = || {
        let stream = TcpStream::connect(server.addr).unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        tungstenite::client::client(format!("ws://{}/ws", server.addr), stream).unwrap().0
    };
    let mut stalled = connect();
    let mut fragment = common::frame::encode(0x1, b"half a li", Some([1, 2, 3, 4]));
    fragment[0] &= 0x7f; // no FIN: the rest of the message never comes
    stalled.get_mut().write_all(&fragment).unwrap();
    let start = std::time::Instant::now();
    let code = (0..50).find_map(|_| match stalled.read() {
        Ok(Message::Close(frame)) => Some(frame.map_or(1005, |f| u16::from(f.code))),
        Ok(_) => None,
        Err(e) => panic!("no Close frame: {e}"),
    });
    assert_eq!(code, Some(1008));
    assert!(start.elapsed() < std::time::Duration::from_secs(3), "took {:?}", start.elapsed());
    let mut nc = Raw::connect(tcp_addr);
    nc.send("/nick nc-user\n");
    assert!((0..10).any(|_| nc.line() == "* you are now nc-user in lobby"));
    let mut other = connect();
    other.send(Message::text("still here")).unwrap();
    assert!((0..10).any(|_| nc.line().ends_with(": still here")));
}
