//! Reading requests: where one ends and the next begins (RFC 9112).
//!
//! A TCP connection carries bytes, not requests. A client may send two requests in one write
//! (pipelining), or a body in many small pieces, so the bytes that arrive with one `read` are
//! not "a request": [`RequestReader`] keeps every byte of the connection in one buffer and cuts
//! requests out of it by the rules of the protocol, never by how the bytes happened to arrive.
//!
//! Those rules (RFC 9112 §6.3) are strict on purpose. A body is exactly `Content-Length` bytes:
//! the header must be digits only, and two that disagree end the connection. A reader that
//! *guesses* (takes the first of two lengths, accepts `+44`, or leaves a GET's body in the buffer)
//! can be made to see a request that the client's proxy or its author never saw: request
//! smuggling. When in doubt we answer an error and close, and never read on.

use super::response::{Status, BAD_REQUEST, HEADERS_TOO_LARGE, NOT_IMPLEMENTED, PAYLOAD_TOO_LARGE};

/// The request line and headers together may not exceed this. Over it: 431.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Headers per request. Over it: 431.
pub const MAX_HEADERS: usize = 64;

/// One request: its head, and its body (empty when it has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The request target in origin form: `/path?query` (an absolute-form target such as
    /// `http://host:8080/poll` is cut down to this, its authority becoming [`Request::host`]).
    pub target: String,
    /// 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub minor_version: u8,
    pub headers: Vec<(String, String)>,
    /// Who the client thinks it is talking to: the target's authority, or else the `Host` header.
    pub host: Option<String>,
    pub body: Vec<u8>,
    /// The head as it arrived, byte for byte: what the lab's wire panel shows of it.
    pub raw_head: Vec<u8>,
    /// Bytes read past this request that are not HTTP: filled only by [`super::read_request`], for
    /// a connection that switches protocols after its one request (lesson 7's handshake).
    pub tail: Vec<u8>,
}

impl Request {
    /// The first header called `name` (case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`, in order.
    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// True if header `name` is a comma-separated list holding `token` (case-insensitive), as
    /// in `Connection: keep-alive, Upgrade` (what Firefox sends).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.all(name).flat_map(|v| v.split(',')).any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// May the connection carry another request after this one? HTTP/1.1 says yes unless the
    /// client says `close`; HTTP/1.0 says no unless the client asks for `keep-alive`.
    pub fn keep_alive(&self) -> bool {
        match self.minor_version {
            0 => self.has_token("Connection", "keep-alive"),
            _ => !self.has_token("Connection", "close"),
        }
    }

    /// Does this request change something on the server? Those are the ones another web site
    /// must not be able to send from a visitor's browser (see `super::site`). Every request
    /// under `/socket.io/` counts: its polling GET opens a session and reads a member's messages.
    pub fn changes_state(&self) -> bool {
        !matches!(self.method.as_str(), "GET" | "HEAD" | "OPTIONS")
            || self.has_token("Upgrade", "websocket")
            || self.path().starts_with(crate::sio::PATH)
    }
}

/// Why no request could be read.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The client closed, reset, or stayed idle between requests; nobody to answer.
    Gone,
    /// Answer with this status and reason, then close: the bytes that follow cannot be trusted.
    Bad(Status, String),
}

fn bad(status: Status, why: impl Into<String>) -> ReadError {
    ReadError::Bad(status, why.into())
}

/// Cuts requests out of a connection's bytes. Feed it what each `read` returns; it hands out
/// whole requests, in order, and keeps whatever follows for the next one.
#[derive(Debug)]
pub struct RequestReader {
    buffer: Vec<u8>,
    max_body: usize,
    /// A head already parsed whose body is still arriving, and the body's length.
    pending: Option<(Request, usize)>,
}

impl RequestReader {
    /// A reader that refuses bodies over `max_body` bytes (413).
    pub fn new(max_body: usize) -> Self {
        RequestReader { buffer: Vec::new(), max_body, pending: None }
    }

    /// Adds bytes as they came off the socket.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// True while no byte of a next request has arrived.
    pub fn is_empty(&self) -> bool {
        self.buffer.is_empty() && self.pending.is_none()
    }

    /// How many bytes are buffered, not yet handed out.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// How many more bytes this reader will take before it must hand out a request or an error:
    /// what bounds the buffer, so a client can never make it grow past the limits.
    pub fn room(&self) -> usize {
        let limit = match &self.pending {
            Some((_, length)) => *length,
            None => MAX_HEAD_BYTES + 1,
        };
        limit.saturating_sub(self.buffer.len()).max(1)
    }

    /// The next whole request, `None` while more bytes are needed.
    pub fn next_request(&mut self) -> Result<Option<Request>, ReadError> {
        if self.pending.is_none() {
            let Some((mut request, end)) = parse_head(&self.buffer)? else {
                if self.buffer.len() > MAX_HEAD_BYTES {
                    return Err(bad(
                        HEADERS_TOO_LARGE,
                        format!("the request head is over {MAX_HEAD_BYTES} bytes"),
                    ));
                }
                return Ok(None);
            };
            let length = body_length(&request, self.max_body)?;
            request.raw_head = self.buffer.drain(..end).collect();
            self.pending = Some((request, length));
        }
        match self.pending.take() {
            Some((mut request, length)) if self.buffer.len() >= length => {
                // Whatever the method: the body is taken off the connection here, so it can
                // never be read as the next request.
                request.body = self.buffer.drain(..length).collect();
                Ok(Some(request))
            }
            pending => {
                self.pending = pending;
                Ok(None)
            }
        }
    }

    /// The bytes not yet handed out (after an upgrade, the first bytes of the next protocol).
    pub fn into_leftover(self) -> Vec<u8> {
        self.buffer
    }
}

/// `Some((request, head length))` once `buffer` starts with a whole head; `None` while more is
/// needed. The request's body is left empty: see [`body_length`].
pub fn parse_head(buffer: &[u8]) -> Result<Option<(Request, usize)>, ReadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let end = match parsed.parse(buffer) {
        Ok(httparse::Status::Complete(end)) => end,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(bad(HEADERS_TOO_LARGE, format!("more than {MAX_HEADERS} headers")))
        }
        Err(e) => return Err(bad(BAD_REQUEST, format!("malformed request: {e}"))),
    };
    if end > MAX_HEAD_BYTES {
        return Err(bad(HEADERS_TOO_LARGE, format!("the request head is over {MAX_HEAD_BYTES} bytes")));
    }
    let headers = parsed
        .headers
        .iter()
        .map(|h| {
            let value = std::str::from_utf8(h.value)
                .map_err(|_| bad(BAD_REQUEST, format!("header {} is not UTF-8", h.name)))?;
            Ok((h.name.to_string(), value.trim().to_string()))
        })
        .collect::<Result<Vec<_>, ReadError>>()?;
    let (target, authority) = origin_form(parsed.path.unwrap_or_default())?;
    let mut request = Request {
        method: parsed.method.unwrap_or_default().to_string(),
        target,
        minor_version: parsed.version.unwrap_or(1),
        headers,
        host: None,
        body: Vec::new(),
        raw_head: Vec::new(),
        tail: Vec::new(),
    };
    // RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host; an absolute-form target's
    // authority overrides it.
    let hosts: Vec<&str> = request.all("Host").collect();
    if hosts.len() > 1 {
        return Err(bad(BAD_REQUEST, "more than one Host header"));
    }
    if hosts.is_empty() && request.minor_version == 1 {
        return Err(bad(BAD_REQUEST, "an HTTP/1.1 request needs a Host header"));
    }
    request.host = authority.or_else(|| hosts.first().map(|h| h.to_string()));
    Ok(Some((request, end)))
}

/// `/path?q` stays; `http://host:port/path?q` becomes `/path?q` and the authority `host:port`.
fn origin_form(target: &str) -> Result<(String, Option<String>), ReadError> {
    let Some(rest) = target.strip_prefix("http://").or_else(|| target.strip_prefix("https://")) else {
        return Ok((target.to_string(), None));
    };
    let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    if authority.is_empty() || authority.contains('@') {
        return Err(bad(BAD_REQUEST, format!("a request target without a usable host: {target}")));
    }
    let path = if path.starts_with('/') { path.to_string() } else { format!("/{path}") };
    Ok((path, Some(authority.to_string())))
}

/// How long the body of `request` is (RFC 9112 §6.3), or why the connection must close.
pub fn body_length(request: &Request, max_body: usize) -> Result<usize, ReadError> {
    let lengths: Vec<&str> = request.all("Content-Length").collect();
    if request.all("Transfer-Encoding").next().is_some() {
        if !lengths.is_empty() {
            // The classic smuggling pair: two framings, and two parties that pick differently.
            return Err(bad(
                BAD_REQUEST,
                "both Transfer-Encoding and Content-Length: which one frames the body?",
            ));
        }
        return Err(bad(
            NOT_IMPLEMENTED,
            "request bodies with Transfer-Encoding are not supported: send Content-Length",
        ));
    }
    let Some(first) = lengths.first() else { return Ok(0) };
    // Digits only: no sign, no spaces inside, no list. `+44` and `44, 45` are refused.
    if !first.bytes().all(|b| b.is_ascii_digit()) || first.is_empty() || first.len() > 18 {
        return Err(bad(BAD_REQUEST, format!("Content-Length must be digits only, not {first:?}")));
    }
    if lengths.iter().any(|other| other != first) {
        return Err(bad(BAD_REQUEST, format!("Content-Length headers that differ: {}", lengths.join(", "))));
    }
    let length: usize =
        first.parse().map_err(|_| bad(BAD_REQUEST, format!("bad Content-Length {first:?}")))?;
    if length > max_body {
        return Err(bad(PAYLOAD_TOO_LARGE, format!("a body of {length} bytes; the limit is {max_body}")));
    }
    Ok(length)
}

#[cfg(test)]
mod tests;
