//! Properties of `--trace` over arbitrary input: whatever the bytes, however the reads and
//! writes cut them, and whichever layer decodes them, the adapter passes every byte through
//! unchanged, never panics, and prints nothing a terminal would obey.

mod support;

use std::io::{IoSlice, Read, Write};

use common::trace::{Layer, Traced};
use proptest::prelude::*;
use support::{capture, Wire};

/// Pieces that lead the decoders into their states (heads, bodies, chunks, upgrades, frame
/// heads with every length form, escape sequences); random bytes go between them.
const FRAGMENTS: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /send HTTP/1.1\r\nContent-Length: 3\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n\r\n",
    b"5\r\nhello\r\n",
    b"0\r\n\r\n",
    b"\r\n",
    b"\n",
    &[0x81, 0x85, 1, 2, 3, 4],
    &[0x82, 0x7e, 0x01, 0x00],
    &[0x88, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    &[0x89, 0x00],
    &[0x88, 0x02, 0x03, 0xe8],
    b"\x1b[2J\x1b]0;title\x07",
    "\u{202e}\u{9b}".as_bytes(),
];

fn layer() -> impl Strategy<Value = Layer> {
    prop_oneof![Just(Layer::Raw), Just(Layer::Lines), Just(Layer::Http), Just(Layer::WebSocket)]
}

/// A byte stream made of fragments and random bytes.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        proptest::sample::select(FRAGMENTS).prop_map(<[u8]>::to_vec),
        proptest::collection::vec(any::<u8>(), 0..40),
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

/// Where the stream is cut into reads or writes: sizes of the successive pieces.
fn cuts() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(1usize..64, 1..16)
}

/// `bytes` cut into pieces of the given sizes, over and over.
fn cut<'a>(bytes: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut pieces = Vec::new();
    let (mut at, mut i) = (0, 0);
    while at < bytes.len() {
        let end = (at + sizes[i % sizes.len()]).min(bytes.len());
        pieces.push(&bytes[at..end]);
        (at, i) = (end, i + 1);
    }
    pieces
}

/// Nothing in a trace that a terminal would act on: no control character but the newlines
/// that end its own lines, none of the invisible marks that reorder text.
fn assert_safe(text: &str) {
    let bad = text.chars().find(|&c| (c.is_control() && c != '\n') || ('\u{2028}'..='\u{202e}').contains(&c));
    assert_eq!(bad, None, "the trace printed {bad:?}:\n{text}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn reads_come_through_unchanged(bytes in stream(), sizes in cuts(), buf in 1usize..100, layer in layer()) {
        let (sink, kept) = capture();
        let mut traced = Traced::on(Wire::reading(&cut(&bytes, &sizes)), "peer", layer, sink);
        let mut read = Vec::new();
        let mut chunk = vec![0u8; buf];
        loop {
            match traced.read(&mut chunk).unwrap() {
                0 => break,
                n => read.extend_from_slice(&chunk[..n]),
            }
        }
        prop_assert_eq!(read, bytes);
        assert_safe(&kept.lock().unwrap());
    }

    #[test]
    fn writes_come_through_unchanged(bytes in stream(), sizes in cuts(), layer in layer(), vectored in any::<bool>()) {
        let (sink, kept) = capture();
        let mut traced = Traced::on(Wire::default(), "peer", layer, sink);
        for piece in cut(&bytes, &sizes) {
            if vectored {
                let (a, b) = piece.split_at(piece.len() / 2);
                let n = traced.write_vectored(&[IoSlice::new(a), IoSlice::new(b)]).unwrap();
                traced.write_all(&piece[n..]).unwrap();
            } else {
                traced.write_all(piece).unwrap();
            }
        }
        prop_assert_eq!(&traced.written, &bytes);
        assert_safe(&kept.lock().unwrap());
    }

    #[test]
    fn both_directions_at_once_through_upgrades_and_back_never_panic(
        sent in stream(), received in stream(), sizes in cuts(), layer in layer(),
    ) {
        let (sink, kept) = capture();
        let incoming = cut(&received, &sizes);
        let mut traced = Traced::on(Wire::reading(&incoming), "peer", layer, sink);
        let outgoing = cut(&sent, &sizes);
        let mut read = Vec::new();
        let mut chunk = [0u8; 64];
        for i in 0..outgoing.len().max(incoming.len()) {
            if let Some(piece) = outgoing.get(i) {
                traced.write_all(piece).unwrap();
            }
            let n = traced.read(&mut chunk).unwrap();
            read.extend_from_slice(&chunk[..n]);
        }
        traced.read_to_end(&mut read).unwrap();
        prop_assert_eq!(read, received);
        prop_assert_eq!(&traced.written, &sent);
        assert_safe(&kept.lock().unwrap());
    }
}
