//! Exercise: the WebSocket handshake and frames, with no WebSocket library. Fill in the
//! `todo!()`s:
//!
//!     cargo run -q -p exercises --bin ws -- 127.0.0.1:7981
//!     cargo client check ws --addr 127.0.0.1:7981
//!
//! Hints: chapter 7, and RFC 6455 sections 4.2 (the handshake) and 5.2 (the frame layout).
#![allow(unused)] // remove this line when you are done

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

use sha1::{Digest, Sha1};

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:7981".to_string());
    let listener = match TcpListener::bind(&addr) {
        Ok(listener) => listener,
        Err(e) => return eprintln!("cannot listen on {addr}: {e}"),
    };
    println!("WebSocket exercise listening on {addr}");
    for stream in listener.incoming().flatten() {
        thread::spawn(move || serve(stream));
    }
}

fn serve(stream: TcpStream) {
    // 1. Read the request head line by line until the empty line. Keep the headers.
    // 2. Not an upgrade (no "Upgrade: websocket")? Answer 426 with Content-Length, and stop.
    //    Careful: "Connection" is a comma-separated list ("keep-alive, Upgrade").
    // 3. Answer "HTTP/1.1 101 Switching Protocols" with Upgrade, Connection and
    //    Sec-WebSocket-Accept: accept_key(the client's Sec-WebSocket-Key).
    // 4. Then loop: read a frame (FIN+opcode byte, MASK+length byte, extended length, mask key,
    //    payload), unmask the payload, and answer: text -> the same text (unmasked!), ping ->
    //    pong with the same payload, close -> a close frame, then stop.
    todo!("the handshake, then frames")
}

/// base64(SHA-1(key + GUID)): the SHA-1 of the bytes, then base64 of the raw 20-byte digest.
fn accept_key(key: &str) -> String {
    let digest = Sha1::new().chain_update(key.as_bytes()).chain_update(GUID.as_bytes()).finalize();
    todo!("base64 of digest (20 bytes): 3 bytes become 4 characters; pad with '='")
}
