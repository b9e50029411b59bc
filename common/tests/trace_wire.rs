//! `--trace` above the bytes: HTTP heads and bodies, WebSocket frames, and the switch between
//! them, however the reads and writes cut the stream.

mod support;

use std::io::Write;

use common::frame::encode;
use common::trace::{Layer, Traced};
use support::{capture, decode_reads, decoded, read_all, traced, whole, Wire};

const REQUEST: &[u8] = b"GET /poll?since=3 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept: */*\r\n\r\n";

#[test]
fn an_http_head_split_anywhere_in_two_or_three_reads_is_shown_once_and_whole() {
    let expected = [
        "http  GET /poll?since=3 HTTP/1.1",
        "http  Host: 127.0.0.1:8080",
        "http  Accept: */*",
        "http  body: none",
    ];
    assert_eq!(decode_reads(Layer::Http, &[REQUEST]), expected);
    for i in 1..REQUEST.len() {
        let (a, rest) = REQUEST.split_at(i);
        assert_eq!(whole(decode_reads(Layer::Http, &[a, rest])), expected, "split at {i}");
        for j in 1..rest.len() {
            let (b, c) = rest.split_at(j);
            assert_eq!(whole(decode_reads(Layer::Http, &[a, b, c])), expected, "split at {i} and {}", i + j);
        }
    }
    let lines = decode_reads(Layer::Http, &[&REQUEST[..20], &REQUEST[20..]]);
    assert_eq!(lines[0], "http  (head incomplete: 20 bytes so far, no blank line yet)");
}

#[test]
fn two_pipelined_requests_in_one_read_are_two_heads_and_a_body_between() {
    let both = b"POST /send?room=lobby HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /poll HTTP/1.1\n\n";
    assert_eq!(
        decode_reads(Layer::Http, &[both]),
        [
            "http  POST /send?room=lobby HTTP/1.1",
            "http  Content-Length: 5",
            "http  body: 5 bytes (Content-Length)",
            "http  body: \"hello\"",
            "http  GET /poll HTTP/1.1",
            "http  body: none",
        ]
    );
}

#[test]
fn a_chunked_stream_shows_each_chunk_and_its_hex_size_then_the_next_response() {
    let head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
    let event = b"19\r\nid: 7\ndata: hello, room\n\n\r\n";
    let end = b"0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n";
    let expected = [
        "http  HTTP/1.1 200 OK",
        "http  Content-Type: text/event-stream",
        "http  Transfer-Encoding: chunked",
        "http  body: chunked, each chunk after its size in hex",
        "http  chunk size 19 (hex) = 25 bytes",
        "http  chunk: \"id: 7\\ndata: hello, room\\n\\n\"",
        "http  chunk size 0: the last chunk, the body ends",
        "http  HTTP/1.1 200 OK",
        "http  body: until the connection closes (no length given)",
    ];
    assert_eq!(whole(decode_reads(Layer::Http, &[head, event, end])), expected);
    let all = [&head[..], event, end].concat();
    let bytewise: Vec<&[u8]> = all.chunks(1).collect();
    assert_eq!(whole(decode_reads(Layer::Http, &bytewise)), expected);
}

#[test]
fn what_http_cannot_follow_it_says_once_then_shows_bytes_only() {
    let bad_length = b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\nGET / HTTP/1.1\r\n\r\n";
    let lines = decode_reads(Layer::Http, &[bad_length]);
    assert_eq!(lines.last().unwrap(), "http  unreadable Content-Length: not decoded from here on");
    let endless = vec![b'a'; 70_000];
    let lines = whole(decode_reads(Layer::Http, &[&endless]));
    assert_eq!(lines, ["http  no end of head within 65,536 bytes: not decoded from here on, raw bytes only"]);
    let bad_chunk = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    let lines = decode_reads(Layer::Http, &[bad_chunk]);
    assert!(lines.last().unwrap().contains("chunk size line \"zz\\r\\n\" is not hex"), "{lines:?}");
}

#[test]
fn a_masked_client_frame_and_an_unmasked_server_frame_are_taken_apart() {
    // RFC 6455, section 5.7: "Hello" from a client (masked with 37 fa 21 3d), then from a server.
    let client = encode(0x1, b"Hello", Some([0x37, 0xfa, 0x21, 0x3d]));
    let server = encode(0x1, b"Hello", None);
    let close = encode(0x8, b"\x03\xe8bye", None);
    let long = encode(0x2, &[b'x'; 300], Some([1, 2, 3, 4]));
    assert_eq!(
        decode_reads(Layer::WebSocket, &[&client, &server, &[close, long].concat()]),
        [
            "ws    FIN=1 opcode=1 (text) MASK=1 key=37 fa 21 3d len=5 (head 6 bytes) \"Hello\"",
            "ws    FIN=1 opcode=1 (text) MASK=0 len=5 (head 2 bytes) \"Hello\"",
            "ws    FIN=1 opcode=8 (close) MASK=0 len=5 (head 2 bytes) code=1000 reason=\"bye\"",
            &format!(
                "ws    FIN=1 opcode=2 (binary) MASK=1 key=01 02 03 04 len=300 (head 8 bytes) \"{}\" … 180 more bytes",
                "x".repeat(120)
            ),
        ]
    );
    let unfinished = [0x01, 0x03, b'a', b'b', b'c'];
    assert_eq!(
        decode_reads(Layer::WebSocket, &[&unfinished])[0],
        "ws    FIN=0 opcode=1 (text) MASK=0 len=3 (head 2 bytes) \"abc\""
    );
}

#[test]
fn a_frame_arriving_byte_by_byte_is_shown_once_when_whole() {
    let frame = encode(0x1, "héllo, room".as_bytes(), Some([9, 8, 7, 6]));
    let bytes: Vec<&[u8]> = frame.chunks(1).collect();
    let lines = decode_reads(Layer::WebSocket, &bytes);
    assert_eq!(lines[0], "ws    (frame head incomplete: 1 of 2 bytes so far)");
    assert_eq!(lines[1], "ws    (frame head incomplete: 2 of 6 bytes so far)");
    assert_eq!(lines[5], "ws    (frame incomplete: 0 of 12 payload bytes so far)");
    assert_eq!(lines[6], "ws    (frame incomplete: 1 of 12 payload bytes so far)");
    assert_eq!(
        whole(lines),
        ["ws    FIN=1 opcode=1 (text) MASK=1 key=09 08 07 06 len=12 (head 6 bytes) \"héllo, room\""]
    );
}

const UPGRADE: &[u8] = b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
const SWITCHED: &[u8] =
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";

#[test]
fn after_a_101_both_directions_are_frames_even_in_the_same_read() {
    // The client's side: it sends the upgrade, the 101 and the first frame arrive in one read.
    let welcome = encode(0x1, b"* welcome", None);
    let (mut client, kept) = traced(Layer::Http, &[&[SWITCHED, &welcome].concat()]);
    client.write_all(UPGRADE).unwrap();
    read_all(&mut client, 4096);
    client.write_all(&encode(0x1, b"hi", Some([1, 1, 1, 1]))).unwrap();
    let text = kept.lock().unwrap().clone();
    let lines = decoded(&text);
    assert_eq!(lines[4], "http  body: none");
    assert_eq!(
        lines[5..9].join("\n"),
        [
            "http  HTTP/1.1 101 Switching Protocols",
            "http  Upgrade: websocket",
            "http  Connection: Upgrade",
            "http  switching to WebSocket: frames from here on, both ways",
        ]
        .join("\n")
    );
    assert_eq!(lines[9], "ws    FIN=1 opcode=1 (text) MASK=0 len=9 (head 2 bytes) \"* welcome\"");
    assert_eq!(lines[10], "ws    FIN=1 opcode=1 (text) MASK=1 key=01 01 01 01 len=2 (head 6 bytes) \"hi\"");
    assert_eq!(lines.len(), 11, "{text}");
}

#[test]
fn frames_sent_before_the_101_are_not_mistaken_for_http() {
    // The server's side: the upgrade and the client's first frame (and half of its second)
    // arrive in one read, before the server has answered.
    let first = encode(0x1, b"early", Some([5, 5, 5, 5]));
    let second = encode(0x1, b"later", Some([6, 6, 6, 6]));
    let (mut server, kept) = traced(Layer::Http, &[&[UPGRADE, &first, &second[..3]].concat(), &second[3..]]);
    let mut buf = [0u8; 4096];
    std::io::Read::read(&mut server, &mut buf).unwrap();
    server.write_all(SWITCHED).unwrap();
    read_all(&mut server, 4096);
    let text = kept.lock().unwrap().clone();
    let lines = whole(decoded(&text));
    let early = "ws    << received before this 101: FIN=1 opcode=1 (text) MASK=1 key=05 05 05 05 len=5 (head 6 bytes) \"early\"";
    assert_eq!(lines[lines.len() - 2], early, "{text}");
    assert_eq!(
        lines.last().unwrap(),
        "ws    FIN=1 opcode=1 (text) MASK=1 key=06 06 06 06 len=5 (head 6 bytes) \"later\""
    );
}

#[test]
fn a_refused_upgrade_stays_http() {
    let refusal = b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 2\r\n\r\nno";
    let (mut client, kept) = traced(Layer::Http, &[refusal]);
    client.write_all(UPGRADE).unwrap();
    read_all(&mut client, 4096);
    client.write_all(REQUEST).unwrap();
    let lines = decoded(&kept.lock().unwrap());
    assert_eq!(lines.last().unwrap(), "http  body: none");
    assert!(lines.contains(&"http  GET /poll?since=3 HTTP/1.1".to_string()), "{lines:?}");
}

#[test]
fn set_layer_starts_both_directions_afresh() {
    let (sink, kept) = capture();
    let mut stream = Traced::on(Wire::default(), "peer", Layer::Lines, sink);
    stream.write_all(b"half a li").unwrap();
    stream.set_layer(Layer::WebSocket);
    stream.write_all(&encode(0x9, b"", None)).unwrap();
    let lines = decoded(&kept.lock().unwrap());
    assert_eq!(lines.last().unwrap(), "ws    FIN=1 opcode=9 (ping) MASK=0 len=0 (head 2 bytes)");
}

#[test]
fn a_body_preview_is_cut_between_characters_never_inside_one() {
    // 119 bytes of ASCII, then Hangul (3 bytes each): byte 120 is the second byte of a syllable.
    let text = format!("{}{}", "a".repeat(119), "한국어".repeat(5));
    let response = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{text}", text.len());
    let views = decode_reads(Layer::Http, &[response.as_bytes()]);
    let body = views.iter().find(|v| v.starts_with("http  body: \"")).expect("a body preview");
    assert_eq!(body, &format!("http  body: \"{}\" … 45 more bytes", "a".repeat(119)));
    assert!(!body.contains("\\x"), "a character was cut: {body}");
}
