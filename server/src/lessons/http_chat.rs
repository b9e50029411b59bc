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
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use common::protocol::LOBBY;
use common::Shutdown;
use log::{debug, info};
use serde_json::{json, Value};

use crate::http::{self, ReadError, Request, Status};
use crate::hub::{Delivery, Event, EventKind, Hub, Newer};
use crate::workers::accept_loop;

/// The largest `POST /send` body. Over it: 413.
pub const MAX_BODY: usize = 4096;

/// The timings of this server; tests shorten them.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long a long-poll waits for news before it answers with nothing (and is asked again).
    pub long_poll_timeout: Duration,
    /// How often an idle stream sends a comment line, so proxies keep it open and we notice a
    /// client that went away.
    pub keepalive: Duration,
    /// How long a persistent connection may sit idle between requests.
    pub idle: Duration,
    /// How long the head of one request may take, once it has started (408 after).
    pub head_timeout: Duration,
    /// Connections served at once (waiting long-polls and open streams included).
    pub max_connections: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            long_poll_timeout: Duration::from_secs(25),
            keepalive: Duration::from_secs(15),
            idle: Duration::from_secs(30),
            head_timeout: http::HEAD_TIMEOUT,
            max_connections: 500,
        }
    }
}

/// Serves the HTTP chat until `shutdown`.
pub fn run(listener: TcpListener, shutdown: &Shutdown, hub: Arc<Hub>, config: Config) -> io::Result<()> {
    let addr = listener.local_addr()?;
    info!("HTTP chat listening on http://{addr}/ (try `curl 'http://{addr}/poll?room=lobby'`)");
    serve(&listener, shutdown, hub, config, route)?;
    info!("HTTP chat stopped");
    Ok(())
}

/// The accept loop of an HTTP server on `hub`: each connection's requests go to `router`.
pub fn serve(
    listener: &TcpListener,
    shutdown: &Shutdown,
    hub: Arc<Hub>,
    config: Config,
    router: impl Fn(&mut TcpStream, Request, &Hub, &Config, &Shutdown) -> Next + Send + Sync + 'static,
) -> io::Result<()> {
    // Long-polls wait on the hub and streams on their outboxes, not on a socket: on Ctrl-C the
    // hub wakes them all.
    let closing = hub.clone();
    shutdown.on_trigger(move || closing.close());
    let max = config.max_connections;
    let refuse = move |mut stream: TcpStream, _peer| {
        let why = format!("{max} connections already open, try again later");
        http::refuse(&mut stream, http::SERVICE_UNAVAILABLE, &why, &[("Retry-After", "5")]);
    };
    let watcher = shutdown.clone();
    let serve = move |stream, peer| serve_connection(stream, peer, &hub, &config, &watcher, &router);
    accept_loop(listener, shutdown, max, refuse, serve)
}

/// What to do with the connection after a response.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Read the next request (HTTP/1.1 connections are persistent).
    KeepAlive,
    Close,
}

/// A request handler: this lesson's [`route`], or a bigger server's that falls back to it.
pub type Router = dyn Fn(&mut TcpStream, Request, &Hub, &Config, &Shutdown) -> Next + Send + Sync;

/// Reads requests from one connection and answers each, until either side is done.
pub fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    hub: &Hub,
    config: &Config,
    shutdown: &Shutdown,
    router: &Router,
) {
    let Ok(_tracked) = shutdown.track(&stream) else { return };
    let _ = stream.set_nodelay(true);
    loop {
        let request = match http::read_request_within(&mut stream, config.idle, config.head_timeout) {
            Ok(request) => request,
            Err(ReadError::Gone) => return debug!("{peer}: connection closed"),
            Err(ReadError::Bad(status, why)) => {
                info!("{peer}: {} {}: {why}", status.0, status.1);
                return http::refuse(&mut stream, status, &why, &[]);
            }
        };
        debug!("{peer}: {} {}", request.method, request.target);
        let close = request.has_token("Connection", "close");
        if router(&mut stream, request, hub, config, shutdown) == Next::Close
            || close
            || shutdown.is_triggered()
        {
            return;
        }
    }
}

/// This lesson's endpoints.
pub fn route(stream: &mut TcpStream, mut request: Request, hub: &Hub, config: &Config, _: &Shutdown) -> Next {
    let method = request.method.as_str();
    match (method, request.path()) {
        ("GET", "/poll") => answer_newer(stream, &request, |room, since| hub.newer(room, since)),
        ("GET", "/long-poll") => answer_newer(stream, &request, |room, since| {
            hub.wait_newer(room, since, config.long_poll_timeout)
        }),
        ("GET", "/stream") => stream_events(stream, &request, hub, config),
        ("POST", "/send") => match http::read_body(stream, &mut request, MAX_BODY) {
            Ok(body) => send(stream, &body, hub),
            Err(ReadError::Gone) => Next::Close,
            Err(ReadError::Bad(status, why)) => error(stream, status, &why, Next::Close),
        },
        (_, "/poll" | "/long-poll" | "/stream") => method_not_allowed(stream, "GET"),
        (_, "/send") => method_not_allowed(stream, "POST"),
        (_, path) => {
            let why = format!("no such endpoint: {path} (try /poll, /long-poll, /stream, /send)");
            error(stream, http::NOT_FOUND, &why, Next::KeepAlive)
        }
    }
}

/// `GET /poll` and `GET /long-poll`: the events newer than `since` as one JSON document.
fn answer_newer(stream: &mut TcpStream, request: &Request, newer: impl FnOnce(&str, u64) -> Newer) -> Next {
    let (room, since) = match room_and_since(request) {
        Ok(pair) => pair,
        Err(why) => return error(stream, http::BAD_REQUEST, &why, Next::KeepAlive),
    };
    let Newer { events, missed } = newer(&room, since);
    let last = events.last().map_or(since, |event| event.id);
    let body = json!({
        "room": room,
        "messages": events.iter().map(|e| event_json(e)).collect::<Vec<_>>(),
        "last": last,
        "missed": missed,
    });
    respond_json(stream, http::OK, &body)
}

/// `GET /stream`: a Server-Sent Events stream of the room, from `Last-Event-ID` (or `since`) on.
fn stream_events(stream: &mut TcpStream, request: &Request, hub: &Hub, config: &Config) -> Next {
    let (room, mut last) = match room_and_since(request) {
        Ok(pair) => pair,
        Err(why) => return error(stream, http::BAD_REQUEST, &why, Next::KeepAlive),
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
        Err(why) => return error(stream, http::BAD_REQUEST, &why, Next::KeepAlive),
    };
    let head =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-cache\r\n\
                Transfer-Encoding: chunked\r\n\r\n";
    let mut result = stream.write_all(head.as_bytes());
    let mut send = |text: &str| write_chunk(stream, text);
    let Newer { events, missed } = hub.newer(&room, last);
    if missed {
        result = result.and_then(|()| send(": some older events are no longer kept\n\n"));
    }
    for event in events {
        last = event.id;
        result = result.and_then(|()| send(&sse_event(&event)));
    }
    while result.is_ok() {
        result = match inbox.recv_timeout(config.keepalive) {
            Ok(Delivery::Event(event)) if event.id <= last => Ok(()),
            Ok(Delivery::Event(event)) => {
                last = event.id;
                send(&sse_event(&event))
            }
            Ok(Delivery::Goodbye) => {
                let _ = send("event: bye\ndata: server shutting down\n\n");
                break;
            }
            Ok(_) => Ok(()),
            // A comment line: keeps proxies from closing an idle stream, and a write to a
            // client that went away fails, which ends this loop and frees the thread.
            Err(RecvTimeoutError::Timeout) => send(": keep-alive\n\n"),
            // The hub let us go: we could not keep up.
            Err(RecvTimeoutError::Disconnected) => {
                let _ = send("event: bye\ndata: too slow to keep up\n\n");
                break;
            }
        };
    }
    hub.unwatch(&room, watch);
    // The last chunk: zero bytes. The response is complete.
    let _ = stream.write_all(b"0\r\n\r\n");
    Next::Close
}

/// One event in Server-Sent Events format: `id:` lets a reconnecting browser resume.
fn sse_event(event: &Event) -> String {
    format!("id: {}\ndata: {}\n\n", event.id, event_json(event))
}

/// One chunk of a chunked response: its length in hex, the bytes, a line break.
fn write_chunk(stream: &mut TcpStream, text: &str) -> io::Result<()> {
    stream.write_all(format!("{:x}\r\n{text}\r\n", text.len()).as_bytes())?;
    stream.flush()
}

/// `POST /send`: `{"room": "lobby", "nick": "alice", "text": "hello"}`.
fn send(stream: &mut TcpStream, body: &[u8], hub: &Hub) -> Next {
    let message: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(e) => {
            return error(stream, http::BAD_REQUEST, &format!("the body is not JSON: {e}"), Next::KeepAlive)
        }
    };
    let field = |name: &str| message.get(name).and_then(Value::as_str);
    let (Some(nick), Some(text)) = (field("nick"), field("text")) else {
        let why = r#"expected {"room": "lobby", "nick": "alice", "text": "hello"} (room may be left out)"#;
        return error(stream, http::BAD_REQUEST, why, Next::KeepAlive);
    };
    match hub.post(field("room").unwrap_or(LOBBY), nick, text) {
        Ok(id) => respond_json(stream, http::OK, &json!({ "id": id })),
        Err(why) => error(stream, http::BAD_REQUEST, &why, Next::KeepAlive),
    }
}

/// The `room` (default: the lobby) and `since` (default: 0, everything kept) parameters.
fn room_and_since(request: &Request) -> Result<(String, u64), String> {
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

fn respond_json(stream: &mut TcpStream, status: Status, body: &Value) -> Next {
    // `no-cache`: a cached answer to "what is new?" is always wrong.
    let headers = [("Content-Type", "application/json"), ("Cache-Control", "no-cache")];
    match http::respond(stream, status, &headers, body.to_string().as_bytes()) {
        Ok(()) => Next::KeepAlive,
        Err(_) => Next::Close,
    }
}

fn error(stream: &mut TcpStream, status: Status, why: &str, next: Next) -> Next {
    info!("{} {}: {why}", status.0, status.1);
    let kept = respond_json(stream, status, &json!({ "error": why }));
    if next == Next::Close {
        let _ = stream.shutdown(std::net::Shutdown::Write);
    }
    if kept == Next::Close {
        Next::Close
    } else {
        next
    }
}

fn method_not_allowed(stream: &mut TcpStream, allowed: &str) -> Next {
    let why = format!("this endpoint takes {allowed}");
    info!("405 Method Not Allowed: {why}");
    let body = json!({ "error": why }).to_string();
    let headers = [("Content-Type", "application/json"), ("Allow", allowed)];
    match http::respond(stream, http::METHOD_NOT_ALLOWED, &headers, body.as_bytes()) {
        Ok(()) => Next::KeepAlive,
        Err(_) => Next::Close,
    }
}
