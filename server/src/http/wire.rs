//! The lab page's wire panel: a visitor watches what the server reads and writes on their own
//! connections, live.
//!
//! ```text
//! page                                             server
//!  token = 16 random bytes, in hex
//!  GET /wire?token=T  (Server-Sent Events)  ----->  a viewer for T
//!  GET /poll?room=lobby&since=4&wire=T     ----->  this connection is shown to T's viewer:
//!                                                   the request as it arrived, then each read
//!                                                   and write (heads, frames, sizes, times)
//!  GET /ws?wire=T, POST /send?wire=T, ...  ----->  the same
//! ```
//!
//! Only your own traffic, by construction: a connection is shown to a viewer only while the
//! request it is answering carries that viewer's token, and the token is known to the one page
//! that made it (128 random bits; the server refuses short ones). A request without it on the
//! same keep-alive connection (a browser shares connections between its tabs) stops the showing
//! at once. `GET /wire` passes the site's `Host` rules like every other route.
//!
//! A viewer never slows the chat: each event is offered to a queue of [`QUEUE_EVENTS`] with
//! `try_send`, and one that does not fit is dropped and counted; the viewer is told how many it
//! lost. Viewers are capped at [`MAX_VIEWERS`], and a token is forgotten when its viewer leaves.

use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use common::trace::{Layer, Sink};
use log::info;

use super::{query, AfterResponse, Connection, Request, Status, BAD_REQUEST, SERVICE_UNAVAILABLE};

/// Wire viewers open at once (thirty students, a tab or two each). Past it: 503.
pub const MAX_VIEWERS: usize = 64;
/// Wire viewers open at once from one client address: a quarter of the slots, so one page
/// (or one script) cannot take them all. Past it: 503.
pub const MAX_VIEWERS_PER_ADDRESS: usize = MAX_VIEWERS / 4;
/// A token is 16 to 64 letters, digits, `-` or `_`: the page sends 32 hex digits.
pub const TOKEN_MIN: usize = 16;
pub const TOKEN_MAX: usize = 64;
/// Events waiting for one viewer; past it, events are dropped and counted.
pub const QUEUE_EVENTS: usize = 256;
/// One event is cut to this many bytes (a burst of chat lines decodes to many lines).
pub const EVENT_BYTES: usize = 4096;
/// A viewer whose socket takes no bytes for this long is closed.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// A comment line after this much quiet keeps proxies from closing the stream.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// How often the viewer's thread looks up from its queue: for a stop, a departed viewer.
const TICK: Duration = Duration::from_millis(250);

/// The query parameter of a request that asks to be shown to a viewer: `/poll?...&wire=T`.
pub const WIRE_PARAM: &str = "wire";
/// The query parameter of the viewer itself: `/wire?token=T`.
pub const TOKEN_PARAM: &str = "token";
const CONFLICT: Status = (409, "Conflict");

/// The viewers of one server, by token.
#[derive(Default)]
pub struct Wire {
    viewers: Mutex<HashMap<String, Arc<Viewer>>>,
}

/// One open `GET /wire`: the queue its thread writes from.
struct Viewer {
    /// The client address that opened it, for [`MAX_VIEWERS_PER_ADDRESS`].
    from: IpAddr,
    queue: SyncSender<String>,
    lost: AtomicU64,
    opened: Instant,
}

impl Viewer {
    /// Never waits: an event that does not fit is counted, not queued.
    fn offer(&self, text: &str) {
        let at = self.opened.elapsed().as_secs_f64();
        let mut event = format!("{at:8.3} s {text}");
        if event.len() > EVENT_BYTES {
            let mut cut = EVENT_BYTES;
            while !event.is_char_boundary(cut) {
                cut -= 1;
            }
            event.truncate(cut);
            event.push_str("\n   … (event cut)\n");
        }
        if let Err(TrySendError::Full(_)) = self.queue.try_send(event) {
            self.lost.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Wire {
    /// Answers one request: `GET /wire` itself, or any other by `route`, its connection shown
    /// meanwhile to the viewer of the token it carries. Only meanwhile: the next request on
    /// the connection may be another page's (a browser shares connections between its tabs).
    pub fn answer(
        &self,
        connection: &mut Connection,
        request: Request,
        route: impl FnOnce(&mut Connection, Request) -> AfterResponse,
    ) -> AfterResponse {
        if request.method == "GET" && request.path() == "/wire" {
            return self.serve(connection, &request);
        }
        self.tap(connection, &request);
        let after = route(connection, request);
        connection.stream().unwatch();
        after
    }

    /// Shows `connection` to the viewer of the token `request` carries, from this request on:
    /// first the request, as it arrived.
    fn tap(&self, connection: &mut Connection, request: &Request) {
        let token = query(&request.target, WIRE_PARAM).and_then(Result::ok);
        let Some(viewer) = token.and_then(|token| self.viewer(&token)) else { return };
        let sink = Sink::new(move |text| {
            if let Some(viewer) = viewer.upgrade() {
                viewer.offer(text);
            }
        });
        let mut received = request.raw_head.clone();
        received.extend_from_slice(&request.body);
        let peer = connection.peer();
        connection.stream().watch(peer, Layer::Http, sink, &received);
    }

    fn viewer(&self, token: &str) -> Option<Weak<Viewer>> {
        self.lock().get(token).map(Arc::downgrade)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Viewer>>> {
        self.viewers.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `GET /wire?token=T`: the events of T's connections as Server-Sent Events, until the
    /// viewer leaves or the server stops.
    fn serve(&self, connection: &mut Connection, request: &Request) -> AfterResponse {
        let token = match query(&request.target, TOKEN_PARAM) {
            Some(Ok(token)) if valid(&token) => token,
            _ => {
                let why = format!(
                    "/wire needs ?token= with {TOKEN_MIN} to {TOKEN_MAX} letters, digits, - or _ (the lab page makes one)"
                );
                return connection.refuse(BAD_REQUEST, &why, &[]);
            }
        };
        let (queue, events) = mpsc::sync_channel(QUEUE_EVENTS);
        let from = connection.peer().ip();
        let viewer = Arc::new(Viewer { from, queue, lost: AtomicU64::new(0), opened: Instant::now() });
        {
            let mut viewers = self.lock();
            if viewers.contains_key(&token) {
                return connection.refuse(
                    CONFLICT,
                    "this token is being watched already: reload the page",
                    &[],
                );
            }
            if viewers.len() >= MAX_VIEWERS {
                let why = format!("{MAX_VIEWERS} wire viewers are open, try again later");
                return connection.refuse(SERVICE_UNAVAILABLE, &why, &[("Retry-After", "5")]);
            }
            if viewers.values().filter(|v| v.from == from).count() >= MAX_VIEWERS_PER_ADDRESS {
                let why = format!(
                    "{MAX_VIEWERS_PER_ADDRESS} wire viewers from {from} are open already, the most for one \
                     address: close a tab that shows the wire"
                );
                return connection.refuse(SERVICE_UNAVAILABLE, &why, &[("Retry-After", "5")]);
            }
            viewers.insert(token.clone(), viewer.clone());
        }
        let peer = connection.peer();
        info!("{peer}: watching its wire");
        stream_to_viewer(connection, &viewer, &events);
        self.lock().remove(&token);
        info!("{peer}: stopped watching its wire");
        AfterResponse::Close
    }
}

/// Writes the viewer's events until it leaves, its socket stalls, or the server stops.
fn stream_to_viewer(connection: &mut Connection, viewer: &Viewer, events: &Receiver<String>) {
    // The body ends when the connection does: an endless stream needs no length.
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n\
                Cache-Control: no-cache\r\nConnection: close\r\n\r\n";
    let stream = connection.stream();
    let mut result = stream.set_write_timeout(Some(WRITE_TIMEOUT)).and_then(|()| {
        stream.write_all(head.as_bytes())?;
        stream.write_all(b"event: hello\ndata: showing the connections that send this token\n\n")?;
        stream.flush()
    });
    let mut quiet_since = Instant::now();
    while result.is_ok() && !connection.stopping() {
        let text = match events.recv_timeout(TICK) {
            Ok(text) => sse_data(&text),
            Err(RecvTimeoutError::Timeout) if connection.departed() => break,
            Err(RecvTimeoutError::Timeout) if quiet_since.elapsed() >= KEEPALIVE => ": keep-alive\n\n".into(),
            Err(_) => String::new(),
        };
        let lost = viewer.lost.swap(0, Ordering::Relaxed);
        let lost = if lost > 0 { format!("event: lost\ndata: {lost}\n\n") } else { String::new() };
        if text.is_empty() && lost.is_empty() {
            continue;
        }
        quiet_since = Instant::now();
        let stream = connection.stream();
        result = stream.write_all(format!("{lost}{text}").as_bytes()).and_then(|()| stream.flush());
    }
}

/// One event: each line of the text a `data:` line (the browser joins them with `\n`).
fn sse_data(text: &str) -> String {
    let mut event = String::with_capacity(text.len() + 64);
    for line in text.trim_end_matches('\n').split('\n') {
        // The trace escapes every control byte a peer sent; a stray CR would still end an SSE line.
        event.push_str("data: ");
        event.push_str(&line.replace('\r', "\\r"));
        event.push('\n');
    }
    event.push('\n');
    event
}

fn valid(token: &str) -> bool {
    (TOKEN_MIN..=TOKEN_MAX).contains(&token.len())
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
