//! Newline framing: how a stream of bytes becomes a sequence of messages.
//!
//! TCP delivers bytes, not messages. One `read` may return half a line, or three lines and the
//! start of a fourth; on loopback everything tends to arrive at once, which hides the bug until
//! the first real network splits a message in two. So every message here ends with `\n`, and
//! [`LineReader`] keeps reading until it has a whole line.
//!
//! Two rules make it safe against a hostile or broken peer:
//! - a line longer than the limit is refused (and skipped up to its `\n`), so nobody can make us
//!   buffer gigabytes while waiting for a newline that never comes;
//! - a line that is not valid UTF-8 is refused as a whole, and checked only once the line is
//!   complete: a multi-byte character split across two reads is *not* an error.
//!
//! Both refusals leave the reader ready for the next line, so the caller decides whether the
//! connection stays open.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};

/// What a chat server answers to a line that is not UTF-8. The usual cause is a terminal in a
/// legacy code page: the Windows console before `chcp 65001` (Windows Terminal is UTF-8 already).
pub const INVALID_UTF8: &str =
    "that line was not valid UTF-8: not sent (is your terminal set to UTF-8? on Windows, `chcp 65001`)";

/// Why a line could not be read.
#[derive(Debug)]
pub enum LineError {
    /// The line grew past the limit; its bytes up to the next `\n` are skipped.
    TooLong { limit: usize },
    /// The line is not valid UTF-8; `valid_up_to` bytes were fine.
    InvalidUtf8 { valid_up_to: usize },
    /// The peer closed the connection after sending part of a line.
    Truncated { bytes: usize },
    /// The socket failed (reset, timeout, ...).
    Io(io::Error),
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::TooLong { limit } => write!(f, "line longer than {limit} bytes"),
            LineError::InvalidUtf8 { valid_up_to } => {
                write!(f, "line is not valid UTF-8 (bad byte at offset {valid_up_to})")
            }
            LineError::Truncated { bytes } => {
                write!(f, "connection closed in the middle of a line ({bytes} bytes without a newline)")
            }
            LineError::Io(e) => write!(f, "{}", crate::net::describe(e)),
        }
    }
}

impl std::error::Error for LineError {}

impl From<io::Error> for LineError {
    fn from(e: io::Error) -> Self {
        LineError::Io(e)
    }
}

/// Reads `\n`-terminated UTF-8 lines of at most `limit` bytes from any byte stream.
pub struct LineReader<R> {
    inner: BufReader<R>,
    limit: usize,
    line: Vec<u8>,
    /// Set after a too-long line: drop bytes until its end.
    skipping: bool,
}

impl<R: Read> LineReader<R> {
    pub fn new(inner: R, limit: usize) -> Self {
        Self { inner: BufReader::new(inner), limit, line: Vec::new(), skipping: false }
    }

    /// The next line without its `\n` (a `\r` before it, as telnet sends, is dropped too).
    /// `Ok(None)` means the peer closed the connection cleanly, between two lines.
    pub fn read_line(&mut self) -> Result<Option<String>, LineError> {
        loop {
            let available = match self.inner.fill_buf() {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(LineError::Io(e)),
            };
            if available.is_empty() {
                // `read` returned 0: the peer closed its side. Between lines that is a goodbye;
                // in the middle of one, the rest of the message is lost.
                let bytes = self.line.len();
                self.line.clear();
                return if bytes == 0 || self.skipping {
                    self.skipping = false;
                    Ok(None)
                } else {
                    Err(LineError::Truncated { bytes })
                };
            }
            let newline = available.iter().position(|&b| b == b'\n');
            let take = newline.map_or(available.len(), |i| i + 1);
            if !self.skipping {
                self.line.extend_from_slice(&available[..newline.unwrap_or(take)]);
            }
            self.inner.consume(take);

            if self.skipping {
                if newline.is_some() {
                    self.skipping = false;
                }
                continue;
            }
            if self.line.len() > self.limit {
                self.line.clear();
                self.skipping = newline.is_none();
                return Err(LineError::TooLong { limit: self.limit });
            }
            if newline.is_some() {
                return self.take_line().map(Some);
            }
        }
    }

    /// The underlying stream, for callers that also write to it.
    pub fn get_ref(&self) -> &R {
        self.inner.get_ref()
    }

    /// The underlying stream, mutably (a one-thread server registers it for readiness).
    /// Reading from it directly would skip what is buffered here.
    pub fn get_mut(&mut self) -> &mut R {
        self.inner.get_mut()
    }

    fn take_line(&mut self) -> Result<String, LineError> {
        let mut bytes = std::mem::take(&mut self.line);
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        String::from_utf8(bytes)
            .map_err(|e| LineError::InvalidUtf8 { valid_up_to: e.utf8_error().valid_up_to() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out its bytes `step` at a time, like a slow network.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn lines(data: &[u8], step: usize, limit: usize) -> Vec<Result<String, String>> {
        let mut reader = LineReader::new(Trickle { data, step }, limit);
        let mut out = Vec::new();
        for _ in 0..100 {
            match reader.read_line() {
                Ok(Some(line)) => out.push(Ok(line)),
                Ok(None) => return out,
                Err(e) => out.push(Err(e.to_string())),
            }
        }
        panic!("reader never reached the end");
    }

    #[test]
    fn korean_split_one_byte_at_a_time_arrives_whole() {
        let text = "안녕하세요, 세계!\n둘째 줄\r\n";
        for step in [1, 2, 3, 5, 64] {
            assert_eq!(
                lines(text.as_bytes(), step, 100),
                vec![Ok("안녕하세요, 세계!".into()), Ok("둘째 줄".into())]
            );
        }
    }

    #[test]
    fn too_long_line_is_refused_and_the_next_line_still_reads() {
        let mut data = vec![b'x'; 50];
        data.extend_from_slice(b"\nok\n");
        for step in [1, 7, 100] {
            assert_eq!(
                lines(&data, step, 10),
                vec![Err("line longer than 10 bytes".into()), Ok("ok".into())]
            );
        }
        // Exactly at the limit is fine.
        assert_eq!(lines(b"0123456789\n", 3, 10), vec![Ok("0123456789".into())]);
    }

    #[test]
    fn invalid_utf8_is_refused_and_the_next_line_still_reads() {
        assert_eq!(
            lines(b"ab\xff\xfe\nfine\n", 1, 100),
            vec![Err("line is not valid UTF-8 (bad byte at offset 2)".into()), Ok("fine".into())]
        );
    }

    #[test]
    fn close_in_the_middle_of_a_line_is_reported() {
        assert_eq!(
            lines(b"whole\nhalf", 4, 100),
            vec![
                Ok("whole".into()),
                Err("connection closed in the middle of a line (4 bytes without a newline)".into())
            ]
        );
    }
}
