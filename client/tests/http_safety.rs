//! The HTTP layer against what a hostile or merely old client sends (issue 13): pipelining,
//! smuggling, slow bodies, HTTP/1.0, HEAD, absolute-form targets, other sites (CSRF) and other
//! names (DNS rebinding); and clients that leave while a long-poll or a stream waits for them.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use server::hub::{Hub, Limits};
use server::lessons::http_chat::Config;
use support::{Running, DEADLINE};

fn quick() -> Config {
    Config {
        long_poll_timeout: Duration::from_millis(300),
        keepalive: Duration::from_secs(60),
        idle: Duration::from_secs(2),
        head_timeout: Duration::from_millis(500),
        max_connections: 100,
    }
}

fn http_server(config: Config) -> (Running, Arc<Hub>) {
    support::http_server(Limits::default(), config)
}

fn connect(addr: SocketAddr) -> (TcpStream, BufReader<TcpStream>) {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    (stream.try_clone().unwrap(), BufReader::new(stream))
}

fn response(reader: &mut BufReader<TcpStream>, head_only: bool) -> (u16, String, String) {
    support::read_response(reader, head_only)
}

/// True when the server closes the connection (before the deadline).
fn closed(reader: &mut BufReader<TcpStream>) -> bool {
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).is_ok() && rest.is_empty()
}

fn send_request(addr: SocketAddr, origin: Option<&str>, content_type: &str) -> String {
    let body = r#"{"nick":"x","text":"hi"}"#;
    let origin = origin.map(|o| format!("Origin: {o}\r\n")).unwrap_or_default();
    format!(
        "POST /send HTTP/1.1\r\nHost: {addr}\r\n{origin}Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn pipelined_requests_are_all_answered_in_order() {
    let (server, _hub) = http_server(quick());
    let (mut stream, mut reader) = connect(server.addr);
    let addr = server.addr;
    let requests = format!(
        "GET /poll?room=a HTTP/1.1\r\nHost: {addr}\r\n\r\nGET /nowhere HTTP/1.1\r\nHost: {addr}\r\n\r\n{}",
        send_request(addr, None, "application/json")
    );
    stream.write_all(requests.as_bytes()).unwrap();
    assert_eq!(response(&mut reader, false).0, 200);
    assert_eq!(response(&mut reader, false).0, 404);
    let (status, _, body) = response(&mut reader, false);
    assert_eq!((status, body.as_str()), (200, r#"{"id":1}"#));
}

#[test]
fn a_request_hidden_in_a_body_is_never_run() {
    let (server, hub) = http_server(quick());
    let (mut stream, mut reader) = connect(server.addr);
    let hidden = send_request(server.addr, None, "application/json");
    let get =
        format!("GET /poll HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n\r\n", server.addr, hidden.len());
    // The head and the body in two reads, as a slow network delivers them: a server that does
    // not wait for the body it was promised reads it as the next request.
    stream.write_all(get.as_bytes()).unwrap();
    thread::sleep(Duration::from_millis(200));
    stream.write_all(hidden.as_bytes()).unwrap();
    assert_eq!(response(&mut reader, false).0, 200);
    assert!(reader.get_ref().set_read_timeout(Some(Duration::from_millis(300))).is_ok());
    let mut more = [0u8; 1];
    assert!(reader.read(&mut more).is_err(), "a second answer came: the body was run as a request");
    assert_eq!(hub.newer("lobby", 0).events.len(), 0, "the hidden POST was posted");
}

#[test]
fn content_lengths_that_could_desync_are_refused_and_the_connection_closed() {
    let (server, hub) = http_server(quick());
    for lengths in [&["+24"][..], &["24", "25"], &["24, 24"]] {
        let (mut stream, mut reader) = connect(server.addr);
        let headers: String = lengths.iter().map(|l| format!("Content-Length: {l}\r\n")).collect();
        let request = format!(
            "POST /send HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n{headers}\r\n{{\"nick\":\"x\",\"text\":\"hi\"}}",
            server.addr
        );
        stream.write_all(request.as_bytes()).unwrap();
        let (status, head, _) = response(&mut reader, false);
        assert_eq!(status, 400, "{lengths:?}: {head}");
        assert!(head.contains("Connection: close"), "{head}");
        assert!(closed(&mut reader), "{lengths:?}: the connection stayed open");
    }
    assert_eq!(hub.newer("lobby", 0).events.len(), 0);
}

#[test]
fn a_body_that_trickles_in_gets_408_at_the_request_deadline() {
    let (server, _hub) = http_server(quick());
    let (mut stream, mut reader) = connect(server.addr);
    let head = format!(
        "POST /send HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n",
        server.addr
    );
    stream.write_all(head.as_bytes()).unwrap();
    let started = Instant::now();
    // One byte every 100 ms: each read succeeds, only a deadline for the whole body ends it.
    let trickle = thread::spawn(move || {
        for _ in 0..50 {
            if stream.write_all(b" ").is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(100));
        }
    });
    assert_eq!(response(&mut reader, false).0, 408);
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    trickle.join().unwrap();
}

#[test]
fn http_1_1_needs_a_host_and_http_1_0_gets_what_it_understands() {
    let (server, hub) = http_server(quick());
    let (mut stream, mut reader) = connect(server.addr);
    stream.write_all(b"GET /poll HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(response(&mut reader, false).0, 400);

    // HTTP/1.0: one answer, then the connection closes, unless it asked to keep it.
    let (mut stream, mut reader) = connect(server.addr);
    stream.write_all(b"GET /poll HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(response(&mut reader, false).0, 200);
    assert!(closed(&mut reader));
    let (mut stream, mut reader) = connect(server.addr);
    stream
        .write_all(b"GET /poll HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /poll HTTP/1.0\r\n\r\n")
        .unwrap();
    let (status, head, _) = response(&mut reader, false);
    assert_eq!(status, 200);
    assert!(head.contains("Connection: keep-alive"), "{head}");
    assert_eq!(response(&mut reader, false).0, 200);
    assert!(closed(&mut reader));

    // A stream to HTTP/1.0 is not chunked: it ends when the connection does.
    let (mut stream, mut reader) = connect(server.addr);
    stream.write_all(b"GET /stream HTTP/1.0\r\n\r\n").unwrap();
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        assert!(reader.read_line(&mut head).unwrap() > 0);
    }
    assert!(!head.contains("chunked"), "{head}");
    hub.post("lobby", "a", "plain").unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "id: 1\n", "an event, with no chunk size before it");
}

#[test]
fn head_responses_carry_no_body_and_absolute_targets_are_served() {
    let (server, _hub) = http_server(quick());
    let (mut stream, mut reader) = connect(server.addr);
    let addr = server.addr;
    // HEAD, then GET on the same connection: a body after the HEAD answer would be read as the
    // start of the next answer.
    let requests = format!(
        "HEAD /poll HTTP/1.1\r\nHost: {addr}\r\n\r\nHEAD /nowhere HTTP/1.1\r\nHost: {addr}\r\n\r\nGET http://{addr}/poll?room=lobby HTTP/1.1\r\nHost: {addr}\r\n\r\n"
    );
    stream.write_all(requests.as_bytes()).unwrap();
    let (status, head, _) = response(&mut reader, true);
    assert_eq!(status, 405, "{head}");
    assert_eq!(response(&mut reader, true).0, 404);
    let (status, _, body) = response(&mut reader, false);
    assert_eq!(status, 200);
    assert!(body.starts_with('{'), "{body}");
}

#[test]
fn other_sites_cannot_post_and_a_json_content_type_is_required() {
    let (server, hub) = http_server(quick());
    let own = format!("http://{}", server.addr);
    for (origin, content_type, expected) in [
        (Some("https://evil.example"), "application/json", 403),
        (Some("null"), "application/json", 403),
        (None, "text/plain", 415),
        (Some(own.as_str()), "text/plain;charset=UTF-8", 415),
        (Some(own.as_str()), "application/json", 200),
        (None, "application/json; charset=utf-8", 200),
    ] {
        let (mut stream, mut reader) = connect(server.addr);
        stream.write_all(send_request(server.addr, origin, content_type).as_bytes()).unwrap();
        let (status, head, body) = response(&mut reader, false);
        assert_eq!(status, expected, "{origin:?} {content_type}: {head}{body}");
    }
    assert_eq!(hub.newer("lobby", 0).events.len(), 2);
}

#[test]
fn a_name_that_is_not_ours_gets_421_even_when_origin_agrees() {
    let (server, hub) = http_server(quick());
    let port = server.addr.port();
    for (host, expected) in [
        (format!("evil.example:{port}"), 421),
        (format!("localhost:{port}"), 200),
        // A loopback name is ours with any port (a forwarded one) or none: no page can rename
        // this server to it.
        (format!("127.0.0.1:{}", port.wrapping_add(1)), 200),
        ("localhost".to_string(), 200),
        ("evil.example".to_string(), 421),
    ] {
        let (mut stream, mut reader) = connect(server.addr);
        let body = r#"{"nick":"x","text":"hi"}"#;
        let request = format!(
            "POST /send HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).unwrap();
        assert_eq!(response(&mut reader, false).0, expected, "{host}");
    }
    assert_eq!(hub.newer("lobby", 0).events.len(), 3);
}

/// Polls `done` every 20 ms until it holds or `limit` passes; true if it held.
fn within(limit: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !done() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    done()
}

#[test]
fn a_departed_long_poller_or_stream_frees_its_thread_within_3_seconds() {
    let config = Config { long_poll_timeout: Duration::from_secs(60), ..quick() };
    let (server, hub) = http_server(config);
    let (mut poller, _reader) = connect(server.addr);
    write!(poller, "GET /long-poll?room=lobby&since=0 HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr).unwrap();
    assert!(within(DEADLINE, || hub.waiting() == 1), "the long-poll never waited");
    drop((poller, _reader));
    assert!(within(Duration::from_secs(3), || hub.waiting() == 0), "the departed long-poller still waits");

    let (mut streamer, mut reader) = connect(server.addr);
    write!(streamer, "GET /stream?room=lobby HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr).unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(hub.watchers("lobby"), 1);
    drop((streamer, reader));
    // No keep-alive comes for a minute here: the stream must notice by itself.
    assert!(
        within(Duration::from_secs(3), || hub.watchers("lobby") == 0),
        "the departed stream is still watching"
    );
}
