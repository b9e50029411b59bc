//! The broker's side of the wire: what the hub says to Redis, and how events look in a stream.
//!
//! Each room is a Redis Stream, `socket-steps:room:NAME`, next to a counter,
//! `socket-steps:room:NAME:seq`. A server publishes with one Lua script that bumps the counter
//! and appends the event under the stream id `N-0`: Redis runs a script alone, so the counter and
//! the stream can never disagree, two servers can never hand out the same N, and the N a client
//! sees in `since=N` or `Last-Event-ID: N` is the same on every server. (`XADD *` would give
//! ids made of a clock and a sequence; mapping them to the HTTP API's numbers would be a second
//! table to keep in step.)
//!
//! Nicknames are keys, `socket-steps:nick:SKELETON`, set only if absent and expiring unless the
//! server that holds them refreshes them: a server that dies frees its members' names by itself.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::streams::{StreamId, StreamRangeReply, StreamReadReply};
use redis::{FromRedisValue, Value};
use serde_json::{json, Value as Json};

use super::event::{Event, EventKind, LeaveReason};
use super::resp::{Failure, Link, Result, Target};

/// How long connecting to the broker may take, logging in and the first `PING` included,
/// before the room counts as split.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long one command may take, its whole reply included. The commands the hub sends while
/// it holds its lock (a publish, a guest number, a nickname claim) wait this long at most
/// before the server decides the broker is gone and carries on alone.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);
/// How long the reader's `XREAD BLOCK` waits for news before it looks at the hub again.
pub const BLOCK: Duration = Duration::from_millis(500);
/// A nickname's key expires this long after the last refresh: a crashed server's names free up.
pub const NICK_TTL: Duration = Duration::from_secs(30);
/// Entries a room's stream keeps (about: `MAXLEN ~`): ten times a room's history, so a server
/// that opens the room later still finds the whole history there.
pub const STREAM_FACTOR: usize = 10;
/// The most one event takes in a stream (a 2 KiB line, every byte of it escaped in JSON, and
/// its nickname): with the reply's budget, how many events one `XREAD` asks for per room.
const MAX_EVENT_BYTES: usize = 8 << 10;

const PREFIX: &str = "socket-steps";

/// Bumps the room's counter (never below ARGV[1], the newest id this server has seen there, so
/// ids keep increasing even after the broker restarted empty) and appends the event as `N-0`.
const PUBLISH: &str = r"
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[1])
if seq < floor then seq = floor end
seq = seq + 1
redis.call('SET', KEYS[1], seq)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], seq .. '-0', 'event', ARGV[3])
return seq
";

/// Raises the room's counter to ARGV[1] if it is lower: after a split, past every id this
/// server handed out alone, so that nothing said from now on gets an id a reader skips as seen.
const RAISE: &str = r"
if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1])
end
return 0
";

/// Deletes a nickname's key only if this server holds it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// The address of a broker, and how to talk to it.
pub struct Broker {
    target: Target,
    /// Tells this server's claims apart from another server's.
    server: String,
}

impl Broker {
    /// Checks the address (`redis://HOST:PORT`, `redis://:PASSWORD@HOST:PORT`); does not
    /// connect yet.
    pub fn new(url: &str) -> std::result::Result<Broker, String> {
        let target = Target::parse(url)?;
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let server = format!("{}-{nanos}", std::process::id());
        Ok(Broker { target, server })
    }

    /// The address for the log: the password is never shown.
    pub fn url(&self) -> String {
        self.target.shown()
    }

    /// Connects once and says whether a Redis answered (logging in, `PING`), or why not.
    pub fn probe(&self) -> std::result::Result<(), String> {
        self.connect(COMMAND_TIMEOUT).map(drop).map_err(|e| e.to_string())
    }

    /// A new link that has answered a `PING`, whose commands may each take `limit`.
    pub fn connect(&self, limit: Duration) -> Result<Link> {
        Link::open(&self.target, CONNECT_TIMEOUT, limit)
    }

    /// Appends `kind` to `room`'s stream; returns the id every server will give it.
    pub fn publish(
        &self,
        c: &mut Link,
        room: &str,
        kind: &EventKind,
        floor: u64,
        keep: usize,
    ) -> Result<u64> {
        let payload = encode(kind).to_string();
        let mut eval = redis::cmd("EVAL");
        eval.arg(PUBLISH).arg(2).arg(seq_key(room)).arg(room_key(room));
        eval.arg(floor).arg(keep * STREAM_FACTOR).arg(payload);
        one(c, &eval)
    }

    /// Raises each room's counter to the newest id this server has seen there (see [`RAISE`]).
    pub fn raise(&self, c: &mut Link, rooms: &[(String, u64)]) -> Result<()> {
        if rooms.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (room, floor) in rooms {
            pipe.cmd("EVAL").arg(RAISE).arg(1).arg(seq_key(room)).arg(floor);
        }
        c.call(&pipe.get_packed_pipeline(), rooms.len()).map(drop)
    }

    /// The newest `count` events of `room`, oldest first.
    pub fn recent(&self, c: &mut Link, room: &str, count: usize) -> Result<Vec<Event>> {
        let reply: StreamRangeReply =
            one(c, redis::cmd("XREVRANGE").arg(room_key(room)).arg("+").arg("-").arg("COUNT").arg(count))?;
        Ok(reply.ids.iter().rev().filter_map(|entry| decode(room, entry)).collect())
    }

    /// Waits up to [`BLOCK`] for events after each room's id (`None`: from now on) or for a
    /// wake-up; returns the events, each room's oldest first.
    pub fn read(
        &self,
        c: &mut Link,
        rooms: &[(String, Option<u64>)],
        wake_seen: &mut String,
    ) -> Result<Vec<Event>> {
        // Few enough per room that the whole reply fits the budget of one reply.
        let count = (super::resp::MAX_REPLY_BYTES / MAX_EVENT_BYTES / (rooms.len() + 1)).clamp(1, 1000);
        let mut command = redis::cmd("XREAD");
        command.arg("COUNT").arg(count).arg("BLOCK").arg(BLOCK.as_millis() as u64).arg("STREAMS");
        rooms.iter().for_each(|(room, _)| {
            command.arg(room_key(room));
        });
        command.arg(self.wake_key());
        rooms.iter().for_each(|(_, id)| {
            command.arg(id.map_or("$".to_string(), |id| format!("{id}-0")));
        });
        command.arg(wake_seen.as_str());
        let reply: Option<StreamReadReply> = one(c, &command)?;
        let mut events = Vec::new();
        for stream in reply.map(|r| r.keys).unwrap_or_default() {
            if stream.key == self.wake_key() {
                if let Some(last) = stream.ids.last() {
                    *wake_seen = last.id.clone();
                }
                continue;
            }
            let Some(room) = stream.key.strip_prefix(&format!("{PREFIX}:room:")) else { continue };
            events.extend(stream.ids.iter().filter_map(|entry| decode(room, entry)));
        }
        Ok(events)
    }

    /// Ends the reader's current `XREAD BLOCK` early: the rooms it must follow changed.
    pub fn wake(&self, c: &mut Link) -> Result<()> {
        let mut xadd = redis::cmd("XADD");
        xadd.arg(self.wake_key()).arg("MAXLEN").arg(1).arg("*").arg("wake").arg(1);
        c.call(&xadd.get_packed_command(), 1).map(drop)
    }

    /// A guest number no other server hands out.
    pub fn next_guest(&self, c: &mut Link) -> Result<u64> {
        one(c, redis::cmd("INCR").arg(format!("{PREFIX}:guests")))
    }

    /// Claims a nickname's look-alike key for this server: `Ok(None)` if it is ours now,
    /// `Ok(Some(nick))` if another server's member `nick` has it.
    pub fn claim(&self, c: &mut Link, skeleton: &str, nick: &str) -> Result<Option<String>> {
        let value = format!("{}\n{nick}", self.server);
        let set: Value = one(
            c,
            redis::cmd("SET").arg(nick_key(skeleton)).arg(&value).arg("NX").arg("EX").arg(NICK_TTL.as_secs()),
        )?;
        if set != Value::Nil {
            return Ok(None);
        }
        let holder: Option<String> = one(c, redis::cmd("GET").arg(nick_key(skeleton)))?;
        Ok(match holder {
            Some(holder) => match holder.split_once('\n') {
                Some((server, _)) if server == self.server => None,
                Some((_, taken)) => Some(taken.to_string()),
                None => Some(holder),
            },
            // It expired in between: try again next time.
            None => Some(nick.to_string()),
        })
    }

    /// Keeps this server's nicknames alive (and takes them back after the broker restarted).
    pub fn refresh(&self, c: &mut Link, nicks: &[(String, String)]) -> Result<()> {
        if nicks.is_empty() {
            // An empty pipeline is an error to Redis, and the reader counts on a real round
            // trip here (a rejoin counts only after one): a PING then.
            return c.call(&redis::cmd("PING").get_packed_command(), 1).map(drop);
        }
        let mut pipe = redis::pipe();
        for (skeleton, nick) in nicks {
            let value = format!("{}\n{nick}", self.server);
            pipe.cmd("SET").arg(nick_key(skeleton)).arg(value).arg("EX").arg(NICK_TTL.as_secs());
        }
        c.call(&pipe.get_packed_pipeline(), nicks.len()).map(drop)
    }

    /// Frees a nickname this server held.
    pub fn release(&self, c: &mut Link, skeleton: &str, nick: &str) -> Result<()> {
        let value = format!("{}\n{nick}", self.server);
        let mut eval = redis::cmd("EVAL");
        eval.arg(RELEASE).arg(1).arg(nick_key(skeleton)).arg(value);
        c.call(&eval.get_packed_command(), 1).map(drop)
    }

    fn wake_key(&self) -> String {
        format!("{PREFIX}:wake:{}", self.server)
    }
}

/// Sends one command and reads its reply as a `T`; a reply of another shape is a failure.
fn one<T: FromRedisValue>(c: &mut Link, command: &redis::Cmd) -> Result<T> {
    let reply = c.call(&command.get_packed_command(), 1)?.pop().unwrap_or(Value::Nil);
    redis::from_redis_value(reply)
        .map_err(|e| Failure::from_peer("it is not a Redis server: an unexpected reply", &e.to_string()))
}

fn room_key(room: &str) -> String {
    format!("{PREFIX}:room:{room}")
}

fn seq_key(room: &str) -> String {
    format!("{PREFIX}:room:{room}:seq")
}

fn nick_key(skeleton: &str) -> String {
    format!("{PREFIX}:nick:{skeleton}")
}

/// An event as the stream keeps it: one JSON field, readable with `redis-cli XRANGE`.
fn encode(kind: &EventKind) -> Json {
    let time = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    match kind {
        EventKind::Message { nick, text } => {
            json!({"kind": "message", "nick": nick, "text": text, "time": time})
        }
        EventKind::Entered { nick } => json!({"kind": "entered", "nick": nick, "time": time}),
        EventKind::Left { nick, reason } => {
            json!({"kind": "left", "nick": nick, "reason": reason_name(*reason), "time": time})
        }
        EventKind::Renamed { from, to } => json!({"kind": "renamed", "from": from, "to": to, "time": time}),
    }
}

/// The event in a stream entry, or `None` for an entry this server cannot read (written by a
/// newer version, or by hand): skipped, never a panic.
fn decode(room: &str, entry: &StreamId) -> Option<Event> {
    let id = entry.id.split_once('-')?.0.parse().ok()?;
    let Some(Value::BulkString(bytes)) = entry.map.get("event") else { return None };
    let json: Json = serde_json::from_slice(bytes).ok()?;
    let field = |name: &str| json.get(name).and_then(Json::as_str).map(str::to_string);
    let kind = match json.get("kind")?.as_str()? {
        "message" => EventKind::Message { nick: field("nick")?, text: field("text")? },
        "entered" => EventKind::Entered { nick: field("nick")? },
        "left" => EventKind::Left { nick: field("nick")?, reason: reason_from(&field("reason")?)? },
        "renamed" => EventKind::Renamed { from: field("from")?, to: field("to")? },
        _ => return None,
    };
    let millis = json.get("time").and_then(Json::as_u64).unwrap_or(0);
    let time = UNIX_EPOCH + Duration::from_millis(millis);
    Some(Event { id, room: room.to_string(), time, kind })
}

const REASONS: [(LeaveReason, &str); 6] = [
    (LeaveReason::Moved, "moved"),
    (LeaveReason::Quit, "quit"),
    (LeaveReason::Lost, "lost"),
    (LeaveReason::TooSlow, "too-slow"),
    (LeaveReason::NotAChatClient, "not-a-chat-client"),
    (LeaveReason::Shutdown, "shutdown"),
];

fn reason_name(reason: LeaveReason) -> &'static str {
    REASONS.iter().find(|(r, _)| *r == reason).map_or("quit", |(_, name)| name)
}

fn reason_from(name: &str) -> Option<LeaveReason> {
    REASONS.iter().find(|(_, n)| *n == name).map(|(r, _)| *r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broker_address_that_is_not_redis_is_refused_with_the_expected_form() {
        for url in ["localhost:6379", "http://127.0.0.1:6379", ""] {
            let refused = Broker::new(url).err().unwrap_or_else(|| panic!("{url:?} was accepted"));
            assert!(refused.contains("expected redis://HOST:PORT"), "{refused}");
        }
        assert!(Broker::new("redis://127.0.0.1:6379").is_ok(), "parsing never connects");
    }

    #[test]
    fn events_survive_the_stream_and_strangers_are_skipped() {
        let kinds = [
            EventKind::Message { nick: "민지".into(), text: "hi: \"there\"".into() },
            EventKind::Entered { nick: "bob".into() },
            EventKind::Left { nick: "bob".into(), reason: LeaveReason::TooSlow },
            EventKind::Renamed { from: "a".into(), to: "b".into() },
        ];
        for kind in kinds {
            let bytes = encode(&kind).to_string().into_bytes();
            let entry = StreamId {
                id: "42-0".into(),
                map: [("event".to_string(), Value::BulkString(bytes))].into(),
                ..Default::default()
            };
            let event = decode("games", &entry).expect("decodes");
            assert_eq!((event.id, event.room.as_str(), &event.kind), (42, "games", &kind));
        }
        for junk in [&b"{}"[..], b"not json", b"{\"kind\":\"dance\"}"] {
            let entry = StreamId {
                id: "1-0".into(),
                map: [("event".to_string(), Value::BulkString(junk.to_vec()))].into(),
                ..Default::default()
            };
            assert!(decode("games", &entry).is_none());
        }
    }
}
