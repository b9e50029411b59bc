//! Writing responses: a status line, headers, and a body whose end the client can find.

use std::io::{self, Write};

/// An HTTP status: code and reason phrase.
pub type Status = (u16, &'static str);
pub const OK: Status = (200, "OK");
pub const BAD_REQUEST: Status = (400, "Bad Request");
pub const FORBIDDEN: Status = (403, "Forbidden");
pub const NOT_FOUND: Status = (404, "Not Found");
pub const METHOD_NOT_ALLOWED: Status = (405, "Method Not Allowed");
pub const REQUEST_TIMEOUT: Status = (408, "Request Timeout");
pub const PAYLOAD_TOO_LARGE: Status = (413, "Content Too Large");
pub const UNSUPPORTED_MEDIA_TYPE: Status = (415, "Unsupported Media Type");
pub const MISDIRECTED_REQUEST: Status = (421, "Misdirected Request");
pub const UPGRADE_REQUIRED: Status = (426, "Upgrade Required");
pub const HEADERS_TOO_LARGE: Status = (431, "Request Header Fields Too Large");
pub const NOT_IMPLEMENTED: Status = (501, "Not Implemented");
pub const SERVICE_UNAVAILABLE: Status = (503, "Service Unavailable");

/// Writes a whole response. It always carries `Content-Length`: without it, the client cannot
/// tell where the body ends (the most reported bug of hand-written HTTP servers). With
/// `head_only` (the answer to a HEAD request) the body is left out but its length still stated.
pub fn write_response(
    stream: &mut impl Write,
    status: Status,
    headers: &[(&str, &str)],
    body: &[u8],
    head_only: bool,
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\nContent-Length: {}\r\n", status.0, status.1, body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut response = head.into_bytes();
    if !head_only {
        response.extend_from_slice(body);
    }
    stream.write_all(&response)?;
    stream.flush()
}

/// The one-line plain-text body of an error: what was wrong, and what to do about it.
pub fn error_body(status: Status, why: &str) -> String {
    format!("{} {}: {why}\n", status.0, status.1)
}
