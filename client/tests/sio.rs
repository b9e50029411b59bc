//! Socket.IO in the lab, on the wire: raw Engine.IO requests and frames, no client library, so
//! each test can also break the protocol on purpose.

mod sio_support;
mod support;

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use common::sio::{decode_payload, Incoming, Version};
use sio_support::{
    handshake, lab, line_with, poll, poll_until, quick, request, send, tcp_member, text_with, websocket,
    ws_member,
};
use support::DEADLINE;
use tungstenite::Message;

/// A v4 polling session connected to /chat as `name` in `room`.
fn member_v4(addr: SocketAddr, name: &str, room: &str) -> String {
    let (sid, _) = handshake(addr, 4);
    let connect = serde_json::json!({"room": room, "name": name});
    assert_eq!(send(addr, 4, &sid, &format!("40/chat,{connect}")), (200, "ok".to_string()));
    let answered = poll_until(addr, 4, &sid, "40/chat,{\"sid\":");
    // The hub's welcome ends with where the member is; until it is read it would come back in
    // the next poll, which some tests expect to be a noop (on a busy machine it comes late).
    let settled = format!("you are now {name} in {room}");
    if !answered.contains(&settled) {
        poll_until(addr, 4, &sid, &settled);
    }
    sid
}

#[test]
fn a_v4_polling_session_chats_with_tcp_and_websocket_members_in_korean() {
    let (lab, tcp) = lab(Default::default());
    let addr = lab.addr;
    let (sid, open) = handshake(addr, 4);
    assert_eq!(open["upgrades"], serde_json::json!(["websocket"]));
    assert_eq!((open["pingInterval"].as_u64(), open["pingTimeout"].as_u64()), (Some(25000), Some(20000)));
    assert_eq!(open["maxPayload"].as_u64(), Some(server::sio::MAX_PAYLOAD as u64));
    let mut tcp_member = tcp_member(tcp, "철수", "games");
    let mut ws_member = ws_member(addr, "영희", "games");
    assert_eq!(send(addr, 4, &sid, r#"40/chat,{"room":"games","name":"민지"}"#).0, 200);
    poll_until(addr, 4, &sid, "40/chat,{\"sid\":");
    line_with(&mut tcp_member, "* 민지 has entered games");
    // Two packets in one POST, apart by the record separator.
    let (status, _) =
        send(addr, 4, &sid, "42/chat,[\"joined\",{}]\x1e42/chat,[\"text\",{\"msg\":\"안녕 😀\"}]");
    assert_eq!(status, 200);
    assert_eq!(line_with(&mut tcp_member, "민지:"), "민지: 안녕 😀");
    assert!(text_with(&mut ws_member, "민지:").ends_with("민지: 안녕 😀"));
    tcp_member.send("반가워요\n");
    let payload = poll_until(addr, 4, &sid, "철수: 반가워요");
    assert!(payload.contains(r#"42/chat,["message",{"id":"#), "{payload}");
    // `left` ends the membership: the room hears it, and the client gets DISCONNECT.
    assert_eq!(send(addr, 4, &sid, r#"42/chat,["left",{}]"#).0, 200);
    line_with(&mut tcp_member, "* 민지 has left the chat");
    poll_until(addr, 4, &sid, "41/chat,");
}

#[test]
fn v3_frames_polling_payloads_by_utf16_units_and_connects_the_namespace_query() {
    let (lab, tcp) = lab(Default::default());
    let addr = lab.addr;
    let (status, body) = request(addr, "GET", "/socket.io/?EIO=3&transport=polling&b64=1", "", "");
    assert_eq!(status, 200);
    // The open packet, then `40`: a 2.x server connects the default namespace unasked.
    let packets = decode_payload(Version::V3, &body).unwrap();
    assert_eq!(packets.len(), 2, "{body}");
    assert_eq!(packets[1], Incoming::Text("40".into()));
    assert!(!body.contains("maxPayload"), "v3 has no maxPayload: {body}");
    let (sid, _) = handshake(addr, 3);
    let mut tcp_member = tcp_member(tcp, "철수", "games");
    // A 2.x client's only way to name its room: the namespace's query.
    let connect = "40/chat?room=games&name=%EB%AF%BC%EC%A7%80,";
    assert_eq!(send(addr, 3, &sid, &format!("{}:{connect}", connect.len())).0, 200);
    poll_until(addr, 3, &sid, "40/chat,");
    line_with(&mut tcp_member, "* 민지 has entered games");
    let text = r#"42/chat,["text",{"msg":"안녕 😀"}]"#;
    // 안녕 is 6 bytes and 2 UTF-16 units; 😀 is 4 bytes, 1 character and 2 units.
    let units = text.encode_utf16().count();
    assert_eq!((units, text.chars().count(), text.len()), (32, 31, 38));
    assert_eq!(send(addr, 3, &sid, &format!("{units}:{text}2:2x")).0, 200);
    assert_eq!(line_with(&mut tcp_member, "민지:"), "민지: 안녕 😀");
    // v3 clients ping, and the server answers with the same data.
    let payload = poll_until(addr, 3, &sid, "3x");
    assert!(decode_payload(Version::V3, &payload).unwrap().contains(&Incoming::Text("3x".into())));
    tcp_member.send("반가워 😀\n");
    let payload = poll_until(addr, 3, &sid, "반가워 😀");
    let packets = decode_payload(Version::V3, &payload).unwrap();
    let message = packets.iter().find_map(|p| match p {
        Incoming::Text(t) if t.contains("반가워") => Some(t.clone()),
        _ => None,
    });
    let message = message.unwrap();
    assert!(payload.contains(&format!("{}:{message}", message.encode_utf16().count())), "{payload}");
}

#[test]
fn unknown_sessions_versions_and_transports_are_refused_with_nodes_codes() {
    let (lab, _) = lab(Default::default());
    let addr = lab.addr;
    let cases = [
        ("/socket.io/?EIO=4&transport=polling&sid=nobody", 1),
        ("/socket.io/?EIO=5&transport=polling", 5),
        ("/socket.io/?EIO=4&transport=carrier-pigeon", 0),
    ];
    for (target, code) in cases {
        let (status, body) = request(addr, "GET", target, "", "");
        assert_eq!(status, 400, "{target}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap()["code"],
            code,
            "{target}: {body}"
        );
    }
    let (sid, _) = handshake(addr, 4);
    assert_eq!(poll(addr, 3, &sid).0, 400, "a v4 session is not read as v3");
}

#[test]
fn two_polling_gets_at_once_end_the_session_and_neither_hangs() {
    let (lab, _) = lab(Default::default());
    let addr = lab.addr;
    let (sid, _) = handshake(addr, 4);
    let started = Instant::now();
    let first = {
        let sid = sid.clone();
        thread::spawn(move || poll(addr, 4, &sid))
    };
    let second = poll(addr, 4, &sid);
    let first = first.join().unwrap();
    let mut answers = [first, second];
    answers.sort();
    // One is refused; the other, which was waiting, hears `close`.
    assert_eq!(answers[0], (200, "1".to_string()), "{answers:?}");
    assert_eq!(answers[1].0, 400, "{answers:?}");
    assert!(started.elapsed() < DEADLINE);
    assert_eq!(poll(addr, 4, &sid).0, 400, "the session is gone");
}

#[test]
fn big_malformed_and_lying_payloads_are_refused() {
    let (lab, tcp) = lab(Default::default());
    let addr = lab.addr;
    let sid = member_v4(addr, "민지", "games");
    let big = format!("42/chat,[\"text\",{{\"msg\":\"{}\"}}]", "x".repeat(server::sio::MAX_PAYLOAD));
    assert_eq!(send(addr, 4, &sid, &big).0, 413);
    // A binary event, honestly announced: its attachment is dropped and the member told why.
    let binary = r#"451-/chat,["file",{"_placeholder":true,"num":0}]"#;
    assert_eq!(send(addr, 4, &sid, &format!("{binary}\x1ebAQID")).0, 200);
    poll_until(addr, 4, &sid, "binary data was not sent");
    let mut tcp_member = tcp_member(tcp, "철수", "games");
    // A count that lies: one attachment announced, a text packet instead.
    let (status, body) = send(addr, 4, &sid, &format!("{binary}\x1e42/chat,[\"text\",{{\"msg\":\"x\"}}]"));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("announced"), "{body}");
    line_with(&mut tcp_member, "* 민지 has left the chat (connection lost)");
    for bad in ["9", "4{oops", "42/chat,{\"not\":\"an array\"}", "450-/chat,[]", "b!!", "0{}", ""] {
        let (sid, _) = handshake(addr, 4);
        let (status, body) = send(addr, 4, &sid, bad);
        assert_eq!(status, 400, "{bad:?}: {body}");
        assert_eq!(poll(addr, 4, &sid).0, 400, "{bad:?} closed the session");
    }
}

#[test]
fn the_upgrade_moves_a_session_once_and_nobody_else_can_take_it() {
    let (lab, tcp) = lab(Default::default());
    let addr = lab.addr;
    let sid = member_v4(addr, "민지", "games");
    let path = format!("/socket.io/?EIO=4&transport=websocket&sid={sid}");
    let mut ws = websocket(addr, &path).unwrap();
    ws.send(Message::text("2probe")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("3probe"));
    // The waiting GET is let go with a noop, then polling is over.
    let (status, payload) = poll(addr, 4, &sid);
    assert_eq!((status, payload.split('\x1e').next_back()), (200, Some("6")), "{payload}");
    ws.send(Message::text("5")).unwrap();
    let mut tcp_member = tcp_member(tcp, "철수", "games");
    tcp_member.send("안녕\n");
    text_with(&mut ws, "철수: 안녕");
    // Another client that learnt the sid: no second upgrade, no polling.
    match websocket(addr, &path) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 400),
        other => panic!("a second upgrade of one session: {other:?}"),
    }
    assert_eq!(poll(addr, 4, &sid).0, 400);
    assert_eq!(send(addr, 4, &sid, "42/chat,[\"text\",{\"msg\":\"hijack\"}]").0, 400);
    ws.send(Message::text(r#"42/chat,["text",{"msg":"여전히 나"}]"#)).unwrap();
    assert_eq!(line_with(&mut tcp_member, "민지:"), "민지: 여전히 나");
}

#[test]
fn a_client_that_stops_ponging_is_closed_and_the_room_told() {
    let (lab, tcp) = lab(quick());
    let addr = lab.addr;
    let mut tcp_member = tcp_member(tcp, "철수", "games");
    let mut connect = |name: &str| {
        let mut ws = websocket(addr, "/socket.io/?EIO=4&transport=websocket").unwrap();
        text_with(&mut ws, "\"pingInterval\":200");
        ws.send(Message::text(format!(r#"40/chat,{{"room":"games","name":"{name}"}}"#))).unwrap();
        line_with(&mut tcp_member, &format!("* {name} has entered games"));
        ws
    };
    let mut silent = connect("민지");
    let mut ponging = connect("영희");
    // 영희 answers every ping for longer than interval + timeout, and stays.
    let started = Instant::now();
    let mut pings = 0;
    while started.elapsed() < Duration::from_millis(2500) {
        if ponging.read().unwrap() == Message::text("2") {
            ponging.send(Message::text("3")).unwrap();
            pings += 1;
        }
    }
    assert!(pings >= 3, "{pings} pings in 2.5 s at a 200 ms interval");
    line_with(&mut tcp_member, "* 민지 has left the chat (connection lost)");
    // The silent one was pinged, then closed.
    let mut heard = Vec::new();
    for _ in 0..50 {
        match silent.read() {
            Ok(Message::Text(text)) => heard.push(text.to_string()),
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    assert!(heard.contains(&"2".to_string()), "{heard:?}");
    ponging.send(Message::text(r#"42/chat,["text",{"msg":"아직 여기"}]"#)).unwrap();
    assert_eq!(line_with(&mut tcp_member, "영희:"), "영희: 아직 여기");
}

#[test]
fn other_sites_pages_cannot_open_a_session_and_other_namespaces_are_refused() {
    let (lab, _) = lab(Default::default());
    let addr = lab.addr;
    let target = "/socket.io/?EIO=4&transport=polling";
    assert_eq!(request(addr, "GET", target, "", "Origin: http://evil.example\r\n").0, 403);
    let own = format!("Origin: http://{addr}\r\n");
    assert_eq!(request(addr, "GET", target, "", &own).0, 200);
    let (sid, _) = handshake(addr, 4);
    assert_eq!(send(addr, 4, &sid, "40/admin,").0, 200);
    let payload = poll_until(addr, 4, &sid, "44/admin,");
    assert!(payload.contains(r#"{"message":"Invalid namespace"#), "{payload}");
}

#[test]
fn the_page_is_served_and_the_client_script_only_when_given() {
    let (lab, _) = lab(Default::default());
    let (status, page) = request(lab.addr, "GET", "/sio", "", "");
    assert_eq!(status, 200);
    assert!(page.contains(r#"<script src="/socket.io/socket.io.js"></script>"#), "{page}");
    let (status, why) = request(lab.addr, "GET", "/socket.io/socket.io.js", "", "");
    assert_eq!(status, 404);
    assert!(why.contains("--sio-client"), "{why}");
    let script: std::sync::Arc<[u8]> = b"window.io = function () {};".to_vec().into();
    let (lab, _) =
        sio_support::lab(server::sio::Config { client_script: Some(script), ..Default::default() });
    let (status, body) = request(lab.addr, "GET", "/socket.io/socket.io.js", "", "");
    assert_eq!((status, body.as_str()), (200, "window.io = function () {};"));
}

#[test]
fn a_session_that_stops_polling_is_dropped_by_the_hubs_slow_reader_rule() {
    let limits = server::hub::Limits {
        stall: Duration::from_secs(1),
        patience: Duration::from_millis(100),
        ..Default::default()
    };
    let (lab, tcp) = sio_support::lab_with(limits, Default::default());
    let addr = lab.addr;
    // Connected, then never polls again: its queue fills, then its outbox, then the hub drops it.
    let _sid = member_v4(addr, "민지", "games");
    let mut tcp_member = tcp_member(tcp, "철수", "games");
    // The hub looks for stalled readers when someone speaks: speak, paced, for longer than
    // the stall window (bounded: 500 lines, 10 ms apart).
    let dropped = "* 민지 stopped reading and was dropped (too slow to keep up)";
    for i in 0..500 {
        tcp_member.send(&format!("줄 {i}\n"));
        loop {
            match tcp_member.line() {
                line if line == dropped => return,
                line if line == format!("철수: 줄 {i}") => break,
                _ => {}
            }
        }
        thread::sleep(Duration::from_millis(10)); // pacing the speaker, not waiting for the server
    }
    panic!("민지 was never dropped");
}

#[test]
fn stopping_the_lab_neither_hangs_on_nor_is_held_by_a_waiting_poll() {
    use std::io::{Read, Write};
    let (mut lab, _) = lab(Default::default());
    let addr = lab.addr;
    let (sid, _) = handshake(addr, 4);
    let mut poller = std::net::TcpStream::connect(addr).unwrap();
    poller.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(poller, "GET /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: {addr}\r\n\r\n")
        .unwrap();
    lab.stop_within(DEADLINE).unwrap();
    // Whether its GET was waiting (it hears `close`), came just after the sessions were closed
    // (its session is unknown now) or was never read (the connection closes), the poller is
    // let go at once, not after a ping interval.
    let mut answer = Vec::new();
    let read = poller.read_to_end(&mut answer);
    assert!(read.is_ok() || !common::net::is_timeout(&read.unwrap_err()), "the poll was left hanging");
    let answer = String::from_utf8_lossy(&answer);
    let unknown = answer.starts_with("HTTP/1.1 400") && answer.contains("Session ID unknown");
    assert!(answer.is_empty() || answer.ends_with("\r\n\r\n1") || unknown, "{answer}");
}
