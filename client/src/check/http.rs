//! The grader for chapter 5's endpoints: the chat over HTTP.
//!
//! HTTP only answers; it never speaks first. So a chat over HTTP is three ways of asking "what is
//! new since N?": polling (answer at once), long polling (answer when there is news) and
//! streaming (one response that never ends). The checks send each request by hand and read the
//! answer the way any HTTP client must: the head up to the empty line, then exactly
//! `Content-Length` body bytes. A server that leaves out the length cannot be read correctly on a
//! persistent connection, so that is the first thing every check needs.

use std::io::{BufRead, BufReader, Write};
use std::thread;
use std::time::Duration;

use serde_json::Value;

use super::{connect, fail, read_exactly, send_failed, Check, Failure, Outcome};
use common::trace::Layer;

pub fn checks() -> Vec<Check> {
    vec![
        ("GET /poll answers JSON with messages and last", poll),
        ("POST /send, then the message is in /poll since N", send_then_poll),
        ("GET /long-poll waits, then answers when a message arrives", long_poll),
        ("GET /stream sends each new message as a Server-Sent Event with an id", stream),
        ("an unknown path gets 404", not_found),
    ]
}

/// A room of this run's own, so two teachers checking one server do not see each other's lines.
fn room(prefix: &str) -> String {
    format!("{prefix}{}", std::process::id() % 10_000)
}

/// One HTTP request on a fresh connection; returns the status and the body. The head is read
/// by the lesson's own client code (`lessons::http::read_head`).
pub(super) fn request(addr: &str, request: &str) -> Result<(u16, Vec<u8>), Failure> {
    let mut stream = connect(addr, Layer::Http)?;
    stream.write_all(request.as_bytes()).map_err(send_failed)?;
    let mut reader = BufReader::new(stream);
    let head = crate::lessons::http::read_head(&mut reader).map_err(|e| {
        fail(e, "start with HTTP/1.1 200 OK and end the head with an empty line, \\r\\n\\r\\n")
    })?;
    let Some(length) = head.length else {
        return Err(fail(
            "no Content-Length",
            "always send Content-Length: without it the client cannot tell where the body ends",
        ));
    };
    let body = read_exactly(&mut reader, length)
        .map_err(|e| fail(e.to_string(), "send as many body bytes as Content-Length says"))?;
    Ok((head.status, body))
}

fn get(addr: &str, target: &str) -> Result<(u16, Vec<u8>), Failure> {
    request(addr, &format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"))
}

fn json(body: &[u8]) -> Result<Value, Failure> {
    serde_json::from_slice(body)
        .map_err(|e| fail(format!("the body is not JSON: {e}"), "answer with a JSON document"))
}

/// The texts of the messages in a `/poll` or `/long-poll` answer.
fn texts(answer: &Value) -> Vec<String> {
    let messages = answer["messages"].as_array().into_iter().flatten();
    messages.filter_map(|m| m["text"].as_str().map(str::to_string)).collect()
}

fn poll(addr: &str) -> Outcome {
    let (status, body) = get(addr, &format!("/poll?room={}&since=0", room("checker")))?;
    if status != 200 {
        return Err(fail(format!("GET /poll answered {status}"), "answer 200 with the messages"));
    }
    let answer = json(&body)?;
    (answer["messages"].is_array() && answer["last"].is_u64())
        .then_some(())
        .ok_or_else(|| fail(format!("got {answer}"), r#"answer {"messages": [...], "last": N}"#))
}

/// Posts `text` to `room`; returns the id the server gave it.
fn post(addr: &str, room: &str, text: &str) -> Result<u64, Failure> {
    let body = serde_json::json!({"room": room, "nick": "checker", "text": text}).to_string();
    // The body is read by Content-Length: the server must not wait for the connection to close.
    let post = format!(
        "POST /send HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (status, body) = request(addr, &post)?;
    if status != 200 {
        return Err(fail(
            format!("POST /send answered {status}: {}", String::from_utf8_lossy(&body)),
            "read the body by Content-Length, then answer 200",
        ));
    }
    json(&body)?["id"].as_u64().ok_or_else(|| fail("POST /send gave no id", r#"answer {"id": N}"#))
}

fn send_then_poll(addr: &str) -> Outcome {
    let room = room("check");
    let id = post(addr, &room, "checked")?;
    let since = id.saturating_sub(1);
    let (_, body) = get(addr, &format!("/poll?room={room}&since={since}"))?;
    let texts = texts(&json(&body)?);
    (texts == ["checked"]).then_some(()).ok_or_else(|| {
        fail(
            format!("/poll since {since} gave {texts:?}"),
            "return the messages with an id greater than since, and only those",
        )
    })
}

/// A long-poll must *wait*: answering at once with nothing is polling with extra steps.
fn long_poll(addr: &str) -> Outcome {
    let room = room("checklp");
    let id = post(addr, &room, "first")?;
    let waiting = {
        let (addr, target) = (addr.to_string(), format!("/long-poll?room={room}&since={id}"));
        thread::spawn(move || get(&addr, &target))
    };
    thread::sleep(Duration::from_millis(300));
    if waiting.is_finished() {
        return Err(fail(
            "the long-poll answered at once with nothing new",
            "wait until something newer than since exists",
        ));
    }
    post(addr, &room, "second")?;
    let answered =
        waiting.join().map_err(|_| fail("the waiting request's thread failed", "tell your teacher"))?;
    let (_, body) = answered.map_err(|f| fail(format!("the waiting long-poll: {}", f.what), f.hint))?;
    let texts = texts(&json(&body)?);
    (texts == ["second"])
        .then_some(())
        .ok_or_else(|| fail(format!("got {texts:?}"), "wake the waiting request when a message arrives"))
}

/// Server-Sent Events: a response head at once, then an event per message, flushed as it happens.
fn stream(addr: &str) -> Outcome {
    let room = room("checksse");
    let mut stream = connect(addr, Layer::Http)?;
    stream
        .write_all(format!("GET /stream?room={room} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .map_err(send_failed)?;
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        if !matches!(reader.read_line(&mut head), Ok(1..)) {
            return Err(fail(
                "no response head for /stream",
                "answer at once with the headers, then keep the response open",
            ));
        }
    }
    if !head.to_ascii_lowercase().contains("text/event-stream") {
        return Err(fail(
            "the stream's Content-Type is not text/event-stream",
            "send Content-Type: text/event-stream",
        ));
    }
    post(addr, &room, "streamed")?;
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
    Err(fail(
        format!("no event with an id: line and the message (got {seen:?})"),
        "write \"id: N\\ndata: ...\\n\\n\" per message and flush at once",
    ))
}

fn not_found(addr: &str) -> Outcome {
    let (status, _) = get(addr, "/no-such-page")?;
    (status == 404)
        .then_some(())
        .ok_or_else(|| fail(format!("GET /no-such-page answered {status}"), "answer unknown paths with 404"))
}
