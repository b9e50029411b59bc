//! Lesson 4, server side: a chat over plain TCP.
//!
//! An echo server only ever answers; a chat server must also *push*: when alice writes, bob gets
//! a line he never asked for, while bob's own connection may be sitting in a `read`. So each
//! connection has two threads:
//!
//! ```text
//!             reader thread                    writer thread
//! socket ---> read a line ---> hub ---+        (the only one that writes)
//!                                     |
//!             other members' lines ---+--> outbox ---> write_all ---> socket
//! ```
//!
//! The reader waits in `read` for this client's next line and hands it to the hub. The writer
//! waits on this member's outbox (a queue the hub fills) and writes whatever arrives. Nothing else
//! ever writes to the socket, so lines never interleave, and the hub never waits for a client: it
//! drops a line into each outbox and moves on. Only a *sender* may wait, in `hub.handle`, while
//! someone in its room is far behind (flood control, `crate::hub::rooms`); meanwhile its reader
//! reads nothing more, and TCP slows the sender down.
//!
//! The wire format is newline-terminated UTF-8 (see `common::protocol`), so `nc` and telnet
//! are clients too.

use std::io::{self, BufWriter, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;

use common::line::{LineError, LineReader, INVALID_UTF8};
use common::protocol::{Command, MAX_LINE_BYTES};
use common::trace::{Layer, Traced};
use common::Shutdown;
use log::{debug, info, warn};

use crate::conn::{kick_for, tune};
use crate::hub::{AfterCommand, Delivery, Hub, Inbox, LeaveReason, MemberId, Outbox};
use crate::workers::{accept_loop, STACK_SIZE};

/// Accepts chat clients until `shutdown`, each served by [`serve_connection`] on its own threads.
pub fn run(listener: TcpListener, shutdown: &Shutdown, hub: Arc<Hub>) -> io::Result<()> {
    let addr = listener.local_addr()?;
    info!("chat server listening on {addr}: join with `cargo client chat` or `nc {}`", nc_addr(addr));
    // The hub refuses members past its cap with a clear line. Threads are capped too, at twice
    // that: a departing member's thread may still be finishing, and a flood of connections must
    // not become a flood of threads.
    let max = hub.limits().max_members;
    let refuse = move |mut stream: Traced<TcpStream>, _peer| {
        let _ = stream.write_all(format!("{}\n", Delivery::Error(Hub::full(max)).line()).as_bytes());
        let _ = stream.shutdown(std::net::Shutdown::Write);
    };
    // Guests are announced once they settle: the hub's doorkeeper keeps the clock (`hub::arrivals`).
    Hub::keep_door(&hub);
    // A reader held back by flood control waits on an outbox, not on its socket: the hub wakes it.
    let closing = hub.clone();
    shutdown.on_trigger(move || closing.close());
    let watcher = shutdown.clone();
    let serve = move |stream, peer| serve_connection(stream, peer, &hub, &watcher);
    accept_loop(&listener, shutdown, Layer::Lines, 2 * max, refuse, serve)?;
    info!("chat server stopped");
    Ok(())
}

/// `nc` wants the host and the port as two words.
pub(crate) fn nc_addr(addr: SocketAddr) -> String {
    format!("{} {}", addr.ip(), addr.port())
}

/// Serves one client from arrival to departure. This thread is the reader; it starts the writer.
pub fn serve_connection(stream: Traced<TcpStream>, peer: SocketAddr, hub: &Hub, shutdown: &Shutdown) {
    let Ok(_tracked) = shutdown.track(&stream) else { return };
    if let Err(e) = tune(&stream) {
        return warn!("{peer}: cannot set up the socket: {e}");
    }
    let (outbox, inbox) = hub.outbox();
    let writer = match stream.try_clone().and_then(|socket| {
        let name = format!("chat writer {peer}");
        thread::Builder::new()
            .name(name)
            .stack_size(STACK_SIZE)
            .spawn(move || write_loop(inbox, socket, peer))
    }) {
        Ok(writer) => writer,
        Err(e) => return warn!("{peer}: cannot start its writer: {e}"),
    };

    match kick_for(&stream).map_err(|e| e.to_string()).and_then(|kick| hub.join(outbox.clone(), kick)) {
        Ok(member) => {
            debug!("{peer} is member {member}");
            let reason = read_loop(stream, peer, member, hub, &outbox, shutdown);
            hub.leave(member, reason);
            if reason == LeaveReason::Shutdown {
                // After leaving, so the writer's end after the goodbye never looks like a lost
                // connection to the hub; past the outbox's cap if need be, so it is never lost.
                let _ = outbox.send_last(Delivery::Goodbye);
            }
            debug!("{peer} went away ({reason:?})");
        }
        Err(refusal) => {
            warn!("refusing {peer}: {refusal}");
            let _ = outbox.try_send(Delivery::Error(refusal));
        }
    }
    // The writer sends what is still queued, then sees the channel close and ends.
    drop(outbox);
    let _ = writer.join();
}

/// Reads lines until the client leaves; returns why it left.
fn read_loop(
    stream: Traced<TcpStream>,
    peer: SocketAddr,
    member: MemberId,
    hub: &Hub,
    outbox: &Outbox,
    shutdown: &Shutdown,
) -> LeaveReason {
    let web_side = web_side(&stream);
    let mut lines = LineReader::new(stream, MAX_LINE_BYTES);
    let mut first = true;
    loop {
        let refusal = match lines.read_line() {
            Ok(Some(line)) if std::mem::take(&mut first) && is_http_request(&line) => {
                info!("{peer} sent an HTTP request to the chat port: pointing it to the web side");
                let _ = outbox.try_send(Delivery::Error(web_side));
                // Read the rest of the request's head (it ends with an empty line): closing a
                // socket with unread bytes sends a reset, which can destroy our answer in flight.
                for _ in 0..100 {
                    if !matches!(lines.read_line(), Ok(Some(line)) if !line.is_empty()) {
                        break;
                    }
                }
                return LeaveReason::NotAChatClient;
            }
            Ok(Some(line)) => {
                debug!("{peer}: {} bytes", line.len());
                // With flood control, this call may wait until the room's slowest reader has
                // caught up; meanwhile we read nothing, and TCP slows this client down.
                if hub.handle(member, Command::parse(&line)) == AfterCommand::Quit {
                    return LeaveReason::Quit;
                }
                continue;
            }
            // End of stream: the client closed, or our shutdown closed the read side.
            Ok(None) => {
                return if shutdown.is_triggered() { LeaveReason::Shutdown } else { LeaveReason::Quit }
            }
            // The two mistakes a client can recover from: tell it and keep the connection.
            Err(LineError::TooLong { limit }) => format!("line longer than {limit} bytes: not sent"),
            Err(LineError::InvalidUtf8 { .. }) => INVALID_UTF8.to_string(),
            Err(e) if shutdown.is_triggered() => {
                debug!("{peer}: {e} while shutting down");
                return LeaveReason::Shutdown;
            }
            Err(e) => {
                info!("{peer}: {e}");
                return LeaveReason::Lost;
            }
        };
        let _ = outbox.try_send(Delivery::Error(refusal));
    }
}

/// Writes everything that arrives in the outbox, until the outbox closes or the client fails us.
fn write_loop(inbox: Inbox, socket: Traced<TcpStream>, peer: SocketAddr) {
    if let Err(e) = write_all_deliveries(&inbox, &socket) {
        info!("{peer}: {} while writing: dropping it", common::net::describe(&e));
    }
    // Both halves: our FIN tells the client we are done, and the reader's `read` ends too.
    let _ = socket.shutdown(std::net::Shutdown::Both);
}

fn write_all_deliveries(inbox: &Inbox, socket: &Traced<TcpStream>) -> io::Result<()> {
    let mut out = BufWriter::new(socket);
    // Block for the next delivery, then take whatever else is already queued, and only then
    // flush: one system call for a burst of lines instead of one per line.
    while let Ok(first) = inbox.recv() {
        let mut next = Some(first);
        while let Some(delivery) = next {
            writeln!(out, "{}", delivery.line())?;
            if matches!(delivery, Delivery::Goodbye) {
                return out.flush();
            }
            next = inbox.try_recv().ok();
        }
        out.flush()?;
    }
    Ok(())
}

/// True for the request line of an HTTP request (`GET /ws HTTP/1.1`): a browser, `curl` or a
/// WebSocket client dialled the chat's port. Those speak first, and never read chat lines.
pub(crate) fn is_http_request(line: &str) -> bool {
    let words: Vec<&str> = line.split(' ').collect();
    let [method, _target, version] = words[..] else { return false };
    !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase()) && version.starts_with("HTTP/")
}

/// The one line an HTTP client at the chat's port gets before it is closed.
fn web_side(stream: &TcpStream) -> String {
    web_side_at(stream.local_addr().ok())
}

/// [`web_side`], for a socket that is not std's (chapter 14's loop).
pub(crate) fn web_side_at(local: Option<SocketAddr>) -> String {
    let host = local.map_or("127.0.0.1".to_string(), |addr| addr.ip().to_string());
    format!(
        "this is the TCP chat, which speaks lines of text, not HTTP; browsers and WebSocket clients \
         use the web side, http://{host}:8080/ by default (cargo server lab, or cargo server ws)"
    )
}

#[cfg(test)]
mod tests {
    use super::is_http_request;

    #[test]
    fn http_request_lines_are_told_apart_from_chat_lines() {
        for line in ["GET / HTTP/1.1", "GET /ws HTTP/1.1", "POST /send HTTP/1.0", "OPTIONS * HTTP/1.1"] {
            assert!(is_http_request(line), "{line:?}");
        }
        for line in ["hello", "GET me a coffee", "/join games", "get / http/1.1", "GET / HTTP/1.1 extra"] {
            assert!(!is_http_request(line), "{line:?}");
        }
    }
}
