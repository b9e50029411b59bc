//! The two layers of packets, as text.
//!
//! **Engine.IO** carries packets over a transport. One packet is a type digit and its data:
//! `0` open, `1` close, `2` ping, `3` pong, `4` message, `5` upgrade, `6` noop. On WebSocket a
//! packet is one frame. On polling, one HTTP body holds several, framed two ways:
//!
//! ```text
//! v4 (EIO=4)   4hello\x1e2                 packets apart by the record separator 0x1E
//! v3 (EIO=3)   6:4hello1:2                 LENGTH:PACKET, LENGTH in UTF-16 units (JavaScript's
//!                                          string length): "4안녕" is 3, "4😀" is 3 as well
//! ```
//!
//! **Socket.IO** rides in Engine.IO's message packets (`4...`): a type digit, for binary types the
//! attachment count and `-`, the namespace and `,` (unless it is `/`), an ack id, then JSON:
//! `2/chat,7["text",{"msg":"안녕"}]` is an EVENT on `/chat` asking for ack 7.

use serde_json::Value;

/// Engine.IO's packet types, as their digit.
pub const OPEN: char = '0';
pub const CLOSE: char = '1';
pub const PING: char = '2';
pub const PONG: char = '3';
pub const MESSAGE: char = '4';
pub const UPGRADE: char = '5';
pub const NOOP: char = '6';

/// The record separator between two packets of a v4 polling payload.
pub const SEPARATOR: char = '\x1e';

/// Binary attachments one Socket.IO packet may announce. The lab refuses binary anyway; the
/// cap only bounds how many binary packets it reads and drops.
pub const MAX_ATTACHMENTS: usize = 10;

/// Which Engine.IO the client speaks (`EIO=` in its URL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// socket.io-client 2.x: client pings, `LENGTH:PACKET` payloads.
    V3,
    /// socket.io-client 3 and 4, python-socketio 5: server pings, `\x1e` payloads.
    V4,
}

/// One Engine.IO packet from a client, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Text(String),
    /// A binary packet (the lab drops these); on polling it travelled in base64.
    Binary,
}

/// Splits a polling body into packets.
pub fn decode_payload(version: Version, body: &str) -> Result<Vec<Incoming>, String> {
    match version {
        Version::V4 => body.split(SEPARATOR).map(|packet| incoming(packet, "b")).collect(),
        Version::V3 => decode_v3(body),
    }
}

fn incoming(packet: &str, binary_mark: &str) -> Result<Incoming, String> {
    if let Some(base64) = packet.strip_prefix(binary_mark) {
        let ok = base64.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
        return if ok { Ok(Incoming::Binary) } else { Err("a binary packet that is not base64".into()) };
    }
    match packet.chars().next() {
        Some('0'..='6') => Ok(Incoming::Text(packet.to_string())),
        Some(other) => Err(format!("unknown Engine.IO packet type {other:?}")),
        None => Err("an empty Engine.IO packet".into()),
    }
}

/// `6:4hello1:2`: each length counts UTF-16 units, so it is walked character by character.
fn decode_v3(body: &str) -> Result<Vec<Incoming>, String> {
    let mut packets = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (length, after) = rest.split_once(':').ok_or("a v3 payload without LENGTH:")?;
        let units: usize = match length.parse() {
            Ok(units) if !length.is_empty() && length.bytes().all(|b| b.is_ascii_digit()) => units,
            _ => return Err(format!("a v3 payload length that is not a number: {:?}", short(length))),
        };
        let (mut counted, mut end) = (0, 0);
        for c in after.chars() {
            if counted >= units {
                break;
            }
            counted += c.len_utf16();
            end += c.len_utf8();
        }
        if counted != units || units == 0 {
            return Err(format!("a v3 payload says {units} UTF-16 units but holds {counted}"));
        }
        packets.push(incoming(&after[..end], "b4")?);
        rest = &after[end..];
    }
    Ok(packets)
}

/// Frames packets (already text) into one polling body.
pub fn encode_payload(version: Version, packets: &[String]) -> String {
    match version {
        Version::V4 => packets.join(&SEPARATOR.to_string()),
        Version::V3 => packets.iter().map(|p| format!("{}:{p}", p.encode_utf16().count())).collect(),
    }
}

/// Socket.IO's packet types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Connect,
    Disconnect,
    Event,
    Ack,
    /// CONNECT_ERROR in v5; plain ERROR in the v4 protocol of the 2.x clients.
    ConnectError,
    BinaryEvent,
    BinaryAck,
}

/// One Socket.IO packet, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    pub kind: Kind,
    /// Binary attachments announced (binary types only).
    pub attachments: usize,
    /// The namespace, `/` when absent; a 2.x client's CONNECT keeps its `?query` here.
    pub nsp: String,
    pub ack: Option<u64>,
    pub data: Option<Value>,
}

impl Packet {
    /// Parses the text after Engine.IO's `4`.
    pub fn parse(text: &str) -> Result<Packet, String> {
        let kind = match text.chars().next() {
            Some('0') => Kind::Connect,
            Some('1') => Kind::Disconnect,
            Some('2') => Kind::Event,
            Some('3') => Kind::Ack,
            Some('4') => Kind::ConnectError,
            Some('5') => Kind::BinaryEvent,
            Some('6') => Kind::BinaryAck,
            other => return Err(format!("unknown Socket.IO packet type {other:?}")),
        };
        let mut rest = &text[1..];
        let mut attachments = 0;
        if matches!(kind, Kind::BinaryEvent | Kind::BinaryAck) {
            let (count, after) =
                rest.split_once('-').ok_or("a binary packet without its attachment count")?;
            attachments = count
                .parse()
                .ok()
                .filter(|n| (1..=MAX_ATTACHMENTS).contains(n) && count.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| {
                    format!("an attachment count of {:?} (1 to {MAX_ATTACHMENTS})", short(count))
                })?;
            rest = after;
        }
        let mut nsp = "/".to_string();
        if rest.starts_with('/') {
            let (name, after) = rest.split_once(',').unwrap_or((rest, ""));
            nsp = name.to_string();
            rest = after;
        }
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let ack = match digits {
            0 => None,
            _ => Some(rest[..digits].parse().map_err(|_| "an ack id too large".to_string())?),
        };
        rest = &rest[digits..];
        let data = match rest {
            "" => None,
            json => Some(
                serde_json::from_str(json).map_err(|e| format!("a packet whose data is not JSON: {e}"))?,
            ),
        };
        Ok(Packet { kind, attachments, nsp, ack, data })
    }
}

/// A Socket.IO packet as Engine.IO message text (`4` included): `42/chat,["status",{...}]`.
pub fn encode(kind: Kind, nsp: &str, ack: Option<u64>, data: Option<&Value>) -> String {
    let digit = match kind {
        Kind::Connect => '0',
        Kind::Disconnect => '1',
        Kind::Event => '2',
        Kind::Ack => '3',
        Kind::ConnectError => '4',
        Kind::BinaryEvent => '5',
        Kind::BinaryAck => '6',
    };
    let mut out = format!("{MESSAGE}{digit}");
    if nsp != "/" {
        out.push_str(nsp);
        out.push(',');
    }
    if let Some(id) = ack {
        out.push_str(&id.to_string());
    }
    if let Some(data) = data {
        out.push_str(&data.to_string());
    }
    out
}

/// At most 40 characters of a peer's text, for an error message.
fn short(text: &str) -> String {
    text.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn v3_lengths_count_utf16_units_not_bytes_or_characters() {
        let packets = vec!["4안녕".to_string(), "4😀".to_string(), "2".to_string()];
        let body = encode_payload(Version::V3, &packets);
        // 안녕 is 6 bytes but 2 units; the emoji is 4 bytes, 1 character, and 2 units.
        assert_eq!(body, "3:4안녕3:4😀1:2");
        let back = decode_payload(Version::V3, &body).unwrap();
        assert_eq!(back, packets.into_iter().map(Incoming::Text).collect::<Vec<_>>());
    }

    #[test]
    fn v4_payloads_split_on_the_record_separator() {
        let body = "4안녕\x1e2\x1ebAQID";
        let back = decode_payload(Version::V4, body).unwrap();
        assert_eq!(back, vec![Incoming::Text("4안녕".into()), Incoming::Text("2".into()), Incoming::Binary]);
        assert_eq!(encode_payload(Version::V4, &["40".into(), "2".into()]), "40\x1e2");
    }

    #[test]
    fn broken_payloads_are_errors_not_panics() {
        for body in ["", "x", "9hello", "b!!"] {
            assert!(decode_payload(Version::V4, body).is_err(), "{body:?}");
        }
        for body in ["4", "4:4안", "2:4안녕", ":4", "-1:4", "99999999999999999999999:4", "1:x", "0:"] {
            assert!(decode_payload(Version::V3, body).is_err(), "{body:?}");
        }
    }

    #[test]
    fn socket_io_packets_parse_with_namespace_ack_and_data() {
        let p = Packet::parse("2/chat,7[\"text\",{\"msg\":\"안녕\"}]").unwrap();
        assert_eq!((p.kind, p.nsp.as_str(), p.ack), (Kind::Event, "/chat", Some(7)));
        assert_eq!(p.data, Some(json!(["text", {"msg": "안녕"}])));
        let p = Packet::parse("0/chat?room=games,").unwrap();
        assert_eq!((p.kind, p.nsp.as_str(), p.data), (Kind::Connect, "/chat?room=games", None));
        let p = Packet::parse("0").unwrap();
        assert_eq!(p.nsp, "/");
        let p = Packet::parse("51-/chat,[\"file\",{\"_placeholder\":true,\"num\":0}]").unwrap();
        assert_eq!((p.kind, p.attachments), (Kind::BinaryEvent, 1));
        for bad in [
            "",
            "9",
            "5-/chat,[]",
            "5x-[]",
            "50-[]",
            "511-[]",
            "2/chat,[",
            "2{oops",
            "299999999999999999999999[]",
        ] {
            assert!(Packet::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn encoding_matches_what_the_clients_send() {
        let data = json!(["message", {"msg": "민지: 안녕"}]);
        assert_eq!(
            encode(Kind::Event, "/chat", None, Some(&data)),
            "42/chat,[\"message\",{\"msg\":\"민지: 안녕\"}]"
        );
        assert_eq!(encode(Kind::Connect, "/", None, None), "40");
        assert_eq!(encode(Kind::Ack, "/chat", Some(3), Some(&json!([]))), "43/chat,3[]");
    }
}
