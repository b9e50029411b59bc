//! Socket.IO's layer: the namespace `/chat`, where a session becomes a hub member, and the
//! article's events mapped onto the lab's commands and deliveries.
//!
//! | the client emits      | the lab does                                     |
//! |-----------------------|--------------------------------------------------|
//! | CONNECT `/chat`       | joins the hub; `/nick` and `/join` from the auth payload or the query |
//! | `joined`              | `/who`: who is in the room, to the sender        |
//! | `text` `{msg}`        | one chat line (`/commands` work too)             |
//! | `left`, DISCONNECT    | leaves the chat (`/quit`)                        |
//!
//! | the lab delivers               | the client receives                          |
//! |--------------------------------|----------------------------------------------|
//! | a message                      | `message` `{msg: "nick: text", nick, text, id, room}` |
//! | an entry, a departure, a rename| `status` `{msg, id, room}`                   |
//! | a reply (`/who`, the welcome)  | `status` `{msg}`                             |
//! | a refusal                      | `status` `{msg, error: true}`                |
//! | the server stopping            | DISCONNECT, then Engine.IO `close`           |

use std::sync::Arc;
use std::thread;

use common::protocol::Command;
use log::{debug, warn};
use serde_json::{json, Value};

use super::packet::{encode, Kind, Packet, Version};
use super::session::{Member, Session};
use super::{new_sid, Sio};
use crate::http::query::percent_decode;
use crate::hub::{AfterCommand, Delivery, EventKind, Hub, Inbox, LeaveReason};
use crate::workers::STACK_SIZE;

/// The lab's chat namespace: the article's.
pub const NAMESPACE: &str = "/chat";

/// One Socket.IO packet (the text after Engine.IO's `4`).
pub fn receive(sio: &Sio, session: &Arc<Session>, text: &str) -> Result<(), String> {
    let packet = Packet::parse(text)?;
    let (nsp, query) = packet.nsp.split_once('?').unwrap_or((&packet.nsp, ""));
    match packet.kind {
        Kind::Connect => connect(sio, session, nsp, query, packet.data.as_ref()),
        // Packets for a namespace this session is not in are dropped, as Socket.IO does.
        _ if nsp != NAMESPACE => Ok(()),
        Kind::Event => event(sio, session, packet.ack, packet.data),
        Kind::Disconnect => {
            session.lock().disconnected = true;
            leave(&sio.hub, session);
            Ok(())
        }
        Kind::Ack => Ok(()),
        Kind::ConnectError => Err("a client does not send CONNECT_ERROR".into()),
        Kind::BinaryEvent | Kind::BinaryAck => {
            session.lock().attachments = packet.attachments;
            refuse(session, "this chat takes text only: binary data was not sent");
            Ok(())
        }
    }
}

/// CONNECT: joins the hub as a member, then takes the nickname and room the client asked for,
/// before the lobby is told of the guest (`hub::arrivals`): one that asks for a room is never
/// seen in the lobby, one that asks for a name only is announced under it.
fn connect(
    sio: &Sio,
    session: &Arc<Session>,
    nsp: &str,
    query: &str,
    auth: Option<&Value>,
) -> Result<(), String> {
    if nsp != NAMESPACE {
        let why = format!("Invalid namespace: this lab's chat is {NAMESPACE}");
        session.push(connect_error(session.version, nsp, &why));
        return Ok(());
    }
    if session.lock().member.is_some() {
        return Ok(());
    }
    // socket.io 4 sends `auth`; a 2.x client can only put its wishes in the namespace's query;
    // either may also be in the handshake's URL.
    let wish = |name: &str| {
        let from_auth = auth.and_then(|auth| auth.get(name)).and_then(Value::as_str).map(str::to_string);
        from_auth.or_else(|| param(query, name)).or_else(|| param(session.target.split_once('?')?.1, name))
    };
    let (nick, room) = (wish("name").or_else(|| wish("nick")), wish("room"));
    let hub = &sio.hub;
    let (outbox, inbox) = hub.outbox();
    let kick = {
        let (session, hub) = (session.clone(), hub.clone());
        Box::new(move || session.close(&hub, LeaveReason::TooSlow))
    };
    let id = match hub.join(outbox.clone(), kick) {
        Ok(id) => id,
        Err(refusal) => {
            session.push(connect_error(session.version, nsp, &refusal));
            return Ok(());
        }
    };
    let sid = new_sid();
    let answer = match session.version {
        Version::V4 => encode(Kind::Connect, nsp, None, Some(&json!({ "sid": sid }))),
        Version::V3 => encode(Kind::Connect, nsp, None, None),
    };
    {
        let mut state = session.lock();
        if state.closed {
            drop(state);
            hub.leave(id, LeaveReason::Lost);
            return Ok(());
        }
        state.queue.push_back(answer);
        state.member = Some(Member { id, sid, outbox });
    }
    session.notify();
    let pumping = session.clone();
    let spawned = thread::Builder::new()
        .name(format!("sio pump {}", session.sid))
        .stack_size(STACK_SIZE)
        .spawn(move || pump(&inbox, &pumping));
    if spawned.is_err() {
        warn!("Socket.IO session {}: cannot start its pump", session.sid);
        session.close(hub, LeaveReason::Lost);
        return Ok(());
    }
    for command in [nick.map(Command::Nick), room.map(Command::Join)].into_iter().flatten() {
        hub.handle(id, command);
    }
    Ok(())
}

/// EVENT: the article's three.
fn event(sio: &Sio, session: &Arc<Session>, mut ack: Option<u64>, data: Option<Value>) -> Result<(), String> {
    let Some(Value::Array(args)) = data else { return Err("an EVENT whose data is not an array".into()) };
    let name = args.first().and_then(Value::as_str).ok_or("an EVENT without its name")?;
    let Some(id) = session.lock().member.as_ref().map(|member| member.id) else { return Ok(()) };
    match name {
        "text" => match args.get(1).and_then(|arg| arg.get("msg")).and_then(Value::as_str) {
            // A message is normally one line; a paste of several is several commands.
            Some(msg) => {
                for line in msg.lines() {
                    if sio.hub.handle(id, Command::parse(line)) == AfterCommand::Quit {
                        leave(&sio.hub, session);
                        break;
                    }
                }
            }
            None => refuse(session, "a text event carries {msg: \"...\"}"),
        },
        "joined" => drop(sio.hub.handle(id, Command::Who)),
        "left" => {
            // The ack goes first: after `left` the namespace is gone, and its DISCONNECT with it.
            if let Some(ack) = ack.take() {
                session.push(encode(Kind::Ack, NAMESPACE, Some(ack), Some(&json!([]))));
            }
            leave(&sio.hub, session);
        }
        other => {
            let other: String = other.chars().take(40).collect();
            refuse(session, &format!("unknown event {other:?}: this chat knows joined, text and left"));
        }
    }
    if let Some(ack) = ack {
        session.push(encode(Kind::Ack, NAMESPACE, Some(ack), Some(&json!([]))));
    }
    Ok(())
}

/// The member leaves the chat; the pump then says DISCONNECT once the last delivery is out.
fn leave(hub: &Hub, session: &Session) {
    let member = session.lock().member.take();
    if let Some(member) = member {
        hub.leave(member.id, LeaveReason::Quit);
    }
}

/// Tells this member alone that something it sent was refused.
fn refuse(session: &Session, why: &str) {
    if let Some(member) = session.lock().member.as_ref() {
        let _ = member.outbox.try_send(Delivery::Error(why.to_string()));
    }
}

/// The server is stopping: the member hears DISCONNECT before the session closes.
pub fn goodbye(session: &Session) {
    if session.lock().member.is_some() {
        session.push(encode(Kind::Disconnect, NAMESPACE, None, None));
    }
}

/// Moves the member's deliveries into the session's queue, as Socket.IO events, until the member
/// leaves; then DISCONNECT, if the session is still open and the client did not leave itself.
fn pump(inbox: &Inbox, session: &Session) {
    while let Ok(delivery) = inbox.recv() {
        let Some(args) = render(&delivery) else { continue };
        if !session.push_paced(encode(Kind::Event, NAMESPACE, None, Some(&args))) {
            return;
        }
    }
    debug!("Socket.IO session {}: its member left", session.sid);
    if !std::mem::take(&mut session.lock().disconnected) {
        session.push(encode(Kind::Disconnect, NAMESPACE, None, None));
    }
}

/// A delivery as an EVENT's arguments (name, then data).
fn render(delivery: &Delivery) -> Option<Value> {
    Some(match delivery {
        Delivery::Event(event) => match &event.kind {
            EventKind::Message { nick, text } => json!(["message", {
                "msg": format!("{nick}: {text}"), "nick": nick, "text": text, "id": event.id, "room": event.room,
            }]),
            _ => json!(["status", { "msg": event.notice(), "id": event.id, "room": event.room }]),
        },
        Delivery::Notice(text) => json!(["status", { "msg": text }]),
        Delivery::Error(text) => json!(["status", { "msg": text, "error": true }]),
        Delivery::Goodbye => return None,
    })
}

/// CONNECT_ERROR: `{message}` for v4 clients, a bare string for 2.x.
fn connect_error(version: Version, nsp: &str, why: &str) -> String {
    let data = match version {
        Version::V4 => json!({ "message": why }),
        Version::V3 => json!(why),
    };
    encode(Kind::ConnectError, nsp, None, Some(&data))
}

/// A parameter of a query string (`room=games&name=%EB%AF%BC%EC%A7%80`), decoded.
fn param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .find_map(|pair| pair.split_once('=').filter(|(key, _)| *key == name))
        .and_then(|(_, v)| percent_decode(v))
}
