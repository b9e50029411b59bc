//! What the trace tests share: a scripted stream, and a sink that keeps what it is given.

#![allow(dead_code)] // each test file uses its own part of this

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

use common::trace::{Layer, Sink, Traced};

/// A stream whose reads return the given pieces, one piece (or what fits of it) per `read`,
/// then 0; whose writes are kept.
#[derive(Default)]
pub struct Wire {
    pub reads: VecDeque<Vec<u8>>,
    pub written: Vec<u8>,
}

impl Wire {
    pub fn reading(pieces: &[&[u8]]) -> Self {
        Wire { reads: pieces.iter().map(|piece| piece.to_vec()).collect(), written: Vec::new() }
    }
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(mut piece) = self.reads.pop_front() else { return Ok(0) };
        let n = piece.len().min(buf.len());
        buf[..n].copy_from_slice(&piece[..n]);
        if n < piece.len() {
            self.reads.push_front(piece.split_off(n));
        }
        Ok(n)
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A sink that keeps every event's text.
pub fn capture() -> (Sink, Arc<Mutex<String>>) {
    let kept = Arc::new(Mutex::new(String::new()));
    let into = kept.clone();
    (Sink::new(move |text| into.lock().unwrap().push_str(text)), kept)
}

/// A traced [`Wire`] that will read `pieces`, and the text it traces.
pub fn traced(layer: Layer, pieces: &[&[u8]]) -> (Traced<Wire>, Arc<Mutex<String>>) {
    let (sink, kept) = capture();
    (Traced::on(Wire::reading(pieces), "127.0.0.1:7878", layer, sink), kept)
}

/// Reads `stream` to its end in reads of at most `size` bytes; returns what was read.
pub fn read_all(stream: &mut impl Read, size: usize) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = vec![0u8; size];
    loop {
        match stream.read(&mut buf).unwrap() {
            0 => return all,
            n => all.extend_from_slice(&buf[..n]),
        }
    }
}

/// The decoded lines of a trace (the tagged ones), without the indentation.
pub fn decoded(trace: &str) -> Vec<String> {
    trace
        .lines()
        .filter_map(|line| line.strip_prefix("   "))
        .filter(|line| ["http ", "ws   ", "line ", "raw  "].iter().any(|tag| line.starts_with(tag)))
        .map(str::to_string)
        .collect()
}

/// The decoded lines of `pieces`, read one piece per `read`, as `layer`.
pub fn decode_reads(layer: Layer, pieces: &[&[u8]]) -> Vec<String> {
    let (mut stream, kept) = traced(layer, pieces);
    read_all(&mut stream, 64 * 1024);
    let text = kept.lock().unwrap().clone();
    decoded(&text)
}

/// Decoded lines without the "(… incomplete …)" progress notes: what the layer saw as whole.
pub fn whole(lines: Vec<String>) -> Vec<String> {
    lines.into_iter().filter(|line| !line[5..].trim_start().starts_with('(')).collect()
}
