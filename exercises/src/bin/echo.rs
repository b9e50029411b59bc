//! Exercise: an echo server. Fill in the two `todo!()`s, then in two terminals:
//!
//!     cargo run -q -p exercises --bin echo -- 127.0.0.1:7979
//!     cargo client check echo --addr 127.0.0.1:7979
//!
//! Then make it serve clients at once and run `cargo client check threaded-echo`.
//! Hints: chapter 2 (and `server/src/lessons/echo.rs`, once you are done).
#![allow(unused)] // remove this line when you are done: the compiler will then tell you what is unused

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:7979".to_string());
    let listener = match TcpListener::bind(&addr) {
        Ok(listener) => listener,
        Err(e) => return eprintln!("cannot listen on {addr}: {e}"),
    };
    println!("echo exercise listening on {addr}");
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => serve(stream),
            Err(e) => eprintln!("accept failed: {e}"),
        }
    }
}

/// Sends back every byte the client sends, until it closes its side.
fn serve(mut stream: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        // 1. read() into buf. What does it mean when it returns Ok(0)? And an Err?
        // 2. Send back exactly the bytes you read. Which method sends *all* of them?
        todo!("read, then write back what was read")
    }
}
