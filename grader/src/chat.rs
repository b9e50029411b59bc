//! The grader for chapter 4's exercise: a chat over plain TCP.
//!
//! A chat adds what an echo does not have: framing (a message is a line ending in `\n`, however
//! the bytes were split), text (the line must be valid UTF-8, and a character may be split
//! between two reads), and other people (a line goes to every member of the room, and one broken
//! member must not take the others down).

use std::io::{BufRead, BufReader};
use std::thread;
use std::time::Duration;

use super::{check, fail, flood, send, vanish, Check, Failure, Outcome, Peer, Target, DEADLINE};
use common::trace::Layer;
pub use flood::{CUT_OFF, FROZEN_ROOM};

pub fn checks() -> Vec<Check> {
    vec![
        check("a new client is greeted within 2 s", greeting),
        check("a message reaches the other member of the room", broadcast),
        check("a message comes back to its sender too", echoed_to_sender),
        check("Korean written one byte at a time arrives whole", split_utf8),
        check("invalid UTF-8 gets an error line, and the connection still works", invalid_utf8),
        check("a client that vanishes mid-line does not take the room down", vanishing),
        check("a member that stops reading does not freeze the room", flood::stalled_member)
            .taking(flood::TIME),
    ]
}

/// How long a member that leaves waits for the server to close after it: a correct server
/// closes at once.
const GOODBYE: Duration = Duration::from_millis(500);

/// Leaves the way a client that quits does, when its member is dropped: a FIN, then reading
/// until the server closes. Closing with lines still unread would send a reset instead (TCP
/// does that when unread data is thrown away), and a server that stops on a reset would then
/// fail the next check for something the checker did. At most [`GOODBYE`], and 64 KiB.
pub(super) struct Goodbye(Option<std::net::TcpStream>);

impl Goodbye {
    /// This member will not say goodbye: it vanishes (a reset), or stopped reading long ago.
    pub(super) fn skip(&mut self) {
        self.0 = None;
    }
}

impl Drop for Goodbye {
    fn drop(&mut self) {
        let Some(mut stream) = self.0.take() else { return };
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let deadline = std::time::Instant::now() + GOODBYE;
        let mut buf = [0u8; 4096];
        for _ in 0..16 {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
                return;
            }
            if !matches!(std::io::Read::read(&mut stream, &mut buf), Ok(1..)) {
                return;
            }
        }
    }
}

/// No line at all from the server on arrival.
pub const GREET: &str = "greet each new client with a line ending in \\n";
/// `/nick NAME` got no notice with the name.
pub const NICK: &str = "answer /nick NAME with a notice naming NAME";
/// A line did not reach the other member.
pub const BROADCAST: &str = "did you broadcast to the room? Send each line to every member";
/// A line did not come back to its sender.
pub const SENDER: &str = "broadcast to every member of the room, the sender included: skip nobody";
/// Korean sent a byte at a time was refused or broken.
pub const SPLIT: &str =
    "buffer until the newline before decoding UTF-8: one read() may end inside a character";
/// Invalid UTF-8 got no `! ...` line.
pub const INVALID: &str = "answer a line that is not UTF-8 with \"! ...\" and keep the connection";
/// The member was gone after its invalid line.
pub const AFTER_INVALID: &str = "refuse the bad line only; keep reading the next";
/// A member that reset its connection took others with it.
pub const VANISHED: &str = "a broken connection ends that member only";

pub const HINTS: &[&str] =
    &[GREET, NICK, BROADCAST, SENDER, SPLIT, INVALID, AFTER_INVALID, VANISHED, FROZEN_ROOM, CUT_OFF];

/// A chat connection: reads lines with deadlines.
pub(super) struct Member {
    pub(super) reader: BufReader<Peer>,
    pub(super) stream: Peer,
    pub(super) bye: Goodbye,
}

impl Member {
    pub(super) fn join(target: &Target) -> Result<Member, Failure> {
        let stream = target.connect(Layer::Lines)?;
        let reader = BufReader::new(stream.try_clone()?);
        let bye = Goodbye(stream.raw_clone());
        Ok(Member { reader, stream, bye })
    }

    pub(super) fn send(&mut self, bytes: &[u8]) {
        send(&mut self.stream, bytes);
    }

    /// Lines until one satisfies `wanted`, within the deadline for each. Lines are read as bytes:
    /// a server that sends invalid UTF-8 is still read to the end of its line.
    pub(super) fn until(
        &mut self,
        wanted: impl Fn(&str) -> bool,
        missing: &str,
        hint: &'static str,
    ) -> Outcome {
        for _ in 0..50 {
            let mut line = Vec::new();
            match self.reader.read_until(b'\n', &mut line) {
                Ok(0) => return Err(fail(format!("{missing}: the connection closed"), hint)),
                Ok(_) if wanted(String::from_utf8_lossy(&line).trim_end()) => return Ok(()),
                Ok(_) => continue,
                Err(e) if common::net::is_timeout(&e) => {
                    return Err(fail(format!("{missing} within {DEADLINE:?}"), hint))
                }
                Err(e) => return Err(fail(format!("{missing}: {}", common::net::describe(&e)), hint)),
            }
        }
        Err(fail(format!("{missing} in the next 50 lines"), hint))
    }
}

/// A chat server speaks first: the client cannot know it is in a chat until it is told.
fn greeting(target: &Target) -> Outcome {
    Member::join(target)?.until(|_| true, "no line from the server", GREET)
}

/// Two members, renamed (so their lines can be told apart) and in the lobby. Nicknames carry
/// this process's id, so two teachers checking the same server do not collide.
pub(super) fn pair(target: &Target) -> Result<(Member, Member), Failure> {
    Ok((named(target, "checka")?, named(target, "checkb")?))
}

/// A member renamed `name` and this process's id, once the server has confirmed the name.
pub(super) fn named(target: &Target, name: &str) -> Result<Member, Failure> {
    let nick = format!("{name}{}", std::process::id() % 10_000);
    let mut member = Member::join(target)?;
    member.send(format!("/nick {nick}\n").as_bytes());
    member.until(|l| l.contains(&nick), "no answer to /nick", NICK)?;
    Ok(member)
}

/// Every later check needs this: when it fails, the run stops.
fn broadcast(target: &Target) -> Outcome {
    let (mut a, mut b) = pair(target)?;
    a.send(b"hello from the checker\n");
    b.until(
        |l| l.ends_with(": hello from the checker"),
        "the second client did not see \"hello from the checker\"",
        BROADCAST,
    )
    .map_err(|f| Failure { stops_the_run: f.hint == BROADCAST, ..f })
}

/// Chapter 4: a line goes to every member of the room, including the sender. The sender's own
/// copy is how its client knows the server took the line, and in what order it stands.
fn echoed_to_sender(target: &Target) -> Outcome {
    let (mut a, _b) = pair(target)?;
    a.send(b"back to me\n");
    a.until(|l| l.ends_with(": back to me"), "the sender did not get its own line back", SENDER)
}

/// Each byte of a multi-byte character in its own TCP segment: a server that decodes each
/// `read` as UTF-8 sees invalid halves; one that buffers until `\n` sees Korean.
fn split_utf8(target: &Target) -> Outcome {
    let (mut a, mut b) = pair(target)?;
    for byte in "안녕하세요, 세계\n".bytes() {
        a.send(&[byte]);
        thread::sleep(Duration::from_millis(2));
    }
    b.until(|l| l.ends_with(": 안녕하세요, 세계"), "the Korean line did not arrive whole", SPLIT)
}

/// `caf\xe9` is "café" in Latin-1: what a Windows console may send. Refuse the line, keep the member.
fn invalid_utf8(target: &Target) -> Outcome {
    let (mut a, mut b) = pair(target)?;
    a.send(b"caf\xe9\n");
    a.until(|l| l.starts_with("! "), "no error line for invalid UTF-8", INVALID)?;
    a.send(b"after the bad line\n");
    b.until(
        |l| l.ends_with(": after the bad line"),
        "the connection did not work after invalid UTF-8",
        AFTER_INVALID,
    )
}

fn vanishing(target: &Target) -> Outcome {
    let still_served = |target: &Target| {
        broadcast(target).map_err(|f| match f.hint {
            // Nobody answers any more: the vanished client took the server down.
            BROADCAST | super::hint::GONE => {
                Failure { what: format!("after a client vanished: {}", f.what), hint: VANISHED, ..f }
            }
            _ => f,
        })
    };
    vanish(target, b"never finish", still_served)
}
