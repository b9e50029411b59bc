//! The grader for chapter 4's exercise: a chat over plain TCP.
//!
//! A chat adds what an echo does not have: framing (a message is a line ending in `\n`, however
//! the bytes were split), text (the line must be valid UTF-8, and a character may be split
//! between two reads), and other people (a line goes to every member of the room, and one broken
//! member must not take the others down).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use super::{connect, fail, send_failed, vanish, Check, Failure, Outcome, DEADLINE};
use common::trace::{Layer, Traced};

pub fn checks() -> Vec<Check> {
    vec![
        ("a new client is greeted within 2 s", greeting),
        ("a message reaches the other member of the room", broadcast),
        ("Korean written one byte at a time arrives whole", split_utf8),
        ("invalid UTF-8 gets an error line, and the connection still works", invalid_utf8),
        ("a client that vanishes mid-line does not take the room down", vanishing),
    ]
}

/// A chat connection: reads lines with deadlines.
struct Member {
    reader: BufReader<Traced<TcpStream>>,
    stream: Traced<TcpStream>,
}

impl Member {
    fn join(addr: &str) -> Result<Member, Failure> {
        let stream = connect(addr, Layer::Lines)?;
        let reader = stream
            .try_clone()
            .map(BufReader::new)
            .map_err(|e| fail(format!("cannot read and write the socket apart: {e}"), "tell your teacher"))?;
        Ok(Member { reader, stream })
    }

    fn send(&mut self, bytes: &[u8]) -> Outcome {
        self.stream.write_all(bytes).map_err(send_failed)
    }

    /// Lines until one satisfies `wanted`, within the deadline for each. Lines are read as bytes:
    /// a server that sends invalid UTF-8 is still read to the end of its line.
    fn until(&mut self, wanted: impl Fn(&str) -> bool, missing: &str, hint: &'static str) -> Outcome {
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
fn greeting(addr: &str) -> Outcome {
    Member::join(addr)?.until(
        |_| true,
        "no line from the server",
        "greet each new client with a line ending in \\n",
    )
}

/// Two members, renamed (so their lines can be told apart) and in the lobby. Nicknames carry
/// this process's id, so two teachers checking the same server do not collide.
fn pair(addr: &str) -> Result<(Member, Member), Failure> {
    let stamp = std::process::id() % 10_000;
    let mut members = Vec::new();
    for name in ["checka", "checkb"] {
        let nick = format!("{name}{stamp}");
        let mut member = Member::join(addr)?;
        member.send(format!("/nick {nick}\n").as_bytes())?;
        member.until(
            |l| l.contains(&nick),
            "no answer to /nick",
            "answer /nick NAME with a notice naming NAME",
        )?;
        members.push(member);
    }
    let b = members.pop().expect("two members");
    Ok((members.pop().expect("two members"), b))
}

fn broadcast(addr: &str) -> Outcome {
    let (mut a, mut b) = pair(addr)?;
    a.send(b"hello from the checker\n")?;
    b.until(
        |l| l.ends_with(": hello from the checker"),
        "the second client did not see \"hello from the checker\"",
        "did you broadcast to the room?",
    )
}

/// Each byte of a multi-byte character in its own TCP segment: a server that decodes each
/// `read` as UTF-8 sees invalid halves; one that buffers until `\n` sees Korean.
fn split_utf8(addr: &str) -> Outcome {
    let (a, mut b) = pair(addr)?;
    for byte in "안녕하세요, 세계\n".bytes() {
        (&a.stream).write_all(&[byte]).map_err(send_failed)?;
        thread::sleep(Duration::from_millis(2));
    }
    b.until(
        |l| l.ends_with(": 안녕하세요, 세계"),
        "the Korean line did not arrive whole",
        "buffer until the newline before decoding UTF-8",
    )
}

/// `caf\xe9` is "café" in Latin-1: what a Windows console may send. Refuse the line, keep the member.
fn invalid_utf8(addr: &str) -> Outcome {
    let (mut a, mut b) = pair(addr)?;
    a.send(b"caf\xe9\n")?;
    a.until(
        |l| l.starts_with("! "),
        "no error line for invalid UTF-8",
        "answer a line that is not UTF-8 with \"! ...\" and keep the connection",
    )?;
    a.send(b"after the bad line\n")?;
    b.until(
        |l| l.ends_with(": after the bad line"),
        "the connection did not work after invalid UTF-8",
        "refuse the bad line only; keep reading the next",
    )
}

fn vanishing(addr: &str) -> Outcome {
    vanish(addr, b"never finish")?;
    broadcast(addr).map_err(|f| {
        fail(format!("after a client vanished: {}", f.what), "a broken connection ends that member only")
    })
}
