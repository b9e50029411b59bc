//! The subscribers: the clients whose costs `compare` measures, each following one room by one
//! transport. HTTP subscribers are the lesson 5 client's own loops (`lessons::http::poll` and
//! `stream`); TCP and WebSocket subscribers are chat members that only read.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::line::LineReader;
use common::trace::Traced;
use common::Shutdown;
use serde_json::Value;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::Message;

use super::{now_us, Transport};
use crate::lessons::http::{self, Counted, Mode, Stats};

/// How often a WebSocket subscriber looks up from its socket to see whether the run is over:
/// it must leave with a close frame of its own, so it cannot simply have its socket shut down.
pub(super) const LOOK_UP: Duration = Duration::from_millis(100);

/// How long a WebSocket subscriber waits for the server's close frame after sending its own.
pub(super) const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// How long the WebSocket upgrade may take: the lab answers it at once. Without this a lab that
/// never answers `GET /ws` would hold `compare` forever.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one write to the lab may block: a lab that stops reading fails the run.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// What every subscriber of one run shares.
pub struct Tally {
    /// The publisher's nickname in this run (each run has its own: the last run's publisher may
    /// still be leaving when the next one arrives).
    pub publisher: String,
    pub delays: Mutex<Vec<u64>>,
    pub delivered: AtomicU64,
    /// What went wrong with a subscriber after it was listening: the run fails with the first.
    errors: Mutex<Vec<String>>,
}

impl Tally {
    pub fn new(publisher: String) -> Tally {
        Tally {
            publisher,
            delays: Mutex::new(Vec::new()),
            delivered: AtomicU64::new(0),
            errors: Mutex::default(),
        }
    }

    /// The first error a subscriber met, and how many met one.
    pub fn errors(&self) -> Option<(String, usize)> {
        let errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        errors.first().map(|e| (e.clone(), errors.len()))
    }

    /// Records a line the publisher sent (`m SEQ SENT_US`); ignores everything else.
    fn record(&self, nick: &str, text: &str) {
        let sent = text
            .strip_prefix("m ")
            .and_then(|rest| rest.split(' ').nth(1))
            .and_then(|t| t.parse::<u64>().ok());
        if let (true, Some(sent)) = (nick == self.publisher, sent) {
            self.delivered.fetch_add(1, Ordering::Relaxed);
            self.delays.lock().unwrap_or_else(|p| p.into_inner()).push(now_us().saturating_sub(sent));
        }
    }
}

/// One subscriber of one run: follows `room` by `transport` until `stop`, recording every
/// publisher line in `tally`, counting its bytes in `stats`, and saying on `ready` when it listens.
pub struct Subscriber {
    pub transport: Transport,
    pub tcp: String,
    pub web: String,
    pub room: String,
    /// This subscriber's own nickname, unique in the run: a WebSocket member asks for it (and
    /// the room) in its upgrade, so it never passes through the lobby as guest-N.
    pub nick: String,
    pub stats: Arc<Stats>,
    pub tally: Arc<Tally>,
    pub stop: Shutdown,
    pub ready: mpsc::Sender<Result<(), String>>,
}

impl Subscriber {
    pub fn run(self) {
        let tally = self.tally.clone();
        let mut show = |event: &Value| {
            if let (Some(nick), Some(text)) = (event["nick"].as_str(), event["text"].as_str()) {
                tally.record(nick, text);
            }
            Ok(())
        };
        let (web, stats, stop) = (&self.web, &self.stats, &self.stop);
        let encoded = common::percent::encode(&self.room);
        let result = match self.transport {
            Transport::Poll(interval) => {
                let _ = self.ready.send(Ok(()));
                let mode = Mode::Poll { interval: Duration::from_secs_f64(interval) };
                http::poll(web, mode, &encoded, stats, stop, &mut show)
            }
            Transport::LongPoll => {
                let _ = self.ready.send(Ok(()));
                http::poll(web, Mode::LongPoll, &encoded, stats, stop, &mut show)
            }
            Transport::Stream => {
                let _ = self.ready.send(Ok(()));
                http::stream(web, &encoded, stats, stop, &mut show)
            }
            Transport::Tcp => self.tcp_member(),
            Transport::WebSocket => self.ws_member(),
            Transport::SocketIo => super::socketio::member(&self),
        };
        // An error before the subscriber was listening fails the wait for it; one after that
        // (a /poll answering 500) fails the run once it is over. Either way: not "delivered 0".
        if let Err(e) = result {
            if !self.stop.is_triggered() {
                let e = format!("{}: {e}", self.transport.name());
                self.tally.errors.lock().unwrap_or_else(|p| p.into_inner()).push(e.clone());
                let _ = self.ready.send(Err(e));
            }
        }
    }

    /// What a member does with each line from the room: tally the publisher's, and notice the
    /// server's confirmation that we are in the room.
    pub(super) fn on_line(&self, line: &str) {
        if let Some((nick, text)) = line.split_once(": ") {
            self.tally.record(nick, text);
        }
        if line.starts_with("* you are now ") && line.ends_with(&format!(" in {}", self.room)) {
            let _ = self.ready.send(Ok(()));
        }
    }

    /// A TCP member: joins, reads lines until the run stops, then leaves with `/quit` and reads
    /// until the server closes (so nothing it still sends meets a closed socket).
    fn tcp_member(&self) -> Result<(), String> {
        // `compare` never traces: it measures.
        let stream = Traced::off(common::net::connect(&self.tcp, "lab")?);
        stream.set_read_timeout(Some(LOOK_UP)).map_err(|e| e.to_string())?;
        stream.set_write_timeout(Some(WRITE_TIMEOUT)).map_err(|e| e.to_string())?;
        let mut sending =
            Counted { stream: stream.try_clone().map_err(|e| e.to_string())?, stats: self.stats.clone() };
        // First thing, within the hub's arrival grace: the lobby is never told of this member.
        sending.write_all(format!("/join {}\n", self.room).as_bytes()).map_err(|e| e.to_string())?;
        let mut lines = LineReader::new(Counted { stream, stats: self.stats.clone() }, 64 * 1024);
        let mut leaving: Option<Instant> = None;
        loop {
            match lines.read_line() {
                Ok(Some(line)) => self.on_line(&line),
                Ok(None) => return Ok(()),
                // A read that timed out: the partial line stays in the reader for the next one.
                Err(common::line::LineError::Io(e)) if common::net::is_timeout(&e) => {}
                Err(_) => return Ok(()),
            }
            match leaving {
                None if self.stop.is_triggered() => {
                    let _ = sending.write_all(b"/quit\n");
                    leaving = Some(Instant::now() + CLOSE_WAIT);
                }
                Some(deadline) if Instant::now() > deadline => return Ok(()),
                _ => {}
            }
        }
    }

    /// A WebSocket member: joins, reads until the run stops, then leaves the WebSocket way, with
    /// a close frame (1000, normal) and the server's close frame back.
    fn ws_member(&self) -> Result<(), String> {
        let stream = Traced::off(common::net::connect(&self.web, "lab")?);
        // Every wait has a deadline, the upgrade's included; and the end of the run cuts the
        // upgrade short (only the upgrade: afterwards the member leaves with a close frame).
        stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT)).map_err(|e| e.to_string())?;
        stream.set_write_timeout(Some(WRITE_TIMEOUT)).map_err(|e| e.to_string())?;
        let upgrading = self.stop.track(&stream).map_err(|e| e.to_string())?;
        let counted = Counted { stream, stats: self.stats.clone() };
        // Straight into the run's room: nobody in the lobby sees this member come or go.
        let url = format!(
            "ws://{}/ws?nick={}&room={}",
            self.web,
            common::percent::encode(&self.nick),
            common::percent::encode(&self.room)
        );
        let (mut socket, _) = tungstenite::client::client(url.as_str(), counted).map_err(|e| match e {
            // A read that timed out: blocking tungstenite calls it an interrupted handshake.
            tungstenite::HandshakeError::Interrupted(_) => {
                format!("no answer to the WebSocket upgrade (GET /ws) within {HANDSHAKE_TIMEOUT:?}")
            }
            e => format!("the WebSocket upgrade failed: {e}"),
        })?;
        drop(upgrading);
        // A read that times out comes back as WouldBlock; tungstenite keeps its place in the frame.
        socket.get_ref().stream.set_read_timeout(Some(LOOK_UP)).map_err(|e| e.to_string())?;
        while !self.stop.is_triggered() {
            match socket.read() {
                Ok(Message::Text(text)) => text.lines().for_each(|line| self.on_line(line)),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if common::net::is_timeout(&e) => {}
                Err(_) => return Ok(()), // the server closed: nothing to say goodbye to
            }
        }
        // `/quit` first: a member that joined by name and only closes is kept for the switch
        // grace (a page changing transport) and announced gone only after it; this one is gone.
        let _ = socket.send(Message::text("/quit"));
        let bye = CloseFrame { code: CloseCode::Normal, reason: "bye".into() };
        // The server may already have closed after `/quit`: then there is nothing to close.
        let _ = socket.close(Some(bye));
        // Read until the server's close frame comes back (tungstenite then reports it closed).
        let deadline = Instant::now() + CLOSE_WAIT;
        while Instant::now() < deadline {
            match socket.read() {
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if common::net::is_timeout(&e) => {}
                Err(_) => break,
            }
        }
        // Then the server closes the TCP connection first (RFC 6455, 7.1.1): wait for its end of
        // file, so that nothing it still writes meets a closed socket and reads as a lost member.
        let mut rest = socket.into_inner();
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            match rest.read(&mut buf) {
                Ok(0) => break,
                Err(e) if !common::net::is_timeout(&e) => break,
                _ => {}
            }
        }
        Ok(())
    }
}
