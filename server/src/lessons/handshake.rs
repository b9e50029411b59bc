//! Lesson 7, server side: the WebSocket opening handshake by hand, and one frame taken apart.
//!
//! ```text
//! 1. read an ordinary HTTP request          GET / HTTP/1.1 ... Upgrade: websocket ...
//! 2. check that it asks for a WebSocket     method, Upgrade, Connection, version 13, a key
//! 3. compute Sec-WebSocket-Accept           base64(SHA-1(key + GUID))
//! 4. answer 101 Switching Protocols         from here on, the connection carries frames
//! 5. read the first frame, field by field   FIN, opcode, MASK, length, masking key, payload
//! 6. hand the socket to tungstenite         which carries on: echo, pings, the close
//! ```

use std::io::{self, Cursor, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

use common::protocol::sanitize;
use common::trace::{Layer, Traced};
use common::{frame, handshake, Shutdown};
use log::info;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::{Role, WebSocket};
use tungstenite::Message;

use crate::http;
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
    let addr = listener.local_addr()?;
    info!("handshake server listening on ws://{addr}/ (start `cargo client handshake` in another terminal)");
    let refuse = |mut stream: Traced<TcpStream>, _peer| {
        http::refuse(&mut stream, http::SERVICE_UNAVAILABLE, "too many clients, try again later", &[]);
    };
    let watcher = shutdown.clone();
    accept_loop(&listener, shutdown, Layer::Http, max_connections, refuse, move |stream, peer| {
        if let Err(e) = serve(stream, peer, &watcher) {
            info!("{peer}: {e}");
        }
    })
}

fn serve(mut stream: Traced<TcpStream>, peer: SocketAddr, shutdown: &Shutdown) -> Result<(), String> {
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

    // 2. Does it ask for a WebSocket?
    let key = match ws::check_upgrade(&request) {
        Ok(key) => key.to_string(),
        Err((status, why, header)) => {
            http::refuse(&mut stream, status, &why, header.as_slice());
            return Err(format!("2. not a WebSocket upgrade, answered {} {}: {why}", status.0, status.1));
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

    // 5. The first frame, by hand. Bytes that came with the request come first.
    let mut input = Cursor::new(request.tail).chain(&stream);
    let first =
        frame::read(&mut input, MAX_MESSAGE as u64).map_err(|e| format!("reading the first frame: {e}"))?;
    describe(&first);

    // 6. tungstenite carries on with the same socket (and whatever we read beyond the frame).
    let (rest, _) = input.into_inner();
    let already_read = rest.get_ref()[rest.position() as usize..].to_vec();
    let mut socket = WebSocket::from_partially_read(
        stream,
        already_read,
        Role::Server,
        Some(common::ws::config(MAX_MESSAGE)),
    );
    info!("6. handed the socket to tungstenite; echoing from now on");
    // The first frame can be of any kind, and each kind has its answer: text and binary are
    // echoed, a ping gets its pong, a close gets a close back. From the second frame on,
    // tungstenite gives these answers by itself.
    let mut message = match first.opcode {
        0x1 => Some(Message::text(
            String::from_utf8(first.payload).map_err(|_| "the first text frame is not UTF-8")?,
        )),
        0x2 => Some(Message::binary(first.payload)),
        0x9 => Some(Message::Pong(first.payload.into())),
        0x8 => {
            let reply = close_reply(&first.payload);
            let code = reply.as_ref().map_or("no code".to_string(), |f| f.code.to_string());
            info!("{peer} closed at once; answered with a close frame ({code}) and closed");
            // The server closes the TCP connection first, so the TIME_WAIT stays with it.
            let _ = socket.close(reply).and_then(|()| socket.flush());
            return Ok(());
        }
        _ => None,
    };
    loop {
        if let Some(message) = message.take() {
            socket.send(message).map_err(|e| e.to_string())?;
        }
        match socket.read() {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => message = Some(m),
            Ok(Message::Close(frame)) => {
                let code = frame.map_or("no code".to_string(), |f| u16::from(f.code).to_string());
                info!("{peer} closed ({code}); tungstenite answered with the same code");
            }
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// The answer to a close frame taken apart by hand: the same code, as tungstenite answers later
/// ones. A payload is empty (no code), or a two-byte code and a UTF-8 reason; anything else is a
/// protocol error (1002), or invalid data (1007) for a reason that is not UTF-8.
fn close_reply(payload: &[u8]) -> Option<CloseFrame> {
    let frame = |code: CloseCode| Some(CloseFrame { code, reason: "".into() });
    match payload {
        [] => None,
        [high, low, reason @ ..] => {
            let code = CloseCode::from(u16::from_be_bytes([*high, *low]));
            match (code.is_allowed(), std::str::from_utf8(reason)) {
                (false, _) => frame(CloseCode::Protocol),
                (true, Err(_)) => frame(CloseCode::Invalid),
                (true, Ok(_)) => frame(code),
            }
        }
        [_] => frame(CloseCode::Protocol),
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
        let request = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                       Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
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

    #[test]
    fn close_replies_follow_the_rfc() {
        let code = |payload: &[u8]| close_reply(payload).map(|f| u16::from(f.code));
        assert_eq!(code(&[]), None);
        assert_eq!(code(&[0x03]), Some(1002), "one byte cannot hold a code");
        assert_eq!(code(&1005u16.to_be_bytes()), Some(1002), "1005 may never be sent");
        assert_eq!(code(&[0x03, 0xe8, 0xff]), Some(1007), "the reason must be UTF-8");
        assert_eq!(code(&[0x0b, 0xb8]), Some(3000));
    }
}
