//! The relay: one hub among several, joined through a broker (`server lab --broker redis://…`).
//!
//! Without a broker, `publish` numbers an event and hands it to the room's members at once. With
//! one, `publish` only appends it to the room's stream in Redis and returns the id Redis gave it;
//! the *reader*, one thread per server, follows the streams of every room this server holds
//! (members, watchers, pollers) with `XREAD BLOCK`, and delivers what it reads, in the stream's
//! order. So every server delivers every room's events in one order, with the same ids, its own
//! members' lines included: they make the round trip too.
//!
//! When the broker cannot be reached the room is *split*: each server carries on alone (local
//! ids, local delivery), tells its members once, and the reader reconnects with backoff. Once
//! it is back, the servers publish through it again; what was said on each side meanwhile stays
//! on that side.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::protocol::check_room;
use log::{info, warn};
use redis::Connection;

use super::broker::{Broker, BLOCK, COMMAND_TIMEOUT, NICK_TTL};
use super::event::{Delivery, Event, EventKind};
use super::nick::skeleton;
use super::rooms::Room;
use super::{finish, Hub, Kicks, Limits, State};

/// The reader's first wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
pub const MAX_BACKOFF: Duration = Duration::from_secs(2);

pub(super) struct Relay {
    broker: Broker,
    /// The connection `publish` uses, under the hub's lock; `None` while split. Only the reader
    /// reconnects, so a split costs a sender nothing.
    connection: Mutex<Option<Connection>>,
    split: AtomicBool,
    reader: Mutex<Option<JoinHandle<()>>>,
}

impl Hub {
    /// A hub joined to other servers' hubs through `broker`, with its reader thread running
    /// (it stops when the hub closes; [`Hub::join_reader`] waits for it).
    pub fn with_broker(limits: Limits, broker: Broker) -> std::io::Result<Arc<Hub>> {
        // Connected before the first member comes, so that nothing is said locally by mistake;
        // a broker that is not there yet is a split from the start, and the reader retries.
        let publisher = broker.connect(COMMAND_TIMEOUT);
        match &publisher {
            Ok(_) => info!("connected to the broker {}", broker.url()),
            Err(e) => warn!(
                "the broker {} cannot be reached ({e}): serving this server's members alone, reconnecting",
                broker.url()
            ),
        }
        let relay = Relay {
            split: AtomicBool::new(publisher.is_err()),
            connection: Mutex::new(publisher.ok()),
            broker,
            reader: Mutex::new(None),
        };
        let hub = Arc::new(Hub { relay: Some(relay), ..Hub::new(limits) });
        let weak = Arc::downgrade(&hub);
        let reader = thread::Builder::new().name("broker reader".into()).spawn(move || follow(weak))?;
        if let Some(relay) = &hub.relay {
            *relay.reader.lock().unwrap_or_else(|p| p.into_inner()) = Some(reader);
        }
        Ok(hub)
    }

    /// Waits for the broker's reader to stop (after [`Hub::close`]); nothing without a broker.
    pub fn join_reader(&self) {
        let reader =
            self.relay.as_ref().and_then(|r| r.reader.lock().unwrap_or_else(|p| p.into_inner()).take());
        if let Some(reader) = reader {
            let _ = reader.join();
        }
    }

    /// True while the broker cannot be reached (always false without one).
    pub fn is_split(&self) -> bool {
        self.relay.as_ref().is_some_and(|r| r.split.load(Ordering::SeqCst))
    }

    /// Runs `command` on the publishing connection, unless there is no broker or it is split.
    /// A failure splits the room.
    fn on_broker<T>(
        &self,
        state: &State,
        command: impl FnOnce(&Broker, &mut Connection) -> redis::RedisResult<T>,
    ) -> Option<T> {
        let relay = self.relay.as_ref()?;
        let mut connection = relay.connection.lock().unwrap_or_else(|p| p.into_inner());
        let result = command(&relay.broker, connection.as_mut()?);
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                *connection = None;
                drop(connection);
                self.split(state, &e.to_string());
                None
            }
        }
    }

    /// `publish`'s hook: appends `kind` to the room's stream and returns its id, or `None` when
    /// the event must be delivered here and now (no broker, or split).
    pub(super) fn relay(&self, state: &State, room: &str, kind: &EventKind) -> Option<u64> {
        let floor = state.rooms.get(room).map_or(0, Room::last_id);
        let keep = self.limits.history_len;
        self.on_broker(state, |broker, c| broker.publish(c, room, kind, floor, keep))
    }

    /// `open_room`'s hook: fills a new room's history from its stream, so that this server
    /// answers `since=N` like the others, and makes the reader follow it.
    pub(super) fn backfill(&self, state: &mut State, room: &str) {
        let count = self.limits.history_len;
        let Some(events) = self.on_broker(state, |broker, c| {
            let events = broker.recent(c, room, count)?;
            broker.wake(c)?;
            Ok(events)
        }) else {
            return;
        };
        let Some(r) = state.rooms.get_mut(room) else { return };
        if events.len() == count {
            r.forgotten_up_to = events.first().map_or(0, |e| e.id.saturating_sub(1));
        }
        state.next_event = state.next_event.max(events.last().map_or(0, |e| e.id));
        r.history.extend(events.into_iter().map(Arc::new));
    }

    /// With a broker, a room that is polled or watched here is opened here, so the reader
    /// follows it (the quietest unused room makes space, as for `/join`).
    pub(super) fn follow_room(&self, state: &mut State, room: &str) {
        if self.relay.is_some() && !state.rooms.contains_key(room) && check_room(room).is_ok() {
            let _ = self.open_room(state, room);
        }
    }

    /// A guest number that is unique across servers, if there is a broker to ask.
    pub(super) fn broker_guest(&self, state: &State) -> Option<u64> {
        self.on_broker(state, |broker, c| broker.next_guest(c))
    }

    /// Claims `nick` across servers; refused if a member of another server looks the same.
    /// While split, every server decides alone.
    pub(super) fn claim_nick(&self, state: &State, nick: &str) -> Result<(), String> {
        match self.on_broker(state, |broker, c| broker.claim(c, &skeleton(nick), nick)).flatten() {
            None => Ok(()),
            Some(taken) => Err(format!(
                "the nickname {nick} is taken (or looks like {taken}, a member on another server of \
                 this lab); pick another"
            )),
        }
    }

    pub(super) fn release_nick(&self, state: &State, nick: &str) {
        self.on_broker(state, |broker, c| broker.release(c, &skeleton(nick), nick));
    }

    /// The broker is gone: said once in the log and once to everyone here.
    fn split(&self, state: &State, why: &str) {
        let Some(relay) = &self.relay else { return };
        if relay.split.swap(true, Ordering::SeqCst) {
            return;
        }
        warn!(
            "the broker {} cannot be reached ({why}): serving this server's members alone, reconnecting",
            relay.broker.url()
        );
        let notice = "the lab's broker cannot be reached: the rooms are split, only members on this \
                      server hear you until it is back";
        tell_everyone(state, notice);
    }

    /// The reader reconnected: publishing goes through the broker again.
    fn rejoin(&self, publisher: Connection) {
        let Some(relay) = &self.relay else { return };
        let state = self.lock();
        *relay.connection.lock().unwrap_or_else(|p| p.into_inner()) = Some(publisher);
        if relay.split.swap(false, Ordering::SeqCst) {
            info!("the broker {} is back: the rooms are joined again", relay.broker.url());
            tell_everyone(&state, "the lab's broker is back: the rooms are joined again (what was said on other servers meanwhile may be missing here)");
        }
    }

    /// The rooms the reader follows, each with the id it has delivered up to (`None`: from now).
    fn followed(&self, cursors: &HashMap<String, u64>) -> Vec<(String, Option<u64>)> {
        let state = self.lock();
        let names = state.rooms.keys().chain(state.watchers.keys().filter(|w| !state.rooms.contains_key(*w)));
        names
            .map(|name| {
                let local = state.rooms.get(name).map(Room::last_id);
                let seen = cursors.get(name).copied();
                (name.clone(), local.max(seen))
            })
            .collect()
    }

    /// The reader's delivery: events read back from the streams, in their order. An id this
    /// room has already seen is skipped, so nobody hears an event twice.
    fn receive(&self, events: Vec<Event>) {
        let mut kicks = Kicks::new();
        let mut state = self.lock();
        for event in events {
            if state.rooms.get(&event.room).is_some_and(|r| event.id <= r.last_id()) {
                continue;
            }
            let room = event.room.clone();
            for left in self.deliver(&mut state, Arc::new(event), &mut kicks) {
                self.publish(&mut state, &room, left, &mut kicks);
            }
        }
        self.changed.notify_all();
        finish(state, kicks);
    }

    /// This server's members' nicknames, to keep their keys alive.
    fn held_nicks(&self) -> Vec<(String, String)> {
        self.lock().members.values().map(|m| (m.skeleton.clone(), m.nick.clone())).collect()
    }

    fn is_closing(&self) -> bool {
        self.lock().closing
    }
}

fn tell_everyone(state: &State, notice: &str) {
    for member in state.members.values() {
        let _ = member.outbox.try_send(Delivery::Notice(notice.into()));
    }
}

/// The reader thread: follows the streams of this server's rooms until the hub closes.
fn follow(hub: Weak<Hub>) {
    let mut reader: Option<Connection> = None;
    let mut backoff = FIRST_BACKOFF;
    let mut cursors: HashMap<String, u64> = HashMap::new();
    // The wake-up stream's last entry seen: a wake-up between two reads is not lost.
    let mut wake_seen = String::from("0-0");
    let mut refreshed: Option<Instant> = None;
    loop {
        let Some(strong) = hub.upgrade() else { return };
        let Some(relay) = &strong.relay else { return };
        if strong.is_closing() {
            return;
        }
        let broker = &relay.broker;
        let Some(connection) = reader.as_mut() else {
            let connected = broker.connect(BLOCK + COMMAND_TIMEOUT);
            match connected.and_then(|r| Ok((r, broker.connect(COMMAND_TIMEOUT)?))) {
                Ok((connected, publisher)) => {
                    reader = Some(connected);
                    backoff = FIRST_BACKOFF;
                    refreshed = None;
                    strong.rejoin(publisher);
                }
                Err(e) => {
                    strong.split(&strong.lock(), &e.to_string());
                    drop(strong);
                    pause(&hub, backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
            continue;
        };
        // A publish that failed (a timeout, say) split the room while this connection stayed
        // up: the publisher needs a connection of its own again.
        if strong.is_split() {
            match broker.connect(COMMAND_TIMEOUT) {
                Ok(publisher) => strong.rejoin(publisher),
                Err(_) => reader = None,
            }
            continue;
        }
        let due = refreshed.is_none_or(|at| at.elapsed() >= NICK_TTL / 3);
        let result = if due {
            refreshed = Some(Instant::now());
            broker.refresh(connection, &strong.held_nicks())
        } else {
            let rooms = strong.followed(&cursors);
            broker.read(connection, &rooms, &mut wake_seen).map(|events| {
                for event in &events {
                    let cursor = cursors.entry(event.room.clone()).or_default();
                    *cursor = (*cursor).max(event.id);
                }
                // Forget rooms nobody here follows any more.
                cursors.retain(|room, _| rooms.iter().any(|(r, _)| r == room));
                strong.receive(events);
            })
        };
        if let Err(e) = result {
            reader = None;
            strong.split(&strong.lock(), &e.to_string());
        }
    }
}

/// Sleeps `length`, in short steps, so that a closing hub is not kept waiting.
fn pause(hub: &Weak<Hub>, length: Duration) {
    let until = Instant::now() + length;
    while Instant::now() < until {
        match hub.upgrade() {
            Some(hub) if !hub.is_closing() => {}
            _ => return,
        }
        thread::sleep(FIRST_BACKOFF.min(until.saturating_duration_since(Instant::now())));
    }
}
