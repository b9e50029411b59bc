//! The TLS view: each record as anyone on the path sees it.
//!
//! A record starts with five bytes in the clear: its content type (`16` handshake, `15` alert,
//! `14` change_cipher_spec, `17` application_data), a version, and a two-byte length. The first
//! handshake messages travel in the clear too, so the ClientHello's server name (SNI) is there
//! for every eavesdropper to read. Everything after the ServerHello is sealed: in TLS 1.3 even
//! the rest of the handshake hides inside records typed `application_data`.

use super::dump::{quoted, thousands};
use super::Views;
use crate::tls::version_name;

/// One direction of a TLS connection: the record being received.
#[derive(Default)]
pub struct RecordView {
    /// The head and the first bytes of the current record (enough to name a handshake message).
    start: Vec<u8>,
    /// Bytes of the current record's body still to come, once its head is complete.
    left: usize,
}

/// Body bytes kept to decode a ClientHello's server name: a hello is a few hundred bytes.
const HELLO_BYTES: usize = 2048;

impl RecordView {
    pub fn feed(&mut self, mut bytes: &[u8], views: &mut Views) {
        while !bytes.is_empty() {
            if self.start.len() < 5 {
                let take = (5 - self.start.len()).min(bytes.len());
                self.start.extend_from_slice(&bytes[..take]);
                bytes = &bytes[take..];
                if self.start.len() == 5 {
                    self.left = u16::from_be_bytes([self.start[3], self.start[4]]) as usize;
                }
            } else {
                let take = self.left.min(bytes.len());
                let room = (5 + HELLO_BYTES).saturating_sub(self.start.len()).min(take);
                self.start.extend_from_slice(&bytes[..room]);
                self.left -= take;
                bytes = &bytes[take..];
            }
            if self.start.len() >= 5 && self.left == 0 {
                views.push("tls", describe(&self.start));
                self.start.clear();
            }
        }
    }

    pub fn pending(&self) -> Option<String> {
        (!self.start.is_empty()).then(|| match self.start.len() {
            0..=4 => format!("(record head incomplete: {} of 5 bytes)", self.start.len()),
            _ => format!("(record incomplete: {} more bytes to come)", thousands(self.left as u64)),
        })
    }
}

/// `handshake, TLS 1.0, 512 bytes: ClientHello, SNI "localhost", offers TLS 1.3, TLS 1.2`.
fn describe(record: &[u8]) -> String {
    let (kind, version) = (record[0], u16::from_be_bytes([record[1], record[2]]));
    let length = u16::from_be_bytes([record[3], record[4]]);
    let body = &record[5..];
    let head =
        format!("{}, {}, {} bytes", content_type(kind), version_name(version), thousands(length.into()));
    match kind {
        22 => format!("{head}: {}", handshake(body)),
        21 if body.len() >= 2 => format!("{head}: {} alert {}", level(body[0]), alert(body[1])),
        23 => format!("{head} (sealed: only the two ends can read it)"),
        _ => head,
    }
}

fn content_type(kind: u8) -> String {
    match kind {
        20 => "change_cipher_spec".into(),
        21 => "alert".into(),
        22 => "handshake".into(),
        23 => "application_data".into(),
        other => format!("not a TLS record (type {other})"),
    }
}

fn level(level: u8) -> &'static str {
    if level == 2 {
        "fatal"
    } else {
        "warning"
    }
}

fn alert(code: u8) -> String {
    let name = match code {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        40 => "handshake_failure",
        42 => "bad_certificate",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        48 => "unknown_ca",
        50 => "decode_error",
        70 => "protocol_version",
        80 => "internal_error",
        112 => "unrecognized_name",
        _ => "",
    };
    format!("{code} {name}").trim_end().to_string()
}

/// The handshake message at the start of a record's body (the first ones travel in the clear).
fn handshake(body: &[u8]) -> String {
    let Some(&kind) = body.first() else { return "empty".into() };
    match kind {
        1 => client_hello(body.get(4..).unwrap_or_default()),
        2 => "ServerHello".into(),
        4 => "NewSessionTicket".into(),
        11 => "Certificate".into(),
        12 => "ServerKeyExchange".into(),
        14 => "ServerHelloDone".into(),
        16 => "ClientKeyExchange".into(),
        20 => "Finished".into(),
        other => format!("handshake message {other} (sealed, or not one we name)"),
    }
}

/// `ClientHello, SNI "localhost", offers TLS 1.3, TLS 1.2`: the readable part of a hello.
fn client_hello(hello: &[u8]) -> String {
    let mut text = "ClientHello".to_string();
    let mut at = Reader(hello);
    let extensions = (|| {
        at.skip(2 + 32)?; // legacy version, random
        let n = at.byte()? as usize;
        at.skip(n)?; // session id
        let n = at.u16()? as usize;
        at.skip(n)?; // cipher suites
        let n = at.byte()? as usize;
        at.skip(n)?; // compression methods
        let n = at.u16()? as usize;
        at.take(n)
    })();
    let Some(extensions) = extensions else { return text };
    let mut versions = Vec::new();
    let mut at = Reader(extensions);
    while let (Some(kind), Some(n)) = (at.u16(), at.u16()) {
        let Some(data) = at.take(n as usize) else { break };
        match kind {
            // server_name: list length, name type 0 (host name), length, the name.
            0 if data.len() > 5 => text.push_str(&format!(", SNI {}", quoted(&data[5..], 64))),
            // supported_versions: a length byte, then two bytes per version.
            43 if !data.is_empty() => {
                versions = data[1..].chunks_exact(2).map(|v| u16::from_be_bytes([v[0], v[1]])).collect()
            }
            _ => {}
        }
    }
    let known: Vec<String> = versions.into_iter().filter(|v| v >> 8 == 3).map(version_name).collect();
    if !known.is_empty() {
        text.push_str(&format!(", offers {}", known.join(", ")));
    }
    text
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (taken, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(taken)
    }
    fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }
    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn views(bytes: &[&[u8]]) -> Vec<String> {
        let mut view = RecordView::default();
        let mut views = Views::default();
        for piece in bytes {
            view.feed(piece, &mut views);
        }
        views.lines.into_iter().map(|(_, line)| line).collect()
    }

    #[test]
    fn records_are_named_however_the_reads_cut_them() {
        let alert = [21u8, 3, 3, 0, 2, 2, 40];
        let data = [23u8, 3, 3, 0, 3, 1, 2, 3];
        let both: Vec<u8> = alert.iter().chain(&data).copied().collect();
        let whole = views(&[&both]);
        assert_eq!(
            whole,
            [
                "alert, TLS 1.2, 2 bytes: fatal alert 40 handshake_failure",
                "application_data, TLS 1.2, 3 bytes (sealed: only the two ends can read it)"
            ]
        );
        let cut: Vec<&[u8]> = both.chunks(1).collect();
        assert_eq!(views(&cut), whole);
    }

    #[test]
    fn a_client_hello_shows_its_server_name_and_versions() {
        let sni = b"localhost";
        let mut ext = vec![0, 0, 0, (sni.len() + 5) as u8, 0, (sni.len() + 3) as u8, 0, 0, sni.len() as u8];
        ext.extend_from_slice(sni);
        ext.extend_from_slice(&[0, 43, 0, 5, 4, 3, 4, 3, 3]);
        let mut hello = vec![3, 3];
        hello.extend_from_slice(&[0; 32]);
        hello.extend_from_slice(&[0, 0, 2, 0x13, 1, 1, 0]);
        hello.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        hello.extend_from_slice(&ext);
        let mut body = vec![1, 0, 0, hello.len() as u8];
        body.extend_from_slice(&hello);
        let mut record = vec![22, 3, 1, 0, body.len() as u8];
        record.extend_from_slice(&body);
        assert_eq!(
            views(&[&record]),
            [format!(
                "handshake, TLS 1.0, {} bytes: ClientHello, SNI \"localhost\", offers TLS 1.3, TLS 1.2",
                body.len()
            )]
        );
    }
}
