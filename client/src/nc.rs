//! `cargo client nc HOST:PORT`: a tiny raw client, for machines without `nc`.
//!
//! Lines typed (or piped) go out as they are; bytes that come in are printed. Nothing more: no
//! protocol, no framing, which is what makes it useful for looking at one. Two things it does on
//! purpose:
//!
//! - **End of input half-closes.** Ctrl-D (or the end of a pipe) sends a FIN with
//!   `shutdown(Write)`: the server reads 0, "the client is done talking", and may still answer;
//!   we print what comes until it closes its side too. `nc -N` does the same.
//! - **Control characters are escaped.** A terminal obeys the bytes it prints (ESC `[2J` clears
//!   the screen), so a peer must not get raw bytes onto ours: every control character except
//!   newline and tab is shown as `\xNN` (or `\r`), and bytes that are not UTF-8 as `\xNN`.

use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;

use common::trace::dump::incomplete_tail;
use common::trace::{Layer, Traced};
use log::info;

/// Connects to `addr`, sends every line of `input`, prints what arrives to `output` until the
/// peer closes. Returns the number of bytes received.
pub fn run(addr: &str, input: impl BufRead + Send + 'static, output: &mut impl Write) -> Result<u64, String> {
    let stream = common::tls::client::connect(addr, "...", Layer::Lines).map_err(|e| {
        match e.split_once(": start it") {
            Some((no_server, _)) => format!("{no_server}: is the server running, and is that its address?"),
            None => e,
        }
    })?;
    info!("connected to {addr}; type lines to send them, Ctrl-D to finish sending");
    let mut sending = stream.try_clone().map_err(|e| format!("cannot clone the socket: {e}"))?;
    // Not joined: at the end this thread may still wait for a key that never comes.
    thread::spawn(move || {
        let mut input = input;
        let mut line = Vec::new();
        // Bytes, not `String`s: whatever was typed goes out unchanged.
        while matches!(input.read_until(b'\n', &mut line), Ok(1..)) {
            if sending.write_all(&line).is_err() {
                return;
            }
            line.clear();
        }
        info!("end of input: shutdown(Write), the server reads end of file");
        let _ = sending.shutdown(Shutdown::Write);
    });
    receive(stream, output)
}

/// Prints everything the peer sends, escaped, until it closes.
fn receive(mut stream: Traced<TcpStream>, output: &mut impl Write) -> Result<u64, String> {
    let mut received = 0u64;
    let mut pending = Vec::new(); // the start of a character that the next read completes
    let mut buf = [0u8; 4096];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("the connection broke: {}", common::net::describe(&e))),
        };
        if n == 0 {
            // Whatever is left can no longer become a character.
            let rest = escape(&pending, true);
            output.write_all(rest.as_bytes()).and_then(|()| output.flush()).map_err(|e| e.to_string())?;
            info!("the server closed the connection after {received} bytes");
            return Ok(received);
        }
        received += n as u64;
        pending.extend_from_slice(&buf[..n]);
        let shown = escape(&pending, false);
        let used = pending.len() - incomplete_tail(&pending);
        pending.drain(..used);
        output.write_all(shown.as_bytes()).and_then(|()| output.flush()).map_err(|e| e.to_string())?;
    }
}

/// `bytes` as text that is safe to print: UTF-8 as it is, except control characters and bytes
/// that are not UTF-8. With `all` false, an incomplete character at the end is left out.
pub fn escape(bytes: &[u8], all: bool) -> String {
    let end = if all { bytes.len() } else { bytes.len() - incomplete_tail(bytes) };
    let mut out = String::with_capacity(end);
    for chunk in bytes[..end].utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' | '\t' => out.push(c),
                '\r' => out.push_str("\\r"),
                // C0, DEL, C1: ESC, BEL, backspace and the like, which a terminal would obey.
                c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                // Bidirectional overrides, which can make `txt.exe` read `exe.txt`.
                '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => {
                    out.push_str(&format!("\\u{{{:x}}}", c as u32))
                }
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn control_characters_and_broken_utf8_are_shown_not_obeyed() {
        assert_eq!(escape(b"hi\tthere\n", true), "hi\tthere\n");
        assert_eq!(escape(b"\x1b[2Jgone\x07\r\n", true), "\\x1b[2Jgone\\x07\\r\n");
        assert_eq!(escape("안녕".as_bytes(), true), "안녕");
        assert_eq!(escape(b"caf\xe9!", true), "caf\\xe9!");
        // "안" is three bytes: two of them wait for the third instead of being shown as garbage.
        let han = "안".as_bytes();
        assert_eq!(escape(&[b'a', han[0], han[1]], false), "a");
        assert_eq!(escape(&[b'a', han[0], han[1]], true), "a\\xec\\x95");
        assert_eq!(escape("\u{9b}x\u{202e}".as_bytes(), true), "\\x9bx\\u{202e}");
    }
}
