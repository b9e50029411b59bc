//! Lesson 8, client side: the chat over WebSocket, the same behaviour as `cargo client chat`.
//!
//! The client needs what the server needs: one thread waiting for the keyboard, one waiting for
//! the server. A `tungstenite::WebSocket` cannot be shared by the two, so the client uses the
//! same split as the server (`common::ws`), after doing the opening handshake itself
//! (`crate::upgrade`), which keeps any frames that arrive right behind the answer, and says so
//! when the address is not a WebSocket server (the TCP chat's port, say) instead of waiting.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

use common::trace::Layer;
use common::ws::{close_frame, EndReason, Reader, Writer};
use log::info;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::Role;
use tungstenite::Message;

use super::chat::{render, send_lines};
use crate::upgrade::{Expected, HANDSHAKE_TIMEOUT};

/// The largest message the client accepts from the server.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// The server this client talks to, for the error when the address is something else.
pub const EXPECTED: Expected =
    Expected { what: "the WebSocket chat", command: "cargo server ws", addr: crate::defaults::HTTP };

/// A connected WebSocket chat client, before it starts talking.
pub struct WsChat {
    reader: Reader,
    writer: Writer,
    peer: SocketAddr,
}

impl WsChat {
    /// Connects to `ws://addr/ws` and does the opening handshake.
    pub fn connect(addr: &str) -> Result<WsChat, String> {
        WsChat::connect_within(addr, HANDSHAKE_TIMEOUT)
    }

    /// The same, with the time the server has to answer the upgrade.
    pub fn connect_within(addr: &str, timeout: Duration) -> Result<WsChat, String> {
        let mut stream = common::tls::client::connect(addr, "ws", Layer::Http)?;
        let peer = stream.peer_addr().map_err(|e| e.to_string())?;
        let already_read = crate::upgrade::upgrade(&mut stream, addr, "/ws", timeout, &EXPECTED)?;
        let config = common::ws::config(MAX_MESSAGE);
        let (reader, writer) = common::ws::split(stream, already_read, Role::Client, config)
            .map_err(|e| format!("cannot split the connection: {e}"))?;
        Ok(WsChat { reader, writer, peer })
    }

    /// The sending half, for a Ctrl-C handler: `leave` closes with 1000 Normal.
    pub fn writer(&self) -> Writer {
        self.writer.clone()
    }

    /// Chats until the connection ends: `nick` and `room` first, then every line of `input`,
    /// and every line from the server printed to `output`.
    pub fn run(
        mut self,
        nick: Option<&str>,
        room: Option<&str>,
        input: impl BufRead + Send + 'static,
        output: &mut impl Write,
    ) -> Result<(), String> {
        info!(
            "connected to {}://{}/ws; type a message and press Enter, /help lists the commands",
            scheme(),
            self.peer
        );
        let send = |writer: &Writer, line: &str| writer.send(Message::text(line)).is_ok();
        nick.iter().for_each(|nick| _ = send(&self.writer, &format!("/nick {nick}")));
        room.iter().for_each(|room| _ = send(&self.writer, &format!("/join {room}")));
        {
            let writer = self.writer.clone();
            // Not joined: at the end this thread may still wait for a key that never comes.
            thread::spawn(move || send_lines(input, |line| send(&writer, line), || leave(&writer)));
        }
        let mut me = String::new();
        let end = loop {
            match self.reader.recv() {
                Ok(Message::Text(text)) => {
                    for line in text.lines() {
                        let shown = render(line, &mut me);
                        if writeln!(output, "{shown}").and_then(|()| output.flush()).is_err() {
                            leave(&self.writer); // nobody reads our output any more
                        }
                    }
                }
                Ok(_) => {}
                Err(end) => break end,
            }
        };
        self.reader.finish();
        match end {
            EndReason::Closed(Some(CloseCode::Normal)) | EndReason::Closed(None) => info!("left the chat"),
            EndReason::Closed(Some(CloseCode::Away)) => {
                info!("the server closed the connection: it is shutting down")
            }
            EndReason::Closed(Some(CloseCode::Again)) => info!("the server is full: try again later"),
            EndReason::Closed(Some(code)) => info!("the server closed the connection ({})", u16::from(code)),
            EndReason::Failed(code, why) => {
                return Err(format!("{} broke the protocol ({}): {why}", self.peer, u16::from(code)))
            }
            EndReason::Lost(why) => return Err(format!("lost the connection to {}: {why}", self.peer)),
        }
        Ok(())
    }
}

/// Leaves the chat the WebSocket way: a close frame with 1000 (normal closure).
pub fn leave(writer: &Writer) {
    writer.close(Some(close_frame(CloseCode::Normal, "bye")));
}

/// `wss` over `--tls`, `ws` without: what the log calls this connection.
fn scheme() -> &'static str {
    if common::tls::client::enabled() {
        "wss"
    } else {
        "ws"
    }
}
