//! One Engine.IO session: it outlives the HTTP requests that carry it.
//!
//! A polling client sends each packet in a POST and collects the server's in a GET that waits,
//! like lesson 5's long poll, until something is queued. So the session keeps what the server
//! wants to say in a queue, and whichever transport is current (a waiting GET, or the WebSocket's
//! writer after the upgrade) takes it from there. The session also holds its chat member (once
//! the client connects to `/chat`) and its heartbeat: the time it last heard a pong.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::ws::Writer;

use super::packet::Version;
use crate::hub::{Hub, LeaveReason, MemberId, Outbox};

/// Packets a session holds for its client at most from the chat. Past it the member's outbox
/// fills instead, where the hub's rules for slow readers apply (lesson 4's stall window).
pub const MAX_QUEUED: usize = 64;

/// Which transport carries the session's packets now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Polling,
    /// A WebSocket is being probed (`2probe` / `3probe`); polling goes on until `5`.
    Upgrading,
    WebSocket,
}

/// The session's chat member, once its client connected to the namespace.
pub struct Member {
    pub id: MemberId,
    /// The namespace's own socket id, sent in the CONNECT answer.
    pub sid: String,
    /// The connection's handle of its outbox; the hub holds the other.
    pub outbox: Outbox,
}

pub struct Session {
    pub sid: String,
    pub version: Version,
    /// The handshake's request target: its query may name the room and the nickname.
    pub target: String,
    state: Mutex<State>,
    changed: Condvar,
}

pub struct State {
    pub queue: VecDeque<String>,
    pub transport: Transport,
    /// A polling GET is waiting for packets: a second one at once is refused (400).
    pub polling: bool,
    /// When the client last showed it is alive: a pong (v4), a ping (v3).
    pub heard: Instant,
    pub next_ping: Instant,
    pub closed: bool,
    /// The WebSocket's writer after the upgrade, to cut the connection when the session ends.
    pub websocket: Option<Writer>,
    pub member: Option<Member>,
    /// Binary packets still expected after a binary event (dropped as they come).
    pub attachments: usize,
    /// The client sent DISCONNECT itself: nobody needs to tell it that it left.
    pub disconnected: bool,
}

/// What a transport found when it asked for packets.
pub enum Taken {
    Packets(Vec<String>),
    /// Nothing within the wait.
    Nothing,
    /// The session ended; these were still queued.
    Closed(Vec<String>),
}

impl Session {
    pub fn new(
        sid: String,
        version: Version,
        target: String,
        transport: Transport,
        interval: Duration,
    ) -> Session {
        let now = Instant::now();
        let state = State {
            queue: VecDeque::new(),
            transport,
            polling: false,
            heard: now,
            next_ping: now + interval,
            closed: false,
            websocket: None,
            member: None,
            attachments: 0,
            disconnected: false,
        };
        Session { sid, version, target, state: Mutex::new(state), changed: Condvar::new() }
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues a packet for the client and wakes whoever carries them.
    pub fn push(&self, packet: String) {
        let mut state = self.lock();
        if !state.closed {
            state.queue.push_back(packet);
            drop(state);
            self.changed.notify_all();
        }
    }

    /// Queues a packet from the chat, waiting while [`MAX_QUEUED`] wait already (the chat's
    /// outbox then holds the rest). False once the session has ended.
    pub fn push_paced(&self, packet: String) -> bool {
        let mut state = self.lock();
        while state.queue.len() >= MAX_QUEUED && !state.closed {
            state = self.changed.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        if state.closed {
            return false;
        }
        state.queue.push_back(packet);
        drop(state);
        self.changed.notify_all();
        true
    }

    /// Takes every queued packet, waiting up to `wait` for the first.
    pub fn take(&self, wait: Duration) -> Taken {
        let deadline = Instant::now() + wait;
        let mut state = self.lock();
        loop {
            if state.closed {
                return Taken::Closed(state.queue.drain(..).collect());
            }
            if !state.queue.is_empty() {
                let packets = state.queue.drain(..).collect();
                drop(state);
                self.changed.notify_all(); // a paced pusher may go on
                return Taken::Packets(packets);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Taken::Nothing;
            }
            state = self.wait(state, left);
        }
    }

    /// Waits on the session's condition for at most `wait`.
    pub fn wait<'a>(&self, state: MutexGuard<'a, State>, wait: Duration) -> MutexGuard<'a, State> {
        match self.changed.wait_timeout(state, wait) {
            Ok((state, _)) => state,
            Err(poisoned) => poisoned.into_inner().0,
        }
    }

    /// Wakes every thread waiting on this session (after a change made under [`Session::lock`]).
    pub fn notify(&self) {
        self.changed.notify_all();
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Ends the session: its transports stop, its member leaves the chat for `reason`. Safe to
    /// call more than once, from any thread; it never waits on a socket.
    pub fn close(&self, hub: &Hub, reason: LeaveReason) {
        let mut state = self.lock();
        state.closed = true;
        let member = state.member.take();
        let websocket = state.websocket.clone();
        drop(state);
        self.changed.notify_all();
        if let Some(member) = member {
            hub.leave(member.id, reason);
        }
        // A WebSocket writer sends what is queued and its Close frame on its own; this only
        // makes sure a reader blocked on a silent peer ends too (after the writer's close).
        if let (Some(writer), LeaveReason::TooSlow | LeaveReason::Lost) = (websocket, reason) {
            writer.cut();
        }
    }
}
