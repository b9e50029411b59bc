//! The grader for chapter 7's exercise: the WebSocket handshake and frames, by hand.
//!
//! A WebSocket starts as an HTTP request that asks to switch protocols. The server proves it
//! understood by hashing the client's key with the RFC's GUID; then both sides speak frames. The
//! checks use the RFC's own example key, so the expected answer is printed in RFC 6455 itself,
//! and send frames the way every browser does: masked (clients must mask; servers never do).
//! After the upgrade, the control frames matter as much as the text: a ping needs a pong with
//! the same data, and a close needs a close back, whatever frame came first.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};

use super::{connect, fail, send_failed, Check, Failure, Outcome, DEADLINE};
use common::trace::{Layer, Traced};

pub fn checks() -> Vec<Check> {
    vec![
        ("the RFC 6455 example key gets the right Sec-WebSocket-Accept", handshake),
        ("a plain HTTP request gets 400 or 426, not 101", not_an_upgrade),
        ("a text message gets an answer", text),
        ("a ping gets a pong with the same data", ping),
        ("a close frame gets a close frame back", close),
    ]
}

/// RFC 6455, section 1.3: this key must be answered with that accept value.
const RFC_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const RFC_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// The longest response head the checker reads before giving up.
const MAX_HEAD: usize = 8192;

/// A connection upgraded with the RFC's example key.
fn upgraded(addr: &str) -> Result<Traced<TcpStream>, Failure> {
    let mut stream = connect(addr, Layer::Http)?;
    // `Connection: keep-alive, Upgrade` is what Firefox sends: a token list, not one word.
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
         Sec-WebSocket-Key: {RFC_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(send_failed)?;
    // Byte by byte up to the empty line: whatever follows it is already WebSocket frames.
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if buf.len() > MAX_HEAD || !matches!(stream.read(&mut byte), Ok(1)) {
            return Err(fail(
                format!("no whole answer to the upgrade (got {:?})", String::from_utf8_lossy(&buf)),
                "answer HTTP/1.1 101 Switching Protocols and an empty line",
            ));
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    if !head.starts_with("HTTP/1.1 101") {
        return Err(fail(
            format!("the upgrade got {:?}", head.lines().next().unwrap_or_default()),
            "answer 101 Switching Protocols (Connection may list several tokens: keep-alive, Upgrade)",
        ));
    }
    let accept = head.lines().find_map(|l| {
        l.split_once(':')
            .filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-accept"))
            .map(|(_, v)| v.trim().to_string())
    });
    if accept.as_deref() != Some(RFC_ACCEPT) {
        return Err(fail(
            format!("Sec-WebSocket-Accept was {accept:?}, not {RFC_ACCEPT}"),
            "base64(SHA-1(key + \"258EAFA5-E914-47DA-95CA-C5AB0DC85B11\")), of the raw 20-byte digest",
        ));
    }
    Ok(stream)
}

fn handshake(addr: &str) -> Outcome {
    upgraded(addr).map(drop)
}

/// Status codes exist only before the switch: a request that is not an upgrade is refused in HTTP.
fn not_an_upgrade(addr: &str) -> Outcome {
    let (status, _) = super::http::request(
        addr,
        &format!("GET /ws HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )?;
    matches!(status, 400 | 426).then_some(()).ok_or_else(|| {
        fail(
            format!("a plain GET got {status}"),
            "refuse requests without Upgrade: websocket with 426 (or 400)",
        )
    })
}

fn next_frame(stream: &mut Traced<TcpStream>) -> Result<common::frame::Frame, Failure> {
    common::frame::read(stream, 1 << 20).map_err(|e| {
        fail(
            format!("no frame within {DEADLINE:?}: {}", common::net::describe(&e)),
            "answer every frame: text with text, ping with pong, close with close",
        )
    })
}

/// Sends one masked frame with a fixed mask (any mask will do; the server must unmask).
fn send_frame(stream: &mut Traced<TcpStream>, opcode: u8, payload: &[u8]) -> Outcome {
    stream.write_all(&common::frame::encode(opcode, payload, Some([1, 2, 3, 4]))).map_err(send_failed)
}

fn text(addr: &str) -> Outcome {
    let mut stream = upgraded(addr)?;
    send_frame(&mut stream, 0x1, "hello, 세계".as_bytes())?;
    let frame = next_frame(&mut stream)?;
    if frame.mask.is_some() {
        return Err(fail("the server masked its frame", "a server never masks its frames"));
    }
    (frame.opcode == 0x1).then_some(()).ok_or_else(|| {
        fail(
            format!("got a {} frame", frame.kind()),
            "answer text with text (unmask the client's payload first)",
        )
    })
}

/// A ping as the *first* frame: a server that answers only data frames never sends the pong.
fn ping(addr: &str) -> Outcome {
    let mut stream = upgraded(addr)?;
    send_frame(&mut stream, 0x9, b"checker")?;
    for _ in 0..10 {
        let frame = next_frame(&mut stream)?;
        if frame.opcode == 0xA {
            return (frame.payload == b"checker")
                .then_some(())
                .ok_or_else(|| fail("the pong carried other data", "a pong echoes the ping's payload"));
        }
    }
    Err(fail("no pong in the next 10 frames", "answer every ping with a pong"))
}

/// The close handshake: our close (1000, normal), then the server's close back.
fn close(addr: &str) -> Outcome {
    let mut stream = upgraded(addr)?;
    send_frame(&mut stream, 0x8, &1000u16.to_be_bytes())?;
    for _ in 0..10 {
        let frame = next_frame(&mut stream)?;
        if frame.opcode == 0x8 {
            let _ = stream.shutdown(Shutdown::Both);
            return Ok(());
        }
    }
    Err(fail("no close frame back", "answer a close frame with a close frame, then close the connection"))
}
