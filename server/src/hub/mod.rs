//! The hub: rooms, members, and who hears what. One hub serves every transport.
//!
//! The hub knows nothing about sockets. A member is a nickname, a room, an *outbox* and a way to
//! cut its connection ([`Kick`]). Whatever serves the member's connection (TCP lines, WebSocket
//! messages, HTTP requests) hands lines to [`Hub::handle`] and writes out whatever arrives in the
//! outbox, on its own thread.
//!
//! Two rules keep a chat alive when people paste, pause and vanish:
//! - **Broadcasting never waits for a receiver.** The hub only ever `try_send`s into an outbox.
//!   A member whose outbox has lines waiting and whose writer took none of them for the stall
//!   window (5 s) has stopped reading (a frozen laptop, a process stopped with Ctrl-Z): it is
//!   dropped, with a notice to the room, and everyone else carries on.
//! - **A sender waits for the room instead (flood control).** Before the hub carries out a
//!   command, the sender's own thread waits, outside the hub's lock, while a member of its room
//!   has the flood mark (256 lines) waiting. A healthy reader that is a moment behind catches up
//!   meanwhile; the paster's thread stops reading its socket, and TCP slows the paster down.
//!
//! Every event gets the next number of the hub (its *id*: increasing within each room, and never
//! reused) and goes into its room's short history, so a client that polls can ask for "everything
//! after id N". Clients that do not hold a connection open (HTTP polling) are not members: they
//! post into a room and read its history; a streaming client *watches* a room through an outbox.
//!
//! The jobs, one file each: `members` (joining, commands, leaving), `rooms` (rooms, eviction,
//! publishing, flood control), `history` (what happened after id N, and waiting for it),
//! `watchers` (streams), `outbox` (the queue and its gauge), `event` (what is said, as lines),
//! `nick` (when two nicknames look the same), `away` (switching transport without leaving),
//! `arrivals` (a guest is announced once it has settled).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::AtomicBool;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

mod arrivals;
mod away;
mod backlog;
pub mod broker;
mod event;
mod history;
mod members;
mod nick;
mod outbox;
mod relay;
mod resp;
mod rooms;
mod watchers;

#[cfg(test)]
mod tests;

pub use arrivals::Announced;
pub use broker::Broker;
pub use event::{Delivery, Event, EventKind, LeaveReason};
pub use history::Newer;
pub use members::AfterCommand;
pub use nick::skeleton;
pub use outbox::{outbox, Inbox, Outbox};

use rooms::Room;

/// Members connected at once, over every transport. One more is refused with a clear line.
pub const MAX_MEMBERS: usize = 200;
/// Rooms that may exist at once (the lobby included). A room outlives its members, so HTTP
/// clients can still read its history; when a new room needs the space, the room that has been
/// quiet longest among those nobody is in is forgotten. Watching a room does not create it.
pub const MAX_ROOMS: usize = 50;
/// Flood control: while a member of a room has this many lines waiting in its outbox, whoever
/// wants to say something there waits (so TCP pushes back on a paster).
pub const FLOOD_MARK: usize = 256;
/// Flood control waits only for a reader that is reading: one whose writer took a line within
/// this window. A stalled reader holds a sender up for this long once, then never again.
pub const PATIENCE: Duration = Duration::from_millis(250);
/// A member whose outbox has lines waiting and whose writer took none for this long has stopped
/// reading: it is dropped. Shorter than `conn::WRITE_TIMEOUT`, so the hub notices first.
pub const STALL: Duration = Duration::from_secs(5);
/// Lines an outbox holds at most, whatever else happens: a memory cap. Flood control keeps a
/// healthy member far below it; a member that reaches it is dropped at once.
pub const OUTBOX_CAPACITY: usize = 4 * FLOOD_MARK;
/// Events each room remembers for clients that ask what they missed.
pub const HISTORY_LEN: usize = 100;
/// A member that joined under its own nickname (the lab's page) and whose connection ended
/// without `/quit` keeps its place this long: joining again under that name within it is the
/// same presence, with no notices (switching transport on the page). See `away`.
pub const SWITCH_GRACE: Duration = Duration::from_secs(5);
/// A guest (joined as `guest-N`) is announced to its room only once it has settled: at the
/// first line it says there, or after this long. One that picks a name, moves on or goes
/// within it was never seen there. See `arrivals`.
pub const ARRIVAL: Duration = Duration::from_secs(1);

/// The hub's limits; tests shrink them to reach each one quickly.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_members: usize,
    pub max_rooms: usize,
    pub flood_mark: usize,
    pub patience: Duration,
    pub stall: Duration,
    pub outbox_capacity: usize,
    pub history_len: usize,
    pub switch_grace: Duration,
    pub arrival: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_members: MAX_MEMBERS,
            max_rooms: MAX_ROOMS,
            flood_mark: FLOOD_MARK,
            patience: PATIENCE,
            stall: STALL,
            outbox_capacity: OUTBOX_CAPACITY,
            history_len: HISTORY_LEN,
            switch_grace: SWITCH_GRACE,
            arrival: ARRIVAL,
        }
    }
}

/// Cuts a member's connection, so the threads serving it notice at once.
pub type Kick = Box<dyn Fn() + Send + Sync>;

pub type MemberId = u64;

pub struct Hub {
    limits: Limits,
    state: Mutex<State>,
    /// Notified after every event and on [`Hub::close`]: long-polling requests wait on it.
    changed: Condvar,
    /// The broker that joins this hub to other servers' (`relay`), if any.
    relay: Option<relay::Relay>,
    /// Notified when a guest arrives and on [`Hub::close`]: the doorkeeper waits on it.
    door: Condvar,
    /// Whether a doorkeeper thread serves this hub (see `arrivals`).
    door_kept: AtomicBool,
}

#[derive(Default)]
struct State {
    members: HashMap<MemberId, Member>,
    rooms: BTreeMap<String, Room>,
    /// Streams that follow a room without being in it, by room name. Kept apart from `rooms`:
    /// watching a room never creates it, so made-up names cannot use up the room slots.
    watchers: BTreeMap<String, BTreeMap<u64, Outbox>>,
    next_member: MemberId,
    next_guest: u64,
    next_event: u64,
    next_watcher: u64,
    /// Set by [`Hub::close`]: the server is stopping, nobody should wait any more.
    closing: bool,
    /// Requests blocked in [`Hub::wait_newer`] right now.
    waiting: usize,
    /// Guests not announced yet, with when their arrival grace ends, oldest first (entries of
    /// members announced or gone meanwhile are skipped when reached).
    arrivals: VecDeque<(Instant, MemberId)>,
}

struct Member {
    nick: String,
    /// What the nickname looks like (see `nick::skeleton`): no two members share one.
    skeleton: String,
    room: String,
    outbox: Outbox,
    kick: Kick,
    /// Said `/quiet`: gets no notices of others entering, leaving or renaming (the room's
    /// history still has them, one line per person).
    quiet: bool,
    /// Its connection ended without `/quit`, and it may be back soon (see `away`).
    away: Option<away::Away>,
    /// A guest its room has not been told of yet (see `arrivals`).
    arriving: bool,
}

/// Connections to cut once the lock is released (cutting one never needs the hub).
type Kicks = Vec<Kick>;

impl Hub {
    pub fn new(limits: Limits) -> Hub {
        Hub {
            limits,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            relay: None,
            door: Condvar::new(),
            door_kept: AtomicBool::new(false),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// A new outbox with this hub's capacity, for a member or a stream.
    pub fn outbox(&self) -> (Outbox, Inbox) {
        outbox(self.limits.outbox_capacity)
    }

    /// The refusal for the member over the cap, in the hub's words whoever says it.
    pub fn full(max_members: usize) -> String {
        format!("server full: {max_members} members already connected, try again later")
    }

    /// The server is stopping: wakes every waiting request and sender, and says goodbye to
    /// every watcher.
    pub fn close(&self) {
        self.cut_broker();
        let mut state = self.lock();
        state.closing = true;
        for (_, outbox) in std::mem::take(&mut state.watchers).into_values().flatten() {
            let _ = outbox.try_send(Delivery::Goodbye);
            outbox.release();
        }
        state.members.values().for_each(|member| member.outbox.release());
        drop(state);
        self.changed.notify_all();
        self.door.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // If a thread panicked while holding the lock, the state is still consistent enough to
        // serve everybody else: every change is completed before anything can panic.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Releases the lock, then cuts the connections of dropped members.
fn finish(state: MutexGuard<'_, State>, kicks: Kicks) {
    drop(state);
    kicks.iter().for_each(|kick| kick());
}
