//! The lab's web side on the loop: the page at `GET /`, and `GET /ws` upgraded to a chat member,
//! on one port. The request head is read with the HTTP layer's push parser (`RequestReader`:
//! fed what each `read` returned, it hands out a request once the whole head is there), checked
//! by the same `Site` rules as the threaded lab (Host, Origin), and answered from a buffer.
//! After the `101`, tungstenite takes the socket and the bytes that came with the request.
//!
//! Polling, long polling and streaming stay on the threaded lab (chapter 14 says why): other
//! paths get a 404 that says so.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use common::trace::Traced;
use common::ws::unfinished::{Guard, Watch};
use common::ws::{close_frame, verdict, EndReason};
use log::info;
use mio::net::TcpStream;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::Role;
use tungstenite::{Error, Message, WebSocket};

use super::bell::Bell;
use super::member::Member;
use super::ws::drain_after_failure;
use super::{io_result, Config, Conn, Io, Status, READS_PER_TURN};
use crate::http::request::RequestReader;
use crate::http::response::error_body;
use crate::http::{self, write_response, ReadError, Request, Site, Status as Http};
use crate::hub::{Delivery, Hub, LeaveReason};
use crate::lessons::http_chat;
use crate::lessons::lab::{ICON, PAGE, PAGE_LANG};
use crate::lessons::ws_chat::MAX_MESSAGE;

enum State {
    /// Reading the request head.
    Head(Traced<TcpStream>, RequestReader),
    /// An HTTP answer on its way out; then the connection closes.
    Answer(Traced<TcpStream>, Vec<u8>),
    Open(Box<WebSocket<Prefixed>>),
    Done,
}

/// The socket after the upgrade, as tungstenite reads it: first the bytes that came with the
/// request (a client may send frames without waiting for the `101`), then the socket. (Handing
/// them to `WebSocket::from_partially_read` instead trips tungstenite when they are more than
/// its read buffer holds.)
pub struct Prefixed {
    early: Vec<u8>,
    socket: Traced<TcpStream>,
    /// The limits on an unfinished message (chapter 6's); gone once the connection failed.
    watch: Option<Watch>,
}

impl Read for Prefixed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = if self.early.is_empty() {
            self.socket.read(buf)?
        } else {
            let n = buf.len().min(self.early.len());
            buf[..n].copy_from_slice(&self.early[..n]);
            self.early.drain(..n);
            n
        };
        match &mut self.watch {
            Some(watch) => watch.saw(&buf[..n]).map(|()| n),
            None => Ok(n),
        }
    }
}

impl Write for Prefixed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.socket.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.socket.flush()
    }
}

/// One connection to the web port.
pub struct WebConn {
    state: State,
    peer: SocketAddr,
    hub: Arc<Hub>,
    site: Arc<Site>,
    member: Option<Member>,
    /// The loop's bell, until the upgrade makes a member to hang it on.
    bell: Option<Bell>,
    /// Bytes may wait in the socket (see `ChatConn`): a member driven for its mail alone does
    /// not read.
    may_read: bool,
    /// The `101` not yet written: it goes before anything tungstenite writes.
    pre: Vec<u8>,
    /// tungstenite's last flush stopped at `WouldBlock`.
    blocked: bool,
    accepted: Instant,
    closing_since: Option<Instant>,
    /// The client broke a rule: nothing it sends is parsed any more (see `ws::drain_after_failure`).
    failed: bool,
    guard: Guard,
}

impl WebConn {
    pub fn new(
        socket: Traced<TcpStream>,
        peer: SocketAddr,
        hub: Arc<Hub>,
        site: Arc<Site>,
        now: Instant,
        guard: Guard,
    ) -> Self {
        let state = State::Head(socket, RequestReader::new(http::MAX_BODY));
        let (member, pre, blocked, closing_since, failed) = (None, Vec::new(), false, None, false);
        let (bell, may_read) = (None, true);
        WebConn {
            state,
            peer,
            hub,
            site,
            member,
            bell,
            may_read,
            pre,
            blocked,
            accepted: now,
            closing_since,
            failed,
            guard,
        }
    }

    pub fn socket(&mut self) -> Option<&mut TcpStream> {
        match &mut self.state {
            State::Head(socket, _) | State::Answer(socket, _) => Some(socket),
            State::Open(ws) => Some(&mut ws.get_mut().socket),
            State::Done => None,
        }
    }

    /// Reads until a whole request head is there, then answers it.
    fn head(&mut self, scratch: &mut [u8]) -> Status {
        let State::Head(socket, reader) = &mut self.state else { return Status::Closed };
        loop {
            match reader.next_request() {
                Ok(Some(request)) => return self.route(request),
                Ok(None) => {}
                Err(ReadError::Gone) => return Status::Closed,
                Err(ReadError::Bad(status, why)) => return self.answer_error(status, &why),
            }
            let room = reader.room().min(scratch.len());
            match io_result(socket.read(&mut scratch[..room])) {
                Io::Done(n) => reader.feed(&scratch[..n]),
                Io::Blocked => return Status::Open,
                Io::End(_) => return Status::Closed,
            }
        }
    }

    fn route(&mut self, request: Request) -> Status {
        if let Err((status, why)) = self.site.check(&request) {
            return self.answer_error(status, &why);
        }
        match (request.method.as_str(), request.path()) {
            ("GET" | "HEAD", "/" | "/index.html") => {
                let headers = [("Content-Type", "text/html; charset=utf-8"), ("Connection", "close")];
                self.answer(http::OK, &headers, PAGE.as_bytes(), request.method == "HEAD")
            }
            // The page's own files, as the threaded lab serves them.
            ("GET" | "HEAD", "/lang.js") => {
                let headers = [("Content-Type", "text/javascript; charset=utf-8"), ("Connection", "close")];
                self.answer(http::OK, &headers, PAGE_LANG.as_bytes(), request.method == "HEAD")
            }
            ("GET" | "HEAD", "/favicon.ico") => {
                let headers = [("Content-Type", "image/svg+xml"), ("Connection", "close")];
                self.answer(http::OK, &headers, ICON.as_bytes(), request.method == "HEAD")
            }
            ("GET", "/ws") => self.upgrade(&request),
            ("GET", "/poll") => self.poll(&request),
            _ => self.answer_error(
                http::NOT_FOUND,
                "the one-thread lab serves the page (/), the WebSocket chat (/ws) and GET /poll; long \
                 polling, streaming and POST /send are on the threaded lab (cargo server lab)",
            ),
        }
    }

    /// `GET /poll`, chapter 5's "what is newer?", answered at once from the hub's history, so the
    /// loop can serve it: the page catches up with it before its WebSocket joins. Long polling
    /// and streaming hold a request open for as long as they wait, and stay on threads.
    fn poll(&mut self, request: &Request) -> Status {
        match http_chat::room_and_since(request) {
            Ok((room, since)) => {
                let body = http_chat::newer_json(&room, since, &self.hub.newer(&room, since)).to_string();
                let headers = [
                    ("Content-Type", "application/json"),
                    ("Cache-Control", "no-cache"),
                    ("Connection", "close"),
                ];
                self.answer(http::OK, &headers, body.as_bytes(), false)
            }
            Err(why) => self.answer_error(http::BAD_REQUEST, &why),
        }
    }

    fn answer_error(&mut self, status: Http, why: &str) -> Status {
        info!("{}: {} {}: {why}", self.peer, status.0, status.1);
        let headers = [("Content-Type", "text/plain; charset=utf-8"), ("Connection", "close")];
        self.answer(status, &headers, error_body(status, why).as_bytes(), false)
    }

    fn answer(&mut self, status: Http, headers: &[(&str, &str)], body: &[u8], head_only: bool) -> Status {
        let mut bytes = Vec::new();
        let _ = write_response(&mut bytes, status, headers, body, head_only);
        self.state = match std::mem::replace(&mut self.state, State::Done) {
            State::Head(socket, _) => State::Answer(socket, bytes),
            other => other,
        };
        Status::Busy
    }

    /// Writes the HTTP answer out, then closes.
    fn send_answer(&mut self) -> Status {
        let State::Answer(socket, bytes) = &mut self.state else { return Status::Closed };
        while !bytes.is_empty() {
            match io_result(socket.write(bytes)) {
                Io::Done(n) => drop(bytes.drain(..n)),
                Io::Blocked => return Status::Open,
                Io::End(_) => return Status::Closed,
            }
        }
        let _ = socket.shutdown(std::net::Shutdown::Write);
        Status::Closed
    }

    fn upgrade(&mut self, request: &Request) -> Status {
        let key = match crate::ws::check_upgrade(request) {
            Ok(key) => key,
            Err((status, why, _)) => return self.answer_error(status, &why),
        };
        let accept = common::handshake::accept_key(key);
        self.pre = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        )
        .into_bytes();
        let State::Head(socket, reader) = std::mem::replace(&mut self.state, State::Done) else {
            return Status::Closed;
        };
        // The bytes after the head are the first frames: a client need not wait for the 101.
        let config = common::ws::config(MAX_MESSAGE).read_buffer_size(super::ws::READ_BUFFER);
        let watch = Some(Watch::new(self.guard.clone()));
        let stream = Prefixed { early: reader.into_leftover(), socket, watch };
        let ws = WebSocket::from_raw_socket(stream, Role::Server, Some(config));
        self.state = State::Open(Box::new(ws));
        info!("{}: upgraded to WebSocket", self.peer);
        // Refused (the chat is full): `open` sends 1013 once the 101 is out.
        let asked = crate::ws::asked(request);
        let member = Member::join(self.hub.clone(), self.peer, asked.as_ref());
        if let Some(bell) = self.bell.take() {
            member.hang_bell(bell);
        }
        self.member = Some(member);
        Status::Busy
    }

    /// The WebSocket member: the 101, the hub's lines out, the client's lines in.
    fn open(&mut self, scratch: &mut [u8], now: Instant) -> Status {
        let State::Open(ws) = &mut self.state else { return Status::Closed };
        while !self.pre.is_empty() {
            match io_result(ws.get_mut().write(&self.pre)) {
                Io::Done(n) => drop(self.pre.drain(..n)),
                Io::Blocked => return Status::Open,
                Io::End(_) => return self.end(LeaveReason::Lost),
            }
        }
        if self.failed {
            return match ws.flush() {
                Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Status::Open,
                Ok(()) => drain_after_failure(ws.get_mut(), scratch),
                Err(_) => Status::Closed,
            };
        }
        let Some(member) = self.member.as_mut() else { return Status::Closed };
        if member.kicked() {
            return Status::Closed; // dropped by the hub: nothing more is owed
        }
        if !member.joined() && self.closing_since.is_none() {
            self.closing_since = Some(now);
            let _ = ws.close(Some(close_frame(CloseCode::Again, "server full, try again later")));
        }
        // The hub's lines, while the socket takes them.
        while !self.blocked {
            let Some(delivery) = member.next() else { break };
            let result = match delivery {
                Delivery::Goodbye => {
                    self.closing_since.get_or_insert(now);
                    ws.close(Some(close_frame(CloseCode::Away, "server shutting down")))
                }
                delivery if ws.can_write() => ws.write(Message::text(delivery.line())),
                _ => Ok(()),
            };
            match result {
                Ok(()) => {}
                Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => self.blocked = true,
                Err(_) => return self.end(LeaveReason::Lost),
            }
        }
        if !member.is_in() && !member.mail_waits() && self.closing_since.is_none() && ws.can_write() {
            // It left (or was never let in): say so properly once its lines are out.
            self.closing_since = Some(now);
            let _ = ws.close(Some(close_frame(CloseCode::Normal, "bye")));
        }
        if member.is_held() && !member.carry_on() {
            return Status::Busy; // it quit: its lines and our close go out next turn
        }
        let mut status = Status::Busy;
        for _ in 0..READS_PER_TURN {
            if self.blocked || member.is_held() || !self.may_read {
                status = Status::Open;
                break;
            }
            match ws.read() {
                Ok(Message::Text(text)) => {
                    // A message is normally one line; a paste of several is several commands.
                    for line in text.lines() {
                        if !member.say(line.to_string()) {
                            break;
                        }
                    }
                }
                Ok(Message::Binary(_)) => member.tell("this chat speaks text messages, not binary".into()),
                Ok(Message::Close(_)) => member.leave(LeaveReason::Quit),
                Ok(_) => {}
                Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.may_read = false;
                    status = Status::Open;
                    break;
                }
                Err(error) => {
                    // A limit on unfinished messages was passed: its code, whatever the error says.
                    let refusal = ws.get_mut().watch.take().and_then(|mut watch| watch.refusal.take());
                    let reason = match refusal {
                        Some((code, why)) => EndReason::Failed(code, why),
                        None => verdict(error),
                    };
                    return match reason {
                        EndReason::Failed(code, why) if self.closing_since.is_none() => {
                            info!("{}: closing with {}: {why}", self.peer, u16::from(code));
                            member.leave(LeaveReason::Lost);
                            self.closing_since = Some(now);
                            self.failed = true;
                            let _ = ws.close(Some(close_frame(code, &why)));
                            Status::Busy
                        }
                        EndReason::Closed(_) => self.end(LeaveReason::Quit),
                        _ => self.end(LeaveReason::Lost),
                    };
                }
            }
        }
        match ws.flush() {
            Ok(()) => self.blocked = false,
            Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => self.blocked = true,
            Err(Error::ConnectionClosed) => return self.end(LeaveReason::Quit),
            Err(_) => return self.end(LeaveReason::Lost),
        }
        if self.blocked {
            Status::Open
        } else {
            status
        }
    }

    fn end(&mut self, reason: LeaveReason) -> Status {
        if let Some(member) = self.member.as_mut() {
            member.leave(reason);
        }
        Status::Closed
    }
}

impl Conn for WebConn {
    fn drive(&mut self, scratch: &mut [u8], now: Instant) -> Status {
        loop {
            let status = match self.state {
                State::Head(..) => self.head(scratch),
                State::Answer(..) => return self.send_answer(),
                State::Open(_) => return self.open(scratch, now),
                State::Done => return Status::Closed,
            };
            if status != Status::Busy || !matches!(self.state, State::Answer(..) | State::Open(_)) {
                return status;
            }
        }
    }

    fn wants_write(&self) -> bool {
        matches!(self.state, State::Answer(..)) || self.blocked || !self.pre.is_empty()
    }

    fn wants_read(&self) -> bool {
        !self.blocked
    }

    fn expire(&mut self, now: Instant, config: &Config) -> bool {
        if let (State::Open(ws), None) = (&mut self.state, self.closing_since) {
            // A message under way past its deadline: the reader sees the clock only when bytes
            // come, and a stalled client sends none.
            let stream = ws.get_mut();
            if stream.watch.as_mut().is_some_and(|watch| watch.wait().is_err()) {
                let why = stream.watch.take().and_then(|mut watch| watch.refusal.take());
                let (code, why) = why.unwrap_or((CloseCode::Policy, "a message took too long".into()));
                info!("{}: closing with {}: {why}", self.peer, u16::from(code));
                if let Some(member) = self.member.as_mut() {
                    member.leave(LeaveReason::Lost);
                }
                self.closing_since = Some(now);
                self.failed = true;
                let _ = ws.close(Some(close_frame(code, &why)));
                return true;
            }
        }
        let late = match (&self.state, self.closing_since) {
            (State::Head(..), _) => now.duration_since(self.accepted) >= config.head,
            (State::Open(_), Some(since)) => now.duration_since(since) >= super::ws::LINGER,
            _ => false,
        };
        if late {
            info!("{}: no complete request head, or no answer to our close, in time: closing", self.peer);
            if let Some(member) = self.member.as_mut() {
                member.leave(LeaveReason::Lost);
            }
            self.state = State::Done;
        }
        late || self.member.as_ref().is_some_and(Member::is_held)
    }

    fn stop(&mut self) {
        match self.member.as_mut() {
            // Its goodbye (1001) goes out after what is queued.
            Some(member) if member.is_in() => member.leave(LeaveReason::Shutdown),
            Some(_) => {}
            None => self.state = State::Done,
        }
    }

    fn readable(&mut self) {
        self.may_read = true;
    }

    fn hang_bell(&mut self, bell: Bell) {
        // Kept until the upgrade makes a member of this connection.
        self.bell = Some(bell);
    }

    fn holds_lines(&self) -> bool {
        self.member.as_ref().is_some_and(Member::is_held)
    }
}
