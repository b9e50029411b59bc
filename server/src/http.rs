//! Just enough HTTP/1.1 to read one request and write one response over a `TcpStream`.
//!
//! `httparse` does the parsing (a hand-written HTTP parser is a bug farm); this module adds what
//! a server on the open network needs around it: a size limit on the request head, a deadline for
//! the whole head (a client that sends one byte a second must not hold a thread forever), and
//! responses that always say how long they are.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The request line and headers together may not exceed this. Over it: 431.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Headers per request. Over it: 431.
pub const MAX_HEADERS: usize = 64;
/// The whole request head must arrive within this time. Over it: 408.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed request head, plus whatever bytes came after it.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    /// The request target as sent: `/path?query`.
    pub target: String,
    pub headers: Vec<(String, String)>,
    /// Bytes read past the blank line that ends the head: the start of a body, or of the
    /// next protocol after an upgrade. They must not be lost.
    pub tail: Vec<u8>,
}

impl Request {
    /// The first header called `name` (case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// True if header `name` is a comma-separated list holding `token` (case-insensitive), as
    /// in `Connection: keep-alive, Upgrade` (what Firefox sends).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

/// Why no request could be read.
#[derive(Debug)]
pub enum ReadError {
    /// The client closed (or reset) before sending a whole head; nobody to answer.
    Gone,
    /// Answer with this status and reason, then close.
    Bad(Status, String),
}

/// Reads the body of `request` (announced by `Content-Length`), at most `max` bytes.
pub fn read_body(stream: &mut TcpStream, request: &mut Request, max: usize) -> Result<Vec<u8>, ReadError> {
    if request.header("Transfer-Encoding").is_some() {
        let why = "chunked request bodies are not supported: send Content-Length".to_string();
        return Err(ReadError::Bad(NOT_IMPLEMENTED, why));
    }
    let Some(length) = request.header("Content-Length") else {
        return Err(ReadError::Bad(LENGTH_REQUIRED, "a body needs a Content-Length header".into()));
    };
    let length: usize =
        length.parse().map_err(|_| ReadError::Bad(BAD_REQUEST, format!("bad Content-Length {length:?}")))?;
    if length > max {
        return Err(ReadError::Bad(
            PAYLOAD_TOO_LARGE,
            format!("a body of {length} bytes; the limit is {max}"),
        ));
    }
    // Part of the body may have arrived with the head.
    let mut body = std::mem::take(&mut request.tail);
    if body.len() > length {
        request.tail = body.split_off(length); // the start of the next request
    }
    let start = body.len();
    body.resize(length, 0);
    stream.set_read_timeout(Some(HEAD_TIMEOUT)).map_err(|_| ReadError::Gone)?;
    stream.read_exact(&mut body[start..]).map_err(|e| match e.kind() {
        _ if common::net::is_timeout(&e) => ReadError::Bad(REQUEST_TIMEOUT, "the body took too long".into()),
        _ => ReadError::Gone,
    })?;
    Ok(body)
}

/// The value of query parameter `name` in `target` (`/path?a=1&b=x%20y`), percent-decoded.
/// `Some(Err(..))` when it is there but is not valid UTF-8 once decoded.
pub fn query(target: &str, name: &str) -> Option<Result<String, String>> {
    let (_, query) = target.split_once('?')?;
    let value = query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })?;
    Some(common::percent::decode(value).ok_or_else(|| format!("query parameter {name} is not valid UTF-8")))
}

/// An HTTP status: code and reason phrase.
pub type Status = (u16, &'static str);
pub const OK: Status = (200, "OK");
pub const BAD_REQUEST: Status = (400, "Bad Request");
pub const NOT_FOUND: Status = (404, "Not Found");
pub const METHOD_NOT_ALLOWED: Status = (405, "Method Not Allowed");
pub const REQUEST_TIMEOUT: Status = (408, "Request Timeout");
pub const FORBIDDEN: Status = (403, "Forbidden");
pub const LENGTH_REQUIRED: Status = (411, "Length Required");
pub const PAYLOAD_TOO_LARGE: Status = (413, "Content Too Large");
pub const UPGRADE_REQUIRED: Status = (426, "Upgrade Required");
pub const HEADERS_TOO_LARGE: Status = (431, "Request Header Fields Too Large");
pub const NOT_IMPLEMENTED: Status = (501, "Not Implemented");
pub const SERVICE_UNAVAILABLE: Status = (503, "Service Unavailable");

/// Reads one request head from `stream`, within [`HEAD_TIMEOUT`] and [`MAX_HEAD_BYTES`].
pub fn read_request(stream: &mut TcpStream) -> Result<Request, ReadError> {
    read_request_within(stream, HEAD_TIMEOUT, HEAD_TIMEOUT)
}

/// Reads one request head: the first byte must come within `idle` (an idle persistent
/// connection is then closed without a word), the whole head within `head` of that byte.
pub fn read_request_within(
    stream: &mut TcpStream,
    idle: Duration,
    head: Duration,
) -> Result<Request, ReadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    // Waiting for a request to start is not the same as a request that is slow to finish.
    stream.set_read_timeout(Some(idle)).map_err(|_| ReadError::Gone)?;
    let first = loop {
        match stream.read(&mut chunk) {
            Ok(0) => return Err(ReadError::Gone),
            Ok(n) => break n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(ReadError::Gone),
        }
    };
    buf.extend_from_slice(&chunk[..first]);
    if let Some(request) = parse(&buf)? {
        return Ok(request);
    }
    let deadline = Instant::now() + head;
    loop {
        // A deadline for the whole head, not for each read: a per-read timeout is reset by every
        // byte, and a client sending one byte every 9 seconds would never time out.
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ReadError::Bad(REQUEST_TIMEOUT, "the request head took too long".into()));
        }
        stream.set_read_timeout(Some(left)).map_err(|_| ReadError::Gone)?;
        let n = match stream.read(&mut chunk) {
            Ok(0) => return Err(ReadError::Gone),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if common::net::is_timeout(&e) => {
                return Err(ReadError::Bad(REQUEST_TIMEOUT, "the request head took too long".into()))
            }
            Err(_) => return Err(ReadError::Gone),
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some(request) = parse(&buf)? {
            return Ok(request);
        }
        if buf.len() > MAX_HEAD_BYTES {
            let why = format!("the request head is over {MAX_HEAD_BYTES} bytes");
            return Err(ReadError::Bad(HEADERS_TOO_LARGE, why));
        }
    }
}

/// `Some(request)` once `buf` holds a whole head; `None` while more is needed.
fn parse(buf: &[u8]) -> Result<Option<Request>, ReadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let end = match request.parse(buf) {
        Ok(httparse::Status::Complete(end)) => end,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            let why = format!("more than {MAX_HEADERS} headers");
            return Err(ReadError::Bad(HEADERS_TOO_LARGE, why));
        }
        Err(e) => return Err(ReadError::Bad(BAD_REQUEST, format!("malformed request: {e}"))),
    };
    if end > MAX_HEAD_BYTES {
        let why = format!("the request head is over {MAX_HEAD_BYTES} bytes");
        return Err(ReadError::Bad(HEADERS_TOO_LARGE, why));
    }
    let headers = request
        .headers
        .iter()
        .map(|h| {
            let value = std::str::from_utf8(h.value)
                .map_err(|_| ReadError::Bad(BAD_REQUEST, format!("header {} is not UTF-8", h.name)))?;
            Ok((h.name.to_string(), value.trim().to_string()))
        })
        .collect::<Result<_, ReadError>>()?;
    Ok(Some(Request {
        method: request.method.unwrap_or_default().to_string(),
        target: request.path.unwrap_or_default().to_string(),
        headers,
        tail: buf[end..].to_vec(),
    }))
}

/// Writes a whole response. It always carries `Content-Length`: without it, the client cannot
/// tell where the body ends (the most reported bug of hand-written HTTP servers).
pub fn respond(
    stream: &mut impl Write,
    status: Status,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\nContent-Length: {}\r\n", status.0, status.1, body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut response = head.into_bytes();
    response.extend_from_slice(body);
    stream.write_all(&response)?;
    stream.flush()
}

/// An error response with a one-line plain-text body that says what was wrong, then close.
pub fn refuse(stream: &mut TcpStream, status: Status, why: &str, headers: &[(&str, &str)]) {
    let mut all = vec![("Content-Type", "text/plain; charset=utf-8"), ("Connection", "close")];
    all.extend_from_slice(headers);
    let _ = respond(stream, status, &all, format!("{} {}: {why}\n", status.0, status.1).as_bytes());
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_is_parsed_only_when_whole_and_the_tail_is_kept() {
        let head = b"GET /chat?room=x HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n\r\n\x81\x05";
        assert!(parse(&head[..20]).unwrap().is_none());
        let request = parse(head).unwrap().unwrap();
        assert_eq!((request.method.as_str(), request.path()), ("GET", "/chat"));
        assert!(request.has_token("connection", "upgrade"));
        assert!(!request.has_token("connection", "close"));
        assert_eq!(request.header("HOST"), Some("a"));
        assert_eq!(request.tail, b"\x81\x05");
    }

    #[test]
    fn query_parameters_are_found_and_decoded() {
        let target = "/poll?room=%EA%B0%80%EB%82%98&since=42&text=a+b%21&bad=%FF";
        assert_eq!(query(target, "room"), Some(Ok("가나".to_string())));
        assert_eq!(query(target, "since"), Some(Ok("42".to_string())));
        assert_eq!(query(target, "text"), Some(Ok("a b!".to_string())));
        assert!(matches!(query(target, "bad"), Some(Err(_))));
        assert_eq!(query(target, "missing"), None);
        assert_eq!(query("/poll", "room"), None);
    }

    #[test]
    fn malformed_and_oversized_heads_get_their_status() {
        let status = |buf: &[u8]| match parse(buf) {
            Err(ReadError::Bad(status, _)) => status.0,
            other => panic!("{other:?}"),
        };
        assert_eq!(status(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"), 400);
        let many: String = (0..MAX_HEADERS + 1).map(|i| format!("h{i}: v\r\n")).collect();
        assert_eq!(status(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()), 431);
    }
}
