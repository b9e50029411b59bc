//! The Engine.IO and Socket.IO view, above HTTP and WebSocket: on a connection whose request
//! went to `/socket.io/`, each polling body and each text frame is taken apart into its
//! Engine.IO packets (`eio`), and each message packet into its Socket.IO packet (`sio`):
//!
//! ```text
//! http  body: "42/chat,[\"text\",{\"msg\":\"hi\"}]"
//! eio   4 message
//! sio   2 EVENT nsp=/chat data=["text",{"msg":"hi"}]
//! ```
//!
//! Like the other views it shows and never judges: what is not Engine.IO is said once per body.

use super::dump::{quoted, PREVIEW_BYTES};
use super::Views;
use crate::sio::{decode_payload, Incoming, Kind, Packet, Version};

/// Which Engine.IO a request target speaks, if it goes to `/socket.io/` at all.
pub fn version_of(request_line: &[u8]) -> Option<Version> {
    let line = std::str::from_utf8(request_line).ok()?;
    let target = line.split(' ').nth(1)?;
    if !target.starts_with("/socket.io/") {
        return None;
    }
    Some(if target.contains("EIO=3") { Version::V3 } else { Version::V4 })
}

/// A polling body: its packets, framed as `version` frames them. `whole` is false when the
/// body was longer than the part the trace keeps.
pub fn payload(version: Version, body: &[u8], whole: bool, views: &mut Views) {
    if !whole {
        // The packets that fit whole in what the trace kept (v4: up to the last separator).
        let end = body.iter().rposition(|&b| b == 0x1e).filter(|_| version == Version::V4);
        if let Some(end) = end {
            payload(version, &body[..end], true, views);
        }
        return views.push("eio", "(more packets: the trace keeps the start of a body only)".into());
    }
    let Ok(text) = std::str::from_utf8(body) else {
        return views.push("eio", "not UTF-8: not Engine.IO".into());
    };
    if text.is_empty() || text == "ok" {
        return; // a POST's answer, or a GET's empty one
    }
    match decode_payload(version, text) {
        Ok(packets) => {
            if packets.len() > 1 {
                let framing = match version {
                    Version::V4 => "apart by 0x1E",
                    Version::V3 => "each after LENGTH: in UTF-16 units",
                };
                views.push("eio", format!("payload of {} packets, {framing}", packets.len()));
            }
            for incoming in packets {
                match incoming {
                    Incoming::Text(packet) => self::packet(&packet, views),
                    Incoming::Binary => views.push("eio", "b binary (base64)".into()),
                }
            }
        }
        Err(why) => views.push("eio", format!("not an Engine.IO payload: {why}")),
    }
}

/// One Engine.IO packet (a polling payload's, or a WebSocket text frame's).
pub fn packet(text: &str, views: &mut Views) {
    let mut chars = text.chars();
    let Some(kind) = chars.next() else { return views.push("eio", "an empty packet".into()) };
    let data = chars.as_str();
    let name = match kind {
        '0' => "open",
        '1' => "close",
        '2' => "ping",
        '3' => "pong",
        '4' => "message",
        '5' => "upgrade",
        '6' => "noop",
        _ => return views.push("eio", format!("not an Engine.IO packet: {}", quoted(text.as_bytes(), 40))),
    };
    let shown = if data.is_empty() || kind == '4' {
        String::new()
    } else {
        format!(" {}", quoted(data.as_bytes(), PREVIEW_BYTES))
    };
    views.push("eio", format!("{kind} {name}{shown}"));
    if kind == '4' {
        socket_io(data, views);
    }
}

/// The Socket.IO packet inside a message: type, attachments, namespace, ack id, data.
fn socket_io(text: &str, views: &mut Views) {
    let packet = match Packet::parse(text) {
        Ok(packet) => packet,
        Err(why) => {
            return views
                .push("sio", format!("not a Socket.IO packet ({why}): {}", quoted(text.as_bytes(), 40)))
        }
    };
    let name = match packet.kind {
        Kind::Connect => "CONNECT",
        Kind::Disconnect => "DISCONNECT",
        Kind::Event => "EVENT",
        Kind::Ack => "ACK",
        Kind::ConnectError => "CONNECT_ERROR",
        Kind::BinaryEvent => "BINARY_EVENT",
        Kind::BinaryAck => "BINARY_ACK",
    };
    let digit = text.chars().next().unwrap_or('?');
    let mut line = format!("{digit} {name} nsp={}", quoted(packet.nsp.as_bytes(), 60));
    if packet.attachments > 0 {
        line.push_str(&format!(" attachments={}", packet.attachments));
    }
    if let Some(id) = packet.ack {
        line.push_str(&format!(" ack={id}"));
    }
    if let Some(data) = packet.data {
        line.push_str(&format!(" data={}", quoted(data.to_string().as_bytes(), PREVIEW_BYTES)));
    }
    views.push("sio", line);
}

#[cfg(test)]
mod tests {
    use super::super::view::{Conversation, Direction, Views};
    use super::super::Layer;

    fn shown(conversation: &mut Conversation, direction: Direction, bytes: &[u8]) -> Vec<String> {
        let mut views = Views::default();
        conversation.feed(direction, bytes, &mut views);
        views
            .lines
            .into_iter()
            .filter(|(tag, _)| *tag != "http")
            .map(|(tag, line)| format!("{tag} {line}"))
            .collect()
    }

    #[test]
    fn a_socket_io_conversation_is_decoded_above_http_and_websocket() {
        let mut c = Conversation::new(Layer::Http);
        let post = "POST /socket.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\nContent-Length: 26\r\n\r\n40/chat,{\"room\":\"games\"}\x1e2";
        let lines = shown(&mut c, Direction::Sent, post.as_bytes());
        assert_eq!(
            lines,
            [
                "eio payload of 2 packets, apart by 0x1E",
                "eio 4 message",
                "sio 0 CONNECT nsp=\"/chat\" data=\"{\\\"room\\\":\\\"games\\\"}\"",
                "eio 2 ping",
            ]
        );
        // The answer's direction learns from the request that it is Engine.IO too.
        let answer = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n2\x1e3\x1e6";
        assert_eq!(
            shown(&mut c, Direction::Received, answer.as_bytes()),
            ["eio payload of 3 packets, apart by 0x1E", "eio 2 ping", "eio 3 pong", "eio 6 noop"]
        );
        // After the 101, each text frame is one packet.
        let upgrade = "GET /socket.io/?EIO=4&transport=websocket&sid=x HTTP/1.1\r\n\r\n";
        shown(&mut c, Direction::Sent, upgrade.as_bytes());
        let switched = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x063probe";
        let lines = shown(&mut c, Direction::Received, switched);
        assert_eq!(lines.last().map(String::as_str), Some("eio 3 pong \"probe\""), "{lines:?}");
    }

    #[test]
    fn v3_payloads_and_broken_ones_are_described_not_trusted() {
        let mut views = Views::default();
        super::payload(super::Version::V3, "3:4안녕1:2".as_bytes(), true, &mut views);
        let lines: Vec<String> = views.lines.into_iter().map(|(_, line)| line).collect();
        assert_eq!(lines[0], "payload of 2 packets, each after LENGTH: in UTF-16 units");
        assert_eq!(lines[1], "4 message");
        assert!(lines[2].starts_with("not a Socket.IO packet"), "{lines:?}");
        assert_eq!(lines[3], "2 ping");
        let mut views = Views::default();
        super::payload(super::Version::V4, b"{\"error\":1}", true, &mut views);
        assert!(views.lines[0].1.starts_with("not an Engine.IO payload"), "{:?}", views.lines);
    }

    #[test]
    fn only_requests_to_socket_io_are_engine_io() {
        assert_eq!(
            super::version_of(b"GET /socket.io/?EIO=3&transport=polling HTTP/1.1"),
            Some(super::Version::V3)
        );
        assert_eq!(super::version_of(b"GET /socket.io/?EIO=4 HTTP/1.1"), Some(super::Version::V4));
        assert_eq!(super::version_of(b"GET /poll?room=x HTTP/1.1"), None);
        assert_eq!(super::version_of(b"HTTP/1.1 200 OK"), None);
    }
}
