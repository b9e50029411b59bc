//! The server's side of the WebSocket opening handshake: check the upgrade request, answer
//! `101 Switching Protocols`, and split the connection (see `common::ws` for the split).

use std::io::Write;

use common::handshake::base64_decode;
use common::ws::unfinished::Guard;
use common::ws::{close_frame, split, Reader, Writer};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{Role, WebSocketConfig};

use crate::http::{self, Connection, Request, Status};

/// Why an upgrade request was refused: the HTTP status, the reason, and a header the refusal
/// must carry (a 426 says which upgrade or version would have worked).
pub type Refusal = (Status, String, Option<(&'static str, &'static str)>);

/// What `/ws?nick=NICK&room=ROOM` asks for (the lab's page joins so): the nickname, and the room
/// (the lobby when not given); `None` without a nickname, or with one that is not valid UTF-8.
pub fn asked(request: &Request) -> Option<(String, String)> {
    let nick = http::query(&request.target, "nick").and_then(Result::ok)?;
    let room = http::query(&request.target, "room").and_then(Result::ok);
    Some((nick, room.unwrap_or_else(|| common::protocol::LOBBY.to_string())))
}

/// Checks that `request` asks for a WebSocket (RFC 6455, section 4.2.1); returns its key.
pub fn check_upgrade(request: &Request) -> Result<&str, Refusal> {
    if request.method != "GET" {
        let why = format!("a WebSocket upgrade is a GET, not {}", request.method);
        return Err((http::METHOD_NOT_ALLOWED, why, Some(("Allow", "GET"))));
    }
    if !request.has_token("Upgrade", "websocket") {
        let why = "this is a WebSocket endpoint: the request needs `Upgrade: websocket`".to_string();
        return Err((http::UPGRADE_REQUIRED, why, Some(("Upgrade", "websocket"))));
    }
    if !request.has_token("Connection", "upgrade") {
        let why = "the Connection header must list `Upgrade`".to_string();
        return Err((http::BAD_REQUEST, why, None));
    }
    if request.minor_version < 1 {
        let why = "a WebSocket upgrade needs HTTP/1.1; this request is HTTP/1.0".to_string();
        return Err((http::BAD_REQUEST, why, None));
    }
    if request.header("Sec-WebSocket-Version") != Some("13") {
        let why = "this server speaks WebSocket version 13 only".to_string();
        return Err((http::UPGRADE_REQUIRED, why, Some(("Sec-WebSocket-Version", "13"))));
    }
    // The key is 16 random bytes in base64 (24 characters), and there is one of it.
    let mut keys = request.headers.iter().filter(|(name, _)| name.eq_ignore_ascii_case("Sec-WebSocket-Key"));
    match (keys.next(), keys.next()) {
        (Some((_, key)), None) if base64_decode(key).is_some_and(|bytes| bytes.len() == 16) => Ok(key),
        (Some(_), None) => {
            Err((http::BAD_REQUEST, "Sec-WebSocket-Key must be 16 bytes in base64".into(), None))
        }
        (Some(_), Some(_)) => {
            Err((http::BAD_REQUEST, "one Sec-WebSocket-Key header, not several".into(), None))
        }
        (None, _) => Err((http::BAD_REQUEST, "the Sec-WebSocket-Key header is missing".into(), None)),
    }
}

/// Answers a checked upgrade request with `101 Switching Protocols` and splits the connection;
/// the reader keeps to the default limits on unfinished messages (`common::ws::unfinished`).
/// On a bad request the client gets the HTTP error, and the caller the reason to log.
pub fn upgrade(
    connection: &mut Connection,
    request: &Request,
    config: WebSocketConfig,
) -> Result<(Reader, Writer), String> {
    upgrade_within(connection, request, config, Guard::default())
}

/// [`upgrade`], with the limits on unfinished messages given (tests shorten them).
pub fn upgrade_within(
    connection: &mut Connection,
    request: &Request,
    config: WebSocketConfig,
    guard: Guard,
) -> Result<(Reader, Writer), String> {
    let key = match check_upgrade(request) {
        Ok(key) => key,
        Err((status, why, header)) => {
            connection.refuse(status, &why, header.as_slice());
            return Err(format!("{} {}: {why}", status.0, status.1));
        }
    };
    let accept = common::handshake::accept_key(key);
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    // From here on the socket is the WebSocket's, with the bytes that came after the request
    // and no read timeout left over from HTTP: a member who only reads is not "idle".
    let (mut stream, already_read) = connection.upgrade().map_err(|e| common::net::describe(&e))?;
    stream.write_all(response.as_bytes()).map_err(|e| common::net::describe(&e))?;
    let (mut reader, writer) = split(stream, already_read, Role::Server, config)
        .map_err(|e| format!("cannot split the connection: {e}"))?;
    reader.limit_unfinished(guard);
    Ok((reader, writer))
}

/// The server is stopping: tells the client so (1001 Going Away), if the connection still allows it.
pub fn going_away(writer: &Writer) {
    writer.close(Some(close_frame(CloseCode::Away, "server shutting down")));
}

#[cfg(test)]
mod tests {
    #[test]
    fn our_accept_key_is_tungstenite_s() {
        for key in ["dGhlIHNhbXBsZSBub25jZQ==", "Iv8io/9s+lYFgZWcXczP8Q==", "AAAAAAAAAAAAAAAAAAAAAA=="] {
            let theirs = tungstenite::handshake::derive_accept_key(key.as_bytes());
            assert_eq!(common::handshake::accept_key(key), theirs);
        }
    }
}
