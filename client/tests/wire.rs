//! The lab page's wire panel (issue 18): a viewer sees its own connections' heads and frames,
//! never another client's; a viewer that never reads does not slow anyone; viewers are capped.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use server::http::wire::{MAX_VIEWERS, MAX_VIEWERS_PER_ADDRESS};
use server::hub::Limits;
use server::lessons::ws_chat::Origins;
use support::DEADLINE;

const MINE: &str = "0123456789abcdef0123456789abcdef";
const THEIRS: &str = "fedcba9876543210fedcba9876543210";

/// An open `GET /wire`: its events, as the browser's EventSource would assemble them.
struct Viewer(BufReader<TcpStream>);

impl Viewer {
    fn open(addr: SocketAddr, token: &str) -> Viewer {
        let (status, viewer) = Viewer::try_open(addr, token);
        assert_eq!(status, 200, "GET /wire?token={token}");
        viewer
    }

    fn try_open(addr: SocketAddr, token: &str) -> (u16, Viewer) {
        Viewer::try_open_from("127.0.0.1", addr, token)
    }

    /// From `local`, an address of this machine: one address holds a quarter of the slots.
    fn try_open_from(local: &str, addr: SocketAddr, token: &str) -> (u16, Viewer) {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.bind(&format!("{local}:0").parse::<SocketAddr>().unwrap().into()).unwrap();
        socket.connect(&addr.into()).unwrap();
        let mut stream: TcpStream = socket.into();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        stream
            .write_all(format!("GET /wire?token={token} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
            .unwrap();
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        (status[9..12].parse().unwrap(), Viewer(reader))
    }

    /// The next event's name and data.
    fn event(&mut self) -> (String, String) {
        let (mut name, mut data) = ("message".to_string(), Vec::new());
        loop {
            let mut line = String::new();
            assert!(self.0.read_line(&mut line).unwrap() > 0, "the wire stream ended");
            let line = line.trim_end_matches('\n');
            if line.is_empty() && !data.is_empty() {
                return (name, data.join("\n"));
            } else if let Some(event) = line.strip_prefix("event: ") {
                name = event.to_string();
            } else if let Some(text) = line.strip_prefix("data: ") {
                data.push(text.to_string());
            }
        }
    }

    /// Every event's data up to and including the first that holds `wanted`.
    fn until(&mut self, wanted: &str) -> String {
        self.until_all(&[wanted])
    }

    /// Every event's data until each of `wanted` has been seen, in whatever order: the events
    /// of a connection's reader and of its writer are two threads', and a busy machine may
    /// report a write after the read it caused.
    fn until_all(&mut self, wanted: &[&str]) -> String {
        let deadline = Instant::now() + DEADLINE;
        let mut seen = String::new();
        while Instant::now() < deadline {
            let (_, data) = self.event();
            seen.push_str(&data);
            seen.push('\n');
            if wanted.iter().all(|w| seen.contains(w)) {
                return seen;
            }
        }
        panic!("the viewer never saw all of {wanted:?}; it saw:\n{seen}");
    }
}

/// One `GET` on a new connection, its response read whole.
fn get(addr: SocketAddr, target: &str) -> (u16, String) {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    writer.write_all(format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).unwrap();
    let (status, _, body) = support::read_response(&mut BufReader::new(stream), false);
    (status, body)
}

#[test]
fn a_viewer_sees_its_own_heads_and_frames_and_nobody_elses() {
    let (server, _tcp) = support::lab(Limits::default(), Origins::default());
    let addr = server.addr;
    let mut viewer = Viewer::open(addr, MINE);
    assert_eq!(viewer.event().0, "hello");
    // Another page's token, and none at all: neither may show up below.
    assert_eq!(get(addr, &format!("/poll?room=theirs&since=0&wire={THEIRS}")).0, 200);
    assert_eq!(get(addr, "/poll?room=nobodys&since=0").0, 200);

    assert_eq!(get(addr, &format!("/poll?room=mine&since=0&wire={MINE}")).0, 200);
    let seen = viewer.until("HTTP/1.1 200 OK");
    assert!(seen.contains(&format!("http  GET /poll?room=mine&since=0&wire={MINE} HTTP/1.1")), "{seen}");
    assert!(seen.contains("<< from 127.0.0.1"), "the request, as the server read it: {seen}");
    assert!(seen.contains(">> to 127.0.0.1"), "the response, as the server wrote it: {seen}");

    // A WebSocket of ours: the upgrade's heads, then two-byte frame headers.
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let (mut socket, _) = tungstenite::client(format!("ws://{addr}/ws?wire={MINE}"), stream).unwrap();
    let welcome = socket.read().unwrap();
    assert!(welcome.to_text().unwrap().starts_with("* "), "{welcome:?}");
    socket.send(tungstenite::Message::text("/nick wirewatcher")).unwrap();
    let seen = viewer.until_all(&["/nick wirewatcher", "ws    FIN=1 opcode=1 (text) MASK=0"]);
    assert!(seen.contains("http  HTTP/1.1 101 Switching Protocols"), "{seen}");
    assert!(seen.contains("ws    FIN=1 opcode=1 (text) MASK=0"), "a frame the server wrote: {seen}");
    assert!(seen.contains("ws    FIN=1 opcode=1 (text) MASK=1"), "the frame the server read: {seen}");
    let seen = viewer.until("you are now wirewatcher");
    let _ = socket.close(None);

    // Another page's poll after ours: still not shown, and ours is shown again.
    assert_eq!(get(addr, &format!("/poll?room=theirs-again&since=0&wire={THEIRS}")).0, 200);
    assert_eq!(get(addr, &format!("/poll?room=mine-again&since=0&wire={MINE}")).0, 200);
    let later = viewer.until("room=mine-again");
    for everything in [&seen, &later] {
        assert!(!everything.contains("theirs") && !everything.contains("nobodys"), "{everything}");
    }
}

#[test]
fn a_keep_alive_connection_is_shown_only_for_the_requests_with_the_token() {
    let (server, _tcp) = support::lab(Limits::default(), Origins::default());
    let addr = server.addr;
    let mut viewer = Viewer::open(addr, MINE);
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let (mut writer, mut reader) = (stream.try_clone().unwrap(), BufReader::new(stream));
    // One connection, as a browser shares it between two tabs: ours, another's, ours.
    for target in [
        format!("/poll?room=a&wire={MINE}"),
        format!("/poll?room=b&wire={THEIRS}"),
        format!("/poll?room=c&wire={MINE}"),
    ] {
        writer.write_all(format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).unwrap();
        assert_eq!(support::read_response(&mut reader, false).0, 200);
    }
    let seen = viewer.until("GET /poll?room=c");
    assert!(seen.contains("GET /poll?room=a"), "{seen}");
    assert!(!seen.contains("room=b"), "another tab's request on the same connection: {seen}");
}

#[test]
fn a_viewer_that_never_reads_does_not_slow_the_chat_and_is_told_what_it_lost() {
    let (server, _tcp) = support::lab(Limits::default(), Origins::default());
    let addr = server.addr;
    // A viewer that opens its stream and then reads nothing (its receive window fills).
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut stalled: TcpStream = socket.into();
    stalled.set_read_timeout(Some(DEADLINE)).unwrap();
    stalled.write_all(format!("GET /wire?token={MINE} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).unwrap();
    let mut first = [0u8; 12];
    stalled.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");

    // A chat member polling as fast as it can, each request shown to the stalled viewer.
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let (mut writer, mut reader) = (stream.try_clone().unwrap(), BufReader::new(stream));
    let started = Instant::now();
    for i in 0..3000 {
        writer
            .write_all(
                format!("GET /poll?room=busy&since={i}&wire={MINE} HTTP/1.1\r\nHost: {addr}\r\n\r\n")
                    .as_bytes(),
            )
            .unwrap();
        assert_eq!(support::read_response(&mut reader, false).0, 200, "poll {i}");
    }
    // A blocked viewer would have stopped the polls (each read above has a 5 s deadline); this
    // bound only says they went on, and is loose enough for a loaded machine.
    assert!(started.elapsed() < Duration::from_secs(60), "3,000 polls took {:?}", started.elapsed());

    // It reads at last: what did not fit was dropped, and it is told how many.
    let mut viewer = Viewer(BufReader::new(stalled));
    let deadline = Instant::now() + DEADLINE;
    loop {
        assert!(Instant::now() < deadline, "the viewer was never told of lost events");
        let (name, data) = viewer.event();
        if name == "lost" {
            assert!(data.parse::<u64>().unwrap() > 0, "{data}");
            break;
        }
    }
}

#[test]
fn viewers_are_capped_tokens_checked_and_forgotten_when_they_leave() {
    let (server, _tcp) = support::lab(Limits::default(), Origins::default());
    let addr = server.addr;
    assert_eq!(Viewer::try_open(addr, "short").0, 400, "a guessable token");
    assert_eq!(Viewer::try_open(addr, &"x".repeat(65)).0, 400, "a token over the length cap");
    assert_eq!(Viewer::try_open(addr, "0123456789abcdef<script>").0, 400, "a token with other bytes");
    if !cfg!(target_os = "linux") {
        // The cap per address needs several loopback addresses (127.0.0.2, ...): Linux has them.
        return eprintln!("skipping the cap of {MAX_VIEWERS} viewers: it needs 127.0.0.2 and on");
    }
    // From several addresses of this machine, a quarter of the slots each.
    let from = |i: usize| format!("127.0.0.{}", 1 + i / MAX_VIEWERS_PER_ADDRESS);
    let mut open: Vec<Viewer> = (0..MAX_VIEWERS)
        .map(|i| {
            let (status, viewer) = Viewer::try_open_from(&from(i), addr, &format!("viewer-{i:0>16}"));
            assert_eq!(status, 200, "viewer {i}");
            viewer
        })
        .collect();
    assert_eq!(Viewer::try_open_from("127.0.0.99", addr, MINE).0, 503, "one viewer past the cap");
    assert_eq!(Viewer::try_open(addr, &format!("viewer-{:0>16}", 0)).0, 409, "a token watched already");
    // One leaves: its place and its token are free again (once the server notices).
    drop(open.pop());
    let deadline = Instant::now() + DEADLINE;
    let token = format!("viewer-{:0>16}", MAX_VIEWERS - 1);
    while Viewer::try_open_from(&from(MAX_VIEWERS - 1), addr, &token).0 != 200 {
        assert!(Instant::now() < deadline, "the departed viewer's place was never freed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_wire_follows_the_site_rules() {
    let (server, _tcp) = support::lab(Limits::default(), Origins::default());
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream
        .write_all(
            format!("GET /wire?token={MINE} HTTP/1.1\r\nHost: evil.example:{}\r\n\r\n", server.addr.port())
                .as_bytes(),
        )
        .unwrap();
    let mut reader = BufReader::new(stream);
    assert_eq!(support::read_response(&mut reader, false).0, 421, "a rebinding page's /wire");
}

#[test]
fn an_open_viewer_does_not_hold_up_a_stop() {
    let (mut server, _tcp) = support::lab(Limits::default(), Origins::default());
    let mut viewer = Viewer::open(server.addr, MINE);
    assert_eq!(viewer.event().0, "hello");
    server.stop_within(Duration::from_secs(3)).expect("the lab stops with a viewer open");
}
