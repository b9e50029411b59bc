//! History: "what happened in this room after id N?", answered at once (polling) or as soon as
//! there is something (long polling, asleep on a `Condvar` meanwhile).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::event::Event;
use super::{Hub, State};

/// What a client that asks "what happened after id N?" gets back.
#[derive(Debug, Default)]
pub struct Newer {
    pub events: Vec<Arc<Event>>,
    /// True when some events after N are no longer in the history: the client was away too long.
    pub missed: bool,
}

impl Hub {
    /// The events of `room` with an id above `since`, oldest first.
    pub fn newer(&self, room: &str, since: u64) -> Newer {
        let mut state = self.lock();
        self.follow_room(&mut state, room);
        state.newer(room, since)
    }

    /// Like [`Hub::newer`], but if there is nothing yet, waits (without spinning) until there is,
    /// `timeout` passes, or the hub closes.
    pub fn wait_newer(&self, room: &str, since: u64, timeout: Duration) -> Newer {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        self.follow_room(&mut state, room);
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
}

impl State {
    fn newer(&self, room: &str, since: u64) -> Newer {
        let Some(room) = self.rooms.get(room) else { return Newer::default() };
        Newer {
            events: room.history.iter().filter(|event| event.id > since).cloned().collect(),
            missed: since < room.forgotten_up_to,
        }
    }
}
