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
//! waits on this member's outbox (a bounded channel) and writes whatever arrives. Nothing else
//! ever writes to the socket, so lines never interleave, and the hub never waits for a client: it
//! drops a line into each outbox and moves on (see `crate::hub`).
//!
//! The wire format is newline-terminated UTF-8 (see `common::protocol`), so `nc` and telnet
//! are clients too.

use std::io::{self, BufWriter, Write};
use std::net::{Shutdown as Half, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::thread;

use common::line::{LineError, LineReader};
use common::protocol::{Command, MAX_LINE_BYTES};
use common::trace::{Layer, Traced};
use common::Shutdown;
use log::{debug, info, warn};

use crate::conn::{kick_for, tune};
use crate::hub::{Delivery, Flow, Hub, MemberId, Outbox, Why};
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
        let _ = stream.write_all(format!("! {}\n", Hub::full(max)).as_bytes());
        let _ = stream.shutdown(Half::Write);
    };
    let watcher = shutdown.clone();
    let serve = move |stream, peer| serve_connection(stream, peer, &hub, &watcher);
    accept_loop(&listener, shutdown, Layer::Lines, 2 * max, refuse, serve)?;
    info!("chat server stopped");
    Ok(())
}

/// `nc` wants the host and the port as two words.
fn nc_addr(addr: SocketAddr) -> String {
    format!("{} {}", addr.ip(), addr.port())
}

/// Serves one client from arrival to departure. This thread is the reader; it starts the writer.
pub fn serve_connection(stream: Traced<TcpStream>, peer: SocketAddr, hub: &Hub, shutdown: &Shutdown) {
    let Ok(_tracked) = shutdown.track(&stream) else { return };
    if let Err(e) = tune(&stream) {
        return warn!("{peer}: cannot set up the socket: {e}");
    }
    let (outbox, inbox) = mpsc::sync_channel(hub.limits().outbox_capacity);
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
            let why = read_loop(stream, peer, member, hub, &outbox, shutdown);
            hub.leave(member, why);
            if why == Why::Shutdown {
                // After leaving, so the writer's end after the goodbye never looks like a lost
                // connection to the hub. `send` waits for room: the goodbye must not be lost, and
                // a writer that cannot make room is cut by the shutdown (`GRACE`).
                let _ = outbox.send(Delivery::Goodbye);
            }
            debug!("{peer} went away ({why:?})");
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
) -> Why {
    let mut lines = LineReader::new(stream, MAX_LINE_BYTES);
    loop {
        let refusal = match lines.read_line() {
            Ok(Some(line)) => {
                debug!("{peer}: {} bytes", line.len());
                if hub.handle(member, Command::parse(&line)) == Flow::Quit {
                    return Why::Quit;
                }
                continue;
            }
            // End of stream: the client closed, or our shutdown closed the read side.
            Ok(None) => return if shutdown.is_triggered() { Why::Shutdown } else { Why::Quit },
            // The two mistakes a client can recover from: tell it and keep the connection.
            Err(LineError::TooLong { limit }) => format!("line longer than {limit} bytes: not sent"),
            Err(LineError::InvalidUtf8 { .. }) => {
                "that line was not valid UTF-8: not sent (is your terminal set to UTF-8?)".to_string()
            }
            Err(e) if shutdown.is_triggered() => {
                debug!("{peer}: {e} while shutting down");
                return Why::Shutdown;
            }
            Err(e) => {
                info!("{peer}: {e}");
                return Why::Lost;
            }
        };
        let _ = outbox.try_send(Delivery::Error(refusal));
    }
}

/// Writes everything that arrives in the outbox, until the outbox closes or the client fails us.
fn write_loop(inbox: Receiver<Delivery>, socket: Traced<TcpStream>, peer: SocketAddr) {
    if let Err(e) = write_all_deliveries(&inbox, &socket) {
        info!("{peer}: {} while writing: dropping it", common::net::describe(&e));
    }
    // Both halves: our FIN tells the client we are done, and the reader's `read` ends too.
    let _ = socket.shutdown(Half::Both);
}

fn write_all_deliveries(inbox: &Receiver<Delivery>, socket: &Traced<TcpStream>) -> io::Result<()> {
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
