//! The HTTP view: each request or response head, line by line, then how its body is framed.
//!
//! HTTP/1.1 is a stream of messages on one connection, each a head (start line, headers, a
//! blank line) and a body whose end the head announces (RFC 9112, section 6): `Content-Length`
//! bytes, or chunks each preceded by its size in hex and ended by a chunk of size 0, or (a
//! response that says neither) everything until the connection closes. This view follows the
//! same rules as a client would, so it finds the second of two requests sent in one write and a
//! head split across ten reads. A `101 Switching Protocols` that names `websocket` ends HTTP on
//! this connection: the caller switches both directions to frames.
//!
//! It shows, and never judges: a trace must describe a broken peer, not refuse it. What it
//! cannot follow (a head over [`HEAD_LIMIT`], an unreadable length) it says once, and shows the
//! rest as raw bytes only.

use super::dump::{escaped, incomplete_tail, quoted, thousands, PREVIEW_BYTES};
use super::{engineio, Views};
use crate::sio::Version;

/// A head longer than this is not HTTP this view can show; the rest is raw bytes only.
pub const HEAD_LIMIT: usize = 64 * 1024;

/// A chunk-size line (or a trailer line) longer than this is not one.
const CHUNK_LINE_LIMIT: usize = 1024;

/// Where one direction of the conversation is.
enum State {
    /// Reading a head; the bytes so far.
    Head(Vec<u8>),
    /// A body announced by `Content-Length`: what is left, and the start of it.
    Body { left: u64, total: u64, preview: Vec<u8> },
    /// A chunked body, at a chunk-size line; the line so far.
    ChunkSize(Vec<u8>),
    /// Inside one chunk's data.
    ChunkData { left: u64, size: u64, preview: Vec<u8> },
    /// The CRLF after a chunk's data; how many of its bytes have gone by.
    ChunkEnd(u8),
    /// After the last chunk: trailer lines until an empty one; the line so far.
    Trailer(Vec<u8>),
    /// A response body without a length: it ends when the connection does.
    UntilClose { seen: u64 },
    /// Lost: raw bytes only from here on.
    Opaque,
}

/// One direction of an HTTP conversation.
pub struct HttpView {
    state: State,
    /// Set once a request went to `/socket.io/`: bodies are Engine.IO payloads (`engineio`).
    eio: Option<Version>,
}

impl Default for HttpView {
    fn default() -> Self {
        HttpView { state: State::Head(Vec::new()), eio: None }
    }
}

/// What a whole head announces about what follows it.
enum AfterHead {
    Body(State),
    /// `101 Switching Protocols` to WebSocket: frames start right after this head.
    WebSocket,
}

impl HttpView {
    /// Shows what `bytes` hold. `Some(n)`: a 101 to WebSocket ended at `bytes[n]`, and the
    /// rest of `bytes` (and everything after) is frames.
    pub fn feed(&mut self, bytes: &[u8], views: &mut Views) -> Option<usize> {
        let mut at = 0;
        while at < bytes.len() {
            let rest = &bytes[at..];
            let in_chunk_size = matches!(self.state, State::ChunkSize(_));
            let (taken, next) = match &mut self.state {
                State::Head(head) => match end_of_head(head, rest) {
                    Some(taken) => {
                        head.extend_from_slice(&rest[..taken]);
                        let whole = std::mem::take(head);
                        let start = whole.split(|&b| b == b'\n').next().unwrap_or_default();
                        self.eio = self.eio.or(engineio::version_of(start));
                        match show_head(&whole, views) {
                            AfterHead::Body(next) => (taken, Some(next)),
                            AfterHead::WebSocket => return Some(at + taken),
                        }
                    }
                    None if head.len() + rest.len() > HEAD_LIMIT => {
                        let limit = thousands(HEAD_LIMIT as u64);
                        (rest.len(), lose(&format!("no end of head within {limit} bytes"), views))
                    }
                    None => {
                        head.extend_from_slice(rest);
                        (rest.len(), None)
                    }
                },
                State::Body { left, total, preview } => match take_body(left, preview, rest) {
                    (taken, true) => {
                        views.push("http", format!("body: {}", shown(preview, *total)));
                        if let Some(version) = self.eio {
                            engineio::payload(version, preview, preview.len() as u64 == *total, views);
                        }
                        (taken, Some(State::Head(Vec::new())))
                    }
                    (taken, false) => (taken, None),
                },
                State::ChunkData { left, size, preview } => match take_body(left, preview, rest) {
                    (taken, true) => {
                        views.push("http", format!("chunk: {}", shown(preview, *size)));
                        (taken, Some(State::ChunkEnd(0)))
                    }
                    (taken, false) => (taken, None),
                },
                State::ChunkSize(line) | State::Trailer(line) => {
                    let (taken, complete) = match rest.iter().position(|&b| b == b'\n') {
                        Some(end) => (end + 1, true),
                        None => (rest.len(), false),
                    };
                    line.extend_from_slice(&rest[..taken]);
                    if line.len() > CHUNK_LINE_LIMIT {
                        let limit = thousands(CHUNK_LINE_LIMIT as u64);
                        (taken, lose(&format!("a chunk line over {limit} bytes"), views))
                    } else if !complete {
                        (taken, None)
                    } else if in_chunk_size {
                        (taken, Some(chunk_size(line, views)))
                    } else if trim_eol(line).is_empty() {
                        (taken, Some(State::Head(Vec::new())))
                    } else {
                        views.push("http", format!("trailer: {}", escaped(trim_eol(line), PREVIEW_BYTES)));
                        (taken, Some(State::Trailer(Vec::new())))
                    }
                }
                State::ChunkEnd(seen) => {
                    if rest[0] != b"\r\n"[usize::from(*seen)] {
                        (0, lose("chunk data not followed by CRLF", views))
                    } else if *seen == 1 {
                        (1, Some(State::ChunkSize(Vec::new())))
                    } else {
                        *seen += 1;
                        (1, None)
                    }
                }
                State::UntilClose { seen } => {
                    *seen += rest.len() as u64;
                    (rest.len(), None)
                }
                State::Opaque => (rest.len(), None),
            };
            if let Some(next) = next {
                self.state = next;
            }
            at += taken;
        }
        None
    }

    /// Which Engine.IO this connection speaks, once a request went to `/socket.io/`.
    pub fn eio(&self) -> Option<Version> {
        self.eio
    }

    /// The other direction's request went to `/socket.io/`: this direction's bodies are
    /// Engine.IO payloads too.
    pub fn set_eio(&mut self, version: Option<Version>) {
        self.eio = self.eio.or(version);
    }

    /// The bytes of a head not yet complete: when a 101 switches this direction to WebSocket,
    /// they were the first frames.
    pub fn take_held(&mut self) -> Vec<u8> {
        match &mut self.state {
            State::Head(head) => std::mem::take(head),
            _ => Vec::new(),
        }
    }

    /// What is still incomplete after the bytes seen so far, if anything.
    pub fn pending(&self) -> Option<String> {
        match &self.state {
            State::Head(head) if !head.is_empty() => Some(format!(
                "(head incomplete: {} bytes so far, no blank line yet)",
                thousands(head.len() as u64)
            )),
            State::Body { left, total, .. } => Some(format!(
                "(body incomplete: {} of {} bytes so far)",
                thousands(total - left),
                thousands(*total)
            )),
            State::ChunkData { left, size, .. } => Some(format!(
                "(chunk incomplete: {} of {} bytes so far)",
                thousands(size - left),
                thousands(*size)
            )),
            State::UntilClose { seen } => {
                Some(format!("(body: {} bytes so far; it ends when the connection closes)", thousands(*seen)))
            }
            _ => None,
        }
    }
}

/// Says why this view gives up, once; from here on the trace shows raw bytes only.
fn lose(why: &str, views: &mut Views) -> Option<State> {
    views.push("http", format!("{why}: not decoded from here on, raw bytes only"));
    Some(State::Opaque)
}

/// Takes what `bytes` hold of a body with `left` bytes to go, keeping the start in `preview`.
/// Returns the bytes taken, and whether the body is complete.
fn take_body(left: &mut u64, preview: &mut Vec<u8>, bytes: &[u8]) -> (usize, bool) {
    let taken = usize::try_from(*left).unwrap_or(usize::MAX).min(bytes.len());
    let room = PREVIEW_BYTES.saturating_sub(preview.len()).min(taken);
    preview.extend_from_slice(&bytes[..room]);
    *left -= taken as u64;
    (taken, *left == 0)
}

/// The start of a body of `total` bytes, escaped, and how many bytes were left out. A preview
/// cut short may end in the middle of a character: that character is left out too.
fn shown(preview: &[u8], total: u64) -> String {
    let whole =
        if (preview.len() as u64) < total { preview.len() - incomplete_tail(preview) } else { preview.len() };
    let rest = total - whole as u64;
    let cut = if rest > 0 { format!(" … {} more bytes", thousands(rest)) } else { String::new() };
    format!("{}{cut}", quoted(&preview[..whole], PREVIEW_BYTES))
}

/// How many bytes of `more` complete the head that starts with `head`, if they do: the head
/// ends with an empty line (`\r\n\r\n`; a bare `\n\n` is tolerated, as most servers do).
/// An empty line alone is a head too (with no lines; the caller skips it).
fn end_of_head(head: &[u8], more: &[u8]) -> Option<usize> {
    // Only the two bytes before a `\n` decide whether it ends an empty line.
    let mut before = [head.len().checked_sub(2).map(|i| head[i]), head.last().copied()];
    let mut len = head.len();
    for (i, &byte) in more.iter().enumerate() {
        len += 1;
        if byte == b'\n' {
            let blank = match before {
                [_, Some(b'\n')] | [Some(b'\n'), Some(b'\r')] => true,
                [_, Some(b'\r')] => len == 2,
                _ => len == 1,
            };
            if blank {
                return Some(i + 1);
            }
        }
        before = [before[1], Some(byte)];
    }
    None
}

/// Shows one whole head and returns what comes after it.
fn show_head(head: &[u8], views: &mut Views) -> AfterHead {
    let lines: Vec<&[u8]> = head.split(|&b| b == b'\n').map(trim_eol).filter(|l| !l.is_empty()).collect();
    let Some((start, headers)) = lines.split_first() else {
        // An empty line before a request: allowed, and ignored (RFC 9112, section 2.2).
        return AfterHead::Body(State::Head(Vec::new()));
    };
    for line in &lines {
        views.push("http", escaped(line, PREVIEW_BYTES * 2));
    }
    let header = |name: &str| {
        headers.iter().rev().find_map(|line| {
            let (n, v) = std::str::from_utf8(line).ok()?.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_ascii_lowercase())
        })
    };
    let status = start.strip_prefix(b"HTTP/").and_then(|rest| {
        let code = rest.split(|&b| b == b' ').nth(1)?;
        std::str::from_utf8(code).ok()?.parse::<u16>().ok()
    });
    let chunked =
        header("transfer-encoding").is_some_and(|v| v.rsplit(',').next().unwrap_or("").trim() == "chunked");
    let (note, next) = match (status, header("content-length")) {
        (Some(101), _) if header("upgrade").is_some_and(|v| v.contains("websocket")) => {
            ("switching to WebSocket: frames from here on, both ways".to_string(), AfterHead::WebSocket)
        }
        (Some(101), _) => {
            ("switching to a protocol this trace does not decode".to_string(), AfterHead::Body(State::Opaque))
        }
        (Some(100..=199 | 204 | 304), _) => ("no body".to_string(), AfterHead::Body(State::Head(Vec::new()))),
        _ if chunked => (
            "body: chunked, each chunk after its size in hex".to_string(),
            AfterHead::Body(State::ChunkSize(Vec::new())),
        ),
        (_, Some(length)) => match length.parse::<u64>() {
            Ok(0) => ("body: 0 bytes".to_string(), AfterHead::Body(State::Head(Vec::new()))),
            Ok(n) => (
                format!("body: {} bytes (Content-Length)", thousands(n)),
                AfterHead::Body(State::Body { left: n, total: n, preview: Vec::new() }),
            ),
            Err(_) => (
                "unreadable Content-Length: not decoded from here on".to_string(),
                AfterHead::Body(State::Opaque),
            ),
        },
        (Some(_), None) => (
            "body: until the connection closes (no length given)".to_string(),
            AfterHead::Body(State::UntilClose { seen: 0 }),
        ),
        (None, None) => ("body: none".to_string(), AfterHead::Body(State::Head(Vec::new()))),
    };
    views.push("http", note);
    next
}

/// A chunk-size line: its size in hex (extensions after `;` ignored); 0 is the last chunk.
fn chunk_size(line: &[u8], views: &mut Views) -> State {
    let text = String::from_utf8_lossy(trim_eol(line));
    let digits = text.split(';').next().unwrap_or("").trim();
    match u64::from_str_radix(digits, 16) {
        Ok(0) => {
            views.push("http", "chunk size 0: the last chunk, the body ends".to_string());
            State::Trailer(Vec::new())
        }
        Ok(size) => {
            views.push("http", format!("chunk size {digits} (hex) = {} bytes", thousands(size)));
            State::ChunkData { left: size, size, preview: Vec::new() }
        }
        Err(_) => {
            let why = format!("chunk size line {} is not hex", quoted(line, PREVIEW_BYTES));
            views.push("http", format!("{why}: not decoded from here on, raw bytes only"));
            State::Opaque
        }
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}
