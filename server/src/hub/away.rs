//! Switching transport without leaving. The lab's page can follow the room over WebSocket, a
//! stream, long polling or polling, and a switch closes one connection and opens another. To
//! the room that looked like a member leaving and a guest arriving and renaming itself, a few
//! seconds apart; her own page, reading the history, even said she had left.
//!
//! So a member that joined under its own nickname ([`Hub::join_as`], what the page does) and
//! whose connection ends without `/quit` *steps away* instead of leaving: it keeps its place
//! (nickname, room, id) and nobody is told, for the switch grace. Joining under that nickname
//! again within it takes the place over, as one presence: no notices for the room, no welcome,
//! one `* you are now NICK in ROOM` for the member. After the grace, it leaves as it would
//! have, and the room is told then.

use std::time::Instant;

use common::protocol::{self, check_nick, check_room, LOBBY};
use log::info;

use super::event::{Delivery, LeaveReason};
use super::nick::skeleton;
use super::outbox::Outbox;
use super::{finish, Hub, Kick, Kicks, Member, MemberId, State};

/// A member whose connection ended without `/quit`: back by `until`, or gone for `reason`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Away {
    until: Instant,
    reason: LeaveReason,
}

impl Hub {
    /// Joins as `nick` in `room`, the page's way: takes over the place of a member with that
    /// nickname that stepped away (silently), or joins anew under that name, or says why not
    /// (the caller may then join as a guest).
    pub fn join_as(&self, nick: &str, room: &str, outbox: Outbox, kick: Kick) -> Result<MemberId, String> {
        check_nick(nick)?;
        check_room(room)?;
        let mut kicks = Kicks::new();
        let mut state = self.lock();
        if let Some(id) = state.away_member(nick) {
            let member = state.members.get_mut(&id).expect("an away member is a member");
            (member.outbox, member.kick, member.away) = (outbox, kick, None);
            info!("{nick} is back within the switch grace: the same presence");
            let here = member.room.clone();
            let reply = if here == room {
                Ok(vec![protocol::whereabouts(nick, room)])
            } else {
                self.move_to(&mut state, id, room, &mut kicks)
            };
            state.reply(id, reply);
            finish(state, kicks);
            // Wakes the old connection's thread in `await_return`: its member is back.
            self.changed.notify_all();
            return Ok(id);
        }
        if state.members.len() >= self.limits.max_members {
            return Err(Hub::full(self.limits.max_members));
        }
        if let Some(owner) = state.nick_owner(nick) {
            return Err(state.taken(nick, owner));
        }
        self.claim_nick(&state, nick)?;
        let room = if self.open_room(&mut state, room).is_ok() { room } else { LOBBY };
        let id = state.next_member;
        state.next_member += 1;
        let _ = outbox
            .try_send(Delivery::Notice("welcome to the socket-steps chat! /help lists the commands".into()));
        let _ = outbox.try_send(Delivery::Notice(protocol::whereabouts(nick, room)));
        info!("{nick} joined the chat");
        let member = Member {
            nick: nick.into(),
            skeleton: skeleton(nick),
            room: String::new(),
            outbox,
            kick,
            quiet: false,
            away: None,
            arriving: false,
        };
        state.members.insert(id, member);
        self.enter(&mut state, id, room, &mut kicks);
        finish(state, kicks);
        Ok(id)
    }

    /// Joins the way `/ws?nick=NICK&room=ROOM` asks (the lab's page: no guest step), or as a
    /// guest when nothing is asked; a name that cannot be had makes a guest too, told why.
    /// `kick` makes the member's kick (called again for the guest when the name was refused).
    pub fn join_asked(
        &self,
        asked: Option<&(String, String)>,
        outbox: &Outbox,
        kick: impl Fn() -> Kick,
    ) -> Result<MemberId, String> {
        let Some((nick, room)) = asked else { return self.join(outbox.clone(), kick()) };
        self.join_as(nick, room, outbox.clone(), kick()).or_else(|why| {
            let member = self.join(outbox.clone(), kick())?;
            let _ = outbox.try_send(Delivery::Error(why));
            Ok(member)
        })
    }

    /// Member `id`'s connection ended without `/quit` (closed, or lost): it may be switching
    /// transport. Keeps its place for the switch grace, tells nobody, and lets its outbox go.
    /// Call [`Hub::await_return`] next, once the connection's threads are done.
    pub fn step_away(&self, id: MemberId, reason: LeaveReason) {
        let mut state = self.lock();
        // A guest its room was never told of has no place to keep: it goes, unseen.
        if state.members.get(&id).is_some_and(|m| m.arriving) {
            drop(state);
            return self.leave(id, reason);
        }
        let until = Instant::now() + self.limits.switch_grace;
        let (dead, _) = self.outbox();
        let Some(member) = state.members.get_mut(&id) else { return };
        (member.outbox, member.away) = (dead, Some(Away { until, reason }));
        info!(
            "{} stepped away ({}); back within {:?} is the same presence",
            member.nick,
            reason.describe(),
            self.limits.switch_grace
        );
    }

    /// Waits until member `id` is back, its grace is over or the hub closes; if it is not back,
    /// it leaves now, and its room is told why.
    pub fn await_return(&self, id: MemberId) {
        let mut state = self.lock();
        let reason = loop {
            let Some(away) = state.members.get(&id).and_then(|m| m.away) else { return };
            let left = away.until.saturating_duration_since(Instant::now());
            if state.closing {
                break LeaveReason::Shutdown;
            }
            if left.is_zero() {
                break away.reason;
            }
            state = self.changed.wait_timeout(state, left).unwrap_or_else(|p| p.into_inner()).0;
        };
        drop(state);
        self.leave(id, reason);
    }
}

impl State {
    /// The member called exactly `nick` that stepped away, if any.
    fn away_member(&self, nick: &str) -> Option<MemberId> {
        self.members.iter().find(|(_, m)| m.away.is_some() && m.nick == nick).map(|(id, _)| *id)
    }

    /// Whether member `id` stepped away: the room's messages are not offered to it meanwhile.
    pub(super) fn is_away(&self, id: MemberId) -> bool {
        self.members.get(&id).is_some_and(|m| m.away.is_some())
    }
}
