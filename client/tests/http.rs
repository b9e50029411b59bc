//! Lesson 5 end to end: the HTTP chat in-process on 127.0.0.1:0, driven by raw requests (what
//! curl sends) and by the lesson's own clients.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use client::lessons::http::{Connection, Mode, Stats};
use common::Shutdown;
use serde_json::{json, Value};
use server::hub::Limits;
use server::lessons::http_chat::Config;
use support::DEADLINE;

fn quick() -> Config {
    Config {
        long_poll_timeout: Duration::from_millis(300),
        keepalive: Duration::from_millis(100),
        idle: Duration::from_secs(2),
        head_timeout: Duration::from_millis(300),
        max_connections: 100,
    }
}

/// Sends raw bytes on a fresh connection; returns the status code, the head and the body.
fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let _ = stream.write_all(request); // the server may refuse before reading it all
    support::read_response(&mut BufReader::new(stream), false)
}

fn get(addr: SocketAddr, target: &str) -> Value {
    let (status, _, body) =
        raw(addr, format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes());
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn post(addr: SocketAddr, message: &Value) -> (u16, Value) {
    let body = message.to_string();
    let request = format!(
        "POST /send HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (status, _, body) = raw(addr, request.as_bytes());
    (status, serde_json::from_str(&body).unwrap())
}

fn texts(answer: &Value) -> Vec<String> {
    answer["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap().to_string()).collect()
}

#[test]
fn poll_answers_what_is_newer_than_since_and_says_when_some_was_missed() {
    let (server, _hub) = support::http_server(Limits { history_len: 5, ..Limits::default() }, quick());
    for text in ["one", "두울", "three"] {
        let (status, answer) = post(server.addr, &json!({"room": "방", "nick": "poster", "text": text}));
        assert_eq!(status, 200, "{answer}");
    }
    let all = get(server.addr, "/poll?room=%EB%B0%A9&since=0");
    assert_eq!(texts(&all), ["one", "두울", "three"]);
    assert_eq!((all["last"].as_u64(), all["missed"].as_bool()), (Some(3), Some(false)));
    assert_eq!(all["messages"][1]["nick"], "poster");
    assert_eq!(all["messages"][1]["kind"], "message");
    assert_eq!(texts(&get(server.addr, "/poll?room=%EB%B0%A9&since=2")), ["three"]);
    let nothing = get(server.addr, "/poll?room=%EB%B0%A9&since=3");
    assert_eq!((texts(&nothing).len(), nothing["last"].as_u64()), (0, Some(3)));
    for i in 0..10 {
        post(server.addr, &json!({"room": "방", "nick": "poster", "text": format!("m{i}")}));
    }
    let late = get(server.addr, "/poll?room=%EB%B0%A9&since=3");
    assert_eq!(texts(&late), ["m5", "m6", "m7", "m8", "m9"]);
    assert_eq!(late["missed"], true);
}

#[test]
fn long_polling_loses_and_repeats_nothing_while_messages_pour_in() {
    let config = Config { long_poll_timeout: Duration::from_secs(10), ..quick() };
    let (server, hub) = support::http_server(Limits { history_len: 1000, ..Limits::default() }, config);
    // Messages arrive in bursts, also while a long-poll is being answered and asked again.
    let poster = thread::spawn(move || {
        for burst in 0..30 {
            for i in 0..10 {
                hub.post("lobby", "poster", &format!("{}", burst * 10 + i)).unwrap();
            }
            thread::yield_now();
        }
    });
    let stats = Arc::new(Stats::default());
    let mut connection = Connection::new(&server.addr.to_string(), stats.clone(), Shutdown::new());
    let (mut since, mut seen) = (0, Vec::new());
    let deadline = Instant::now() + DEADLINE;
    while seen.len() < 300 && Instant::now() < deadline {
        let response =
            connection.request("GET", &format!("/long-poll?room=lobby&since={since}"), None).unwrap();
        let answer: Value = serde_json::from_slice(&response.body).unwrap();
        seen.extend(texts(&answer).into_iter().map(|t| t.parse::<usize>().unwrap()));
        since = answer["last"].as_u64().unwrap();
    }
    poster.join().unwrap();
    assert_eq!(seen, (0..300).collect::<Vec<_>>());
    assert!(stats.requests.load(std::sync::atomic::Ordering::Relaxed) <= 300);
}

#[test]
fn a_long_poll_with_nothing_new_answers_empty_after_its_timeout() {
    let (server, hub) = support::http_server(Limits::default(), quick());
    let id = hub.post("lobby", "a", "old news").unwrap();
    let started = Instant::now();
    let answer = get(server.addr, &format!("/long-poll?room=lobby&since={id}"));
    assert!(started.elapsed() >= Duration::from_millis(300), "it did not wait");
    assert_eq!((texts(&answer).len(), answer["last"].as_u64()), (0, Some(id)));
}

/// Reads a chunked Server-Sent Events body until `events` data lines have arrived.
fn sse_data(reader: &mut BufReader<TcpStream>, events: usize) -> Vec<String> {
    let mut data = Vec::new();
    let mut line = String::new();
    while data.len() < events {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "the stream ended");
        if let Some(rest) = line.strip_prefix("data: ") {
            data.push(rest.trim_end().to_string());
        }
    }
    data
}

fn open_stream(addr: SocketAddr, extra: &str) -> BufReader<TcpStream> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(stream, "GET /stream?room=lobby HTTP/1.1\r\nHost: {addr}\r\n{extra}\r\n").unwrap();
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        assert!(reader.read_line(&mut head).unwrap() > 0);
    }
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Content-Type: text/event-stream"), "{head}");
    assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
    reader
}

#[test]
fn a_stream_delivers_each_event_with_its_id_and_resumes_from_last_event_id() {
    let (server, hub) = support::http_server(Limits::default(), quick());
    let mut live = open_stream(server.addr, "");
    let first = hub.post("lobby", "alice", "first").unwrap();
    hub.post("lobby", "bob", "second").unwrap();
    let data = sse_data(&mut live, 2);
    assert!(data[0].contains(r#""text":"first""#) && data[1].contains(r#""text":"second""#), "{data:?}");
    // A browser that lost the connection reconnects with the last id it saw.
    let mut resumed = open_stream(server.addr, &format!("Last-Event-ID: {first}\r\n"));
    hub.post("lobby", "carol", "third").unwrap();
    let data = sse_data(&mut resumed, 2);
    assert!(data[0].contains("second") && data[1].contains("third"), "{data:?}");
}

#[test]
fn a_stream_client_that_goes_away_frees_its_place() {
    let (server, hub) = support::http_server(Limits::default(), quick());
    let stream = open_stream(server.addr, "");
    assert_eq!(hub.watchers("lobby"), 1);
    drop(stream);
    // The next keep-alive comment (every 100 ms here) fails to be written: the thread ends.
    let deadline = Instant::now() + DEADLINE;
    while hub.watchers("lobby") > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(hub.watchers("lobby"), 0);
}

#[test]
fn bad_requests_get_the_right_status_and_the_server_carries_on() {
    let (server, _hub) = support::http_server(Limits::default(), quick());
    let big_body = "x".repeat(server::http::MAX_BODY + 1);
    let json = "Content-Type: application/json";
    let cases: Vec<(String, u16)> = vec![
        ("GET /poll HTTP/1.1\r\nHost: {host}\r\nno colon here\r\n\r\n".into(), 400),
        ("\x16\x03\x01 TLS hello\r\n\r\n".into(), 400),
        (format!("GET /poll HTTP/1.1\r\nHost: {{host}}\r\nX: {}\r\n\r\n", "y".repeat(9000)), 431),
        (
            format!("POST /send HTTP/1.1\r\nHost: {{host}}\r\n{json}\r\nContent-Length: {}\r\n\r\n{big_body}", big_body.len()),
            413,
        ),
        ("POST /send HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2\r\n\r\n{}".into(), 415),
        (format!("POST /send HTTP/1.1\r\nHost: {{host}}\r\n{json}\r\n\r\n"), 400),
        (format!("POST /send HTTP/1.1\r\nHost: {{host}}\r\n{json}\r\nContent-Length: 8\r\n\r\nnot json"), 400),
        (format!("POST /send HTTP/1.1\r\nHost: {{host}}\r\n{json}\r\nContent-Length: 12\r\n\r\n{{\"nick\":\"x\"}}"), 400),
        ("GET /nowhere HTTP/1.1\r\nHost: {host}\r\n\r\n".into(), 404),
        ("DELETE /poll HTTP/1.1\r\nHost: {host}\r\n\r\n".into(), 405),
        ("GET /send HTTP/1.1\r\nHost: {host}\r\n\r\n".into(), 405),
        ("GET /poll?room=no%20spaces HTTP/1.1\r\nHost: {host}\r\n\r\n".into(), 400),
        ("GET /poll?since=yesterday HTTP/1.1\r\nHost: {host}\r\n\r\n".into(), 400),
        // Headers that stop coming: 408 once the request timeout (300 ms here) has passed.
        ("GET /poll HTTP/1.1\r\nHost: sl".into(), 408),
    ];
    for (request, expected) in cases {
        let request = request.replace("{host}", &server.addr.to_string()).into_bytes();
        let (status, head, body) = raw(server.addr, &request);
        assert_eq!(status, expected, "{:?} got {head}{body}", String::from_utf8_lossy(&request[..20]));
        assert!(head.contains("Content-Length: "), "{head}");
    }
    let (status, _) = post(server.addr, &json!({"nick": "still", "text": "fine"}));
    assert_eq!(status, 200);
}

#[test]
fn ctrl_c_ends_open_streams_and_waiting_long_polls_promptly() {
    let config =
        Config { long_poll_timeout: Duration::from_secs(30), keepalive: Duration::from_secs(30), ..quick() };
    let (mut server, hub) = support::http_server(Limits::default(), config);
    let mut stream = open_stream(server.addr, "");
    let addr = server.addr;
    let long_poll = thread::spawn(move || get(addr, "/long-poll?room=lobby&since=0"));
    let deadline = Instant::now() + DEADLINE;
    while hub.waiting() == 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(hub.waiting(), 1);
    server.stop_within(Duration::from_secs(1)).unwrap();
    let mut rest = String::new();
    stream.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("event: bye\ndata: server shutting down\n\n"), "{rest:?}");
    assert!(rest.ends_with("0\r\n\r\n"), "the chunked body was not finished: {rest:?}");
    assert_eq!(texts(&long_poll.join().unwrap()).len(), 0);
}

/// Runs a lesson client; posts `count` messages one after another, each once the client showed
/// the one before; stops it; returns its counts.
fn client_costs(mode: Mode, count: usize) -> (u64, u64, u64, u64, u64) {
    let config = Config { long_poll_timeout: Duration::from_secs(10), ..quick() };
    let (server, hub) = support::http_server(Limits::default(), config);
    let shutdown = Shutdown::new();
    let (tx, shown) = mpsc::channel();
    let (addr, stop) = (server.addr.to_string(), shutdown.clone());
    let client = thread::spawn(move || {
        let input = std::io::Cursor::new(Vec::new());
        client::lessons::http::run(
            &addr,
            mode,
            "lobby",
            "me",
            input,
            &mut support::Screen(tx, Vec::new()),
            &stop,
        )
        .unwrap()
    });
    for i in 0..count {
        hub.post("lobby", "other", &format!("message {i}")).unwrap();
        assert_eq!(shown.recv_timeout(DEADLINE).unwrap(), format!("other: message {i}"));
    }
    shutdown.trigger();
    let stats = client.join().unwrap();
    let get = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
    (
        get(&stats.requests),
        get(&stats.empty),
        get(&stats.messages),
        get(&stats.bytes_sent),
        get(&stats.bytes_received),
    )
}

#[test]
fn each_client_counts_what_its_way_of_listening_cost() {
    // Streaming: one request however many messages.
    let (requests, empty, messages, sent, received) = client_costs(Mode::Stream, 5);
    assert_eq!((requests, empty, messages), (1, 0, 5));
    assert!(sent > 0 && received > sent);
    // Long polling: about one request per message (plus the one waiting when we stopped).
    let (requests, empty, messages, _, _) = client_costs(Mode::LongPoll, 5);
    assert_eq!(messages, 5);
    assert!((5..=7).contains(&requests), "{requests} requests");
    assert_eq!(empty, 0);
    // Polling: every answer without news is counted as empty.
    let (requests, empty, messages, _, _) =
        client_costs(Mode::Poll { interval: Duration::from_millis(5) }, 3);
    assert_eq!(messages, 3);
    assert!(
        requests >= 3 && empty + 3 >= requests && empty <= requests,
        "{requests} requests, {empty} empty"
    );
}
