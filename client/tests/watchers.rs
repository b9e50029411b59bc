//! Streams on made-up room names (issue 12, item 7): watching a room never opens it, so a client
//! that streams forty-nine invented names leaves every room slot to the people who `/join`.

mod support;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use server::hub::{Hub, Limits, MAX_ROOMS};
use server::lessons::http_chat::{self, Config};
use support::{start, Raw};

fn open_stream(addr: SocketAddr, room: &str) -> BufReader<TcpStream> {
    support::open_stream(addr, room, None)
}

/// Sends `POST /send` for `room`; returns the status line and the body.
fn post(addr: SocketAddr, room: &str) -> String {
    support::post(addr, room, "alice", &format!("hello {room}"))
}

#[test]
fn streams_of_made_up_rooms_leave_every_room_slot_free() {
    let hub = Arc::new(Hub::new(Limits::default()));
    let config = Config { keepalive: Duration::from_millis(200), ..Config::default() };
    let server_hub = hub.clone();
    let server = start(move |listener, shutdown| http_chat::run(listener, shutdown, server_hub, config));
    let streams: Vec<_> = (0..MAX_ROOMS).map(|i| open_stream(server.addr, &format!("made-up-{i}"))).collect();
    assert_eq!(hub.watchers("made-up-7"), 1);
    // Every slot is still there: the lobby and 49 new rooms can be opened by posting to them.
    for i in 1..MAX_ROOMS {
        let answer = post(server.addr, &format!("real-{i}"));
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "room {i}: {answer}");
    }
    // And a watcher of a made-up name hears that room once someone opens it.
    let mut watcher = streams.into_iter().nth(3).unwrap();
    let answer = post(server.addr, "made-up-3");
    // The 50th room: no room was ever spent on the streams.
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    let mut line = String::new();
    for _ in 0..20 {
        line.clear();
        assert!(watcher.read_line(&mut line).unwrap() > 0, "the stream ended");
        if line.starts_with("data: ") {
            break;
        }
    }
    assert!(line.contains(r#""text":"hello made-up-3""#), "{line}");
}

#[test]
fn a_member_can_still_join_a_new_room_beside_many_streams() {
    let hub = Arc::new(Hub::new(Limits { max_rooms: 2, ..Limits::default() }));
    let (web_hub, tcp_hub) = (hub.clone(), hub.clone());
    let web = start(move |listener, shutdown| http_chat::run(listener, shutdown, web_hub, Config::default()));
    let tcp = start(move |listener, shutdown| server::lessons::chat::run(listener, shutdown, tcp_hub));
    let _streams: Vec<_> = (0..10).map(|i| open_stream(web.addr, &format!("x{i}"))).collect();
    let mut member = Raw::connect(tcp.addr);
    member.send("/join games\n");
    let wanted = "* you are now guest-1 in games";
    assert!((0..10).any(|_| member.line() == wanted), "could not join a new room");
}
