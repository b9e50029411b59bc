//! The chat view: each complete line (see [`crate::line`] for the framing itself).

use super::dump::{quoted, thousands, PREVIEW_BYTES};
use super::Views;

/// One direction of a newline-framed conversation: the line being received.
#[derive(Default)]
pub struct LineView {
    /// The start of the current line, for display; its length is `len`.
    start: Vec<u8>,
    len: u64,
}

impl LineView {
    pub fn feed(&mut self, bytes: &[u8], views: &mut Views) {
        for piece in bytes.split_inclusive(|&b| b == b'\n') {
            let room = PREVIEW_BYTES.saturating_sub(self.start.len()).min(piece.len());
            self.start.extend_from_slice(&piece[..room]);
            self.len += piece.len() as u64;
            if piece.ends_with(b"\n") {
                // The `\n` is the framing, not the message; a `\r` before it is shown (nc sends it).
                let text = self.start.strip_suffix(b"\n").unwrap_or(&self.start);
                let cut = self.len - 1 - text.len() as u64;
                let more =
                    if cut > 0 { format!(" … {} more bytes", thousands(cut)) } else { String::new() };
                views.push("line", format!("{}{more}", quoted(text, PREVIEW_BYTES)));
                self.start.clear();
                self.len = 0;
            }
        }
    }

    /// What is still incomplete after the bytes seen so far, if anything.
    pub fn pending(&self) -> Option<String> {
        (self.len > 0)
            .then(|| format!("(line incomplete: {} bytes so far, no newline yet)", thousands(self.len)))
    }
}
