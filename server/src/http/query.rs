//! Query strings: `?room=%EA%B0%80&since=42`, percent-decoded.

/// The value of query parameter `name` in `target` (`/path?a=1&b=x%20y`), percent-decoded.
/// `Some(Err(..))` when it is there but is not valid UTF-8 once decoded.
pub fn query(target: &str, name: &str) -> Option<Result<String, String>> {
    let (_, query) = target.split_once('?')?;
    let value = query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })?;
    Some(percent_decode(value).ok_or_else(|| format!("query parameter {name} is not valid UTF-8")))
}

/// `%XX` escapes to bytes, `+` to a space; `None` if an escape is broken or the result is not
/// UTF-8. (Korean room names travel as `%EA%B0%80`...)
pub fn percent_decode(text: &str) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        #[test]
        fn whatever_is_encoded_decodes_to_itself(text in "\\PC{0,30}") {
            prop_assert_eq!(percent_decode(&common::percent::encode(&text)), Some(text));
        }

        #[test]
        fn any_query_decodes_or_is_refused_without_a_panic(target in "[/?=&%+a-fA-F0-9xyz\\PC]{0,40}") {
            if let Some(Ok(value)) = query(&target, "x") {
                prop_assert!(value.len() <= target.len());
            }
            let plain: String = target.chars().filter(|c| *c != '%' && *c != '+').collect();
            prop_assert_eq!(percent_decode(&plain), Some(plain.clone()));
        }
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
    fn round_trip_and_bad_escapes() {
        assert_eq!(percent_decode(&common::percent::encode("방 1/x&y=z")).as_deref(), Some("방 1/x&y=z"));
        assert_eq!(percent_decode("a+b%21"), Some("a b!".into()));
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%FF"), None); // a lone byte that is not UTF-8
    }
}
