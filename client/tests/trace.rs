//! `--trace` only looks: the same exchange, run without it and then with it, gives the client
//! the same output, and the trace shows each lesson's layer (lines, HTTP heads, WebSocket frames).
//!
//! One test in its own process: turning tracing on is for the whole process, so the exchanges
//! without it must run first. The in-process servers trace into a sink the test reads.

mod support;

use std::process::Output;
use std::sync::{Arc, Mutex};

use common::trace::{self, Sink};
use server::hub::{Hub, Limits};
use server::lessons::{chat, echo, handshake, ws_echo};

fn client(args: &[&str], stdin: &[u8]) -> Output {
    support::run_client(args, stdin)
}

/// One lesson's exchange: the client's arguments (without `--addr`), what it types, and what
/// its trace must show.
struct Exchange {
    lesson: &'static str,
    args: &'static [&'static str],
    stdin: &'static [u8],
    client_trace: &'static [&'static str],
    server_trace: &'static [&'static str],
}

const EXCHANGES: [Exchange; 4] = [
    Exchange {
        lesson: "echo",
        args: &["echo"],
        stdin: b"hello\n\x1b[2Jsafe\n",
        client_trace: &[">> to ", "<< from ", "|hello.", "end of stream"],
        server_trace: &["<< from ", ">> to ", "|hello."],
    },
    Exchange {
        lesson: "chat",
        args: &["chat", "--nick", "ada"],
        stdin: b"hi all\n",
        client_trace: &[">> to ", "line  \"/nick ada\"", "line  \"hi all\""],
        server_trace: &["line  \"hi all\""],
    },
    Exchange {
        lesson: "ws-echo",
        args: &["ws-echo"],
        stdin: b"framed\n",
        client_trace: &["http  GET / HTTP/1.1", "http  HTTP/1.1 101 Switching Protocols", "ws    "],
        server_trace: &["http  HTTP/1.1 101 Switching Protocols", "ws    "],
    },
    Exchange {
        lesson: "handshake",
        args: &["handshake", "--message", "by hand"],
        stdin: b"",
        client_trace: &["http  GET / HTTP/1.1", "http  HTTP/1.1 101 Switching Protocols", "ws    "],
        server_trace: &["http  HTTP/1.1 101 Switching Protocols", "ws    "],
    },
];

fn start(lesson: &str) -> support::Running {
    match lesson {
        "echo" => support::start(echo::run),
        "chat" => support::start(|l, s| chat::run(l, s, Arc::new(Hub::new(Limits::default())))),
        "ws-echo" => support::start(|l, s| ws_echo::run(l, s, 4)),
        "handshake" => support::start(|l, s| handshake::run(l, s, 4)),
        other => unreachable!("no server for {other}"),
    }
}

fn run(exchange: &Exchange, traced: bool) -> Output {
    let server = start(exchange.lesson);
    let addr = server.addr.to_string();
    let mut args = exchange.args.to_vec();
    args.extend(["--addr", &addr]);
    if traced {
        args.push("--trace");
    }
    client(&args, exchange.stdin)
}

#[test]
fn trace_changes_nothing_the_client_receives_and_shows_each_layer() {
    let plain: Vec<Output> = EXCHANGES.iter().map(|e| run(e, false)).collect();

    let server_trace = Arc::new(Mutex::new(String::new()));
    let into = server_trace.clone();
    trace::enable_into(Sink::new(move |text| into.lock().unwrap().push_str(text)));

    for (exchange, plain) in EXCHANGES.iter().zip(plain) {
        server_trace.lock().unwrap().clear();
        let traced = run(exchange, true);
        let lesson = exchange.lesson;
        let log = String::from_utf8_lossy(&traced.stderr);
        assert!(plain.status.success() && traced.status.success(), "{lesson}: {log}");
        assert!(!plain.stdout.is_empty(), "{lesson}: the client printed nothing");
        assert_eq!(
            String::from_utf8_lossy(&traced.stdout),
            String::from_utf8_lossy(&plain.stdout),
            "{lesson}: --trace changed what the client received"
        );
        for needle in exchange.client_trace {
            assert!(log.contains(needle), "{lesson}: the client's trace lacks {needle:?}:\n{log}");
        }
        // Nothing a peer sent reaches the terminal raw: no ESC in the trace or the output.
        assert!(!traced.stderr.contains(&0x1b) && !traced.stdout.contains(&0x1b), "{lesson}: a raw ESC");
        let server_log = server_trace.lock().unwrap().clone();
        for needle in exchange.server_trace {
            assert!(
                server_log.contains(needle),
                "{lesson}: the server's trace lacks {needle:?}:\n{server_log}"
            );
        }
    }
}
