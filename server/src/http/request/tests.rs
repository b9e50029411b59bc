use proptest::prelude::*;

use super::*;

const MAX: usize = 64;

/// Feeds `bytes` to a reader in pieces of the sizes in `cuts` (over and over), never more than
/// the reader will take; returns every request it handed out and the error it stopped at.
fn drive(bytes: &[u8], cuts: &[usize]) -> (Vec<Request>, Option<ReadError>) {
    let mut reader = RequestReader::new(MAX);
    let (mut requests, mut at, mut cut) = (Vec::new(), 0, 0);
    loop {
        match reader.next_request() {
            Ok(Some(request)) => requests.push(request),
            Err(error) => return (requests, Some(error)),
            Ok(None) if at == bytes.len() => return (requests, None),
            Ok(None) => {
                let size = cuts.get(cut % cuts.len().max(1)).copied().unwrap_or(usize::MAX).max(1);
                cut += 1;
                let n = size.min(reader.room()).min(bytes.len() - at);
                reader.feed(&bytes[at..at + n]);
                at += n;
                assert!(reader.buffer.len() <= MAX_HEAD_BYTES + 1 + MAX, "the buffer grew past the limits");
            }
        }
    }
}

fn one(bytes: &[u8]) -> Result<Request, ReadError> {
    match drive(bytes, &[]) {
        (mut requests, None) if requests.len() == 1 => Ok(requests.remove(0)),
        (_, Some(error)) => Err(error),
        other => panic!("{other:?}"),
    }
}

fn status(bytes: &[u8]) -> u16 {
    match drive(bytes, &[]).1 {
        Some(ReadError::Bad(status, _)) => status.0,
        other => panic!("no error: {other:?}"),
    }
}

#[test]
fn a_head_is_parsed_only_when_whole() {
    let head = b"GET /chat?room=x HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n\r\n";
    assert!(parse_head(&head[..20]).unwrap().is_none());
    let (request, end) = parse_head(head).unwrap().unwrap();
    assert_eq!(end, head.len());
    assert_eq!((request.method.as_str(), request.path()), ("GET", "/chat"));
    assert!(request.has_token("connection", "upgrade"));
    assert!(!request.has_token("connection", "close"));
    assert_eq!(request.header("HOST"), Some("a"));
}

#[test]
fn pipelined_requests_are_all_read_in_order_and_the_rest_is_kept() {
    let bytes = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nPOST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyzGET /c HTTP/1.1\r\nHost: h\r\n\r\n\x81\x05";
    let mut reader = RequestReader::new(MAX);
    reader.feed(bytes);
    let paths: Vec<(String, Vec<u8>)> =
        (0..3).map(|_| reader.next_request().unwrap().unwrap()).map(|r| (r.target, r.body)).collect();
    assert_eq!(paths, [("/a".into(), vec![]), ("/b".into(), b"xyz".to_vec()), ("/c".into(), vec![])]);
    assert_eq!(reader.into_leftover(), b"\x81\x05");
}

#[test]
fn a_body_on_a_get_is_read_as_its_body_never_as_a_request() {
    let hidden = "POST /send HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}";
    let bytes = format!("GET /poll HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n{hidden}", hidden.len());
    let (requests, error) = drive(bytes.as_bytes(), &[]);
    assert_eq!(error, None);
    assert_eq!(requests.len(), 1, "the body was read as a request");
    assert_eq!(requests[0].body, hidden.as_bytes());
}

#[test]
fn content_length_is_digits_only_and_duplicates_must_agree() {
    let with = |lengths: &[&str]| {
        let headers: String = lengths.iter().map(|l| format!("Content-Length: {l}\r\n")).collect();
        format!("POST /send HTTP/1.1\r\nHost: h\r\n{headers}\r\n12345")
    };
    for bad in
        [&["+5"][..], &["-5"], &["5, 5"], &["0x5"], &["5 5"], &["5", "6"], &[""], &["99999999999999999999"]]
    {
        assert_eq!(status(with(bad).as_bytes()), 400, "{bad:?}");
    }
    assert_eq!(one(with(&["5", "5"]).as_bytes()).unwrap().body, b"12345");
    assert_eq!(status(with(&["65"]).as_bytes()), 413);
}

#[test]
fn transfer_encoding_is_refused_and_never_guessed() {
    let chunked = b"POST /send HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
    assert_eq!(status(chunked), 501);
    let both = b"POST /send HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}";
    assert_eq!(status(both), 400);
}

#[test]
fn http_1_1_needs_one_host_and_http_1_0_closes_unless_asked() {
    assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
    let old = one(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    assert!(!old.keep_alive());
    assert!(one(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap().keep_alive());
    assert!(one(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap().keep_alive());
    assert!(!one(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").unwrap().keep_alive());
}

#[test]
fn an_absolute_form_target_becomes_a_path_and_a_host() {
    let request = one(b"GET http://127.0.0.1:8080/poll?room=x HTTP/1.1\r\nHost: other\r\n\r\n").unwrap();
    assert_eq!((request.target.as_str(), request.host.as_deref()), ("/poll?room=x", Some("127.0.0.1:8080")));
    let bare = one(b"GET http://localhost:8080 HTTP/1.1\r\nHost: localhost:8080\r\n\r\n").unwrap();
    assert_eq!(bare.target, "/");
    assert_eq!(status(b"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
}

#[test]
fn malformed_and_oversized_heads_get_their_status() {
    assert_eq!(status(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"), 400);
    let many: String = (0..MAX_HEADERS + 1).map(|i| format!("h{i}: v\r\n")).collect();
    assert_eq!(status(format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n").as_bytes()), 431);
    let long = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n", "v".repeat(MAX_HEAD_BYTES));
    assert_eq!(status(long.as_bytes()), 431);
    assert_eq!(status(&[b'x'; MAX_HEAD_BYTES + 10]), 431);
}

/// A request that a client could send: a few methods, paths, headers and a body.
fn request_text() -> impl Strategy<Value = Vec<u8>> {
    let method = prop::sample::select(vec!["GET", "POST", "HEAD", "PUT"]);
    let path = "/[a-z0-9]{0,8}(\\?[a-z]{1,4}=[a-z0-9%]{0,6})?";
    let headers = prop::collection::vec(("[A-Za-z][A-Za-z-]{0,10}", "[ -~]{0,20}"), 0..5);
    let body = prop::collection::vec(any::<u8>(), 0..MAX + 8);
    (method, path, headers, body).prop_map(|(method, path, headers, body)| {
        let mut text = format!("{method} {path} HTTP/1.1\r\nHost: h\r\n");
        for (name, value) in headers {
            if !["host", "content-length", "transfer-encoding"].contains(&name.to_ascii_lowercase().as_str())
            {
                text.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        text.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut bytes = text.into_bytes();
        bytes.extend(body);
        bytes
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Any bytes at all: no panic, the buffer within its limits, and the same requests and the
    /// same error however the bytes were cut into reads.
    #[test]
    fn any_bytes_give_the_same_result_however_they_are_split(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        cuts in prop::collection::vec(1usize..40, 1..8),
    ) {
        prop_assert_eq!(drive(&bytes, &cuts), drive(&bytes, &[]));
    }

    /// Pipelined requests come out whole, in order, bodies exact, however they were split.
    #[test]
    fn pipelined_requests_survive_any_split(
        requests in prop::collection::vec(request_text(), 1..4),
        cuts in prop::collection::vec(1usize..64, 1..8),
    ) {
        let bytes: Vec<u8> = requests.concat();
        let (whole, error) = drive(&bytes, &[]);
        prop_assert_eq!(error.as_ref().map(|e| matches!(e, ReadError::Bad((413, _), _))).unwrap_or(true), true);
        if error.is_none() {
            prop_assert_eq!(whole.len(), requests.len());
        }
        prop_assert_eq!(drive(&bytes, &cuts), (whole, error));
    }

    /// Where httparse finds a whole head, we agree with it on what it says.
    #[test]
    fn heads_agree_with_httparse(bytes in request_text()) {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut theirs = httparse::Request::new(&mut headers);
        if let Ok(httparse::Status::Complete(end)) = theirs.parse(&bytes) {
            let (ours, our_end) = parse_head(&bytes).unwrap().unwrap();
            prop_assert_eq!(our_end, end);
            prop_assert_eq!(Some(ours.method.as_str()), theirs.method);
            prop_assert_eq!(Some(ours.target.as_str()), theirs.path);
            prop_assert_eq!(ours.headers.len(), theirs.headers.len());
        }
    }
}
