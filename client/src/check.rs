//! `cargo client check LESSON`: grades a server someone wrote (in any language) over the wire.
//!
//! Each check connects to the student's server, does one thing a correct server must handle, and
//! prints `PASS` or `FAIL` with a hint. Every check has a deadline: a server that never answers
//! fails the check, it does not hang the checker. At the end, `N passed, M failed`.
//!
//! What each lesson's server must do is described in its chapter; the checks test exactly that.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown as Half, TcpStream};
use std::thread;
use std::time::Duration;

use serde_json::Value;

/// How long any single answer may take.
pub const DEADLINE: Duration = Duration::from_secs(2);

/// What went wrong, and what to look at.
pub struct Failure {
    pub what: String,
    pub hint: &'static str,
}

type Outcome = Result<(), Failure>;

/// A check: its name, as printed, and the function that runs it against an address.
type Check = (&'static str, fn(&str) -> Outcome);

fn fail(what: impl Into<String>, hint: &'static str) -> Failure {
    Failure { what: what.into(), hint }
}

/// The tally of one run.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub passed: usize,
    pub failed: usize,
}

/// Runs `lesson`'s checks against the server at `addr`, printing one line per check.
pub fn run(lesson: &str, addr: &str, out: &mut impl Write) -> Result<Report, String> {
    let checks: Vec<Check> = match lesson {
        "echo" => echo_checks(),
        "threaded-echo" => {
            let mut checks = echo_checks();
            checks.push(("two clients are served at once", two_at_once));
            checks
        }
        "chat" => vec![
            ("a new client is greeted within 2 s", chat_greeting),
            ("a message reaches the other member of the room", chat_broadcast),
            ("Korean written one byte at a time arrives whole", chat_split_utf8),
            ("invalid UTF-8 gets an error line, and the connection still works", chat_invalid_utf8),
            ("a client that vanishes mid-line does not take the room down", chat_vanishing),
        ],
        "http" => vec![
            ("GET /poll answers JSON with messages and last", http_poll),
            ("POST /send, then the message is in /poll since N", http_send_then_poll),
            ("GET /long-poll waits, then answers when a message arrives", http_long_poll),
            ("GET /stream sends each new message as a Server-Sent Event with an id", http_stream),
            ("an unknown path gets 404", http_not_found),
        ],
        "ws" => vec![
            ("the RFC 6455 example key gets the right Sec-WebSocket-Accept", ws_handshake),
            ("a plain HTTP request gets 400 or 426, not 101", ws_not_an_upgrade),
            ("a text message gets an answer", ws_text),
            ("a ping gets a pong with the same data", ws_ping),
            ("a close frame gets a close frame back", ws_close),
        ],
        other => return Err(format!("no checks for {other:?}: pick echo, threaded-echo, chat, http or ws")),
    };
    let mut report = Report::default();
    for (name, check) in checks {
        let outcome = std::panic::catch_unwind(|| check(addr))
            .unwrap_or_else(|_| Err(fail("the checker itself failed", "tell your teacher")));
        let line = match outcome {
            Ok(()) => {
                report.passed += 1;
                format!("PASS {lesson}: {name}")
            }
            Err(Failure { what, hint }) => {
                report.failed += 1;
                format!("FAIL {lesson}: {what} — {hint}")
            }
        };
        writeln!(out, "{line}").map_err(|e| e.to_string())?;
    }
    writeln!(out, "{} passed, {} failed", report.passed, report.failed).map_err(|e| e.to_string())?;
    Ok(report)
}

/// A connection with deadlines on every read and write.
fn connect(addr: &str) -> Result<TcpStream, Failure> {
    let stream = common::net::connect(addr, "...")
        .map_err(|_| fail(format!("cannot connect to {addr}"), "is your server running, on this address?"))?;
    stream
        .set_read_timeout(Some(DEADLINE))
        .and_then(|()| stream.set_write_timeout(Some(DEADLINE)))
        .map_err(|e| fail(e.to_string(), "?"))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Reads until `n` bytes have come (or the deadline passes, or the peer closes).
fn read_exactly(stream: &mut impl Read, n: usize) -> Result<Vec<u8>, String> {
    let mut got = vec![0u8; n];
    let mut filled = 0;
    while filled < n {
        match stream.read(&mut got[filled..]) {
            Ok(0) => return Err(format!("the connection closed after {filled} of {n} bytes")),
            Ok(k) => filled += k,
            Err(e) if common::net::is_timeout(&e) => {
                return Err(format!("only {filled} of {n} bytes within {DEADLINE:?}"))
            }
            Err(e) => return Err(format!("{} after {filled} of {n} bytes", common::net::describe(&e))),
        }
    }
    Ok(got)
}

fn echo_checks() -> Vec<Check> {
    vec![
        ("a line comes back unchanged", echo_line),
        ("a message sent in three pieces comes back whole", echo_pieces),
        ("1 MiB message comes back intact", echo_big),
        ("a client that disconnects mid-message does not stop the server", echo_vanishing),
    ]
}

fn echo_line(addr: &str) -> Outcome {
    let mut stream = connect(addr)?;
    let message = "hello, 안녕하세요\n".as_bytes();
    stream.write_all(message).map_err(|e| fail(e.to_string(), "could not send"))?;
    let got = read_exactly(&mut stream, message.len())
        .map_err(|e| fail(e, "do you write back every byte you read?"))?;
    (got == message).then_some(()).ok_or_else(|| {
        fail(format!("got {:?}", String::from_utf8_lossy(&got)), "send back exactly the bytes you received")
    })
}

fn echo_pieces(addr: &str) -> Outcome {
    let mut stream = connect(addr)?;
    for piece in ["one ", "message, ", "three writes\n"] {
        stream.write_all(piece.as_bytes()).map_err(|e| {
            let what =
                format!("the server stopped reading after the first piece ({})", common::net::describe(&e));
            fail(what, "keep reading until the client closes: one read() is not one message")
        })?;
        thread::sleep(Duration::from_millis(50));
    }
    let got = read_exactly(&mut stream, "one message, three writes\n".len())
        .map_err(|e| fail(e, "keep reading: one read() is not one message"))?;
    (got == b"one message, three writes\n")
        .then_some(())
        .ok_or_else(|| fail("the pieces came back changed", "write back exactly what each read() returned"))
}

fn echo_big(addr: &str) -> Outcome {
    let stream = connect(addr)?;
    let message: Vec<u8> = (0..1 << 20).map(|i: usize| b'a' + (i % 26) as u8).chain([b'\n']).collect();
    let mut writer = stream.try_clone().map_err(|e| fail(e.to_string(), "?"))?;
    // Send and receive at once: the echo starts coming back before we have sent it all.
    let sending = {
        let message = message.clone();
        thread::spawn(move || writer.write_all(&message))
    };
    let mut reader = stream;
    reader.set_read_timeout(Some(DEADLINE * 5)).map_err(|e| fail(e.to_string(), "?"))?;
    let got = read_exactly(&mut reader, message.len());
    let sent = sending.join().map_err(|_| fail("sending failed", "?"))?;
    sent.map_err(|e| {
        fail(
            format!("sending 1 MiB failed: {e}"),
            "read while you write: a server that stops reading blocks the client",
        )
    })?;
    let got = got.map_err(|e| fail(e, "use write_all, and keep reading until the client is done"))?;
    (got == message).then_some(()).ok_or_else(|| {
        fail("the 1 MiB came back changed", "write back every byte, in order (write_all, not write)")
    })
}

/// Sends part of a message, then resets the connection, as a killed client does.
fn vanish(addr: &str, partial: &[u8]) -> Outcome {
    let stream = connect(addr)?;
    let _ = (&stream).write_all(partial);
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream); // closing with linger 0 sends a reset, not a FIN
    Ok(())
}

fn echo_vanishing(addr: &str) -> Outcome {
    vanish(addr, b"half a mess")?;
    echo_line(addr).map_err(|f| {
        fail(
            format!("after a client vanished: {}", f.what),
            "a read error ends that client only, then accept() the next",
        )
    })
}

fn two_at_once(addr: &str) -> Outcome {
    let mut first = connect(addr)?;
    first.write_all(b"first\n").map_err(|e| fail(e.to_string(), "?"))?;
    read_exactly(&mut first, 6).map_err(|e| fail(e, "the first client was not served"))?;
    let mut second = connect(addr)?;
    second.write_all(b"second\n").map_err(|e| fail(e.to_string(), "?"))?;
    read_exactly(&mut second, 7).map_err(|_| {
        fail(
            "the second client got no echo while the first was connected",
            "serve each client on its own thread",
        )
    })?;
    Ok(())
}

/// A chat connection: reads lines with deadlines.
struct Chat {
    reader: BufReader<TcpStream>,
    stream: TcpStream,
}

impl Chat {
    fn join(addr: &str) -> Result<Chat, Failure> {
        let stream = connect(addr)?;
        let reader = BufReader::new(stream.try_clone().map_err(|e| fail(e.to_string(), "?"))?);
        Ok(Chat { reader, stream })
    }

    fn send(&mut self, bytes: &[u8]) -> Outcome {
        self.stream
            .write_all(bytes)
            .map_err(|e| fail(format!("sending failed: {e}"), "is the server still reading?"))
    }

    /// Lines until one satisfies `wanted`, within the deadline for each.
    fn until(&mut self, wanted: impl Fn(&str) -> bool, missing: &str, hint: &'static str) -> Outcome {
        for _ in 0..50 {
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) => return Err(fail(format!("{missing}: the connection closed"), hint)),
                Ok(_) if wanted(line.trim_end()) => return Ok(()),
                Ok(_) => continue,
                Err(_) => return Err(fail(format!("{missing} within {DEADLINE:?}"), hint)),
            }
        }
        Err(fail(missing.to_string(), hint))
    }
}

fn chat_greeting(addr: &str) -> Outcome {
    Chat::join(addr)?.until(
        |_| true,
        "no line from the server",
        "greet each new client with a line ending in \\n",
    )
}

/// Two members, renamed and in the lobby.
fn chat_pair(addr: &str) -> Result<(Chat, Chat), Failure> {
    let stamp = std::process::id() % 10_000;
    let mut a = Chat::join(addr)?;
    a.send(format!("/nick checka{stamp}\n").as_bytes())?;
    a.until(
        |l| l.contains(&format!("checka{stamp}")),
        "no answer to /nick",
        "answer /nick NAME with a notice",
    )?;
    let mut b = Chat::join(addr)?;
    b.send(format!("/nick checkb{stamp}\n").as_bytes())?;
    b.until(
        |l| l.contains(&format!("checkb{stamp}")),
        "no answer to /nick",
        "answer /nick NAME with a notice",
    )?;
    Ok((a, b))
}

fn chat_broadcast(addr: &str) -> Outcome {
    let (mut a, mut b) = chat_pair(addr)?;
    a.send(b"hello from the checker\n")?;
    b.until(
        |l| l.ends_with(": hello from the checker"),
        "the second client did not see \"hello from the checker\"",
        "did you broadcast to the room?",
    )
}

fn chat_split_utf8(addr: &str) -> Outcome {
    let (a, mut b) = chat_pair(addr)?;
    for byte in "안녕하세요, 세계\n".bytes() {
        (&a.stream).write_all(&[byte]).map_err(|e| fail(e.to_string(), "?"))?;
        thread::sleep(Duration::from_millis(2));
    }
    b.until(
        |l| l.ends_with(": 안녕하세요, 세계"),
        "the Korean line did not arrive whole",
        "buffer until the newline before decoding UTF-8",
    )
}

fn chat_invalid_utf8(addr: &str) -> Outcome {
    let (mut a, mut b) = chat_pair(addr)?;
    a.send(b"caf\xe9\n")?;
    a.until(
        |l| l.starts_with("! "),
        "no error line for invalid UTF-8",
        "answer a line that is not UTF-8 with \"! ...\" and keep the connection",
    )?;
    a.send(b"after the bad line\n")?;
    b.until(
        |l| l.ends_with(": after the bad line"),
        "the connection did not work after invalid UTF-8",
        "refuse the bad line only; keep reading the next",
    )
}

fn chat_vanishing(addr: &str) -> Outcome {
    vanish(addr, b"never finish")?;
    chat_broadcast(addr).map_err(|f| {
        fail(format!("after a client vanished: {}", f.what), "a broken connection ends that member only")
    })
}

/// One HTTP request on a fresh connection; returns the status and the body. The head is read
/// by the lesson's own client code (`lessons::http::read_head`).
fn http(addr: &str, request: &str) -> Result<(u16, Vec<u8>), Failure> {
    let mut stream = connect(addr)?;
    stream.write_all(request.as_bytes()).map_err(|e| fail(e.to_string(), "?"))?;
    let mut reader = BufReader::new(stream);
    let (status, length, _) = crate::lessons::http::read_head(&mut reader).map_err(|e| {
        fail(e, "start with HTTP/1.1 200 OK and end the head with an empty line, \\r\\n\\r\\n")
    })?;
    let Some(length) = length else {
        return Err(fail(
            "no Content-Length",
            "always send Content-Length: without it the client cannot tell where the body ends",
        ));
    };
    let body = read_exactly(&mut reader, length)
        .map_err(|e| fail(e, "send as many body bytes as Content-Length says"))?;
    Ok((status, body))
}

fn json(body: &[u8]) -> Result<Value, Failure> {
    serde_json::from_slice(body)
        .map_err(|e| fail(format!("the body is not JSON: {e}"), "answer with a JSON document"))
}

fn http_poll(addr: &str) -> Outcome {
    let (status, body) = http(
        addr,
        &format!("GET /poll?room=checker&since=0 HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )?;
    if status != 200 {
        return Err(fail(format!("GET /poll answered {status}"), "answer 200 with the messages"));
    }
    let answer = json(&body)?;
    (answer["messages"].is_array() && answer["last"].is_u64())
        .then_some(())
        .ok_or_else(|| fail(format!("got {answer}"), r#"answer {"messages": [...], "last": N}"#))
}

fn post(addr: &str, room: &str, text: &str) -> Result<u64, Failure> {
    let body = serde_json::json!({"room": room, "nick": "checker", "text": text}).to_string();
    let request = format!("POST /send HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    let (status, body) = http(addr, &request)?;
    if status != 200 {
        return Err(fail(
            format!("POST /send answered {status}: {}", String::from_utf8_lossy(&body)),
            "read the body by Content-Length, then answer 200",
        ));
    }
    json(&body)?["id"].as_u64().ok_or_else(|| fail("POST /send gave no id", r#"answer {"id": N}"#))
}

fn http_send_then_poll(addr: &str) -> Outcome {
    let room = format!("check{}", std::process::id() % 10_000);
    let id = post(addr, &room, "checked")?;
    let (_, body) = http(
        addr,
        &format!(
            "GET /poll?room={room}&since={} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n",
            id - 1
        ),
    )?;
    let answer = json(&body)?;
    let texts: Vec<&str> =
        answer["messages"].as_array().into_iter().flatten().filter_map(|m| m["text"].as_str()).collect();
    (texts == ["checked"]).then_some(()).ok_or_else(|| {
        fail(
            format!("/poll since {} gave {texts:?}", id - 1),
            "return the messages with an id greater than since, and only those",
        )
    })
}

fn http_long_poll(addr: &str) -> Outcome {
    let room = format!("checklp{}", std::process::id() % 10_000);
    let id = post(addr, &room, "first")?;
    let addr_owned = addr.to_string();
    let waiting = thread::spawn(move || {
        http(
            &addr_owned,
            &format!(
                "GET /long-poll?room={room}&since={id} HTTP/1.1\r\nHost: {addr_owned}\r\nConnection: close\r\n\r\n"
            ),
        )
    });
    thread::sleep(Duration::from_millis(300));
    if waiting.is_finished() {
        return Err(fail(
            "the long-poll answered at once with nothing new",
            "wait until something newer than since exists",
        ));
    }
    post(addr, &format!("checklp{}", std::process::id() % 10_000), "second")?;
    let (_, body) = waiting.join().map_err(|_| fail("?", "?"))??;
    let answer = json(&body)?;
    let texts: Vec<&str> =
        answer["messages"].as_array().into_iter().flatten().filter_map(|m| m["text"].as_str()).collect();
    (texts == ["second"])
        .then_some(())
        .ok_or_else(|| fail(format!("got {texts:?}"), "wake the waiting request when a message arrives"))
}

fn http_stream(addr: &str) -> Outcome {
    let room = format!("checksse{}", std::process::id() % 10_000);
    let mut stream = connect(addr)?;
    stream
        .write_all(format!("GET /stream?room={room} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .map_err(|e| fail(e.to_string(), "?"))?;
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        if !matches!(reader.read_line(&mut head), Ok(1..)) {
            return Err(fail(
                "no response head for /stream",
                "answer at once with the headers, then keep the response open",
            ));
        }
    }
    if !head.to_ascii_lowercase().contains("text/event-stream") {
        return Err(fail(
            "the stream's Content-Type is not text/event-stream",
            "send Content-Type: text/event-stream",
        ));
    }
    post(addr, &room, "streamed")?;
    let mut seen = String::new();
    for _ in 0..20 {
        let mut line = String::new();
        if !matches!(reader.read_line(&mut line), Ok(1..)) {
            break;
        }
        seen.push_str(&line);
        if seen.contains("streamed") && seen.contains("id:") {
            return Ok(());
        }
    }
    Err(fail(
        format!("no event with an id: line and the message (got {seen:?})"),
        "write \"id: N\\ndata: ...\\n\\n\" per message and flush at once",
    ))
}

fn http_not_found(addr: &str) -> Outcome {
    let (status, _) =
        http(addr, &format!("GET /no-such-page HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"))?;
    (status == 404)
        .then_some(())
        .ok_or_else(|| fail(format!("GET /no-such-page answered {status}"), "answer unknown paths with 404"))
}

const RFC_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const RFC_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A connection upgraded with the RFC's example key; returns it and what came after the head.
fn upgraded(addr: &str) -> Result<(TcpStream, Vec<u8>), Failure> {
    let mut stream = connect(addr)?;
    let request = format!("GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: {RFC_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(|e| fail(e.to_string(), "?"))?;
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if buf.len() > 8192 || !matches!(stream.read(&mut byte), Ok(1)) {
            return Err(fail(
                format!("no whole answer to the upgrade (got {:?})", String::from_utf8_lossy(&buf)),
                "answer HTTP/1.1 101 Switching Protocols and an empty line",
            ));
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    if !head.starts_with("HTTP/1.1 101") {
        return Err(fail(
            format!("the upgrade got {:?}", head.lines().next().unwrap_or_default()),
            "answer 101 Switching Protocols (Connection may list several tokens: keep-alive, Upgrade)",
        ));
    }
    let accept = head.lines().find_map(|l| {
        l.split_once(':')
            .filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-accept"))
            .map(|(_, v)| v.trim().to_string())
    });
    if accept.as_deref() != Some(RFC_ACCEPT) {
        return Err(fail(
            format!("Sec-WebSocket-Accept was {accept:?}, not {RFC_ACCEPT}"),
            "base64(SHA-1(key + \"258EAFA5-E914-47DA-95CA-C5AB0DC85B11\")), of the raw 20-byte digest",
        ));
    }
    Ok((stream, Vec::new()))
}

fn ws_handshake(addr: &str) -> Outcome {
    upgraded(addr).map(|_| ())
}

fn ws_not_an_upgrade(addr: &str) -> Outcome {
    let (status, _) = http(addr, &format!("GET /ws HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"))?;
    matches!(status, 400 | 426).then_some(()).ok_or_else(|| {
        fail(
            format!("a plain GET got {status}"),
            "refuse requests without Upgrade: websocket with 426 (or 400)",
        )
    })
}

fn next_frame(stream: &mut TcpStream) -> Result<common::frame::Frame, Failure> {
    common::frame::read(stream, 1 << 20)
        .map_err(|e| fail(format!("no frame within {DEADLINE:?}: {e}"), "answer each frame"))
}

fn ws_text(addr: &str) -> Outcome {
    let (mut stream, _) = upgraded(addr)?;
    stream
        .write_all(&common::frame::encode(0x1, "hello, 세계".as_bytes(), Some([1, 2, 3, 4])))
        .map_err(|e| fail(e.to_string(), "?"))?;
    let frame = next_frame(&mut stream)?;
    if frame.mask.is_some() {
        return Err(fail("the server masked its frame", "a server never masks its frames"));
    }
    (frame.opcode == 0x1).then_some(()).ok_or_else(|| {
        fail(
            format!("got a {} frame", frame.kind()),
            "answer text with text (unmask the client's payload first)",
        )
    })
}

fn ws_ping(addr: &str) -> Outcome {
    let (mut stream, _) = upgraded(addr)?;
    stream
        .write_all(&common::frame::encode(0x9, b"checker", Some([9, 8, 7, 6])))
        .map_err(|e| fail(e.to_string(), "?"))?;
    for _ in 0..10 {
        let frame = next_frame(&mut stream)?;
        if frame.opcode == 0xA {
            return (frame.payload == b"checker")
                .then_some(())
                .ok_or_else(|| fail("the pong carried other data", "a pong echoes the ping's payload"));
        }
    }
    Err(fail("no pong", "answer every ping with a pong"))
}

fn ws_close(addr: &str) -> Outcome {
    let (mut stream, _) = upgraded(addr)?;
    stream
        .write_all(&common::frame::encode(0x8, &1000u16.to_be_bytes(), Some([5, 5, 5, 5])))
        .map_err(|e| fail(e.to_string(), "?"))?;
    for _ in 0..10 {
        let frame = next_frame(&mut stream)?;
        if frame.opcode == 0x8 {
            let _ = stream.shutdown(Half::Both);
            return Ok(());
        }
    }
    Err(fail("no close frame back", "answer a close frame with a close frame, then close the connection"))
}
