//! Lesson 6, client side: lines typed (or piped) go out as WebSocket text messages, and each
//! echo is printed as it comes back.
//!
//! tungstenite does the client's half of the protocol: the upgrade request with a random key,
//! checking the server's `Sec-WebSocket-Accept`, masking every frame we send (clients must),
//! answering pings while we read, and the close handshake at the end.
//!
//! Unlike lesson 2's client this one sends a message and waits for its echo before the next:
//! a WebSocket message arrives whole, so there is no stream to keep draining while we send, and
//! one `WebSocket` object cannot be read and written by two threads anyway (the server's
//! `ws` module shows what it takes to split one).

use std::io::{BufRead, Write};
use std::time::Duration;

use common::trace::Layer;
use log::info;
use tungstenite::handshake::HandshakeError;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Error, Message};

use crate::upgrade::{Expected, HANDSHAKE_TIMEOUT};

/// The largest message the client sends or accepts.
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// The server this client talks to, for the error when the address is something else.
pub const EXPECTED: Expected = Expected {
    what: "the WebSocket echo server",
    command: "cargo server ws-echo",
    addr: crate::defaults::WS_ECHO,
};

/// Sends every line of `input` as a text message to the echo server at `addr` and prints each
/// reply; returns how many replies arrived.
pub fn run(addr: &str, input: impl BufRead, output: &mut impl Write) -> Result<usize, String> {
    run_within(addr, HANDSHAKE_TIMEOUT, input, output)
}

/// The same, with the time the server has to answer the upgrade.
pub fn run_within(
    addr: &str,
    timeout: Duration,
    input: impl BufRead,
    output: &mut impl Write,
) -> Result<usize, String> {
    let stream = common::tls::client::connect(addr, "ws-echo", Layer::Http)?;
    let url = format!("ws://{addr}/");
    let config =
        WebSocketConfig::default().max_message_size(Some(MAX_MESSAGE)).max_frame_size(Some(MAX_MESSAGE));
    // A deadline on the answer: a server that is not WebSocket (a wrong port) may never answer.
    // tungstenite reports the expired read as an interrupted handshake.
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let (mut socket, response) =
        match tungstenite::client::client_with_config(url.as_str(), stream, Some(config)) {
            Ok(done) => done,
            Err(HandshakeError::Interrupted(_)) => {
                return Err(crate::upgrade::no_answer(addr, timeout, b"", &EXPECTED))
            }
            Err(HandshakeError::Failure(Error::Http(response))) => {
                return Err(format!("{addr} refused the upgrade: {}", response.status()))
            }
            // Not an HTTP answer at all (tungstenite says why): another kind of server.
            Err(HandshakeError::Failure(e)) => {
                return Err(format!("{} ({e})", crate::upgrade::not_websocket(addr, b"", &EXPECTED)))
            }
        };
    socket.get_ref().set_read_timeout(None).map_err(|e| e.to_string())?;
    info!("connected to {url}: the server answered {} to our upgrade request", response.status());

    let mut replies = 0;
    for line in input.lines() {
        let line = line.map_err(|e| format!("reading the input: {e}"))?;
        if let Err(e) = socket.send(Message::text(line)) {
            return ended(e, replies);
        }
        let reply = loop {
            match socket.read() {
                Ok(Message::Text(text)) => break text.to_string(),
                Ok(Message::Binary(bytes)) => break format!("({} bytes of binary data)", bytes.len()),
                Ok(Message::Close(frame)) => return server_closed(frame, replies),
                Ok(_) => continue, // pings are answered by tungstenite; pongs need nothing
                Err(e) => return ended(e, replies),
            }
        };
        replies += 1;
        let reply = common::protocol::sanitize(&reply); // a peer cannot drive our terminal
        writeln!(output, "{reply}").and_then(|()| output.flush()).map_err(|e| e.to_string())?;
    }

    // The close handshake: our Close, then read until the server's Close comes back.
    let _ = socket
        .close(Some(tungstenite::protocol::CloseFrame { code: CloseCode::Normal, reason: "bye".into() }));
    loop {
        match socket.read() {
            // The server's answer: the same code echoed, unless it was closing on its own.
            Ok(Message::Close(Some(frame))) if frame.code != CloseCode::Normal => {
                return server_closed(Some(frame), replies)
            }
            Ok(_) => continue,
            Err(Error::ConnectionClosed) => break,
            Err(e) => return ended(e, replies),
        }
    }
    info!("closed cleanly after {replies} message(s)");
    Ok(replies)
}

/// The server started the close handshake (tungstenite answers it for us).
fn server_closed(frame: Option<tungstenite::protocol::CloseFrame>, replies: usize) -> Result<usize, String> {
    match frame {
        Some(frame) => info!("the server closed the connection: {} {}", u16::from(frame.code), frame.reason),
        None => info!("the server closed the connection"),
    }
    info!("{replies} message(s) echoed");
    Ok(replies)
}

/// The connection ended while we still had something to say: the server closed it (for example
/// 1001 when it shuts down) or it broke.
fn ended(error: Error, replies: usize) -> Result<usize, String> {
    match error {
        Error::ConnectionClosed | Error::AlreadyClosed => {
            info!("the server closed the connection after {replies} message(s)");
            Ok(replies)
        }
        other => Err(format!("the connection failed: {other}")),
    }
}
