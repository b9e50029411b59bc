//! `--trace`: the dump, its escaping and cuts, the chat-line view, and the adapter itself.

mod support;

use std::io::{IoSlice, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use common::trace::dump::{escaped, hex_dump, quoted, thousands, DUMP_BYTES};
use common::trace::{self, Layer, Traced};
use support::{capture, decode_reads, decoded, read_all, traced, Wire};

#[test]
fn the_dump_shows_offset_hex_and_text_sixteen_bytes_a_row() {
    let mut out = String::new();
    hex_dump(&mut out, b"GET / HTTP/1.1\r\nHost", DUMP_BYTES);
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows[0], "   0000  47 45 54 20 2f 20 48 54  54 50 2f 31 2e 31 0d 0a  |GET / HTTP/1.1..|");
    // A short last row is padded, so its text column lines up with the full rows'.
    assert_eq!(rows[1], format!("   0010  48 6f 73 74{}  |Host|", " ".repeat(37)));
    assert_eq!(rows[0].find('|'), rows[1].find('|'));
    assert_eq!(rows.len(), 2);
}

#[test]
fn an_event_names_direction_peer_and_count_then_the_view_then_the_bytes() {
    let (mut stream, kept) = traced(Layer::Raw, &[b"hi\n"]);
    read_all(&mut stream, 16);
    stream.write_all(b"hi\n").unwrap();
    let text = kept.lock().unwrap().clone();
    let expected = "<< from 127.0.0.1:7878, 3 bytes\n   0000  68 69 0a";
    assert!(text.starts_with(expected), "{text}");
    assert!(text.contains("<< from 127.0.0.1:7878: end of stream (read returned 0: the peer closed)\n"));
    assert!(text.contains(">> to 127.0.0.1:7878, 3 bytes\n   0000  68 69 0a"), "{text}");
    assert_eq!(stream.written, b"hi\n");
}

#[test]
fn every_control_byte_is_escaped_and_no_byte_reaches_the_terminal_raw() {
    for byte in 0..=255u8 {
        let text = quoted(&[byte], 8);
        // A single byte over 0x7f is never UTF-8 on its own: it shows as \xNN too.
        assert!(text.bytes().all(|b| (0x20..=0x7e).contains(&b)), "byte {byte:#04x} printed as {text:?}");
        let mut dump = String::new();
        hex_dump(&mut dump, &[byte], 16);
        let column = &dump[dump.find('|').unwrap()..];
        let shown = if (0x20..=0x7e).contains(&byte) { (byte as char).to_string() } else { ".".into() };
        assert_eq!(column, format!("|{shown}|\n"));
    }
    assert_eq!(quoted(b"\0\t\r\n\x1b\x7f\\\"", 20), r#""\0\t\r\n\x1b\x7f\\\"""#);
    assert_eq!(escaped(b"say \"hi\"", 20), r#"say "hi""#);
}

#[test]
fn escape_sequences_and_invisible_unicode_are_shown_not_obeyed() {
    let hostile = "\x1b[2J\x1b]0;pwned\x07red\u{9b}31m \u{202e}txt.exe\u{200b}\u{feff}";
    assert_eq!(
        quoted(hostile.as_bytes(), 200),
        r#""\x1b[2J\x1b]0;pwned\x07red\u{9b}31m \u{202e}txt.exe\u{200b}\u{feff}""#
    );
    // Text that is not hostile is shown as it is, UTF-8 included; broken UTF-8 byte by byte.
    assert_eq!(quoted("café 가나 🦀".as_bytes(), 200), "\"café 가나 🦀\"");
    assert_eq!(quoted(b"ok\xff\xc3", 200), r#""ok\xff\xc3""#);
    for layer in [Layer::Raw, Layer::Lines, Layer::Http, Layer::WebSocket] {
        let line = format!("{hostile}\n");
        let (mut stream, kept) = traced(layer, &[line.as_bytes()]);
        read_all(&mut stream, 64);
        let text = kept.lock().unwrap().clone();
        assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{layer:?} printed a control character");
        assert!(!text.contains('\u{202e}') && !text.contains('\u{200b}'), "{layer:?}: {text}");
    }
}

#[test]
fn long_payloads_are_cut_with_a_count_of_what_was_left_out() {
    assert_eq!([0, 999, 1_000, 4_096, 1_234_567].map(thousands), ["0", "999", "1,000", "4,096", "1,234,567"]);
    let big = vec![b'a'; DUMP_BYTES + 4_096];
    let (sink, kept) = capture();
    let mut stream = Traced::on(Wire::default(), "peer", Layer::Raw, sink);
    stream.write_all(&big).unwrap();
    let text = kept.lock().unwrap().clone();
    assert!(text.starts_with(">> to peer, 4,352 bytes\n"), "{text}");
    assert_eq!(text.lines().filter(|line| line.ends_with('|')).count(), DUMP_BYTES / 16);
    assert!(text.ends_with("   … 4,096 more bytes\n"), "{text}");

    let line = [vec![b'x'; 300], b"\n".to_vec()].concat();
    let lines = decode_reads(Layer::Lines, &[&line]);
    assert_eq!(lines, [format!("line  \"{}\" … 180 more bytes", "x".repeat(120))]);
}

#[test]
fn chat_lines_are_shown_whole_however_the_reads_cut_them() {
    let lines = decode_reads(Layer::Lines, &[b"hel", b"lo\r\nsecond\nthi", b"rd\n"]);
    assert_eq!(
        lines,
        [
            "line  (line incomplete: 3 bytes so far, no newline yet)",
            "line  \"hello\\r\"",
            "line  \"second\"",
            "line  (line incomplete: 3 bytes so far, no newline yet)",
            "line  \"third\"",
        ]
    );
}

#[test]
fn a_burst_shows_its_first_lines_and_counts_the_rest() {
    let burst: Vec<u8> = (0..100).flat_map(|i| format!("message {i}\n").into_bytes()).collect();
    let (mut stream, kept) = traced(Layer::Lines, &[&burst]);
    read_all(&mut stream, burst.len());
    let text = kept.lock().unwrap().clone();
    assert_eq!(decoded(&text).len(), 32);
    assert!(text.contains("   … 68 more decoded lines\n"), "{text}");
}

/// A connected pair of sockets on loopback: (client, server).
fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    (client, listener.accept().unwrap().0)
}

#[test]
fn a_traced_socket_is_still_a_socket_and_its_clones_share_one_conversation() {
    let (client, mut server) = pair();
    let (sink, kept) = capture();
    let peer = client.peer_addr().unwrap();
    let traced = Traced::on(client, peer, Layer::Http, sink);
    // TcpStream's own methods, through Deref.
    traced.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(traced.peer_addr().unwrap(), peer);
    let mut writer = traced.try_clone().unwrap();
    assert!(writer.is_traced());
    // The head leaves in two writes from two handles: one conversation shows it once.
    let mut reader = &traced;
    reader.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    // A vectored write is traced as the bytes it sent, whichever buffers they came from.
    let parts = [IoSlice::new(b"Host: "), IoSlice::new(b"x\r\n\r\n")];
    assert_eq!(writer.write_vectored(&parts).unwrap(), 11, "a small writev on loopback sends it all");
    writer.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_all(&mut server, 64), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    server.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap();
    drop(server);
    let mut reply = Vec::new();
    reader.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"HTTP/1.1 204 No Content\r\n\r\n");
    let text = kept.lock().unwrap().clone();
    let expected = [
        "http  (head incomplete: 16 bytes so far, no blank line yet)",
        "http  GET / HTTP/1.1",
        "http  Host: x",
        "http  body: none",
        "http  HTTP/1.1 204 No Content",
        "http  no body",
    ];
    assert_eq!(decoded(&text), expected, "{text}");
}

#[test]
fn off_by_default_a_plain_pass_through_and_enable_turns_it_on() {
    // The only test in this file that touches the process-wide switch.
    assert!(!trace::enabled());
    let (client, server) = pair();
    let mut client = Traced::new(client, Layer::Http);
    let mut server = Traced::new(server, Layer::Http);
    assert!(!client.is_traced() && !server.is_traced());
    let echo = thread::spawn(move || {
        let mut buf = [0u8; 64];
        let n = server.read(&mut buf).unwrap();
        server.write_all(&buf[..n]).unwrap();
    });
    client.write_all(b"\x00\x1b[2Jping\xff").unwrap();
    let mut reply = [0u8; 10];
    client.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"\x00\x1b[2Jping\xff");
    echo.join().unwrap();
    trace::enable();
    assert!(trace::enabled());
    assert!(Traced::new(pair().0, Layer::Raw).is_traced());
}
