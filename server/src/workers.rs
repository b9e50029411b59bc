//! The threads of a thread-per-connection server: spawned with a deliberate stack size,
//! counted (for the connection cap) and joined on shutdown.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::Shutdown;
use log::{debug, info, warn};

/// Stack reserved for each connection thread. The default is 2 MiB, far more than a handler
/// that keeps its buffers on the heap needs. The reservation is virtual memory: only the pages a
/// thread touches count in RSS, but a smaller reservation still lets many more threads fit in
/// the address space and keeps the kernel's page tables small.
pub const STACK_SIZE: usize = 128 * 1024;

/// How long the accept loop waits after `accept` itself failed (out of file descriptors, say),
/// so that it does not spin while the condition lasts.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// How long `join_all` lets handlers say goodbye before it closes their sockets under them.
pub const GRACE: Duration = Duration::from_millis(500);

/// The accept loop of every thread-per-connection server (lesson 3 and all that follow): accept,
/// hand the client to a thread of its own, go straight back to `accept`. Past `max_connections`
/// clients at once, `refuse` tells the next one why it cannot be served. On `shutdown` it stops
/// accepting and joins every thread.
pub fn accept_loop(
    listener: &TcpListener,
    shutdown: &Shutdown,
    max_connections: usize,
    refuse: impl Fn(TcpStream, SocketAddr),
    serve: impl Fn(TcpStream, SocketAddr) + Send + Sync + 'static,
) -> io::Result<()> {
    shutdown.wake_on_trigger(listener)?;
    let serve = std::sync::Arc::new(serve);
    let mut workers = Workers::new();
    for incoming in listener.incoming() {
        if shutdown.is_triggered() {
            break;
        }
        let Some((stream, peer)) = accepted(incoming) else { continue };
        let busy = workers.live();
        if busy >= max_connections {
            warn!("refusing {peer}: {max_connections} clients already connected");
            refuse(stream, peer);
            continue;
        }
        info!("accepted {peer}: thread {} of at most {max_connections}", busy + 1);
        let serve = serve.clone();
        if let Err(e) = workers.spawn(format!("client {peer}"), move || serve(stream, peer)) {
            // The closure, and with it the stream, is dropped: the client sees the connection close.
            warn!("cannot start a thread for {peer}: {e}");
        }
    }
    info!("stopping: {} client(s) still connected", workers.live());
    workers.join_all(shutdown);
    Ok(())
}

/// The stream and its peer's address, or `None` (logged) when accepting failed.
///
/// Two failures look alike and are not. A peer that connected and reset before we got to it
/// (killed, or hostile) still comes out of `accept`, but `peer_addr` then fails: that is the
/// peer's problem, worth a debug line and nothing more. A failing `accept` itself usually means
/// this process is out of something (file descriptors: `EMFILE`), and trying again at once would
/// spin: back off a little.
pub fn accepted(incoming: io::Result<TcpStream>) -> Option<(TcpStream, SocketAddr)> {
    let stream = match incoming {
        Ok(stream) => stream,
        Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset) => {
            debug!("a client gave up while it waited to be accepted: {e}");
            return None;
        }
        Err(e) => {
            warn!("accept() failed: {e}; retrying in {} ms", ACCEPT_BACKOFF.as_millis());
            thread::sleep(ACCEPT_BACKOFF);
            return None;
        }
    };
    match stream.peer_addr() {
        Ok(peer) => Some((stream, peer)),
        Err(e) => {
            debug!("a client reset its connection before we looked at it: {e}");
            None
        }
    }
}

/// The connection threads of one server.
#[derive(Default)]
pub struct Workers {
    handles: Vec<JoinHandle<()>>,
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
        Ok(())
    }

    /// How many threads are still running.
    pub fn live(&mut self) -> usize {
        self.reap();
        self.handles.len()
    }

    /// Waits for every thread. Call it after `shutdown` fired: handlers see their reads end and
    /// say goodbye; whoever is still running after [`GRACE`] gets its socket closed under it.
    pub fn join_all(mut self, shutdown: &Shutdown) {
        let deadline = Instant::now() + GRACE;
        while self.live() > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        if !self.handles.is_empty() {
            log::warn!("{} connection(s) still busy after {:?}: closing them", self.handles.len(), GRACE);
            shutdown.close_all();
        }
        for handle in self.handles.drain(..) {
            join(handle);
        }
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
