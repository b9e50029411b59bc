//! Flood control's decision, apart from its waiting: in a room, whose reader is behind (a
//! sender should wait for it) and whose stalled or went away (it must be dropped).
//!
//! The threaded servers wait on the reader that is behind (`rooms::lock_with_room`). A server
//! that must never wait (chapter 14's one-thread loop) asks [`Hub::may_speak`] instead, and
//! leaves the sender's line unread until the answer is yes: the same rule, without the wait.

use std::time::Instant;

use super::event::LeaveReason;
use super::outbox::{Backlog, Outbox};
use super::{finish, Hub, Kicks, MemberId, State};

/// What flood control found in one room.
pub(super) struct Backlogs {
    /// An outbox at the flood mark whose reader is still taking lines (the last one found).
    pub(super) behind: Option<Outbox>,
    /// Members to drop, and why.
    pub(super) dropped: Vec<(MemberId, LeaveReason)>,
}

impl Hub {
    /// Reads the gauge of every outbox in `room` (members and watchers). Watchers that stalled
    /// or went away are forgotten here (their stream ends when its outbox closes).
    pub(super) fn backlogs(&self, state: &mut State, room: &str, now: Instant) -> Backlogs {
        let (mark, patience, stall) = (self.limits.flood_mark, self.limits.patience, self.limits.stall);
        let mut behind: Option<Outbox> = None;
        let mut dropped = Vec::new();
        for id in state.rooms.get(room).map(|r| &r.members).into_iter().flatten() {
            // A member that stepped away has no reader to wait for or to drop.
            if state.is_away(*id) {
                continue;
            }
            let outbox = &state.members[id].outbox;
            match outbox.backlog(now, mark, patience, stall) {
                // A member on its way out is not waited for; its own thread removes it.
                Backlog::Fine | Backlog::Leaving => {}
                Backlog::Behind => behind = Some(outbox.clone()),
                Backlog::Stalled => dropped.push((*id, LeaveReason::TooSlow)),
                Backlog::Gone => dropped.push((*id, LeaveReason::Lost)),
            }
        }
        if let Some(watchers) = state.watchers.get_mut(room) {
            watchers.retain(|_, outbox| match outbox.backlog(now, mark, patience, stall) {
                Backlog::Fine => true,
                Backlog::Behind => {
                    behind = Some(outbox.clone());
                    true
                }
                // Its stream ends when its outbox closes, with a "too slow" goodbye.
                Backlog::Stalled | Backlog::Leaving | Backlog::Gone => false,
            });
        }
        Backlogs { behind, dropped }
    }

    /// Whether member `id`'s next command may be carried out now without [`Hub::handle`]
    /// waiting: nobody in its room is behind. Stalled members of the room are dropped on the
    /// way, as `handle` would. (True for a member that is gone: `handle` says `Quit`.)
    pub fn may_speak(&self, id: MemberId) -> bool {
        let mut kicks = Kicks::new();
        let mut state = self.lock();
        let Some(room) = state.members.get(&id).map(|member| member.room.clone()) else { return true };
        if state.closing {
            return true;
        }
        let Backlogs { behind, dropped } = self.backlogs(&mut state, &room, Instant::now());
        for (id, reason) in dropped {
            self.drop_member(&mut state, id, reason, &mut kicks);
        }
        finish(state, kicks);
        behind.is_none()
    }
}
