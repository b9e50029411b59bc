//! The client binary as a user runs it, against a real server started in-process.

mod support;

use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};

use server::hub::{Hub, Limits};
use server::lessons::{chat, echo, lifecycle};

fn client(args: &[&str], stdin: &[u8]) -> Output {
    support::run_client(args, stdin)
}

#[test]
fn piped_input_is_echoed_and_the_client_exits_cleanly() {
    let server = support::start(echo::run);
    let out = client(&["echo", "--addr", &server.addr.to_string()], "hello\n안녕\n".as_bytes());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "hello\n안녕\n");
    let log = String::from_utf8(out.stderr).unwrap();
    assert!(log.contains(&format!("connected to {}", server.addr)), "{log}");
    assert!(log.contains("end of input after 13 bytes: shutdown(Write)"), "{log}");
}

#[test]
fn lifecycle_client_prints_the_reply_and_each_call() {
    let listener = lifecycle::open("127.0.0.1:0".parse().unwrap()).unwrap();
    let server = support::start_on(listener, lifecycle::run);
    let out = client(&["lifecycle", "--addr", &server.addr.to_string(), "--message", "hi there"], b"");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "hi there\n");
    let log = String::from_utf8(out.stderr).unwrap();
    let steps = ["socket() ->", "connect(", "send() -> 9 bytes", "recv() -> 9 bytes", "close() ->"];
    let mut at = 0;
    for step in steps {
        at += log[at..].find(step).unwrap_or_else(|| panic!("{step:?} missing or out of order in:\n{log}"));
    }
}

#[test]
fn no_server_is_one_line_naming_the_server_command() {
    let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let out = client(&["echo", "--addr", &addr.to_string()], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!("error: no server at {addr}: start it in another terminal with `cargo server echo --addr {addr}`\n")
    );
}

#[test]
fn chat_client_with_piped_input_says_its_lines_and_leaves() {
    let hub = std::sync::Arc::new(Hub::new(Limits::default()));
    let server = support::start(move |listener, shutdown| chat::run(listener, shutdown, hub));
    let args = ["chat", "--addr", &server.addr.to_string(), "--nick", "pipe", "--room", "class"];
    let out = client(&args, "hello, class\n".as_bytes());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(shown.ends_with("* you are now pipe in class\n[you] hello, class\n* bye\n"), "{shown}");
    assert!(String::from_utf8(out.stderr).unwrap().ends_with("left the chat\n"));
}

#[cfg(unix)]
#[test]
fn ctrl_c_in_the_chat_client_leaves_the_room_politely() {
    use std::io::{BufRead, BufReader};
    let hub = std::sync::Arc::new(Hub::new(Limits::default()));
    let server = support::start(move |listener, shutdown| chat::run(listener, shutdown, hub));
    let mut child = Command::new(env!("CARGO_BIN_EXE_client"))
        .args(["chat", "--addr", &server.addr.to_string(), "--nick", "leaver"])
        .stdin(Stdio::piped()) // kept open: the keyboard thread waits, as with a person
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Lines arrive on a channel, so every wait below has a deadline.
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, shown) = std::sync::mpsc::channel();
    std::thread::spawn(move || stdout.lines().map_while(Result::ok).try_for_each(|line| tx.send(line)));
    let next = || shown.recv_timeout(support::DEADLINE).ok();
    let arrived = (0..10).map_while(|_| next()).any(|line| line == "* you are now leaver in lobby");
    assert!(arrived, "the client never joined");
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert_eq!(next().as_deref(), Some("* bye"));
    assert_eq!(next(), None, "the client should exit after the goodbye");
    assert!(child.wait().unwrap().success());
}

/// An HTTP client started as a user starts it, its standard input kept open like a keyboard's;
/// what it logs (standard error) and what it shows (standard output), line by line.
#[cfg(unix)]
fn http_client(args: &[&str]) -> (std::process::Child, Lines, Lines) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_client"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = lines(child.stderr.take().unwrap());
    let shown = lines(child.stdout.take().unwrap());
    (child, log, shown)
}

type Lines = std::sync::mpsc::Receiver<String>;

/// The lines still to come until the stream ends (its writer exited), within the deadline.
#[cfg(unix)]
fn to_the_end(lines: &Lines) -> Vec<String> {
    let deadline = std::time::Instant::now() + support::DEADLINE;
    let mut all = Vec::new();
    while let Ok(line) = lines.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
        all.push(line);
    }
    all
}

/// Every line `from` gives, handed over as it comes.
#[cfg(unix)]
fn lines(from: impl std::io::Read + Send + 'static) -> Lines {
    use std::io::{BufRead, BufReader};
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        BufReader::new(from).lines().map_while(Result::ok).try_for_each(|l| tx.send(l))
    });
    lines
}

/// Waits (bounded) for the child to exit; its status.
fn exit_within(child: &mut std::process::Child, limit: std::time::Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the client did not exit within {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[cfg(unix)]
#[test]
fn http_clients_end_with_a_clear_line_and_exit_0_when_the_server_stops() {
    use server::lessons::http_chat;
    for lesson in ["poll", "long-poll", "stream"] {
        let hub = std::sync::Arc::new(Hub::new(Limits::default()));
        hub.post("lobby", "earlier", "before you came").unwrap();
        let mut server = support::start(move |listener, shutdown| {
            http_chat::run(listener, shutdown, hub, Default::default())
        });
        let addr = server.addr.to_string();
        let (mut child, log, shown) = http_client(
            &[lesson, "--addr", &addr, "--interval", "0.05"][..if lesson == "poll" { 5 } else { 3 }],
        );
        let started = log.recv_timeout(support::DEADLINE).expect("the client said nothing");
        assert!(started.contains(&format!("http://{addr}/")), "{started}");
        // The server has answered once when the client shows the room's message (an event, not
        // a pause that a busy machine outlasts); then stop it as Ctrl-C does.
        let answered = shown.recv_timeout(support::DEADLINE).expect("the client showed nothing");
        assert_eq!(answered, "earlier: before you came", "{lesson}");
        server.stop_within(support::DEADLINE).unwrap();
        let status = exit_within(&mut child, support::DEADLINE);
        // Everything it logged, to the end of its stderr: the lines may still be on their way
        // through the pipe after the process has exited.
        let said = to_the_end(&log);
        assert!(status.success(), "{lesson}: {said:?}");
        assert!(
            said.iter().any(|l| l.contains(&addr) && (l.contains("goodbye") || l.contains("has stopped"))),
            "{lesson}: {said:?}"
        );
        assert!(
            !said.iter().any(|l| l.contains("cargo server http") || l.contains("error")),
            "{lesson}: {said:?}"
        );
    }
}

#[cfg(unix)]
#[test]
fn http_clients_stop_at_the_end_of_their_input() {
    use server::lessons::http_chat;
    let hub = std::sync::Arc::new(Hub::new(Limits::default()));
    let server =
        support::start(move |listener, shutdown| http_chat::run(listener, shutdown, hub, Default::default()));
    for lesson in ["poll", "long-poll", "stream"] {
        let (mut child, _log, _shown) =
            http_client(&[lesson, "--addr", &server.addr.to_string(), "--nick", "piped"]);
        child.stdin.take().unwrap().write_all(b"one line, then the end\n").unwrap(); // dropped: end of input
        assert!(exit_within(&mut child, support::DEADLINE).success(), "{lesson}");
    }
}
