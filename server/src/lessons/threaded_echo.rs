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
use std::net::{Shutdown as Half, TcpListener, TcpStream};

use common::Shutdown;
use log::info;

use super::echo::serve_connection;
use crate::workers::accept_loop;

/// The default cap on clients served at once: a class of thirty, with room to spare.
pub const MAX_CONNECTIONS: usize = 100;

/// Serves every client on its own thread, at most `max_connections` at once, until `shutdown`.
pub fn run(listener: TcpListener, shutdown: &Shutdown, max_connections: usize) -> io::Result<()> {
    info!(
        "threaded echo server listening on {}, a thread per client, at most {max_connections} at once",
        listener.local_addr()?
    );
    let refuse = |stream, _peer| refuse(stream, max_connections);
    let watcher = shutdown.clone();
    let serve = move |stream, peer| serve_connection(stream, peer, &watcher);
    // The loop itself lives in `crate::workers`, because every later server uses it too.
    accept_loop(&listener, shutdown, max_connections, refuse, serve)?;
    info!("threaded echo server stopped");
    Ok(())
}

/// Tells the client over the cap why it cannot be served, then closes.
fn refuse(mut stream: TcpStream, max_connections: usize) {
    let notice = format!("* server busy: {max_connections} clients already connected, try again later\n");
    // A fresh socket's send buffer is empty, so this write does not block.
    let _ = stream.write_all(notice.as_bytes());
    let _ = stream.shutdown(Half::Write);
}
