//! Members: joining with a guest nickname, the chat's commands, leaving.

use common::protocol::{self, check_nick, check_room, sanitize, Command, LOBBY};
use log::info;

use super::event::{Delivery, EventKind, LeaveReason};
use super::nick::skeleton;
use super::outbox::Outbox;
use super::rooms::Room;
use super::{finish, Hub, Kick, Kicks, Member, MemberId, State};

/// What the connection does after the hub carried out a command.
#[derive(Debug, PartialEq, Eq)]
pub enum AfterCommand {
    /// Read the member's next line.
    Stay,
    /// The member said `/quit` (or is no longer here): end the connection.
    Quit,
}

/// Notices for the caller, or the reason its command was refused.
pub(super) type Reply = Result<Vec<String>, String>;

impl Hub {
    /// Adds a member with a guest nickname to the lobby, or says why not. The lobby is told of
    /// it once it has settled (see `arrivals`).
    pub fn join(&self, outbox: Outbox, kick: Kick) -> Result<MemberId, String> {
        let mut kicks = Kicks::new();
        let mut state = self.lock();
        if state.members.len() >= self.limits.max_members {
            return Err(Hub::full(self.limits.max_members));
        }
        let id = state.next_member;
        state.next_member += 1;
        let nick = loop {
            // With a broker, guest numbers come from it: two servers never pick the same one.
            let number = self.broker_guest(&state).unwrap_or(state.next_guest + 1);
            state.next_guest = state.next_guest.max(number);
            let guest = format!("guest-{number}");
            if state.nick_owner(&guest).is_none() && self.claim_nick(&state, &guest).is_ok() {
                break guest;
            }
        };
        let _ = outbox
            .try_send(Delivery::Notice("welcome to the socket-steps chat! /help lists the commands".into()));
        let _ = outbox.try_send(Delivery::Notice(protocol::whereabouts(&nick, LOBBY)));
        info!("{nick} joined the chat");
        let skeleton = skeleton(&nick);
        state.members.insert(
            id,
            Member {
                nick,
                skeleton,
                room: String::new(),
                outbox,
                kick,
                quiet: false,
                away: None,
                arriving: true,
            },
        );
        // In the lobby at once (it hears the room, `/who` lists it), told of once it settled.
        self.enter(&mut state, id, LOBBY, &mut kicks);
        self.arrive(&mut state, id, &mut kicks);
        finish(state, kicks);
        Ok(id)
    }

    /// Carries out one command of member `id`; replies go to its outbox. First waits, if a
    /// member of its room is far behind (flood control, see `rooms`).
    pub fn handle(&self, id: MemberId, command: Command) -> AfterCommand {
        let mut kicks = Kicks::new();
        let room = match self.lock().members.get(&id) {
            Some(member) => member.room.clone(),
            None => return AfterCommand::Quit,
        };
        let mut state = self.lock_with_room(&room, &mut kicks);
        // While we waited, this member may have been dropped, or moved by another of its threads.
        let Some(member) = state.members.get(&id) else {
            finish(state, kicks);
            return AfterCommand::Quit;
        };
        let (nick, room) = (member.nick.clone(), member.room.clone());
        let reply = match command {
            // Its first line settles a guest: the room hears who it is, then what it says.
            Command::Say(text) => sayable(&text).and_then(|()| {
                self.settle(&mut state, id, &mut kicks);
                self.say(&mut state, &nick, &room, &text, &mut kicks).map(|_| vec![])
            }),
            Command::Nick(new) => self.rename(&mut state, id, &new, &mut kicks),
            Command::Join(to) => self.move_to(&mut state, id, &to, &mut kicks),
            Command::Leave if room == LOBBY => {
                Err("you are in the lobby already; /quit leaves the chat".into())
            }
            Command::Leave => self.move_to(&mut state, id, LOBBY, &mut kicks),
            Command::Rooms => Ok(vec![state.room_list()]),
            Command::Who => Ok(vec![state.who(&room)]),
            Command::Help => Ok(protocol::HELP.iter().map(|line| line.to_string()).collect()),
            Command::Quiet => Ok(vec![state.toggle_quiet(id)]),
            Command::Quit => {
                state.tell(id, Delivery::Notice("bye".into()));
                finish(state, kicks);
                return AfterCommand::Quit;
            }
            Command::Nothing => Ok(vec![]),
            Command::Invalid(error) => Err(error),
        };
        state.reply(id, reply);
        finish(state, kicks);
        AfterCommand::Stay
    }

    /// Removes member `id` (if it is still here) and tells its room why.
    pub fn leave(&self, id: MemberId, reason: LeaveReason) {
        let mut kicks = Kicks::new();
        let mut state = self.lock();
        if let Some(member) = state.members.remove(&id) {
            info!("{} left the chat ({})", member.nick, reason.describe());
            self.release_nick(&state, &member.nick);
            // A guest its room was never told of leaves without a notice (see `arrivals`).
            let tell = (!member.arriving).then_some(reason);
            self.exit_room(&mut state, id, &member.room, &member.nick, tell, &mut kicks);
        }
        finish(state, kicks);
    }

    /// Posts `text` to `room` as `nick` without being a member (HTTP clients); returns its id.
    /// Flood control holds the request back like a member's line.
    pub fn post(&self, room: &str, nick: &str, text: &str) -> Result<u64, String> {
        check_room(room)?;
        check_nick(nick)?;
        let mut kicks = Kicks::new();
        let mut state = self.lock_with_room(room, &mut kicks);
        let posted = self
            .open_room(&mut state, room)
            .and_then(|()| self.say(&mut state, nick, room, text, &mut kicks));
        finish(state, kicks);
        posted
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
        sayable(text)?;
        let kind = EventKind::Message { nick: nick.into(), text: sanitize(text).into_owned() };
        Ok(self.publish(state, room, kind, kicks))
    }

    fn rename(&self, state: &mut State, id: MemberId, new: &str, kicks: &mut Kicks) -> Reply {
        check_nick(new)?;
        match state.nick_owner(new) {
            Some(owner) if owner == id && state.members[&id].nick == new => {
                return Err(format!("you are {new} already"))
            }
            Some(owner) if owner != id => return Err(state.taken(new, owner)),
            _ => {}
        }
        self.claim_nick(state, new)?;
        let member = state.members.get_mut(&id).expect("the caller checked the member");
        let from = std::mem::replace(&mut member.nick, new.to_string());
        let old_skeleton = std::mem::replace(&mut member.skeleton, skeleton(new));
        if old_skeleton != member.skeleton {
            self.release_nick(state, &from);
        }
        let member = state.members.get_mut(&id).expect("the caller checked the member");
        let room = member.room.clone();
        info!("{from} is now {new}");
        // A guest its room was not told of yet is announced later, under its new name.
        if !member.arriving {
            self.publish(state, &room, EventKind::Renamed { from, to: new.into() }, kicks);
        }
        Ok(vec![protocol::whereabouts(new, &room)])
    }

    pub(super) fn move_to(&self, state: &mut State, id: MemberId, to: &str, kicks: &mut Kicks) -> Reply {
        check_room(to)?;
        let member = &state.members[&id];
        let (nick, from) = (member.nick.clone(), member.room.clone());
        if from == to {
            return Err(format!("you are in {to} already"));
        }
        self.open_room(state, to)?;
        // A guest that moves on before its room was told of it was never seen there.
        let member = state.members.get_mut(&id).expect("the caller checked the member");
        let tell = (!std::mem::take(&mut member.arriving)).then_some(LeaveReason::Moved);
        self.exit_room(state, id, &from, &nick, tell, kicks);
        self.enter(state, id, to, kicks);
        Ok(vec![protocol::whereabouts(&nick, to)])
    }

    pub(super) fn enter(&self, state: &mut State, id: MemberId, room: &str, kicks: &mut Kicks) {
        let member = state.members.get_mut(&id).expect("entering member exists");
        member.room = room.to_string();
        let nick = member.nick.clone();
        if !state.rooms.contains_key(room) {
            state.rooms.insert(room.to_string(), Room::new());
            self.backfill(state, room);
        }
        state.rooms.entry(room.to_string()).or_insert_with(Room::new).members.insert(id);
        if !state.members[&id].arriving {
            self.publish(state, room, EventKind::Entered { nick }, kicks);
        }
    }

    /// Takes member `id` out of `room`, and tells the room why it left, if `tell` says (a room
    /// never told of a guest is not told it left either: see `arrivals`).
    fn exit_room(
        &self,
        state: &mut State,
        id: MemberId,
        room: &str,
        nick: &str,
        tell: Option<LeaveReason>,
        kicks: &mut Kicks,
    ) {
        let Some(r) = state.rooms.get_mut(room) else { return };
        r.members.remove(&id);
        // While the hub closes, everybody is leaving and gets a goodbye: telling each of n
        // members about the other n - 1 would fill every outbox just before the goodbye.
        let Some(reason) = tell else { return };
        if reason != LeaveReason::Shutdown && !state.closing {
            self.publish(state, room, EventKind::Left { nick: nick.into(), reason }, kicks);
        }
    }
}

/// Whether `text` can be said, or why not.
fn sayable(text: &str) -> Result<(), String> {
    if text.len() > protocol::MAX_LINE_BYTES {
        return Err(format!("message longer than {} bytes: not sent", protocol::MAX_LINE_BYTES));
    }
    if text.trim().is_empty() {
        return Err("an empty message: not sent".into());
    }
    Ok(())
}

impl State {
    /// The member whose nickname looks like `nick` (see `nick::skeleton`), if any.
    pub(super) fn nick_owner(&self, nick: &str) -> Option<MemberId> {
        let wanted = skeleton(nick);
        self.members.iter().find(|(_, m)| m.skeleton == wanted).map(|(id, _)| *id)
    }

    /// Why `nick` cannot be had: member `owner`'s nickname is it, or looks like it.
    pub(super) fn taken(&self, nick: &str, owner: MemberId) -> String {
        let taken = &self.members[&owner].nick;
        if taken.to_lowercase() == nick.to_lowercase() {
            format!("the nickname {nick} is taken; pick another")
        } else {
            format!("the nickname {nick} looks too much like {taken}, who is here; pick another")
        }
    }

    /// A command's notices, or its refusal, to member `id`.
    pub(super) fn reply(&self, id: MemberId, reply: Reply) {
        match reply {
            Ok(notices) => notices.into_iter().for_each(|n| self.tell(id, Delivery::Notice(n))),
            Err(error) => self.tell(id, Delivery::Error(error)),
        }
    }

    fn tell(&self, id: MemberId, delivery: Delivery) {
        if let Some(member) = self.members.get(&id) {
            // A full outbox here means the member is about to be dropped anyway.
            let _ = member.outbox.try_send(delivery);
        }
    }

    /// `/quiet`: hides the comings and goings of others from member `id`, or shows them again.
    fn toggle_quiet(&mut self, id: MemberId) -> String {
        let member = self.members.get_mut(&id).expect("the caller checked the member");
        member.quiet = !member.quiet;
        if member.quiet {
            "quiet: you no longer see others enter, leave or change names; /quiet shows them again".into()
        } else {
            "you see others enter, leave and change names again".into()
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
