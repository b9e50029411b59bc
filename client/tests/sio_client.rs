//! `cargo client sio`: against the lab on each transport, beside a TCP member, and against a real
//! python-socketio 5 server (tests/sio/server.py), which needs python-socketio and
//! simple-websocket (`.ci/run` installs them; without them that test says so and passes).

mod sio_support;
mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;

use sio_support::{lab, line_with, tcp_member};
use support::DEADLINE;

/// `cargo client sio` as a child process: its stdin to type into, its stdout line by line.
struct SioClient {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl SioClient {
    fn start(url: &str, transport: &str) -> SioClient {
        let mut child = Command::new(env!("CARGO_BIN_EXE_client"))
            .args(["sio", url, "--transport", transport, "--nick", "민지", "--room", "games"])
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the client binary");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (sender, lines) = mpsc::channel();
        thread::spawn(move || stdout.lines().map_while(Result::ok).try_for_each(|line| sender.send(line)));
        SioClient { child: Some(child), stdin, lines }
    }

    /// The next printed line that contains `needle`; bounded in time and count.
    fn line_with(&self, needle: &str) -> String {
        let mut seen = Vec::new();
        for _ in 0..100 {
            match self.lines.recv_timeout(DEADLINE) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        panic!("the client printed no line with {needle:?}; it printed {seen:?}");
    }

    fn type_line(&mut self, line: &str) {
        writeln!(self.stdin.as_mut().unwrap(), "{line}").unwrap();
    }

    /// Closes the input (the client leaves) and waits, bounded, for a clean exit.
    fn finish(mut self) {
        drop(self.stdin.take());
        let mut child = self.child.take().unwrap();
        let (sender, exited) = mpsc::channel();
        let id = child.id();
        thread::spawn(move || sender.send(child.wait()));
        match exited.recv_timeout(DEADLINE) {
            Ok(status) => assert!(status.unwrap().success(), "the client failed"),
            Err(_) => {
                // Not ours to kill by name: by its id, then fail.
                let _ = Command::new("kill").arg(id.to_string()).status();
                panic!("the client did not exit within {DEADLINE:?} of its input ending");
            }
        }
    }
}

impl Drop for SioClient {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn meets_a_tcp_member(transport: &str) {
    let (lab, tcp) = lab(Default::default());
    let mut tcp = tcp_member(tcp, "철수", "games");
    let mut client = SioClient::start(&format!("http://{}/chat", lab.addr), transport);
    line_with(&mut tcp, "* 민지 has entered games");
    client.line_with("* in games: ");
    tcp.send("반가워요 🙂\n");
    assert_eq!(client.line_with("철수:"), "철수: 반가워요 🙂");
    client.type_line("안녕 😀");
    assert_eq!(line_with(&mut tcp, "민지:"), "민지: 안녕 😀");
    assert_eq!(client.line_with("[you]"), "[you] 안녕 😀");
    client.finish();
    line_with(&mut tcp, "* 민지 has left the chat");
}

#[test]
fn the_rust_client_polls_then_upgrades_in_the_lab() {
    meets_a_tcp_member("auto");
}

#[test]
fn the_rust_client_on_websocket_only_in_the_lab() {
    meets_a_tcp_member("websocket");
}

#[test]
fn the_rust_client_on_polling_only_in_the_lab() {
    meets_a_tcp_member("polling");
}

#[test]
fn trace_shows_the_engine_io_and_socket_io_packets_of_the_upgrade() {
    let (lab, _) = lab(Default::default());
    let url = format!("http://{}/chat", lab.addr);
    let out = support::run_client(
        &["--trace", "sio", &url, "--nick", "민지", "--room", "games"],
        "안녕\n".as_bytes(),
    );
    let trace = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{trace}");
    for wanted in [
        "eio   0 open \"{\\\"maxPayload\\\":4096,",
        "sio   0 CONNECT nsp=\"/chat\" data=\"{\\\"name\\\":\\\"민지\\\",\\\"room\\\":\\\"games\\\"}\"",
        "eio   2 ping \"probe\"",
        "eio   3 pong \"probe\"",
        "eio   5 upgrade",
        "sio   2 EVENT nsp=\"/chat\" data=\"[\\\"text\\\",{\\\"msg\\\":\\\"안녕\\\"}]\"",
        "sio   1 DISCONNECT nsp=\"/chat\"",
    ] {
        assert!(trace.contains(wanted), "no {wanted:?} in the trace:\n{trace}");
    }
}

/// A Python with python-socketio and simple-websocket: the project's `.venv`, else `python3`.
fn python() -> Option<PathBuf> {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    let python = if venv.exists() { venv } else { PathBuf::from("python3") };
    let check = Command::new(&python).args(["-c", "import socketio, simple_websocket"]).output();
    if check.is_ok_and(|o| o.status.success()) {
        Some(python)
    } else {
        eprintln!("skipped: needs python-socketio and simple-websocket (pip install python-socketio simple-websocket)");
        None
    }
}

#[test]
#[ignore = "needs python-socketio; .ci/run installs it"]
fn the_rust_client_talks_to_a_real_python_socketio_server_on_every_transport() {
    let Some(python) = python() else { return };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/sio/server.py");
    let mut server = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the python-socketio server");
    let (sender, port) = mpsc::channel();
    let stdout = BufReader::new(server.stdout.take().unwrap());
    thread::spawn(move || stdout.lines().map_while(Result::ok).try_for_each(|line| sender.send(line)));
    let port = port.recv_timeout(DEADLINE).expect("the Python server printed no port");
    for transport in ["auto", "websocket", "polling"] {
        let mut client = SioClient::start(&format!("http://127.0.0.1:{port}/chat"), transport);
        client.line_with("* 민지 has entered the room.");
        client.type_line(&format!("안녕 😀 over {transport}"));
        assert_eq!(client.line_with("민지:"), format!("* 민지:안녕 😀 over {transport}"));
        client.finish();
    }
    drop(server.stdin.take()); // the server ends when its input closes
    let _ = server.kill();
    let _ = server.wait();
}
