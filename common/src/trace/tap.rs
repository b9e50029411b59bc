//! One tap: where a connection's events go, and the decoders that find the layer's view.

use std::fmt;
use std::io;
use std::sync::Mutex;

use super::view::{Conversation, Direction, Views};
use super::{dump, Layer, Sink};

/// What a traced connection shares between its clones.
pub struct Tap {
    peer: String,
    sink: Sink,
    conversation: Mutex<Conversation>,
    /// The hex dump under each event (`--trace`), or the layer's view only (a watcher).
    dump: bool,
}

impl Tap {
    pub fn new(peer: impl fmt::Display, layer: Layer, sink: Sink, dump: bool) -> Self {
        let conversation = Mutex::new(Conversation::new(layer));
        Tap { peer: peer.to_string(), sink, conversation, dump }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, Conversation> {
        self.conversation.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Prints one event: what one call moved (the first `n` bytes of `bufs`), or how it ended.
    #[cold]
    #[inline(never)]
    pub fn record(&self, direction: Direction, result: &io::Result<usize>, bufs: &[&[u8]]) {
        let (arrow, way) = match direction {
            Direction::Sent => (">>", "to"),
            Direction::Received => ("<<", "from"),
        };
        let peer = &self.peer;
        let n = match result {
            Ok(0) if direction == Direction::Received => {
                let text =
                    format!("{arrow} {way} {peer}: end of stream (read returned 0: the peer closed)\n");
                return (self.sink.0)(&text);
            }
            Ok(n) => *n,
            // A timeout is the lesson's business (it logs what it does about it); so is a signal.
            Err(e) if crate::net::is_timeout(e) || e.kind() == io::ErrorKind::Interrupted => return,
            Err(e) => {
                let text = format!("{arrow} {way} {peer}: error: {}\n", crate::net::describe(e));
                return (self.sink.0)(&text);
            }
        };
        let bytes: Vec<u8> = bufs.iter().flat_map(|buf| buf.iter().copied()).take(n).collect();
        let mut text = format!("{arrow} {way} {peer}, {} bytes\n", dump::thousands(n as u64));
        // Decoding and printing under one lock: the events of one connection print in the order
        // they were decoded, even when a reader thread and a writer thread both trace.
        let mut conversation = self.lock();
        let mut views = Views::default();
        conversation.feed(direction, &bytes, &mut views);
        for (tag, line) in &views.lines {
            text.push_str(&format!("   {tag:<5} {line}\n"));
        }
        if views.left_out > 0 {
            text.push_str(&format!("   … {} more decoded lines\n", dump::thousands(views.left_out as u64)));
        }
        if self.dump {
            dump::hex_dump(&mut text, &bytes, dump::DUMP_BYTES);
        }
        (self.sink.0)(&text);
    }
}
