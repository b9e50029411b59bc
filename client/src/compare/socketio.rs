//! The Socket.IO row of `compare` (chapter 16): a subscriber that joins the lab's `/chat` over
//! Socket.IO on a WebSocket (`EIO=4&transport=websocket`), so its bytes sit next to the raw
//! WebSocket row's: the same frames, plus Engine.IO's and Socket.IO's packet framing, the
//! event's JSON and the heartbeat.

use std::time::Instant;

use common::sio::{self, Kind, Packet};
use common::trace::Traced;
use serde_json::{json, Value};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::Message;

use super::subscriber::{Subscriber, CLOSE_WAIT, LOOK_UP};
use crate::lessons::http::Counted;

/// The row's name in the table.
pub const NAME: &str = "Socket.IO (WebSocket)";

/// Joins `room` on `/chat`, tallies the publisher's `message` events, answers pings, and leaves
/// with DISCONNECT and a close frame when the run stops.
pub fn member(subscriber: &Subscriber) -> Result<(), String> {
    let stream = Traced::off(common::net::connect(&subscriber.web, "lab")?);
    let counted = Counted { stream, stats: subscriber.stats.clone() };
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", subscriber.web);
    let (mut socket, _) = tungstenite::client::client(url.as_str(), counted).map_err(|e| e.to_string())?;
    socket.get_ref().stream.set_read_timeout(Some(LOOK_UP)).map_err(|e| e.to_string())?;
    let connect = sio::encode(Kind::Connect, "/chat", None, Some(&json!({ "room": subscriber.room })));
    socket.send(Message::text(connect)).map_err(|e| e.to_string())?;
    while !subscriber.stop.is_triggered() {
        let text = match socket.read() {
            Ok(Message::Text(text)) => text.to_string(),
            Ok(_) => continue,
            Err(tungstenite::Error::Io(e)) if common::net::is_timeout(&e) => continue,
            Err(_) => return Ok(()),
        };
        if text == "2" {
            socket.send(Message::text("3")).map_err(|e| e.to_string())?;
            continue;
        }
        let Some(Ok(Packet { kind: Kind::Event, data: Some(Value::Array(args)), .. })) =
            text.strip_prefix(sio::MESSAGE).map(Packet::parse)
        else {
            continue;
        };
        let field = |name: &str| args.get(1).and_then(|data| data.get(name)).and_then(Value::as_str);
        match args.first().and_then(Value::as_str) {
            Some("message") => subscriber.on_line(&format!(
                "{}: {}",
                field("nick").unwrap_or_default(),
                field("text").unwrap_or_default()
            )),
            Some("status") => subscriber.on_line(&format!("* {}", field("msg").unwrap_or_default())),
            _ => {}
        }
    }
    let _ = socket.send(Message::text(sio::encode(Kind::Disconnect, "/chat", None, None)));
    let bye = CloseFrame { code: CloseCode::Normal, reason: "bye".into() };
    socket.close(Some(bye)).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + CLOSE_WAIT;
    while Instant::now() < deadline {
        match socket.read() {
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if common::net::is_timeout(&e) => {}
            Err(_) => break,
        }
    }
    Ok(())
}
