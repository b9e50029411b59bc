//! The grader for chapter 7's exercise: the WebSocket handshake and frames, by hand.
//!
//! A WebSocket starts as an HTTP request that asks to switch protocols. The server proves it
//! understood by hashing the client's key with the RFC's GUID; then both sides speak frames. The
//! checks use the RFC's own example key, so the expected answer is printed in RFC 6455 itself,
//! and send frames the way every browser does: masked (clients must mask; servers never do).
//! After the upgrade, the control frames matter as much as the text: a ping needs a pong with
//! the same data, and a close needs a close back, whatever frame came first.

use std::io::Read;
use std::net::Shutdown;

use super::{check, fail, send, Check, Failure, Outcome, Peer, Target, DEADLINE};
use common::trace::Layer;

pub fn checks() -> Vec<Check> {
    vec![
        check("the RFC 6455 example key gets the right Sec-WebSocket-Accept", handshake),
        check("a plain HTTP request gets 400 or 426, not 101", not_an_upgrade),
        check("a text message gets an answer", text),
        check("a ping gets a pong with the same data", ping),
        check("a close frame gets a close frame back", close),
    ]
}

/// RFC 6455, section 1.3: this key must be answered with that accept value.
const RFC_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const RFC_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

pub const UPGRADE_HEAD: &str = "answer HTTP/1.1 101 Switching Protocols and an empty line";
pub const UPGRADE_101: &str =
    "answer 101 Switching Protocols (Connection may list several tokens: keep-alive, Upgrade)";
pub const ACCEPT: &str =
    "base64(SHA-1(key + \"258EAFA5-E914-47DA-95CA-C5AB0DC85B11\")), of the raw 20-byte digest";
pub const PLAIN: &str = "refuse requests without Upgrade: websocket with 426 (or 400)";
pub const MASKED: &str = "a server never masks its frames";
pub const TEXT: &str = "answer text with text (unmask the client's payload first)";
pub const PONG: &str = "answer every ping with a pong";
pub const PONG_DATA: &str = "a pong echoes the ping's payload";
pub const CLOSE: &str = "answer a close frame with a close frame, then close the connection";

pub const HINTS: &[&str] = &[UPGRADE_HEAD, UPGRADE_101, ACCEPT, PLAIN, MASKED, TEXT, PONG, PONG_DATA, CLOSE];

/// The largest frame the checker reads: every answer here is a few bytes.
const MAX_FRAME: u64 = 1 << 20;

/// The longest response head the checker reads before giving up.
const MAX_HEAD: usize = 8192;

/// A connection upgraded with the RFC's example key.
fn upgraded(target: &Target) -> Result<Peer, Failure> {
    let mut stream = target.connect(Layer::Http)?;
    let addr = &target.addr;
    // `Connection: keep-alive, Upgrade` is what Firefox sends: a token list, not one word.
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
         Sec-WebSocket-Key: {RFC_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    send(&mut stream, request.as_bytes());
    // Byte by byte up to the empty line: whatever follows it is already WebSocket frames.
    // The head may be MAX_HEAD bytes long: more is a flood, and the run says so (see `peer`).
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    stream.allow(MAX_HEAD);
    while !buf.ends_with(b"\r\n\r\n") {
        if !matches!(stream.read(&mut byte), Ok(1)) {
            return Err(fail(
                format!("no whole answer to the upgrade (got \"{}\")", String::from_utf8_lossy(&buf)),
                UPGRADE_HEAD,
            ));
        }
        buf.push(byte[0]);
    }
    stream.allow(super::MAX_BYTES);
    let head = String::from_utf8_lossy(&buf).to_string();
    if !head.starts_with("HTTP/1.1 101") {
        return Err(fail(
            format!("the upgrade got \"{}\"", head.lines().next().unwrap_or_default()),
            UPGRADE_101,
        ));
    }
    let accept = head.lines().find_map(|l| {
        l.split_once(':')
            .filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-accept"))
            .map(|(_, v)| v.trim().to_string())
    });
    if accept.as_deref() != Some(RFC_ACCEPT) {
        return Err(fail(
            format!(
                "Sec-WebSocket-Accept was \"{}\", not {RFC_ACCEPT}",
                accept.as_deref().unwrap_or("missing")
            ),
            ACCEPT,
        ));
    }
    Ok(stream)
}

fn handshake(target: &Target) -> Outcome {
    upgraded(target).map(drop)
}

/// Status codes exist only before the switch: a request that is not an upgrade is refused in HTTP.
fn not_an_upgrade(target: &Target) -> Outcome {
    let (status, _) = super::http::request(
        target,
        &format!("GET /ws HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", target.addr),
        "",
    )?;
    matches!(status, 400 | 426).then_some(()).ok_or_else(|| fail(format!("a plain GET got {status}"), PLAIN))
}

/// The next frame from the server; `hint` says what it should have been.
fn next_frame(stream: &mut Peer, hint: &'static str) -> Result<common::frame::Frame, Failure> {
    common::frame::read(stream, MAX_FRAME).map_err(|e| {
        let why = if common::net::is_timeout(&e) {
            format!("within {DEADLINE:?}")
        } else {
            common::net::describe(&e)
        };
        fail(format!("no whole frame {why}"), hint)
    })
}

/// Sends one masked frame with a fixed mask (any mask will do; the server must unmask).
fn send_frame(stream: &mut Peer, opcode: u8, payload: &[u8]) {
    send(stream, &common::frame::encode(opcode, payload, Some([1, 2, 3, 4])));
}

fn text(target: &Target) -> Outcome {
    let mut stream = upgraded(target)?;
    send_frame(&mut stream, 0x1, "hello, 세계".as_bytes());
    let frame = next_frame(&mut stream, TEXT)?;
    if frame.mask.is_some() {
        return Err(fail("the server masked its frame", MASKED));
    }
    (frame.opcode == 0x1).then_some(()).ok_or_else(|| fail(format!("got a {} frame", frame.kind()), TEXT))
}

/// A ping as the *first* frame: a server that answers only data frames never sends the pong.
fn ping(target: &Target) -> Outcome {
    let mut stream = upgraded(target)?;
    send_frame(&mut stream, 0x9, b"checker");
    for _ in 0..10 {
        let frame = next_frame(&mut stream, PONG)?;
        if frame.opcode == 0xA {
            return (frame.payload == b"checker")
                .then_some(())
                .ok_or_else(|| fail("the pong carried other data", PONG_DATA));
        }
    }
    Err(fail("no pong in the next 10 frames", PONG))
}

/// The close handshake: our close (1000, normal), then the server's close back.
fn close(target: &Target) -> Outcome {
    let mut stream = upgraded(target)?;
    send_frame(&mut stream, 0x8, &1000u16.to_be_bytes());
    for _ in 0..10 {
        let frame = next_frame(&mut stream, CLOSE)?;
        if frame.opcode == 0x8 {
            let _ = stream.shutdown(Shutdown::Both);
            return Ok(());
        }
    }
    Err(fail("no close frame back", CLOSE))
}
