//! Lesson 8, server side: the chat over WebSocket, on the same hub as the TCP and HTTP chats.
//!
//! Each connection has the two threads of lesson 4, over the split of lesson 6:
//!
//! ```text
//!           reader thread (this one)                       writer thread
//! socket -> Reader::recv -> a text message -> hub.handle    |
//!                                                           |
//!           hub -> this member's outbox  ----------------> Writer::send_all -> socket
//!           the reader's pong and close replies ---------> (the same Writer, behind its lock)
//! ```
//!
//! A text message is one line of the chat protocol (`common::protocol`), in both directions, so
//! a WebSocket client sees exactly what a TCP client sees.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;

use common::protocol::{Command, MAX_LINE_BYTES};
use common::ws::{close_frame, End, Reader, Writer};
use common::Shutdown;
use log::{debug, info, warn};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

use crate::http::{self, Request};
use crate::hub::{AfterCommand, Delivery, Hub, Inbox, LeaveReason, Outbox};
use crate::workers::{accept_loop, STACK_SIZE};
use crate::ws;

/// The largest message a client may send: one chat line, with room for a few lines pasted at
/// once. Past it: close code 1009.
pub const MAX_MESSAGE: usize = 2 * MAX_LINE_BYTES;

/// Which pages may open a WebSocket to this chat from a visitor's browser.
///
/// A browser lets *any* page open a WebSocket to *any* server, and sends the page's origin in
/// the `Origin` header; it is the server's job to refuse pages it does not trust. Otherwise a
/// page on some other site, opened by a student, could join the class chat as that student.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    /// Extra origins to admit besides the server's own (`http://host:port`).
    pub extra: Vec<String>,
}

impl Origins {
    /// `Ok` for clients that are not browsers (no `Origin`), for the page this server serves
    /// itself (its origin is `http://` + the `Host` the browser used), and for the extras.
    pub fn check(&self, request: &Request) -> Result<(), String> {
        let Some(origin) = request.header("Origin") else { return Ok(()) };
        let own = request.header("Host").map(|host| format!("http://{host}"));
        if own.as_deref() == Some(origin) || self.extra.iter().any(|allowed| allowed == origin) {
            return Ok(());
        }
        Err(format!("pages from {origin} may not join this chat (start the server with --allow-origin {origin} to let them)"))
    }
}

/// The lesson's own server: every request on `listener` is a WebSocket upgrade to the chat.
pub fn run(listener: TcpListener, shutdown: &Shutdown, hub: Arc<Hub>, origins: Origins) -> io::Result<()> {
    let addr = listener.local_addr()?;
    info!("WebSocket chat listening on ws://{addr}/ws (join with `cargo client ws`)");
    let max = 2 * hub.limits().max_members;
    let refuse = move |mut stream: TcpStream, _peer| {
        http::refuse(&mut stream, http::SERVICE_UNAVAILABLE, &Hub::full(max / 2), &[("Retry-After", "5")]);
    };
    let watcher = shutdown.clone();
    accept_loop(&listener, shutdown, max, refuse, move |mut stream, peer| {
        let Ok(_tracked) = watcher.track(&stream) else { return };
        match http::read_request(&mut stream) {
            Ok(request) => serve(stream, request, peer, &hub, &origins, &watcher),
            Err(http::ReadError::Gone) => {}
            Err(http::ReadError::Bad(status, why)) => http::refuse(&mut stream, status, &why, &[]),
        }
    })?;
    info!("WebSocket chat stopped");
    Ok(())
}

/// Serves one WebSocket chat client, from its upgrade request to its departure.
pub fn serve(
    mut stream: TcpStream,
    request: Request,
    peer: SocketAddr,
    hub: &Hub,
    origins: &Origins,
    shutdown: &Shutdown,
) {
    if let Err(why) = origins.check(&request) {
        warn!("{peer}: 403: {why}");
        return http::refuse(&mut stream, http::FORBIDDEN, &why, &[]);
    }
    if let Err(e) = crate::conn::tune(&stream) {
        return warn!("{peer}: cannot set up the socket: {e}");
    }
    let (mut reader, writer) = match ws::upgrade(stream, request, ws::config(MAX_MESSAGE), shutdown) {
        Ok(halves) => halves,
        Err(why) => return info!("{peer}: refused the upgrade: {why}"),
    };
    let (outbox, inbox) = hub.outbox();
    let writing = {
        let writer = writer.clone();
        thread::Builder::new()
            .name(format!("ws writer {peer}"))
            .stack_size(STACK_SIZE)
            .spawn(move || write_loop(&inbox, &writer))
    };
    let Ok(writing) = writing else { return warn!("{peer}: cannot start its writer") };
    let cut = writer.clone();
    match hub.join(outbox.clone(), Box::new(move || cut.cut())) {
        Ok(member) => {
            debug!("{peer} is member {member}");
            let why = read_loop(&mut reader, member, hub, &outbox);
            hub.leave(member, why);
        }
        Err(refusal) => {
            warn!("refusing {peer}: {refusal}");
            writer.close(Some(close_frame(CloseCode::Again, &refusal)));
        }
    }
    // The writer sends what is still queued, then sees the outbox close and ends.
    drop(outbox);
    let _ = writing.join();
    reader.finish();
}

/// Hands every line the client sends to the hub; returns why the client left.
fn read_loop(reader: &mut Reader, member: u64, hub: &Hub, outbox: &Outbox) -> LeaveReason {
    loop {
        match reader.recv() {
            Ok(Message::Text(text)) => {
                // A message is normally one line; a paste of several is several commands.
                for line in text.lines() {
                    if hub.handle(member, Command::parse(line)) == AfterCommand::Quit {
                        return LeaveReason::Quit;
                    }
                }
            }
            Ok(_) => {
                let _ = outbox.try_send(Delivery::Error("this chat speaks text messages, not binary".into()));
            }
            Err(End::Closed(_)) => return LeaveReason::Quit,
            Err(End::Shutdown) => return LeaveReason::Shutdown,
            Err(end @ (End::Failed(..) | End::Lost(_))) => {
                info!("member {member}: {end}");
                return LeaveReason::Lost;
            }
        }
    }
}

/// Writes the outbox to the client, a burst of lines with one flush; ends when the outbox
/// closes, at the goodbye, or when the client cannot be written to.
fn write_loop(inbox: &Inbox, writer: &Writer) {
    while let Ok(first) = inbox.recv() {
        let mut burst = vec![first];
        burst.extend(inbox.try_iter().take(64));
        let goodbye = burst.iter().any(|d| matches!(d, Delivery::Goodbye));
        let lines = burst.iter().filter(|d| !matches!(d, Delivery::Goodbye)).map(|d| Message::text(d.line()));
        if writer.send_all(lines).is_err() {
            return writer.cut();
        }
        if goodbye {
            return writer.close(Some(close_frame(CloseCode::Away, "server shutting down")));
        }
    }
    // The member left (or was dropped): say so properly, if the connection still allows it.
    writer.close(Some(close_frame(CloseCode::Normal, "bye")));
}
