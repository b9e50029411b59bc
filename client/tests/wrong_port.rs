//! The wrong port: every WebSocket client gives up on a server that does not answer its
//! handshake, with an error that names what it expected; the TCP chat client says so when an
//! HTTP server answers it.

mod support;

use std::io::Read;
use std::net::TcpListener;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use client::lessons::{chat::Chat, handshake, ws_chat::WsChat, ws_echo};
use server::hub::{Hub, Limits};
use server::lessons::chat;

const SHORT: Duration = Duration::from_secs(1);

fn tcp_chat() -> support::Running {
    support::start(|listener, shutdown| chat::run(listener, shutdown, Arc::new(Hub::new(Limits::default()))))
}

#[test]
fn the_websocket_chat_client_at_the_tcp_chat_says_where_the_websocket_chat_is() {
    let server = tcp_chat();
    let addr = server.addr.to_string();
    let started = Instant::now();
    let error = WsChat::connect_within(&addr, SHORT).err().expect("the TCP chat is not a WebSocket server");
    assert!(started.elapsed() < SHORT + support::DEADLINE, "took {:?}", started.elapsed());
    assert!(error.contains(&addr), "{error}");
    assert!(error.contains("is that the TCP chat?"), "{error}");
    assert!(error.ends_with("The WebSocket chat is `cargo server ws` on 127.0.0.1:8080"), "{error}");
}

#[test]
fn the_handshake_client_at_the_tcp_chat_gives_up_and_says_why() {
    let server = tcp_chat();
    let error = handshake::run_within(&server.addr.to_string(), "hi", SHORT).unwrap_err();
    assert!(error.contains("is that the TCP chat?"), "{error}");
    assert!(error.contains("`cargo server handshake`"), "{error}");
}

#[test]
fn the_websocket_echo_client_at_the_tcp_chat_says_where_the_echo_server_is() {
    let server = tcp_chat();
    let addr = server.addr.to_string();
    let error = ws_echo::run_within(&addr, SHORT, std::io::empty(), &mut Vec::new()).unwrap_err();
    assert!(error.starts_with(&format!("{addr} is not a WebSocket server")), "{error}");
    assert!(
        error.contains("The WebSocket echo server is `cargo server ws-echo` on 127.0.0.1:9001"),
        "{error}"
    );
}

#[test]
fn the_websocket_echo_client_at_a_silent_server_times_out() {
    // Accepts, reads, never answers: the handshake must not wait forever.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = stream.read(&mut [0u8; 1024]);
            thread::sleep(Duration::from_secs(30));
        }
    });
    let started = Instant::now();
    let error = ws_echo::run_within(&addr, SHORT, std::io::empty(), &mut Vec::new()).unwrap_err();
    assert!(started.elapsed() < SHORT + support::DEADLINE, "took {:?}", started.elapsed());
    assert!(error.starts_with(&format!("no WebSocket answer from {addr} within 1 s")), "{error}");
    assert!(error.contains("`cargo server ws-echo` on 127.0.0.1:9001"), "{error}");
}

#[test]
fn the_tcp_chat_client_at_an_http_server_says_it_is_a_web_server() {
    let hub = Arc::new(Hub::new(Limits::default()));
    let server = support::start(move |listener, shutdown| {
        server::lessons::http_chat::run(listener, shutdown, hub, Default::default())
    });
    // A keyboard that stays open: the client must end because of what the server said.
    let (keyboard, _keys) = std::io::pipe().unwrap();
    let chat = Chat::connect(&server.addr.to_string()).unwrap();
    let error = chat
        .run(Some("alice"), None, std::io::BufReader::new(keyboard), &mut Vec::new())
        .expect_err("an HTTP server is not the TCP chat");
    assert!(error.contains("answered in HTTP (\"HTTP/1.1 400"), "{error}");
    assert!(
        error.contains("The TCP chat is `cargo server chat` (or the lab's TCP side) on 127.0.0.1:7878"),
        "{error}"
    );
}
