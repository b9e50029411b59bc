//! `--tls` end to end (chapter 15): the servers in-process on 127.0.0.1:0, sealed; members that
//! speak rustls' own blocking client (`StreamOwned`, one lock around one stream: not our split
//! session), raw sockets that knock at the wrong door, and clients given the wrong certificate.

#[path = "support/tls.rs"]
mod sealed;
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::tls::client::ClientTls;
use common::tls::CertFiles;
use common::trace::Layer;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConnection, StreamOwned};
use sealed::{localhost_cert, sealed_server, temp_dir};
use server::hub::{Hub, Limits};
use server::lessons::{chat, ws_echo};
use support::{Running, DEADLINE};

fn sealed_chat(files: &CertFiles, limits: Limits) -> Running {
    let hub = Arc::new(Hub::new(limits));
    sealed_server(files, move |listener, shutdown| chat::run(listener, shutdown, hub))
}

/// A chat member over rustls' own client, trusting `files`' certificate.
struct Member {
    reader: BufReader<StreamOwned<ClientConnection, TcpStream>>,
}

fn rustls_client(files: &CertFiles, addr: SocketAddr) -> StreamOwned<ClientConnection, TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(&files.cert).unwrap()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let connection = ClientConnection::new(Arc::new(config), name).unwrap();
    let socket = TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(DEADLINE)).unwrap();
    StreamOwned::new(connection, socket)
}

impl Member {
    fn join(files: &CertFiles, addr: SocketAddr, nick: &str) -> Member {
        let mut member = Member { reader: BufReader::new(rustls_client(files, addr)) };
        member.until("* welcome to the socket-steps chat! /help lists the commands", 1);
        member.send(&format!("/nick {nick}\n"));
        member.until(&format!("* you are now {nick} in lobby"), 100);
        member
    }

    fn send(&mut self, text: &str) {
        self.reader.get_mut().write_all(text.as_bytes()).expect("send");
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("a line before the deadline");
        line.trim_end_matches('\n').to_string()
    }

    fn until(&mut self, wanted: &str, max: usize) -> Vec<String> {
        self.until_end(wanted, max, true)
    }

    /// Reads lines until one equals `wanted` (or, not `whole`, ends with it); returns the lines
    /// before it. Bounded: `max` lines, each within the deadline.
    fn until_end(&mut self, wanted: &str, max: usize, whole: bool) -> Vec<String> {
        let mut before = Vec::new();
        for _ in 0..max {
            let line = self.line();
            if line == wanted || (!whole && line.ends_with(wanted)) {
                return before;
            }
            before.push(line);
        }
        panic!("{wanted:?} did not arrive within {max} lines; got {before:#?}");
    }
}

#[test]
fn a_quiet_member_over_tls_gets_each_line_while_its_reader_waits() {
    // The server's reader for `quiet` sits in `read` the whole time (quiet never speaks again):
    // with one lock around the TLS stream, it would hold the lock the writer needs, and nothing
    // would reach quiet until it spoke.
    let files = localhost_cert("quiet");
    let server = sealed_chat(&files, Limits::default());
    let mut quiet = Member::join(&files, server.addr, "quiet");
    let mut talker = Member::join(&files, server.addr, "talker");
    quiet.until("* talker has entered lobby", 10);
    quiet.reader.get_mut().sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    for i in 0..5 {
        std::thread::sleep(Duration::from_millis(300)); // quiet's reader is surely back in `read`
        let sent = Instant::now();
        talker.send(&format!("line {i}\n"));
        quiet.until(&format!("talker: line {i}"), 5);
        assert!(sent.elapsed() < Duration::from_secs(2), "line {i} took {:?}", sent.elapsed());
    }
}

#[test]
fn a_member_that_stops_reading_over_tls_is_dropped_and_nobody_else_waits() {
    let files = localhost_cert("stalled");
    let limits = Limits { flood_mark: 32, stall: Duration::from_secs(1), ..Limits::default() };
    let server = sealed_chat(&files, limits);
    let mut alice = Member::join(&files, server.addr, "alice");
    let mut bob = Member::join(&files, server.addr, "bob");
    alice.until("* bob has entered lobby", 10);
    // Handshake done and named, then never another read.
    let mut stalled = Member::join(&files, server.addr, "stalled");
    stalled.reader.get_mut().sock.set_read_timeout(Some(DEADLINE)).unwrap();
    alice.until("* stalled has entered lobby", 10);
    bob.until("* stalled has entered lobby", 10);

    let notice = "* stalled stopped reading and was dropped (too slow to keep up)";
    let text = "z".repeat(1000);
    let (mut alice_saw_it, mut bob_saw_it) = (false, false);
    for i in 0..5000 {
        alice.send(&format!("{i} {text}\n"));
        let message = format!("alice: {i} {text}");
        for (member, saw) in [(&mut alice, &mut alice_saw_it), (&mut bob, &mut bob_saw_it)] {
            let before = member.until(&message, 10);
            *saw |= before.iter().any(|line| line == notice);
        }
        if alice_saw_it && bob_saw_it {
            break;
        }
    }
    assert!(alice_saw_it && bob_saw_it, "the stalled member was never dropped");
    drop(stalled);
}

#[test]
fn plain_text_at_a_tls_port_is_told_to_use_tls() {
    let files = localhost_cert("plain-at-tls");
    let chat = sealed_chat(&files, Limits::default());
    let web = sealed_server(&files, |listener, shutdown| ws_echo::run(listener, shutdown, 4));

    let mut browser = support::Raw::connect(web.addr);
    browser.send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let (status, _, body) = support::read_response(&mut browser.reader, false);
    assert_eq!(status, 400);
    assert_eq!(
        body,
        format!("this port speaks TLS: use https://{0}/ (or wss://{0}/ for WebSocket)\n", web.addr)
    );

    let mut nc = support::Raw::connect(chat.addr);
    nc.send("hello\n");
    assert_eq!(
        nc.line(),
        format!("* this port speaks TLS: use `cargo client chat --tls --addr {0}` (or `cargo client nc --tls {0}`)", chat.addr)
    );
    assert!(nc.closed());
}

/// The first bytes of a ClientHello that offers TLS 1.0 only (no supported_versions).
fn tls10_client_hello() -> Vec<u8> {
    let mut hello = vec![3, 1];
    hello.extend_from_slice(&[7; 32]);
    hello.extend_from_slice(&[0, 0, 2, 0x00, 0x2f, 1, 0]);
    let mut body = vec![1, 0, 0, hello.len() as u8];
    body.extend_from_slice(&hello);
    let mut record = vec![0x16, 3, 1, 0, body.len() as u8];
    record.extend_from_slice(&body);
    record
}

/// Everything a raw peer receives until the server closes (bounded by the deadline).
fn until_closed(stream: &mut TcpStream) -> Vec<u8> {
    stream.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut all = Vec::new();
    let _ = stream.read_to_end(&mut all);
    all
}

/// An echo over our own client's sealed stream: what "other clients don't notice" checks.
fn sealed_echo(files: &CertFiles, addr: SocketAddr) {
    let tls = ClientTls::new(Some(&files.cert)).unwrap();
    let stream = tls.seal(TcpStream::connect(addr).unwrap(), "localhost", Layer::Http).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let (mut socket, _) = tungstenite::client(format!("ws://localhost:{}/", addr.port()), stream).unwrap();
    socket.send(tungstenite::Message::text("still here")).unwrap();
    assert_eq!(socket.read().unwrap(), tungstenite::Message::text("still here"));
    socket.close(None).unwrap();
}

#[test]
fn bad_records_old_versions_and_half_handshakes_are_closed_and_nobody_else_notices() {
    let files = localhost_cert("bad-input");
    let server = sealed_server(&files, |listener, shutdown| ws_echo::run(listener, shutdown, 16));

    // A handshake that stops halfway: the deadline closes it, while others are served.
    let mut half = TcpStream::connect(server.addr).unwrap();
    half.write_all(&tls10_client_hello()[..12]).unwrap();
    let started = Instant::now();

    // Garbage after a record head: closed (rustls sends an alert when it can name the fault).
    let mut garbage = TcpStream::connect(server.addr).unwrap();
    garbage.write_all(&[0x16, 3, 3, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff]).unwrap();
    let answer = until_closed(&mut garbage);
    assert!(answer.is_empty() || answer[0] == 0x15, "an alert record, or nothing: {answer:02x?}");

    // A ClientHello that offers only TLS 1.0: refused with an alert (TLS 1.2 is our oldest).
    let mut old = TcpStream::connect(server.addr).unwrap();
    old.write_all(&tls10_client_hello()).unwrap();
    let answer = until_closed(&mut old);
    assert_eq!(answer.first(), Some(&0x15), "an alert record: {answer:02x?}");

    sealed_echo(&files, server.addr);
    let rest = until_closed(&mut half);
    assert!(rest.is_empty(), "{rest:02x?}");
    let waited = started.elapsed();
    assert!(waited >= common::tls::HANDSHAKE_DEADLINE - Duration::from_secs(1), "closed after {waited:?}");
    assert!(waited < common::tls::HANDSHAKE_DEADLINE + Duration::from_secs(4), "closed after {waited:?}");
    sealed_echo(&files, server.addr);
}

#[test]
fn a_client_hello_at_a_plain_port_is_closed_and_the_room_goes_on() {
    let hub = Arc::new(Hub::new(Limits::default()));
    let server = support::start(move |listener, shutdown| chat::run(listener, shutdown, hub));
    let mut tls_client = TcpStream::connect(server.addr).unwrap();
    tls_client.write_all(&tls10_client_hello()).unwrap();
    let heard = until_closed(&mut tls_client);
    assert!(heard.starts_with(b"* welcome"), "the plain welcome, then the close: {heard:?}");
    let mut plain = support::Raw::connect(server.addr);
    assert_eq!(plain.line(), "* welcome to the socket-steps chat! /help lists the commands");
}

/// A certificate for `names`, valid until `not_after` (year, month, day).
fn certificate(dir: &std::path::Path, names: &[&str], not_after: (i32, u8, u8)) -> CertFiles {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
    let cert = params.self_signed(&key).unwrap();
    let files =
        CertFiles { cert: dir.join(format!("{}.pem", names[0])), key: dir.join(format!("{}.key", names[0])) };
    std::fs::write(&files.cert, cert.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    files
}

fn refusal(server: &CertFiles, trusted: &CertFiles) -> String {
    let running = sealed_server(server, |listener, shutdown| ws_echo::run(listener, shutdown, 4));
    let tls = ClientTls::new(Some(&trusted.cert)).unwrap();
    let socket = TcpStream::connect(running.addr).unwrap();
    let Err(message) = tls.seal(socket, &format!("127.0.0.1:{}", running.addr.port()), Layer::Http) else {
        panic!("the client trusted a certificate it should not have")
    };
    message
}

#[test]
fn a_client_given_the_wrong_certificate_says_which_it_got_and_which_it_trusts() {
    let dir = temp_dir("wrong");
    let good = localhost_cert("wrong-good");
    let other = localhost_cert("wrong-other");
    let fingerprint =
        |files: &CertFiles| common::tls::fingerprint(&CertificateDer::from_pem_file(&files.cert).unwrap());

    let message = refusal(&good, &other);
    assert!(message.contains("is not signed by one you trust"), "{message}");
    assert!(message.contains(&format!("certificate (SHA-256 {})", fingerprint(&good))), "{message}");
    assert!(message.contains(&format!("(SHA-256 {})", fingerprint(&other))), "{message}");

    let elsewhere = certificate(&dir, &["example.org"], (4000, 1, 1));
    let message = refusal(&elsewhere, &elsewhere);
    assert!(message.contains("does not name \"127.0.0.1\""), "{message}");

    let expired = certificate(&dir, &["127.0.0.1"], (2021, 1, 1));
    let message = refusal(&expired, &expired);
    assert!(message.contains("has expired"), "{message}");
}

#[test]
fn a_message_of_megabytes_crosses_tls_whole_both_ways() {
    // Records of 16 KiB read 8 KiB at a time: rustls holds at most 16 KiB of unread plaintext,
    // so what it cannot take yet must wait in the session, not fail the connection.
    let files = localhost_cert("large");
    let server = sealed_server(&files, |listener, shutdown| ws_echo::run(listener, shutdown, 4));
    let tls = ClientTls::new(Some(&files.cert)).unwrap();
    let stream = tls.seal(TcpStream::connect(server.addr).unwrap(), "localhost", Layer::Http).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let (mut socket, _) =
        tungstenite::client(format!("ws://localhost:{}/", server.addr.port()), stream).unwrap();
    let big = "x".repeat(4 << 20);
    socket.send(tungstenite::Message::text(big.clone())).unwrap();
    assert_eq!(socket.read().unwrap().into_text().unwrap().as_str(), big);
    socket.close(None).unwrap();
}
