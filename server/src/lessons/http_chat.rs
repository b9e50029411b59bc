//! Lesson 5, server side: the chat over plain HTTP, three ways to get news from a server.
//!
//! HTTP only ever answers: the client asks, the server replies, and a server cannot speak first.
//! Before WebSocket, browsers got chat messages in one of three ways, and this server offers all
//! three on the same hub as the TCP chat:
//!
//! ```text
//! polling        GET /poll?room=R&since=N       answers at once: what is newer than N (often nothing)
//! long polling   GET /long-poll?room=R&since=N  waits until something newer exists (or a timeout)
//! streaming      GET /stream?room=R             one response that never ends (Server-Sent Events)
//! sending        POST /send  {"room","nick","text"}
//! ```
//!
//! Every event has an id (see `crate::hub`), so "newer than N" is exact: nothing is lost or shown
//! twice between one request and the next.

use std::io::{self, Write};
use std::net::TcpListener;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use common::protocol::LOBBY;
use common::Shutdown;
use log::info;
use serde_json::{json, Value};

use crate::http::{self, AfterResponse, Connection, Origins, Request, Status};
use crate::hub::{Delivery, Event, EventKind, Hub, Newer};

/// How often a waiting long-poll or an open stream looks whether its client is still there: a
/// client that went away frees its thread within about this long.
pub const DEPARTURE_CHECK: Duration = Duration::from_millis(500);

/// The timings of this server; tests shorten them.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long a long-poll waits for news before it answers with nothing (and is asked again).
    pub long_poll_timeout: Duration,
    /// How often an idle stream sends a comment line, so proxies keep it open.
    pub keepalive: Duration,
    /// How long a persistent connection may sit idle between requests.
    pub idle: Duration,
    /// How long one request, head and body, may take once it has started (408 after).
    pub head_timeout: Duration,
    /// Connections served at once (waiting long-polls and open streams included).
    pub max_connections: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            long_poll_timeout: Duration::from_secs(25),
            keepalive: Duration::from_secs(15),
            idle: http::IDLE_TIMEOUT,
            head_timeout: http::REQUEST_DEADLINE,
            max_connections: http::MAX_CONNECTIONS,
        }
    }
}

impl Config {
    /// The HTTP layer's limits with this server's timings.
    pub fn limits(&self) -> http::Limits {
        http::Limits {
            idle: self.idle,
            request_deadline: self.head_timeout,
            max_connections: self.max_connections,
            ..http::Limits::default()
        }
    }
}

/// Serves the HTTP chat until `shutdown`.
pub fn run(listener: TcpListener, shutdown: &Shutdown, hub: Arc<Hub>, config: Config) -> io::Result<()> {
    let addr = listener.local_addr()?;
    let (http, _) = crate::tls::schemes(&listener);
    info!("HTTP chat listening on {http}://{addr}/ (try `curl '{http}://{addr}/poll?room=lobby'`)");
    // Long-polls wait on the hub and streams on their outboxes, not on a socket: on Ctrl-C the
    // hub wakes them all.
    let closing = hub.clone();
    shutdown.on_trigger(move || closing.close());
    let limits = config.limits();
    http::serve(&listener, shutdown, limits, Origins::default(), move |connection, request| {
        route(connection, request, &hub, &config)
    })?;
    info!("HTTP chat stopped");
    Ok(())
}

/// This lesson's endpoints.
pub fn route(connection: &mut Connection, request: Request, hub: &Hub, config: &Config) -> AfterResponse {
    let method = request.method.as_str();
    match (method, request.path()) {
        ("GET", "/poll") => answer_newer(connection, &request, |room, since, _| Some(hub.newer(room, since))),
        ("GET", "/long-poll") => answer_newer(connection, &request, |room, since, connection| {
            wait_newer(connection, hub, room, since, config.long_poll_timeout)
        }),
        ("GET", "/stream") => stream_events(connection, &request, hub, config),
        ("POST", "/send") => send(connection, &request, hub),
        (_, "/poll" | "/long-poll" | "/stream") => method_not_allowed(connection, "GET"),
        (_, "/send") => method_not_allowed(connection, "POST"),
        (_, path) => {
            let why = format!("no such endpoint: {path} (try /poll, /long-poll, /stream, /send)");
            error(connection, http::NOT_FOUND, &why)
        }
    }
}

/// `GET /poll` and `GET /long-poll`: the events newer than `since` as one JSON document.
fn answer_newer(
    connection: &mut Connection,
    request: &Request,
    newer: impl FnOnce(&str, u64, &Connection) -> Option<Newer>,
) -> AfterResponse {
    let (room, since) = match room_and_since(request) {
        Ok(pair) => pair,
        Err(why) => return error(connection, http::BAD_REQUEST, &why),
    };
    // `None`: the client went away while we waited; nobody to answer.
    let Some(newer) = newer(&room, since, connection) else { return AfterResponse::Close };
    respond_json(connection, http::OK, &newer_json(&room, since, &newer))
}

/// The answer: the events, the id to ask `since` next time, and whether older ones were missed
/// (no longer kept). Chapter 14's one-thread lab answers `GET /poll` with it too.
pub(crate) fn newer_json(room: &str, since: u64, newer: &Newer) -> Value {
    let last = newer.events.last().map_or(since, |event| event.id);
    json!({
        "room": room,
        "messages": newer.events.iter().map(|e| event_json(e)).collect::<Vec<_>>(),
        "last": last,
        "missed": newer.missed,
    })
}

/// A long-poll's wait, in short slices: between them, a client that went away is noticed (its
/// socket reads as closed) and its thread freed, instead of waiting out the whole timeout.
fn wait_newer(
    connection: &Connection,
    hub: &Hub,
    room: &str,
    since: u64,
    timeout: Duration,
) -> Option<Newer> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let newer = hub.wait_newer(room, since, left.min(DEPARTURE_CHECK));
        if !newer.events.is_empty() || newer.missed || left <= DEPARTURE_CHECK || connection.stopping() {
            return Some(newer);
        }
        if connection.departed() {
            return None;
        }
    }
}

/// `GET /stream`: a Server-Sent Events stream of the room, from `Last-Event-ID` (or `since`) on.
fn stream_events(
    connection: &mut Connection,
    request: &Request,
    hub: &Hub,
    config: &Config,
) -> AfterResponse {
    let (room, mut last) = match room_and_since(request) {
        Ok(pair) => pair,
        Err(why) => return error(connection, http::BAD_REQUEST, &why),
    };
    // A browser that reconnects says where it was in `Last-Event-ID`.
    if let Some(id) = request.header("Last-Event-ID").and_then(|id| id.parse().ok()) {
        last = id;
    }
    // Watch first, then read the history: an event published in between is in both, and the
    // id check below drops the second copy. The other order could lose it.
    let (outbox, inbox) = hub.outbox();
    let watch = match hub.watch(&room, outbox) {
        Ok(watch) => watch,
        Err(why) => return error(connection, http::BAD_REQUEST, &why),
    };
    // HTTP/1.1 frames the endless body in chunks; an HTTP/1.0 client knows no chunks, so its
    // stream simply ends when we close the connection.
    let chunked = !connection.is_http10();
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-cache\r\n{}\r\n",
        if chunked { "Transfer-Encoding: chunked\r\n" } else { "Connection: close\r\n" }
    );
    let mut result = connection.stream().write_all(head.as_bytes());
    let Newer { events, missed } = hub.newer(&room, last);
    {
        let mut send = |text: &str| write_event(connection.stream(), text, chunked);
        if missed {
            result = result.and_then(|()| send(": some older events are no longer kept\n\n"));
        }
        for event in events {
            last = event.id;
            result = result.and_then(|()| send(&sse_event(&event)));
        }
    }
    let mut quiet_since = Instant::now();
    while result.is_ok() {
        result = match inbox.recv_timeout(DEPARTURE_CHECK.min(config.keepalive)) {
            Ok(Delivery::Event(event)) if event.id <= last => Ok(()),
            Ok(Delivery::Event(event)) => {
                last = event.id;
                quiet_since = Instant::now();
                write_event(connection.stream(), &sse_event(&event), chunked)
            }
            Ok(Delivery::Goodbye) => {
                let _ =
                    write_event(connection.stream(), "event: bye\ndata: server shutting down\n\n", chunked);
                break;
            }
            Ok(_) => Ok(()),
            // A reader that went away frees this thread now, not at the next failed write.
            Err(RecvTimeoutError::Timeout) if connection.departed() => break,
            // A comment line: keeps proxies from closing an idle stream.
            Err(RecvTimeoutError::Timeout) if quiet_since.elapsed() >= config.keepalive => {
                quiet_since = Instant::now();
                write_event(connection.stream(), ": keep-alive\n\n", chunked)
            }
            Err(RecvTimeoutError::Timeout) => Ok(()),
            // The hub let us go: we could not keep up.
            Err(RecvTimeoutError::Disconnected) => {
                let _ =
                    write_event(connection.stream(), "event: bye\ndata: too slow to keep up\n\n", chunked);
                break;
            }
        };
    }
    hub.unwatch(&room, watch);
    if chunked {
        // The last chunk: zero bytes. The response is complete.
        let _ = connection.stream().write_all(b"0\r\n\r\n");
    }
    AfterResponse::Close
}

/// One event in Server-Sent Events format: `id:` lets a reconnecting browser resume.
fn sse_event(event: &Event) -> String {
    format!("id: {}\ndata: {}\n\n", event.id, event_json(event))
}

/// One event of the stream, flushed at once: as a chunk (its length in hex, the bytes, a line
/// break), or as it is when the stream is delimited by closing the connection.
pub(crate) fn write_event(stream: &mut impl Write, text: &str, chunked: bool) -> io::Result<()> {
    if chunked {
        stream.write_all(format!("{:x}\r\n{text}\r\n", text.len()).as_bytes())?;
    } else {
        stream.write_all(text.as_bytes())?;
    }
    stream.flush()
}

/// `POST /send`: `{"room": "lobby", "nick": "alice", "text": "hello"}`, as JSON. The content
/// type matters: a page on another site may send a "simple" `text/plain` POST without asking the
/// browser first, but never an `application/json` one.
fn send(connection: &mut Connection, request: &Request, hub: &Hub) -> AfterResponse {
    let message = match json_body(request) {
        Ok(value) => value,
        Err((status, why)) => return error(connection, status, &why),
    };
    let field = |name: &str| message.get(name).and_then(Value::as_str);
    let (Some(nick), Some(text)) = (field("nick"), field("text")) else {
        let why = r#"expected {"room": "lobby", "nick": "alice", "text": "hello"} (room may be left out)"#;
        return error(connection, http::BAD_REQUEST, why);
    };
    match hub.post(field("room").unwrap_or(LOBBY), nick, text) {
        Ok(id) => respond_json(connection, http::OK, &json!({ "id": id })),
        Err(why) => error(connection, http::BAD_REQUEST, &why),
    }
}

/// A request's JSON body, which must say it is JSON (see `send` for why).
pub(crate) fn json_body(request: &Request) -> Result<Value, (Status, String)> {
    let json = request.header("Content-Type").and_then(|t| t.split(';').next()).map(str::trim);
    if !json.is_some_and(|t| t.eq_ignore_ascii_case("application/json")) {
        let why = "send the message as JSON, with Content-Type: application/json";
        return Err((http::UNSUPPORTED_MEDIA_TYPE, why.into()));
    }
    serde_json::from_slice(&request.body)
        .map_err(|e| (http::BAD_REQUEST, format!("the body is not JSON: {e}")))
}

/// The `room` (default: the lobby) and `since` (default: 0, everything kept) parameters.
pub(crate) fn room_and_since(request: &Request) -> Result<(String, u64), String> {
    let room = http::query(&request.target, "room").transpose()?.unwrap_or_else(|| LOBBY.to_string());
    common::protocol::check_room(&room)?;
    let since = match http::query(&request.target, "since").transpose()? {
        Some(since) => since.parse().map_err(|_| format!("since must be a number, not {since:?}"))?,
        None => 0,
    };
    Ok((room, since))
}

/// An event as JSON: `{"id", "room", "time" (ms since 1970), "kind", "nick"?, "text"}`.
pub fn event_json(event: &Event) -> Value {
    let time = event.time.duration_since(UNIX_EPOCH).map_or(0, |t| t.as_millis() as u64);
    match &event.kind {
        EventKind::Message { nick, text } => json!({
            "id": event.id, "room": event.room, "time": time, "kind": "message", "nick": nick, "text": text,
        }),
        _ => {
            let line = event.line();
            let text = line.strip_prefix("* ").unwrap_or(&line);
            json!({ "id": event.id, "room": event.room, "time": time, "kind": "notice", "text": text })
        }
    }
}

pub(crate) fn respond_json(connection: &mut Connection, status: Status, body: &Value) -> AfterResponse {
    // `no-cache`: a cached answer to "what is new?" is always wrong.
    let headers = [("Content-Type", "application/json"), ("Cache-Control", "no-cache")];
    connection.respond(status, &headers, body.to_string().as_bytes())
}

/// A mistake the client can correct: said in JSON, and the connection goes on.
pub(crate) fn error(connection: &mut Connection, status: Status, why: &str) -> AfterResponse {
    info!("{} {}: {why}", status.0, status.1);
    respond_json(connection, status, &json!({ "error": why }))
}

pub(crate) fn method_not_allowed(connection: &mut Connection, allowed: &str) -> AfterResponse {
    let why = format!("this endpoint takes {allowed}");
    info!("405 Method Not Allowed: {why}");
    let body = json!({ "error": why }).to_string();
    let headers = [("Content-Type", "application/json"), ("Allow", allowed)];
    connection.respond(http::METHOD_NOT_ALLOWED, &headers, body.as_bytes())
}
