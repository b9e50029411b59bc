//! A chat member as the loop holds it: the hub's side of one connection, whatever carries it
//! (TCP lines or WebSocket messages). The hub decides; this only never waits.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::protocol::Command;
use log::{debug, info};

use super::bell::Bell;
use crate::hub::{AfterCommand, Delivery, Hub, Inbox, Kick, LeaveReason, MemberId, Outbox};

pub struct Member {
    hub: Arc<Hub>,
    peer: SocketAddr,
    /// `None` once it left (or when the hub refused it).
    id: Option<MemberId>,
    outbox: Outbox,
    inbox: Inbox,
    /// Set by the hub's kick (it dropped this member): the connection closes at once.
    kicked: Arc<AtomicBool>,
    /// Lines read but held back by flood control, oldest first.
    held: VecDeque<String>,
    joined: bool,
}

impl Member {
    /// Joins the hub, as a guest or under the nickname and room `asked` (the lab's page:
    /// `/ws?nick=&room=`); the refusal (the chat is full) is already in the outbox. On the loop a
    /// member that goes leaves: its lab has no other transport to switch to, so nothing steps
    /// away (`hub::away`).
    pub fn join(hub: Arc<Hub>, peer: SocketAddr, asked: Option<&(String, String)>) -> Member {
        let (outbox, inbox) = hub.outbox();
        let kicked = Arc::new(AtomicBool::new(false));
        let kick = || -> Kick {
            let (flag, outbox) = (kicked.clone(), outbox.clone());
            // Dropped: the loop must look at this connection even if no line comes.
            Box::new(move || {
                flag.store(true, Ordering::SeqCst);
                outbox.ring();
            })
        };
        let id = match hub.join_asked(asked, &outbox, kick) {
            Ok(id) => Some(id),
            Err(refusal) => {
                info!("refusing {peer}: {refusal}");
                let _ = outbox.try_send(Delivery::Error(refusal));
                None
            }
        };
        Member { hub, peer, joined: id.is_some(), id, outbox, inbox, kicked, held: VecDeque::new() }
    }

    /// Has the loop told (`bell`) whenever the hub gives this member work: a line in its
    /// outbox, or a kick. The lines queued before (the welcome) are the loop's to look for.
    pub fn hang_bell(&self, bell: Bell) {
        self.outbox.on_mail(move || bell.ring());
    }

    /// Still in the chat (joined, and neither left nor dropped).
    pub fn is_in(&self) -> bool {
        self.id.is_some() && !self.kicked()
    }

    /// Was let in at all (the chat was not full), whether or not it has left since.
    pub fn joined(&self) -> bool {
        self.joined
    }

    pub fn kicked(&self) -> bool {
        self.kicked.load(Ordering::SeqCst)
    }

    /// Leaves the hub, once. The server's goodbye is queued last, past the outbox's cap.
    pub fn leave(&mut self, reason: LeaveReason) {
        if let Some(id) = self.id.take() {
            self.hub.leave(id, reason);
            if reason == LeaveReason::Shutdown {
                let _ = self.outbox.send_last(Delivery::Goodbye);
            }
            debug!("{} went away ({reason:?})", self.peer);
        }
    }

    /// A line for this member only (a refusal it can recover from).
    pub fn tell(&self, error: String) {
        let _ = self.outbox.try_send(Delivery::Error(error));
    }

    /// Queues `line` and carries out what flood control lets through; `false` once the member
    /// has quit.
    pub fn say(&mut self, line: String) -> bool {
        self.held.push_back(line);
        self.carry_on()
    }

    /// Carries out held lines while nobody in the room is behind (`Hub::may_speak`: the same
    /// rule the threaded chat waits on, asked without waiting); `false` once the member quit.
    pub fn carry_on(&mut self) -> bool {
        while let Some(line) = self.held.front() {
            let Some(id) = self.id else { return false };
            if !self.hub.may_speak(id) {
                return true;
            }
            let command = Command::parse(line);
            self.held.pop_front();
            if self.hub.handle(id, command) == AfterCommand::Quit {
                self.leave(LeaveReason::Quit);
                return false;
            }
        }
        true
    }

    pub fn is_held(&self) -> bool {
        !self.held.is_empty()
    }

    /// The next line the hub queued for this member, if any.
    pub fn next(&self) -> Option<Delivery> {
        self.inbox.try_recv().ok()
    }

    pub fn mail_waits(&self) -> bool {
        !self.inbox.is_empty()
    }
}
