//! The lab's page switching transport: a WebSocket that closes and comes back under the same
//! nickname within the switch grace is one presence. Nobody else hears it leave and arrive, it
//! gets no second welcome, and the room's history (what the page reads over HTTP meanwhile)
//! never says it left.

mod support;

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use server::hub::Limits;
use support::{Raw, DEADLINE};
use tungstenite::Message;

type Ws = tungstenite::WebSocket<TcpStream>;

/// A grace long enough for a busy machine to reconnect within, short enough to wait out.
const GRACE: Duration = Duration::from_secs(2);

/// The page's way in: `/ws?nick=NICK&room=ROOM`.
fn page(addr: SocketAddr, nick: &str, room: &str) -> Ws {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let (nick, room) = (common::percent::encode(nick), common::percent::encode(room));
    let url = format!("ws://{addr}/ws?nick={nick}&room={room}");
    tungstenite::client(url, stream).expect("upgrade").0
}

fn next_text(ws: &mut Ws) -> String {
    loop {
        match ws.read().expect("a message before the deadline") {
            Message::Text(text) => return text.to_string(),
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => continue,
        }
    }
}

/// Closes as a browser does when the page stops a transport: a close frame, then the answer.
fn close(mut ws: Ws) {
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
}

/// What `member` has been sent up to now: a `/who` round trip, and the lines before its reply.
fn heard(member: &mut Raw) -> (Vec<String>, String) {
    member.send("/who\n");
    let mut before = Vec::new();
    for _ in 0..50 {
        let line = member.line();
        if line.starts_with("* in ") {
            return (before, line);
        }
        before.push(line);
    }
    panic!("no /who reply; got {before:#?}");
}

fn watcher(tcp: SocketAddr) -> Raw {
    let mut watcher = Raw::connect(tcp);
    watcher.send("/nick watcher\n");
    // Its own arrival, once its arrival grace ends (`hub::arrivals`): after it, only others'.
    for _ in 0..10 {
        if watcher.line() == "* watcher has entered lobby" {
            return watcher;
        }
    }
    panic!("the watcher never got its name");
}

#[test]
fn a_switch_within_the_grace_is_one_presence_and_a_longer_absence_is_a_departure() {
    let (server, tcp) = support::lab(Limits { switch_grace: GRACE, ..Limits::default() }, Default::default());
    let mut watcher = watcher(tcp);

    // First arrival under her own name: a welcome, and no guest step to rename.
    let mut minji = page(server.addr, "민지", "lobby");
    assert_eq!(next_text(&mut minji), "* welcome to the socket-steps chat! /help lists the commands");
    assert_eq!(next_text(&mut minji), "* you are now 민지 in lobby");
    assert_eq!(
        heard(&mut watcher),
        (vec!["* 민지 has entered lobby".to_string()], "* in lobby: watcher, 민지".into())
    );

    // The page switches away (to polling, say) and back: nobody hears a thing, and she gets one
    // line, where she is.
    close(minji);
    let mut minji = page(server.addr, "민지", "lobby");
    assert_eq!(next_text(&mut minji), "* you are now 민지 in lobby");
    assert_eq!(heard(&mut watcher), (vec![], "* in lobby: watcher, 민지".into()));
    watcher.send("still here?\n");
    assert_eq!(next_text(&mut minji), "watcher: still here?");
    assert_eq!(watcher.line(), "watcher: still here?");

    // Away for longer than the grace: then she has left, and the room is told.
    close(minji);
    assert_eq!(watcher.line(), "* 민지 has left the chat");
    let polled = support::post(server.addr, "lobby", "watcher", "bye");
    assert!(polled.starts_with("HTTP/1.1 200"), "{polled}");
    let events = poll_texts(server.addr);
    let left: Vec<&String> = events.iter().filter(|t| t.contains("has left")).collect();
    assert_eq!(
        left,
        ["민지 has left the chat"],
        "one departure in the history, after the grace: {events:#?}"
    );
}

#[test]
fn quit_is_leaving_at_once_and_a_taken_name_gets_a_guest_and_an_error() {
    let (server, tcp) = support::lab(
        Limits { switch_grace: Duration::from_secs(600), ..Limits::default() },
        Default::default(),
    );
    let mut watcher = watcher(tcp);
    let mut ada = page(server.addr, "ada", "lobby");
    assert_eq!(next_text(&mut ada), "* welcome to the socket-steps chat! /help lists the commands");
    assert_eq!(next_text(&mut ada), "* you are now ada in lobby");
    assert_eq!(next_text(&mut ada), "* ada has entered lobby");
    ada.send(Message::text("/quit")).unwrap();
    assert_eq!(next_text(&mut ada), "* bye");
    // The hub says "bye" before ada's connection leaves it: wait for the notice, then ask.
    assert_eq!(watcher.line(), "* ada has entered lobby");
    assert_eq!(watcher.line(), "* ada has left the chat");
    assert_eq!(heard(&mut watcher).0, Vec::<String>::new(), "nothing more for the room");

    let mut copy = page(server.addr, "watcher", "lobby");
    assert_eq!(next_text(&mut copy), "* welcome to the socket-steps chat! /help lists the commands");
    assert!(next_text(&mut copy).starts_with("* you are now guest-"));
    let mut error = next_text(&mut copy);
    while !error.starts_with("! ") {
        error = next_text(&mut copy);
    }
    assert_eq!(error, "! the nickname watcher is taken; pick another");
}

/// The lobby's history as the page's polling sees it: every event's text.
fn poll_texts(addr: SocketAddr) -> Vec<String> {
    use std::io::{BufReader, Write};
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(stream, "GET /poll?room=lobby&since=0 HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (status, _, body) = support::read_response(&mut BufReader::new(stream), false);
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    answer["messages"].as_array().unwrap().iter().map(|e| e["text"].as_str().unwrap().to_string()).collect()
}
