//! Lesson 3's loop, generalised: the accept loop of every thread-per-connection server from
//! lesson 4 on (the chat, the HTTP and WebSocket servers).
//!
//! It is `lessons::threaded_echo::run` with two holes: what to do with a client (`serve`) and
//! what to tell the one over the cap (`refuse`). The threads are kept in [`Workers`]: spawned
//! with a name and [`STACK_SIZE`], counted for the cap, joined on shutdown.

use std::collections::BTreeMap;
use std::io;
use std::net::{Shutdown as Both, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use common::trace::{Layer, Traced};
use common::Shutdown;
use log::{info, warn};

use crate::lessons::echo::accept;
pub use crate::lessons::threaded_echo::STACK_SIZE;

/// Accept, hand the client to a thread of its own, go straight back to `accept`. Past
/// `max_connections` clients at once, `refuse` tells the next one why it cannot be served. On
/// `shutdown` it stops accepting and joins every thread. Each connection is wrapped for
/// `--trace` as `layer`, the protocol the server speaks (see `common::trace`).
pub fn accept_loop(
    listener: &TcpListener,
    shutdown: &Shutdown,
    layer: Layer,
    max_connections: usize,
    refuse: impl Fn(Traced<TcpStream>, SocketAddr),
    serve: impl Fn(Traced<TcpStream>, SocketAddr) + Send + Sync + 'static,
) -> io::Result<()> {
    accept_loop_with(listener, shutdown, layer, max_connections, None, refuse, serve)
}

/// [`accept_loop`], where a connection that only waits (see [`Idle`]) does not hold a place
/// that an arriving client needs: at the cap, the one that has waited longest is closed instead
/// of refusing the newcomer. Only connections doing something count against the cap.
pub fn accept_loop_with(
    listener: &TcpListener,
    shutdown: &Shutdown,
    layer: Layer,
    max_connections: usize,
    idle: Option<&Idle>,
    refuse: impl Fn(Traced<TcpStream>, SocketAddr),
    serve: impl Fn(Traced<TcpStream>, SocketAddr) + Send + Sync + 'static,
) -> io::Result<()> {
    shutdown.wake_on_trigger(listener)?;
    let addr = listener.local_addr()?;
    let serve = Arc::new(serve);
    let mut workers = Workers::new();
    // `--tls`: each connection sealed, its handshake run on its own thread (see crate::tls).
    let tls = crate::tls::config_for(listener);
    loop {
        let accepted = accept(listener);
        if shutdown.is_triggered() {
            break;
        }
        let Some((stream, peer)) = accepted else { continue };
        let stream = crate::tls::wrap(stream, layer, tls.as_ref());
        let busy = workers.live();
        if busy >= max_connections && idle.is_some_and(Idle::close_oldest) {
            info!("made room for {peer}: closed the connection that had waited longest for a request");
        } else if busy >= max_connections {
            warn!("refusing {peer}: {max_connections} clients already connected");
            refuse(stream, peer);
            continue;
        }
        info!("accepted {peer}: thread {} of at most {max_connections}", busy + 1);
        let serve = serve.clone();
        let sealed = tls.is_some();
        let work = move || {
            if crate::tls::handshake(&stream, peer, layer, sealed) {
                serve(stream, peer)
            }
        };
        if let Err(e) = workers.spawn(format!("client {peer}"), work) {
            // The closure, and with it the stream, is dropped: the client sees the connection close.
            warn!("cannot start a thread for {peer}: {e}");
        }
    }
    // Logged after the joins, not before: the connection threads say goodbye while this one
    // waits, so a line logged before them would land among theirs, elsewhere on every run. And
    // the count is every thread this loop started (each joined, now or when it ended), not how
    // many were still running: that would depend on which thread the Ctrl-C woke first.
    let started = workers.join_all();
    crate::tls::forget(listener);
    info!("stopped accepting on {addr}: {started} connection thread(s) started, all joined");
    Ok(())
}

/// The connections of one server that are waiting for a request: a keep-alive connection
/// between two requests, or a new one that has sent nothing yet. A browser keeps several open
/// per site, and a client can open hundreds and say nothing: each holds a thread for the idle
/// timeout. At the connection cap they make room ([`accept_loop_with`]): closing a keep-alive
/// connection between requests is allowed at any time (RFC 9112 §9.8), and clients open a new
/// one.
#[derive(Default)]
pub struct Idle {
    /// By arrival: the first is the one that has waited longest.
    waiting: Mutex<BTreeMap<u64, TcpStream>>,
    next: AtomicU64,
}

/// A connection's place in [`Idle`] while it waits; dropping it (the request came) takes it out.
pub struct Waiting<'a> {
    idle: &'a Idle,
    id: u64,
}

impl Idle {
    /// `stream` waits for a request from now until the returned guard is dropped.
    pub fn wait(&self, stream: &TcpStream) -> Option<Waiting<'_>> {
        let handle = stream.try_clone().ok()?;
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, handle);
        Some(Waiting { idle: self, id })
    }

    /// Closes the connection that has waited longest (its `read` returns at once, and its
    /// thread ends); false when none is waiting.
    pub fn close_oldest(&self) -> bool {
        let Some((_, stream)) = self.lock().pop_first() else { return false };
        let _ = stream.shutdown(Both::Both);
        true
    }

    /// How many connections wait right now.
    pub fn count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, TcpStream>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.idle.lock().remove(&self.id);
    }
}

/// The connection threads of one server.
#[derive(Default)]
pub struct Workers {
    handles: Vec<JoinHandle<()>>,
    /// Every thread ever started, the finished ones included.
    started: usize,
}

impl Workers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts `work` on its own thread named `name` (the name shows in `top -H` and in panics).
    pub fn spawn(&mut self, name: String, work: impl FnOnce() + Send + 'static) -> io::Result<()> {
        self.reap();
        let handle = thread::Builder::new().name(name).stack_size(STACK_SIZE).spawn(work)?;
        self.handles.push(handle);
        self.started += 1;
        Ok(())
    }

    /// How many threads are still running.
    pub fn live(&mut self) -> usize {
        self.reap();
        self.handles.len()
    }

    /// Waits for every thread. Call it after `shutdown` fired: handlers see their reads end and
    /// say goodbye; one stuck in a write has its socket closed under it after
    /// `common::shutdown::GRACE`, so this returns within about a second. Returns how many
    /// threads were ever started: all of them have been joined now.
    pub fn join_all(mut self) -> usize {
        self.handles.drain(..).for_each(join);
        self.started
    }

    fn reap(&mut self) {
        let (done, running): (Vec<_>, Vec<_>) = self.handles.drain(..).partition(|h| h.is_finished());
        self.handles = running;
        done.into_iter().for_each(join);
    }
}

fn join(handle: JoinHandle<()>) {
    let name = handle.thread().name().unwrap_or("connection").to_string();
    if handle.join().is_err() {
        // The panic message is already on stderr; the server itself keeps going.
        log::error!("thread {name} panicked; its client was dropped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    #[test]
    fn join_all_counts_every_thread_started_whether_it_ended_early_or_not() {
        let mut workers = Workers::new();
        workers.spawn("ends at once".into(), || {}).expect("a thread");
        // Wait (bounded) until it has ended and been reaped, as a departed client's thread is.
        let deadline = Instant::now() + Duration::from_secs(3);
        while workers.live() > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(workers.live(), 0, "the first thread ended within 3 s");
        let (release, wait) = mpsc::channel::<()>();
        workers
            .spawn("waits".into(), move || {
                let _ = wait.recv();
            })
            .expect("a thread");
        assert_eq!(workers.live(), 1, "one thread still running, as at a Ctrl-C");
        drop(release);
        assert_eq!(workers.join_all(), 2);
    }
}
