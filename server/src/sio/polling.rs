//! The polling transport: a GET that waits for the server's packets, a POST that carries the
//! client's. Plain HTTP requests, so it works through every proxy that passes HTTP.

use std::sync::Arc;

use log::info;

use super::packet::{self, decode_payload, encode_payload};
use super::session::{Session, Taken, Transport};
use super::{Refusal, Sio};
use crate::http::{self, AfterResponse, Connection, Request};
use crate::hub::LeaveReason;
use crate::lessons::http_chat::DEPARTURE_CHECK;

const TEXT: [(&str, &str); 2] =
    [("Content-Type", "text/plain; charset=UTF-8"), ("Cache-Control", "no-cache")];

/// The handshake: a new session, answered with its `open` packet.
pub fn open(
    sio: &Arc<Sio>,
    connection: &mut Connection,
    request: &Request,
    version: packet::Version,
) -> Result<AfterResponse, Refusal> {
    let session = sio.open(version, &request.target, Transport::Polling)?;
    let body = encode_payload(version, &sio.greeting(&session, true));
    Ok(connection.respond(http::OK, &TEXT, body.as_bytes()))
}

/// A GET: waits, like a long poll, until the session has packets for the client, then answers
/// with all of them. Only one may wait per session: a second at once ends the session (400),
/// and the first then answers with `close`, as Node's engine.io does.
pub fn get(sio: &Sio, connection: &mut Connection, session: &Session) -> Result<AfterResponse, Refusal> {
    {
        let mut state = session.lock();
        if state.transport == Transport::WebSocket {
            return Err((http::BAD_REQUEST, 3, "this session has moved to WebSocket".into()));
        }
        if state.polling {
            drop(state);
            info!("Socket.IO session {}: two polling GETs at once, closing it", session.sid);
            session.close(&sio.hub, LeaveReason::Lost);
            return Err((http::BAD_REQUEST, 3, "overlapping polling GETs on one session".into()));
        }
        state.polling = true;
    }
    let packets = loop {
        match session.take(DEPARTURE_CHECK) {
            Taken::Packets(packets) => break packets,
            Taken::Closed(mut packets) => {
                packets.push(packet::CLOSE.to_string());
                break packets;
            }
            // The client went away, or the server is stopping: nobody to answer.
            Taken::Nothing if connection.departed() || connection.stopping() => {
                session.lock().polling = false;
                return Ok(AfterResponse::Close);
            }
            Taken::Nothing => {}
        }
    };
    session.lock().polling = false;
    let body = encode_payload(session.version, &packets);
    Ok(connection.respond(http::OK, &TEXT, body.as_bytes()))
}

/// A POST: the client's packets, each handled in order; `ok` when all were fine. A malformed
/// one ends the session (400).
pub fn post(
    sio: &Sio,
    connection: &mut Connection,
    request: &Request,
    session: &Arc<Session>,
) -> Result<AfterResponse, Refusal> {
    if session.lock().transport == Transport::WebSocket {
        return Err((http::BAD_REQUEST, 3, "this session has moved to WebSocket".into()));
    }
    let handled = std::str::from_utf8(&request.body)
        .map_err(|_| "a polling body that is not UTF-8".to_string())
        .and_then(|body| decode_payload(session.version, body))
        .and_then(|packets| packets.into_iter().try_for_each(|incoming| sio.receive(session, incoming)));
    if let Err(why) = handled {
        info!("Socket.IO session {}: {why}; closing it", session.sid);
        session.close(&sio.hub, LeaveReason::Lost);
        return Err((http::BAD_REQUEST, 3, why));
    }
    Ok(connection.respond(http::OK, &[("Content-Type", "text/html")], b"ok"))
}
