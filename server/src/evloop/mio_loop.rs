//! The one-thread loop on `mio`: the OS's scalable readiness API (epoll on Linux, kqueue on
//! macOS and the BSDs, IOCP on Windows) behind one call, `Poll::poll`.
//!
//! Where `poll(2)` hands the kernel the whole list of sockets on every call and scans it back
//! (chapter 14's first loop), here each socket is *registered* once with the interest it has,
//! and `poll` returns only the sockets that became ready: the cost of a wake-up follows the
//! number of busy connections, not the number of open ones.
//!
//! ```text
//! register(listener, READABLE); register(waker)
//! loop {
//!     poll(events, timeout)           <- sleeps until something is ready, or the next tick
//!     listener ready?  accept until WouldBlock, register each client (READABLE)
//!     client ready?    drive it: read/write until WouldBlock; reregister WRITABLE only
//!                      while bytes wait
//!     every tick       expire(): idle clients, head deadlines
//!     waker?           Ctrl-C: stop accepting, queue goodbyes, flush for the grace period
//! }
//! ```
//!
//! mio's readiness is edge-triggered: a socket is reported when it *becomes* ready, not while it
//! stays ready. So a connection must always read (or write) until `WouldBlock` before it waits,
//! or it would never hear of those bytes again; one that stops early on purpose (its turn's
//! budget) says [`Status::Busy`] and is driven again without waiting.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Shutdown;
use log::{info, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use super::{accepted, Accepted, Config, Conn, Status, SCRATCH, TICK};

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
/// Client tokens start here: a client's token is its slot in the table plus this.
const FIRST_CLIENT: usize = 2;

/// What the loop needs from one protocol: how to make a connection of an accepted socket, how
/// to turn away one over the cap, and where each connection's socket is (to register it).
pub trait Protocol {
    type Conn: Conn;
    fn open(&mut self, stream: TcpStream, peer: SocketAddr, now: Instant) -> Self::Conn;
    /// Best effort on a fresh socket (its send buffer is empty, so a short write does not block).
    fn refuse(&mut self, stream: TcpStream, max_connections: usize);
    fn socket(conn: &mut Self::Conn) -> Option<&mut TcpStream>;
}

/// A connection in the table, with the interest it is registered with.
struct Entry<C> {
    conn: C,
    writable: bool,
}

/// Serves every client of `listener` from this thread until `shutdown`, then says goodbye to
/// each within `config.grace`.
pub fn serve<P: Protocol>(
    listener: std::net::TcpListener,
    shutdown: &Shutdown,
    config: &Config,
    mut protocol: P,
) -> io::Result<()> {
    // std's listener, switched to non-blocking, handed to mio (which needs its own type to
    // register it on every OS, Windows included).
    listener.set_nonblocking(true)?;
    let mut listener = TcpListener::from_std(listener);
    let mut poll = Poll::new()?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    // Ctrl-C's handler runs on another thread: it sets the flag, then wakes this `poll`.
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    shutdown.on_trigger(move || {
        let _ = waker.wake();
    });

    let mut table: Vec<Option<Entry<P::Conn>>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut open = 0usize;
    let mut events = Events::with_capacity(1024);
    let mut scratch = vec![0u8; SCRATCH];
    let mut busy: Vec<usize> = Vec::new();
    let mut ready: Vec<usize> = Vec::new();
    let mut next_tick = Instant::now() + TICK;
    let mut retry_accept = false;
    let mut stop_by: Option<Instant> = None;

    loop {
        let now = Instant::now();
        let timeout = match stop_by {
            _ if !busy.is_empty() => Duration::ZERO,
            Some(deadline) => deadline.saturating_duration_since(now).min(TICK),
            None => next_tick.saturating_duration_since(now),
        };
        if let Err(e) = poll.poll(&mut events, Some(timeout)) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        let now = Instant::now();
        ready.clear();
        ready.append(&mut busy);
        let mut accept_now = std::mem::take(&mut retry_accept);
        for event in events.iter() {
            match event.token() {
                LISTENER => accept_now = true,
                WAKER => {} // the flag is read below
                Token(token) => ready.push(token - FIRST_CLIENT),
            }
        }
        if accept_now && stop_by.is_none() {
            // Drain the queue: the listener is reported once for all the clients waiting in it.
            loop {
                match accepted(listener.accept()) {
                    Accepted::Client(mut stream, peer) => {
                        if open >= config.max_connections {
                            warn!("refusing {peer}: {} clients already connected", config.max_connections);
                            protocol.refuse(stream, config.max_connections);
                            continue;
                        }
                        let slot = free.pop().unwrap_or_else(|| {
                            table.push(None);
                            table.len() - 1
                        });
                        let token = Token(slot + FIRST_CLIENT);
                        if let Err(e) = poll.registry().register(&mut stream, token, Interest::READABLE) {
                            warn!("cannot watch {peer}: {e}; closing it");
                            free.push(slot);
                            continue;
                        }
                        open += 1;
                        info!("accepted {peer}: {open} connection(s) on this thread");
                        table[slot] = Some(Entry { conn: protocol.open(stream, peer, now), writable: false });
                        // Bytes may have come with the connection; the registration reports them.
                    }
                    Accepted::Drained => break,
                    Accepted::Skip => continue,
                    Accepted::Failed => {
                        retry_accept = true;
                        break;
                    }
                }
            }
        }
        if shutdown.is_triggered() && stop_by.is_none() {
            info!("stopping: no more clients accepted; telling {open} connection(s) goodbye");
            let _ = poll.registry().deregister(&mut listener);
            stop_by = Some(now + config.grace);
            for (slot, entry) in table.iter_mut().enumerate() {
                if let Some(entry) = entry {
                    entry.conn.stop();
                    ready.push(slot);
                }
            }
        }
        if now >= next_tick {
            next_tick = now + TICK;
            for (slot, entry) in table.iter_mut().enumerate() {
                if let Some(entry) = entry {
                    if entry.conn.expire(now, config) {
                        ready.push(slot);
                    }
                }
            }
        }
        for &slot in &ready {
            let Some(entry) = table.get_mut(slot).and_then(Option::as_mut) else { continue };
            match entry.conn.drive(&mut scratch, now) {
                Status::Closed => {
                    if let Some(socket) = P::socket(&mut entry.conn) {
                        let _ = poll.registry().deregister(socket);
                    }
                    table[slot] = None;
                    free.push(slot);
                    open -= 1;
                }
                status => {
                    if status == Status::Busy && !busy.contains(&slot) {
                        busy.push(slot);
                    }
                    let wants = entry.conn.wants_write();
                    if wants == entry.writable {
                        continue;
                    }
                    let token = Token(slot + FIRST_CLIENT);
                    let result = match P::socket(&mut entry.conn) {
                        Some(socket) => poll.registry().reregister(socket, token, interest(wants)),
                        None => Ok(()),
                    };
                    match result {
                        Ok(()) => entry.writable = wants,
                        Err(e) => {
                            warn!("cannot change what a connection waits for: {e}; closing it");
                            table[slot] = None;
                            free.push(slot);
                            open -= 1;
                        }
                    }
                }
            }
        }
        if let Some(deadline) = stop_by {
            if open == 0 || now >= deadline {
                if open > 0 {
                    warn!("{open} connection(s) still had bytes to send after the grace period: closed");
                }
                break;
            }
        }
    }
    Ok(())
}

/// Readable always; writable too while bytes wait. (A socket with room in its send buffer is
/// writable almost all the time: asking for it with nothing to send would wake the loop for
/// nothing.)
fn interest(writable: bool) -> Interest {
    if writable {
        Interest::READABLE | Interest::WRITABLE
    } else {
        Interest::READABLE
    }
}
