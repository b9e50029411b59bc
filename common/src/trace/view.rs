//! The layer's own view of one connection: a decoder per direction, and the switch from HTTP
//! to WebSocket that one direction's `101` makes for both.

use super::http::HttpView;
use super::lines::LineView;
use super::records::RecordView;
use super::websocket::FrameView;
use super::Layer;

/// Decoded lines shown in one event at most; a burst of a thousand chat lines in one read
/// shows the first ones and a count.
pub const VIEWS_PER_EVENT: usize = 32;

/// The decoded lines of one event, each with the tag of the layer that produced it.
#[derive(Default)]
pub struct Views {
    pub lines: Vec<(&'static str, String)>,
    pub left_out: usize,
}

impl Views {
    pub fn push(&mut self, tag: &'static str, text: String) {
        if self.lines.len() < VIEWS_PER_EVENT {
            self.lines.push((tag, text));
        } else {
            self.left_out += 1;
        }
    }
}

/// Which way bytes went, seen from this end of the connection.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Direction {
    Sent,
    Received,
}

/// One direction's decoder.
enum Decoder {
    Raw,
    Lines(LineView),
    Http(HttpView),
    WebSocket(FrameView),
    Tls(RecordView),
}

impl Decoder {
    fn new(layer: Layer) -> Self {
        match layer {
            Layer::Raw => Decoder::Raw,
            Layer::Lines => Decoder::Lines(LineView::default()),
            Layer::Http => Decoder::Http(HttpView::default()),
            Layer::WebSocket => Decoder::WebSocket(FrameView::default()),
            Layer::Tls => Decoder::Tls(RecordView::default()),
        }
    }

    /// The tag in front of this decoder's lines.
    fn tag(&self) -> &'static str {
        match self {
            Decoder::Raw => "raw",
            Decoder::Lines(_) => "line",
            Decoder::Http(_) => "http",
            Decoder::WebSocket(_) => "ws",
            Decoder::Tls(_) => "tls",
        }
    }

    fn pending(&self) -> Option<String> {
        match self {
            Decoder::Raw => None,
            Decoder::Lines(view) => view.pending(),
            Decoder::Http(view) => view.pending(),
            Decoder::WebSocket(view) => view.pending(),
            Decoder::Tls(view) => view.pending(),
        }
    }
}

/// Both directions of one connection, shared by every traced clone of its stream.
pub struct Conversation {
    sent: Decoder,
    received: Decoder,
}

impl Conversation {
    pub fn new(layer: Layer) -> Self {
        Conversation { sent: Decoder::new(layer), received: Decoder::new(layer) }
    }

    /// From now on, both directions are read as `layer`, from a clean state.
    pub fn switch(&mut self, layer: Layer) {
        *self = Conversation::new(layer);
    }

    /// Decodes what went `direction` into `views`, and says what is still incomplete.
    pub fn feed(&mut self, direction: Direction, bytes: &[u8], views: &mut Views) {
        let (this, other) = match direction {
            Direction::Sent => (&mut self.sent, &mut self.received),
            Direction::Received => (&mut self.received, &mut self.sent),
        };
        match this {
            Decoder::Raw => {}
            Decoder::Lines(view) => view.feed(bytes, views),
            Decoder::WebSocket(view) => view.feed(bytes, views),
            Decoder::Tls(view) => view.feed(bytes, views),
            Decoder::Http(view) => {
                let frames_at = view.feed(bytes, views);
                let eio = view.eio();
                if let Decoder::Http(other) = other {
                    other.set_eio(eio);
                }
                if let Some(frames_at) = frames_at {
                    // The 101 went one way; the frames go both. Whatever the other direction
                    // was holding as the start of a head was in fact its first frame bytes.
                    let held = match other {
                        Decoder::Http(other) => other.take_held(),
                        _ => Vec::new(),
                    };
                    let mut early = Views::default();
                    let mut frames = FrameView::socket_io(eio.is_some());
                    frames.feed(&held, &mut early);
                    let (was, verb) = match direction {
                        Direction::Sent => ("received", "<<"),
                        Direction::Received => ("sent", ">>"),
                    };
                    // Shown here, in the event that made them frames, marked as the other way's.
                    for (tag, line) in early.lines {
                        views.push(tag, format!("{verb} {was} before this 101: {line}"));
                    }
                    *other = Decoder::WebSocket(frames);
                    let mut frames = FrameView::socket_io(eio.is_some());
                    frames.feed(&bytes[frames_at..], views);
                    *this = Decoder::WebSocket(frames);
                }
            }
        }
        if let Some(pending) = this.pending() {
            views.push(this.tag(), pending);
        }
    }
}
