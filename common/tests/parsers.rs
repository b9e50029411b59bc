//! Property tests for every parser in `common` that reads the network: line framing, the chat
//! protocol and WebSocket frames. Random input must never make them panic or go past a limit,
//! and what they read must not depend on how the bytes were cut into `read`s (one `read` is not
//! one message: chapter 2).

use std::io::{self, Read};

use common::frame;
use common::line::{LineError, LineReader};
use common::protocol::Command;
use proptest::prelude::*;

/// A stream that hands out its bytes in pieces of the given sizes, as a network might.
struct Pieces {
    bytes: Vec<u8>,
    at: usize,
    sizes: Vec<usize>,
    turn: usize,
}

impl Pieces {
    fn new(bytes: &[u8], sizes: &[usize]) -> Self {
        Pieces { bytes: bytes.to_vec(), at: 0, sizes: sizes.to_vec(), turn: 0 }
    }
}

impl Read for Pieces {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let size = self.sizes.get(self.turn % self.sizes.len().max(1)).copied().unwrap_or(usize::MAX).max(1);
        self.turn += 1;
        let n = size.min(buf.len()).min(self.bytes.len() - self.at);
        buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

const LINE_LIMIT: usize = 16;

/// Every line (or error) a `LineReader` gives for `bytes`, up to the end of the stream.
fn lines(bytes: &[u8], sizes: &[usize]) -> Vec<Result<String, String>> {
    let mut reader = LineReader::new(Pieces::new(bytes, sizes), LINE_LIMIT);
    let mut out = Vec::new();
    // Each turn consumes at least one byte or ends: bounded by the input's length.
    for _ in 0..=bytes.len() + 1 {
        match reader.read_line() {
            Ok(Some(line)) => out.push(Ok(line)),
            Ok(None) => return out,
            Err(e @ (LineError::TooLong { .. } | LineError::InvalidUtf8 { .. })) => {
                out.push(Err(e.to_string()))
            }
            Err(e) => {
                out.push(Err(e.to_string()));
                return out;
            }
        }
    }
    panic!("the reader never reached the end of {} bytes", bytes.len());
}

/// A frame read from `bytes` in pieces, as a comparable value.
fn frame_of(bytes: &[u8], sizes: &[usize], max: u64) -> Result<frame::Frame, io::ErrorKind> {
    frame::read(&mut Pieces::new(bytes, sizes), max).map_err(|e| e.kind())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn lines_are_the_same_however_the_bytes_arrive(
        bytes in prop::collection::vec(prop::sample::select(b"ab\xc3\xa9\xff\r\n ".to_vec()), 0..200),
        sizes in prop::collection::vec(1usize..20, 1..6),
    ) {
        let whole = lines(&bytes, &[]);
        for line in whole.iter().flatten() {
            prop_assert!(line.len() <= LINE_LIMIT && !line.contains('\n'), "{line:?}");
        }
        prop_assert_eq!(lines(&bytes, &sizes), whole);
    }

    #[test]
    fn any_line_parses_to_a_command_and_trailing_space_does_not_matter(line in "\\PC{0,40}", pad in "[ \t]{0,3}") {
        let command = Command::parse(&line);
        prop_assert_eq!(Command::parse(&format!("{line}{pad}")), command.clone());
        match command {
            Command::Nick(name) | Command::Join(name) => {
                prop_assert!(!name.is_empty() && name.trim() == name, "{name:?}");
            }
            Command::Say(text) => prop_assert_eq!(text, line.trim_end()),
            _ => {}
        }
    }

    #[test]
    fn frames_are_the_same_however_the_bytes_arrive_and_never_past_the_limit(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        sizes in prop::collection::vec(1usize..9, 1..6),
    ) {
        let whole = frame_of(&bytes, &[], 64);
        if let Ok(frame) = &whole {
            prop_assert!(frame.payload.len() <= 64);
        }
        prop_assert_eq!(frame_of(&bytes, &sizes, 64), whole);
    }

    #[test]
    fn an_encoded_frame_reads_back_as_itself(
        opcode in prop::sample::select(vec![0x1u8, 0x2, 0x8, 0x9, 0xA]),
        payload in prop::collection::vec(any::<u8>(), 0..70_000),
        mask in prop::option::of(any::<[u8; 4]>()),
        sizes in prop::collection::vec(1usize..5000, 1..4),
    ) {
        let bytes = frame::encode(opcode, &payload, mask);
        let read = frame_of(&bytes, &sizes, 1 << 20).unwrap();
        prop_assert_eq!((read.fin, read.opcode, read.mask), (true, opcode, mask));
        prop_assert!(read.payload == payload);
        // One byte under its length: refused before the payload is read.
        prop_assume!(!payload.is_empty());
        prop_assert_eq!(frame_of(&bytes, &sizes, payload.len() as u64 - 1).unwrap_err(), io::ErrorKind::InvalidData);
    }
}
