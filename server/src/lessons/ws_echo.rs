//! Lesson 6, server side: the threaded echo server of lesson 3, over WebSocket.
//!
//! What changed from lesson 3 is what tungstenite now does for us. A WebSocket connection starts
//! as an HTTP request that asks to *upgrade*; after the `101 Switching Protocols` answer the same
//! TCP connection carries *frames*: each message arrives whole (no more newline framing), tagged
//! text or binary, masked by the client, and interleaved with control frames (ping, pong, close).
//! tungstenite decodes, unmasks, reassembles fragments and checks UTF-8; `crate::ws` splits the
//! connection into a reading and a writing half, exactly as the WebSocket chat does.

use std::io;
use std::net::TcpListener;

use common::ws::unfinished::Guard;
use common::ws::{EndReason, Reader, Writer};
use common::Shutdown;
use log::info;

use crate::http::{self, AfterResponse, Connection, Origins, Request};
use crate::ws;

/// The largest message echoed: 16 MiB, the biggest the Autobahn test suite sends.
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// Clients served at once; the next one gets `503 Service Unavailable`.
pub const MAX_CONNECTIONS: usize = 1000;

/// Serves WebSocket echo clients, one thread each, until `shutdown`. Every request, whatever
/// its path, is an upgrade to the echo, from any page: an echo has nothing another site could
/// take or change.
pub fn run(listener: TcpListener, shutdown: &Shutdown, max_connections: usize) -> io::Result<()> {
    run_with(listener, shutdown, http::Limits { max_connections, ..http::Limits::default() })
}

/// [`run`] with every limit of the HTTP layer given (tests shorten its timeouts).
pub fn run_with(listener: TcpListener, shutdown: &Shutdown, limits: http::Limits) -> io::Result<()> {
    run_within(listener, shutdown, limits, Guard::default())
}

/// [`run_with`], with the limits on unfinished messages given too: how long one may take to
/// arrive, and the memory all of them may hold (`common::ws::unfinished`).
pub fn run_within(
    listener: TcpListener,
    shutdown: &Shutdown,
    limits: http::Limits,
    guard: Guard,
) -> io::Result<()> {
    let addr = listener.local_addr()?;
    let (_, ws) = crate::tls::schemes(&listener);
    info!("WebSocket echo server listening on {ws}://{addr}/ (connect with `cargo client ws-echo`)");
    http::serve(&listener, shutdown, limits, Origins::any(), move |connection, request| {
        echo(connection, request, guard.clone())
    })?;
    info!("WebSocket echo server stopped");
    Ok(())
}

/// The upgrade, then every message straight back, until the client or the server closes.
fn echo(connection: &mut Connection, request: Request, guard: Guard) -> AfterResponse {
    let peer = connection.peer();
    let (mut reader, writer) =
        match ws::upgrade_within(connection, &request, common::ws::config(MAX_MESSAGE), guard) {
            Ok(halves) => halves,
            Err(why) => {
                info!("{peer}: refused the upgrade: {why}");
                return AfterResponse::Close;
            }
        };
    info!("{peer}: upgraded to WebSocket");
    let (end, echoed) = echo_messages(&mut reader, &writer);
    // Stopping the server shut our reading side; the client hears why.
    if connection.stopping() {
        ws::going_away(&writer);
        info!("{peer}: server shutting down (sent 1001), after {echoed} message(s)");
    } else {
        info!("{peer}: {end}, after {echoed} message(s)");
    }
    reader.finish();
    AfterResponse::Close
}

/// Sends every message straight back until the connection ends; returns why, and how many.
pub fn echo_messages(reader: &mut Reader, writer: &Writer) -> (EndReason, u64) {
    let mut echoed = 0u64;
    loop {
        match reader.recv() {
            // The reader thread writes the echo itself, through the writer's lock: one thread
            // hop fewer per message than handing it to a writer thread.
            Ok(message) => match writer.send(message) {
                Ok(()) => echoed += 1,
                Err(e) => return (EndReason::Lost(e.to_string()), echoed),
            },
            Err(end) => return (end, echoed),
        }
    }
}
