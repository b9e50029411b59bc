//! Line framing: no panic, no line past the limit, the same lines however the bytes arrive.
#![no_main]

use std::io::Read;

use common::line::LineReader;
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 64;

/// Hands out its bytes `piece` at a time.
struct Pieces<'a>(&'a [u8], usize);

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.1.min(buf.len()).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

fn lines(bytes: &[u8], piece: usize) -> Vec<String> {
    let mut reader = LineReader::new(Pieces(bytes, piece), LIMIT);
    let mut out = Vec::new();
    for _ in 0..=bytes.len() + 1 {
        match reader.read_line() {
            Ok(Some(line)) => {
                assert!(line.len() <= LIMIT && !line.contains('\n'));
                out.push(line);
            }
            Ok(None) => return out,
            Err(e) => out.push(format!("error: {e}")),
        }
        if out.last().is_some_and(|l| l.contains("closed in the middle")) {
            return out;
        }
    }
    panic!("the reader never reached the end");
}

fuzz_target!(|data: &[u8]| {
    let Some((&piece, bytes)) = data.split_first() else { return };
    assert_eq!(lines(bytes, usize::from(piece).max(1)), lines(bytes, usize::MAX));
});
