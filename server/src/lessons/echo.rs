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
use std::sync::Arc;
use std::time::Duration;

use common::Shutdown;
use log::{info, warn};

use crate::workers::accepted;

/// How much one `read` may take in. Any size works: a longer message simply takes more reads.
pub const BUFFER_SIZE: usize = 16 * 1024;

/// A client that sends nothing for this long is closed, so one forgotten terminal cannot keep
/// a one-at-a-time server (or a thread of the threaded one) busy forever.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Serves clients one after another until `shutdown` fires.
pub fn run(listener: TcpListener, shutdown: &Shutdown) -> io::Result<()> {
    shutdown.wake_on_trigger(&listener)?;
    info!("echo server listening on {}, one client at a time", listener.local_addr()?);
    for incoming in listener.incoming() {
        if shutdown.is_triggered() {
            break;
        }
        let Some((stream, peer)) = accepted(incoming) else { continue };
        info!("accepted {peer}: until it leaves, other clients wait in the kernel's queue");
        serve_connection(stream, peer, shutdown);
        if shutdown.is_triggered() {
            break;
        }
        info!("back in accept(): the next waiting client is served now");
    }
    info!("echo server stopped");
    Ok(())
}

/// Echoes everything `peer` sends until it closes, goes silent, or the server shuts down.
///
/// There is no framing here: the server does not care where a message ends, it returns bytes
/// as they come. A 1 MiB message simply takes many `read`s and as many `write_all`s.
pub fn serve_connection(stream: TcpStream, peer: SocketAddr, shutdown: &Shutdown) {
    // Shared with the shutdown signal, which may have to wake our blocked `read` (see
    // `common::shutdown`). `&TcpStream` reads and writes as well as `TcpStream` does.
    let stream = Arc::new(stream);
    let _tracked = shutdown.track_shared(&stream);
    let mut stream = &*stream;
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
