//! Lesson 5, client side: the chat over HTTP, with requests built by hand.
//!
//! Three ways to learn what is new, each a loop of requests (or one endless one):
//!
//! - **polling**: ask every `interval` "anything after id N?"; most answers are empty;
//! - **long polling**: ask the same, but the server holds the request until there is news, so
//!   each answer carries something (or the wait timed out);
//! - **streaming**: one request whose response never ends; each event is a few lines of it.
//!
//! Every request is written out byte by byte below (no HTTP library) and every byte in and out is
//! counted, so at the end each client prints what its way of listening cost.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::trace::{Layer, Traced};
use common::Shutdown;
use log::{info, warn};
use serde_json::{json, Value};

/// The largest response head or body the client accepts.
pub const MAX_RESPONSE: usize = 1024 * 1024;

/// Longer than any long-poll the server holds: silence past this means the server is gone.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// What a client's way of listening cost, counted on its own sockets (headers included).
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub empty: AtomicU64,
    pub messages: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub bytes_received: AtomicU64,
}

impl Stats {
    pub fn summary(&self) -> String {
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        format!(
            "{} request(s), {} empty; {} message(s); sent {} bytes, received {} bytes",
            get(&self.requests),
            get(&self.empty),
            get(&self.messages),
            get(&self.bytes_sent),
            get(&self.bytes_received)
        )
    }
}

/// A socket that counts every byte it moves.
pub struct Counted {
    pub stream: Traced<TcpStream>,
    pub stats: Arc<Stats>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stream.read(buf)?;
        self.stats.bytes_received.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.stream.write(buf)?;
        self.stats.bytes_sent.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// A persistent HTTP/1.1 connection: one request after another on the same socket, reconnecting
/// when the server has closed it.
pub struct Connection {
    addr: String,
    stats: Arc<Stats>,
    shutdown: Shutdown,
    socket: Option<(BufReader<Counted>, common::shutdown::Tracked)>,
    /// The server has answered at least once: a failure from now on means it went away.
    answered: bool,
}

/// A response: status code and body (its head has been read and checked).
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Connection {
    pub fn new(addr: &str, stats: Arc<Stats>, shutdown: Shutdown) -> Connection {
        Connection { addr: addr.to_string(), stats, shutdown, socket: None, answered: false }
    }

    /// True once the server has answered a request on this connection.
    pub fn has_answered(&self) -> bool {
        self.answered
    }

    /// Sends one request and reads its whole response.
    pub fn request(&mut self, method: &str, target: &str, body: Option<&Value>) -> Result<Response, String> {
        // A persistent connection the server closed meanwhile fails on first use: retry once.
        match self.try_request(method, target, body) {
            Err(_) if self.socket.take().is_some() && !self.shutdown.is_triggered() => {
                self.try_request(method, target, body)
            }
            result => result,
        }
    }

    fn try_request(&mut self, method: &str, target: &str, body: Option<&Value>) -> Result<Response, String> {
        // The whole request, as it goes on the wire.
        let addr = self.addr.clone();
        let mut request =
            format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: socket-steps\r\n");
        let body = body.map(Value::to_string).unwrap_or_default();
        if method == "POST" {
            request
                .push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        let stats = self.stats.clone();
        let reader = self.connected()?;
        let failed = |e: io::Error| format!("talking to {addr}: {}", common::net::describe(&e));
        reader.get_mut().write_all(request.as_bytes()).map_err(failed)?;
        stats.requests.fetch_add(1, Ordering::Relaxed);
        let head = read_head(reader)?;
        let length = head.length.ok_or("the response has no Content-Length")?;
        if length > MAX_RESPONSE {
            return Err(format!("a response body of {length} bytes is more than this client accepts"));
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).map_err(|e| format!("reading the response body: {e}"))?;
        self.answered = true;
        if head.close {
            self.socket = None; // the server said it closes this connection: the next request opens one
        }
        Ok(Response { status: head.status, body })
    }

    fn connected(&mut self) -> Result<&mut BufReader<Counted>, String> {
        if self.socket.is_none() {
            let stream = common::tls::client::connect(&self.addr, "http", Layer::Http)?;
            stream.set_read_timeout(Some(READ_TIMEOUT)).map_err(|e| e.to_string())?;
            let tracked = self.shutdown.track(&stream).map_err(|e| e.to_string())?;
            let counted = Counted { stream, stats: self.stats.clone() };
            self.socket = Some((BufReader::new(counted), tracked));
        }
        Ok(&mut self.socket.as_mut().expect("connected above").0)
    }
}

/// What a client needs from a response head.
#[derive(Debug)]
pub struct Head {
    pub status: u16,
    /// `Content-Length`, if the response has one.
    pub length: Option<usize>,
    /// `Transfer-Encoding: chunked`: the body comes in pieces, each with its length.
    pub chunked: bool,
    /// `Connection: close`: the server will close the connection after this response.
    pub close: bool,
}

/// Reads a response head, up to the empty line that ends it.
pub fn read_head(reader: &mut impl BufRead) -> Result<Head, String> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let n = reader.read_until(b'\n', &mut head).map_err(|e| format!("reading the response: {e}"))?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
        if head.len() > MAX_RESPONSE {
            return Err("the response head is too large".into());
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    response.parse(&head).map_err(|e| format!("a malformed response: {e}"))?;
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value))
    };
    let length = header("Content-Length").and_then(|v| v.trim().parse().ok());
    let chunked = header("Transfer-Encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let close =
        header("Connection").is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")));
    Ok(Head { status: response.code.unwrap_or(0), length, chunked, close })
}

/// Which way of listening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Poll { interval: Duration },
    LongPoll,
    Stream,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mode::Poll { interval } => write!(f, "polling every {} s", interval.as_secs_f64()),
            Mode::LongPoll => write!(f, "long polling"),
            Mode::Stream => write!(f, "streaming"),
        }
    }
}

/// Listens to `room` on the HTTP chat at `addr` until `shutdown`, printing each message to
/// `output`; every line of `input` is posted as `nick`. Returns the costs.
pub fn run(
    addr: &str,
    mode: Mode,
    room: &str,
    nick: &str,
    input: impl BufRead + Send + 'static,
    output: &mut impl Write,
    shutdown: &Shutdown,
) -> Result<Arc<Stats>, String> {
    let stats = Arc::new(Stats::default());
    {
        // Sending is a separate connection on its own thread: listening may be blocked in a
        // long-poll or a stream at any moment.
        let mut sender = Connection::new(addr, stats.clone(), shutdown.clone());
        let (room, nick) = (room.to_string(), nick.to_string());
        thread::spawn(move || {
            for line in input.lines().map_while(Result::ok) {
                let message = json!({ "room": room, "nick": nick, "text": line });
                match sender.request("POST", "/send", Some(&message)) {
                    Ok(response) if response.status == 200 => {}
                    Ok(response) => warn!("not sent: {}", String::from_utf8_lossy(&response.body)),
                    Err(e) => return warn!("sending stopped: {e}"),
                }
            }
        });
    }
    let mut me = nick.to_string();
    let mut show = |event: &Value| -> Result<(), String> {
        stats.messages.fetch_add(1, Ordering::Relaxed);
        let line = match (event["kind"].as_str(), event["nick"].as_str(), event["text"].as_str()) {
            (Some("message"), Some(nick), Some(text)) => format!("{nick}: {text}"),
            (_, _, Some(text)) => format!("* {text}"),
            _ => return Ok(()),
        };
        let shown = super::chat::render(&line, &mut me);
        writeln!(output, "{shown}").and_then(|()| output.flush()).map_err(|e| e.to_string())
    };
    info!("{mode}: room {room} on http://{addr}/; type a line to send it as {nick}");
    let room = common::percent::encode(room);
    let result = match mode {
        Mode::Stream => stream(addr, &room, &stats, shutdown, &mut show),
        _ => poll(addr, mode, &room, &stats, shutdown, &mut show),
    };
    info!("{}", stats.summary());
    result.map(|()| stats)
}

/// Polling and long polling: the same loop; long polling just asks a server that waits.
/// `room` is already percent-encoded; `show` gets every event.
pub fn poll(
    addr: &str,
    mode: Mode,
    room: &str,
    stats: &Arc<Stats>,
    shutdown: &Shutdown,
    show: &mut impl FnMut(&Value) -> Result<(), String>,
) -> Result<(), String> {
    let (path, interval) = match mode {
        Mode::Poll { interval } => ("/poll", interval),
        _ => ("/long-poll", Duration::ZERO),
    };
    let mut connection = Connection::new(addr, stats.clone(), shutdown.clone());
    let mut since = 0;
    while !shutdown.is_triggered() {
        let response = match connection.request("GET", &format!("{path}?room={room}&since={since}"), None) {
            Ok(response) => response,
            Err(_) if shutdown.is_triggered() => break,
            // It answered before and now it does not: the server stopped (Ctrl-C, most likely).
            // That ends this client too, and it is nobody's error.
            Err(e) if connection.has_answered() => return gone(addr, &e),
            Err(e) => return Err(e),
        };
        let answer: Value = serde_json::from_slice(&response.body).map_err(|e| format!("not JSON: {e}"))?;
        if response.status != 200 {
            return Err(format!("the server answered {}: {}", response.status, answer["error"]));
        }
        let messages = answer["messages"].as_array().cloned().unwrap_or_default();
        if messages.is_empty() {
            stats.empty.fetch_add(1, Ordering::Relaxed);
        }
        if answer["missed"].as_bool() == Some(true) {
            warn!("some messages were no longer kept by the server when we asked");
        }
        messages.iter().try_for_each(&mut *show)?;
        since = answer["last"].as_u64().unwrap_or(since);
        if !interval.is_zero() && shutdown.wait_timeout(interval) {
            break;
        }
    }
    Ok(())
}

/// Streaming: one request, then Server-Sent Events in a chunked body, until one side stops.
/// `room` is already percent-encoded; `show` gets every event.
pub fn stream(
    addr: &str,
    room: &str,
    stats: &Arc<Stats>,
    shutdown: &Shutdown,
    show: &mut impl FnMut(&Value) -> Result<(), String>,
) -> Result<(), String> {
    let socket = common::tls::client::connect(addr, "http", Layer::Http)?;
    let _tracked = shutdown.track(&socket).map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(Counted { stream: socket, stats: stats.clone() });
    let request =
        format!("GET /stream?room={room} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
    reader.get_mut().write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    stats.requests.fetch_add(1, Ordering::Relaxed);
    let head = match read_head(&mut reader) {
        Ok(head) => head,
        Err(_) if shutdown.is_triggered() => return Ok(()), // we stopped before it answered
        Err(e) => return Err(e),
    };
    if head.status != 200 || !head.chunked {
        return Err(format!("the server answered {} to /stream", head.status));
    }
    // Events are separated by a blank line; chunks may cut them anywhere.
    let mut events = String::new();
    loop {
        let chunk = match read_chunk(&mut reader) {
            Ok(Some(chunk)) => chunk,
            // The last (empty) chunk: the server ended the response, so it is leaving.
            Ok(None) if !shutdown.is_triggered() => return gone(addr, "the stream ended"),
            Ok(None) => break,
            Err(_) if shutdown.is_triggered() => break,
            // The stream was answered, then broke: the server went away without a goodbye.
            Err(e) => return gone(addr, &e),
        };
        events.push_str(&chunk);
        while let Some(end) = events.find("\n\n") {
            let event: String = events.drain(..end + 2).collect();
            // `event: NAME` names an event's type; without it the type is "message".
            let kind = event.lines().find_map(|l| l.strip_prefix("event: ")).unwrap_or("message");
            for data in event.lines().filter_map(|l| l.strip_prefix("data: ")) {
                if kind == "bye" {
                    info!("the server at {addr} said goodbye: {}", common::protocol::sanitize(data));
                    return Ok(());
                }
                match serde_json::from_str::<Value>(data) {
                    Ok(value) => show(&value)?,
                    Err(_) => info!("the server says: {}", common::protocol::sanitize(data)),
                }
            }
        }
    }
    Ok(())
}

/// The server answered before and is gone now: say so, by its address (it may be the lab as well
/// as `cargo server http`), and end without an error.
fn gone(addr: &str, why: &str) -> Result<(), String> {
    log::debug!("{addr}: {why}");
    info!("the server at {addr} closed the connection and no longer answers: it has stopped");
    Ok(())
}

/// One chunk of a chunked body: a hex length line, the bytes, CRLF. `None` at the last (empty) one.
fn read_chunk(reader: &mut impl BufRead) -> Result<Option<String>, String> {
    let mut size = String::new();
    if reader.read_line(&mut size).map_err(|e| e.to_string())? == 0 {
        return Ok(None);
    }
    let size = usize::from_str_radix(size.trim(), 16).map_err(|_| format!("a bad chunk size {size:?}"))?;
    if size == 0 {
        return Ok(None);
    }
    if size > MAX_RESPONSE {
        return Err(format!("a chunk of {size} bytes is more than this client accepts"));
    }
    let mut chunk = vec![0u8; size + 2];
    reader.read_exact(&mut chunk).map_err(|e| e.to_string())?;
    chunk.truncate(size);
    String::from_utf8(chunk).map(Some).map_err(|_| "a chunk that is not UTF-8".to_string())
}
