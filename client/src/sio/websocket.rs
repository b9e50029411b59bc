//! The client's WebSocket transport: a WebSocket-only session, or the upgrade of a polling one
//! (`2probe` → `3probe`, then `5`), then one Engine.IO packet per text frame.

use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use common::trace::{Layer, Traced};
use common::ws::{close_frame, EndReason, Reader, Writer};
use log::info;
use serde_json::json;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::Role;
use tungstenite::Message;

use super::polling::{print, Session};
use super::{connect_packet, emit, hear, parse_open, Heard, Options};
use crate::lessons::chat::send_lines;
use crate::upgrade::{Expected, HANDSHAKE_TIMEOUT};

/// The largest message the client accepts from the server.
pub const MAX_MESSAGE: usize = 1024 * 1024;

const EXPECTED: Expected =
    Expected { what: "the lab's Socket.IO", command: "cargo server lab", addr: crate::defaults::HTTP };

/// Connects over WebSocket (upgrading `polling` when given, with the packets it had received
/// after CONNECT) and chats until the input or the session ends; returns how it ended.
pub fn run(
    addr: &str,
    nsp: &str,
    polling: Option<(Session, Vec<String>)>,
    options: &Options,
    input: impl BufRead + Send + 'static,
    output: &mut impl Write,
) -> Result<String, String> {
    let path = match &polling {
        Some((session, _)) => format!("/socket.io/?EIO=4&transport=websocket&sid={}", session.sid()),
        None => "/socket.io/?EIO=4&transport=websocket".to_string(),
    };
    let mut stream = Traced::new(common::net::connect(addr, "sio")?, Layer::Http);
    let already_read = crate::upgrade::upgrade(&mut stream, addr, &path, HANDSHAKE_TIMEOUT, &EXPECTED)?;
    let (mut reader, writer) =
        common::ws::split(stream, already_read, Role::Client, common::ws::config(MAX_MESSAGE))
            .map_err(|e| format!("cannot split the connection: {e}"))?;
    let send = |text: String| writer.send(Message::text(text)).map_err(|e| format!("sending to {addr}: {e}"));
    let mut me = String::new();
    let mut early = Vec::new();
    match polling {
        Some((_session, after_connect)) => {
            send("2probe".into())?;
            match next_text(&mut reader)? {
                probe if probe == "3probe" => {}
                other => return Err(format!("the server answered our probe with {other:?}, not \"3probe\"")),
            }
            send("5".into())?;
            info!("upgraded: the session now runs on WebSocket");
            early = after_connect;
        }
        None => {
            let open = parse_open(&next_text(&mut reader)?)?;
            info!("websocket: session {} open, pinged every {:?}", open.sid, open.ping_interval);
            send(connect_packet(nsp, options))?;
            loop {
                match hear(nsp, &next_text(&mut reader)?, &mut me) {
                    Heard::Connected => break,
                    Heard::End(why) => return Err(why),
                    Heard::Ping(pong) => send(pong)?,
                    Heard::Show(lines) => print(output, &lines),
                    Heard::Nothing => {}
                }
            }
            info!("connected to {nsp} over WebSocket");
        }
    }
    send(emit(nsp, "joined", json!({})))?;
    let leaving = Arc::new(AtomicBool::new(false));
    {
        let (say, leave, left) = (writer.clone(), writer.clone(), leaving.clone());
        let (nsp_say, nsp_leave) = (nsp.to_string(), nsp.to_string());
        let text =
            move |line: &str| say.send(Message::text(emit(&nsp_say, "text", json!({ "msg": line })))).is_ok();
        // Leaving: DISCONNECT from the namespace, then the WebSocket's close.
        let quit = move || {
            left.store(true, Ordering::SeqCst);
            let _ = leave.send(Message::text(format!("41{nsp_leave},")));
            leave.close(Some(close_frame(CloseCode::Normal, "bye")));
        };
        // Not joined: at the end this thread may still wait for a key that never comes.
        thread::spawn(move || send_lines(input, text, quit));
    }
    let ended = chat(&mut reader, &writer, nsp, &mut me, early, output);
    reader.finish();
    match ended {
        // We said goodbye: whatever the server did after our Close (some send their HTTP
        // server's leftovers) does not change that we left.
        Err(_) if leaving.load(Ordering::SeqCst) => Ok("left the chat".into()),
        ended => ended,
    }
}

/// Every packet from the server until the session ends: events shown, pings answered.
fn chat(
    reader: &mut Reader,
    writer: &Writer,
    nsp: &str,
    me: &mut String,
    early: Vec<String>,
    output: &mut impl Write,
) -> Result<String, String> {
    let mut early = early.into_iter();
    loop {
        let text = match early.next() {
            Some(text) => text,
            None => match reader.recv() {
                Ok(Message::Text(text)) => text.to_string(),
                Ok(_) => continue,
                Err(EndReason::Closed(_)) => return Ok("left the chat".into()),
                Err(end) => return Err(format!("the connection ended: {end}")),
            },
        };
        match hear(nsp, &text, me) {
            Heard::Ping(pong) => {
                let _ = writer.send(Message::text(pong));
            }
            Heard::Show(lines) => print(output, &lines),
            Heard::End(why) => {
                writer.close(Some(close_frame(CloseCode::Normal, "bye")));
                return Ok(why);
            }
            Heard::Connected | Heard::Nothing => {}
        }
    }
}

/// The next text message (other frames are skipped).
fn next_text(reader: &mut Reader) -> Result<String, String> {
    for _ in 0..100 {
        match reader.recv() {
            Ok(Message::Text(text)) => return Ok(text.to_string()),
            Ok(_) => {}
            Err(end) => return Err(format!("the connection ended: {end}")),
        }
    }
    Err("100 frames and not one text message".into())
}
