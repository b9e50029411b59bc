//! Bytes made safe to print: the hex + text dump, and escaped text for the decoded views.
//!
//! A peer chooses every byte we print. Sent to a terminal as they are, bytes like ESC (`0x1b`)
//! start escape sequences that move the cursor, recolour, retitle the window, or on some
//! terminals write files; a lone `\r` overwrites a line so the log lies. So nothing from a peer
//! reaches the terminal raw: the dump's text column shows printable ASCII and `.` for everything
//! else, and decoded text escapes every control character (C0, DEL, C1), the Unicode marks that
//! reorder or hide text, and every byte that is not UTF-8.

use std::fmt::Write;

/// Bytes of one read or write shown in the hex dump; the rest is counted, not shown.
pub const DUMP_BYTES: usize = 256;

/// Bytes of a payload, a line or a body shown as escaped text in a decoded view.
pub const PREVIEW_BYTES: usize = 120;

/// Bytes per dump row: offset, 16 bytes in hex, the same 16 as text.
const ROW: usize = 16;

/// Appends the dump of at most `limit` bytes of `bytes` to `out`, one row per 16 bytes:
///
/// ```text
///    0000  47 45 54 20 2f 20 48 54  54 50 2f 31 2e 31 0d 0a  |GET / HTTP/1.1..|
/// ```
///
/// and, when `bytes` is longer, a last line that says how many bytes were left out.
pub fn hex_dump(out: &mut String, bytes: &[u8], limit: usize) {
    let shown = &bytes[..bytes.len().min(limit)];
    for (row, chunk) in shown.chunks(ROW).enumerate() {
        let _ = write!(out, "   {:04x} ", row * ROW);
        for column in 0..ROW {
            // A wider gap after 8 bytes, as `hexdump -C` does: easier to count along a row.
            let gap = if column == ROW / 2 { "  " } else { " " };
            match chunk.get(column) {
                Some(byte) => {
                    let _ = write!(out, "{gap}{byte:02x}");
                }
                None => {
                    out.push_str(gap);
                    out.push_str("  ");
                }
            }
        }
        out.push_str("  |");
        out.extend(chunk.iter().map(|&byte| if is_printable_ascii(byte) { byte as char } else { '.' }));
        out.push_str("|\n");
    }
    if bytes.len() > shown.len() {
        let _ = writeln!(out, "   … {} more bytes", thousands((bytes.len() - shown.len()) as u64));
    }
}

fn is_printable_ascii(byte: u8) -> bool {
    (0x20..=0x7e).contains(&byte)
}

/// `bytes` as text that is safe to print, in double quotes, cut after `limit` bytes with a
/// count of the rest: `"hello\r\n"`, `"\x1b[2J"`, `"aaaa" … 4,096 more bytes`.
pub fn quoted(bytes: &[u8], limit: usize) -> String {
    let shown = head(bytes, limit);
    let mut out = String::from("\"");
    escape_into(&mut out, shown, true);
    out.push('"');
    if bytes.len() > shown.len() {
        let _ = write!(out, " … {} more bytes", thousands((bytes.len() - shown.len()) as u64));
    }
    out
}

/// `bytes` as text that is safe to print, unquoted (for HTTP head lines, which read best as
/// they were sent), cut after `limit` bytes like [`quoted`].
pub fn escaped(bytes: &[u8], limit: usize) -> String {
    let shown = head(bytes, limit);
    let mut out = String::new();
    escape_into(&mut out, shown, false);
    if bytes.len() > shown.len() {
        let _ = write!(out, " … {} more bytes", thousands((bytes.len() - shown.len()) as u64));
    }
    out
}

/// The first `limit` bytes of `bytes` at most, not ending in the middle of a character: cut
/// after two of its three bytes, a Hangul syllable showed as `\xed\x84`. A character the limit
/// would cut is left out whole, and counted with the bytes left out.
pub fn head(bytes: &[u8], limit: usize) -> &[u8] {
    if bytes.len() <= limit {
        return bytes;
    }
    let shown = &bytes[..limit];
    &shown[..limit - incomplete_tail(shown)]
}

/// How many bytes at the end of `bytes` are the start of a UTF-8 character still to come (a
/// character is at most 4 bytes, so at most 3 can be waiting).
pub fn incomplete_tail(bytes: &[u8]) -> usize {
    let waiting = |i: usize| {
        std::str::from_utf8(&bytes[i..]).is_err_and(|e| e.valid_up_to() == 0 && e.error_len().is_none())
    };
    (bytes.len().saturating_sub(3)..bytes.len()).find(|&i| waiting(i)).map_or(0, |i| bytes.len() - i)
}

/// The escaping itself: printable characters as they are; `\\`, `\n`, `\r`, `\t`, `\0` as in
/// Rust; other control and invisible characters as `\x1b` or `\u{202e}`; bytes that are not
/// UTF-8 (or a character cut by the limit) as `\xff`.
fn escape_into(out: &mut String, bytes: &[u8], quote: bool) {
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' if quote => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\0' => out.push_str("\\0"),
                c if c.is_ascii_control() => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c if c.is_control() || is_invisible(c) => {
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                }
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
}

/// Characters that print nothing but change how the text around them is shown: the
/// bidirectional overrides and isolates ("Trojan Source"), zero-width characters, the Unicode
/// line and paragraph separators, the byte-order mark, the interlinear annotation marks.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{061c}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2069}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
    )
}

/// `4096` as `4,096`: byte counts a reader takes in at a glance.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_never_splits_a_character() {
        let hangul = "가나다".as_bytes(); // three bytes each
        assert_eq!(quoted(hangul, 4), "\"가\" … 6 more bytes");
        assert_eq!(escaped(hangul, 6), "가나 … 3 more bytes");
        assert_eq!(quoted(hangul, 9), "\"가나다\"");
        // Bytes that are not UTF-8 are still shown, escaped, wherever the cut falls.
        assert_eq!(quoted(b"ab\xff\xfe", 3), "\"ab\\xff\" … 1 more bytes");
        assert_eq!(incomplete_tail("가".as_bytes()), 0);
        assert_eq!(incomplete_tail(&"가".as_bytes()[..2]), 2);
    }
}
