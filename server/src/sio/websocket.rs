//! The WebSocket transport: one Engine.IO packet per text frame, and the upgrade that moves a
//! polling session onto it.
//!
//! ```text
//! client                                   server
//! GET ...transport=websocket&sid=S  ->     101 Switching Protocols
//! 2probe                            ->                                (polling goes on meanwhile)
//!                                   <-     3probe                     ("this socket works")
//!                                          6 (noop) to the waiting GET, so it returns
//! 5 (upgrade)                       ->     the session's packets now go out on the WebSocket
//! ```

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::ws::{close_frame, EndReason, Reader, Writer};
use log::{debug, info, warn};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

use super::packet::{Incoming, Version, NOOP, PING, PONG, UPGRADE};
use super::session::{Session, Taken, Transport};
use super::{refuse, Sio, MAX_PAYLOAD};
use crate::http::{self, AfterResponse, Connection, Request};
use crate::hub::LeaveReason;
use crate::workers::STACK_SIZE;

/// How long the writer waits for packets before it looks again (a closed session wakes it at once).
const WRITER_WAKE: Duration = Duration::from_secs(1);

/// A WebSocket request: an upgrade of session `existing`, or a new WebSocket-only session.
pub fn serve(
    sio: &Arc<Sio>,
    connection: &mut Connection,
    request: &Request,
    version: Version,
    existing: Option<Arc<Session>>,
) -> AfterResponse {
    let peer = connection.peer();
    if let Some(session) = &existing {
        // Only a polling session upgrades, once: not one upgrading or upgraded already (another
        // client that learnt its sid cannot take it over).
        let mut state = session.lock();
        if state.transport != Transport::Polling || state.closed {
            drop(state);
            return refuse(connection, (http::BAD_REQUEST, 3, "this session cannot upgrade (again)".into()));
        }
        state.transport = Transport::Upgrading;
    }
    let (mut reader, writer) = match crate::ws::upgrade(connection, request, common::ws::config(MAX_PAYLOAD))
    {
        Ok(halves) => halves,
        Err(why) => {
            info!("{peer}: refused the Socket.IO upgrade: {why}");
            if let Some(session) = &existing {
                session.lock().transport = Transport::Polling;
            }
            return AfterResponse::Close;
        }
    };
    let session = match existing {
        Some(session) => {
            session.lock().websocket = Some(writer.clone());
            if let Err(why) = probe(&mut reader, &writer, &session) {
                info!("Socket.IO session {}: the upgrade failed: {why}", session.sid);
                session.lock().transport = Transport::Polling;
                writer.close(Some(close_frame(CloseCode::Protocol, "upgrade failed")));
                reader.finish();
                return AfterResponse::Close;
            }
            session
        }
        None => match sio.open(version, &request.target, Transport::WebSocket) {
            Ok(session) => {
                session.lock().websocket = Some(writer.clone());
                let greeting = sio.greeting(&session, false);
                greeting.into_iter().for_each(|packet| session.push(packet));
                session
            }
            Err((_, _, why)) => {
                writer.close(Some(close_frame(CloseCode::Again, &why)));
                reader.finish();
                return AfterResponse::Close;
            }
        },
    };
    let writing = {
        let (session, writer) = (session.clone(), writer.clone());
        thread::Builder::new()
            .name(format!("sio writer {peer}"))
            .stack_size(STACK_SIZE)
            .spawn(move || write_loop(&session, &writer))
    };
    let Ok(writing) = writing else {
        warn!("{peer}: cannot start its Socket.IO writer");
        session.close(&sio.hub, LeaveReason::Lost);
        return AfterResponse::Close;
    };
    let mut why = read_loop(sio, &mut reader, &session);
    if connection.stopping() {
        why = LeaveReason::Shutdown;
    }
    session.close(&sio.hub, why);
    let _ = writing.join();
    reader.finish();
    AfterResponse::Close
}

/// `2probe` → `3probe`, a noop to free the waiting GET, then `5`: the session is on WebSocket.
fn probe(reader: &mut Reader, writer: &Writer, session: &Session) -> Result<(), String> {
    let ping = format!("{PING}probe");
    match reader.recv() {
        Ok(Message::Text(text)) if text.as_str() == ping => {}
        Ok(other) => return Err(format!("expected {ping:?}, got {:?}", short(&other))),
        Err(end) => return Err(end.to_string()),
    }
    writer.send(Message::text(format!("{PONG}probe"))).map_err(|e| e.to_string())?;
    session.push(NOOP.to_string());
    match reader.recv() {
        Ok(Message::Text(text)) if text.as_str() == UPGRADE.to_string() => {}
        Ok(other) => return Err(format!("expected \"5\", got {:?}", short(&other))),
        Err(end) => return Err(end.to_string()),
    }
    session.lock().transport = Transport::WebSocket;
    debug!("Socket.IO session {} upgraded to WebSocket", session.sid);
    Ok(())
}

/// Every frame from the client, until it leaves; returns why.
fn read_loop(sio: &Sio, reader: &mut Reader, session: &Arc<Session>) -> LeaveReason {
    loop {
        let incoming = match reader.recv() {
            Ok(Message::Text(text)) => Incoming::Text(text.to_string()),
            Ok(Message::Binary(_)) => Incoming::Binary,
            Ok(_) => continue,
            Err(EndReason::Closed(_)) => return LeaveReason::Quit,
            Err(end) => {
                debug!("Socket.IO session {}: {end}", session.sid);
                return LeaveReason::Lost;
            }
        };
        if session.is_closed() {
            return LeaveReason::Quit;
        }
        if let Err(why) = sio.receive(session, incoming) {
            info!("Socket.IO session {}: {why}; closing it", session.sid);
            return LeaveReason::Lost;
        }
    }
}

/// Sends the session's packets as they are queued, one text frame each; at the end, a Close.
fn write_loop(session: &Session, writer: &Writer) {
    loop {
        let (packets, closed) = match session.take(WRITER_WAKE) {
            Taken::Packets(packets) => (packets, false),
            Taken::Closed(packets) => (packets, true),
            Taken::Nothing => continue,
        };
        if writer.send_all(packets.into_iter().map(Message::text)).is_err() {
            return writer.cut();
        }
        if closed {
            return writer.close(Some(close_frame(CloseCode::Normal, "bye")));
        }
    }
}

/// A frame, shortened for a log line.
fn short(message: &Message) -> String {
    message.to_string().chars().take(40).collect()
}
