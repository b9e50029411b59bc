//! Rooms: opening one (forgetting the quietest unused room when all slots are taken),
//! publishing into one without ever waiting for a receiver, and flood control, the one place
//! where a *sender* waits.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, MutexGuard};
use std::time::{Instant, SystemTime};

use common::protocol::LOBBY;
use log::{info, warn};

use super::backlog::Backlogs;
use super::event::{Delivery, Event, EventKind, LeaveReason};
use super::outbox::{Backlog, Outbox};
use super::{Hub, Kicks, MemberId, State};

pub(super) struct Room {
    pub(super) members: BTreeSet<MemberId>,
    pub(super) history: VecDeque<Arc<Event>>,
    /// The id of the newest event that fell out of the history (0: none did).
    pub(super) forgotten_up_to: u64,
    last_active: Instant,
}

impl Room {
    pub(super) fn new() -> Room {
        Room {
            members: BTreeSet::new(),
            history: VecDeque::new(),
            forgotten_up_to: 0,
            last_active: Instant::now(),
        }
    }

    /// The id of the newest event this room has seen (0: none yet).
    pub(super) fn last_id(&self) -> u64 {
        self.history.back().map_or(self.forgotten_up_to, |event| event.id)
    }
}

impl Hub {
    /// Makes sure `room` exists, forgetting the quietest unused room if the cap is reached.
    pub(super) fn open_room(&self, state: &mut State, room: &str) -> Result<(), String> {
        if state.rooms.contains_key(room) {
            return Ok(());
        }
        if state.rooms.len() >= self.limits.max_rooms {
            // Watchers do not keep a room: they follow its name, and hear it again if it is
            // opened again.
            let unused = state
                .rooms
                .iter()
                .filter(|(name, r)| *name != LOBBY && r.members.is_empty())
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
        self.backfill(state, room);
        Ok(())
    }

    /// Flood control: the hub's lock, once no outbox of `room` (members and watchers) that is
    /// still draining has the flood mark waiting. While one has, this thread (the sender's)
    /// waits *outside* the lock until its writer takes a line, and the room carries on
    /// meanwhile. A writer that took nothing for the patience window is not waited for: a
    /// stalled reader holds a sender up once, for that long at most, and never again; its
    /// outbox fills until the stall window or the outbox's cap drops it.
    pub(super) fn lock_with_room(&self, room: &str, kicks: &mut Kicks) -> MutexGuard<'_, State> {
        let (mark, patience) = (self.limits.flood_mark, self.limits.patience);
        loop {
            let mut state = self.lock();
            if state.closing {
                return state;
            }
            let Backlogs { behind, dropped } = self.backlogs(&mut state, room, Instant::now());
            if !dropped.is_empty() {
                for (id, reason) in dropped {
                    self.drop_member(&mut state, id, reason, kicks);
                }
                drop(state);
                kicks.drain(..).for_each(|kick| kick());
                continue;
            }
            let Some(outbox) = behind else { return state };
            drop(state);
            outbox.wait_below(mark, patience);
        }
    }

    /// Removes member `id` for `reason` (it is cut once the lock is released) and tells its room.
    pub(super) fn drop_member(
        &self,
        state: &mut State,
        id: MemberId,
        reason: LeaveReason,
        kicks: &mut Kicks,
    ) {
        let Some(member) = state.members.remove(&id) else { return };
        warn!("dropping {}: {}", member.nick, reason.describe());
        kicks.push(member.kick);
        if let Some(r) = state.rooms.get_mut(&member.room) {
            r.members.remove(&id);
        }
        // A guest its room was never told of leaves without a notice (see `arrivals`).
        if !member.arriving {
            self.publish(state, &member.room, EventKind::Left { nick: member.nick, reason }, kicks);
        }
    }

    /// Gives `kind` its id (the hub's next, or the broker's: see `relay`), keeps it in the
    /// history and offers it to every member and watcher of the room without ever waiting. A
    /// member whose writer stalled (or whose outbox is at its hard cap) is dropped, and its
    /// departure is itself published (which may drop more: the loop ends when nobody is left to
    /// drop). Returns the id of `kind`.
    pub(super) fn publish(&self, state: &mut State, room: &str, kind: EventKind, kicks: &mut Kicks) -> u64 {
        let mut first = None;
        let mut pending = vec![kind];
        while let Some(kind) = pending.pop() {
            // With a broker the event goes out and comes back through the reader, in the
            // stream's order; without one (or while split) it is delivered here and now.
            let id = match self.relay(state, room, &kind) {
                Some(id) => id,
                None if !state.rooms.contains_key(room) => break,
                None => {
                    state.next_event += 1;
                    let id = state.next_event;
                    let event = Event { id, room: room.into(), time: SystemTime::now(), kind };
                    pending.extend(self.deliver(state, Arc::new(event), kicks));
                    id
                }
            };
            first.get_or_insert(id);
        }
        self.changed.notify_all();
        first.unwrap_or(state.next_event)
    }

    /// Keeps `event` in its room's history and offers it to the room's members and watchers;
    /// returns the departures of the members that had to be dropped, to be published.
    pub(super) fn deliver(&self, state: &mut State, event: Arc<Event>, kicks: &mut Kicks) -> Vec<EventKind> {
        // While the hub closes, each member is about to get its goodbye: a full outbox then
        // skips this line (dropping the member would cut it off before the goodbye), and nobody
        // is told who left (n members leaving would send n * n lines).
        let closing = state.closing;
        state.next_event = state.next_event.max(event.id);
        let now = Instant::now();
        let mut dropped = Vec::new();
        if let Some(r) = state.rooms.get_mut(&event.room) {
            r.last_active = now;
            r.history.push_back(event.clone());
            if r.history.len() > self.limits.history_len {
                r.forgotten_up_to = r.history.pop_front().map_or(0, |e| e.id);
            }
            let presence = event.kind.is_presence();
            for id in &r.members {
                let member = &state.members[id];
                if (presence && member.quiet) || member.away.is_some() {
                    continue;
                }
                match self.offer(&member.outbox, &event, now) {
                    // Its connection is ending, and its own thread will say why (`Leaving`).
                    Ok(()) | Err(None) => {}
                    Err(Some(LeaveReason::TooSlow)) if closing => {}
                    Err(Some(reason)) => dropped.push((*id, reason)),
                }
            }
            for (id, _) in &dropped {
                r.members.remove(id);
            }
        }
        if let Some(watchers) = state.watchers.get_mut(&event.room) {
            watchers.retain(|_, outbox| self.offer(outbox, &event, now).is_ok());
        }
        let mut departures = Vec::new();
        for (id, reason) in dropped {
            let member = state.members.remove(&id).expect("room members are members");
            kicks.push(member.kick);
            if !closing {
                warn!("dropping {}: {}", member.nick, reason.describe());
            }
            if !closing && !member.arriving {
                departures.push(EventKind::Left { nick: member.nick, reason });
            }
        }
        departures
    }

    /// Puts `event` in `outbox`, or says why its member must go: stalled (or at the outbox's
    /// hard cap) is too slow, a writer gone for the stall window is a lost connection.
    /// `Err(None)`: the writer ended just now; the member's own thread is about to leave with
    /// the reason it knows (a `/quit`, a close frame, the server's goodbye), which the hub
    /// must not turn into "connection lost".
    fn offer(&self, outbox: &Outbox, event: &Arc<Event>, now: Instant) -> Result<(), Option<LeaveReason>> {
        outbox.offer(Delivery::Event(event.clone()), now, self.limits.stall).map_err(
            |backlog| match backlog {
                Backlog::Leaving => None,
                Backlog::Gone => Some(LeaveReason::Lost),
                _ => Some(LeaveReason::TooSlow),
            },
        )
    }
}
