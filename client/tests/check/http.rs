//! Wrong HTTP chat servers (chapter 5's endpoints): one small server, written once, with a
//! switch for each mistake a hint names.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use client::check::{hint, http};
use serde_json::{json, Value};

use super::{covers, first_only, threaded, trips};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bug {
    None,
    NoBlankLine,
    NoLength,
    HugeLength,
    LongerLength,
    NotJson,
    NoContentWhenEmpty,
    NoLast,
    OneRead,
    NoId,
    IgnoresSince,
    LongPollAnswersAtOnce,
    LongPollNeverWoken,
    StreamHeadLate,
    StreamAsText,
    StreamWithoutIds,
    EverythingFound,
}

#[derive(Default)]
struct Rooms {
    messages: Mutex<Vec<(u64, String, String)>>,
    changed: Condvar,
}

impl Rooms {
    fn after(&self, room: &str, since: u64, bug: Bug) -> Vec<(u64, String)> {
        let messages = self.messages.lock().unwrap();
        let newer = |id: &u64| bug == Bug::IgnoresSince || *id > since;
        messages
            .iter()
            .filter(|(id, r, _)| r == room && newer(id))
            .map(|(id, _, t)| (*id, t.clone()))
            .collect()
    }

    /// Waits until something in `room` is newer than `since`, for at most `most`.
    fn wait(&self, room: &str, since: u64, most: Duration) {
        let deadline = Instant::now() + most;
        let mut messages = self.messages.lock().unwrap();
        while !messages.iter().any(|(id, r, _)| r == room && *id > since) && Instant::now() < deadline {
            messages = self.changed.wait_timeout(messages, Duration::from_millis(50)).unwrap().0;
        }
    }
}

/// Method, path, query parameters and body.
type Request = (String, String, Vec<(String, String)>, Vec<u8>);

/// The request, its body read by Content-Length (or, with `OneRead`, whatever one read()
/// returned).
fn read_request(stream: &mut TcpStream, bug: Bug) -> Option<Request> {
    let mut head = Vec::new();
    let mut body = Vec::new();
    if bug == Bug::OneRead {
        let mut buf = [0u8; 8192];
        let n = stream.read(&mut buf).ok()?;
        let end = buf[..n].windows(4).position(|w| w == b"\r\n\r\n")?;
        head.extend_from_slice(&buf[..end]);
        body.extend_from_slice(&buf[end + 4..n]);
    } else {
        let mut reader = BufReader::new(stream.try_clone().ok()?);
        while !head.ends_with(b"\r\n\r\n") {
            if reader.read_until(b'\n', &mut head).ok()? == 0 {
                return None;
            }
        }
        let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
        let length = text
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap_or(0));
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let mut words = head.split_whitespace();
    let (method, target) = (words.next()?.to_string(), words.next()?.to_string());
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Some((method, path.to_string(), query, body))
}

fn respond(stream: &mut TcpStream, status: u16, body: &str, bug: Bug) {
    let (kind, body) = match bug {
        Bug::NotJson => ("text/plain", "ok"),
        _ => ("application/json", body),
    };
    let length = match bug {
        Bug::NoLength => String::new(),
        Bug::HugeLength => "Content-Length: 1000000000000\r\n".into(),
        Bug::LongerLength => format!("Content-Length: {}\r\n", body.len() + 10),
        _ => format!("Content-Length: {}\r\n", body.len()),
    };
    let end = if bug == Bug::NoBlankLine { "" } else { "\r\n" };
    let response =
        format!("HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nConnection: close\r\n{length}{end}{body}");
    let _ = stream.write_all(response.as_bytes());
}

fn serve(stream: &mut TcpStream, rooms: &Rooms, bug: Bug) {
    let Some((method, path, query, body)) = read_request(stream, bug) else { return };
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let room = param("room").unwrap_or_else(|| "lobby".into());
    let since: u64 = param("since").and_then(|s| s.parse().ok()).unwrap_or(0);
    let answer = |found: Vec<(u64, String)>| {
        let last = found.last().map_or(since, |(id, _)| *id);
        let messages: Vec<Value> = found.iter().map(|(id, t)| json!({"id": id, "text": t})).collect();
        match bug {
            Bug::NoLast => json!({ "messages": messages }),
            _ => json!({ "messages": messages, "last": last }),
        }
        .to_string()
    };
    match (method.as_str(), path.as_str()) {
        ("POST", "/send") => {
            let Ok(sent) = serde_json::from_slice::<Value>(&body) else {
                return respond(stream, 400, r#"{"error": "not JSON"}"#, bug);
            };
            let mut messages = rooms.messages.lock().unwrap();
            let id = messages.len() as u64 + 1;
            let room = sent["room"].as_str().unwrap_or("lobby").to_string();
            messages.push((id, room, sent["text"].as_str().unwrap_or_default().to_string()));
            drop(messages);
            rooms.changed.notify_all();
            let answer = if bug == Bug::NoId { json!({"ok": true}) } else { json!({ "id": id }) };
            respond(stream, 200, &answer.to_string(), bug);
        }
        ("GET", "/poll") => match rooms.after(&room, since, bug) {
            found if found.is_empty() && bug == Bug::NoContentWhenEmpty => respond(stream, 204, "", bug),
            found => respond(stream, 200, &answer(found), bug),
        },
        ("GET", "/long-poll") => {
            // Never woken: it looks before it waits, and answers what it saw.
            let seen = rooms.after(&room, since, bug);
            match bug {
                Bug::LongPollAnswersAtOnce => {}
                Bug::LongPollNeverWoken => std::thread::sleep(Duration::from_secs(3)),
                _ => rooms.wait(&room, since, Duration::from_secs(5)),
            }
            let found = if bug == Bug::LongPollNeverWoken { seen } else { rooms.after(&room, since, bug) };
            respond(stream, 200, &answer(found), bug);
        }
        ("GET", "/stream") => stream_events(stream, rooms, &room, bug),
        _ if bug == Bug::EverythingFound => respond(stream, 200, &answer(Vec::new()), bug),
        _ => respond(stream, 404, r#"{"error": "no such page"}"#, bug),
    }
}

/// Server-Sent Events for 5 s, in a chunked body.
fn stream_events(stream: &mut TcpStream, rooms: &Rooms, room: &str, bug: Bug) {
    let kind = if bug == Bug::StreamAsText { "text/plain" } else { "text/event-stream" };
    let head = format!("HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nTransfer-Encoding: chunked\r\n\r\n");
    let mut head = Some(head);
    if bug != Bug::StreamHeadLate {
        let _ = stream.write_all(head.take().unwrap_or_default().as_bytes());
    }
    let (mut since, deadline) =
        (rooms.messages.lock().unwrap().len() as u64, Instant::now() + Duration::from_secs(5));
    while Instant::now() < deadline {
        rooms.wait(room, since, Duration::from_millis(200));
        for (id, text) in rooms.after(room, since, Bug::None) {
            let id_line = if bug == Bug::StreamWithoutIds { String::new() } else { format!("id: {id}\n") };
            let event = format!("{id_line}data: {}\n\n", json!({ "text": text }));
            let chunk = format!("{}{:x}\r\n{event}\r\n", head.take().unwrap_or_default(), event.len());
            if stream.write_all(chunk.as_bytes()).is_err() {
                return;
            }
            since = id;
        }
    }
}

pub fn http_with(bug: Bug) -> String {
    let rooms = Arc::new(Rooms::default());
    threaded(move |mut stream| serve(&mut stream, &rooms, bug))
}

#[test]
fn every_http_failure_has_a_wrong_server_that_trips_it() {
    // The small server itself is right: it passes.
    let right = http_with(Bug::None);
    trips("http", &right, &[]);
    let cases: &[(Bug, &[&str])] = &[
        (Bug::NoBlankLine, &[http::HEAD]),
        (Bug::NoLength, &[http::LENGTH]),
        (Bug::HugeLength, &[http::HUGE_LENGTH]),
        (Bug::LongerLength, &[http::BODY]),
        (Bug::NotJson, &[http::JSON]),
        (Bug::NoContentWhenEmpty, &[http::POLL_STATUS]),
        (Bug::NoLast, &[http::POLL_SHAPE]),
        (Bug::OneRead, &[http::POST_STATUS]),
        (Bug::NoId, &[http::POST_ID]),
        (Bug::IgnoresSince, &[http::SINCE]),
        (Bug::LongPollAnswersAtOnce, &[http::LONG_WAITS]),
        (Bug::LongPollNeverWoken, &[http::LONG_WAKES]),
        (Bug::StreamHeadLate, &[http::SSE_HEAD]),
        (Bug::StreamAsText, &[http::SSE_TYPE]),
        (Bug::StreamWithoutIds, &[http::SSE_EVENT]),
        (Bug::EverythingFound, &[http::NOT_FOUND]),
    ];
    let mut servers: Vec<(String, &[&str])> =
        cases.iter().map(|(bug, hints)| (http_with(*bug), *hints)).collect();
    // Serves one request, then the program ends.
    servers.push((first_only(|mut stream| serve(&mut stream, &Rooms::default(), Bug::None)), &[hint::GONE]));
    servers.push((super::hostile::trickle(), &[hint::TOO_SLOW]));
    servers.push((super::hostile::flood(), &[hint::TOO_MUCH]));
    let tripped = super::trips_each("http", &servers);
    covers("http", &tripped);
}
