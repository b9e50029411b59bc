//! WebSocket connections on plain blocking threads: the reader/writer split.
//!
//! ## The problem
//! `tungstenite::WebSocket` owns its socket and wants `&mut self` both to read and to write. A
//! blocking server cannot share it between a thread that waits in `read` (for the client) and a
//! thread that writes (for everybody else's messages): whoever holds it while waiting in `read`
//! blocks every write. The library's authors say such a split "doesn't exist and can't exist" for
//! `WebSocket`, and point to async.
//!
//! ## The split
//! A socket *can* be read and written at the same time; it is only tungstenite's one object that
//! cannot. So each side gets its own `tungstenite::protocol::WebSocketContext` (the framing state
//! without the socket) over its own `try_clone`d handle of the same `TcpStream`:
//!
//! - the [`Reader`] decodes frames from the read half. Its context would like to answer pings and
//!   closes itself by writing into the stream it reads from; it is given a stream whose writes go
//!   nowhere ([`ReadHalf`]), and it forwards those answers to the writer instead;
//! - the [`Writer`] owns the only context that writes, behind a `Mutex`, so the reader's answers
//!   and the application's messages never interleave mid-frame.
//!
//! Errors become close codes, sent by the writer: a protocol violation is 1002, invalid UTF-8 in
//! a text message 1007, a message over the size limit 1009. (Going away, 1001, is the server's
//! decision, not the connection's: the server sends it.) A server's reader also keeps to the
//! limits on unfinished messages ([`unfinished`]): 1008 for one too slow, 1009 over the budget.

pub mod unfinished;

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{self, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tungstenite::error::{Error, ProtocolError};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig, WebSocketContext};

use crate::trace::Traced;
use tungstenite::Message;
use unfinished::{Guard, Watch};

/// After our Close frame, how long we keep reading what the client still sends before dropping
/// the connection. Closing a socket that has unread bytes makes the kernel send a reset, which
/// can destroy our Close frame before the client reads it; reading them first avoids that.
pub const LINGER: Duration = Duration::from_millis(500);

/// How much one `read` from the socket may take in. tungstenite zero-fills this much of its
/// buffer before every read, so its default (128 KiB) costs a 128 KiB `memset` per small
/// message; 16 KiB measured faster for chat-sized messages, and a big message simply takes more
/// reads.
pub const READ_BUFFER: usize = 16 * 1024;

/// Limits for one WebSocket connection: the largest message (after reassembling its fragments)
/// and the largest single frame. Past either, the client gets close code 1009.
pub fn config(max_message: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message))
        .read_buffer_size(READ_BUFFER)
}

/// Builds the two halves over one upgraded socket. `already_read` holds bytes that arrived with
/// the handshake (a client may send its first frame without waiting for our answer).
pub fn split(
    stream: Traced<TcpStream>,
    already_read: Vec<u8>,
    role: Role,
    config: WebSocketConfig,
) -> io::Result<(Reader, Writer)> {
    let writer = Writer(Arc::new(WriteHalf {
        side: Mutex::new(WriteSide {
            context: WebSocketContext::new(role, Some(config)),
            stream: stream.try_clone()?,
        }),
        cutter: (*stream).try_clone()?,
    }));
    let reader = Reader {
        context: WebSocketContext::from_partially_read(already_read.clone(), role, Some(config)),
        stream: ReadHalf { stream, watch: None, timed: false, early: already_read },
        writer: writer.clone(),
    };
    Ok((reader, writer))
}

/// The writing half: every frame this connection sends goes through here.
#[derive(Clone)]
pub struct Writer(Arc<WriteHalf>);

struct WriteHalf {
    side: Mutex<WriteSide>,
    /// A handle of the socket outside the lock, for [`Writer::cut`].
    cutter: TcpStream,
}

struct WriteSide {
    context: WebSocketContext,
    stream: Traced<TcpStream>,
}

impl Writer {
    /// Sends one message and flushes it.
    pub fn send(&self, message: Message) -> Result<(), Error> {
        self.send_all([message])
    }

    /// Sends several messages with one flush at the end: one system call for a burst.
    pub fn send_all(&self, messages: impl IntoIterator<Item = Message>) -> Result<(), Error> {
        let mut side = self.lock();
        let WriteSide { context, stream } = &mut *side;
        for message in messages {
            context.write(stream, message)?;
        }
        context.flush(stream)
    }

    /// Sends a Close frame, unless one went out already. After it, nothing more is sent.
    pub fn close(&self, frame: Option<CloseFrame>) {
        let mut side = self.lock();
        let WriteSide { context, stream } = &mut *side;
        if context.can_write() {
            let _ = context.close(stream, frame);
        }
    }

    /// Shuts the socket down in both directions: the reader's `read` ends at once, and so does a
    /// `write` blocked on a peer that stopped reading. It takes no lock: that blocked write holds
    /// the writer's lock for up to its write timeout, and whoever kicks this connection (another
    /// member's thread) must not wait for it.
    pub fn cut(&self) {
        let _ = self.0.cutter.shutdown(net::Shutdown::Both);
    }

    fn lock(&self) -> MutexGuard<'_, WriteSide> {
        self.0.side.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Why a WebSocket connection ended.
#[derive(Debug, PartialEq, Eq)]
pub enum EndReason {
    /// The client closed with this code (the close handshake completed).
    Closed(Option<CloseCode>),
    /// We closed with this code because the client broke a rule.
    Failed(CloseCode, String),
    /// The connection broke without a close handshake (a reset, a killed client, or our own
    /// side shut down by the server that is stopping).
    Lost(String),
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndReason::Closed(Some(code)) => write!(f, "closed by the client ({})", u16::from(*code)),
            EndReason::Closed(None) => write!(f, "closed by the client"),
            EndReason::Failed(code, why) => write!(f, "closed with {}: {why}", u16::from(*code)),
            EndReason::Lost(why) => write!(f, "connection lost: {why}"),
        }
    }
}

/// The reading half: decodes the client's frames, answers pings and closes through the writer.
pub struct Reader {
    context: WebSocketContext,
    stream: ReadHalf,
    writer: Writer,
}

impl Reader {
    /// Holds this reader to `guard`'s deadline and budget for unfinished messages (a server's
    /// reader; a client trusts its server).
    pub fn limit_unfinished(&mut self, guard: Guard) {
        let mut watch = Watch::new(guard);
        // The bytes that came with the handshake are the stream's first: the watch follows the
        // frames from them, or a message they start would go untimed and uncounted. (Over the
        // budget already, its clock runs: the next read over it, or the deadline, refuses it.)
        let _ = watch.saw(&std::mem::take(&mut self.stream.early));
        self.stream.watch = Some(watch);
    }

    /// The next text or binary message, or why there will be none.
    pub fn recv(&mut self) -> Result<Message, EndReason> {
        loop {
            match self.context.read(&mut self.stream) {
                Ok(message @ (Message::Text(_) | Message::Binary(_))) => return Ok(message),
                // Our context queued a Pong into the void; the writer sends the real one.
                Ok(Message::Ping(data)) => {
                    let _ = self.writer.send(Message::Pong(data));
                }
                Ok(Message::Pong(_) | Message::Frame(_)) => {}
                // The client starts the close handshake: echo its code (tungstenite has already
                // replaced a code that is not allowed by 1002), and the handshake is complete.
                Ok(Message::Close(frame)) => {
                    let code = frame.as_ref().map(|f| f.code);
                    self.writer.close(frame);
                    return Err(EndReason::Closed(code));
                }
                Err(error) => return Err(self.fail(error)),
            }
        }
    }

    /// Turns a read error into a close code (sent) and an [`EndReason`].
    fn fail(&mut self, error: Error) -> EndReason {
        // A limit on unfinished messages was passed: its code, whatever the error says.
        let refusal = self.stream.watch.as_mut().and_then(|watch| watch.refusal.take());
        let (code, why) = match refusal {
            Some(refusal) => refusal,
            None => match verdict(error) {
                EndReason::Failed(code, why) => (code, why),
                end => return end,
            },
        };
        self.writer.close(Some(close_frame(code, &why)));
        EndReason::Failed(code, why)
    }

    /// Ends the TCP connection once the WebSocket is closed: our FIN, then whatever the client
    /// still sends is read and dropped (for at most [`LINGER`]) so the close stays clean.
    pub fn finish(mut self) {
        let stream = &mut self.stream.stream;
        let _ = stream.shutdown(net::Shutdown::Write);
        let deadline = Instant::now() + LINGER;
        let mut buf = [0u8; 4096];
        while let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) {
            if stream.set_read_timeout(Some(left)).is_err() || matches!(stream.read(&mut buf), Ok(0) | Err(_))
            {
                break;
            }
        }
    }
}

/// What a read error means for the connection: the client closed, the connection was lost, or
/// the client broke a rule and must be sent [`EndReason::Failed`]'s close code (the caller sends
/// it: the split's writer here, the one-thread loop of chapter 14 on its own connection).
pub fn verdict(error: Error) -> EndReason {
    let (code, why) = match error {
        Error::ConnectionClosed | Error::AlreadyClosed => return EndReason::Closed(None),
        Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            return EndReason::Lost("closed without a close frame".into())
        }
        Error::Io(e) => return EndReason::Lost(crate::net::describe(&e)),
        Error::Protocol(e) => (CloseCode::Protocol, e.to_string()),
        Error::Utf8(e) => (CloseCode::Invalid, format!("invalid UTF-8 in a text message: {e}")),
        Error::Capacity(e) => (CloseCode::Size, e.to_string()),
        other => (CloseCode::Error, other.to_string()),
    };
    EndReason::Failed(code, why)
}

/// A close frame with a reason cut to the 123 bytes a control frame leaves for it.
pub fn close_frame(code: CloseCode, reason: &str) -> CloseFrame {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    CloseFrame { code, reason: reason[..end].to_string().into() }
}

/// The reader's view of the socket: reads go to the socket (within the limits on unfinished
/// messages, if any), writes go nowhere. (Its context tries to write Pong and Close replies; the
/// [`Writer`] sends those instead.)
pub struct ReadHalf {
    stream: Traced<TcpStream>,
    watch: Option<Watch>,
    /// A read timeout is set on the socket.
    timed: bool,
    /// The bytes read with the handshake, until a watch is given them.
    early: Vec<u8>,
}

impl Read for ReadHalf {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(watch) = &mut self.watch else { return self.stream.read(buf) };
        loop {
            // With a message under way the read waits for what is left of its deadline; a
            // quiet connection between messages waits without one. (A small message arrives
            // in one read: no system call to set a timeout.)
            let wait = watch.wait()?;
            if wait.is_some() || self.timed {
                self.stream.set_read_timeout(wait)?;
                self.timed = wait.is_some();
            }
            match self.stream.read(buf) {
                Ok(n) => return watch.saw(&buf[..n]).map(|()| n),
                Err(e) if crate::net::is_timeout(&e) => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl Write for ReadHalf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message begun in the bytes that came with the handshake is timed like any other.
    #[test]
    fn a_message_begun_with_the_handshake_is_watched() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (socket, peer) = listener.accept().unwrap();
        let mut fragment = crate::frame::encode(0x2, b"abc", Some([1, 2, 3, 4]));
        fragment[0] &= 0x7f; // no FIN: the message goes on, and never ends
        let stream = Traced::wrap(socket, peer, crate::trace::Layer::Http);
        let (mut reader, _writer) =
            split(stream, fragment, Role::Server, WebSocketConfig::default()).unwrap();
        let guard = Guard { deadline: Duration::from_millis(200), ..Guard::default() };
        reader.limit_unfinished(guard);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(reader.recv().err()));
        // Unwatched, the read would wait for the client forever: it ends when the client goes.
        let got = rx.recv_timeout(Duration::from_secs(3));
        drop(client);
        match got {
            Ok(Some(EndReason::Failed(code, _))) => assert_eq!(code, CloseCode::Policy),
            other => panic!("no 1008 in time: {:?}", other.map(|end| end.map(|e| e.to_string()))),
        }
    }

    #[test]
    fn close_reasons_fit_in_a_control_frame_without_splitting_a_character() {
        let reason = "가".repeat(50); // 150 bytes
        let frame = close_frame(CloseCode::Protocol, &reason);
        assert_eq!(frame.reason.len(), 123);
        assert!(reason.starts_with(frame.reason.as_str()));
    }
}
