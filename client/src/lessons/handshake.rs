//! Lesson 7, client side: the opening handshake and one frame, by hand.
//!
//! ```text
//! 1. send an HTTP request that asks to upgrade, with a random Sec-WebSocket-Key
//! 2. read the answer: 101, and Sec-WebSocket-Accept = base64(SHA-1(key + GUID)) — check it
//! 3. send one text frame, masked (clients must), byte by byte
//! 4. read the echo: a frame from the server, never masked
//! 5. close: a close frame with code 1000, and the server's close frame back
//! ```

use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

use common::trace::{Layer, Traced};
use common::{frame, handshake};
use log::info;

use crate::upgrade::{self, Expected, HANDSHAKE_TIMEOUT};

/// The largest frame this client reads.
pub const MAX_FRAME: u64 = 64 * 1024;

/// The server this client talks to, for the error when the address is something else.
pub const EXPECTED: Expected =
    Expected { what: "the handshake server", command: "cargo server handshake", addr: crate::defaults::TCP };

/// The two random things this client sends, pinned by `--key` and `--mask` so that a run shows
/// the very bytes the book shows; `None` is a fresh random value, as a real client must use.
#[derive(Debug, Clone, Default)]
pub struct Pinned {
    pub key: Option<String>,
    pub mask: Option<[u8; 4]>,
}

/// Does the handshake with the server at `addr`, sends `message`, returns the echo.
pub fn run(addr: &str, message: &str) -> Result<String, String> {
    run_pinned(addr, message, &Pinned::default())
}

/// The same, with the key and the mask given.
pub fn run_pinned(addr: &str, message: &str, pinned: &Pinned) -> Result<String, String> {
    exchange(addr, message, pinned, HANDSHAKE_TIMEOUT)
}

/// The same, with the time the server has to answer the upgrade.
pub fn run_within(addr: &str, message: &str, timeout: Duration) -> Result<String, String> {
    exchange(addr, message, &Pinned::default(), timeout)
}

fn exchange(addr: &str, message: &str, pinned: &Pinned, timeout: Duration) -> Result<String, String> {
    let mut stream = Traced::new(common::net::connect(addr, "handshake")?, Layer::Http);
    let failed = |e: std::io::Error| format!("talking to {addr}: {}", common::net::describe(&e));

    // 1. The upgrade request. The key is 16 random bytes in base64: its only job is to be
    //    answered correctly, which no plain HTTP server would do by accident.
    let key = pinned.key.clone().unwrap_or_else(tungstenite::handshake::client::generate_key);
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(failed)?;
    info!("1. sent the upgrade request:");
    request.lines().filter(|l| !l.is_empty()).for_each(|line| info!("     {line}"));

    // 2. The answer, line by line until the blank line that ends it. A deadline, because a
    //    server that does not speak HTTP (a wrong port) never sends that blank line.
    stream.set_read_timeout(Some(timeout)).map_err(failed)?;
    let mut reader = BufReader::new(stream.try_clone().map_err(failed)?);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        let said = || head.join("\n").into_bytes();
        match reader.read_line(&mut line) {
            Ok(0) => return Err(upgrade::closed_instead(addr, &said(), &EXPECTED)),
            Err(e) if common::net::is_timeout(&e) => {
                return Err(upgrade::no_answer(
                    addr,
                    timeout,
                    &[said(), line.into_bytes()].concat(),
                    &EXPECTED,
                ))
            }
            Err(e) => return Err(failed(e)),
            Ok(_) if head.len() > 100 => return Err(upgrade::not_websocket(addr, &said(), &EXPECTED)),
            Ok(_) if line == "\r\n" => break,
            Ok(_) => head.push(line.trim_end().to_string()),
        }
    }
    stream.set_read_timeout(None).map_err(failed)?;
    info!("2. the server answered:");
    head.iter().for_each(|line| info!("     {line}"));
    let status = head.first().map_or("", String::as_str);
    if !status.starts_with("HTTP/") {
        return Err(upgrade::not_websocket(addr, status.as_bytes(), &EXPECTED));
    }
    if !status.starts_with("HTTP/1.1 101") {
        return Err(format!("the server did not switch protocols: {}", common::protocol::sanitize(status)));
    }
    let expected = handshake::accept_key(&key);
    let accept = head.iter().find_map(|l| l.strip_prefix("Sec-WebSocket-Accept: ")).unwrap_or_default();
    if accept != expected {
        return Err(format!("wrong Sec-WebSocket-Accept: expected {expected}, got {accept:?}"));
    }
    info!("   base64(SHA-1(our key + GUID)) = {expected}: the server understood");

    // 3. One text frame, masked with 4 random bytes.
    let mask: [u8; 4] = pinned.mask.unwrap_or_else(rand::random);
    let bytes = frame::encode(0x1, message.as_bytes(), Some(mask));
    stream.write_all(&bytes).map_err(failed)?;
    info!("3. sent a text frame of {} bytes: {}", bytes.len(), hex(&bytes, 24));
    let length = match message.len() {
        n @ 0..=125 => format!("length {n}"),
        0..=65535 => "126: the length follows in 2 bytes".to_string(),
        _ => "127: the length follows in 8 bytes".to_string(),
    };
    info!(
        "     81 = FIN + opcode 1 (text); {:02x} = MASK + {length}; then the key, then the masked payload",
        bytes[1]
    );

    // 4. The echo. (BufReader may already hold some of it: read through it.)
    let echo = frame::read(&mut reader, MAX_FRAME).map_err(failed)?;
    info!(
        "4. got a {} frame, FIN = {}, masked = {}, {} bytes",
        echo.kind(),
        echo.fin,
        echo.mask.is_some(),
        echo.payload.len()
    );
    let text = String::from_utf8(echo.payload).map_err(|_| "the echo is not UTF-8".to_string())?;

    // 5. The close handshake: our close frame with 1000 (normal), then the server's.
    stream.write_all(&frame::encode(0x8, &1000u16.to_be_bytes(), Some(rand::random()))).map_err(failed)?;
    let reply = frame::read(&mut reader, MAX_FRAME).map_err(failed)?;
    info!(
        "5. sent close 1000; the server answered close {}",
        reply.close_code().map_or("without a code".into(), |c| c.to_string())
    );
    Ok(text)
}

/// `--mask 37fa213d`: four bytes in hex.
pub fn parse_mask(text: &str) -> Result<[u8; 4], String> {
    let wrong = || format!("{text:?} is not a masking key: give 4 bytes as 8 hex digits, like 37fa213d");
    if text.len() != 8 || !text.is_ascii() {
        return Err(wrong());
    }
    let mut mask = [0u8; 4];
    for (i, byte) in mask.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| wrong())?;
    }
    Ok(mask)
}

/// Up to `max` bytes as hex pairs.
fn hex(bytes: &[u8], max: usize) -> String {
    let shown: Vec<String> = bytes.iter().take(max).map(|b| format!("{b:02x}")).collect();
    let more = if bytes.len() > max { " ..." } else { "" };
    format!("{}{more}", shown.join(" "))
}

#[cfg(test)]
mod tests {
    use super::parse_mask;

    #[test]
    fn a_mask_is_eight_hex_digits() {
        assert_eq!(parse_mask("37fa213d"), Ok([0x37, 0xfa, 0x21, 0x3d]));
        for wrong in ["37fa21", "37fa213d00", "zzzzzzzz", "안녕ab"] {
            assert!(parse_mask(wrong).unwrap_err().contains("8 hex digits"), "{wrong}");
        }
    }
}
