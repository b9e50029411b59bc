//! The grader for chapter 2's exercise: an echo server.
//!
//! TCP carries a stream of bytes, not messages: one `write` may arrive as several `read`s, and
//! several as one. An echo server is correct when it writes back every byte it reads, in order,
//! as it reads them, until the client closes its side. Each check below breaks one shortcut that
//! works on loopback with short lines and fails on a real network.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::thread;
use std::time::Duration;

use super::{
    check, fail, fail_all, read_exactly, send, vanish, Check, Outcome, Peer, ReadFailure, Target, DEADLINE,
};
use common::trace::Layer;

pub fn checks() -> Vec<Check> {
    vec![
        check("a line comes back unchanged", line),
        check("when a client closes, the server closes too and serves the next", next_client),
        check("a message sent in three pieces comes back whole", pieces),
        check("1 MiB message comes back intact", big).taking(BIG_TIME),
        check("a client that disconnects mid-message does not stop the server", vanishing),
    ]
}

/// Nothing came back, even once the client closed its side.
pub const NO_ECHO: &str =
    "write back every byte you read, as soon as you read it (and flush, if you wrap the socket in a BufWriter)";
/// The echo came only once the client closed its side.
pub const READS_TO_END: &str = "your server reads to the end of input before it replies (read_to_end, or \
                                lines() to the end): write back what each read() returns as soon as it returns";
/// Other bytes came back than were sent.
pub const CHANGED: &str =
    "send back exactly the bytes you received, in order: nothing added, nothing changed";
/// The most common bug in a first echo server: a loop without `Ok(0) => break`. A read that
/// returns 0 means the client closed; a loop that goes on reading gets 0 again at once, forever.
pub const READ_ZERO: &str = "read() returned 0: the client closed; stop (Ok(0) => break), \
                             or your loop spins and never serves the next client";
/// The second and third pieces of one message never came back.
pub const ONE_READ: &str = "keep reading until the client closes: one read() is not one message";
/// The server closed in the middle of the 1 MiB.
pub const CUT_SHORT: &str = "keep echoing until read() returns 0, however long the message: a buffer that \
                             fills up and is never emptied ends the echo early";
/// The echo of the 1 MiB stopped part way, the connection still open.
pub const STOPPED_READING: &str = "keep reading and writing back until read() returns 0, however long the \
                                   message: the echo stopped part way while the connection stayed open";
/// One client was served, and then nobody.
pub const NEXT: &str = "after one client leaves, accept() the next: put accept() in a loop";
/// After a client reset its connection, the server stopped serving.
pub const VANISHED: &str = "a read error ends that client only: log it, then accept() the next";

pub const HINTS: &[&str] =
    &[NO_ECHO, READS_TO_END, CHANGED, READ_ZERO, NEXT, ONE_READ, CUT_SHORT, STOPPED_READING, VANISHED];

/// The 1 MiB check: its reads may wait five times as long, and it may take twice the time.
const BIG_TIME: Duration = Duration::from_secs(20);

/// The first check: a short line, Korean included (bytes, not characters, are echoed).
pub fn line(target: &Target) -> Outcome {
    let mut stream = target.connect(Layer::Raw)?;
    let message = "hello, 안녕하세요\n".as_bytes();
    send(&mut stream, message);
    let got = match read_exactly(&mut stream, message.len()) {
        Ok(got) => got,
        // Nothing at all came back. A common first server reads "everything" first
        // (`read_to_end`, or `lines()` to the end): it waits for the end of input, which an
        // interactive client never sends. Half-close our side to find out: if the echo comes now,
        // that is the mistake. Either way every later check would wait for the same thing.
        Err(ReadFailure::Late { filled: 0, .. }) => return Err(silent_until_the_end(stream, message.len())),
        Err(e) => return Err(fail(e.to_string(), NO_ECHO)),
    };
    if got != message {
        return Err(fail(format!("got \"{}\"", String::from_utf8_lossy(&got)), CHANGED));
    }
    // The next check says goodbye on this connection: closing it here, unseen, would be the very
    // thing a server without `Ok(0) => break` cannot take, blamed on whatever came next.
    target.keep(stream);
    Ok(())
}

/// On the first check's connection, the client closes its side and waits for the server to
/// close too; then a second client talks. A server that never stops after read() returned 0
/// keeps the first connection open, and if it serves one client at a time, the next one waits
/// forever behind it.
fn next_client(target: &Target) -> Outcome {
    let mut first = target.connect(Layer::Raw)?;
    send(&mut first, b"first\n");
    match read_exactly(&mut first, 6) {
        Ok(_) => {}
        // It answered the first check's line on this connection, then closed it.
        Err(e @ (ReadFailure::Closed { .. } | ReadFailure::Broken { .. })) => {
            return Err(fail(format!("a second line on the same connection: {e}"), ONE_READ))
        }
        Err(e) => return Err(fail(e.to_string(), NO_ECHO)),
    }
    let _ = first.shutdown(Shutdown::Write);
    let closed = closes(&mut first);
    let Ok(mut second) = target.connect(Layer::Raw) else {
        return Err(fail_all("after the first client, the server no longer accepts connections", NEXT));
    };
    send(&mut second, b"second\n");
    match (read_exactly(&mut second, 7), closed) {
        (Ok(_), true) => Ok(()),
        (Ok(_), false) => Err(fail(
            format!("the server kept the connection open {DEADLINE:?} after the client closed its side"),
            READ_ZERO,
        )),
        // One client at a time, and still busy with the first: every later check would wait too.
        (Err(ReadFailure::Late { filled: 0, .. }), false) => Err(fail_all(
            "the server kept the first client's connection open after it closed its side, \
             and the next client got no echo",
            READ_ZERO,
        )),
        (Err(e), _) => Err(fail_all(format!("after the first client closed, the next one: {e}"), NEXT)),
    }
}

/// Reads until the server closes (true), or stays silent for a deadline (false).
fn closes(stream: &mut Peer) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => return !common::net::is_timeout(&e),
        }
    }
}

/// After `DEADLINE` of silence: does the echo come once we close our sending side?
fn silent_until_the_end(mut stream: Peer, expected: usize) -> super::Failure {
    if stream.shutdown(Shutdown::Write).is_ok() && read_exactly(&mut stream, expected).is_ok() {
        let what = format!("no echo within {DEADLINE:?}; it came only after the client closed its side");
        return fail_all(what, READS_TO_END);
    }
    fail_all(format!("no echo within {DEADLINE:?}, not even after the client closed its side"), NO_ECHO)
}

/// One message in three writes, with pauses, so they arrive as three reads.
fn pieces(target: &Target) -> Outcome {
    let mut stream = target.connect(Layer::Raw)?;
    for piece in ["one ", "message, ", "three writes\n"] {
        stream.write_all(piece.as_bytes()).map_err(|e| {
            let what =
                format!("the server stopped reading after the first piece ({})", common::net::describe(&e));
            fail(what, ONE_READ)
        })?;
        // Without the pause, loopback would hand all three to one read().
        thread::sleep(Duration::from_millis(50));
    }
    let got = read_exactly(&mut stream, "one message, three writes\n".len())
        .map_err(|e| fail(e.to_string(), ONE_READ))?;
    (got == b"one message, three writes\n").then_some(()).ok_or_else(|| {
        fail(format!("the pieces came back as \"{}\"", String::from_utf8_lossy(&got)), CHANGED)
    })
}

/// 1 MiB, far more than the socket buffers hold: a server that writes nothing until it has read
/// everything, or that stops reading or echoing part way, fails.
fn big(target: &Target) -> Outcome {
    let stream = target.connect(Layer::Raw)?;
    let message: Vec<u8> = (0..1 << 20).map(|i: usize| b'a' + (i % 26) as u8).chain([b'\n']).collect();
    let mut writer = stream.try_clone()?;
    // Send and receive at once: the echo starts coming back before we have sent it all, and if
    // nobody read it, both sides' buffers would fill and both would wait forever.
    let sending = {
        let message = message.clone();
        thread::spawn(move || writer.write_all(&message))
    };
    let mut reader = stream;
    reader.wait_up_to(DEADLINE * 5);
    let got = read_exactly(&mut reader, message.len());
    let sent = sending.join().map_err(|_| fail("the sending thread failed", super::hint::CHECKER))?;
    let got = match (got, sent) {
        (Ok(got), _) => got,
        // The server closed or reset the connection part way.
        (Err(e @ (ReadFailure::Closed { .. } | ReadFailure::Broken { .. })), _) => {
            return Err(fail(e.to_string(), CUT_SHORT))
        }
        (Err(_), Err(e)) => {
            let what = format!("sending 1 MiB failed: {}", common::net::describe(&e));
            return Err(fail(what, STOPPED_READING));
        }
        (Err(e), Ok(())) => return Err(fail(e.to_string(), STOPPED_READING)),
    };
    (got == message).then_some(()).ok_or_else(|| fail("the 1 MiB came back changed", CHANGED))
}

fn vanishing(target: &Target) -> Outcome {
    let still_served = |target: &Target| {
        line(target).map_err(|f| match f.hint {
            // Echoed, but changed: that is the first check's failure again, not the vanished client's.
            CHANGED => f,
            _ => fail(format!("after a client vanished: {}", f.what), VANISHED),
        })
    };
    vanish(target, b"half a mess", still_served)
}
