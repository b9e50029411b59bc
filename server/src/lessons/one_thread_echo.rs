//! Lesson 14, on `mio`: the echo servers of lessons 3 and 6 on one thread, for every OS.
//!
//! The same state machines as the `poll(2)` lesson ([`crate::evloop::echo`],
//! [`crate::evloop::ws`]), driven by [`crate::evloop::mio_loop`]: sockets registered once, and
//! each wake-up reports only the ones that are ready.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::Instant;

use common::trace::{Layer, Traced};
use common::Shutdown;
use log::info;
use mio::net::TcpStream;

use crate::evloop::echo::Echo;
use crate::evloop::mio_loop::{serve, Protocol};
use crate::evloop::ws::WsEcho;
use crate::evloop::{busy_notice, Config};
use crate::lessons::ws_echo::MAX_MESSAGE;

/// Serves TCP echo clients from this thread until `shutdown`.
pub fn run(listener: TcpListener, shutdown: &Shutdown, config: &Config) -> io::Result<()> {
    info!(
        "one-thread echo server listening on {}, every client on this thread (mio), at most {} at once",
        listener.local_addr()?,
        config.max_connections
    );
    serve(listener, shutdown, config, TcpEcho)?;
    info!("one-thread echo server stopped");
    Ok(())
}

/// Serves WebSocket echo clients from this thread until `shutdown` (Autobahn's target too).
pub fn run_ws(listener: TcpListener, shutdown: &Shutdown, config: &Config) -> io::Result<()> {
    let addr = listener.local_addr()?;
    info!("one-thread WebSocket echo server listening on ws://{addr}/ (connect with `cargo client ws-echo`)");
    serve(listener, shutdown, config, WebSocketEcho(config.unfinished.clone()))?;
    info!("one-thread WebSocket echo server stopped");
    Ok(())
}

struct TcpEcho;

impl Protocol for TcpEcho {
    type Conn = Echo<Traced<TcpStream>>;

    fn open(&mut self, stream: TcpStream, peer: SocketAddr, now: Instant) -> Self::Conn {
        Echo::new(Traced::wrap(stream, peer, Layer::Raw), peer, now)
    }

    fn refuse(&mut self, mut stream: TcpStream, max_connections: usize) {
        let _ = stream.write(busy_notice(max_connections).as_bytes());
        let _ = stream.shutdown(std::net::Shutdown::Write);
    }

    fn socket(conn: &mut Self::Conn) -> Option<&mut TcpStream> {
        Some(&mut **conn.stream_mut())
    }
}

struct WebSocketEcho(common::ws::unfinished::Guard);

impl Protocol for WebSocketEcho {
    type Conn = WsEcho;

    fn open(&mut self, stream: TcpStream, peer: SocketAddr, now: Instant) -> Self::Conn {
        // Frames are small and must leave at once, not wait for the previous one's ACK (Nagle).
        let _ = stream.set_nodelay(true);
        WsEcho::new(stream, peer, now, MAX_MESSAGE, self.0.clone())
    }

    fn refuse(&mut self, mut stream: TcpStream, max_connections: usize) {
        let body = busy_notice(max_connections);
        let response = format!(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write(response.as_bytes());
        let _ = stream.shutdown(std::net::Shutdown::Write);
    }

    fn socket(conn: &mut Self::Conn) -> Option<&mut TcpStream> {
        conn.socket()
    }
}
