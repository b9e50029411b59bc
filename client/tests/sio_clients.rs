//! The real Socket.IO clients from npm, in Node, in the lab's chat: socket.io-client 4 (polling
//! then the upgrade, WebSocket only, polling only) and 2.3.0, the article's, each with a TCP and
//! a WebSocket member in one room. They need Node and `tests/sio`'s packages
//! (`cd tests/sio && npm ci`), which `.ci/run` installs before running the ignored tests.

mod sio_support;
mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;

use serde_json::Value;
use sio_support::{lab, line_with, tcp_member, text_with, ws_member};
use support::DEADLINE;
use tungstenite::{Message, WebSocket};

/// `tests/sio`, where `chat.js` and its node_modules are; `None` (and why) when they are missing.
fn clients() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/sio");
    let node = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if !node || !dir.join("node_modules/sio4").exists() || !dir.join("node_modules/sio2").exists() {
        eprintln!("skipped: needs Node and the npm packages of tests/sio (cd tests/sio && npm ci)");
        return None;
    }
    Some(dir)
}

/// A member on a real client: `chat.js` in Node, its events as JSON lines.
struct NodeMember {
    child: Child,
    stdin: ChildStdin,
    events: Receiver<Value>,
    seen: Vec<Value>,
}

impl NodeMember {
    fn start(dir: &PathBuf, url: &str, version: &str, transports: &str) -> NodeMember {
        let mut child = Command::new("node")
            .current_dir(dir)
            .args(["chat.js", url, version, transports, "민지", "games"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (sender, events) = mpsc::channel();
        thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let event = serde_json::from_str(&line).unwrap_or(Value::String(line));
                if sender.send(event).is_err() {
                    break;
                }
            }
        });
        NodeMember { child, stdin, events, seen: Vec::new() }
    }

    /// The next event named `name` whose `msg` contains `needle`; bounded in time and count.
    fn event(&mut self, name: &str, needle: &str) -> Value {
        for _ in 0..100 {
            let event = self.events.recv_timeout(DEADLINE).unwrap_or_else(|_| {
                panic!("no {name} event with {needle:?} within {DEADLINE:?}; saw {:?}", self.seen)
            });
            self.seen.push(event.clone());
            let msg = event["msg"].as_str().or(event["transport"].as_str()).unwrap_or_default();
            if event["event"] == name && msg.contains(needle) {
                return event;
            }
        }
        panic!("no {name} event with {needle:?} in 100 events");
    }

    fn say(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to node");
    }
}

impl Drop for NodeMember {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One real client in a room with a TCP member and a WebSocket member, Korean both ways.
fn meet(version: &str, transports: &str) {
    let Some(dir) = clients() else { return };
    let (lab, tcp) = lab(Default::default());
    let addr = lab.addr;
    let mut tcp = tcp_member(tcp, "철수", "games");
    let mut ws: WebSocket<TcpStream> = ws_member(addr, "영희", "games");
    let mut node = NodeMember::start(&dir, &format!("http://{addr}"), version, transports);
    let first = transports.split(',').next().unwrap();
    node.event("open", first);
    node.event("connect", "");
    line_with(&mut tcp, "* 민지 has entered games");
    // `joined` asks who is here.
    node.event("status", "in games: ");
    node.say("text 안녕 😀 from Node");
    assert_eq!(line_with(&mut tcp, "민지:"), "민지: 안녕 😀 from Node");
    assert!(text_with(&mut ws, "민지:").ends_with("민지: 안녕 😀 from Node"));
    tcp.send("반가워요 🙂\n");
    let message = node.event("message", "철수: 반가워요 🙂");
    assert_eq!((message["nick"].as_str(), message["text"].as_str()), (Some("철수"), Some("반가워요 🙂")));
    ws.send(Message::text("어서 와")).unwrap();
    node.event("message", "영희: 어서 와");
    let upgraded =
        |seen: &[Value]| seen.iter().any(|e| e["event"] == "upgrade" && e["transport"] == "websocket");
    if transports == "polling,websocket" && !upgraded(&node.seen) {
        node.event("upgrade", "websocket");
    }
    assert_eq!(upgraded(&node.seen), transports == "polling,websocket", "{:?}", node.seen);
    node.say("left");
    line_with(&mut tcp, "* 민지 has left the chat");
    node.event("disconnect", "");
}

#[test]
#[ignore = "needs Node and tests/sio's npm packages; .ci/run installs them"]
fn socket_io_client_4_polls_then_upgrades_and_chats() {
    meet("4", "polling,websocket");
}

#[test]
#[ignore = "needs Node and tests/sio's npm packages; .ci/run installs them"]
fn socket_io_client_4_on_websocket_only_chats() {
    meet("4", "websocket");
}

#[test]
#[ignore = "needs Node and tests/sio's npm packages; .ci/run installs them"]
fn socket_io_client_4_on_polling_only_chats() {
    meet("4", "polling");
}

#[test]
#[ignore = "needs Node and tests/sio's npm packages; .ci/run installs them"]
fn socket_io_client_2_3_websocket_only_like_the_articles_page_chats() {
    meet("2", "websocket");
}

#[test]
#[ignore = "needs Node and tests/sio's npm packages; .ci/run installs them"]
fn socket_io_client_2_3_polls_then_upgrades_and_chats() {
    meet("2", "polling,websocket");
}

/// The lab's page (`/sio`) in headless Chromium, with `bundle` (a file of tests/sio's npm
/// packages) as the Socket.IO client script the lab serves.
fn page_in_a_browser(bundle: &str) {
    let Some(dir) = clients() else { return };
    let chromium = std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into());
    let browser_dir = dir.join("../browser");
    if !std::path::Path::new(&chromium).exists() || !browser_dir.join("node_modules/playwright-core").exists()
    {
        eprintln!(
            "skipped: needs Chromium and tests/browser's playwright-core (apt-get install chromium; npm ci)"
        );
        return;
    }
    let script = std::fs::read(dir.join("node_modules").join(bundle)).expect("read the bundle");
    let config = server::sio::Config { client_script: Some(script.into()), ..Default::default() };
    let (lab, tcp) = lab(config);
    let output = Command::new("node")
        .current_dir(&browser_dir)
        .env("CHROMIUM", &chromium)
        .args(["sio-page.mjs", &format!("http://{}", lab.addr), &tcp.to_string()])
        .output()
        .expect("run node");
    let printed =
        String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && printed.trim_end().ends_with("ok"),
        "the browser test failed: {printed}"
    );
}

#[test]
#[ignore = "needs Chromium, playwright-core and tests/sio's npm packages; .ci/run installs them"]
fn the_labs_page_chats_in_a_browser_with_socket_io_client_4() {
    page_in_a_browser("sio4/dist/socket.io.min.js");
}

#[test]
#[ignore = "needs Chromium, playwright-core and tests/sio's npm packages; .ci/run installs them"]
fn the_labs_page_chats_in_a_browser_with_the_articles_socket_io_client_2_3() {
    page_in_a_browser("sio2/dist/socket.io.js");
}
