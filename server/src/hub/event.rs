//! What the hub hands out: events that happened in a room, and deliveries for one member. Each
//! becomes one line of the chat protocol through `common::protocol::ServerLine`, the one place
//! that knows how a message, a notice and an error look on the wire.

use std::sync::Arc;
use std::time::SystemTime;

use common::protocol::ServerLine;

/// Something that happened in a room. Shared (`Arc`) by every outbox it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The hub's next number: increases within each room, and is never reused.
    pub id: u64,
    pub room: String,
    pub time: SystemTime,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    Message { nick: String, text: String },
    Entered { nick: String },
    Left { nick: String, reason: LeaveReason },
    Renamed { from: String, to: String },
}

impl EventKind {
    /// Someone entering, leaving or renaming: what `/quiet` hides from a member. In a class of
    /// thirty these are most of the lines; the messages are what people came for.
    pub fn is_presence(&self) -> bool {
        !matches!(self, EventKind::Message { .. })
    }
}

/// Why a member left a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveReason {
    /// Went to another room.
    Moved,
    /// Said `/quit`, or closed the connection cleanly.
    Quit,
    /// The connection broke (reset, timeout, closed in the middle of a line).
    Lost,
    /// Its outbox had lines waiting and it took none for the stall window: it stopped reading.
    TooSlow,
    /// It was not a chat client at all (a browser or an HTTP client at the chat's port).
    NotAChatClient,
    /// The server is stopping; nobody is told, everybody gets a goodbye instead.
    Shutdown,
}

impl LeaveReason {
    pub fn describe(self) -> &'static str {
        match self {
            LeaveReason::Moved => "moved to another room",
            LeaveReason::Quit => "quit",
            LeaveReason::Lost => "connection lost",
            LeaveReason::TooSlow => "too slow",
            LeaveReason::NotAChatClient => "not a chat client",
            LeaveReason::Shutdown => "server shutting down",
        }
    }
}

impl Event {
    /// The event as one line of the chat protocol.
    pub fn line(&self) -> String {
        match &self.kind {
            EventKind::Message { nick, text } => ServerLine::Message { nick, text }.render(),
            _ => ServerLine::Notice(&self.notice()).render(),
        }
    }

    /// What a notice about this event says (without the `* ` that marks a notice on the wire).
    pub fn notice(&self) -> String {
        let room = &self.room;
        match &self.kind {
            EventKind::Message { nick, text } => format!("{nick}: {text}"),
            EventKind::Entered { nick } => format!("{nick} has entered {room}"),
            EventKind::Left { nick, reason } => match reason {
                LeaveReason::Moved => format!("{nick} has left {room}"),
                LeaveReason::Quit | LeaveReason::Shutdown => format!("{nick} has left the chat"),
                LeaveReason::Lost => format!("{nick} has left the chat (connection lost)"),
                LeaveReason::TooSlow => {
                    format!("{nick} stopped reading and was dropped (too slow to keep up)")
                }
                LeaveReason::NotAChatClient => {
                    format!("{nick} was not a chat client (an HTTP request) and was let go")
                }
            },
            EventKind::Renamed { from, to } => format!("{from} is now known as {to}"),
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
            Delivery::Notice(text) => ServerLine::Notice(text).render(),
            Delivery::Error(text) => ServerLine::Error(text).render(),
            Delivery::Goodbye => common::GOODBYE.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind) -> Event {
        Event { id: 1, room: "games".into(), time: SystemTime::now(), kind }
    }

    #[test]
    fn events_render_as_protocol_lines() {
        let (alice, bob) = (String::from("alice"), String::from("bob"));
        let lines = [
            (EventKind::Message { nick: alice.clone(), text: "hi: there".into() }, "alice: hi: there"),
            (EventKind::Entered { nick: alice.clone() }, "* alice has entered games"),
            (EventKind::Left { nick: alice.clone(), reason: LeaveReason::Moved }, "* alice has left games"),
            (EventKind::Left { nick: alice.clone(), reason: LeaveReason::Quit }, "* alice has left the chat"),
            (
                EventKind::Left { nick: alice.clone(), reason: LeaveReason::TooSlow },
                "* alice stopped reading and was dropped (too slow to keep up)",
            ),
            (EventKind::Renamed { from: alice, to: bob }, "* alice is now known as bob"),
        ];
        for (kind, line) in lines {
            assert_eq!(event(kind).line(), line);
            assert_eq!(ServerLine::parse(line).render(), line, "the client reads back what we wrote");
        }
        assert_eq!(Delivery::Error("no".into()).line(), "! no");
        assert_eq!(Delivery::Notice("bye".into()).line(), "* bye");
    }
}
