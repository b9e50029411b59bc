//! Lesson 4 end to end: the TCP chat server in-process on 127.0.0.1:0, driven by raw sockets
//! (what `nc` does) and by the real chat client.

mod support;

use std::collections::HashMap;
use std::io::{self, BufReader, Read, Write};
use std::net::SocketAddr;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use client::lessons::chat::{Chat, Sender};
use server::hub::{Hub, Limits};
use server::lessons::{chat, one_thread_chat};
use support::{start, Raw, Running};

/// The threaded chat of lesson 4; the same suite runs against the one-thread chat of chapter 14
/// (tests/one_thread_chat.rs compiles this file again under that name).
fn chat_server(limits: Limits) -> Running {
    let hub = Arc::new(Hub::new(limits));
    if env!("CARGO_CRATE_NAME") == "one_thread_chat" {
        let config = server::evloop::Config::default();
        return start(move |listener, shutdown| one_thread_chat::run(listener, shutdown, hub, &config));
    }
    start(move |listener, shutdown| chat::run(listener, shutdown, hub))
}

/// Reads lines until one equals `wanted`; returns the lines before it. Bounded: at most `max`
/// lines, each within the support deadline.
fn until(client: &mut Raw, wanted: &str, max: usize) -> Vec<String> {
    let mut before = Vec::new();
    for _ in 0..max {
        let line = client.line();
        if line == wanted {
            return before;
        }
        before.push(line);
    }
    panic!("{wanted:?} did not arrive within {max} lines; got {before:#?}");
}

/// A raw member called `nick`, in the lobby, with everything up to its rename read. The lobby
/// hears of it once it settles: its first line, or the hub's arrival grace (`hub::arrivals`).
fn member(addr: SocketAddr, nick: &str) -> Raw {
    let mut client = Raw::connect(addr);
    until(&mut client, "* welcome to the socket-steps chat! /help lists the commands", 1);
    client.send(&format!("/nick {nick}\n"));
    until(&mut client, &format!("* you are now {nick} in lobby"), 100);
    client
}

/// Reads everything already sent to `client` (a `/who` reply comes after it); returns it.
fn drain(client: &mut Raw) -> Vec<String> {
    client.send("/who\n");
    let mut before = Vec::new();
    for _ in 0..1000 {
        let line = client.line();
        if line.starts_with("* in ") {
            return before;
        }
        before.push(line);
    }
    panic!("no /who reply; got {before:#?}");
}

/// Members with these nicknames, in the lobby and announced there (the arrival grace after
/// the last one joined: guests are announced in the order they came), each with everything so
/// far read.
fn members(addr: SocketAddr, nicks: &[&str]) -> Vec<Raw> {
    let mut all: Vec<Raw> = nicks.iter().map(|nick| member(addr, nick)).collect();
    if let Some(last) = nicks.last() {
        let announced = format!("* {last} has entered lobby");
        all.iter_mut().for_each(|client| _ = until(client, &announced, 2 * nicks.len()));
    }
    all.iter_mut().for_each(|client| _ = drain(client));
    all
}

#[test]
fn twenty_clients_times_fifty_messages_arrive_exactly_once_and_in_order() {
    const CLIENTS: usize = 20;
    const MESSAGES: usize = 50;
    let server = chat_server(Limits::default());
    let nicks: Vec<String> = (0..CLIENTS).map(|i| format!("c{i}")).collect();
    // Everybody is in the room before anybody speaks: "every live member" is all twenty.
    let everyone = members(server.addr, &nicks.iter().map(String::as_str).collect::<Vec<_>>());
    let handles: Vec<_> = everyone
        .into_iter()
        .enumerate()
        .map(|(i, mut client)| {
            thread::spawn(move || {
                // Like a person, send the next message after seeing the last one arrive: the
                // server's order is the room's order.
                let mut seen: HashMap<String, Vec<usize>> = HashMap::new();
                let record = |line: String, seen: &mut HashMap<String, Vec<usize>>| {
                    if let Some((nick, text)) = line.split_once(": ") {
                        let n = text.strip_prefix("message ").unwrap().parse().unwrap();
                        seen.entry(nick.to_string()).or_default().push(n);
                    }
                };
                for m in 0..MESSAGES {
                    client.send(&format!("message {m}\n"));
                    let mine = format!("c{i}: message {m}");
                    loop {
                        let line = client.line();
                        let done = line == mine;
                        record(line, &mut seen);
                        if done {
                            break;
                        }
                    }
                }
                while seen.values().map(Vec::len).sum::<usize>() < CLIENTS * MESSAGES {
                    record(client.line(), &mut seen);
                }
                seen
            })
        })
        .collect();
    for (i, handle) in handles.into_iter().enumerate() {
        let seen = handle.join().unwrap();
        assert_eq!(seen.len(), CLIENTS, "c{i} heard from {} senders", seen.len());
        for (sender, numbers) in seen {
            assert_eq!(numbers, (0..MESSAGES).collect::<Vec<_>>(), "c{i} got {sender}'s messages wrong");
        }
    }
}

#[test]
fn korean_written_one_byte_per_write_arrives_whole() {
    let server = chat_server(Limits::default());
    let [alice, mut bob] = members(server.addr, &["alice", "bob"]).try_into().unwrap();
    alice.stream.set_nodelay(true).unwrap();
    for byte in "안녕하세요, 세계!\n".bytes() {
        (&alice.stream).write_all(&[byte]).unwrap();
        (&alice.stream).flush().unwrap();
    }
    until(&mut bob, "alice: 안녕하세요, 세계!", 10);
}

#[test]
fn invalid_utf8_and_overlong_lines_are_refused_and_the_connection_stays_usable() {
    let server = chat_server(Limits::default());
    let [mut alice, mut bob] = members(server.addr, &["alice", "bob"]).try_into().unwrap();
    (&alice.stream).write_all(b"caf\xe9 in latin-1\n").unwrap();
    until(&mut alice, &format!("! {}", common::line::INVALID_UTF8), 10);
    alice.send(&format!("{}\n", "x".repeat(common::protocol::MAX_LINE_BYTES + 1)));
    until(&mut alice, "! line longer than 2048 bytes: not sent", 10);
    let longest = "y".repeat(common::protocol::MAX_LINE_BYTES - "\r".len());
    alice.send(&format!("{longest}\r\nstill here\n"));
    // bob saw neither refused line: the next thing alice said is the next thing he hears.
    assert_eq!(bob.line(), format!("alice: {longest}"));
    assert_eq!(bob.line(), "alice: still here");
}

#[test]
fn nickname_rules_are_enforced() {
    let server = chat_server(Limits::default());
    let [mut alice, mut other] = members(server.addr, &["alice", "김철수"]).try_into().unwrap();
    other.send("/nick ALICE\n");
    assert_eq!(other.line(), "! the nickname ALICE is taken; pick another");
    for (command, error) in [
        ("/nick has space", "! a nickname may hold letters, digits, '-', '_' and '.', not ' '"),
        ("/nick \x1b[31mred", "! a nickname may hold letters, digits, '-', '_' and '.', not '\\u{1b}'"),
        ("/nick a:b", "! a nickname may hold letters, digits, '-', '_' and '.', not ':'"),
        ("/nick 김철수", "! the nickname 김철수 is taken; pick another"),
        ("/nick \u{1100}\u{1175}\u{11B7}철수", "! the nickname \u{1100}\u{1175}\u{11B7}철수 looks too much like 김철수, who is here; pick another"),
    ] {
        alice.send(&format!("{command}\n"));
        assert_eq!(alice.line(), error, "after {command:?}");
    }
    let long = "n".repeat(common::protocol::MAX_NICK_CHARS + 1);
    alice.send(&format!("/nick {long}\n"));
    assert_eq!(alice.line(), "! a nickname has 1 to 24 characters, not 25");
    other.send("/nick 철수\n");
    until(&mut alice, "* 김철수 is now known as 철수", 5);
    alice.send("/nick 김철수\n"); // free again
    until(&mut alice, "* you are now 김철수 in lobby", 5);
}

#[test]
fn rooms_keep_their_messages_apart_and_their_number_is_capped() {
    let server = chat_server(Limits { max_rooms: 2, ..Limits::default() });
    let [mut alice, mut bob] = members(server.addr, &["alice", "bob"]).try_into().unwrap();
    alice.send("/join games\n");
    assert_eq!(until(&mut alice, "* you are now alice in games", 5), ["* alice has entered games"]);
    until(&mut bob, "* alice has left lobby", 5);
    bob.send("/join music\n");
    assert_eq!(bob.line(), "! there are 2 rooms in use, the most this server keeps; /rooms lists them");
    bob.send("/rooms\n");
    assert_eq!(bob.line(), "* rooms: games (1), lobby (1)");
    bob.send("only the lobby hears this\n");
    assert_eq!(bob.line(), "bob: only the lobby hears this");
    alice.send("/who\n");
    assert_eq!(alice.line(), "* in games: alice");
    alice.send("/leave\n");
    until(&mut alice, "* you are now alice in lobby", 5);
    // games is empty now: it is forgotten to make space for music.
    bob.send("/join music\n");
    until(&mut bob, "* you are now bob in music", 5);
    bob.send("/leave\n/leave\n");
    until(&mut bob, "* you are now bob in lobby", 5);
    assert_eq!(bob.line(), "! you are in the lobby already; /quit leaves the chat");
    bob.send("/dance\n");
    assert_eq!(bob.line(), "! unknown command /dance; /help lists the commands");
}

#[test]
fn the_member_over_the_cap_is_refused_with_a_clear_line() {
    let server = chat_server(Limits { max_members: 2, ..Limits::default() });
    let [_alice, mut bob] = members(server.addr, &["alice", "bob"]).try_into().unwrap();
    let mut third = Raw::connect(server.addr);
    assert_eq!(third.line(), "! server full: 2 members already connected, try again later");
    assert!(third.closed());
    bob.send("/quit\n");
    assert_eq!(until(&mut bob, "* bye", 5), Vec::<String>::new());
    assert!(bob.closed());
    // bob's place is free once the hub has let him go; the hub does that before "bye" is read.
    let mut fourth = Raw::connect(server.addr);
    assert_eq!(fourth.line(), "* welcome to the socket-steps chat! /help lists the commands");
}

#[test]
fn nothing_a_peer_sends_can_control_another_terminal() {
    let server = chat_server(Limits::default());
    let [mut alice, mut bob] = members(server.addr, &["alice", "bob"]).try_into().unwrap();
    alice.send("\x1b[2J\x1b[31mred\x1b[0m\x07\x08\x7f\u{9b}31m\u{202e}txt.exe\r\n");
    let line = bob.line();
    assert_eq!(
        line,
        "alice: \u{FFFD}[2J\u{FFFD}[31mred\u{FFFD}[0m\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}31m\u{FFFD}txt.exe"
    );
    assert!(!line.chars().any(char::is_control));
}

#[test]
fn a_member_that_stops_reading_is_dropped_and_nobody_else_waits() {
    let server = chat_server(Limits { flood_mark: 32, stall: Duration::from_secs(1), ..Limits::default() });
    let [mut alice, mut bob] = members(server.addr, &["alice", "bob"]).try_into().unwrap();

    // A member that never reads, with a tiny receive buffer so the stall shows soon.
    let stalled = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    stalled.set_recv_buffer_size(4096).unwrap();
    stalled.connect(&server.addr.into()).unwrap();
    (&stalled).write_all(b"/nick stalled\n").unwrap();
    // Silent after its name: the room hears of it when its arrival grace ends.
    until(&mut alice, "* stalled has entered lobby", 10);
    until(&mut bob, "* stalled has entered lobby", 10);

    let notice = "* stalled stopped reading and was dropped (too slow to keep up)";
    let text = "z".repeat(1000);
    let (mut alice_saw_it, mut bob_saw_it) = (false, false);
    // alice speaks; after each line both healthy members must have it before she goes on, so
    // every message reaches them while the stalled one fills up. Bounded: 3 MB at most, which
    // is more than every buffer between us and the stalled member.
    for i in 0..3000 {
        alice.send(&format!("{i} {text}\n"));
        let message = format!("alice: {i} {text}");
        for (client, saw) in [(&mut alice, &mut alice_saw_it), (&mut bob, &mut bob_saw_it)] {
            let before = until(client, &message, 10);
            *saw |= before.iter().any(|line| line == notice);
            assert!(before.iter().all(|line| line == notice), "unexpected lines: {before:?}");
        }
        if alice_saw_it && bob_saw_it {
            break;
        }
    }
    assert!(alice_saw_it && bob_saw_it, "the stalled member was never dropped");
    bob.send("/who\n");
    assert_eq!(until(&mut bob, "* in lobby: alice, bob", 10), Vec::<String>::new());
}

#[test]
fn an_http_request_at_the_chat_port_gets_one_line_naming_the_web_side_and_is_closed() {
    let server = chat_server(Limits::default());
    let [mut alice] = members(server.addr, &["alice"]).try_into().unwrap();
    let mut browser = Raw::connect(server.addr);
    browser.send(
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:7878\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    );
    let before = until(
        &mut browser,
        "! this is the TCP chat, which speaks lines of text, not HTTP; browsers and WebSocket clients \
         use the web side, http://127.0.0.1:8080/ by default (cargo server lab, or cargo server ws)",
        10,
    );
    assert!(before.iter().all(|line| line.starts_with("* ")), "{before:?}");
    assert!(browser.closed());
    // The room saw nothing of it: gone before it settled (`hub::arrivals`), and none of the
    // request's lines became messages.
    let heard = drain(&mut alice);
    assert_eq!(heard, Vec::<String>::new());
}

#[test]
fn shutdown_tells_every_member_goodbye_and_stops_within_a_second() {
    let mut server = chat_server(Limits::default());
    let mut everyone = members(server.addr, &["alice", "bob", "carol"]);
    server.stop_within(Duration::from_secs(1)).unwrap();
    for client in &mut everyone {
        assert_eq!(client.line(), common::GOODBYE);
        assert!(client.closed());
    }
}

/// Keyboard input that never comes until the test drops the sending end.
struct Keyboard(mpsc::Receiver<Vec<u8>>, Vec<u8>);

impl Read for Keyboard {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.1.is_empty() {
            self.1 = self.0.recv().unwrap_or_default();
        }
        let n = buf.len().min(self.1.len());
        buf[..n].copy_from_slice(&self.1[..n]);
        self.1.drain(..n);
        Ok(n)
    }
}

/// Runs the real chat client on its own thread; returns what it prints when it ends.
fn chat_client(addr: SocketAddr, nick: &str, keys: Keyboard) -> (Sender, thread::JoinHandle<Vec<String>>) {
    let chat = Chat::connect(&addr.to_string()).unwrap();
    let sender = chat.sender();
    let nick = nick.to_string();
    let handle = thread::spawn(move || {
        let mut output = Vec::new();
        chat.run(Some(&nick), None, BufReader::new(keys), &mut output).unwrap();
        String::from_utf8(output).unwrap().lines().map(str::to_string).collect()
    });
    (sender, handle)
}

#[test]
fn the_chat_client_shows_who_and_where_marks_its_own_lines_and_quits_cleanly() {
    let server = chat_server(Limits::default());
    let [mut bob] = members(server.addr, &["bob"]).try_into().unwrap();
    let (typing, keys) = mpsc::channel();
    let (sender, alice) = chat_client(server.addr, "alice", Keyboard(keys, Vec::new()));
    until(&mut bob, "* alice has entered lobby", 10);
    typing.send("hello bob\n".into()).unwrap();
    until(&mut bob, "alice: hello bob", 10);
    bob.send("hi \x1b[31malice\n");
    until(&mut bob, "bob: hi \u{FFFD}[31malice", 10);
    sender.quit(); // what Ctrl-C does
    until(&mut bob, "* alice has left the chat", 10);
    let shown = alice.join().unwrap();
    for expected in ["* you are now alice in lobby", "[you] hello bob", "bob: hi \u{FFFD}[31malice", "* bye"]
    {
        assert!(shown.iter().any(|line| line == expected), "{expected:?} not shown in {shown:#?}");
    }
    assert_eq!(shown.last().unwrap(), "* bye");
    drop(typing);
}

#[test]
fn the_chat_client_ends_when_the_input_ends_and_when_the_server_goes() {
    let server = chat_server(Limits::default());
    let chat = Chat::connect(&server.addr.to_string()).unwrap();
    let mut output = Vec::new();
    chat.run(Some("piped"), Some("room1"), io::Cursor::new("first\nsecond\n"), &mut output).unwrap();
    let shown = String::from_utf8(output).unwrap();
    assert!(shown.contains("* you are now piped in room1\n[you] first\n[you] second\n* bye\n"), "{shown}");

    let mut server = server;
    // dave is in the room first, so he hears carol arrive: wait for that event, not for a
    // number of round trips (which a busy machine outruns).
    let [mut dave] = members(server.addr, &["dave"]).try_into().unwrap();
    let (_typing, keys) = mpsc::channel();
    let (_sender, client) = chat_client(server.addr, "carol", Keyboard(keys, Vec::new()));
    let arrived = (0..10).any(|_| dave.line() == "* carol has entered lobby");
    assert!(arrived, "dave never heard carol arrive");
    server.stop_within(support::DEADLINE).unwrap();
    assert_eq!(client.join().unwrap().last().unwrap(), common::GOODBYE);
}

#[test]
fn quiet_hides_comings_and_goings_from_one_member_only() {
    let server = chat_server(Limits::default());
    let [mut teacher, mut bob] = members(server.addr, &["teacher", "bob"]).try_into().unwrap();
    teacher.send("/quiet\n");
    until(
        &mut teacher,
        "* quiet: you no longer see others enter, leave or change names; /quiet shows them again",
        1,
    );
    let mut student = member(server.addr, "minji");
    student.send("hello\n");
    student.send("/quit\n");
    until(&mut student, "* bye", 10);
    // bob sees all of it; the teacher, the message only (the next line after it is the reply
    // to /who: nothing came in between).
    for line in ["* minji has entered lobby", "minji: hello", "* minji has left the chat"] {
        assert!(until(&mut bob, line, 10).iter().all(|l| !l.contains("minji:")), "{line}");
    }
    assert!(until(&mut teacher, "minji: hello", 1).is_empty());
    assert_eq!(drain(&mut teacher), Vec::<String>::new());
}
