//! Arrivals: a guest is announced to its room once it has settled.
//!
//! Whoever connects with `nc` is `guest-7` in the lobby at once, and most rename themselves or
//! move on within a second (`/nick 민지`, a tool's `/nick pub-…` then `/join ROOM`). Told at
//! once, the lobby read `* guest-7 has entered lobby`, `* guest-7 is now known as 민지`, and for a
//! tool that only passes through, a line more as it left: thirty such clients, ninety lines in
//! every student's terminal. So a guest is announced only once it has *settled*:
//! - at the first line it says in its room (announced just before that line), or
//! - after the arrival grace ([`super::ARRIVAL`], 1 s) without leaving, under the name it has by
//!   then: a `/nick` within the grace gives the lobby one line, `* 민지 has entered lobby`.
//!
//! A guest that moves to another room or goes before it is announced was never seen in the
//! lobby: no notice there, and nothing in its history (or the broker's stream). The room it
//! moves to is told as usual. Meanwhile it is a member like any other: it hears the room, and
//! `/who` lists it. Its own welcome lines are never delayed.
//!
//! Something must look at the clock when nobody speaks. The threaded servers start the hub's
//! *doorkeeper* ([`Hub::keep_door`]), one thread that sleeps until the oldest guest's grace
//! ends; the one-thread servers call [`Hub::announce_arrivals`] on their loop's tick.
//!
//! A burst of arrivals (a thousand clients in a second: a benchmark, a class's script) is
//! announced a share at a time, half the flood mark at most, with the hub's lock let go between
//! shares. Told at once, every member would get a thousand notices in one go; on the one-thread
//! loop, where nothing drains an outbox while the hub holds its lock, that is past an outbox's
//! cap (1,024 lines), and a member that reads perfectly well would be dropped as too slow.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::thread;
use std::time::{Duration, Instant};

use log::warn;

use super::event::EventKind;
use super::{finish, Hub, Kicks, MemberId, State};

/// What one [`Hub::announce_arrivals`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announced {
    /// Guests announced.
    pub announced: usize,
    /// More guests' grace is already over: call again (after the outboxes have been emptied).
    pub more: bool,
}

/// The longest the doorkeeper sleeps with nothing due: then it looks whether its hub is still
/// in use (it holds the hub only while awake, so a hub nobody uses any more is freed).
const DOOR_NAP: Duration = Duration::from_secs(1);

impl Hub {
    /// A new guest `id` waits for its arrival grace before its room is told (see the module).
    pub(super) fn arrive(&self, state: &mut State, id: MemberId, kicks: &mut Kicks) {
        if self.limits.arrival.is_zero() {
            return self.settle(state, id, kicks);
        }
        // Guests announced or gone meanwhile are forgotten here too, so the queue stays as
        // short as the number of guests arriving, whoever keeps the clock (or nobody: tests).
        while let Some(&(_, first)) = state.arrivals.front() {
            if state.members.get(&first).is_some_and(|m| m.arriving) {
                break;
            }
            state.arrivals.pop_front();
        }
        if state.arrivals.is_empty() {
            self.door.notify_all();
        }
        state.arrivals.push_back((Instant::now() + self.limits.arrival, id));
    }

    /// Member `id` has settled: if its room was not told of it yet, it is now.
    pub(super) fn settle(&self, state: &mut State, id: MemberId, kicks: &mut Kicks) {
        let Some(member) = state.members.get_mut(&id) else { return };
        if !std::mem::take(&mut member.arriving) {
            return;
        }
        let (nick, room) = (member.nick.clone(), member.room.clone());
        self.publish(state, &room, EventKind::Entered { nick }, kicks);
    }

    /// Announces the guests whose arrival grace is over, one share of them (see the module).
    /// The one-thread servers call it on every tick of their loop, and again on the next turn
    /// while it says more are due.
    pub fn announce_arrivals(&self) -> Announced {
        let mut kicks = Kicks::new();
        let mut state = self.lock();
        let now = Instant::now();
        let (announced, next) = self.settle_due(&mut state, now, &mut kicks);
        finish(state, kicks);
        Announced { announced, more: next.is_some_and(|due| due <= now) }
    }

    /// Announces the guests whose grace ended by `now`, one share at most; returns how many, and
    /// when the next one's grace ends (by `now` already if the share ran out first).
    fn settle_due(&self, state: &mut State, now: Instant, kicks: &mut Kicks) -> (usize, Option<Instant>) {
        let share = (self.limits.flood_mark / 2).max(1);
        let mut announced = 0;
        while let Some(&(due, id)) = state.arrivals.front() {
            let arriving = state.members.get(&id).is_some_and(|m| m.arriving && m.away.is_none());
            if arriving && (due > now || announced == share) {
                return (announced, Some(due));
            }
            state.arrivals.pop_front();
            if arriving && !state.closing {
                self.settle(state, id, kicks);
                announced += 1;
            }
        }
        (announced, None)
    }

    /// Starts the doorkeeper of `hub` (once; later calls do nothing): a thread that announces
    /// each guest when its arrival grace ends, for the servers that have no loop to do it.
    /// It ends when the hub closes, or soon after the last handle on the hub is dropped.
    pub fn keep_door(hub: &Arc<Hub>) {
        if hub.door_kept.swap(true, Ordering::SeqCst) {
            return;
        }
        let weak = Arc::downgrade(hub);
        let spawned = thread::Builder::new().name("hub doorkeeper".into()).spawn(move || doorkeeper(weak));
        if let Err(e) = spawned {
            warn!("cannot start the hub's doorkeeper ({e}): guests are announced when they speak");
            hub.door_kept.store(false, Ordering::SeqCst);
        }
    }

    /// One round of the doorkeeper: announces whoever is due, then sleeps until the next
    /// guest's grace ends, a guest arrives, or [`DOOR_NAP`]. False once the hub is closing.
    fn door_round(&self) -> bool {
        let mut kicks = Kicks::new();
        let mut state = self.lock();
        if state.closing {
            return false;
        }
        let now = Instant::now();
        let (_, next) = self.settle_due(&mut state, now, &mut kicks);
        // (More already due: the nap below is zero, and the lock is let go between shares.)
        if !kicks.is_empty() {
            // Cutting a dropped member's connection must not wait for the nap.
            finish(state, kicks);
            return true;
        }
        let nap = next.map_or(DOOR_NAP, |due| due.saturating_duration_since(now).min(DOOR_NAP));
        let _ = self.door.wait_timeout(state, nap).unwrap_or_else(|p| p.into_inner());
        true
    }
}

fn doorkeeper(hub: Weak<Hub>) {
    while let Some(hub) = hub.upgrade() {
        if !hub.door_round() {
            return;
        }
    }
}
