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
//!     listener ready?  accept until WouldBlock (64 a turn at most), register each
//!                      client (READABLE)
//!     client ready?    drive it: read/write until WouldBlock; reregister WRITABLE only
//!                      while bytes wait
//!     every tick       expire(): idle clients, head deadlines
//!     bells rang?      drive those clients too: the hub put lines in their outboxes
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
use mio::{Events, Interest, Poll, Registry, Token, Waker};

use super::bell::{Bell, Board};
use super::{accepted, Accepted, Config, Conn, Status, ACCEPTS_PER_TURN, HOLD_RETRY, SCRATCH, TICK};

const WAKER: Token = Token(0);
/// Listeners' tokens are 1 to this (a lab listens on two ports).
const MAX_LISTENERS: usize = 4;
/// Client tokens start here: a client's token is its slot in the table plus this.
const FIRST_CLIENT: usize = 1 + MAX_LISTENERS;

/// What the loop needs from one protocol: how to make a connection of an accepted socket, how
/// to turn away one over the cap, and where each connection's socket is (to register it).
pub trait Protocol {
    type Conn: Conn;
    fn open(&mut self, stream: TcpStream, peer: SocketAddr, now: Instant) -> Self::Conn;
    /// [`Protocol::open`] for a client of the `side`-th listener of [`serve_many`] (the same,
    /// unless a protocol listens on several ports).
    fn open_on(&mut self, side: usize, stream: TcpStream, peer: SocketAddr, now: Instant) -> Self::Conn {
        let _ = side;
        self.open(stream, peer, now)
    }
    /// Best effort on a fresh socket (its send buffer is empty, so a short write does not block).
    fn refuse(&mut self, stream: TcpStream, max_connections: usize);
    fn socket(conn: &mut Self::Conn) -> Option<&mut TcpStream>;
    /// Looks at the protocol's own clock once a [`TICK`] (the chat's: guests whose arrival grace
    /// is over, `hub::arrivals`). Lines that puts in outboxes ring their connections' bells.
    /// True when it left work due now (a burst taken a share at a time): it is called again on
    /// the next turn, after this turn's outboxes were emptied.
    fn tick(&mut self, now: Instant) -> bool {
        let _ = now;
        false
    }
}

/// A connection in the table, with the interest it is registered with and its bell.
struct Entry<C> {
    conn: C,
    writable: bool,
    bell: Bell,
}

/// Every connection, by slot (a client's token is its slot plus [`FIRST_CLIENT`]).
struct Table<C> {
    slots: Vec<Option<Entry<C>>>,
    free: Vec<usize>,
    open: usize,
}

impl<C: Conn> Table<C> {
    /// The slot the next [`Table::insert`] takes.
    fn next_slot(&self) -> usize {
        self.free.last().copied().unwrap_or(self.slots.len())
    }

    fn insert(&mut self, mut conn: C, bell: Bell) -> usize {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        conn.hang_bell(bell.clone());
        self.slots[slot] = Some(Entry { conn, writable: false, bell });
        self.open += 1;
        slot
    }

    fn remove(&mut self, slot: usize) {
        if self.slots[slot].take().is_some() {
            self.free.push(slot);
            self.open -= 1;
        }
    }

    fn slots_where(&self, mut keep: impl FnMut(&C) -> bool) -> Vec<usize> {
        let entries = self.slots.iter().enumerate();
        entries.filter_map(|(slot, e)| e.as_ref().filter(|e| keep(&e.conn)).map(|_| slot)).collect()
    }

    /// One turn of one connection, then its registration brought up to date: writable only
    /// while bytes wait. Returns its status.
    fn drive<P>(&mut self, slot: usize, registry: &Registry, scratch: &mut [u8], now: Instant) -> Status
    where
        P: Protocol<Conn = C>,
    {
        let Some(entry) = self.slots.get_mut(slot).and_then(Option::as_mut) else { return Status::Closed };
        // This turn takes whatever mail there is: what comes after it rings again.
        entry.bell.answered();
        let status = entry.conn.drive(scratch, now);
        if status == Status::Closed {
            if let Some(socket) = P::socket(&mut entry.conn) {
                let _ = registry.deregister(socket);
            }
            self.remove(slot);
            return status;
        }
        let wants = entry.conn.wants_write();
        if wants != entry.writable {
            let token = Token(slot + FIRST_CLIENT);
            let result = match P::socket(&mut entry.conn) {
                Some(socket) => registry.reregister(socket, token, interest(wants)),
                None => Ok(()),
            };
            match result {
                Ok(()) => entry.writable = wants,
                Err(e) => {
                    warn!("cannot change what a connection waits for: {e}; closing it");
                    self.remove(slot);
                    return Status::Closed;
                }
            }
        }
        status
    }

    /// [`Table::drive`], then notes what the loop owes the connection: another turn without
    /// waiting (`busy`), or a retry of the lines it holds back (`holding`).
    fn turn<P>(&mut self, slot: usize, registry: &Registry, scratch: &mut [u8], now: Instant, owed: &mut Owed)
    where
        P: Protocol<Conn = C>,
    {
        if self.drive::<P>(slot, registry, scratch, now) == Status::Busy && !owed.busy.contains(&slot) {
            owed.busy.push(slot);
        }
        let holds = self.slots.get(slot).and_then(Option::as_ref).is_some_and(|e| e.conn.holds_lines());
        if holds && !owed.holding.contains(&slot) {
            if owed.holding.is_empty() {
                owed.retry_at = now + HOLD_RETRY;
            }
            owed.holding.push(slot);
        }
    }
}

/// Connections the loop must come back to without an event.
struct Owed {
    /// Used up their turn's reads with bytes still waiting.
    busy: Vec<usize>,
    /// Hold lines back (flood control), retried at `retry_at`.
    holding: Vec<usize>,
    retry_at: Instant,
}

/// Serves every client of `listener` from this thread until `shutdown`, then says goodbye to
/// each within `config.grace`.
pub fn serve<P: Protocol>(
    listener: std::net::TcpListener,
    shutdown: &Shutdown,
    config: &Config,
    protocol: P,
) -> io::Result<()> {
    serve_many(vec![listener], shutdown, config, protocol)
}

/// [`serve`] for several listeners (at most [`MAX_LISTENERS`]) on the same thread.
pub fn serve_many<P: Protocol>(
    listeners: Vec<std::net::TcpListener>,
    shutdown: &Shutdown,
    config: &Config,
    mut protocol: P,
) -> io::Result<()> {
    if listeners.len() > MAX_LISTENERS {
        return Err(io::Error::other(format!("one loop serves at most {MAX_LISTENERS} listeners")));
    }
    let mut poll = Poll::new()?;
    let mut sides = Vec::new();
    for (side, listener) in listeners.into_iter().enumerate() {
        // std's listener, switched to non-blocking, handed to mio (which needs its own type to
        // register it on every OS, Windows included).
        listener.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(listener);
        poll.registry().register(&mut listener, Token(1 + side), Interest::READABLE)?;
        sides.push(listener);
    }
    // Ctrl-C's handler runs on another thread: it sets the flag, then wakes this `poll`.
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let stop_waker = waker.clone();
    shutdown.on_trigger(move || {
        let _ = stop_waker.wake();
    });
    // Where outboxes ring when the hub gives a connection work (`bell`).
    let board = Board::new(waker);

    let mut table: Table<P::Conn> = Table { slots: Vec::new(), free: Vec::new(), open: 0 };
    let mut events = Events::with_capacity(1024);
    let mut scratch = vec![0u8; SCRATCH];
    let mut owed = Owed { busy: Vec::new(), holding: Vec::new(), retry_at: Instant::now() };
    let mut ready: Vec<usize> = Vec::new();
    let mut next_tick = Instant::now() + TICK;
    let mut retry_accept = false;
    // Listeners left with clients waiting when their turn's share of accepts ran out.
    let mut accept_more = vec![false; sides.len()];
    let mut tick_again = false;
    let mut stop_by: Option<Instant> = None;

    loop {
        let now = Instant::now();
        let mut timeout = match stop_by {
            _ if !owed.busy.is_empty() => Duration::ZERO,
            Some(deadline) => deadline.saturating_duration_since(now).min(TICK),
            None => next_tick.saturating_duration_since(now),
        };
        if !owed.holding.is_empty() {
            timeout = timeout.min(owed.retry_at.saturating_duration_since(now));
        }
        if tick_again || accept_more.contains(&true) || board.going_to_sleep() {
            timeout = Duration::ZERO; // a bell rang since the last look
        }
        let polled = poll.poll(&mut events, Some(timeout));
        board.awake();
        if let Err(e) = polled {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        let now = Instant::now();
        ready.clear();
        ready.append(&mut owed.busy);
        if !owed.holding.is_empty() && now >= owed.retry_at {
            ready.append(&mut owed.holding); // those still holding come back below
        }
        let retry = std::mem::take(&mut retry_accept);
        let mut accept_now: Vec<bool> =
            accept_more.iter_mut().map(|more| std::mem::take(more) || retry).collect();
        for event in events.iter() {
            match event.token() {
                WAKER => {} // the flag is read below
                Token(token) if token < FIRST_CLIENT => accept_now[token - 1] = true,
                Token(token) => {
                    let slot = token - FIRST_CLIENT;
                    if event.is_readable() || event.is_read_closed() || event.is_error() {
                        if let Some(entry) = table.slots.get_mut(slot).and_then(Option::as_mut) {
                            entry.conn.readable();
                        }
                    }
                    ready.push(slot);
                }
            }
        }
        for (side, listener) in sides.iter().enumerate().filter(|(side, _)| accept_now[*side]) {
            if stop_by.is_some() {
                break;
            }
            // Drain the queue: the listener is reported once for all the clients waiting in it.
            // But a share at a time: while clients keep coming (a flood, a benchmark connecting
            // 10,000), an accept loop that waits for `WouldBlock` would never end, and the clients
            // already here would wait for their turn until the hub gave them up as stalled.
            for taken in 0.. {
                if taken == ACCEPTS_PER_TURN {
                    accept_more[side] = true;
                    break;
                }
                match accepted(listener.accept()) {
                    Accepted::Client(mut stream, peer) => {
                        if table.open >= config.max_connections {
                            warn!("refusing {peer}: {} clients already connected", config.max_connections);
                            protocol.refuse(stream, config.max_connections);
                            continue;
                        }
                        let slot = table.next_slot();
                        if let Err(e) = poll.registry().register(
                            &mut stream,
                            Token(slot + FIRST_CLIENT),
                            Interest::READABLE,
                        ) {
                            warn!("cannot watch {peer}: {e}; closing it");
                            continue;
                        }
                        // Bytes may have come with the connection; the registration reports them.
                        let conn = protocol.open_on(side, stream, peer, now);
                        let inserted = table.insert(conn, board.bell(slot));
                        debug_assert_eq!(inserted, slot);
                        info!("accepted {peer}: {} connection(s) on this thread", table.open);
                        ready.push(slot);
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
            info!("stopping: no more clients accepted; telling {} connection(s) goodbye", table.open);
            for listener in &mut sides {
                let _ = poll.registry().deregister(listener);
            }
            stop_by = Some(now + config.grace);
            for entry in table.slots.iter_mut().flatten() {
                entry.conn.stop();
            }
            ready.extend(table.slots_where(|_| true));
        }
        if now >= next_tick || tick_again {
            // Its work lands in outboxes, whose bells ring: delivered below, this turn.
            tick_again = protocol.tick(now);
        }
        if now >= next_tick {
            next_tick = now + TICK;
            for (slot, entry) in table.slots.iter_mut().enumerate() {
                if let Some(entry) = entry {
                    if entry.conn.expire(now, config) {
                        ready.push(slot);
                    }
                }
            }
        }
        for &slot in &ready {
            table.turn::<P>(slot, poll.registry(), &mut scratch, now, &mut owed);
        }
        // Work that came from elsewhere than a socket (the hub's lines for other members, a
        // kick): the connections whose bells rang during this turn, and once more for what
        // driving them caused. What rings after that waits for the next turn, which does not sleep.
        for _ in 0..2 {
            let rung = board.take();
            if rung.is_empty() {
                break;
            }
            for slot in rung {
                table.turn::<P>(slot, poll.registry(), &mut scratch, now, &mut owed);
            }
        }
        if let Some(deadline) = stop_by {
            if table.open == 0 || now >= deadline {
                if table.open > 0 {
                    warn!(
                        "{} connection(s) still had bytes to send after the grace period: closed",
                        table.open
                    );
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
