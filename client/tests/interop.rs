//! Clients nobody here wrote, in the lab's chat: Python's `websockets` library and a real browser
//! (headless Chromium driving the lab's page). They need tools the plain `cargo test` does not
//! have, so they are `#[ignore]`d there; `.ci/run` installs the tools and runs them with
//! `--include-ignored`. When they run, a missing tool is a failure that says how to install it.

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;

use server::hub::Limits;
use server::lessons::ws_chat::Origins;
use support::{Raw, Running, DEADLINE};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn lab_server() -> (Running, SocketAddr) {
    support::lab(Limits::default(), Origins::default())
}

fn until(client: &mut Raw, wanted: &str) {
    for _ in 0..50 {
        if client.line() == wanted {
            return;
        }
    }
    panic!("{wanted:?} never came");
}

/// Runs `command`, handing its output lines to the test as they come; panics with `install` if
/// the program is not there.
fn spawn(command: &mut Command, install: &str) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {:?} ({e}): {install}", command.get_program()));
    let (tx, lines) = mpsc::channel();
    for out in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        thread::spawn(move || BufReader::new(out).lines().map_while(Result::ok).try_for_each(|l| tx.send(l)));
    }
    (child, lines)
}

/// Waits (bounded) for the process to end; returns everything it printed and whether it succeeded.
fn finish(
    mut child: std::process::Child,
    lines: mpsc::Receiver<String>,
    limit: std::time::Duration,
) -> (bool, Vec<String>) {
    let deadline = std::time::Instant::now() + limit;
    let mut printed = Vec::new();
    loop {
        while let Ok(line) = lines.try_recv() {
            printed.push(line);
        }
        if let Some(status) = child.try_wait().unwrap() {
            // The last lines may still be in the pipe: read to its end (the reader thread then
            // drops its sender), within the same deadline.
            while let Ok(line) =
                lines.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            {
                printed.push(line);
            }
            return (status.success(), printed);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running after {limit:?}; printed {printed:#?}");
        }
        if let Ok(line) = lines.recv_timeout(std::time::Duration::from_millis(50)) {
            printed.push(line);
        }
    }
}

#[test]
#[ignore = "needs Python's websockets: .ci/run installs it into .venv"]
fn python_websockets_chats_with_a_tcp_member() {
    let python =
        std::env::var("SOCKET_STEPS_PYTHON").map(PathBuf::from).unwrap_or(repo().join(".venv/bin/python"));
    let install = "install it with `python3 -m venv .venv && .venv/bin/pip install websockets` (or set SOCKET_STEPS_PYTHON)";
    let check = Command::new(&python).args(["-c", "import websockets.sync.client"]).output();
    assert!(
        check.is_ok_and(|out| out.status.success()),
        "Python `websockets` is missing at {}: {install}",
        python.display()
    );

    let (server, tcp) = lab_server();
    let mut nc = Raw::connect(tcp);
    nc.send("/nick nc-user\n");
    until(&mut nc, "* you are now nc-user in lobby");
    let script = repo().join("tests/interop/websockets_client.py");
    let url = format!("ws://{}/ws", server.addr);
    let (child, lines) = spawn(Command::new(&python).arg(script).arg(url), install);
    // Announced under its name once it settles: its first line, or the arrival grace.
    until(&mut nc, "* py has entered lobby");
    nc.send("hello python\n");
    until(&mut nc, "py: hello from python websockets, 안녕");
    until(&mut nc, "* py has left the chat");
    let (ok, printed) = finish(child, lines, DEADLINE * 2);
    assert!(ok, "the Python client failed: {printed:#?}");
    assert_eq!(printed.last().map(String::as_str), Some("closed cleanly: 1000"), "{printed:#?}");
}

#[test]
#[ignore = "needs Chromium and playwright-core: .ci/run installs them"]
fn a_browser_chats_over_every_transport_of_the_page() {
    browser_script("lab.mjs");
}

/// The page in Korean for a browser that prefers Korean, and Hangul typed through an input
/// method: Enter while a syllable is being composed sends the whole word once (issue 25).
#[test]
#[ignore = "needs Chromium and playwright-core: .ci/run installs them"]
fn a_korean_browser_gets_the_page_in_korean_and_enter_waits_for_the_input_method() {
    browser_script("korean.mjs");
}

/// Chapter 14's lab on one thread serves the page (`GET /`) and `/ws` from its loop, and a
/// browser member chats there with a TCP member and with `cargo client ws` (issue 26).
#[test]
#[ignore = "needs Chromium and playwright-core: .ci/run installs them"]
fn a_browser_chats_on_the_one_thread_lab_with_nc_and_cargo_client_ws() {
    let (server, tcp_addr) = support::one_thread_lab(Limits::default(), Origins::default());
    let url = format!("http://{}/", server.addr);
    run_browser_script("one-thread.mjs", &[&url, &tcp_addr.to_string(), env!("CARGO_BIN_EXE_client")]);
}

/// Runs `script` in tests/browser against a fresh lab: it must print "ok" last.
fn browser_script(script: &str) {
    let (server, tcp) = lab_server();
    let url = format!("http://{}/", server.addr);
    run_browser_script(script, &[&url, &tcp.to_string()]);
}

/// Runs `script` in tests/browser with `args`: it must print "ok" last.
fn run_browser_script(script: &str, args: &[&str]) {
    let (chromium, browser_dir) = support::browser_tools();
    let mut command = Command::new("node");
    // The layout check leaves its pictures here, to look at: lab-laptop.png, lab-phone.png.
    let screenshots = env!("CARGO_TARGET_TMPDIR");
    command.current_dir(&browser_dir).env("CHROMIUM", &chromium).env("SCREENSHOTS", screenshots);
    command.arg(script).args(args);
    let (child, lines) = spawn(&mut command, "install Node.js 18 or later");
    let (ok, printed) = finish(child, lines, std::time::Duration::from_secs(90));
    assert!(
        ok && printed.last().map(String::as_str) == Some("ok"),
        "the browser test {script} failed: {printed:#?}"
    );
}
