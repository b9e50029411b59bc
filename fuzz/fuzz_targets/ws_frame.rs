//! WebSocket frames by hand: no panic, nothing past the limit, the same frame however the bytes
//! arrive.
#![no_main]

use std::io::Read;

use common::frame;
use libfuzzer_sys::fuzz_target;

const MAX: u64 = 64 * 1024;

struct Pieces<'a>(&'a [u8], usize);

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.1.min(buf.len()).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&piece, bytes)) = data.split_first() else { return };
    let whole = frame::read(&mut Pieces(bytes, usize::MAX), MAX).map_err(|e| e.kind());
    if let Ok(frame) = &whole {
        assert!(frame.payload.len() as u64 <= MAX);
    }
    let split = frame::read(&mut Pieces(bytes, usize::from(piece).max(1)), MAX).map_err(|e| e.kind());
    assert_eq!(split, whole);
});
