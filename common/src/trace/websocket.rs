//! The WebSocket view: each frame decoded, however the reads cut it.
//!
//! [`crate::frame::read`] takes a frame apart from a blocking `Read`, which waits for the bytes
//! it needs. A trace cannot wait: it is handed whatever one `read` or `write` moved, perhaps
//! half a frame head, perhaps three frames and a half. So this view keeps the part of a frame it
//! has seen and goes on when the next bytes come, and it keeps only the first
//! [`PREVIEW_BYTES`] of a payload, so a 1 GiB frame costs a trace no more memory than a small
//! one. The field names and the opcode names are `frame`'s.

use super::dump::{quoted, thousands, PREVIEW_BYTES};
use super::{engineio, Views};
use crate::frame::Frame;

/// A frame being read: its head, and how much of its payload has gone by.
struct Partial {
    /// The decoded head; its payload holds the first [`PREVIEW_BYTES`] bytes, unmasked.
    frame: Frame,
    len: u64,
    /// Bytes of the head on the wire: 2, plus 2 or 8 of extended length, plus 4 of mask key.
    head_len: usize,
    seen: u64,
}

/// One direction of a WebSocket conversation.
#[derive(Default)]
pub struct FrameView {
    /// Head bytes of the next frame, while it is incomplete (at most 14).
    head: Vec<u8>,
    partial: Option<Partial>,
    /// The WebSocket of a Socket.IO session: each text frame is one Engine.IO packet.
    pub eio: bool,
}

impl FrameView {
    /// A view of frames that, when `eio`, carry Engine.IO packets.
    pub fn socket_io(eio: bool) -> FrameView {
        FrameView { eio, ..FrameView::default() }
    }

    pub fn feed(&mut self, mut bytes: &[u8], views: &mut Views) {
        while !bytes.is_empty() {
            let Some(partial) = &mut self.partial else {
                let wanted = head_len(&self.head).saturating_sub(self.head.len());
                let taken = wanted.min(bytes.len());
                self.head.extend_from_slice(&bytes[..taken]);
                bytes = &bytes[taken..];
                if self.head.len() == head_len(&self.head) {
                    let partial = decode_head(&self.head);
                    self.head.clear();
                    if partial.len == 0 {
                        views.push("ws", describe(&partial));
                        self.show_packet(&partial, views);
                    } else {
                        self.partial = Some(partial);
                    }
                }
                continue;
            };
            let left = partial.len - partial.seen;
            let taken = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len());
            let room = PREVIEW_BYTES.saturating_sub(partial.frame.payload.len()).min(taken);
            for &byte in &bytes[..room] {
                let i = partial.frame.payload.len();
                let key = partial.frame.mask.map_or(0, |key| key[i % 4]);
                partial.frame.payload.push(byte ^ key);
            }
            partial.seen += taken as u64;
            bytes = &bytes[taken..];
            if partial.seen == partial.len {
                views.push("ws", describe(partial));
                if let Some(partial) = self.partial.take() {
                    self.show_packet(&partial, views);
                }
            }
        }
    }

    /// A whole text frame of a Socket.IO session, as its Engine.IO packet.
    fn show_packet(&self, partial: &Partial, views: &mut Views) {
        let whole = partial.frame.payload.len() as u64 == partial.len;
        if self.eio && partial.frame.opcode == 1 && partial.frame.fin && whole {
            engineio::packet(&String::from_utf8_lossy(&partial.frame.payload), views);
        }
    }

    /// What is still incomplete after the bytes seen so far, if anything.
    pub fn pending(&self) -> Option<String> {
        if let Some(partial) = &self.partial {
            let (seen, len) = (thousands(partial.seen), thousands(partial.len));
            return Some(format!("(frame incomplete: {seen} of {len} payload bytes so far)"));
        }
        (!self.head.is_empty()).then(|| {
            format!("(frame head incomplete: {} of {} bytes so far)", self.head.len(), head_len(&self.head))
        })
    }
}

/// How long the head that starts with `head` is; 2 while its second byte is unknown.
fn head_len(head: &[u8]) -> usize {
    let Some(&second) = head.get(1) else { return 2 };
    let extended = match second & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if second & 0x80 != 0 { 4 } else { 0 };
    2 + extended + mask
}

/// Takes a whole head apart (RFC 6455, section 5.2; the picture is in [`crate::frame`]).
fn decode_head(head: &[u8]) -> Partial {
    let len = match head[1] & 0x7f {
        126 => u64::from(u16::from_be_bytes([head[2], head[3]])),
        127 => u64::from_be_bytes(head[2..10].try_into().unwrap_or_default()),
        n => u64::from(n),
    };
    let mask = (head[1] & 0x80 != 0).then(|| {
        let key = &head[head.len() - 4..];
        [key[0], key[1], key[2], key[3]]
    });
    let frame = Frame {
        fin: head[0] & 0x80 != 0,
        rsv: (head[0] >> 4) & 0x07,
        opcode: head[0] & 0x0f,
        mask,
        payload: Vec::new(),
    };
    Partial { frame, len, head_len: head.len(), seen: 0 }
}

/// One line per frame, field by field in wire order:
/// `FIN=1 opcode=1 (text) MASK=1 key=37 fa 21 3d len=5 (head 6 bytes) "Hello"`.
fn describe(partial: &Partial) -> String {
    let Partial { frame, len, head_len, .. } = partial;
    let mut line = format!("FIN={} ", u8::from(frame.fin));
    if frame.rsv != 0 {
        line.push_str(&format!("RSV={:03b} ", frame.rsv));
    }
    line.push_str(&format!("opcode={} ({}) ", frame.opcode, frame.kind()));
    match frame.mask {
        Some(key) => {
            line.push_str(&format!("MASK=1 key={:02x} {:02x} {:02x} {:02x} ", key[0], key[1], key[2], key[3]))
        }
        None => line.push_str("MASK=0 "),
    }
    line.push_str(&format!("len={} (head {head_len} bytes)", thousands(*len)));
    let shown = frame.payload.len() as u64;
    let payload = match frame.close_code() {
        Some(code) => format!("code={code} reason={}", quoted(&frame.payload[2..], PREVIEW_BYTES)),
        None => quoted(&frame.payload, PREVIEW_BYTES),
    };
    if *len > 0 {
        line.push(' ');
        line.push_str(&payload);
        if *len > shown {
            line.push_str(&format!(" … {} more bytes", thousands(len - shown)));
        }
    }
    line
}
