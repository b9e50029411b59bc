//! The grader for chapter 5's endpoints: the chat over HTTP.
//!
//! HTTP only answers; it never speaks first. So a chat over HTTP is three ways of asking "what is
//! new since N?": polling (answer at once), long polling (answer when there is news) and
//! streaming (one response that never ends). The checks send each request by hand and read the
//! answer the way any HTTP client must: the head up to the empty line, then exactly
//! `Content-Length` body bytes. A server that leaves out the length cannot be read correctly on a
//! persistent connection, so that is the first thing every check needs.

use std::io::{BufRead, BufReader};
use std::thread;
use std::time::Duration;

use serde_json::Value;

use super::{
    check, fail, fail_all, read_exactly, send, Check, Failure, Outcome, Target, DEADLINE, MAX_BYTES,
};
use common::trace::Layer;

pub fn checks() -> Vec<Check> {
    vec![
        check("GET /poll answers JSON with messages and last", poll),
        check("POST /send, then the message is in /poll since N", send_then_poll),
        check("GET /long-poll waits, then answers when a message arrives", long_poll),
        check("GET /stream sends each new message as a Server-Sent Event with an id", stream),
        check("an unknown path gets 404", not_found),
    ]
}

pub const HEAD: &str = "start with HTTP/1.1 200 OK and end the head with an empty line, \\r\\n\\r\\n";
pub const LENGTH: &str = "always send Content-Length: without it the client cannot tell where the body ends";
pub const HUGE_LENGTH: &str =
    "Content-Length is the size of the body in bytes: count the bytes you send (len(), not characters)";
pub const BODY: &str = "send as many body bytes as Content-Length says";
pub const JSON: &str = "answer with a JSON document";
pub const POLL_STATUS: &str = "answer 200 with the messages";
pub const POLL_SHAPE: &str = r#"answer {"messages": [...], "last": N}"#;
pub const POST_STATUS: &str = "read the body by Content-Length, then answer 200";
pub const POST_ID: &str = r#"answer {"id": N}"#;
pub const SINCE: &str = "return the messages with an id greater than since, and only those";
pub const LONG_WAITS: &str = "wait until something newer than since exists";
pub const LONG_WAKES: &str = "wake the waiting request when a message arrives";
pub const SSE_HEAD: &str = "answer at once with the headers, then keep the response open";
pub const SSE_TYPE: &str = "send Content-Type: text/event-stream";
pub const SSE_EVENT: &str = "write \"id: N\\ndata: ...\\n\\n\" per message and flush at once";
pub const NOT_FOUND: &str = "answer unknown paths with 404";

/// What reading any response can fail with (the WebSocket grader reads one refusal too).
pub const OF_A_RESPONSE: &[&str] = &[HEAD, LENGTH, HUGE_LENGTH, BODY];

pub const HINTS: &[&str] = &[
    HEAD,
    LENGTH,
    HUGE_LENGTH,
    BODY,
    JSON,
    POLL_STATUS,
    POLL_SHAPE,
    POST_STATUS,
    POST_ID,
    SINCE,
    LONG_WAITS,
    LONG_WAKES,
    SSE_HEAD,
    SSE_TYPE,
    SSE_EVENT,
    NOT_FOUND,
];

/// What a response that never came is called (the long-poll check tells it apart).
const NO_ANSWER: &str = "no answer within the deadline";

/// How long the long-poll check waits before it sends the message the request waits for.
pub const LONG_POLL_HOLD: Duration = Duration::from_secs(1);

/// A room of this run's own, so two teachers checking one server do not see each other's lines.
fn room(prefix: &str) -> String {
    format!("{prefix}{}", std::process::id() % 10_000)
}

/// One HTTP request on a fresh connection; returns the status and the body. A body goes in a second write,
/// a moment after the head, as it may on a real network: a server must read it by
/// Content-Length, not take whatever the first read() returned. A response that cannot be read
/// at all stops the run: every later check would read one the same way.
pub(super) fn request(target: &Target, head: &str, body: &str) -> Result<(u16, Vec<u8>), Failure> {
    request_waiting(target, head, body, DEADLINE)
}

/// [`request`], its answer allowed `wait` (a long-poll's answer waits for the message it holds).
fn request_waiting(
    target: &Target,
    head: &str,
    body: &str,
    wait: Duration,
) -> Result<(u16, Vec<u8>), Failure> {
    let mut stream = target.connect(Layer::Http)?;
    stream.wait_up_to(wait);
    send(&mut stream, head.as_bytes());
    if !body.is_empty() {
        thread::sleep(Duration::from_millis(50));
        send(&mut stream, body.as_bytes());
    }
    let mut reader = BufReader::new(stream);
    let (status, length) = read_head(&mut reader).map_err(|e| fail_all(e, HEAD))?;
    // After a 101 the connection speaks another protocol: there is no body to find.
    if status == 101 {
        return Ok((101, Vec::new()));
    }
    let Some(length) = length else {
        return Err(fail_all("no Content-Length", LENGTH));
    };
    if length > MAX_BYTES {
        let what = format!("Content-Length: {length}, more than any answer here needs");
        return Err(fail_all(what, HUGE_LENGTH));
    }
    let body = read_exactly(&mut reader, length).map_err(|e| fail_all(e.to_string(), BODY))?;
    Ok((status, body))
}

/// A response head, up to the empty line: its status and `Content-Length`. (Lesson 5's client
/// has its own, `lessons::http::read_head`, which the reader studies; this one only grades.)
fn read_head(reader: &mut impl BufRead) -> Result<(u16, Option<usize>), String> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        match reader.read_until(b'\n', &mut head) {
            Ok(0) => return Err("the server closed the connection before the end of the head".into()),
            Ok(_) => {}
            Err(e) if common::net::is_timeout(&e) => return Err(NO_ANSWER.into()),
            Err(e) => return Err(format!("reading the response: {}", common::net::describe(&e))),
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    response.parse(&head).map_err(|e| format!("a malformed response head: {e}"))?;
    let length = response.headers.iter().find(|h| h.name.eq_ignore_ascii_case("Content-Length"));
    let length = length.and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok());
    Ok((response.code.unwrap_or(0), length))
}

fn get(target: &Target, path: &str) -> Result<(u16, Vec<u8>), Failure> {
    let addr = &target.addr;
    request(target, &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"), "")
}

fn json(body: &[u8]) -> Result<Value, Failure> {
    serde_json::from_slice(body).map_err(|e| fail(format!("the body is not JSON: {e}"), JSON))
}

/// The texts of the messages in a `/poll` or `/long-poll` answer.
fn texts(answer: &Value) -> Vec<String> {
    let messages = answer["messages"].as_array().into_iter().flatten();
    messages.filter_map(|m| m["text"].as_str().map(str::to_string)).collect()
}

fn poll(target: &Target) -> Outcome {
    let (status, body) = get(target, &format!("/poll?room={}&since=0", room("checker")))?;
    if status != 200 {
        return Err(fail(format!("GET /poll answered {status}"), POLL_STATUS));
    }
    let answer = json(&body)?;
    (answer["messages"].is_array() && answer["last"].is_u64())
        .then_some(())
        .ok_or_else(|| fail(format!("got {answer}"), POLL_SHAPE))
}

/// Posts `text` to `room`; returns the id the server gave it.
fn post(target: &Target, room: &str, text: &str) -> Result<u64, Failure> {
    let addr = &target.addr;
    let body = serde_json::json!({"room": room, "nick": "checker", "text": text}).to_string();
    // The body is read by Content-Length: the server must not wait for the connection to close.
    let head = format!(
        "POST /send HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    let (status, body) = request(target, &head, &body)?;
    if status != 200 {
        return Err(fail(
            format!("POST /send answered {status}: {}", String::from_utf8_lossy(&body)),
            POST_STATUS,
        ));
    }
    json(&body)?["id"].as_u64().ok_or_else(|| fail("POST /send gave no id", POST_ID))
}

/// Two messages, then "what is newer than the first?": exactly the second.
fn send_then_poll(target: &Target) -> Outcome {
    let room = room("check");
    let first = post(target, &room, "checked 1")?;
    post(target, &room, "checked 2")?;
    let (_, body) = get(target, &format!("/poll?room={room}&since={first}"))?;
    let texts = texts(&json(&body)?);
    (texts == ["checked 2"])
        .then_some(())
        .ok_or_else(|| fail(format!("/poll since {first} gave {texts:?}, not [\"checked 2\"]"), SINCE))
}

/// A long-poll must *wait*: answering at once with nothing is polling with extra steps.
fn long_poll(target: &Target) -> Outcome {
    let room = room("checklp");
    let id = post(target, &room, "first")?;
    let waiting = {
        let (target, addr) = (target.clone(), target.addr.clone());
        let head = format!(
            "GET /long-poll?room={room}&since={id} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        );
        thread::spawn(move || request_waiting(&target, &head, "", LONG_POLL_HOLD + DEADLINE * 2))
    };
    // Long enough for a server that answers at once to have answered, even on a busy machine.
    thread::sleep(LONG_POLL_HOLD);
    if waiting.is_finished() {
        return Err(fail("the long-poll answered at once with nothing new", LONG_WAITS));
    }
    post(target, &room, "second")?;
    let answered =
        waiting.join().map_err(|_| fail("the waiting request's thread failed", super::hint::CHECKER))?;
    let (_, body) = answered.map_err(|f| match f.what == NO_ANSWER {
        // Held, and never answered although the message came: nobody woke it.
        true => fail(format!("the waiting long-poll: {NO_ANSWER} after the message was sent"), LONG_WAKES),
        false => fail(format!("the waiting long-poll: {}", f.what), f.hint),
    })?;
    let texts = texts(&json(&body)?);
    match texts.iter().any(|t| t == "second") {
        _ if texts == ["second"] => Ok(()),
        // Woken, but with what it had already seen: `since` was not applied.
        true => Err(fail(format!("got {texts:?}, not [\"second\"]"), SINCE)),
        false => Err(fail(format!("got {texts:?}"), LONG_WAKES)),
    }
}

/// Server-Sent Events: a response head at once, then an event per message, flushed as it happens.
fn stream(target: &Target) -> Outcome {
    let room = room("checksse");
    let mut stream = target.connect(Layer::Http)?;
    let addr = &target.addr;
    send(&mut stream, format!("GET /stream?room={room} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes());
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        if !matches!(reader.read_line(&mut head), Ok(1..)) {
            return Err(fail("no response head for /stream", SSE_HEAD));
        }
    }
    if !head.to_ascii_lowercase().contains("text/event-stream") {
        return Err(fail("the stream's Content-Type is not text/event-stream", SSE_TYPE));
    }
    post(target, &room, "streamed")?;
    let mut seen = String::new();
    for _ in 0..20 {
        let mut line = String::new();
        if !matches!(reader.read_line(&mut line), Ok(1..)) {
            break;
        }
        seen.push_str(&line);
        if seen.contains("streamed") && seen.contains("id:") {
            return Ok(());
        }
    }
    Err(fail(format!("no event with an id: line and the message (got \"{seen}\")"), SSE_EVENT))
}

fn not_found(target: &Target) -> Outcome {
    let (status, _) = get(target, "/no-such-page")?;
    (status == 404)
        .then_some(())
        .ok_or_else(|| fail(format!("GET /no-such-page answered {status}"), NOT_FOUND))
}
