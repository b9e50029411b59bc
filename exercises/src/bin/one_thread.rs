//! Exercise: an echo server that serves every client from one thread. Fill in the `todo!()`s
//! (each is a place where a non-blocking call said `WouldBlock`, or could), then:
//!
//!     cargo run -q -p exercises --bin one_thread -- 127.0.0.1:7979
//!     cargo client check one-thread-echo --addr 127.0.0.1:7979
//!
//! The checker connects fifty clients at once, and one that sends a lot and never reads: a
//! server that waits for any one client anywhere fails it.
//! Hints: chapter 14 (and `server/src/evloop/echo.rs`, once you are done).
#![allow(unused)] // remove this line when you are done: the compiler will then tell you what is unused

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const LISTENER: Token = Token(0);

/// Bytes read and not yet written back, per client, at most: past it, stop reading that client.
const MAX_PENDING: usize = 64 * 1024;

/// What a blocking handler kept on its stack, kept here between wake-ups.
struct Client {
    stream: TcpStream,
    /// Read, not yet written back: a partial write leaves the rest here.
    pending: Vec<u8>,
    /// Registered for writable too (only while `pending` is not empty).
    writable: bool,
}

fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:7979".to_string());
    let Ok(addr) = addr.parse() else {
        return eprintln!("{addr}: expected HOST:PORT, such as 127.0.0.1:7979");
    };
    let mut listener = match TcpListener::bind(addr) {
        Ok(listener) => listener,
        Err(e) => return eprintln!("cannot listen on {addr}: {e}"),
    };
    let mut poll = Poll::new().expect("the OS's readiness API (epoll, kqueue, IOCP)");
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE).expect("register the listener");
    println!("one-thread echo exercise listening on {addr}");
    let mut clients: HashMap<Token, Client> = HashMap::new();
    let mut next = 1;
    let mut events = Events::with_capacity(1024);
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return eprintln!("poll failed: {e}");
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                // The listener is reported once for every client waiting in its queue.
                loop {
                    match listener.accept() {
                        Ok((mut stream, _peer)) => {
                            let token = Token(next);
                            next += 1;
                            if poll.registry().register(&mut stream, token, Interest::READABLE).is_ok() {
                                clients
                                    .insert(token, Client { stream, pending: Vec::new(), writable: false });
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            todo!("nobody else waits in the queue: what now?")
                        }
                        Err(e) => {
                            eprintln!("accept failed: {e}");
                            break;
                        }
                    }
                }
                continue;
            }
            let token = event.token();
            let Some(client) = clients.get_mut(&token) else { continue };
            if !serve(client) {
                let _ = poll.registry().deregister(&mut client.stream);
                clients.remove(&token);
                continue;
            }
            // Writable only while bytes wait: an empty socket is writable all the time.
            let wants = !client.pending.is_empty();
            if wants != client.writable {
                let interest =
                    if wants { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
                if poll.registry().reregister(&mut client.stream, token, interest).is_ok() {
                    client.writable = wants;
                }
            }
        }
    }
}

/// Writes what waits, then reads, until one of them would block. mio reports a socket when it
/// *becomes* ready: stop before `WouldBlock` and you never hear of those bytes again.
/// `false` when the client is gone.
fn serve(client: &mut Client) -> bool {
    let mut buf = [0u8; 16 * 1024];
    loop {
        while !client.pending.is_empty() {
            match client.stream.write(&client.pending) {
                Ok(n) => {
                    client.pending.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    todo!("the socket is full: keep the rest, and then?")
                }
                Err(_) => return false,
            }
        }
        if client.pending.len() >= MAX_PENDING {
            return true; // read no more until the client has read its echoes
        }
        match client.stream.read(&mut buf) {
            Ok(0) => return false, // the client closed (what is pending is lost: try to fix that too)
            Ok(n) => client.pending.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                todo!("nothing more to read now: what now?")
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
}
