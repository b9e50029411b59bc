//! The server binary as a user runs it: a real process, a real (ephemeral) port, Ctrl-C as
//! SIGINT, and the words it prints.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

mod process;
use process::{connect, read_line, server, Process, DEADLINE};

#[test]
fn help_lists_the_lessons_in_order() {
    let out = server().arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let positions: Vec<usize> = [
        "1. The socket life cycle",
        "2. An echo server",
        "3. The echo server with a thread",
        "4. A chat over plain TCP",
        "5. The chat over HTTP",
        "6. WebSocket echo",
    ]
    .iter()
    .map(|needle| help.find(needle).unwrap_or_else(|| panic!("{needle:?} missing from:\n{help}")))
    .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "lessons out of order:\n{help}");
}

#[test]
fn port_in_use_is_one_clear_line() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    for lesson in ["lifecycle", "echo", "threaded-echo", "chat", "http", "ws-echo", "handshake", "ws"] {
        let out = server().args([lesson, "--addr", &addr.to_string()]).output().unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8(out.stderr).unwrap();
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with(&format!(
                "error: {addr} is already in use — is another server running? try --addr"
            )),
            "{lesson}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn lifecycle_log_reads_like_the_textbook_diagram() {
    let mut server = Process::spawn(&["lifecycle", "--addr", "127.0.0.1:0"]);
    let listen = format!("listen(backlog = {})", common::net::max_backlog());
    for step in ["socket() ->", "bind(127.0.0.1:", &listen] {
        server.wait_for(step);
    }
    let addr = server.listening_addr();
    let (mut stream, mut reader) = connect(addr);
    stream.write_all(b"hello\n").unwrap();
    assert_eq!(read_line(&mut reader), "hello\n");
    drop((stream, reader));
    for step in [
        "accept() -> a NEW socket for 127.0.0.1:",
        "recv() -> 6 bytes",
        "send() -> 6 bytes back",
        "recv() -> 0 bytes",
    ] {
        server.wait_for(step);
    }
    server.wait_for("close() -> the socket for");
    server.interrupt();
    assert!(server.exit_within(Duration::from_secs(2)).success());
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_each_server_blocked_in_accept_with_exit_code_0() {
    for lesson in ["lifecycle", "echo", "threaded-echo", "chat", "http", "ws-echo", "handshake", "ws"] {
        let mut server = Process::spawn(&[lesson, "--addr", "127.0.0.1:0"]);
        server.listening_addr();
        server.interrupt();
        let status = server.exit_within(Duration::from_secs(1));
        assert!(status.success(), "{lesson} exited with {status}");
    }
}

#[cfg(unix)]
#[test]
fn ctrl_c_tells_connected_clients_goodbye() {
    let mut server = Process::spawn(&["threaded-echo", "--addr", "127.0.0.1:0"]);
    let addr = server.listening_addr();
    let mut clients: Vec<_> = (0..2).map(|_| connect(addr)).collect();
    for (stream, reader) in &mut clients {
        stream.write_all(b"ping\n").unwrap();
        assert_eq!(read_line(reader), "ping\n");
    }
    server.interrupt();
    for (_, reader) in &mut clients {
        assert_eq!(read_line(reader), format!("{}\n", common::GOODBYE));
        assert_eq!(read_line(reader), "", "the connection should close after the goodbye");
    }
    assert!(server.exit_within(Duration::from_secs(1)).success());
    server.wait_for("threaded echo server stopped");
}

#[cfg(unix)]
#[test]
fn ctrl_c_on_the_chat_server_says_goodbye_to_an_nc_style_client() {
    let mut server = Process::spawn(&["chat", "--addr", "127.0.0.1:0"]);
    let addr = server.listening_addr();
    let (mut stream, mut reader) = connect(addr);
    assert_eq!(read_line(&mut reader), "* welcome to the socket-steps chat! /help lists the commands\n");
    stream.write_all(b"/nick nc-user\n").unwrap();
    server.wait_for("guest-1 is now nc-user");
    server.interrupt();
    let mut rest = String::new();
    while !rest.ends_with(&format!("{}\n", common::GOODBYE)) {
        let line = read_line(&mut reader);
        assert!(!line.is_empty(), "closed without a goodbye after {rest:?}");
        rest.push_str(&line);
    }
    assert_eq!(read_line(&mut reader), "");
    assert!(server.exit_within(Duration::from_secs(1)).success());
}

/// CPU time (user + system, in clock ticks) the process has used so far.
#[cfg(target_os = "linux")]
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name may hold spaces; the fields after its closing parenthesis do not.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn fifty_waiting_long_polls_burn_no_cpu_and_all_wake_on_one_message() {
    let mut server = Process::spawn(&["http", "--addr", "127.0.0.1:0"]);
    let addr = server.listening_addr();
    let mut waiting: Vec<_> = (0..50)
        .map(|_| {
            let (mut stream, reader) = connect(addr);
            write!(stream, "GET /long-poll?room=quiet&since=0 HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
            (stream, reader)
        })
        .collect();
    // 50 threads asleep on the hub: half a second of it costs (next to) nothing. A loop that
    // checked for news in a spin would burn the whole half second, 50 ticks.
    let before = cpu_ticks(server.child.id());
    thread::sleep(Duration::from_millis(500));
    let used = cpu_ticks(server.child.id()) - before;
    assert!(used <= 5, "the waiting server used {used} ticks of CPU in 500 ms");

    let (mut poster, mut answer) = connect(addr);
    let body = r#"{"room":"quiet","nick":"waker","text":"wake up"}"#;
    write!(
        poster,
        "POST /send HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    assert_eq!(read_line(&mut answer), "HTTP/1.1 200 OK\r\n");
    for (_, reader) in &mut waiting {
        assert_eq!(read_line(reader), "HTTP/1.1 200 OK\r\n");
        let mut length = 0;
        loop {
            let line = read_line(reader);
            assert!(!line.is_empty(), "closed in the middle of the head");
            if line == "\r\n" {
                break;
            }
            if let Some(n) = line.strip_prefix("Content-Length: ") {
                length = n.trim().parse().unwrap();
            }
        }
        let mut body = vec![0u8; length];
        std::io::Read::read_exact(reader, &mut body).unwrap();
        assert!(String::from_utf8(body).unwrap().contains(r#""text":"wake up""#));
    }
    server.interrupt();
    assert!(server.exit_within(Duration::from_secs(1)).success());
}

/// A client that connects and resets at once (SO_LINGER 0, what a killed or hostile peer does):
/// `accept` still returns its connection, but `peer_addr` fails. That is the peer's business:
/// no back-off, no warning, and a normal client is served as fast as ever.
#[test]
fn resets_before_accept_do_not_slow_other_clients_or_warn() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    let mut server = Process::spawn(&["threaded-echo", "--addr", "127.0.0.1:0"]);
    let addr = server.listening_addr();
    let stop = Arc::new(AtomicBool::new(false));
    let resets = Arc::new(AtomicUsize::new(0));
    let resetter = {
        let (stop, resets) = (stop.clone(), resets.clone());
        thread::spawn(move || {
            let deadline = Instant::now() + DEADLINE;
            while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                if let Ok(stream) = TcpStream::connect(addr) {
                    socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO)).unwrap();
                    resets.fetch_add(1, Ordering::SeqCst);
                }
                // About 2,000 resets a second: far more than a server that sleeps 10 ms per
                // reset can take, and easy for one that does not.
                thread::sleep(Duration::from_micros(500));
            }
        })
    };
    // Let the resets build up a queue first (bounded: the resetter stops at its deadline).
    while resets.load(Ordering::SeqCst) < 200 && !resetter.is_finished() {
        thread::yield_now();
    }
    // Ten normal clients, one after another, each a new connection and one echo.
    let started = Instant::now();
    for _ in 0..10 {
        let (mut stream, mut reader) = connect(addr);
        stream.write_all(b"ping\n").unwrap();
        assert_eq!(read_line(&mut reader), "ping\n");
    }
    let took = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    resetter.join().unwrap();
    let resets = resets.load(Ordering::SeqCst);
    assert!(resets >= 200, "only {resets} resets: the test did not test anything");
    // Unloaded, ten echoes take a few milliseconds; behind a queue of resets that each cost
    // 10 ms, every one of them waited a second or more.
    assert!(took < Duration::from_secs(3), "10 echoes took {took:?} beside {resets} resets");
    server.interrupt();
    assert!(server.exit_within(Duration::from_secs(2)).success());
    let warnings: Vec<&String> =
        server.drain(Duration::from_millis(200)).iter().filter(|l| l.starts_with("warning")).collect();
    assert!(warnings.is_empty(), "{resets} resets logged warnings: {warnings:#?}");
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_the_lab_with_raised_caps_within_a_second() {
    let args = ["lab", "--tcp", "127.0.0.1:0", "--http", "127.0.0.1:0", "--max-members", "1000"];
    let mut server = Process::spawn(&args);
    server.wait_for("the lab is open");
    server.wait_for("browser:  http://127.0.0.1:");
    server.interrupt();
    let status = server.exit_within(Duration::from_secs(1));
    assert!(status.success(), "the lab exited with {status}");
}

#[test]
fn the_handshake_lesson_never_prints_a_peers_control_codes_to_the_terminal() {
    let mut server = Process::spawn(&["handshake", "--addr", "127.0.0.1:0"]);
    let addr = server.listening_addr();
    let (mut stream, mut reader) = connect(addr);
    // U+009B is CSI as one UTF-8 character (a terminal may obey it like ESC [), and U+202E turns
    // the rest of the line around. HTTP refuses the C0 controls in a header; these pass.
    let request = format!(
        "GET /x\u{9b}2J HTTP/1.1\r\nHost: {addr}\r\nX-Note: \u{9b}2J and \u{202e}gnp.exe\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    assert!(read_line(&mut reader).starts_with("HTTP/1.1 101"));
    for line in [server.wait_for("sent an HTTP request"), server.wait_for("X-Note")] {
        assert!(!line.contains(['\u{9b}', '\u{202e}']), "a peer's control code reached the log: {line:?}");
        assert!(line.contains('\u{fffd}'), "{line:?}");
    }
    server.interrupt();
    assert!(server.exit_within(Duration::from_secs(2)).success());
}
