//! Socket.IO in the lab, at `/socket.io/`: the chat people came from, on the lab's hub.
//!
//! ```text
//! GET  /socket.io/?EIO=4&transport=polling            open: a new session, its sid and timings
//! GET  /socket.io/?EIO=4&transport=polling&sid=S      waits for the server's packets (long poll)
//! POST /socket.io/?EIO=4&transport=polling&sid=S      the client's packets
//! GET  /socket.io/?EIO=4&transport=websocket&sid=S    the upgrade: 2probe, 3probe, 5, then frames
//! GET  /socket.io/?EIO=4&transport=websocket          a WebSocket-only session, no polling at all
//! ```
//!
//! Two layers share the work: `session` and the transports (`polling`, `websocket`) are
//! Engine.IO, a session that survives from request to request and moves onto a WebSocket;
//! `chat` is Socket.IO, the namespace `/chat` and its events, where a session becomes a hub
//! member like a TCP or WebSocket one. `packet` reads and writes both layers' text.

mod chat;
mod polling;
mod session;
mod websocket;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use log::{debug, info};
use serde_json::json;

use crate::http::{self, AfterResponse, Connection, Request, Status};
use crate::hub::{Hub, LeaveReason};
use crate::workers::STACK_SIZE;
use common::sio as packet;
use packet::{Incoming, Version};
pub use session::{Session, Transport, MAX_QUEUED};

/// Where Socket.IO lives on the lab's web port (the clients' default path).
pub const PATH: &str = "/socket.io/";
/// How often the server pings a v4 client (v3 clients ping on this schedule themselves).
pub const PING_INTERVAL: Duration = Duration::from_secs(25);
/// How long after a ping is due the client may still answer: a session that has not been
/// heard from for `PING_INTERVAL + PING_TIMEOUT` (45 s) is closed, and its room told.
pub const PING_TIMEOUT: Duration = Duration::from_secs(20);
/// The largest polling body or WebSocket message a client may send: the HTTP layer's body
/// limit, which the open packet announces as `maxPayload` so v4 clients split their batches.
pub const MAX_PAYLOAD: usize = http::MAX_BODY;
/// Engine.IO sessions at once, connected to the chat or not. Past it: 503.
pub const MAX_SESSIONS: usize = 500;

/// Where the lab's own Socket.IO page is (`server/src/web/sio.html`, the article's chat).
pub const PAGE_PATH: &str = "/sio";
/// Where the page, like a Node Socket.IO server's pages, finds the client script.
pub const SCRIPT_PATH: &str = "/socket.io/socket.io.js";
/// The page, in the binary.
pub const PAGE: &str = include_str!("../web/sio.html");

/// The Socket.IO side's settings; tests and the chapter shorten the timings
/// (`--sio-ping-interval`, `--sio-ping-timeout`).
#[derive(Debug, Clone)]
pub struct Config {
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    /// The Socket.IO client script served at [`SCRIPT_PATH`] (`--sio-client FILE`): the lab
    /// ships none of its own.
    pub client_script: Option<Arc<[u8]>>,
}

impl Default for Config {
    fn default() -> Self {
        Config { ping_interval: PING_INTERVAL, ping_timeout: PING_TIMEOUT, client_script: None }
    }
}

/// True for the paths this module answers: the page, the script, and Engine.IO's.
pub fn serves(path: &str) -> bool {
    path == PAGE_PATH || path.starts_with(PATH)
}

/// Every Engine.IO session of one lab, by sid.
pub struct Sio {
    hub: Arc<Hub>,
    config: Config,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

/// A refusal before any session exists: Node's engine.io answers these with a code and a
/// message in JSON, which the clients report.
type Refusal = (Status, u8, String);

impl Sio {
    pub fn new(hub: Arc<Hub>, config: Config) -> Arc<Sio> {
        Arc::new(Sio { hub, config, sessions: Mutex::new(HashMap::new()) })
    }

    /// Serves one request under [`PATH`].
    pub fn route(self: &Arc<Self>, connection: &mut Connection, request: Request) -> AfterResponse {
        match (request.method.as_str(), request.path()) {
            ("GET" | "HEAD", PAGE_PATH) => {
                let headers = [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-cache")];
                return connection.respond(http::OK, &headers, PAGE.as_bytes());
            }
            ("GET" | "HEAD", SCRIPT_PATH) => return self.script(connection),
            _ => {}
        }
        let param = |name| http::query(&request.target, name).and_then(Result::ok);
        let version = match param("EIO").as_deref() {
            Some("4") => Version::V4,
            Some("3") => Version::V3,
            _ => return refuse(connection, (http::BAD_REQUEST, 5, "Unsupported protocol version".into())),
        };
        let sid = param("sid");
        let session = match sid.as_deref().map(|sid| self.find(sid)) {
            Some(None) => return refuse(connection, (http::BAD_REQUEST, 1, "Session ID unknown".into())),
            Some(Some(session)) if session.version != version => {
                return refuse(connection, (http::BAD_REQUEST, 3, "Bad request".into()))
            }
            Some(session) => session,
            None => None,
        };
        let answer = match (request.method.as_str(), param("transport").as_deref(), session) {
            ("GET", Some("polling"), None) => polling::open(self, connection, &request, version),
            ("GET", Some("polling"), Some(session)) => polling::get(self, connection, &session),
            ("POST", Some("polling"), Some(session)) => polling::post(self, connection, &request, &session),
            ("GET", Some("websocket"), session) => {
                return websocket::serve(self, connection, &request, version, session)
            }
            (_, Some("polling" | "websocket"), _) => {
                Err((http::BAD_REQUEST, 2, "Bad handshake method".into()))
            }
            _ => Err((http::BAD_REQUEST, 0, "Transport unknown".into())),
        };
        answer.unwrap_or_else(|refusal| refuse(connection, refusal))
    }

    /// The client script given with `--sio-client`, or a 404 that says how to give one.
    fn script(&self, connection: &mut Connection) -> AfterResponse {
        match &self.config.client_script {
            Some(script) => {
                let headers =
                    [("Content-Type", "text/javascript; charset=utf-8"), ("Cache-Control", "no-cache")];
                connection.respond(http::OK, &headers, script)
            }
            None => {
                let why = "the lab ships no Socket.IO client script: start it with --sio-client \
                           PATH/TO/socket.io.min.js (from `npm install socket.io-client`)";
                connection.respond(
                    http::NOT_FOUND,
                    &[("Content-Type", "text/plain; charset=utf-8")],
                    why.as_bytes(),
                )
            }
        }
    }

    /// The open session `sid` (a closed one is as unknown as one that never was).
    fn find(&self, sid: &str) -> Option<Arc<Session>> {
        self.lock().get(sid).filter(|session| !session.is_closed()).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A new session, with its heartbeat running.
    fn open(
        self: &Arc<Self>,
        version: Version,
        target: &str,
        transport: Transport,
    ) -> Result<Arc<Session>, Refusal> {
        let mut sessions = self.lock();
        if sessions.len() >= MAX_SESSIONS {
            let why = format!("{MAX_SESSIONS} Socket.IO sessions already open, try again later");
            return Err((http::SERVICE_UNAVAILABLE, 3, why));
        }
        let sid = new_sid();
        let session = Arc::new(Session::new(
            sid.clone(),
            version,
            target.to_string(),
            transport,
            self.config.ping_interval,
        ));
        sessions.insert(sid.clone(), session.clone());
        drop(sessions);
        let (sio, beating) = (self.clone(), session.clone());
        let spawned = thread::Builder::new()
            .name(format!("sio heart {sid}"))
            .stack_size(STACK_SIZE)
            .spawn(move || sio.beat(&beating));
        if spawned.is_err() {
            self.lock().remove(&sid);
            return Err((http::SERVICE_UNAVAILABLE, 3, "cannot start the session's heartbeat".into()));
        }
        debug!("Socket.IO session {sid} open ({version:?}, {transport:?})");
        Ok(session)
    }

    /// The first packets of a session: `open` with the sid and the timings, and for a v3 client
    /// the CONNECT of the default namespace, which its server sends unasked.
    fn greeting(&self, session: &Session, upgrades: bool) -> Vec<String> {
        let ms = |d: Duration| d.as_millis() as u64;
        let mut open = json!({
            "sid": session.sid,
            "upgrades": if upgrades { vec!["websocket"] } else { vec![] },
            "pingInterval": ms(self.config.ping_interval),
            "pingTimeout": ms(self.config.ping_timeout),
        });
        if session.version == Version::V4 {
            open["maxPayload"] = json!(MAX_PAYLOAD);
        }
        let mut packets = vec![format!("{}{open}", packet::OPEN)];
        if session.version == Version::V3 {
            packets.push(packet::encode(packet::Kind::Connect, "/", None, None));
        }
        packets
    }

    /// The heartbeat of one session, on its own thread: pings a v4 client every interval, and
    /// closes any session not heard from for interval + timeout. Then forgets the session.
    fn beat(&self, session: &Session) {
        let Config { ping_interval, ping_timeout, .. } = self.config;
        loop {
            let mut state = session.lock();
            if state.closed {
                break;
            }
            let now = Instant::now();
            let deadline = state.heard + ping_interval + ping_timeout;
            if now >= deadline {
                drop(state);
                info!(
                    "Socket.IO session {}: no pong for {:?}, closing it",
                    session.sid,
                    ping_interval + ping_timeout
                );
                session.close(&self.hub, LeaveReason::Lost);
                break;
            }
            let mut wake = deadline;
            if session.version == Version::V4 {
                if now >= state.next_ping {
                    state.queue.push_back(packet::PING.to_string());
                    state.next_ping = now + ping_interval;
                    session.notify();
                }
                wake = wake.min(state.next_ping);
            }
            drop(session.wait(state, wake.saturating_duration_since(now)));
        }
        self.lock().remove(&session.sid);
        debug!("Socket.IO session {} closed", session.sid);
    }

    /// One Engine.IO packet from the client, on whichever transport. An error is a broken
    /// client: the caller closes the session.
    fn receive(&self, session: &Arc<Session>, incoming: Incoming) -> Result<(), String> {
        let text = {
            let mut state = session.lock();
            match incoming {
                Incoming::Binary if state.attachments == 0 => {
                    return Err("a binary packet nobody announced".into())
                }
                Incoming::Binary => {
                    state.attachments -= 1;
                    return Ok(());
                }
                Incoming::Text(_) if state.attachments > 0 => {
                    let left = state.attachments;
                    return Err(format!("{left} binary attachment(s) announced, a text packet came instead"));
                }
                Incoming::Text(text) => text,
            }
        };
        let mut chars = text.chars();
        let kind = chars.next().ok_or("an empty Engine.IO packet")?;
        let data = chars.as_str();
        match kind {
            packet::PING => {
                // v3 clients ping; whoever pings is alive.
                session.lock().heard = Instant::now();
                session.push(format!("{}{data}", packet::PONG));
            }
            packet::PONG => session.lock().heard = Instant::now(),
            packet::CLOSE => session.close(&self.hub, LeaveReason::Quit),
            packet::MESSAGE => chat::receive(self, session, data)?,
            packet::UPGRADE | packet::NOOP => {}
            other => return Err(format!("a client does not send Engine.IO packet type {other:?}")),
        }
        Ok(())
    }

    /// The server is stopping: every session ends, its member says goodbye.
    pub fn close_all(&self) {
        let sessions: Vec<Arc<Session>> = self.lock().values().cloned().collect();
        for session in sessions {
            chat::goodbye(&session);
            session.close(&self.hub, LeaveReason::Shutdown);
        }
    }
}

/// A JSON refusal like Node's (`{"code":1,"message":"Session ID unknown"}`); the connection
/// stays open for the client's next request.
fn refuse(connection: &mut Connection, (status, code, message): Refusal) -> AfterResponse {
    debug!("{}: Socket.IO refused: {} {message}", connection.peer(), status.0);
    let body = json!({ "code": code, "message": message }).to_string();
    connection.respond(status, &[("Content-Type", "application/json")], body.as_bytes())
}

/// A session id: 120 random bits, URL-safe base64 (20 characters).
fn new_sid() -> String {
    let bytes: [u8; 15] = rand::random();
    common::handshake::base64(&bytes).replace('+', "-").replace('/', "_")
}
