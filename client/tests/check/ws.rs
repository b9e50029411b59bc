//! Wrong WebSocket servers (chapter 7's exercise): one small server, written once, with a
//! switch for each mistake a hint names.

use std::io::{Read, Write};
use std::net::TcpStream;

use client::check::{hint, http, ws};

use super::{covers, first_only, threaded, trips};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Bug {
    None,
    NoBlankLine,
    WholeConnectionHeader,
    HexAccept,
    UpgradesEverything,
    MasksFrames,
    AnswersBinary,
    NoPong,
    EmptyPong,
    NoCloseReply,
    RefusalWithoutBlankLine,
    RefusalWithoutLength,
    RefusalWithHugeLength,
    RefusalWithLongerLength,
}

/// base64 of the *hex* SHA-1 digest of the RFC's key: a classic mistake.
const HEX_ACCEPT: &str = "YjM3YTRmMmNjMDYyNGYxNjkwZjY0NjA2Y2YzODU5NDViMmJlYzRlYQ==";

fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).ok()?;
        head.push(byte[0]);
    }
    Some(String::from_utf8_lossy(&head).to_string())
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
}

fn refuse(stream: &mut TcpStream, status: &str, bug: Bug) {
    let body = "this is a WebSocket endpoint";
    let response = match bug {
        Bug::RefusalWithoutBlankLine => {
            format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n{body}", body.len())
        }
        Bug::RefusalWithoutLength => format!("HTTP/1.1 {status}\r\n\r\n{body}"),
        Bug::RefusalWithHugeLength => {
            format!("HTTP/1.1 {status}\r\nContent-Length: 1000000000000\r\n\r\n{body}")
        }
        Bug::RefusalWithLongerLength => {
            format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n{body}", body.len() + 10)
        }
        _ => format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n{body}", body.len()),
    };
    let _ = stream.write_all(response.as_bytes());
}

fn serve(mut stream: TcpStream, bug: Bug) {
    let Some(head) = read_head(&mut stream) else { return };
    let upgrade = header(&head, "Upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !upgrade && bug != Bug::UpgradesEverything {
        return refuse(&mut stream, "426 Upgrade Required", bug);
    }
    let connection = header(&head, "Connection").unwrap_or_default();
    if bug == Bug::WholeConnectionHeader && connection != "Upgrade" {
        return refuse(&mut stream, "400 Bad Request", Bug::None);
    }
    let key = header(&head, "Sec-WebSocket-Key").unwrap_or_default();
    let accept =
        if bug == Bug::HexAccept { HEX_ACCEPT.to_string() } else { common::handshake::accept_key(key) };
    let end = if bug == Bug::NoBlankLine { "" } else { "\r\n" };
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{end}"
    );
    if stream.write_all(response.as_bytes()).is_err() {
        return;
    }
    let mask = (bug == Bug::MasksFrames).then_some([9, 9, 9, 9]);
    while let Ok(frame) = common::frame::read(&mut stream, 1 << 16) {
        let answer = match (frame.opcode, bug) {
            (0x1, Bug::AnswersBinary) => Some((0x2, frame.payload)),
            (0x1, _) => Some((0x1, frame.payload)),
            (0x9, Bug::NoPong) => None,
            (0x9, Bug::EmptyPong) => Some((0xA, Vec::new())),
            (0x9, _) => Some((0xA, frame.payload)),
            (0x8, Bug::NoCloseReply) => return,
            (0x8, _) => {
                let _ = stream.write_all(&common::frame::encode(0x8, &frame.payload, None));
                return;
            }
            _ => None,
        };
        if let Some((opcode, payload)) = answer {
            if stream.write_all(&common::frame::encode(opcode, &payload, mask)).is_err() {
                return;
            }
        }
    }
}

#[test]
fn every_ws_failure_has_a_wrong_server_that_trips_it() {
    trips("ws", &threaded(|s| serve(s, Bug::None)), &[]);
    let cases: &[(Bug, &[&str])] = &[
        (Bug::NoBlankLine, &[ws::UPGRADE_HEAD]),
        (Bug::WholeConnectionHeader, &[ws::UPGRADE_101]),
        (Bug::HexAccept, &[ws::ACCEPT]),
        (Bug::UpgradesEverything, &[ws::PLAIN]),
        (Bug::MasksFrames, &[ws::MASKED]),
        (Bug::AnswersBinary, &[ws::TEXT]),
        (Bug::NoPong, &[ws::PONG]),
        (Bug::EmptyPong, &[ws::PONG_DATA]),
        (Bug::NoCloseReply, &[ws::CLOSE]),
        (Bug::RefusalWithoutBlankLine, &[http::HEAD]),
        (Bug::RefusalWithoutLength, &[http::LENGTH]),
        (Bug::RefusalWithHugeLength, &[http::HUGE_LENGTH]),
        (Bug::RefusalWithLongerLength, &[http::BODY]),
    ];
    let mut servers: Vec<(String, &[&str])> =
        cases.iter().map(|&(bug, hints)| (threaded(move |s| serve(s, bug)), hints)).collect();
    // Serves one connection, then the program ends.
    servers.push((first_only(|s| serve(s, Bug::None)), &[hint::GONE]));
    servers.push((super::hostile::trickle(), &[hint::TOO_SLOW]));
    servers.push((super::hostile::flood(), &[hint::TOO_MUCH]));
    let tripped = super::trips_each("ws", &servers);
    covers("ws", &tripped);
}
