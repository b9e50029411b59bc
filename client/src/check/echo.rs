//! The grader for chapter 2's exercise: an echo server.
//!
//! TCP carries a stream of bytes, not messages: one `write` may arrive as several `read`s, and
//! several as one. An echo server is correct when it writes back every byte it reads, in order,
//! as it reads them, until the client closes its side. Each check below breaks one shortcut that
//! works on loopback with short lines and fails on a real network.

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::Duration;

use super::{
    connect, fail, fail_all, read_exactly, send_failed, vanish, Check, Outcome, ReadFailure, DEADLINE,
};
use common::trace::{Layer, Traced};

pub fn checks() -> Vec<Check> {
    vec![
        ("a line comes back unchanged", line),
        ("a message sent in three pieces comes back whole", pieces),
        ("1 MiB message comes back intact", big),
        ("a client that disconnects mid-message does not stop the server", vanishing),
    ]
}

/// The first check: a short line, Korean included (bytes, not characters, are echoed).
pub fn line(addr: &str) -> Outcome {
    let mut stream = connect(addr, Layer::Raw)?;
    let message = "hello, 안녕하세요\n".as_bytes();
    stream.write_all(message).map_err(send_failed)?;
    let got = match read_exactly(&mut stream, message.len()) {
        Ok(got) => got,
        // Nothing at all came back. A common first server reads "everything" first
        // (`read_to_end`, or `lines()` to the end): it waits for the end of input, which an
        // interactive client never sends. Half-close our side to find out: if the echo comes now,
        // that is the mistake. Either way every later check would wait for the same thing.
        Err(ReadFailure::Late { filled: 0, .. }) => return Err(silent_until_the_end(stream, message.len())),
        Err(e) => return Err(fail(e.to_string(), "write back every byte you read, as soon as you read it")),
    };
    (got == message).then_some(()).ok_or_else(|| {
        fail(format!("got {:?}", String::from_utf8_lossy(&got)), "send back exactly the bytes you received")
    })
}

/// After `DEADLINE` of silence: does the echo come once we close our sending side?
fn silent_until_the_end(mut stream: Traced<TcpStream>, expected: usize) -> super::Failure {
    if stream.shutdown(Shutdown::Write).is_ok() && read_exactly(&mut stream, expected).is_ok() {
        return fail_all(
            format!("no echo within {DEADLINE:?}; it came only after the client closed its side"),
            "your server reads to the end of input before it replies (read_to_end, or lines() to the end): \
             write back what each read() returns as soon as it returns",
        );
    }
    fail_all(
        format!("no echo within {DEADLINE:?}, not even after the client closed its side"),
        "write back every byte you read, as soon as you read it (and flush, if you wrap the socket in a BufWriter)",
    )
}

/// One message in three writes, with pauses, so they arrive as three reads.
fn pieces(addr: &str) -> Outcome {
    let mut stream = connect(addr, Layer::Raw)?;
    for piece in ["one ", "message, ", "three writes\n"] {
        stream.write_all(piece.as_bytes()).map_err(|e| {
            let what =
                format!("the server stopped reading after the first piece ({})", common::net::describe(&e));
            fail(what, "keep reading until the client closes: one read() is not one message")
        })?;
        // Without the pause, loopback would hand all three to one read().
        thread::sleep(Duration::from_millis(50));
    }
    let got = read_exactly(&mut stream, "one message, three writes\n".len())
        .map_err(|e| fail(e.to_string(), "keep reading: one read() is not one message"))?;
    (got == b"one message, three writes\n")
        .then_some(())
        .ok_or_else(|| fail("the pieces came back changed", "write back exactly what each read() returned"))
}

/// 1 MiB, far more than the socket buffers hold: a server that writes nothing until it has read
/// everything, or that uses `write` (which may write only part) instead of `write_all`, fails.
fn big(addr: &str) -> Outcome {
    let stream = connect(addr, Layer::Raw)?;
    let message: Vec<u8> = (0..1 << 20).map(|i: usize| b'a' + (i % 26) as u8).chain([b'\n']).collect();
    let cannot =
        |e: std::io::Error| fail(format!("cannot use the socket from two threads: {e}"), "tell your teacher");
    let mut writer = stream.try_clone().map_err(cannot)?;
    // Send and receive at once: the echo starts coming back before we have sent it all, and if
    // nobody read it, both sides' buffers would fill and both would wait forever.
    let sending = {
        let message = message.clone();
        thread::spawn(move || writer.write_all(&message))
    };
    let mut reader = stream;
    reader.set_read_timeout(Some(DEADLINE * 5)).map_err(cannot)?;
    let got = read_exactly(&mut reader, message.len());
    let sent = sending.join().map_err(|_| fail("the sending thread failed", "tell your teacher"))?;
    sent.map_err(|e| {
        fail(
            format!("sending 1 MiB failed: {}", common::net::describe(&e)),
            "read while you write: a server that stops reading blocks the client",
        )
    })?;
    let got =
        got.map_err(|e| fail(e.to_string(), "use write_all, and keep reading until the client is done"))?;
    (got == message).then_some(()).ok_or_else(|| {
        fail("the 1 MiB came back changed", "write back every byte, in order (write_all, not write)")
    })
}

fn vanishing(addr: &str) -> Outcome {
    vanish(addr, b"half a mess")?;
    line(addr).map_err(|f| {
        fail(
            format!("after a client vanished: {}", f.what),
            "a read error ends that client only, then accept() the next",
        )
    })
}
