//! Percent-encoding for URL query strings: a Korean room name travels as `%EA%B0%80...`.
//! (The server decodes them: `server::http::query`.)

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
    fn unreserved_characters_stay_and_the_rest_is_escaped() {
        assert_eq!(encode("a b"), "a%20b");
        assert_eq!(encode("방"), "%EB%B0%A9");
        assert_eq!(encode("Az09-_.~"), "Az09-_.~");
    }
}
