//! The grader for chapter 14's exercise: the echo server on one thread.
//!
//! Everything the threaded echo's grader checks, and then what tells a loop that serves everyone
//! from a "one-thread" server that in fact waits on one client somewhere:
//! - fifty clients connect, all send, and all must get their echo within the deadline (a server
//!   that blocks in one client's `read` answers the first and leaves the rest waiting);
//! - a client that sends a lot and never reads must not hold anybody up (a server that blocks
//!   in `write_all` to it, or that buffers without end, stops serving the others).

use std::io::Write;
use std::time::{Duration, Instant};

use common::trace::Layer;
use socket2::{Domain, Socket, Type};

use super::{check, echo, fail, read_exactly, send, threaded_echo, Check, Outcome, Target, DEADLINE};

/// Clients that must be served at once.
pub const CLIENTS: usize = 50;

/// What the client that stops reading sends, in 64 KiB chunks, at most (16 MiB): it stops
/// earlier once a write of its own waits 300 ms (the server stopped reading it), or after
/// [`STALLING_TIME`].
pub const STALLED_CHUNKS: usize = 256;

/// How long the client that stops reading may go on writing before the fifty talk.
const STALLING_TIME: Duration = Duration::from_secs(3);

pub fn checks() -> Vec<Check> {
    let mut checks = threaded_echo::checks();
    checks.push(check("50 clients are served at once", fifty_at_once));
    checks.push(check("a client that stops reading holds up nobody", stalled_beside_fifty));
    checks
}

/// A client waited while the others were connected: the loop blocked in one client's read.
pub const AT_ONCE: &str = "never wait for one client: read only sockets that are ready, until WouldBlock";
/// The fifty waited behind a client that stopped reading: the loop blocked in a write.
pub const STALLED: &str = "keep the bytes a write did not take, ask for writable, and stop reading a client \
                           whose buffer is full: never write_all on a non-blocking socket";

pub const HINTS: &[&str] = &[AT_ONCE, STALLED];

fn fifty_at_once(target: &Target) -> Outcome {
    let mut clients = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        clients.push(target.connect(Layer::Raw)?);
    }
    // Everyone is connected before anyone is answered; the last one speaks first.
    for (i, client) in clients.iter_mut().enumerate().rev() {
        send(client, format!("client {i:02}\n").as_bytes());
    }
    for (i, client) in clients.iter_mut().enumerate() {
        let echo = read_exactly(client, 10).map_err(|e| {
            fail(format!("client {i} of {CLIENTS} got no echo while the others were connected: {e}"), AT_ONCE)
        })?;
        if echo != format!("client {i:02}\n").as_bytes() {
            return Err(fail(format!("client {i} got {:?}", String::from_utf8_lossy(&echo)), echo::CHANGED));
        }
    }
    Ok(())
}

fn stalled_beside_fifty(target: &Target) -> Outcome {
    let stalled = stalled_client(&target.addr)
        .map_err(|e| fail(format!("cannot connect a slow client: {e}"), super::hint::CHECKER))?;
    // Far more than the buffers on the way hold (Linux lets a socket's send buffer grow to
    // 4 MiB), and never read: its echoes back up until the server's write would block.
    let chunk = vec![b'x'; 64 * 1024];
    let started = Instant::now();
    for _ in 0..STALLED_CHUNKS {
        if (&stalled).write_all(&chunk).is_err() || started.elapsed() > STALLING_TIME {
            break; // our write timed out: every buffer on the way is full
        }
    }
    fifty_at_once(target)
        .map_err(|f| fail(format!("beside a client that stopped reading: {}", f.what), STALLED))
}

/// A client with a tiny receive buffer, whose writes give up after a moment.
fn stalled_client(addr: &str) -> std::io::Result<std::net::TcpStream> {
    let target = common::net::resolve(addr).map_err(std::io::Error::other)?[0];
    let socket = Socket::new(Domain::for_address(target), Type::STREAM, None)?;
    socket.set_recv_buffer_size(4096)?;
    socket.connect_timeout(&target.into(), DEADLINE)?;
    let stream: std::net::TcpStream = socket.into();
    stream.set_write_timeout(Some(Duration::from_millis(300)))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}
