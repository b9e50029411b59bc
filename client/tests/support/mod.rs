//! Runs a lesson's server in-process on 127.0.0.1:0 and stops it when the test is done.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use common::Shutdown;

/// How long any single wait in a test may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(5);

pub struct Running {
    pub addr: SocketAddr,
    pub shutdown: Shutdown,
    done: Option<mpsc::Receiver<std::io::Result<()>>>,
}

impl Running {
    /// Triggers the shutdown and waits (bounded) for the server's `run` to return.
    pub fn stop_within(&mut self, limit: Duration) -> std::io::Result<()> {
        self.shutdown.trigger();
        let done = self.done.take().expect("stopped twice");
        done.recv_timeout(limit).unwrap_or_else(|_| panic!("server did not stop within {limit:?}"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.done.is_some() && !thread::panicking() {
            self.stop_within(DEADLINE).expect("server returned an error");
        } else {
            self.shutdown.trigger();
        }
    }
}

/// Starts `run(listener, shutdown)` on a thread with a listener bound to an ephemeral port.
pub fn start(run: impl FnOnce(TcpListener, &Shutdown) -> std::io::Result<()> + Send + 'static) -> Running {
    start_on(TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"), run)
}

pub fn start_on(
    listener: TcpListener,
    run: impl FnOnce(TcpListener, &Shutdown) -> std::io::Result<()> + Send + 'static,
) -> Running {
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let (tx, rx) = mpsc::channel();
    let server_shutdown = shutdown.clone();
    thread::spawn(move || {
        let _ = tx.send(run(listener, &server_shutdown));
    });
    Running { addr, shutdown, done: Some(rx) }
}

/// A raw client, like `nc`: every read has a deadline so a test can never hang.
#[derive(Debug)]
pub struct Raw {
    pub reader: BufReader<TcpStream>,
    pub stream: TcpStream,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        Raw { reader: BufReader::new(stream.try_clone().unwrap()), stream }
    }

    pub fn send(&mut self, text: &str) {
        self.stream.write_all(text.as_bytes()).expect("send");
    }

    /// The next line (without `\n`); panics after the deadline.
    pub fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("read a line before the deadline");
        assert!(line.ends_with('\n'), "connection closed before a whole line; got {line:?}");
        line.pop();
        line
    }

    /// True when the peer closes the connection (read returns 0 or is reset) before the deadline.
    pub fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => rest.is_empty(),
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }

    /// True when nothing arrives within `wait`: the server is not serving us (yet).
    pub fn silent_for(&mut self, wait: Duration) -> bool {
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let silent = match self.reader.fill_buf() {
            Ok(_) => false, // bytes arrived, or the server closed
            Err(e) => common::net::is_timeout(&e),
        };
        self.stream.set_read_timeout(Some(DEADLINE)).unwrap();
        silent
    }
}

/// The lab on two ephemeral ports; returns it (its `addr` is the web side) and the TCP chat's
/// address.
pub fn lab(limits: server::hub::Limits, origins: server::lessons::ws_chat::Origins) -> (Running, SocketAddr) {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_addr = tcp.local_addr().unwrap();
    let hub = Arc::new(server::hub::Hub::new(limits));
    let config = server::lessons::http_chat::Config::default();
    (
        start(move |web, shutdown| server::lessons::lab::run(tcp, web, shutdown, hub, config, origins)),
        tcp_addr,
    )
}

/// True when this suite is compiled as `one_thread_chat` (tests/one_thread_chat.rs): the chat
/// suites then run against chapter 14's one-thread servers.
pub fn one_thread() -> bool {
    env!("CARGO_CRATE_NAME") == "one_thread_chat"
}

/// [`lab`], or chapter 14's one-thread lab (the TCP chat, the page and /ws; no HTTP
/// transports) when [`one_thread`].
pub fn chat_lab(
    limits: server::hub::Limits,
    origins: server::lessons::ws_chat::Origins,
) -> (Running, SocketAddr) {
    if !one_thread() {
        return lab(limits, origins);
    }
    one_thread_lab(limits, origins)
}

/// Chapter 14's one-thread lab: the TCP chat, and the page, `/ws` and `GET /poll` on one loop;
/// the server's web address, and the TCP chat's.
pub fn one_thread_lab(
    limits: server::hub::Limits,
    origins: server::lessons::ws_chat::Origins,
) -> (Running, SocketAddr) {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_addr = tcp.local_addr().unwrap();
    let hub = Arc::new(server::hub::Hub::new(limits));
    let config = server::evloop::Config::default();
    let run = move |web, shutdown: &Shutdown| {
        server::lessons::one_thread_lab::run(tcp, web, shutdown, hub, &config, origins)
    };
    (start(run), tcp_addr)
}

/// Output that hands each printed line to the test as it comes.
pub struct Screen(pub mpsc::Sender<String>, pub Vec<u8>);

impl Write for Screen {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.1.extend_from_slice(buf);
        while let Some(end) = self.1.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.1.drain(..=end).collect();
            let _ = self.0.send(String::from_utf8_lossy(&line).trim_end().to_string());
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One HTTP response off `reader`: its status, head and body (read by its Content-Length; none
/// after a HEAD, whose Content-Length describes the GET it stands for).
pub fn read_response(reader: &mut BufReader<TcpStream>, head_only: bool) -> (u16, String, String) {
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        assert!(reader.read_line(&mut head).unwrap() > 0, "closed after {head:?}");
    }
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .map_or(0, |n| n.trim().parse().unwrap());
    let mut body = vec![0u8; if head_only { 0 } else { length }];
    reader.read_exact(&mut body).unwrap();
    (head[9..12].parse().unwrap(), head, String::from_utf8(body).unwrap())
}

/// An HTTP chat on its own hub, with `limits` for the hub and `config` for the server.
pub fn http_server(
    limits: server::hub::Limits,
    config: server::lessons::http_chat::Config,
) -> (Running, Arc<server::hub::Hub>) {
    let hub = Arc::new(server::hub::Hub::new(limits));
    let server_hub = hub.clone();
    let run = move |listener, shutdown: &Shutdown| {
        server::lessons::http_chat::run(listener, shutdown, server_hub, config)
    };
    (start(run), hub)
}

/// Runs the client binary with `args`, `stdin` as its whole input; returns what it printed.
pub fn run_client(args: &[&str], stdin: &[u8]) -> std::process::Output {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_client"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the client binary");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// `POST /send` of `text` as `nick` in `room`, on a fresh connection; the whole answer.
pub fn post(addr: SocketAddr, room: &str, nick: &str, text: &str) -> String {
    let body = serde_json::json!({"room": room, "nick": nick, "text": text}).to_string();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(
        stream,
        "POST /send HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

/// `GET /stream?room=ROOM` (resuming after `last`, as a browser does with `Last-Event-ID`) on a
/// fresh connection; the reader, past the `200 OK` head.
pub fn open_stream(addr: SocketAddr, room: &str, last: Option<u64>) -> BufReader<TcpStream> {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let resume = last.map_or(String::new(), |id| format!("Last-Event-ID: {id}\r\n"));
    write!(&stream, "GET /stream?room={room} HTTP/1.1\r\nHost: {addr}\r\n{resume}\r\n").unwrap();
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        assert!(reader.read_line(&mut head).unwrap() > 0, "closed after {head:?}");
    }
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    reader
}

/// Everything up to and including the blank line that ends an HTTP head.
pub fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 4096 {
        stream.read_exact(&mut byte).expect("an HTTP head before the deadline");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}
pub mod slow;

/// Chromium's path (`CHROMIUM`, or Debian's) and tests/browser with playwright-core installed,
/// for the browser tests; says what to install when either is missing.
pub fn browser_tools() -> (String, std::path::PathBuf) {
    let chromium = std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "no Chromium at {chromium}: install it with `apt-get install chromium` (or set CHROMIUM)"
    );
    let browser_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").exists(),
        "playwright-core is missing: run `npm install` in tests/browser"
    );
    (chromium, browser_dir)
}
