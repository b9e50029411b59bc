//! Wrong ports, named. A TLS connection opens with a record whose first bytes are `16 03`
//! (handshake, version 3.x); plain HTTP opens with a method (`GET `), a chat with a line. Each
//! side can tell at the first bytes that the other is at the wrong door, and say so instead of
//! answering garbage with garbage.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};

use log::warn;

use crate::trace::dump::quoted;
use crate::trace::Layer;

/// Whether `bytes` start like a TLS handshake record (a ClientHello): `16 03`.
pub fn looks_like_tls(bytes: &[u8]) -> bool {
    bytes.len() >= 2 && bytes[0] == 0x16 && bytes[1] == 0x03
}

/// On a plain server: the check of a connection's first bytes for a ClientHello.
pub struct PlainPort {
    peer: String,
    layer: Layer,
    checked: AtomicBool,
}

impl PlainPort {
    pub fn new(peer: String, layer: Layer) -> Self {
        PlainPort { peer, layer, checked: AtomicBool::new(false) }
    }

    /// `Ok` unless these are a connection's first bytes and they are a ClientHello: then a log
    /// line that says what happened, and an error that ends the connection (on a web port the
    /// bytes go on to the HTTP layer, which answers 400).
    pub fn check(&self, first: &[u8]) -> io::Result<()> {
        if first.is_empty() || self.checked.swap(true, Ordering::Relaxed) || !looks_like_tls(first) {
            return Ok(());
        }
        let (client, then) = match self.layer {
            // The HTTP layer answers `400 Bad Request` to it, as to any bytes that are not HTTP.
            Layer::Http => ("https:// or wss://", "Answered 400"),
            _ => ("--tls", "Closed"),
        };
        warn!(
            "{}: sent a TLS ClientHello (16 03 ..) to this plain port: the client speaks TLS ({client}); \
             start the server with --tls to serve it, or connect without TLS. {then}.",
            self.peer
        );
        if self.layer == Layer::Http {
            return Ok(());
        }
        Err(io::Error::new(io::ErrorKind::InvalidData, "a TLS ClientHello at a plain port"))
    }
}

/// What a TLS server found at the start of a new connection.
pub enum Knock {
    /// A TLS record: go on with the handshake.
    Tls,
    /// Something else: it has been answered in plain words and should be closed.
    Plain,
    /// The peer closed, or sent nothing within the wait.
    Nothing,
}

/// Waits for a new connection's first bytes (the socket's read timeout applies) and, when
/// they are not TLS, tells the peer in its own protocol where it went wrong.
pub fn knock(stream: &TcpStream, layer: Layer) -> Knock {
    let mut first = [0u8; 16];
    let n = match stream.peek(&mut first) {
        Ok(0) | Err(_) => return Knock::Nothing,
        Ok(n) => n,
    };
    // One byte of a record may come alone; `16` is already a TLS handshake's and nothing else's.
    if first[0] == 0x16 {
        return Knock::Tls;
    }
    // The address the client used, so the hint is one it can paste.
    let here = stream.local_addr().map_or_else(|_| "localhost:PORT".into(), |a| a.to_string());
    let peer = stream.peer_addr().map_or_else(|_| "a peer".into(), |a| a.to_string());
    let (log_hint, answer) = match layer {
        Layer::Lines => (
            format!("connect with `cargo client chat --tls` or `openssl s_client -connect {here}`"),
            format!("* this port speaks TLS: use `cargo client chat --tls --addr {here}` (or `cargo client nc --tls {here}`)\n").into_bytes(),
        ),
        _ => {
            let text = format!("this port speaks TLS: use https://{here}/ (or wss://{here}/ for WebSocket)\n");
            let head = format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                text.len()
            );
            (format!("use https://{here}/"), [head.into_bytes(), text.into_bytes()].concat())
        }
    };
    warn!(
        "{peer}: sent {} to this TLS port, not a ClientHello: told it to {log_hint}",
        quoted(&first[..n], 16)
    );
    let mut writer = stream;
    let _ = writer.write_all(&answer);
    // Read what else it sent (briefly), so that closing does not reset the answer away.
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_millis(200)));
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut sink = [0u8; 1024];
    let mut reader = stream;
    for _ in 0..16 {
        if !matches!(reader.read(&mut sink), Ok(1..)) {
            break;
        }
    }
    Knock::Plain
}
