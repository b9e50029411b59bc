//! One HTTP connection: its socket, the reader that owns its bytes, and the answer in progress.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::trace::Traced;
use common::Shutdown;

use super::request::{ReadError, Request, RequestReader};
use super::response::{error_body, write_response, Status, REQUEST_TIMEOUT};
use super::Limits;
use crate::workers::Idle;

/// After an error response, how long we read and drop what the client is still sending before
/// closing. Closing a socket with unread bytes makes the kernel send a reset, which can destroy
/// the response before the client reads it.
pub const LINGER: Duration = Duration::from_millis(500);

/// What to do with the connection after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterResponse {
    /// Read the next request (a persistent connection).
    KeepAlive,
    Close,
}

/// One client's connection to an HTTP server.
pub struct Connection {
    stream: Traced<TcpStream>,
    peer: SocketAddr,
    reader: RequestReader,
    limits: Limits,
    shutdown: Shutdown,
    /// How the request being answered wants its answer.
    head_only: bool,
    keep_alive: bool,
    http10: bool,
    /// Where this connection counts while it waits for a request (see `workers::Idle`).
    idle: Option<Arc<Idle>>,
}

impl Connection {
    pub fn new(stream: Traced<TcpStream>, peer: SocketAddr, limits: Limits, shutdown: Shutdown) -> Self {
        let reader = RequestReader::new(limits.max_body);
        Connection {
            stream,
            peer,
            reader,
            limits,
            shutdown,
            head_only: false,
            keep_alive: false,
            http10: false,
            idle: None,
        }
    }

    /// While it waits for a request, this connection counts in `idle`: at the connection cap
    /// it is closed to make room for a client that has something to ask.
    pub fn wait_in(&mut self, idle: Arc<Idle>) {
        self.idle = Some(idle);
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The socket, for answers that are not one [`Connection::respond`] (a stream of events).
    pub fn stream(&mut self) -> &mut Traced<TcpStream> {
        &mut self.stream
    }

    /// True when the request being answered is HTTP/1.0 (no chunked encoding, say).
    pub fn is_http10(&self) -> bool {
        self.http10
    }

    /// True once the server is stopping.
    pub fn stopping(&self) -> bool {
        self.shutdown.is_triggered()
    }

    /// Reads the next request: its first byte must come within `limits.idle` (an idle persistent
    /// connection is then closed without a word), the whole request, head and body, within
    /// `limits.request_deadline` of that byte.
    pub fn read_request(&mut self) -> Result<Request, ReadError> {
        let mut deadline = (!self.reader.is_empty()).then(|| Instant::now() + self.limits.request_deadline);
        let mut chunk = vec![0u8; 4096];
        loop {
            if let Some(request) = self.reader.next_request()? {
                self.head_only = request.method == "HEAD";
                self.keep_alive = request.keep_alive();
                self.http10 = request.minor_version == 0;
                return Ok(request);
            }
            // A deadline for the whole request, not for each read: a per-read timeout is reset
            // by every byte, and a client sending one byte every 9 seconds would never time out.
            let wait = match deadline {
                None => self.limits.idle,
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
            };
            if wait.is_zero() {
                return Err(ReadError::Bad(REQUEST_TIMEOUT, "the request took too long to arrive".into()));
            }
            self.stream.set_read_timeout(Some(wait)).map_err(|_| ReadError::Gone)?;
            // Never more than the reader will take: the buffer stays within the limits.
            let room = self.reader.room().min(chunk.len());
            // No byte of a request yet: this connection only waits, and may make room.
            let idle = self.idle.clone().filter(|_| deadline.is_none());
            let waiting = idle.as_deref().and_then(|idle| idle.wait(&self.stream));
            let read = self.stream.read(&mut chunk[..room]);
            drop(waiting);
            let n = match read {
                Ok(0) => return Err(ReadError::Gone),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if common::net::is_timeout(&e) && deadline.is_some() => {
                    return Err(ReadError::Bad(REQUEST_TIMEOUT, "the request took too long to arrive".into()))
                }
                Err(_) => return Err(ReadError::Gone),
            };
            self.reader.feed(&chunk[..n]);
            deadline = deadline.or_else(|| Some(Instant::now() + self.limits.request_deadline));
        }
    }

    /// Writes a whole response to the request just read (no body for HEAD; `Connection: close`
    /// when this is the last one) and says whether the connection goes on.
    pub fn respond(&mut self, status: Status, headers: &[(&str, &str)], body: &[u8]) -> AfterResponse {
        let mut all = headers.to_vec();
        if !self.keep_alive || self.shutdown.is_triggered() {
            self.keep_alive = false;
            all.push(("Connection", "close"));
        } else if self.http10 {
            all.push(("Connection", "keep-alive"));
        }
        match write_response(&mut self.stream, status, &all, body, self.head_only) {
            Ok(()) if self.keep_alive => AfterResponse::KeepAlive,
            _ => AfterResponse::Close,
        }
    }

    /// An error response with a one-line plain-text body that says what was wrong, then the
    /// connection closes.
    pub fn refuse(&mut self, status: Status, why: &str, headers: &[(&str, &str)]) -> AfterResponse {
        self.keep_alive = false;
        let mut all = vec![("Content-Type", "text/plain; charset=utf-8")];
        all.extend_from_slice(headers);
        self.respond(status, &all, error_body(status, why).as_bytes());
        linger(&mut self.stream);
        AfterResponse::Close
    }

    /// True when the client has closed its side: a departed long-poller or stream reader, whose
    /// thread can stop waiting. (Bytes of a next request mean it is still there.)
    pub fn departed(&self) -> bool {
        if self.stream.set_nonblocking(true).is_err() {
            return true;
        }
        let gone = match self.stream.peek(&mut [0u8; 1]) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != io::ErrorKind::WouldBlock,
        };
        let _ = self.stream.set_nonblocking(false);
        gone
    }

    /// Hands the socket over to another protocol (a WebSocket): a handle of it, and the bytes
    /// that already arrived after the request. No read timeout survives: the new protocol
    /// decides how long a peer may be quiet.
    pub fn upgrade(&mut self) -> io::Result<(Traced<TcpStream>, Vec<u8>)> {
        let stream = self.stream.try_clone()?;
        stream.set_read_timeout(None)?;
        let reader = std::mem::replace(&mut self.reader, RequestReader::new(0));
        self.keep_alive = false;
        Ok((stream, reader.into_leftover()))
    }
}

/// Our FIN, then whatever the client still sends is read and dropped for at most [`LINGER`].
pub fn linger(stream: &mut Traced<TcpStream>) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let deadline = Instant::now() + LINGER;
    let mut buf = [0u8; 4096];
    for _ in 0..64 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        if matches!(stream.read(&mut buf), Ok(0) | Err(_)) {
            break;
        }
    }
}

/// Reads the one request of a connection that switches protocols after it (lesson 7's
/// handshake), within the default limits; bytes after it are in `request.tail`.
pub fn read_request(stream: &mut Traced<TcpStream>) -> Result<Request, ReadError> {
    let clone = stream.try_clone().map_err(|_| ReadError::Gone)?;
    let peer = stream.peer_addr().map_err(|_| ReadError::Gone)?;
    let mut connection = Connection::new(clone, peer, Limits::default(), Shutdown::new());
    let mut request = connection.read_request()?;
    request.tail = connection.reader.into_leftover();
    Ok(request)
}

/// An error response to a connection outside the serve loop (a refusal at the connection cap,
/// lesson 7), then close.
pub fn refuse(stream: &mut Traced<TcpStream>, status: Status, why: &str, headers: &[(&str, &str)]) {
    let mut all = vec![("Content-Type", "text/plain; charset=utf-8"), ("Connection", "close")];
    all.extend_from_slice(headers);
    let _ = write_response(stream, status, &all, error_body(status, why).as_bytes(), false);
    let _ = stream.shutdown(std::net::Shutdown::Write);
}
