//! The WebSocket opening handshake, by hand (RFC 6455, section 4).
//!
//! The client proves it speaks WebSocket by sending a random `Sec-WebSocket-Key`; the server
//! proves it understood by answering with
//!
//! ```text
//! Sec-WebSocket-Accept = base64( SHA-1( key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" ) )
//! ```
//!
//! The GUID is a constant from the RFC that no other protocol would use, so a server that
//! answers correctly cannot be an HTTP server that merely echoed headers back. SHA-1 comes from
//! the `sha1` crate; base64 is short enough to write here.
//!
//! Both sides use this recipe: the server to answer, the client to check the answer
//! (`client/src/upgrade.rs` is the client's side of the handshake).

use sha1::{Digest, Sha1};

/// The constant every WebSocket server appends to the client's key.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key.as_bytes());
    sha1.update(GUID.as_bytes());
    base64(&sha1.finalize())
}

/// Standard base64 (RFC 4648) with `=` padding: every 3 bytes become 4 characters of 6 bits.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = [group[0], *group.get(1).unwrap_or(&0), *group.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= group.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 0x3f) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The bytes of standard, padded base64, or `None` if `text` is not that (a wrong length, a
/// character outside the alphabet, `=` anywhere but at the end).
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let sextet = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (i, group) in bytes.chunks(4).enumerate() {
        let padding = group.iter().rev().take_while(|&&c| c == b'=').count();
        if padding > 2 || (padding > 0 && i + 1 < bytes.len() / 4) {
            return None;
        }
        let mut n = 0u32;
        for &c in &group[..4 - padding] {
            n = (n << 6) | u32::from(sextet(c)?);
        }
        n <<= 6 * padding;
        out.extend_from_slice(&n.to_be_bytes()[1..4 - padding]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_and_javascript_info_examples() {
        // RFC 6455 section 1.3 (and MDN).
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        // javascript.info's WebSocket chapter.
        assert_eq!(accept_key("Iv8io/9s+lYFgZWcXczP8Q=="), "hsBlbuDTkk24srzEOTBUlZAlC2g=");
    }

    #[test]
    fn base64_pads_to_whole_groups() {
        for (input, expected) in
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")]
        {
            assert_eq!(base64(input.as_bytes()), expected);
            assert_eq!(base64_decode(expected).as_deref(), Some(input.as_bytes()));
        }
    }

    #[test]
    fn base64_decode_refuses_what_is_not_base64() {
        for bad in ["Zg=", "Z===", "Zg==Zg==", "Zm9v!mFy", "Zm9v YmFy", "Zm9vYmF\u{e9}"] {
            assert_eq!(base64_decode(bad), None, "{bad:?}");
        }
        assert_eq!(base64_decode("dGhlIHNhbXBsZSBub25jZQ==").map(|b| b.len()), Some(16));
    }
}
