//! Lesson 3, server side: the echo server with a thread per accepted connection.
//!
//! One change from lesson 2: instead of serving the client in the accept loop, hand it to a new
//! thread and go straight back to `accept()`. Every client now has a thread blocked in its own
//! `read()`, and the kernel wakes whichever one has data.
//!
//! ```text
//! loop {
//!     accept()                 <- blocks until a client arrives
//!     spawn(serve_connection)  <- lesson 2's handler, on a thread of its own
//! }
//! join every thread            <- on Ctrl-C, after each has said goodbye
//! ```
//!
//! The cost is one thread per client: its stack ([`STACK_SIZE`]), a kernel task, a context
//! switch per wake-up. So the number of connections is capped, and the one over the cap is told
//! so and closed instead of silently waiting.

use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::{self, JoinHandle};

use common::trace::{Layer, Traced};
use common::Shutdown;
use log::{info, warn};

use super::echo::{accept, serve_connection};

/// The default cap on clients served at once: a class of thirty, with room to spare.
pub const MAX_CONNECTIONS: usize = 100;

/// Stack reserved for each connection thread. Rust's default is 2 MiB, far more than a handler
/// that keeps its buffers on the heap needs. The reservation is virtual memory: only the pages a
/// thread touches count in RSS, but a smaller reservation still lets many more threads fit in
/// the address space and keeps the kernel's page tables small.
pub const STACK_SIZE: usize = 128 * 1024;

/// Serves every client on its own thread, at most `max_connections` at once, until `shutdown`.
pub fn run(listener: TcpListener, shutdown: &Shutdown, max_connections: usize) -> io::Result<()> {
    shutdown.wake_on_trigger(&listener)?;
    info!(
        "threaded echo server listening on {}, a thread per client, at most {max_connections} at once",
        listener.local_addr()?
    );
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    loop {
        let accepted = accept(&listener);
        if shutdown.is_triggered() {
            break;
        }
        let Some((stream, peer)) = accepted else { continue };
        // A thread whose client has left is finished: what is left is who is being served.
        threads.retain(|thread| !thread.is_finished());
        if threads.len() >= max_connections {
            warn!("refusing {peer}: {max_connections} clients already connected");
            refuse(stream, max_connections);
            continue;
        }
        info!("accepted {peer}: thread {} of at most {max_connections}", threads.len() + 1);
        let shutdown = shutdown.clone();
        // The name shows in `top -H` and in a panic's message.
        let spawned = thread::Builder::new()
            .name(format!("echo {peer}"))
            .stack_size(STACK_SIZE)
            .spawn(move || serve_connection(Traced::new(stream, Layer::Raw), peer, &shutdown));
        match spawned {
            Ok(thread) => threads.push(thread),
            // The closure, and with it the stream, is dropped: the client sees the connection close.
            Err(e) => warn!("cannot start a thread for {peer}: {e}"),
        }
    }
    // Each thread's read() has returned 0 by now (the shutdown shut its reading side), so it
    // says goodbye and ends; one stuck writing to a client that stopped reading has its socket
    // closed under it (`common::shutdown::GRACE`). So every join returns within a second.
    let joined = threads.len();
    for thread in threads {
        if thread.join().is_err() {
            // The panic's message is already on stderr.
            log::error!("a connection thread panicked; its client was dropped");
        }
    }
    // Counted after the joins: the threads say goodbye while this one waits, so a count logged
    // before them would land among their lines in a different place on every run.
    info!("threaded echo server stopped: joined {joined} connection thread(s)");
    Ok(())
}

/// Tells the client over the cap why it cannot be served, then closes.
fn refuse(stream: TcpStream, max_connections: usize) {
    let mut stream = Traced::new(stream, Layer::Raw);
    let notice = format!("* server busy: {max_connections} clients already connected, try again later\n");
    // A fresh socket's send buffer is empty, so this write does not block.
    let _ = stream.write_all(notice.as_bytes());
    let _ = stream.shutdown(std::net::Shutdown::Write);
}
