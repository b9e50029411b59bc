//! The WebSocket echo connection of chapter 14: tungstenite over a non-blocking socket.
//!
//! tungstenite does not need a blocking stream; it needs to be told what `WouldBlock` means at
//! each step, and to be called again on readiness:
//!
//! - the opening handshake: `accept` reads the request and writes the `101`; when the socket
//!   has no more bytes it returns `HandshakeError::Interrupted(mid)`. The connection keeps `mid`
//!   and calls `mid.handshake()` on the next readable event; a head that never ends is cut by a
//!   size limit ([`crate::http::request::MAX_HEAD_BYTES`]) and a deadline (slowloris);
//! - `read()` returns `Error::Io(WouldBlock)` when no whole frame has arrived yet;
//! - `write()` queues the frame in tungstenite's write buffer; `flush()` returns `WouldBlock`
//!   while the socket is full, and is called again when the socket is writable. Pongs and the
//!   close reply are queued by `read()` the same way.
//!
//! A connection stops reading while a flush is blocked: the client that sends without reading
//! holds at most one message here, and TCP pushes back on it.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::trace::{Layer, Traced};
use common::ws::unfinished::{Guard, Watch};
use common::ws::{close_frame, verdict, EndReason};
use log::info;
use mio::net::TcpStream;
use tungstenite::handshake::server::{NoCallback, ServerHandshake};
use tungstenite::handshake::{HandshakeError, MidHandshake};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Error, Message, WebSocket};

use super::{Config, Conn, Status, READS_PER_TURN};
use crate::http::request::MAX_HEAD_BYTES;

/// How much one `read` from the socket may take in. tungstenite zero-fills this much of its
/// buffer before every read, and the loop reads once more than the threads do per message (the
/// read that says `WouldBlock`): 4 KiB instead of the threaded servers' 16 KiB
/// (`common::ws::READ_BUFFER`) keeps that cheap; a big message simply takes more reads.
pub const READ_BUFFER: usize = 4 * 1024;

/// After our Close frame, how long the client has to answer with its own before the socket
/// is closed anyway (the threaded servers' `common::ws::LINGER`).
pub const LINGER: Duration = common::ws::LINGER;

/// The socket as tungstenite sees it: until the handshake is done, it refuses to read past
/// [`MAX_HEAD_BYTES`] (tungstenite itself would buffer a head without end).
pub struct Stream {
    socket: Traced<TcpStream>,
    head_left: Option<usize>,
    /// The limits on an unfinished message, once the connection is open (chapter 6's).
    watch: Option<Watch>,
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(left) = self.head_left else {
            let n = self.socket.read(buf)?;
            return match &mut self.watch {
                Some(watch) => watch.saw(&buf[..n]).map(|()| n),
                None => Ok(n),
            };
        };
        if left == 0 {
            let why = format!("the request head is over {MAX_HEAD_BYTES} bytes");
            return Err(io::Error::new(io::ErrorKind::InvalidData, why));
        }
        let n = buf.len().min(left);
        let got = self.socket.read(&mut buf[..n])?;
        self.head_left = Some(left - got);
        Ok(got)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.socket.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.socket.flush()
    }
}

type Handshake = MidHandshake<ServerHandshake<Stream, NoCallback>>;

enum State {
    /// Accepted; nothing read yet.
    New(Stream),
    /// Part of the request head read, or the `101` partly written.
    Handshake(Handshake),
    Open(WebSocket<Stream>),
    /// Finished (or its handshake failed, which took the socket with it).
    Done,
}

/// One WebSocket echo client.
pub struct WsEcho {
    state: State,
    peer: SocketAddr,
    accepted: Instant,
    max_message: usize,
    /// The last flush stopped at `WouldBlock`: bytes wait, and nothing more is read until they
    /// are gone.
    blocked: bool,
    /// When we sent our Close frame (after a broken rule, or Ctrl-C).
    closing_since: Option<Instant>,
    /// The client broke a rule: nothing it sends is parsed any more.
    failed: bool,
    echoed: u64,
    guard: Guard,
}

impl WsEcho {
    pub fn new(socket: TcpStream, peer: SocketAddr, now: Instant, max_message: usize, guard: Guard) -> Self {
        let socket = Traced::wrap(socket, peer, Layer::Http);
        let stream = Stream { socket, head_left: Some(MAX_HEAD_BYTES), watch: None };
        WsEcho {
            state: State::New(stream),
            peer,
            accepted: now,
            max_message,
            blocked: false,
            closing_since: None,
            failed: false,
            echoed: 0,
            guard,
        }
    }

    /// The socket, to register it; `None` once a failed handshake has dropped it.
    pub fn socket(&mut self) -> Option<&mut TcpStream> {
        let stream = match &mut self.state {
            State::New(stream) => stream,
            State::Handshake(mid) => mid.get_mut().get_mut(),
            State::Open(ws) => ws.get_mut(),
            State::Done => return None,
        };
        Some(&mut stream.socket)
    }

    /// One more step of the opening handshake.
    fn handshake(&mut self) -> Status {
        let config = common::ws::config(self.max_message).read_buffer_size(READ_BUFFER);
        let result = match std::mem::replace(&mut self.state, State::Done) {
            State::New(stream) => tungstenite::accept_with_config(stream, Some(config)),
            State::Handshake(mid) => mid.handshake(),
            other => {
                self.state = other;
                return Status::Open;
            }
        };
        match result {
            Ok(mut ws) => {
                ws.get_mut().head_left = None;
                // tungstenite refuses bytes after the head (junk after the request), so the
                // watch on unfinished messages starts at the stream's first frame.
                ws.get_mut().watch = Some(Watch::new(self.guard.clone()));
                info!("{}: upgraded to WebSocket", self.peer);
                self.state = State::Open(ws);
                Status::Busy
            }
            // Not all of the head is here yet: keep where we are, wait for readable.
            Err(HandshakeError::Interrupted(mid)) => {
                self.state = State::Handshake(mid);
                Status::Open
            }
            Err(HandshakeError::Failure(e)) => {
                info!("{}: refused the upgrade: {e}", self.peer);
                Status::Closed
            }
        }
    }

    /// Reads and echoes until a read would block (or the socket is full), then flushes once:
    /// ten messages that came in one read leave in one write.
    fn echo(&mut self, scratch: &mut [u8], now: Instant) -> Status {
        let State::Open(ws) = &mut self.state else { return Status::Closed };
        if self.failed {
            match flush(ws) {
                Ok(true) => return Status::Open,
                Ok(false) => return drain_after_failure(ws.get_mut(), scratch),
                Err(_) => return Status::Closed,
            }
        }
        if self.blocked {
            match flush(ws) {
                Ok(blocked) => self.blocked = blocked,
                Err(e) => return self.end(e, now),
            }
            if self.blocked {
                return Status::Open; // still full: the next writable event brings us back
            }
        }
        let mut status = Status::Busy;
        for _ in 0..READS_PER_TURN {
            match ws.read() {
                Ok(message @ (Message::Text(_) | Message::Binary(_))) if ws.can_write() => {
                    // Queued; written out once tungstenite's buffer is large, else by the flush.
                    self.echoed += 1;
                    match ws.write(message) {
                        Ok(()) => {}
                        Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                            self.blocked = true;
                            status = Status::Open;
                            break;
                        }
                        Err(e) => return self.end(e, now),
                    }
                }
                // A ping's pong, the answer to a close: tungstenite queued them already.
                Ok(_) => {}
                Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    status = Status::Open;
                    break;
                }
                Err(e) => return self.end(e, now),
            }
        }
        let State::Open(ws) = &mut self.state else { return Status::Closed };
        match flush(ws) {
            Ok(blocked) => self.blocked = blocked,
            Err(e) => return self.end(e, now),
        }
        if self.blocked {
            Status::Open
        } else {
            status
        }
    }

    /// A read or write error: the end of the connection, or a broken rule to answer with a
    /// close code (then the client has [`LINGER`] to answer it).
    fn end(&mut self, error: Error, now: Instant) -> Status {
        let (peer, echoed) = (self.peer, self.echoed);
        // A limit on unfinished messages was passed: its code, whatever the error says.
        let refusal = match &mut self.state {
            State::Open(ws) => ws.get_mut().watch.take().and_then(|mut watch| watch.refusal.take()),
            _ => None,
        };
        let reason = match refusal {
            Some((code, why)) => EndReason::Failed(code, why),
            None => verdict(error),
        };
        match reason {
            EndReason::Failed(code, why) if self.closing_since.is_none() => {
                info!("{peer}: closing with {}: {why}, after {echoed} message(s)", u16::from(code));
                self.failed = true;
                self.close(close_frame(code, &why), now)
            }
            EndReason::Failed(..) => Status::Closed,
            end => {
                info!("{peer}: {end}, after {echoed} message(s)");
                Status::Closed
            }
        }
    }

    /// Queues our Close frame; the connection ends when the client answers or [`LINGER`] passes.
    fn close(&mut self, frame: tungstenite::protocol::CloseFrame, now: Instant) -> Status {
        let State::Open(ws) = &mut self.state else { return Status::Closed };
        self.closing_since = Some(now);
        match ws.close(Some(frame)) {
            Ok(()) => Status::Busy,
            Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                self.blocked = true;
                Status::Open
            }
            Err(_) => Status::Closed,
        }
    }
}

/// After a broken rule (our Close frame sent), what the client still sends is read and dropped,
/// never parsed again: tungstenite's state after a framing error is not to be read on (a frame
/// over the size limit leaves it waiting for a payload it will not take). Closing with unread
/// bytes would send a reset that can destroy our Close frame in flight. `Status::Closed` at the
/// client's end of stream; the loop's [`LINGER`] ends the wait otherwise.
pub fn drain_after_failure(stream: &mut impl Read, scratch: &mut [u8]) -> Status {
    loop {
        match super::io_result(stream.read(scratch)) {
            super::Io::Done(_) => {}
            super::Io::Blocked => return Status::Open,
            super::Io::End(_) => return Status::Closed,
        }
    }
}

/// Writes out what tungstenite holds; `Ok(true)` when the socket is full and bytes still wait.
fn flush(ws: &mut WebSocket<Stream>) -> Result<bool, Error> {
    match ws.flush() {
        Ok(()) => Ok(false),
        Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Ok(true),
        Err(e) => Err(e),
    }
}

impl Conn for WsEcho {
    fn drive(&mut self, scratch: &mut [u8], now: Instant) -> Status {
        // tungstenite reads into its own buffer (one per connection: it keeps partial frames).
        match self.state {
            State::New(_) | State::Handshake(_) => match self.handshake() {
                Status::Busy => self.echo(scratch, now),
                status => status,
            },
            State::Open(_) => self.echo(scratch, now),
            State::Done => Status::Closed,
        }
    }

    fn wants_write(&self) -> bool {
        self.blocked
    }

    fn wants_read(&self) -> bool {
        !self.blocked
    }

    fn expire(&mut self, now: Instant, config: &Config) -> bool {
        if let State::Open(ws) = &mut self.state {
            // A message under way past its deadline: refused with 1008 (the reader only sees
            // the clock when bytes come, and a stalled client sends none).
            let overdue = match &mut ws.get_mut().watch {
                Some(watch) if self.closing_since.is_none() => watch.wait().is_err(),
                _ => false,
            };
            if overdue {
                let error = io::Error::other("a message took too long to arrive");
                let _ = self.end(Error::Io(error), now);
                return true;
            }
        }
        let late = match (&self.state, self.closing_since) {
            (State::New(_) | State::Handshake(_), _) => now.duration_since(self.accepted) >= config.head,
            (State::Open(_), Some(since)) => now.duration_since(since) >= LINGER,
            _ => false,
        };
        if late {
            info!("{}: no complete request head, or no answer to our close, in time: closing", self.peer);
            self.state = State::Done;
        }
        late
    }

    fn stop(&mut self) {
        match self.state {
            State::Open(_) if self.closing_since.is_none() => {
                let frame = close_frame(CloseCode::Away, "server shutting down");
                let _ = self.close(frame, Instant::now());
                info!("{}: server shutting down (sent 1001), after {} message(s)", self.peer, self.echoed);
            }
            State::Open(_) => {}
            _ => self.state = State::Done,
        }
    }
}
