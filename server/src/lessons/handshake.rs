//! Lesson 7, server side: the WebSocket opening handshake by hand, and one frame taken apart.
//!
//! ```text
//! 1. read an ordinary HTTP request          GET / HTTP/1.1 ... Upgrade: websocket ...
//! 2. check that it asks for a WebSocket     our name, our page, method, Upgrade, Connection,
//!                                           HTTP/1.1, version 13, one key of 16 bytes
//! 3. compute Sec-WebSocket-Accept           base64(SHA-1(key + GUID))
//! 4. answer 101 Switching Protocols         from here on, the connection carries frames
//! 5. read the first frame, field by field   FIN, opcode, MASK, length, masking key, payload
//! 6. hand the socket to tungstenite         which reads that frame again, checks it against
//!                                           every rule, and carries on: echo, pings, the close
//! ```
//!
//! The server keeps every rule the other WebSocket servers keep (chapters 5 and 6): the same
//! checks of the request, the same close codes, the same limits on unfinished messages, and a
//! 1001 to every client on Ctrl-C. Step 5 only *shows* the frame; tungstenite judges it.

use std::io::{self, Cursor, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::protocol::sanitize;
use common::trace::{Layer, Traced};
use common::ws::unfinished::Guard;
use common::ws::{close_frame, EndReason};
use common::{frame, handshake, Shutdown};
use log::info;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::Role;

use super::ws_echo;
use crate::http::{self, Origins, Site};
use crate::workers::accept_loop;
use crate::ws;

/// The largest message this lesson accepts.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// The most payload bytes the log prints in hex: enough to see the masking at work.
pub const SHOWN_BYTES: usize = 32;

/// Clients at once: this lesson is for watching, not for load.
pub const MAX_CONNECTIONS: usize = 16;

/// Serves handshake clients, at most `max_connections` at once, until `shutdown`.
pub fn run(listener: TcpListener, shutdown: &Shutdown, max_connections: usize) -> io::Result<()> {
    run_within(listener, shutdown, max_connections, Guard::default())
}

/// [`run`], with the limits on unfinished messages given (tests shorten the deadline).
pub fn run_within(
    listener: TcpListener,
    shutdown: &Shutdown,
    max_connections: usize,
    guard: Guard,
) -> io::Result<()> {
    let addr = listener.local_addr()?;
    info!("handshake server listening on ws://{addr}/ (start `cargo client handshake` in another terminal)");
    // Chapter 5's rules on names and pages, as every server here: only pages served from this
    // server's own names may open a WebSocket on it.
    let site = Site::new(addr, Origins::default());
    let refuse = |mut stream: Traced<TcpStream>, _peer| {
        http::refuse(&mut stream, http::SERVICE_UNAVAILABLE, "too many clients, try again later", &[]);
    };
    let watcher = shutdown.clone();
    accept_loop(&listener, shutdown, Layer::Http, max_connections, refuse, move |stream, peer| {
        if let Err(e) = serve(stream, peer, &site, &guard, &watcher) {
            info!("{peer}: {e}");
        }
    })
}

fn serve(
    mut stream: Traced<TcpStream>,
    peer: SocketAddr,
    site: &Site,
    guard: &Guard,
    shutdown: &Shutdown,
) -> Result<(), String> {
    let _tracked = shutdown.track(&stream).map_err(|e| e.to_string())?;

    // 1. An ordinary HTTP request.
    let request = match http::read_request(&mut stream) {
        Ok(request) => request,
        Err(http::ReadError::Gone) => return Err("left before sending a request".into()),
        Err(http::ReadError::Bad(status, why)) => {
            http::refuse(&mut stream, status, &why, &[]);
            return Err(format!("{} {}: {why}", status.0, status.1));
        }
    };
    // The target and the header values are the peer's bytes: printed as text, never obeyed by
    // the terminal as commands (HTTP lets bytes above 127 through, and UTF-8 has control codes).
    info!("1. {peer} sent an HTTP request: {} {}", request.method, sanitize(&request.target));
    for (name, value) in &request.headers {
        info!("     {name}: {}", sanitize(value));
    }

    // 2. Does it ask for a WebSocket, under one of our names, from no page or our own?
    let checked = site.check(&request).map_err(|(status, why)| (status, why, None));
    let key = match checked.and_then(|()| ws::check_upgrade(&request)) {
        Ok(key) => key.to_string(),
        Err((status, why, header)) => {
            http::refuse(&mut stream, status, &why, header.as_slice());
            return Err(format!("2. refused, answered {} {}: {why}", status.0, status.1));
        }
    };
    info!("2. it asks to upgrade to WebSocket version 13, with the key {}", sanitize(&key));

    // 3. The proof that we understood.
    let accept = handshake::accept_key(&key);
    info!(
        "3. Sec-WebSocket-Accept = base64(SHA-1(\"{}\" + \"{}\")) = {accept}",
        sanitize(&key),
        handshake::GUID
    );

    // 4. The answer; after its blank line, the connection speaks WebSocket.
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    stream.write_all(response.as_bytes()).map_err(|e| e.to_string())?;
    info!("4. answered 101 Switching Protocols: from now on, frames");

    // 5. The first frame, by hand, keeping every byte we read.
    let mut input = Kept::new(request.tail, &stream, guard.deadline);
    let first = frame::read(&mut input, MAX_MESSAGE as u64);
    match &first {
        Ok(first) => describe(first),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            info!("5. the connection ended before a whole frame")
        }
        Err(e) => info!("5. no whole first frame: {e}"),
    }

    // 6. tungstenite reads the same bytes again, checks them against every rule of the RFC
    // (a frame that breaks one gets its close code), and carries on: echo, pings, the close.
    let already_read = input.into_bytes();
    let _ = stream.set_read_timeout(None);
    let (mut reader, writer) =
        common::ws::split(stream, already_read, Role::Server, common::ws::config(MAX_MESSAGE))
            .map_err(|e| format!("cannot split the connection: {e}"))?;
    reader.limit_unfinished(guard.clone());
    if first.as_ref().is_err_and(common::net::is_timeout) {
        let why = format!("the first frame took over {} s to arrive", guard.deadline.as_secs_f32());
        writer.close(Some(close_frame(CloseCode::Policy, &why)));
        reader.finish();
        return Err(format!("closed with 1008: {why}"));
    }
    info!("6. handed the socket to tungstenite; echoing from now on");
    let (end, _) = ws_echo::echo_messages(&mut reader, &writer);
    if shutdown.is_triggered() {
        ws::going_away(&writer);
        info!("{peer}: server shutting down (sent 1001)");
    } else if let EndReason::Closed(code) = end {
        let code = code.map_or("no code".to_string(), |code| u16::from(code).to_string());
        info!("{peer} closed ({code}); tungstenite answered with the same code");
    } else {
        info!("{peer}: {end}");
    }
    reader.finish();
    Ok(())
}

/// The bytes that came with the request, then the socket's, each kept for tungstenite. The
/// clock of `deadline` starts at the frame's first byte: a client may wait before it sends.
struct Kept<'a> {
    tail: Cursor<Vec<u8>>,
    stream: &'a Traced<TcpStream>,
    deadline: Duration,
    until: Option<Instant>,
    kept: Vec<u8>,
}

impl<'a> Kept<'a> {
    fn new(tail: Vec<u8>, stream: &'a Traced<TcpStream>, deadline: Duration) -> Self {
        let until = (!tail.is_empty()).then(|| Instant::now() + deadline);
        Kept { tail: Cursor::new(tail), stream, deadline, until, kept: Vec::new() }
    }

    /// Every byte read, and those that came with the request and were not read.
    fn into_bytes(self) -> Vec<u8> {
        let (mut kept, tail) = (self.kept, self.tail);
        kept.extend_from_slice(&tail.get_ref()[tail.position() as usize..]);
        kept
    }
}

impl Read for Kept<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = self.tail.read(buf)?;
        if n == 0 {
            let left = self.until.map(|until| until.saturating_duration_since(Instant::now()));
            if left.is_some_and(|left| left.is_zero()) {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "the first frame is late"));
            }
            self.stream.set_read_timeout(left)?;
            let mut stream = self.stream;
            n = stream.read(buf)?;
            self.until.get_or_insert_with(|| Instant::now() + self.deadline);
        }
        self.kept.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// Prints every field of a frame, the way the RFC's diagram names them.
fn describe(frame: &frame::Frame) {
    info!("5. the first frame, taken apart:");
    info!(
        "     FIN = {} ({})",
        u8::from(frame.fin),
        if frame.fin { "the last frame of its message" } else { "more to come" }
    );
    info!("     RSV1-3 = {:03b} (no extension in use)", frame.rsv);
    info!("     opcode = {:#x} ({})", frame.opcode, frame.kind());
    match frame.mask {
        Some(key) => info!("     MASK = 1, masking key = {}", hex(&key)),
        None => info!("     MASK = 0: a client must mask every frame!"),
    }
    info!("     payload length = {} bytes", frame.payload.len());
    if let Some(key) = frame.mask {
        let on_the_wire: Vec<u8> =
            frame.payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]).take(SHOWN_BYTES).collect();
        let cut = frame.payload.len() > SHOWN_BYTES;
        let which = if cut { format!(" (the first {SHOWN_BYTES})") } else { String::new() };
        info!("     payload as sent (masked){which} = {}", hex(&on_the_wire));
    }
    info!("     payload unmasked = {:?}", String::from_utf8_lossy(&frame.payload));
}

/// Bytes as hex pairs: `37 fa 21 3d`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The handshake server on an ephemeral port, upgraded; returns the connection and the signal.
    fn upgraded() -> (TcpStream, Shutdown, std::thread::JoinHandle<io::Result<()>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let server = {
            let shutdown = shutdown.clone();
            std::thread::spawn(move || run(listener, &shutdown, MAX_CONNECTIONS))
        };
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let request = format!(
            "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
        (stream, shutdown, server)
    }

    #[test]
    fn a_ping_as_the_first_frame_gets_its_pong() {
        let (mut stream, shutdown, server) = upgraded();
        stream.write_all(&frame::encode(0x9, b"first", Some([1, 2, 3, 4]))).unwrap();
        let answer = frame::read(&mut stream, 1024).unwrap();
        assert_eq!((answer.opcode, answer.payload.as_slice()), (0xA, &b"first"[..]));
        // The connection carries on: a text frame after the ping is echoed.
        stream.write_all(&frame::encode(0x1, b"then text", Some([4, 3, 2, 1]))).unwrap();
        assert_eq!(frame::read(&mut stream, 1024).unwrap().payload, b"then text");
        shutdown.trigger();
        server.join().unwrap().unwrap();
    }

    #[test]
    fn a_close_as_the_first_frame_gets_a_close_with_the_same_code() {
        let (mut stream, shutdown, server) = upgraded();
        stream.write_all(&frame::encode(0x8, &1001u16.to_be_bytes(), Some([5, 6, 7, 8]))).unwrap();
        let answer = frame::read(&mut stream, 1024).unwrap();
        assert_eq!((answer.opcode, answer.payload.as_slice()), (0x8, &1001u16.to_be_bytes()[..]));
        assert_eq!(stream.read(&mut [0u8; 16]).unwrap(), 0, "the server should close after its reply");
        shutdown.trigger();
        server.join().unwrap().unwrap();
    }
}
