//! The threads of a thread-per-connection server: spawned with a deliberate stack size,
//! counted (for the connection cap) and joined on shutdown.

use std::io;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::Shutdown;

/// Stack reserved for each connection thread. The default is 2 MiB, far more than a handler
/// that keeps its buffers on the heap needs. The reservation is virtual memory: only the pages a
/// thread touches count in RSS, but a smaller reservation still lets many more threads fit in
/// the address space and keeps the kernel's page tables small.
pub const STACK_SIZE: usize = 128 * 1024;

/// How long `join_all` lets handlers say goodbye before it closes their sockets under them.
pub const GRACE: Duration = Duration::from_millis(500);

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
