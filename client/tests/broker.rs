//! Two labs, one room, through a real Redis (issue 16): every member on either server sees every
//! message exactly once and in one order, whatever the transport; an SSE client moves between
//! servers without a gap or a duplicate; a broker that dies and comes back splits the room, then
//! joins it again. The tests that need `redis-server` say so and pass without it.

#[path = "support/labs.rs"]
mod labs;
#[path = "support/redis_server.rs"]
mod redis_server;
mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use labs::{lab_with_broker, tcp_member, wait_for};
use redis_server::RedisServer;
use server::hub::{Broker, Hub, Limits};
use support::DEADLINE;
use tungstenite::Message;

/// How long a whole exchange of thousands of messages may take on a busy 2-core machine.
const LONG: Duration = Duration::from_secs(120);

fn ws_member(addr: SocketAddr, room: &str) -> tungstenite::WebSocket<TcpStream> {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let (mut ws, _) = tungstenite::client::client(format!("ws://{addr}/ws"), stream).unwrap();
    ws.send(Message::text(format!("/join {room}"))).unwrap();
    'joined: loop {
        if let Message::Text(text) = ws.read().unwrap() {
            if text
                .lines()
                .any(|line| line.starts_with("* you are now ") && line.ends_with(&format!(" in {room}")))
            {
                break 'joined;
            }
        }
    }
    ws
}

/// An SSE stream of `room`, from `last` on (`Last-Event-ID`), past its response head.
fn sse(addr: SocketAddr, room: &str, last: Option<u64>) -> BufReader<TcpStream> {
    support::open_stream(addr, room, last)
}

/// The next message event of an SSE stream: its id and `nick: text`.
fn next_sse_message(stream: &mut BufReader<TcpStream>) -> (u64, String) {
    let mut id = 0;
    loop {
        let mut line = String::new();
        assert!(stream.read_line(&mut line).unwrap() > 0, "the stream ended");
        if let Some(n) = line.strip_prefix("id: ") {
            id = n.trim().parse().unwrap();
        } else if let Some(data) = line.strip_prefix("data: ") {
            let event: serde_json::Value = serde_json::from_str(data).unwrap();
            assert_eq!(event["id"].as_u64(), Some(id));
            if event["kind"] == "message" {
                return (
                    id,
                    format!("{}: {}", event["nick"].as_str().unwrap(), event["text"].as_str().unwrap()),
                );
            }
        }
    }
}

/// `POST /send`; returns the id the server gave the message.
fn post(addr: SocketAddr, room: &str, nick: &str, text: &str) -> u64 {
    let answer = support::post(addr, room, nick, text);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    let body: serde_json::Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    body["id"].as_u64().unwrap_or_else(|| panic!("no id in {body}"))
}

/// The chat messages (`nick: msg …`) among `lines`.
fn messages(lines: &str) -> impl Iterator<Item = String> + '_ {
    lines.lines().filter(|line| line.contains(": msg ")).map(str::to_string)
}

/// Checks that `seen` holds each sender's messages 0..per exactly once, in the order sent.
fn check_complete(who: &str, seen: &[String], senders: &[&str], per: usize) {
    for sender in senders {
        let theirs: Vec<&String> = seen.iter().filter(|m| m.contains(&format!(": msg {sender} "))).collect();
        let expected: Vec<String> = (0..per).map(|i| format!("msg {sender} {i}")).collect();
        let got: Vec<&str> = theirs.iter().map(|m| m.split_once(": ").unwrap().1).collect();
        assert_eq!(got.len(), per, "{who} has {} of {sender}'s {per} messages", got.len());
        assert!(
            got.iter().zip(&expected).all(|(g, e)| g == e),
            "{who}: {sender}'s messages lost, doubled or reordered"
        );
    }
    assert_eq!(seen.len(), senders.len() * per, "{who} saw messages nobody sent");
}

#[test]
fn members_on_two_servers_see_every_message_once_in_one_order() {
    if !RedisServer::installed("members_on_two_servers_see_every_message_once_in_one_order") {
        return;
    }
    const PER: usize = 500;
    let senders = ["tcp-a", "ws-b", "post-a", "post-b"];
    let redis = RedisServer::start();
    let (a, b) =
        (lab_with_broker(&redis.url(), Limits::default()), lab_with_broker(&redis.url(), Limits::default()));
    let total = senders.len() * PER;
    let started = Instant::now();

    // Listeners first: two TCP members, a WebSocket member and a stream on each server.
    let mut readers = Vec::new();
    for (name, lab) in [("tcp member on A", &a), ("tcp member on B", &b)] {
        let mut member = tcp_member(lab.tcp, "big");
        let writer = member.stream.try_clone().unwrap();
        let reader = thread::spawn(move || {
            let mut seen = Vec::new();
            while seen.len() < total && started.elapsed() < LONG {
                seen.extend(messages(&member.line()));
            }
            seen
        });
        readers.push((name, writer, reader));
    }
    let mut ws_a = ws_member(a.web, "big");
    ws_a.get_mut().set_read_timeout(Some(LONG)).unwrap();
    let ws_reader = thread::spawn(move || {
        let mut seen = Vec::new();
        while seen.len() < total && started.elapsed() < LONG {
            if let Message::Text(text) = ws_a.read().unwrap() {
                seen.extend(messages(&text));
            }
        }
        seen
    });
    let streams: Vec<_> = [a.web, b.web]
        .into_iter()
        .map(|web| {
            let mut stream = sse(web, "big", None);
            stream.get_mut().set_read_timeout(Some(LONG)).unwrap();
            thread::spawn(move || (0..total).map(|_| next_sse_message(&mut stream)).collect::<Vec<_>>())
        })
        .collect();

    let mut ws_b = ws_member(b.web, "big");

    // Then the senders, all at once: TCP on A, WebSocket on B, POST on A and on B.
    let tcp_sender = &readers[0].1;
    let mut tcp_sender = tcp_sender.try_clone().unwrap();
    let tcp_thread = thread::spawn(move || {
        (0..PER).for_each(|i| tcp_sender.write_all(format!("msg tcp-a {i}\n").as_bytes()).unwrap())
    });
    let post_threads: Vec<_> = [("post-a", a.web), ("post-b", b.web)]
        .into_iter()
        .map(|(nick, web)| {
            thread::spawn(move || {
                (0..PER).for_each(|i| {
                    post(web, "big", nick, &format!("msg {nick} {i}"));
                })
            })
        })
        .collect();
    // The WebSocket member sends and reads on one socket, in turns (it must keep reading, or
    // flood control would hold everybody back for it).
    ws_b.get_mut().set_read_timeout(Some(Duration::from_millis(1))).unwrap();
    let mut ws_b_seen = Vec::new();
    let mut sent = 0;
    while ws_b_seen.len() < total && started.elapsed() < LONG {
        if sent < PER {
            ws_b.send(Message::text(format!("msg ws-b {sent}"))).unwrap();
            sent += 1;
        }
        match ws_b.read() {
            Ok(Message::Text(text)) => ws_b_seen.extend(messages(&text)),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if common::net::is_timeout(&e) => {}
            Err(e) => panic!("the WebSocket member on B failed: {e}"),
        }
    }
    tcp_thread.join().unwrap();
    post_threads.into_iter().for_each(|t| t.join().unwrap());

    let mut all = vec![("ws member on B", ws_b_seen), ("ws member on A", ws_reader.join().unwrap())];
    all.extend(readers.into_iter().map(|(name, _, reader)| (name, reader.join().unwrap())));
    for (name, stream) in ["stream on A", "stream on B"].into_iter().zip(streams) {
        let events = stream.join().unwrap();
        assert!(events.windows(2).all(|w| w[0].0 < w[1].0), "{name}: ids not increasing");
        all.push((name, events.into_iter().map(|(_, m)| m).collect()));
    }
    for (name, seen) in &all {
        check_complete(name, seen, &senders, PER);
        assert_eq!(seen, &all[0].1, "{name} saw another order than {}", all[0].0);
    }
}

#[test]
fn a_stream_moves_from_one_server_to_the_other_without_gap_or_duplicate() {
    if !RedisServer::installed("a_stream_moves_from_one_server_to_the_other_without_gap_or_duplicate") {
        return;
    }
    const COUNT: usize = 300;
    let redis = RedisServer::start();
    // A history longer than the run: the move may take a while on a busy machine.
    let limits = Limits { history_len: 1000, ..Limits::default() };
    let (a, b) = (lab_with_broker(&redis.url(), limits.clone()), lab_with_broker(&redis.url(), limits));
    let mut stream = sse(a.web, "move", None);
    let poster = thread::spawn(move || {
        (0..COUNT)
            .map(|i| {
                post(if i % 2 == 0 { a.web } else { b.web }, "move", "poster", &format!("msg poster {i}"))
            })
            .collect::<Vec<u64>>()
    });
    let mut seen: Vec<(u64, String)> = (0..COUNT / 3).map(|_| next_sse_message(&mut stream)).collect();
    drop(stream);
    let mut stream = sse(b.web, "move", seen.last().map(|(id, _)| *id));
    seen.extend((COUNT / 3..COUNT).map(|_| next_sse_message(&mut stream)));
    let ids = poster.join().unwrap();
    assert_eq!(seen.iter().map(|(id, _)| *id).collect::<Vec<_>>(), ids, "ids differ from what POST answered");
    let texts: Vec<String> = seen.into_iter().map(|(_, m)| m).collect();
    check_complete("the moving stream", &texts, &["poster"], COUNT);
}

#[test]
fn a_nickname_is_unique_across_servers_look_alikes_included() {
    if !RedisServer::installed("a_nickname_is_unique_across_servers_look_alikes_included") {
        return;
    }
    let redis = RedisServer::start();
    let (a, b) =
        (lab_with_broker(&redis.url(), Limits::default()), lab_with_broker(&redis.url(), Limits::default()));
    let (mut alice, mut other) = (tcp_member(a.tcp, "names"), tcp_member(b.tcp, "names"));
    alice.send("/nick Alice\n");
    assert!(wait_for(&mut alice, |l| l.starts_with("* you are now Alice")).is_some());
    // Cyrillic а: the same skeleton, on the other server.
    other.send("/nick \u{0430}lice\n");
    let refused = wait_for(&mut other, |l| l.starts_with("! ")).unwrap_or_default();
    assert!(refused.contains("another server"), "{refused}");
    // Once Alice leaves, the name is free for the other server's member.
    alice.send("/quit\n");
    assert!(wait_for(&mut other, |l| l.contains("Alice has left")).is_some());
    other.send("/nick alice\n");
    assert!(wait_for(&mut other, |l| l.starts_with("* you are now alice")).is_some());
}

#[test]
fn an_idle_lab_stays_joined_to_its_broker() {
    if !RedisServer::installed("an_idle_lab_stays_joined_to_its_broker") {
        return;
    }
    let redis = RedisServer::start();
    let hub = Hub::with_broker(Limits::default(), Broker::new(&redis.url()).unwrap()).unwrap();
    // The reader's first job is refreshing its members' nickname claims, of which there are
    // none: that must not look like a broken broker (it once sent Redis an empty pipeline).
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        assert!(!hub.is_split(), "an idle lab split from a broker that is up");
        thread::sleep(Duration::from_millis(20));
    }
    hub.close();
    hub.join_reader();
}

/// Issue 21, item 5, across servers: the lobby is told of a guest once it has settled (its first
/// line, or the arrival grace), so a guest on the other server that takes a name and moves on at
/// once never crosses the broker; one that stays, silent, does, once, when its grace ends.
#[test]
fn only_a_settled_guest_is_relayed_to_the_other_server() {
    if !RedisServer::installed("only_a_settled_guest_is_relayed_to_the_other_server") {
        return;
    }
    let redis = RedisServer::start();
    let (a, b) =
        (lab_with_broker(&redis.url(), Limits::default()), lab_with_broker(&redis.url(), Limits::default()));
    let mut watcher = support::Raw::connect(a.tcp);
    watcher.send("/nick watcher\n");
    // Its own arrival (a server announcing guests at once says the rename instead).
    let settled = |l: &str| l == "* watcher has entered lobby" || l.ends_with(" is now known as watcher");
    assert!(wait_for(&mut watcher, settled).is_some(), "the watcher never settled");

    // compare's publisher on server B: a name and its own room, in one write, then it goes.
    let mut passing = support::Raw::connect(b.tcp);
    passing.send("/nick pub-relay\n/join bench\n");
    assert!(wait_for(&mut passing, |l| l == "* you are now pub-relay in bench").is_some());
    passing.send("/quit\n");
    assert!(wait_for(&mut passing, |l| l == "* bye").is_some());
    // A guest on B that stays and says nothing.
    let mut silent = support::Raw::connect(b.tcp);
    let whereabouts = wait_for(&mut silent, |l| l.starts_with("* you are now guest-")).unwrap();
    let nick = whereabouts.trim_start_matches("* you are now ").trim_end_matches(" in lobby").to_string();

    // Everything the lobby on A hears until the silent guest is announced there.
    let arrived = format!("* {nick} has entered lobby");
    let mut heard = Vec::new();
    let deadline = Instant::now() + 3 * DEADLINE;
    loop {
        let line = watcher.line();
        if line == arrived {
            break;
        }
        heard.push(line);
        assert!(Instant::now() < deadline && heard.len() < 20, "{heard:?}");
    }
    assert_eq!(heard, Vec::<String>::new(), "the lobby on A heard of a guest that only passed through B");
}
