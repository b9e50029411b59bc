//! Lesson 2, server side: an echo server that serves one client at a time.
//!
//! The loop is the whole story:
//!
//! ```text
//! loop {
//!     accept()            <- blocks until a client arrives
//!     loop {
//!         read()          <- blocks until THIS client sends something
//!         write_all()     <- send the same bytes back
//!     }                   <- until this client closes
//! }
//! ```
//!
//! While the server sits in the inner `read()`, nobody calls `accept()`. A second client can
//! still *connect* (the kernel finishes its handshake and queues it, up to the listen backlog),
//! but no program reads what it sends: it waits until the first client leaves.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use common::trace::{Layer, Traced};
use common::Shutdown;
use log::{debug, info, warn};

/// How much one `read` may take in. Any size works: a longer message simply takes more reads.
pub const BUFFER_SIZE: usize = 16 * 1024;

/// A client that sends nothing for this long is closed, so one forgotten terminal cannot keep
/// a one-at-a-time server (or a thread of the threaded one) busy forever.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// How long the loop waits after `accept` itself failed, so that it does not spin while the
/// cause lasts (no file descriptors left, say). The wait doubles while the failures go on.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);
/// The longest wait between two tries of a failing `accept`: short, so that Ctrl-C stays quick.
pub const MAX_ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// At most one "accept() failed" line this often, however often it fails.
pub const ACCEPT_WARN_EVERY: Duration = Duration::from_secs(1);

/// `accept` failures in a row, and when the last line about them was logged. For the whole
/// process, like the cause: `EMFILE` is this process out of file descriptors, whichever
/// listener notices it.
static FAILURES: AtomicU32 = AtomicU32::new(0);
static WARNED: Mutex<Option<Instant>> = Mutex::new(None);

/// Serves clients one after another until `shutdown` fires.
pub fn run(listener: TcpListener, shutdown: &Shutdown) -> io::Result<()> {
    // Ctrl-C must be able to end a blocked accept(): chapter 3 shows how.
    shutdown.wake_on_trigger(&listener)?;
    info!("echo server listening on {}, one client at a time", listener.local_addr()?);
    loop {
        let accepted = accept(&listener);
        if shutdown.is_triggered() {
            break;
        }
        let Some((stream, peer)) = accepted else { continue };
        info!("accepted {peer}: until it leaves, other clients wait in the kernel's queue");
        serve_connection(Traced::new(stream, Layer::Raw), peer, shutdown);
        if shutdown.is_triggered() {
            break;
        }
        info!("back in accept(): the next waiting client is served now");
    }
    info!("echo server stopped");
    Ok(())
}

/// The next client and its address, or `None` (logged) when `accept` failed.
///
/// A failing `accept` is rarely the listener's fault. A client that gave up while it waited in
/// the queue is its own business: a debug line. Otherwise this process is out of something
/// (`EMFILE`: no file descriptors left), which lasts until a client leaves, and trying again
/// at once would spin: back off, longer after each failure in a row, and say so once a second,
/// not once a try. (A client that connected and then reset *is* accepted: its first `read`
/// fails, and that ends only its own connection.)
pub fn accept(listener: &TcpListener) -> Option<(TcpStream, SocketAddr)> {
    match listener.accept() {
        Ok(pair) => {
            FAILURES.store(0, Ordering::Relaxed);
            Some(pair)
        }
        Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset) => {
            debug!("a client gave up while it waited to be accepted: {e}");
            None
        }
        Err(e) => {
            let failures = FAILURES.fetch_add(1, Ordering::Relaxed) + 1;
            let wait = (ACCEPT_BACKOFF * 2u32.pow(failures.min(8) - 1)).min(MAX_ACCEPT_BACKOFF);
            let mut warned = WARNED.lock().unwrap_or_else(|p| p.into_inner());
            if warned.is_none_or(|at| at.elapsed() >= ACCEPT_WARN_EVERY) {
                *warned = Some(Instant::now());
                warn!("accept() failed ({failures} in a row): {e}; trying again in {} ms", wait.as_millis());
            }
            drop(warned);
            thread::sleep(wait);
            None
        }
    }
}

/// Echoes everything `peer` sends until it closes, goes silent, or the server shuts down.
///
/// There is no framing here: the server does not care where a message ends, it returns bytes
/// as they come. A 1 MiB message simply takes many `read`s and as many `write_all`s.
pub fn serve_connection(stream: Traced<TcpStream>, peer: SocketAddr, shutdown: &Shutdown) {
    // Ctrl-C must be able to end our blocked read(): the shutdown signal watches this socket
    // (chapter 3 shows how), and we use it through the watch.
    let mut stream = shutdown.watch(stream);
    if let Err(e) = stream.set_read_timeout(Some(IDLE_TIMEOUT)) {
        return warn!("{peer}: cannot set a read timeout: {e}");
    }
    let mut buf = vec![0u8; BUFFER_SIZE];
    let mut echoed = 0usize;
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => break, // end of stream: the client closed (or the server is stopping)
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if common::net::is_timeout(&e) => {
                info!("{peer} was silent for {} s: closing", IDLE_TIMEOUT.as_secs());
                let notice = format!("* idle for {} s: closing the connection\n", IDLE_TIMEOUT.as_secs());
                let _ = stream.write_all(notice.as_bytes());
                return;
            }
            Err(e) => return info!("{peer}: {} after {echoed} bytes", common::net::describe(&e)),
        };
        // `write` may send only part of the buffer; `write_all` loops until all of it is sent.
        if let Err(e) = stream.write_all(&buf[..n]) {
            return info!("{peer}: {} while echoing", common::net::describe(&e));
        }
        echoed += n;
        info!("echoed {n} bytes to {peer}");
    }
    if shutdown.is_triggered() {
        let _ = stream.write_all(format!("{}\n", common::GOODBYE).as_bytes());
        info!("told {peer} the server is shutting down");
    } else {
        info!("{peer} closed the connection after {echoed} bytes");
    }
}
