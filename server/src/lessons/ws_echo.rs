//! Lesson 6, server side: the threaded echo server of lesson 3, over WebSocket.
//!
//! What changed from lesson 3 is what tungstenite now does for us. A WebSocket connection starts
//! as an HTTP request that asks to *upgrade*; after the `101 Switching Protocols` answer the same
//! TCP connection carries *frames*: each message arrives whole (no more newline framing), tagged
//! text or binary, masked by the client, and interleaved with control frames (ping, pong, close).
//! tungstenite decodes, unmasks, reassembles fragments and checks UTF-8; `crate::ws` splits the
//! connection into a reading and a writing half, exactly as the WebSocket chat does.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};

use common::Shutdown;
use log::info;

use crate::http;
use crate::workers::accept_loop;
use crate::ws;

/// The largest message echoed: 16 MiB, the biggest the Autobahn test suite sends.
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// Clients served at once; the next one gets `503 Service Unavailable`.
pub const MAX_CONNECTIONS: usize = 1000;

/// Serves WebSocket echo clients, one thread each, until `shutdown`.
pub fn run(listener: TcpListener, shutdown: &Shutdown, max_connections: usize) -> io::Result<()> {
    let addr = listener.local_addr()?;
    info!("WebSocket echo server listening on ws://{addr}/ (connect with `cargo client ws-echo`)");
    let refuse = move |mut stream: TcpStream, _peer| {
        let why = format!("{max_connections} clients already connected, try again later");
        http::refuse(&mut stream, http::SERVICE_UNAVAILABLE, &why, &[("Retry-After", "5")]);
    };
    let watcher = shutdown.clone();
    let serve = move |stream, peer| serve_connection(stream, peer, &watcher);
    accept_loop(&listener, shutdown, max_connections, refuse, serve)?;
    info!("WebSocket echo server stopped");
    Ok(())
}

/// The upgrade, then every message straight back, until the client or the server closes.
pub fn serve_connection(mut stream: TcpStream, peer: SocketAddr, shutdown: &Shutdown) {
    let Ok(_tracked) = shutdown.track(&stream) else { return };
    if let Err(e) = crate::conn::tune(&stream) {
        return info!("{peer}: cannot set up the socket: {e}");
    }
    let request = match http::read_request(&mut stream) {
        Ok(request) => request,
        Err(http::ReadError::Gone) => return info!("{peer} left before sending a request"),
        Err(http::ReadError::Bad(status, why)) => {
            http::refuse(&mut stream, status, &why, &[]);
            return info!("{peer}: {} {}: {why}", status.0, status.1);
        }
    };
    let (mut reader, writer) = match ws::upgrade(stream, request, ws::config(MAX_MESSAGE), shutdown) {
        Ok(halves) => halves,
        Err(why) => return info!("{peer}: refused the upgrade: {why}"),
    };
    info!("{peer}: upgraded to WebSocket");
    let mut echoed = 0u64;
    let end = loop {
        match reader.recv() {
            // The reader thread writes the echo itself, through the writer's lock: one thread
            // hop fewer per message than handing it to a writer thread.
            Ok(message) => match writer.send(message) {
                Ok(()) => echoed += 1,
                Err(e) => break ws::End::Lost(e.to_string()),
            },
            Err(end) => break end,
        }
    };
    info!("{peer}: {end}, after {echoed} message(s)");
    reader.finish();
}
