//! Lesson 3, server side: the echo server with a thread per accepted connection.
//!
//! One change from lesson 2: instead of serving the client in the accept loop, hand it to a new
//! thread and go straight back to `accept()`. Every client now has a thread blocked in its own
//! `read()`, and the kernel wakes whichever one has data.
//!
//! The cost is one thread per client: its stack (see [`crate::workers::STACK_SIZE`]), a kernel
//! task, a context switch per wake-up. So the number of connections is capped, and the one over
//! the cap is told so and closed instead of silently waiting.

use std::io::{self, Write};
use std::net::{Shutdown as Half, SocketAddr, TcpListener, TcpStream};

use common::Shutdown;
use log::{info, warn};

use super::echo::{accepted, serve_connection};
use crate::workers::Workers;

/// The default cap on clients served at once: a class of thirty, with room to spare.
pub const MAX_CONNECTIONS: usize = 100;

/// Serves every client on its own thread, at most `max_connections` at once, until `shutdown`.
pub fn run(listener: TcpListener, shutdown: &Shutdown, max_connections: usize) -> io::Result<()> {
    shutdown.wake_on_trigger(&listener)?;
    info!(
        "threaded echo server listening on {}, a thread per client, at most {max_connections} at once",
        listener.local_addr()?
    );
    let mut workers = Workers::new();
    for incoming in listener.incoming() {
        if shutdown.is_triggered() {
            break;
        }
        let Some((stream, peer)) = accepted(incoming) else { continue };
        let busy = workers.live();
        if busy >= max_connections {
            refuse(stream, peer, max_connections);
            continue;
        }
        info!("accepted {peer}: thread {} of at most {max_connections}", busy + 1);
        let shutdown = shutdown.clone();
        let work = move || serve_connection(stream, peer, &shutdown);
        if let Err(e) = workers.spawn(format!("echo {peer}"), work) {
            // The closure, and with it the stream, is dropped: the client sees the connection close.
            warn!("cannot start a thread for {peer}: {e}");
        }
    }
    info!("stopping: {} client(s) still connected", workers.live());
    workers.join_all(shutdown);
    info!("threaded echo server stopped");
    Ok(())
}

/// Tells the client over the cap why it cannot be served, then closes.
fn refuse(mut stream: TcpStream, peer: SocketAddr, max_connections: usize) {
    warn!("refusing {peer}: {max_connections} clients already connected");
    let notice = format!("* server busy: {max_connections} clients already connected, try again later\n");
    // A fresh socket's send buffer is empty, so this write does not block.
    let _ = stream.write_all(notice.as_bytes());
    let _ = stream.shutdown(Half::Write);
}
