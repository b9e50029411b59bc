//! The client's side of the WebSocket opening handshake (RFC 6455, section 4), by hand, and what
//! to say when the other end is not a WebSocket server at all.
//!
//! `cargo client ws` does the handshake itself (instead of `tungstenite::client`) because frames
//! may arrive right behind the server's answer, in the same `read`: this function returns them, so
//! they are not lost. The recipe of the answer is `common::handshake::accept_key`, which the
//! server's side uses too.
//!
//! A wrong port is the commonest mistake in a classroom: `--addr 127.0.0.1:7878` is the TCP
//! chat, which does not speak HTTP. It never answers the upgrade, and a client that waits for an
//! answer without a deadline waits forever. So the answer has a deadline, and the error says what
//! came back instead and where the expected server usually is.

use std::borrow::Borrow;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::handshake::accept_key;

/// How long the server may take to answer the upgrade. Any WebSocket server answers at once.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest answer head this client reads.
const MAX_HEAD: usize = 16 * 1024;

/// The server a WebSocket client expects, for the error that says where it usually is.
#[derive(Debug, Clone, Copy)]
pub struct Expected {
    /// What it is, for example "the WebSocket chat".
    pub what: &'static str,
    /// How to start it, for example "cargo server ws".
    pub command: &'static str,
    /// Where that listens by default.
    pub addr: &'static str,
}

impl Expected {
    /// "The WebSocket chat is `cargo server ws` on 127.0.0.1:8080".
    pub fn sentence(&self) -> String {
        let mut what = self.what.to_string();
        if let Some(first) = what.get(..1) {
            what.replace_range(..1, &first.to_uppercase());
        }
        format!("{what} is `{}` on {}", self.command, self.addr)
    }
}

/// Asks the server on a connected `stream` to upgrade `path`, and checks the `101` and its
/// `Sec-WebSocket-Accept`. Returns the bytes that came after the answer's head (the first frames,
/// perhaps). Waits at most `timeout` for the answer; the socket's own read timeout is restored after.
pub fn upgrade<S: Read + Write + Borrow<TcpStream>>(
    stream: &mut S,
    addr: &str,
    path: &str,
    timeout: Duration,
    expected: &Expected,
) -> Result<Vec<u8>, String> {
    let key = tungstenite::handshake::client::generate_key();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    let failed =
        |e: std::io::Error| format!("the WebSocket handshake with {addr}: {}", common::net::describe(&e));
    // A plain `TcpStream` or a traced one (`--trace`): the timeouts are the socket's.
    let own_timeout = Borrow::<TcpStream>::borrow(stream).read_timeout().map_err(failed)?;
    Borrow::<TcpStream>::borrow(stream).set_read_timeout(Some(timeout)).map_err(failed)?;
    stream.write_all(request.as_bytes()).map_err(failed)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if buf.len() > MAX_HEAD {
            return Err(not_websocket(addr, &buf, expected));
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Err(closed_instead(addr, &buf, expected)),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if common::net::is_timeout(&e) => return Err(no_answer(addr, timeout, &buf, expected)),
            Err(e) => return Err(failed(e)),
        }
    };
    Borrow::<TcpStream>::borrow(stream).set_read_timeout(own_timeout).map_err(failed)?;
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let status = head.lines().next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 101") {
        if status.starts_with("HTTP/") {
            return Err(format!("{addr} refused the upgrade: {}", common::protocol::sanitize(status)));
        }
        return Err(not_websocket(addr, &buf, expected));
    }
    let accept = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("Sec-WebSocket-Accept").then(|| value.trim().to_string())
    });
    if accept.as_deref() != Some(accept_key(&key).as_str()) {
        return Err(format!("{addr} answered with a wrong Sec-WebSocket-Accept: {accept:?}"));
    }
    Ok(buf[end..].to_vec())
}

/// Nothing that ends an HTTP head came within `timeout`.
pub fn no_answer(addr: &str, timeout: Duration, said: &[u8], expected: &Expected) -> String {
    format!(
        "no WebSocket answer from {addr} within {} s{} — {} {}",
        timeout.as_secs_f64(),
        what_it_said(said),
        guess(said),
        expected.sentence()
    )
}

/// The server closed the connection before it finished an answer.
pub fn closed_instead(addr: &str, said: &[u8], expected: &Expected) -> String {
    format!(
        "{addr} closed the connection instead of answering the WebSocket upgrade{} — {} {}",
        what_it_said(said),
        guess(said),
        expected.sentence()
    )
}

/// The server answered something that is not HTTP.
pub fn not_websocket(addr: &str, said: &[u8], expected: &Expected) -> String {
    format!(
        "{addr} is not a WebSocket server{} — {} {}",
        what_it_said(said),
        guess(said),
        expected.sentence()
    )
}

/// `: it sent "…"`, the first line of what came, safe to print; nothing if nothing came.
fn what_it_said(said: &[u8]) -> String {
    let text = String::from_utf8_lossy(said);
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or_default();
    if first.is_empty() {
        return String::new();
    }
    let shown: String = common::protocol::sanitize(first).chars().take(80).collect();
    format!(" (it sent {shown:?})")
}

/// Which server that probably is, from what it sent.
fn guess(said: &[u8]) -> &'static str {
    match said {
        // Our own request, back: an echo server (lessons 2, 3).
        [b'G', b'E', b'T', b' ', ..] => "is that an echo server?",
        // The chat's notices and errors start so (lesson 4, the lab's TCP side).
        [b'*' | b'!', b' ', ..] => "is that the TCP chat?",
        [] => "is that the TCP chat, or another lesson's server?",
        _ => "is something else listening there?",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WS: Expected =
        Expected { what: "the WebSocket chat", command: "cargo server ws", addr: "127.0.0.1:8080" };

    #[test]
    fn the_errors_name_what_came_and_where_the_server_usually_is() {
        let chat = no_answer("127.0.0.1:7878", HANDSHAKE_TIMEOUT, b"* welcome\n", &WS);
        assert_eq!(
            chat,
            "no WebSocket answer from 127.0.0.1:7878 within 5 s (it sent \"* welcome\") — is that the TCP chat? \
             The WebSocket chat is `cargo server ws` on 127.0.0.1:8080"
        );
        assert!(not_websocket("a:1", b"GET /ws HTTP/1.1\r\n", &WS).contains("is that an echo server?"));
        // A peer's bytes cannot drive the terminal through the error message.
        assert!(!closed_instead("a:1", b"! \x1b[2J\n", &WS).contains('\x1b'));
    }
}
