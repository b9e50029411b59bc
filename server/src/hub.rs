//! The hub: rooms, members, and who hears what. One hub serves every transport.
//!
//! The hub knows nothing about sockets. A member is a nickname, a room, an *outbox* and a way to
//! cut its connection (`Kick`). Whatever serves the member's connection (a TCP line reader today,
//! HTTP and WebSocket later) hands lines to [`Hub::handle`] and writes out whatever arrives in the
//! outbox, on its own thread.
//!
//! The one rule that keeps a chat alive: **broadcasting never blocks.** An outbox is a bounded
//! channel, and the hub only ever `try_send`s into it. A member whose outbox is full has stopped
//! reading (a frozen laptop, a stopped process); waiting for it would freeze the whole room. So it
//! is dropped, with a notice to the room, and everyone else carries on.
//!
//! Every event gets the next number of the hub (its *id*: increasing within each room, and never
//! reused) and goes into its room's short history, so a client that polls can ask for "everything
//! after id N". Clients that do not hold a connection open (HTTP polling) are not members: they
//! post into a room and read its history; a streaming client *watches* a room through an outbox.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use common::protocol::{self, check_nick, check_room, sanitize, Command, LOBBY};
use log::info;

/// Members connected at once, over every transport. One more is refused with a clear line.
pub const MAX_MEMBERS: usize = 200;
/// Rooms that may exist at once (the lobby included). A room outlives its members, so HTTP
/// clients can still read its history; when a new room needs the space, the room that has been
/// quiet longest among those nobody is in or watching is forgotten.
pub const MAX_ROOMS: usize = 50;
/// Lines a member's outbox holds before the member counts as too slow and is dropped.
pub const OUTBOX_CAPACITY: usize = 256;
/// Events each room remembers for clients that ask what they missed.
pub const HISTORY_LEN: usize = 100;

/// The hub's limits; tests shrink them to reach each one quickly.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_members: usize,
    pub max_rooms: usize,
    pub outbox_capacity: usize,
    pub history_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_members: MAX_MEMBERS,
            max_rooms: MAX_ROOMS,
            outbox_capacity: OUTBOX_CAPACITY,
            history_len: HISTORY_LEN,
        }
    }
}

/// Something that happened in a room. Shared (`Arc`) by every outbox it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Increases by one with every event in this room.
    pub id: u64,
    pub room: String,
    pub time: SystemTime,
    pub what: What,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    Message { nick: String, text: String },
    Entered { nick: String },
    Left { nick: String, why: Why },
    Renamed { from: String, to: String },
}

/// Why a member left a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// Went to another room.
    Moved,
    /// Said `/quit`, or closed the connection cleanly.
    Quit,
    /// The connection broke (reset, timeout, closed in the middle of a line).
    Lost,
    /// Its outbox was full: it stopped reading.
    TooSlow,
    /// The server is stopping; nobody is told, everybody gets a goodbye instead.
    Shutdown,
}

impl Why {
    fn describe(self) -> &'static str {
        match self {
            Why::Moved => "moved to another room",
            Why::Quit => "quit",
            Why::Lost => "connection lost",
            Why::TooSlow => "too slow",
            Why::Shutdown => "server shutting down",
        }
    }
}

impl Event {
    /// The event as one line of the chat protocol.
    pub fn line(&self) -> String {
        let room = &self.room;
        match &self.what {
            What::Message { nick, text } => format!("{nick}: {text}"),
            What::Entered { nick } => format!("* {nick} has entered {room}"),
            What::Left { nick, why: Why::Moved } => format!("* {nick} has left {room}"),
            What::Left { nick, why: Why::Quit | Why::Shutdown } => format!("* {nick} has left the chat"),
            What::Left { nick, why: Why::Lost } => format!("* {nick} has left the chat (connection lost)"),
            What::Left { nick, why: Why::TooSlow } => {
                format!("* {nick} stopped reading and was dropped (too slow to keep up)")
            }
            What::Renamed { from, to } => format!("* {from} is now known as {to}"),
        }
    }
}

/// What goes into a member's outbox.
#[derive(Debug, Clone)]
pub enum Delivery {
    Event(Arc<Event>),
    /// A reply for this member only (`/who`, `/help`, ...).
    Notice(String),
    /// A refusal for this member only.
    Error(String),
    /// The server is stopping: the last thing the member hears.
    Goodbye,
}

impl Delivery {
    /// The delivery as one line of the chat protocol.
    pub fn line(&self) -> String {
        match self {
            Delivery::Event(event) => event.line(),
            Delivery::Notice(text) => format!("* {text}"),
            Delivery::Error(text) => format!("! {text}"),
            Delivery::Goodbye => common::GOODBYE.to_string(),
        }
    }
}

/// The sending end of a member's bounded outbox.
pub type Outbox = SyncSender<Delivery>;

/// Cuts a member's connection, so the threads serving it notice at once.
pub type Kick = Box<dyn Fn() + Send + Sync>;

pub type MemberId = u64;

/// What the connection should do after a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

pub struct Hub {
    limits: Limits,
    state: Mutex<State>,
    /// Notified after every event and on [`Hub::close`]: long-polling requests wait on it.
    changed: Condvar,
}

#[derive(Default)]
struct State {
    members: HashMap<MemberId, Member>,
    rooms: BTreeMap<String, Room>,
    next_member: MemberId,
    next_guest: u64,
    next_event: u64,
    next_watcher: u64,
    /// Set by [`Hub::close`]: the server is stopping, nobody should wait any more.
    closing: bool,
    /// Requests blocked in [`Hub::wait_newer`] right now.
    waiting: usize,
}

struct Member {
    nick: String,
    room: String,
    outbox: Outbox,
    kick: Kick,
}

struct Room {
    members: BTreeSet<MemberId>,
    /// Streams that follow the room without being in it (HTTP streaming).
    watchers: BTreeMap<u64, Outbox>,
    history: VecDeque<Arc<Event>>,
    /// The id of the newest event that fell out of the history (0: none did).
    forgotten_up_to: u64,
    last_active: Instant,
}

impl Room {
    fn new() -> Room {
        Room {
            members: BTreeSet::new(),
            watchers: BTreeMap::new(),
            history: VecDeque::new(),
            forgotten_up_to: 0,
            last_active: Instant::now(),
        }
    }
}

/// What a client that asks "what happened after id N?" gets back.
#[derive(Debug, Default)]
pub struct Newer {
    pub events: Vec<Arc<Event>>,
    /// True when some events after N are no longer in the history: the client was away too long.
    pub missed: bool,
}

/// Connections to cut once the lock is released (cutting one never needs the hub).
type Kicks = Vec<Kick>;

impl Hub {
    pub fn new(limits: Limits) -> Hub {
        Hub { limits, state: Mutex::new(State::default()), changed: Condvar::new() }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The refusal for the member over the cap, in the hub's words whoever says it.
    pub fn full(max_members: usize) -> String {
        format!("server full: {max_members} members already connected, try again later")
    }

    /// Adds a member with a guest nickname to the lobby, or says why not.
    pub fn join(&self, outbox: Outbox, kick: Kick) -> Result<MemberId, String> {
        let mut kicks = Kicks::new();
        let mut state = self.lock();
        if state.members.len() >= self.limits.max_members {
            return Err(Hub::full(self.limits.max_members));
        }
        let id = state.next_member;
        state.next_member += 1;
        let nick = loop {
            state.next_guest += 1;
            let guest = format!("guest-{}", state.next_guest);
            if state.nick_owner(&guest).is_none() {
                break guest;
            }
        };
        let _ = outbox
            .try_send(Delivery::Notice("welcome to the socket-steps chat! /help lists the commands".into()));
        let _ = outbox.try_send(Delivery::Notice(protocol::whereabouts(&nick, LOBBY)));
        info!("{nick} joined the chat");
        state.members.insert(id, Member { nick, room: String::new(), outbox, kick });
        self.enter(&mut state, id, LOBBY, &mut kicks);
        finish(state, kicks);
        Ok(id)
    }

    /// Carries out one command of member `id`; replies go to its outbox.
    pub fn handle(&self, id: MemberId, command: Command) -> Flow {
        let mut kicks = Kicks::new();
        let mut state = self.lock();
        let Some(member) = state.members.get(&id) else { return Flow::Quit };
        let (nick, room) = (member.nick.clone(), member.room.clone());
        let reply = match command {
            Command::Say(text) => self.say(&mut state, &nick, &room, &text, &mut kicks).map(|_| vec![]),
            Command::Nick(new) => self.rename(&mut state, id, &new, &mut kicks),
            Command::Join(to) => self.move_to(&mut state, id, &to, &mut kicks),
            Command::Leave if room == LOBBY => {
                Err("you are in the lobby already; /quit leaves the chat".into())
            }
            Command::Leave => self.move_to(&mut state, id, LOBBY, &mut kicks),
            Command::Rooms => Ok(vec![state.room_list()]),
            Command::Who => Ok(vec![state.who(&room)]),
            Command::Help => Ok(protocol::HELP.iter().map(|line| line.to_string()).collect()),
            Command::Quit => {
                state.tell(id, Delivery::Notice("bye".into()));
                return Flow::Quit;
            }
            Command::Nothing => Ok(vec![]),
            Command::Invalid(error) => Err(error),
        };
        match reply {
            Ok(notices) => notices.into_iter().for_each(|n| state.tell(id, Delivery::Notice(n))),
            Err(error) => state.tell(id, Delivery::Error(error)),
        }
        finish(state, kicks);
        Flow::Continue
    }

    /// Removes member `id` (if it is still here) and tells its room why.
    pub fn leave(&self, id: MemberId, why: Why) {
        let mut kicks = Kicks::new();
        let mut state = self.lock();
        if let Some(member) = state.members.remove(&id) {
            info!("{} left the chat ({})", member.nick, why.describe());
            self.exit_room(&mut state, id, &member.room, &member.nick, why, &mut kicks);
        }
        finish(state, kicks);
    }

    /// The events of `room` with an id above `since`, oldest first.
    pub fn newer(&self, room: &str, since: u64) -> Newer {
        self.lock().newer(room, since)
    }

    /// Like [`Hub::newer`], but if there is nothing yet, waits (without spinning) until there is,
    /// `timeout` passes, or the hub closes.
    pub fn wait_newer(&self, room: &str, since: u64, timeout: Duration) -> Newer {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        state.waiting += 1;
        let newer = loop {
            let newer = state.newer(room, since);
            let left = deadline.saturating_duration_since(Instant::now());
            if !newer.events.is_empty() || newer.missed || left.is_zero() || state.closing {
                break newer;
            }
            // Asleep until an event (or the timeout): a waiting request costs no CPU.
            state = self.changed.wait_timeout(state, left).unwrap_or_else(|p| p.into_inner()).0;
        };
        state.waiting -= 1;
        newer
    }

    /// How many requests are waiting in [`Hub::wait_newer`].
    pub fn waiting(&self) -> usize {
        self.lock().waiting
    }

    /// Posts `text` to `room` as `nick` without being a member (HTTP clients); returns its id.
    pub fn post(&self, room: &str, nick: &str, text: &str) -> Result<u64, String> {
        check_room(room)?;
        check_nick(nick)?;
        let mut kicks = Kicks::new();
        let mut state = self.lock();
        self.open_room(&mut state, room)?;
        let id = self.say(&mut state, nick, room, text, &mut kicks)?;
        finish(state, kicks);
        Ok(id)
    }

    /// Follows `room` through `outbox` without joining it (HTTP streaming); returns a handle for
    /// [`Hub::unwatch`]. A watcher whose outbox is full is dropped, like a slow member.
    pub fn watch(&self, room: &str, outbox: Outbox) -> Result<u64, String> {
        check_room(room)?;
        let mut state = self.lock();
        self.open_room(&mut state, room)?;
        if state.closing {
            let _ = outbox.try_send(Delivery::Goodbye);
        }
        state.next_watcher += 1;
        let id = state.next_watcher;
        state.rooms.get_mut(room).expect("opened above").watchers.insert(id, outbox);
        Ok(id)
    }

    /// How many streams follow `room`.
    pub fn watchers(&self, room: &str) -> usize {
        self.lock().rooms.get(room).map_or(0, |r| r.watchers.len())
    }

    pub fn unwatch(&self, room: &str, id: u64) {
        if let Some(r) = self.lock().rooms.get_mut(room) {
            r.watchers.remove(&id);
        }
    }

    /// The server is stopping: wakes every waiting request and says goodbye to every watcher.
    pub fn close(&self) {
        let mut state = self.lock();
        state.closing = true;
        for room in state.rooms.values_mut() {
            for (_, outbox) in std::mem::take(&mut room.watchers) {
                let _ = outbox.try_send(Delivery::Goodbye);
            }
        }
        drop(state);
        self.changed.notify_all();
    }

    /// Publishes a message; returns its id.
    fn say(
        &self,
        state: &mut State,
        nick: &str,
        room: &str,
        text: &str,
        kicks: &mut Kicks,
    ) -> Result<u64, String> {
        if text.len() > protocol::MAX_LINE_BYTES {
            return Err(format!("message longer than {} bytes: not sent", protocol::MAX_LINE_BYTES));
        }
        if text.trim().is_empty() {
            return Err("an empty message: not sent".into());
        }
        let what = What::Message { nick: nick.into(), text: sanitize(text).into_owned() };
        Ok(self.publish(state, room, what, kicks))
    }

    fn rename(&self, state: &mut State, id: MemberId, new: &str, kicks: &mut Kicks) -> Reply {
        check_nick(new)?;
        match state.nick_owner(new) {
            Some(owner) if owner == id && state.members[&id].nick == new => {
                return Err(format!("you are {new} already"))
            }
            Some(owner) if owner != id => return Err(format!("the nickname {new} is taken; pick another")),
            _ => {}
        }
        let member = state.members.get_mut(&id).expect("the caller checked the member");
        let from = std::mem::replace(&mut member.nick, new.to_string());
        let room = member.room.clone();
        info!("{from} is now {new}");
        self.publish(state, &room, What::Renamed { from, to: new.into() }, kicks);
        Ok(vec![protocol::whereabouts(new, &room)])
    }

    fn move_to(&self, state: &mut State, id: MemberId, to: &str, kicks: &mut Kicks) -> Reply {
        check_room(to)?;
        let member = &state.members[&id];
        let (nick, from) = (member.nick.clone(), member.room.clone());
        if from == to {
            return Err(format!("you are in {to} already"));
        }
        self.open_room(state, to)?;
        self.exit_room(state, id, &from, &nick, Why::Moved, kicks);
        self.enter(state, id, to, kicks);
        Ok(vec![protocol::whereabouts(&nick, to)])
    }

    fn enter(&self, state: &mut State, id: MemberId, room: &str, kicks: &mut Kicks) {
        let member = state.members.get_mut(&id).expect("entering member exists");
        member.room = room.to_string();
        let nick = member.nick.clone();
        state.rooms.entry(room.to_string()).or_insert_with(Room::new).members.insert(id);
        self.publish(state, room, What::Entered { nick }, kicks);
    }

    fn exit_room(
        &self,
        state: &mut State,
        id: MemberId,
        room: &str,
        nick: &str,
        why: Why,
        kicks: &mut Kicks,
    ) {
        let Some(r) = state.rooms.get_mut(room) else { return };
        r.members.remove(&id);
        // While the hub closes, everybody is leaving and gets a goodbye: telling each of n
        // members about the other n - 1 would fill every outbox just before the goodbye.
        if why != Why::Shutdown && !state.closing {
            self.publish(state, room, What::Left { nick: nick.into(), why }, kicks);
        }
    }

    /// Makes sure `room` exists, forgetting the quietest unused room if the cap is reached.
    fn open_room(&self, state: &mut State, room: &str) -> Result<(), String> {
        if state.rooms.contains_key(room) {
            return Ok(());
        }
        if state.rooms.len() >= self.limits.max_rooms {
            let unused = state
                .rooms
                .iter()
                .filter(|(name, r)| *name != LOBBY && r.members.is_empty() && r.watchers.is_empty())
                .min_by_key(|(_, r)| r.last_active)
                .map(|(name, _)| name.clone());
            let Some(unused) = unused else {
                let max = self.limits.max_rooms;
                return Err(format!(
                    "there are {max} rooms in use, the most this server keeps; /rooms lists them"
                ));
            };
            info!("forgetting the empty room {unused} to make space for {room}");
            state.rooms.remove(&unused);
        }
        state.rooms.insert(room.to_string(), Room::new());
        Ok(())
    }

    /// Gives `what` the hub's next id, keeps it in the history and offers it to every member
    /// of the room without ever waiting. Members that cannot take it are dropped, and their
    /// departure is itself published (which may drop more: the loop ends when nobody is left
    /// to drop). Returns the id of `what`.
    fn publish(&self, state: &mut State, room: &str, what: What, kicks: &mut Kicks) -> u64 {
        let first = state.next_event + 1;
        // While the hub closes, each member is about to get its goodbye: a full outbox then
        // skips this line (dropping the member would cut it off before the goodbye), and nobody
        // is told who left (n members leaving would send n * n lines).
        let closing = state.closing;
        let mut pending = vec![what];
        while let Some(what) = pending.pop() {
            state.next_event += 1;
            let id = state.next_event;
            let Some(r) = state.rooms.get_mut(room) else { break };
            let event = Arc::new(Event { id, room: room.into(), time: SystemTime::now(), what });
            r.last_active = Instant::now();
            r.history.push_back(event.clone());
            if r.history.len() > self.limits.history_len {
                r.forgotten_up_to = r.history.pop_front().map_or(0, |e| e.id);
            }
            let mut dropped = Vec::new();
            for id in &r.members {
                let member = &state.members[id];
                match member.outbox.try_send(Delivery::Event(event.clone())) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) if closing => {}
                    Err(TrySendError::Full(_)) => dropped.push((*id, Why::TooSlow)),
                    Err(TrySendError::Disconnected(_)) => dropped.push((*id, Why::Lost)),
                }
            }
            // A watcher that cannot keep up is let go: its stream ends when its outbox closes.
            r.watchers.retain(|_, outbox| outbox.try_send(Delivery::Event(event.clone())).is_ok());
            for (id, why) in dropped {
                r.members.remove(&id);
                let member = state.members.remove(&id).expect("room members are members");
                kicks.push(member.kick);
                if !closing {
                    log::warn!("dropping {}: {}", member.nick, why.describe());
                    pending.push(What::Left { nick: member.nick, why });
                }
            }
        }
        self.changed.notify_all();
        first
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // If a thread panicked while holding the lock, the state is still consistent enough to
        // serve everybody else: every change above is completed before anything can panic.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Notices for the caller, or the reason its command was refused.
type Reply = Result<Vec<String>, String>;

impl State {
    fn newer(&self, room: &str, since: u64) -> Newer {
        let Some(room) = self.rooms.get(room) else { return Newer::default() };
        Newer {
            events: room.history.iter().filter(|event| event.id > since).cloned().collect(),
            missed: since < room.forgotten_up_to,
        }
    }

    fn nick_owner(&self, nick: &str) -> Option<MemberId> {
        // Unique regardless of case: "Alice" and "alice" would be impossible to tell apart.
        let nick = nick.to_lowercase();
        self.members.iter().find(|(_, m)| m.nick.to_lowercase() == nick).map(|(id, _)| *id)
    }

    fn tell(&self, id: MemberId, delivery: Delivery) {
        if let Some(member) = self.members.get(&id) {
            // A full outbox here means the member is about to be dropped anyway.
            let _ = member.outbox.try_send(delivery);
        }
    }

    fn room_list(&self) -> String {
        let rooms: Vec<String> =
            self.rooms.iter().map(|(name, room)| format!("{name} ({})", room.members.len())).collect();
        format!("rooms: {}", rooms.join(", "))
    }

    fn who(&self, room: &str) -> String {
        let mut nicks: Vec<&str> =
            self.rooms[room].members.iter().map(|id| self.members[id].nick.as_str()).collect();
        nicks.sort_unstable();
        format!("in {room}: {}", nicks.join(", "))
    }
}

/// Releases the lock, then cuts the connections of dropped members.
fn finish(state: MutexGuard<'_, State>, kicks: Kicks) {
    drop(state);
    kicks.iter().for_each(|kick| kick());
}
