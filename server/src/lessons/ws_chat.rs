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
use std::net::TcpListener;
use std::sync::Arc;
use std::thread;

use common::protocol::{Command, MAX_LINE_BYTES};
use common::ws::{close_frame, EndReason, Reader, Writer};
use common::Shutdown;
use log::{debug, info, warn};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

pub use crate::http::Origins;
use crate::http::{self, AfterResponse, Connection, Request};
use crate::hub::{AfterCommand, Delivery, Hub, Inbox, Kick, LeaveReason, Outbox};
use crate::workers::STACK_SIZE;
use crate::ws;

/// The largest message a client may send: one chat line, with room for a few lines pasted at
/// once. Past it: close code 1009.
pub const MAX_MESSAGE: usize = 2 * MAX_LINE_BYTES;

/// The lesson's own server: every request on `listener` is a WebSocket upgrade to the chat.
/// Pages from other sites are refused by the HTTP layer (`crate::http::site`), which lets
/// `origins` in besides this server's own page.
pub fn run(
    listener: TcpListener,
    shutdown: &Shutdown,
    hub: Arc<Hub>,
    limits: http::Limits,
    origins: Origins,
) -> io::Result<()> {
    let addr = listener.local_addr()?;
    let (_, ws) = crate::tls::schemes(&listener);
    info!("WebSocket chat listening on {ws}://{addr}/ws (join with `cargo client ws`)");
    // Guests are announced once they settle: the hub's doorkeeper keeps the clock (`hub::arrivals`).
    Hub::keep_door(&hub);
    http::serve(&listener, shutdown, limits, origins, move |connection, request| {
        join_chat(connection, &request, &hub)
    })?;
    info!("WebSocket chat stopped");
    Ok(())
}

/// Serves one WebSocket chat client, from its upgrade request to its departure.
pub fn join_chat(connection: &mut Connection, request: &Request, hub: &Hub) -> AfterResponse {
    let peer = connection.peer();
    let (mut reader, writer) = match ws::upgrade(connection, request, common::ws::config(MAX_MESSAGE)) {
        Ok(halves) => halves,
        Err(why) => {
            info!("{peer}: refused the upgrade: {why}");
            return AfterResponse::Close;
        }
    };
    let (outbox, inbox) = hub.outbox();
    let writing = {
        let writer = writer.clone();
        thread::Builder::new()
            .name(format!("ws writer {peer}"))
            .stack_size(STACK_SIZE)
            .spawn(move || write_loop(&inbox, &writer))
    };
    let Ok(writing) = writing else {
        warn!("{peer}: cannot start its writer");
        return AfterResponse::Close;
    };
    let kick = || -> Kick {
        let cut = writer.clone();
        Box::new(move || cut.cut())
    };
    // The lab's page joins under its own name (`/ws?nick=NICK&room=ROOM`): no guest step, and
    // a switch of transport is one presence (`hub::away`). A name that is taken: a guest, told.
    let asked = ws::asked(request);
    let joined = hub.join_asked(asked.as_ref(), &outbox, kick);
    let mut away = None;
    match joined {
        Ok(member) => {
            debug!("{peer} is member {member}");
            let (mut why, said_quit) = read_loop(&mut reader, member, hub, &outbox);
            // Stopping the server shut our reading side: that is not the member's doing. The
            // writer sends what is queued, then the goodbye (1001 Going Away).
            if connection.stopping() {
                let _ = outbox.try_send(Delivery::Goodbye);
                why = LeaveReason::Shutdown;
            }
            if asked.is_some() && !said_quit && why != LeaveReason::Shutdown {
                hub.step_away(member, why);
                away = Some(member);
            } else {
                hub.leave(member, why);
            }
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
    // Its place is kept for a moment: back on another connection, or gone (and the room told).
    if let Some(member) = away {
        hub.await_return(member);
    }
    AfterResponse::Close
}

/// Hands every line the client sends to the hub; returns why the client left, and whether it
/// said so with `/quit` (rather than closing the connection, which a page switching transport does).
fn read_loop(reader: &mut Reader, member: u64, hub: &Hub, outbox: &Outbox) -> (LeaveReason, bool) {
    loop {
        match reader.recv() {
            Ok(Message::Text(text)) => {
                // A message is normally one line; a paste of several is several commands.
                for line in text.lines() {
                    if hub.handle(member, Command::parse(line)) == AfterCommand::Quit {
                        return (LeaveReason::Quit, true);
                    }
                }
            }
            Ok(_) => {
                let _ = outbox.try_send(Delivery::Error("this chat speaks text messages, not binary".into()));
            }
            Err(EndReason::Closed(_)) => return (LeaveReason::Quit, false),
            Err(end @ EndReason::Failed(..)) => {
                info!("member {member}: {end}");
                return (LeaveReason::Lost, false);
            }
            // Our own Ctrl-C ends the stream this way too (it shut our reading side), and the
            // hub logs every departure with its reason: the detail is for `RUST_LOG=debug`.
            Err(end @ EndReason::Lost(_)) => {
                debug!("member {member}: {end}");
                return (LeaveReason::Lost, false);
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
