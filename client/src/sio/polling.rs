//! The client's polling transport: a GET that the server holds until it has packets, and a POST
//! per batch of the client's, each on its own persistent connection (the GET is usually busy).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::sio::{decode_payload, encode_payload, Incoming, Version};
use common::trace::{Layer, Traced};
use log::debug;
use serde_json::json;

use super::{emit, hear, parse_open, Heard, Open, ANSWER_TIMEOUT};
use crate::lessons::chat::send_lines;
use crate::lessons::http::read_head;

/// The largest polling answer this client reads.
const MAX_ANSWER: usize = 1024 * 1024;

/// One persistent HTTP connection to the server.
struct Http {
    addr: String,
    reader: Option<BufReader<Traced<TcpStream>>>,
}

impl Http {
    fn new(addr: &str) -> Http {
        Http { addr: addr.to_string(), reader: None }
    }

    /// One request and its answer's status and body; reconnects once if the server had closed
    /// the connection meanwhile.
    fn request(
        &mut self,
        method: &str,
        target: &str,
        body: &str,
        wait: Duration,
    ) -> Result<(u16, String), String> {
        match self.try_request(method, target, body, wait) {
            Err(_) if self.reader.take().is_some() => self.try_request(method, target, body, wait),
            result => result,
        }
    }

    fn try_request(
        &mut self,
        method: &str,
        target: &str,
        body: &str,
        wait: Duration,
    ) -> Result<(u16, String), String> {
        let addr = self.addr.clone();
        if self.reader.is_none() {
            let stream = Traced::new(common::net::connect(&addr, "sio")?, Layer::Http);
            self.reader = Some(BufReader::new(stream));
        }
        let reader = self.reader.as_mut().expect("connected above");
        let failed = |e: std::io::Error| format!("talking to {addr}: {}", common::net::describe(&e));
        reader.get_ref().set_read_timeout(Some(wait)).map_err(failed)?;
        let mut request =
            format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: socket-steps\r\n");
        if method == "POST" {
            request.push_str(&format!(
                "Content-Type: text/plain; charset=UTF-8\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        request.push_str("\r\n");
        request.push_str(body);
        reader.get_mut().write_all(request.as_bytes()).map_err(failed)?;
        let head = read_head(reader)?;
        let length = head.length.ok_or("an answer without Content-Length")?;
        if length > MAX_ANSWER {
            return Err(format!("an answer of {length} bytes is more than this client reads"));
        }
        let mut answer = vec![0u8; length];
        reader.read_exact(&mut answer).map_err(failed)?;
        if head.close {
            self.reader = None;
        }
        let answer = String::from_utf8(answer).map_err(|_| "an answer that is not UTF-8".to_string())?;
        Ok((head.status, answer))
    }
}

/// A polling session: its open packet, a connection for GETs and one for POSTs.
pub struct Session {
    pub open: Open,
    target: String,
    receiver: Http,
    sender: Arc<Mutex<Http>>,
    /// Set once the input ended and we sent `close`: the session's end is ours.
    leaving: Arc<AtomicBool>,
}

impl Session {
    /// The handshake: `GET /socket.io/?EIO=4&transport=polling`, answered with the open packet.
    pub fn open(addr: &str) -> Result<Session, String> {
        let mut receiver = Http::new(addr);
        let (status, body) =
            receiver.request("GET", "/socket.io/?EIO=4&transport=polling", "", ANSWER_TIMEOUT)?;
        if status != 200 {
            return Err(format!("the Socket.IO handshake at {addr} was refused ({status}): {body}"));
        }
        let first = body.split('\x1e').next().unwrap_or_default();
        let open = parse_open(first)?;
        let target = format!("/socket.io/?EIO=4&transport=polling&sid={}", open.sid);
        let sender = Arc::new(Mutex::new(Http::new(addr)));
        Ok(Session { open, target, receiver, sender, leaving: Arc::new(AtomicBool::new(false)) })
    }

    pub fn sid(&self) -> &str {
        &self.open.sid
    }

    /// POSTs packets, framed as one payload.
    pub fn send(&self, packets: &[String]) -> Result<(), String> {
        post(&self.sender, &self.target, packets)
    }

    /// One GET: waits (up to a ping interval and its timeout) for the server's packets.
    fn poll(&mut self) -> Result<Vec<String>, String> {
        let wait = self.open.ping_interval + self.open.ping_timeout;
        let (status, body) = self.receiver.request("GET", &self.target, "", wait)?;
        if status != 200 {
            return Err(format!("the server refused our poll ({status}): {body}"));
        }
        if body.is_empty() {
            return Ok(Vec::new()); // python-engineio's answer to a poll that the session's end freed
        }
        let packets = decode_payload(Version::V4, &body)?;
        Ok(packets
            .into_iter()
            .filter_map(|p| if let Incoming::Text(t) = p { Some(t) } else { None })
            .collect())
    }

    /// Polls until the namespace's CONNECT answer; returns the packets that came after it.
    pub fn until_connected(
        &mut self,
        nsp: &str,
        me: &mut String,
        output: &mut impl Write,
    ) -> Result<Vec<String>, String> {
        for _ in 0..10 {
            let packets = self.poll()?;
            for (i, text) in packets.iter().enumerate() {
                match hear(nsp, text, me) {
                    Heard::Connected => return Ok(packets[i + 1..].to_vec()),
                    Heard::End(why) => return Err(why),
                    Heard::Ping(pong) => self.send(&[pong])?,
                    Heard::Show(lines) => print(output, &lines),
                    Heard::Nothing => {}
                }
            }
        }
        Err(format!("the server did not answer our CONNECT to {nsp}"))
    }

    /// Chats on polling until the input or the session ends; returns how it ended.
    pub fn run(
        mut self,
        nsp: &str,
        me: &mut String,
        early: Vec<String>,
        input: impl BufRead + Send + 'static,
        output: &mut impl Write,
    ) -> Result<String, String> {
        self.send(&[emit(nsp, "joined", json!({}))])?;
        {
            let (sender, target, room_nsp) = (self.sender.clone(), self.target.clone(), nsp.to_string());
            let say = move |line: &str| {
                post(&sender, &target, &[emit(&room_nsp, "text", json!({ "msg": line }))]).is_ok()
            };
            let (sender, target, nsp) = (self.sender.clone(), self.target.clone(), nsp.to_string());
            let leaving = self.leaving.clone();
            // Leaving: DISCONNECT from the namespace, then `close`, which also ends our waiting GET.
            let leave = move || {
                leaving.store(true, Ordering::SeqCst);
                drop(post(&sender, &target, &[format!("41{nsp},"), "1".to_string()]));
            };
            // Not joined: at the end this thread may still wait for a key that never comes.
            thread::spawn(move || send_lines(input, say, leave));
        }
        let mut packets = early;
        loop {
            for text in &packets {
                match hear(nsp, text, me) {
                    Heard::Ping(pong) => self.send(&[pong])?,
                    Heard::Show(lines) => print(output, &lines),
                    Heard::End(why) => return Ok(why),
                    Heard::Connected | Heard::Nothing => {}
                }
            }
            packets = match self.poll() {
                Ok(packets) if !self.leaving.load(Ordering::SeqCst) => packets,
                // After our `close`, the server forgets the session: that is the end we asked for.
                Ok(_) | Err(_) if self.leaving.load(Ordering::SeqCst) => return Ok("left the chat".into()),
                Ok(packets) => packets,
                Err(why) => return Err(why),
            };
        }
    }
}

fn post(sender: &Mutex<Http>, target: &str, packets: &[String]) -> Result<(), String> {
    let body = encode_payload(Version::V4, packets);
    let mut http = sender.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let (status, answer) = http.request("POST", target, &body, ANSWER_TIMEOUT)?;
    debug!("POST {} packet(s): {status} {answer}", packets.len());
    match status {
        200 => Ok(()),
        _ => Err(format!("the server refused our packets ({status}): {answer}")),
    }
}

/// Prints lines as they come; a closed output is not this client's problem to report.
pub fn print(output: &mut impl Write, lines: &[String]) {
    for line in lines {
        let _ = writeln!(output, "{line}").and_then(|()| output.flush());
    }
}
