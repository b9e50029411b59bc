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
use std::net::{Shutdown as Both, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::protocol::check_room;
use log::{info, warn};

use super::broker::{Broker, BLOCK, COMMAND_TIMEOUT, NICK_TTL};
use super::event::{Delivery, Event, EventKind};
use super::nick::skeleton;
use super::resp::{Failure, Link};
use super::rooms::Room;
use super::{finish, Hub, Kicks, Limits, State};

/// The reader's first wait before it tries to rejoin; it doubles up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
pub const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// The wait goes back to [`FIRST_BACKOFF`] only once a rejoin has held this long: a broker
/// that answers `PING` but fails the next command cannot make the room flap.
pub const STEADY: Duration = Duration::from_secs(10);

/// Links to the broker that can be open at once (see [`Relay::open`]).
const LIVE_LINKS: usize = 3;

pub(super) struct Relay {
    broker: Broker,
    /// The link `publish` uses, under the hub's lock; `None` while split. Only the reader
    /// reconnects, so a split costs a sender nothing.
    connection: Mutex<Option<Link>>,
    split: AtomicBool,
    reader: Mutex<Option<JoinHandle<()>>>,
    /// A handle on each live link's socket (the reader's, the publisher's): closing the hub
    /// shuts them down, which ends any call in progress at once, whatever the broker does.
    cutters: Mutex<Vec<TcpStream>>,
    closing: AtomicBool,
}

impl Relay {
    /// A link whose commands may take `limit`, which [`Hub::cut_broker`] can cut.
    fn open(&self, limit: Duration) -> Result<Link, Failure> {
        let link = self.broker.connect(limit)?;
        let mut cutters = self.cutters.lock().unwrap_or_else(|p| p.into_inner());
        // At most three links live at once (the reader's, the publisher's, the next
        // publisher's): older handles belong to links that are gone.
        let old = cutters.len().saturating_sub(LIVE_LINKS - 1);
        cutters.drain(..old);
        cutters.extend(link.cutter().ok());
        if self.closing.load(Ordering::SeqCst) {
            cutters.iter().for_each(|c| drop(c.shutdown(Both::Both)));
        }
        Ok(link)
    }
}

impl Hub {
    /// A hub joined to other servers' hubs through `broker`, with its reader thread running
    /// (it stops when the hub closes; [`Hub::join_reader`] waits for it).
    pub fn with_broker(limits: Limits, broker: Broker) -> std::io::Result<Arc<Hub>> {
        let mut relay = Relay {
            split: AtomicBool::new(true),
            connection: Mutex::new(None),
            broker,
            reader: Mutex::new(None),
            cutters: Mutex::new(Vec::new()),
            closing: AtomicBool::new(false),
        };
        // Connected before the first member comes, so that nothing is said locally by mistake;
        // a broker that is not there, or not a Redis, is a split from the start (after at most
        // `CONNECT_TIMEOUT`: the first join never waits for it), and the reader retries.
        match relay.open(COMMAND_TIMEOUT) {
            Ok(link) => {
                info!("connected to the broker {}", relay.broker.url());
                relay.connection = Mutex::new(Some(link));
                relay.split = AtomicBool::new(false);
            }
            Err(e) => warn!(
                "the broker {} cannot be reached ({e}): serving this server's members alone, reconnecting",
                relay.broker.url()
            ),
        }
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

    /// The hub closes: every broker call in progress ends now (the publisher's, under the
    /// hub's lock, and the reader's `XREAD BLOCK`), and none starts again.
    pub(super) fn cut_broker(&self) {
        let Some(relay) = &self.relay else { return };
        relay.closing.store(true, Ordering::SeqCst);
        let cutters = relay.cutters.lock().unwrap_or_else(|p| p.into_inner());
        cutters.iter().for_each(|c| drop(c.shutdown(Both::Both)));
    }

    /// Runs `command` on the publishing link, unless there is no broker or it is split.
    /// A failure splits the room.
    fn on_broker<T>(
        &self,
        state: &State,
        command: impl FnOnce(&Broker, &mut Link) -> Result<T, Failure>,
    ) -> Option<T> {
        let relay = self.relay.as_ref()?;
        let mut connection = relay.connection.lock().unwrap_or_else(|p| p.into_inner());
        let result = command(&relay.broker, connection.as_mut()?);
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                *connection = None;
                drop(connection);
                self.split(state, &e);
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

    /// The broker is gone: said once in the log and once to everyone here, per split.
    /// Returns false if the room was split already.
    fn split(&self, state: &State, why: &Failure) -> bool {
        let Some(relay) = &self.relay else { return false };
        // Whatever failed, nothing is published through the broker until the reader rejoins:
        // a line published while the reader is down would reach nobody here.
        *relay.connection.lock().unwrap_or_else(|p| p.into_inner()) = None;
        if relay.split.swap(true, Ordering::SeqCst) || relay.closing.load(Ordering::SeqCst) {
            return false;
        }
        warn!(
            "the broker {} cannot be reached ({why}): serving this server's members alone, reconnecting",
            relay.broker.url()
        );
        let notice = "the lab's broker cannot be reached: the rooms are split, only members on this \
                      server hear you until it is back";
        tell_everyone(state, notice);
        true
    }

    /// The reader's link made a real round trip: publishing goes through the broker again,
    /// once every room's counter is past the ids this server handed out alone meanwhile (or a
    /// reader would skip the next lines as seen). Under the hub's lock, so that nothing is
    /// published in between. Gives the link back if that failed.
    fn rejoin(&self, mut publisher: Link) -> Result<(), Failure> {
        let Some(relay) = &self.relay else { return Ok(()) };
        let state = self.lock();
        let floors: Vec<(String, u64)> =
            state.rooms.iter().map(|(name, room)| (name.clone(), room.last_id())).collect();
        relay.broker.raise(&mut publisher, &floors)?;
        *relay.connection.lock().unwrap_or_else(|p| p.into_inner()) = Some(publisher);
        if relay.split.swap(false, Ordering::SeqCst) {
            info!("the broker {} is back: the rooms are joined again", relay.broker.url());
            tell_everyone(&state, "the lab's broker is back: the rooms are joined again (what was said on other servers meanwhile may be missing here)");
        }
        Ok(())
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

/// The reader thread: follows the streams of this server's rooms until the hub closes, and
/// rejoins the room after a split.
///
/// A rejoin waits first (0.1 s, doubling to 2 s, back to 0.1 s only after a rejoin held for
/// [`STEADY`]) and counts only after a real round trip on the reader's link (a refresh or an
/// `XREAD`, after each link's `PING`): a broker that accepts connections and then fails, or
/// is not a Redis at all, costs one warning and one notice per split, not one per attempt.
fn follow(hub: Weak<Hub>) {
    let mut reader: Option<Link> = None;
    // The publisher's next link, opened while split, handed over at the rejoin.
    let mut publisher: Option<Link> = None;
    let mut backoff = FIRST_BACKOFF;
    let mut joined_at: Option<Instant> = None;
    let mut waited = false;
    let mut cursors: HashMap<String, u64> = HashMap::new();
    // The wake-up stream's last entry seen: a wake-up between two reads is not lost.
    let mut wake_seen = String::from("0-0");
    let mut refreshed: Option<Instant> = None;
    let mut last_why = String::new();
    loop {
        let Some(strong) = hub.upgrade() else { return };
        let Some(relay) = &strong.relay else { return };
        if strong.is_closing() {
            return;
        }
        let broker = &relay.broker;
        let result = if strong.is_split() && publisher.is_none() && !waited {
            drop(strong);
            pause(&hub, backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
            waited = true;
            continue;
        } else if strong.is_split() && publisher.is_none() {
            waited = false;
            joined_at = None;
            // A fresh reader's link too: the old one may have failed with the publisher's.
            reader = None;
            relay.open(BLOCK + COMMAND_TIMEOUT).and_then(|r| {
                reader = Some(r);
                publisher = Some(relay.open(COMMAND_TIMEOUT)?);
                refreshed = None;
                Ok(())
            })
        } else if let Some(connection) = reader.as_mut() {
            let due = refreshed.is_none_or(|at| at.elapsed() >= NICK_TTL / 3);
            if due {
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
            }
            .and_then(|()| match publisher.take() {
                Some(link) => strong.rejoin(link).map(|()| joined_at = Some(Instant::now())),
                None => Ok(()),
            })
        } else {
            // Joined with the publisher's first link (see `with_broker`): the reader's own.
            relay.open(BLOCK + COMMAND_TIMEOUT).map(|r| reader = Some(r))
        };
        if joined_at.is_some_and(|at| at.elapsed() >= STEADY) {
            backoff = FIRST_BACKOFF;
        }
        if let Err(e) = result {
            reader = None;
            publisher = None;
            let newly = strong.split(&strong.lock(), &e);
            // The first failure of a split is logged by `split`; a new reason after it once.
            if !newly && e.0 != last_why && !strong.is_closing() {
                warn!("the broker {} still cannot be reached: {e}", broker.url());
            }
            last_why = e.0;
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
