//! Percent-encoding for URL query strings: a Korean room name travels as `%EA%B0%80...`.

/// `%XX` escapes to bytes, `+` to a space; `None` if the result is not UTF-8. (Korean room
/// names travel as `%EA%B0%80`...)
pub fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit))?;
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// `%XX`-escapes everything but unreserved characters, for building request targets.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_escapes() {
        assert_eq!(decode(&encode("방 1/x&y=z")).as_deref(), Some("방 1/x&y=z"));
        assert_eq!(encode("a b"), "a%20b");
        assert_eq!(decode("a+b%21"), Some("a b!".into()));
        assert_eq!(decode("%4"), None);
        assert_eq!(decode("%zz"), None);
        assert_eq!(decode("%FF"), None); // a lone byte that is not UTF-8
    }
}
