//! Exercise: a chat server (the protocol of chapter 4, without rooms). Fill in the `todo!()`s:
//!
//!     cargo run -q -p exercises --bin chat -- 127.0.0.1:7980
//!     cargo client check chat --addr 127.0.0.1:7980
//!
//! What the checker expects is in docs/src/11-teachers.md ("What each lesson's server must do").
//! Hints: chapter 4. Keep it simple first: one thread per client reading lines, and a shared
//! list of every client's stream for broadcasting. (Chapter 4 explains why a real server gives
//! each client a writer thread and a bounded outbox instead; try that next.)
#![allow(unused)] // remove this line when you are done

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

/// Every connected client: its nickname and a handle to write to it.
type Members = Arc<Mutex<Vec<(String, TcpStream)>>>;

fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:7980".to_string());
    let listener = match TcpListener::bind(&addr) {
        Ok(listener) => listener,
        Err(e) => return eprintln!("cannot listen on {addr}: {e}"),
    };
    println!("chat exercise listening on {addr}");
    let members: Members = Arc::default();
    for (n, stream) in listener.incoming().flatten().enumerate() {
        let members = members.clone();
        thread::spawn(move || serve(stream, format!("guest-{n}"), &members));
    }
}

fn serve(stream: TcpStream, mut nick: String, members: &Members) {
    // 1. Greet the client with a line, and add (nick, a try_clone of stream) to `members`.
    // 2. Read lines. A line is bytes up to b'\n': read them with read_until, then check that
    //    they are UTF-8 (String::from_utf8). Not UTF-8? Answer "! ..." and keep going.
    // 3. "/nick NAME": change the nickname, answer "* you are now NAME in lobby".
    //    Anything else: broadcast "NICK: TEXT" to every member (yourself included).
    // 4. When the client is gone (0 bytes, or an error), remove it from `members`.
    todo!("greet, read lines, answer /nick, broadcast the rest")
}

/// Sends `line` to every member; a member that cannot be written to is skipped.
fn broadcast(members: &Members, line: &str) {
    todo!("write line + \\n to every member")
}
