//! The chat's hardest promise: one member that stops reading must not stop the room.
//!
//! A write to a socket whose reader has stopped succeeds for a while (the kernel buffers a few
//! megabytes: up to 4 MiB of send buffer on Linux, plus the reader's receive buffer), then
//! blocks. A server that writes to every member from the sender's thread, or while it holds the
//! members' lock, then blocks with it: the sender waits, and every other member waits for the
//! lock. The room freezes, although nothing crashed. On loopback with short lines this takes
//! thousands of lines, so no quick test finds it; this check pushes [`BYTES`] through the room
//! while one member never reads, and watches whether the others still get every line.

use std::io::{BufRead, Write};
use std::net::Shutdown;
use std::thread;
use std::time::Duration;

use super::chat::{pair, Member};
use super::{fail, Failure, Outcome, Target};

/// The check may take this long: pushing [`BYTES`] through a debug build on a busy laptop.
pub const TIME: Duration = Duration::from_secs(30);

/// Bytes per line (the chat's lines may be 2,048 bytes long).
const LINE: usize = 1000;

/// Lines the flooder says: 12 MiB, three times what one socket's buffers hold on Linux.
const LINES: usize = 12 * 1024;

/// What the flood adds up to.
pub const BYTES: usize = LINE * LINES;

/// The silence, while lines are still being sent, that counts as a frozen room: a correct
/// server holds a flooder back for a moment (flood control) but never for seconds.
const FROZEN: Duration = Duration::from_secs(4);

/// The room went silent while one member was not reading.
pub const FROZEN_ROOM: &str =
    "a write to a member that stops reading blocks: never write to members from the \
                               sender's thread or while holding the members' lock; give each member its own \
                               writer (a thread and a bounded queue), and drop one that falls far behind";
/// The member that kept reading was cut off during the flood.
pub const CUT_OFF: &str = "drop only the member that stopped reading, never one that keeps up";

pub fn stalled_member(target: &Target) -> Outcome {
    let (flooder, mut reader) = pair(target)?;
    // The member that stops reading: it joins, takes its name, and from then on reads nothing.
    let mut stalled = super::chat::named(target, "checkc")?;
    stalled.bye.skip();
    stalled.stream.shrink_receive_buffer(4096);
    // Everything the others get is a line of the flood, plus a little framing.
    reader.reader.get_mut().allow(BYTES * 2);
    reader.reader.get_mut().wait_up_to(FROZEN);
    let Member { reader: mut echoes, stream: mut sending, bye: _leaves_last } = flooder;
    echoes.get_mut().allow(BYTES * 2);
    let stop = sending.try_clone()?;
    // The flooder's own lines come back to it: read them, or it would be the stalled one.
    let draining = thread::spawn(move || {
        let mut line = Vec::new();
        while matches!(echoes.read_until(b'\n', &mut line), Ok(1..)) {
            line.clear();
        }
    });
    let flooding = thread::spawn(move || {
        let pad = "x".repeat(LINE - 13);
        (0..LINES).try_for_each(|seq| sending.write_all(format!("flood {seq:05} {pad}\n").as_bytes()))
    });
    let verdict = watch(&mut reader);
    // Cut both threads short (whatever the verdict), then wait for them: the check ends whole.
    let _ = stop.shutdown(Shutdown::Both);
    let _ = (draining.join(), flooding.join());
    drop(stalled);
    verdict
}

/// Reads the room until the flood's last line; says how far it got if the room went silent.
fn watch(member: &mut Member) -> Outcome {
    let mut got = 0;
    let mut line = Vec::new();
    loop {
        line.clear();
        let frozen = |got| -> Failure {
            fail(
                format!(
                    "the room froze: a reading member got {got} of {LINES} lines, then nothing for \
                     {FROZEN:?}, while another member was not reading"
                ),
                FROZEN_ROOM,
            )
        };
        match member.reader.read_until(b'\n', &mut line) {
            Ok(0) => {
                return Err(fail(format!("the connection closed after {got} lines of the flood"), CUT_OFF))
            }
            Ok(_) => {}
            Err(e) if common::net::is_timeout(&e) => return Err(frozen(got)),
            Err(e) => return Err(fail(format!("after {got} lines: {}", common::net::describe(&e)), CUT_OFF)),
        }
        let text = String::from_utf8_lossy(&line);
        if let Some(seq) = text.split_once(": flood ").and_then(|(_, rest)| rest.get(..5)) {
            got += 1;
            if seq.parse() == Ok(LINES - 1) {
                return Ok(());
            }
        }
    }
}
