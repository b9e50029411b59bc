//! Lesson 14, server side: the echo server on one thread, with `poll(2)` called by hand.
//!
//! Lesson 3 gave every client a thread that sleeps in its own `read()`. Here one thread asks the
//! kernel a single question for all of them: *which of these sockets can I read or write without
//! waiting?* That question is `poll(2)`; Beej's guide asks it in C, and this is the same call
//! through `rustix`'s thin safe wrapper. Every socket is std's, switched to non-blocking, so
//! that no `accept`, `read` or `write` ever waits: where it would, it returns `WouldBlock`.
//!
//! ```text
//! loop {
//!     fds = [listener: IN, wake pipe: IN, each client: IN (+ OUT while bytes wait)]   O(n)
//!     poll(fds, tick)          <- the only place the thread sleeps
//!     scan fds for revents                                                         O(n)
//!     listener ready?  accept until WouldBlock
//!     client ready?    read/write until WouldBlock (crate::evloop::echo)
//!     wake pipe ready? Ctrl-C: goodbyes, flushed for the grace period
//! }
//! ```
//!
//! The list goes to the kernel and back on every call, and both sides scan all of it: at
//! 10,000 connections that is 10,000 entries per wake-up even when one client spoke. The `mio`
//! version (`one_thread_echo`) registers each socket once instead.

#[cfg(unix)]
pub use unix::run;

/// `poll(2)` is a Unix call (Windows' `WSAPoll` differs): elsewhere, say what to run instead.
#[cfg(not(unix))]
pub fn run(
    _listener: std::net::TcpListener,
    _shutdown: &common::Shutdown,
    _config: &crate::evloop::Config,
) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "the poll(2) lesson runs on Linux and macOS only; `cargo server one-thread-echo` is the same \
         server on mio, which runs here",
    ))
}

#[cfg(unix)]
mod unix {
    use std::io::{self, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::unix::net::UnixStream;
    use std::time::{Duration, Instant};

    use common::trace::{Layer, Traced};
    use common::Shutdown;
    use log::{info, warn};
    use rustix::event::{poll, PollFd, PollFlags, Timespec};

    use crate::evloop::echo::Echo;
    use crate::evloop::{accepted, busy_notice, Accepted, Config, Conn, Status, SCRATCH, TICK};

    /// Serves every echo client from this thread until `shutdown`.
    pub fn run(listener: TcpListener, shutdown: &Shutdown, config: &Config) -> io::Result<()> {
        listener.set_nonblocking(true)?;
        // The self-pipe: Ctrl-C's handler (another thread) writes a byte, which makes this end
        // readable and ends the `poll` below. A flag alone would wait for the next tick.
        let (wake_rx, wake_tx) = UnixStream::pair()?;
        wake_rx.set_nonblocking(true)?;
        wake_tx.set_nonblocking(true)?;
        shutdown.on_trigger(move || {
            let _ = (&wake_tx).write(&[1]);
        });
        info!(
            "one-thread echo server listening on {}, every client on this thread (poll), at most {} at once",
            listener.local_addr()?,
            config.max_connections
        );
        let mut clients: Vec<Echo<Traced<TcpStream>>> = Vec::new();
        let mut scratch = vec![0u8; SCRATCH];
        let mut next_tick = Instant::now() + TICK;
        let mut stop_by: Option<Instant> = None;
        // After `accept` failed for want of something (EMFILE), the listener is left out of the
        // set for a tick: it stays readable, and `poll` would return at once, again and again.
        let mut accept_after = Instant::now();
        loop {
            // 1. What we wait for, rebuilt each turn: the interests change as buffers fill.
            let mut fds = Vec::with_capacity(clients.len() + 2);
            let accepting = stop_by.is_none() && Instant::now() >= accept_after;
            fds.push(PollFd::new(&listener, if accepting { PollFlags::IN } else { PollFlags::empty() }));
            fds.push(PollFd::new(&wake_rx, PollFlags::IN));
            for client in &clients {
                let mut flags = PollFlags::empty();
                if client.wants_read() {
                    flags |= PollFlags::IN;
                }
                // Only while bytes wait: an empty socket is writable all the time, and asking
                // for OUT then would make every `poll` return at once.
                if client.wants_write() {
                    flags |= PollFlags::OUT;
                }
                fds.push(PollFd::new(&**client.stream(), flags));
            }
            // 2. The one call that sleeps.
            let now = Instant::now();
            let wait = next_tick.saturating_duration_since(now).min(TICK);
            match poll(&mut fds, Some(&timespec(wait))) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
            // 3. The scan: which entries came back with events (HUP and ERR count: the next
            // read or write says what happened).
            let ready: Vec<bool> = fds.iter().map(|fd| !fd.revents().is_empty()).collect();
            drop(fds);
            let now = Instant::now();
            if ready[1] {
                let mut byte = [0u8; 16];
                while matches!((&wake_rx).read(&mut byte), Ok(n) if n > 0) {}
            }
            if ready[0] && stop_by.is_none() && !accept_all(&listener, &mut clients, config, now) {
                accept_after = now + TICK;
            }
            if shutdown.is_triggered() && stop_by.is_none() {
                info!("stopping: no more clients accepted; telling {} connection(s) goodbye", clients.len());
                stop_by = Some(now + config.grace);
                clients.iter_mut().for_each(Conn::stop);
            }
            let tick = now >= next_tick;
            if tick {
                next_tick = now + TICK;
            }
            // 4. Drive the ready ones; drop the finished ones. A `Busy` client keeps its readiness
            // (poll is level-triggered) and is driven again next turn.
            let mut index = 2;
            clients.retain_mut(|client| {
                let mut drive = ready.get(index).copied().unwrap_or(false);
                index += 1;
                drive |= stop_by.is_some() || (tick && client.expire(now, config));
                !drive || client.drive(&mut scratch, now) != Status::Closed
            });
            if let Some(deadline) = stop_by {
                if clients.is_empty() || now >= deadline {
                    if !clients.is_empty() {
                        warn!(
                            "{} connection(s) still had bytes to send after the grace period: closed",
                            clients.len()
                        );
                    }
                    break;
                }
            }
        }
        info!("one-thread echo server stopped");
        Ok(())
    }

    /// Accepts until `WouldBlock`: one readable listener can stand for many waiting clients.
    /// `false` when `accept` itself failed (see [`Accepted::Failed`]).
    fn accept_all(
        listener: &TcpListener,
        clients: &mut Vec<Echo<Traced<TcpStream>>>,
        config: &Config,
        now: Instant,
    ) -> bool {
        loop {
            match accepted(listener.accept()) {
                Accepted::Client(stream, peer) => {
                    if clients.len() >= config.max_connections {
                        warn!("refusing {peer}: {} clients already connected", config.max_connections);
                        let _ = (&stream).write(busy_notice(config.max_connections).as_bytes());
                        continue;
                    }
                    // An accepted socket does not inherit non-blocking on every OS: set it.
                    if let Err(e) = stream.set_nonblocking(true) {
                        warn!("cannot make {peer}'s socket non-blocking: {e}; closing it");
                        continue;
                    }
                    clients.push(Echo::new(Traced::new(stream, Layer::Raw), peer, now));
                    info!("accepted {peer}: {} connection(s) on this thread", clients.len());
                }
                Accepted::Drained => return true,
                Accepted::Failed => return false,
                Accepted::Skip => continue,
            }
        }
    }

    fn timespec(wait: Duration) -> Timespec {
        Timespec { tv_sec: wait.as_secs() as _, tv_nsec: wait.subsec_nanos() as _ }
    }
}
