//! Ctrl-C, turned into a handle that every accept loop and every connection watches.
//!
//! Stopping a blocking server is harder than it looks. A thread blocked in `accept()` or in
//! `read()` does not look at any flag: it sleeps in the kernel until a connection or some bytes
//! arrive. And Ctrl-C does not run `Drop`; the process just dies unless someone catches the
//! signal. So [`Shutdown`] does three things when it is triggered:
//!
//! 1. it sets a flag that loops check between blocking calls;
//! 2. it *wakes* every listener it was told about by connecting to it, so the blocked
//!    `accept()` returns, the loop sees the flag and stops;
//! 3. it shuts down the read half of every connection it watches, so a blocked `read()` returns
//!    `0` ("end of stream"), the handler sees the flag, says goodbye to its client and returns.
//!
//! A handler stuck in a `write` to a client that stopped reading would never get there: [`GRACE`]
//! after the trigger, every connection still watched is shut down completely, so that `write`
//! fails and every thread can be joined.
use std::borrow::Borrow;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown as Half, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// How long handlers have, after the trigger, to say goodbye before their sockets are closed
/// under them: counted from the last one that finished, while they keep finishing.
pub const GRACE: Duration = Duration::from_millis(500);
/// The grace never runs past this, however busy the machine: then every socket still watched
/// is closed.
pub const LAST_CALL: Duration = Duration::from_millis(1500);

/// A cloneable stop signal for one server. Every clone is the same signal.
#[derive(Clone, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Checked on every loop turn, so it is an atomic rather than a lock.
    triggered: AtomicBool,
    state: Mutex<State>,
    /// Wakes threads that wait on the signal itself (see [`Shutdown::wait_timeout`]).
    changed: Condvar,
}

#[derive(Default)]
struct State {
    listeners: Vec<SocketAddr>,
    connections: HashMap<u64, Handle>,
    next_id: u64,
    /// Run on trigger, for whatever waits on something other than a socket (a condition
    /// variable, a channel).
    callbacks: Vec<Arc<dyn Fn() + Send + Sync>>,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// Triggers this signal on Ctrl-C (SIGINT), and on SIGTERM where there is one. A process can
    /// install this once; a second call returns an error.
    pub fn trigger_on_ctrl_c(&self) -> Result<(), String> {
        let shutdown = self.clone();
        ctrlc::set_handler(move || {
            log::info!("Ctrl-C: shutting down");
            shutdown.trigger();
        })
        .map_err(|e| format!("cannot catch Ctrl-C: {e}"))
    }

    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::SeqCst)
    }

    /// Stops everything that watches this signal. Safe to call more than once, from any thread.
    pub fn trigger(&self) {
        let state = self.lock();
        if self.inner.triggered.swap(true, Ordering::SeqCst) {
            return;
        }
        let listeners = state.listeners.clone();
        let callbacks = state.callbacks.clone();
        drop(state);
        // The order matters under load. Waking the connections' readers makes hundreds of
        // threads runnable at once, and then anything else this thread still has to do (take a
        // contended lock, connect to a listener) waits its turn among them, for a second or more
        // on two cores. So first what wakes few threads: the waits and the accept loops.
        self.inner.changed.notify_all();
        callbacks.iter().for_each(|callback| callback());
        listeners.into_iter().for_each(knock);
        for handle in self.lock().connections.values() {
            // `read()` on this socket now returns 0 at once; writing still works, so the
            // handler can still send its goodbye.
            handle.shutdown(Half::Read);
        }
        let late = self.clone();
        let armed =
            std::thread::Builder::new().name("shutdown grace".into()).spawn(move || late.close_stuck());
        if let Err(e) = armed {
            log::warn!("cannot start the shutdown timer ({e}): closing every connection now");
            self.close_all();
        }
    }

    /// Runs `callback` when the signal fires (at once, if it already has). For threads that
    /// wait on something `trigger` cannot reach by itself, such as a condition variable.
    pub fn on_trigger(&self, callback: impl Fn() + Send + Sync + 'static) {
        let mut state = self.lock();
        if self.is_triggered() {
            drop(state);
            callback();
        } else {
            state.callbacks.push(Arc::new(callback));
        }
    }

    /// Makes `trigger` wake `listener`'s blocked `accept()`.
    pub fn wake_on_trigger(&self, listener: &TcpListener) -> io::Result<()> {
        let mut addr = listener.local_addr()?;
        // A listener on 0.0.0.0 ("every address") is reachable through loopback.
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            });
        }
        let mut state = self.lock();
        state.listeners.push(addr);
        if self.is_triggered() {
            // Too late to be woken: knock now, so the coming `accept()` returns at once.
            drop(state);
            knock(addr);
        }
        Ok(())
    }

    /// Watches `stream` for as long as the returned [`Watched`] lives: it reads and writes like
    /// the stream itself, and a `read()` blocked on it returns 0 when the signal fires (at once,
    /// if it already has). No second descriptor is opened, which matters for a server holding
    /// thousands of connections (each process may open only so many files).
    /// `stream` is a `TcpStream`, or anything that holds one and reads and writes through `&`
    /// (a `common::trace::Traced` connection).
    pub fn watch<S>(&self, stream: S) -> Watched<S>
    where
        S: Borrow<TcpStream> + Send + Sync + 'static,
    {
        let stream = Arc::new(stream);
        let weak: Weak<S> = Arc::downgrade(&stream);
        let weak: Weak<dyn Borrow<TcpStream> + Send + Sync> = weak;
        let tracked = self.register(Handle::Shared(weak));
        Watched { _tracked: tracked, stream }
    }

    /// Tracks a connection that the caller keeps using as it is, until the returned guard is
    /// dropped. Costs a second descriptor of the socket (`try_clone`); see [`Shutdown::watch`].
    pub fn track(&self, stream: &TcpStream) -> io::Result<Tracked> {
        Ok(self.register(Handle::Clone(stream.try_clone()?)))
    }

    fn register(&self, handle: Handle) -> Tracked {
        let mut state = self.lock();
        if self.is_triggered() {
            handle.shutdown(Half::Read);
        }
        let id = state.next_id;
        state.next_id += 1;
        state.connections.insert(id, handle);
        Tracked { shutdown: self.clone(), id }
    }

    /// After the trigger: waits while the handlers finish (a handler that is done stops being
    /// watched), and closes the connections still watched once none has finished for [`GRACE`],
    /// or at [`LAST_CALL`]. On a busy machine hundreds of handlers write their goodbyes slowly,
    /// but they keep finishing; one stuck writing to a client that stopped reading never does.
    fn close_stuck(&self) {
        let started = Instant::now();
        let (mut left, mut progress) = (self.lock().connections.len(), started);
        while left > 0 && progress.elapsed() < GRACE && started.elapsed() < LAST_CALL {
            std::thread::sleep(GRACE / 10);
            let now = self.lock().connections.len();
            if now < left {
                (left, progress) = (now, Instant::now());
            }
        }
        self.close_all();
    }

    /// Shuts every watched connection down in both directions: a handler blocked in `write` to
    /// a client that stopped reading gets an error and returns. The grace ends with it.
    pub fn close_all(&self) {
        let state = self.lock();
        if !state.connections.is_empty() {
            log::warn!("{} connection(s) still busy after the grace: closing them", state.connections.len());
        }
        for handle in state.connections.values() {
            handle.shutdown(Half::Both);
        }
    }

    /// Waits until the signal fires or `timeout` passes; true if it fired.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let state = self.lock();
        let (_state, _) = self
            .inner
            .changed
            .wait_timeout_while(state, timeout, |_| !self.is_triggered())
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.is_triggered()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A handler that panicked while holding the lock leaves the map as it was: keep going.
        self.inner.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// How the signal reaches a connection.
enum Handle {
    /// A second descriptor of the socket (`try_clone`): simple, but one more open file.
    Clone(TcpStream),
    /// The connection's own socket, shared: no extra descriptor. Once the connection is gone,
    /// the `Weak` no longer upgrades, so a closed (and perhaps reused) descriptor is never touched.
    Shared(Weak<dyn Borrow<TcpStream> + Send + Sync>),
}

impl Handle {
    fn shutdown(&self, how: Half) {
        let _ = match self {
            Handle::Clone(stream) => stream.shutdown(how),
            Handle::Shared(weak) => weak.upgrade().map_or(Ok(()), |stream| (*stream).borrow().shutdown(how)),
        };
    }
}

/// Wakes an accept loop asleep in `accept()` by connecting to it. The connection carries
/// nothing; the loop sees the flag and stops.
fn knock(addr: SocketAddr) {
    let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
}

/// A connection that [`Shutdown`] watches, used in its place: see [`Shutdown::watch`].
pub struct Watched<S = TcpStream> {
    // Dropped first, while the stream is still open: see `Tracked`'s `Drop`.
    _tracked: Tracked,
    stream: Arc<S>,
}

impl<S: Borrow<TcpStream>> std::ops::Deref for Watched<S> {
    type Target = TcpStream;
    fn deref(&self) -> &TcpStream {
        (*self.stream).borrow()
    }
}

impl<S> Read for Watched<S>
where
    for<'a> &'a S: Read,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.stream).read(buf)
    }
}

impl<S> Write for Watched<S>
where
    for<'a> &'a S: Write,
{
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.stream).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        (&*self.stream).flush()
    }
}

/// A connection that [`Shutdown`] tracks; dropping this stops the tracking.
pub struct Tracked {
    shutdown: Shutdown,
    id: u64,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let handle = self.shutdown.lock().connections.remove(&self.id);
        if let Some(handle) = handle.filter(|_| self.shutdown.is_triggered()) {
            // The server is stopping and this connection is done. A client may have sent a
            // request in the same instant (an HTTP poll on a kept-alive connection), and closing
            // a socket with unread bytes answers with a reset, which the client reads as an
            // error. Our FIN goes first, so it reads an orderly end of stream instead.
            handle.shutdown(Half::Write);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn trigger_wakes_a_blocked_accept() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let shutdown = Shutdown::new();
        shutdown.wake_on_trigger(&listener).unwrap();
        let watcher = shutdown.clone();
        let accepter = std::thread::spawn(move || {
            let _ = listener.accept();
            watcher.is_triggered()
        });
        shutdown.trigger();
        assert!(accepter.join().unwrap(), "accept returned before the flag was set");
    }

    #[test]
    fn trigger_ends_a_blocked_read_and_later_tracking_is_shut_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut conn, _) = listener.accept().unwrap();
        let shutdown = Shutdown::new();
        let _tracked = shutdown.track(&conn).unwrap();
        let reader = std::thread::spawn(move || conn.read(&mut [0u8; 16]).unwrap());
        shutdown.trigger();
        assert_eq!(reader.join().unwrap(), 0);

        let _late_client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut late, _) = listener.accept().unwrap();
        let _late_tracked = shutdown.track(&late).unwrap();
        assert_eq!(late.read(&mut [0u8; 16]).unwrap(), 0);
    }

    #[test]
    fn callbacks_run_on_trigger_or_at_once_if_too_late() {
        use std::sync::atomic::AtomicUsize;
        let shutdown = Shutdown::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = runs.clone();
        shutdown.on_trigger(move || _ = counter.fetch_add(1, Ordering::SeqCst));
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        shutdown.trigger();
        shutdown.trigger();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let counter = runs.clone();
        shutdown.on_trigger(move || _ = counter.fetch_add(1, Ordering::SeqCst));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_watched_socket_is_woken_and_a_dropped_one_is_left_alone() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let shutdown = Shutdown::new();
        let mut conn = shutdown.watch(listener.accept().unwrap().0);
        let gone = shutdown.watch(TcpStream::connect(listener.local_addr().unwrap()).unwrap());
        drop(gone); // closed before the trigger: its handle must not be used
        assert_eq!(shutdown.lock().connections.len(), 1, "a dropped connection stays watched");
        let reader = std::thread::spawn(move || conn.read(&mut [0u8; 16]).unwrap());
        shutdown.trigger();
        assert_eq!(reader.join().unwrap(), 0);
    }

    #[test]
    fn a_handler_stuck_writing_is_cut_after_the_grace() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let _stalled = TcpStream::connect(listener.local_addr().unwrap()).unwrap(); // never reads
        let shutdown = Shutdown::new();
        let mut conn = shutdown.watch(listener.accept().unwrap().0);
        let writer = std::thread::spawn(move || {
            let chunk = vec![b'x'; 1 << 20];
            // Bounded: 256 MiB cannot fit in any socket buffer, so this ends in an error.
            (0..256).try_for_each(|_| conn.write_all(&chunk)).is_err()
        });
        let started = std::time::Instant::now();
        shutdown.trigger();
        assert!(writer.join().unwrap(), "the write never failed");
        assert!(started.elapsed() >= GRACE, "cut before the grace was over");
    }

    #[test]
    fn the_grace_lasts_while_handlers_keep_finishing() {
        // Six slow handlers (a busy machine), each finishing 150 ms after the one before: the
        // last one writes its goodbye 900 ms after the trigger, long after a fixed grace would
        // have cut it, and within the grace of the one before it.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let shutdown = Shutdown::new();
        let step = GRACE * 3 / 10;
        let mut peers = Vec::new();
        let handlers: Vec<_> = (1..=6u32)
            .map(|i| {
                peers.push(TcpStream::connect(listener.local_addr().unwrap()).unwrap());
                let mut conn = shutdown.watch(listener.accept().unwrap().0);
                std::thread::spawn(move || {
                    std::thread::sleep(step * i);
                    conn.write_all(b"goodbye\n").is_ok()
                })
            })
            .collect();
        shutdown.trigger();
        for (i, handler) in handlers.into_iter().enumerate() {
            assert!(handler.join().unwrap(), "handler {i} was cut while the others were still finishing");
        }
    }

    #[test]
    fn wait_timeout_reports_the_trigger() {
        let shutdown = Shutdown::new();
        assert!(!shutdown.wait_timeout(Duration::from_millis(1)));
        let other = shutdown.clone();
        let waiter = std::thread::spawn(move || other.wait_timeout(Duration::from_secs(30)));
        shutdown.trigger();
        assert!(waiter.join().unwrap());
    }
}
