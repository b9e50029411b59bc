//! Lesson 1, server side: the life of a socket, one system call at a time.
//!
//! A server makes the same calls in the same order in every language:
//!
//! ```text
//! socket()  -> a new, unconnected TCP socket
//! bind()    -> give it an address: 127.0.0.1:7878
//! listen()  -> turn it into a *listening* socket with a queue of pending connections
//! accept()  -> wait for a client; returns a NEW socket for that one client
//! recv()    -> read bytes the client sent      (0 bytes = the client closed its side)
//! send()    -> write bytes back
//! close()   -> done with this client; the listening socket keeps listening
//! ```
//!
//! `std::net::TcpListener::bind` does the first three in one call. Here they are separate,
//! through the `socket2` crate, so each step prints as it happens.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use common::trace::{Layer, Traced};
use common::Shutdown;
use log::info;
use socket2::{Domain, Protocol, Socket, Type};

pub use super::echo::IDLE_TIMEOUT;

/// The longest message this lesson reads: enough for a greeting, small enough to be safe.
pub const MAX_MESSAGE: usize = 4096;

/// socket() → bind() → listen(): a listening socket, one call at a time.
pub fn open(addr: SocketAddr) -> Result<TcpListener, String> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| format!("socket() failed: {e}"))?;
    info!("socket() -> a new TCP socket, not yet bound to any address");

    // Without SO_REUSEADDR, restarting the server within a minute or two of stopping it fails:
    // the old connections linger in TIME_WAIT and still "use" the port. std sets this for you
    // on Unix. On Windows the same flag means something dangerous (two live servers could
    // share the port), so there we leave it off, as std does.
    if cfg!(unix) {
        socket.set_reuse_address(true).map_err(|e| format!("setsockopt(SO_REUSEADDR) failed: {e}"))?;
        info!("setsockopt(SO_REUSEADDR) -> a restarted server may reuse the port at once");
    }

    socket.bind(&addr.into()).map_err(|e| common::net::explain_bind_error(addr, &e))?;
    info!("bind({addr}) -> the socket now owns this address");

    // The backlog: how many finished handshakes the kernel may queue while we are not in
    // accept(). We ask for the system's maximum (SOMAXCONN); std's `TcpListener::bind` asks 128.
    let backlog = common::net::max_backlog();
    socket.listen(backlog).map_err(|e| format!("listen() failed: {e}"))?;
    info!("listen(backlog = {backlog}) -> the kernel now completes handshakes for us and queues them");

    // From here on std's type wraps the very same socket.
    Ok(socket.into())
}

/// accept() clients one after another until `shutdown` fires.
pub fn run(listener: TcpListener, shutdown: &Shutdown) -> io::Result<()> {
    run_with(listener, shutdown, IDLE_TIMEOUT)
}

/// [`run`], closing a client that sends nothing for `idle`: while this server waits for one
/// client, nobody else is served, so a silent one must not wait forever (chapter 2's deadline).
pub fn run_with(listener: TcpListener, shutdown: &Shutdown, idle: Duration) -> io::Result<()> {
    // Ctrl-C must be able to end a blocked accept(): chapter 3 shows how.
    shutdown.wake_on_trigger(&listener)?;
    let local = listener.local_addr()?;
    info!("listening on {local}: start the client in another terminal with `cargo client lifecycle`");
    loop {
        info!("accept() -> waiting for a client...");
        let accepted = listener.accept();
        if shutdown.is_triggered() {
            break;
        }
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Not fatal: the client may have given up before we got to it.
                log::warn!("accept() failed: {e}");
                continue;
            }
        };
        info!("accept() -> a NEW socket for {peer}; the listening socket stays on {local}");
        // `Traced` is the socket itself plus `--trace` (chapter 12), which prints every byte
        // that goes in or out; without the flag each read and write goes straight through.
        match serve(Traced::new(stream, Layer::Raw), peer, shutdown, idle) {
            Ok(()) => {}
            Err(e) if common::net::is_timeout(&e) => {
                info!("{peer} was silent for {} s: closing it, the next client's turn", idle.as_secs())
            }
            Err(e) => log::warn!("{peer}: {}", common::net::describe(&e)),
        }
        if shutdown.is_triggered() {
            break;
        }
    }
    info!("close() the listening socket: new clients are now refused");
    Ok(())
}

/// recv() one line, send() it back, wait for the client to close, close().
fn serve(stream: Traced<TcpStream>, peer: SocketAddr, shutdown: &Shutdown, idle: Duration) -> io::Result<()> {
    // Ctrl-C must be able to end a recv() that waits for this client: the shutdown signal
    // watches the socket (chapter 3 shows how), and we use it through the watch.
    let mut stream = shutdown.watch(stream);
    // A recv() that waits longer than `idle` fails with a timeout, which ends this client.
    stream.set_read_timeout(Some(idle))?;
    let mut message = Vec::new();
    let mut buf = [0u8; 1024];

    // One recv() is not one message: keep reading until the newline that ends it.
    while !message.contains(&b'\n') {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break; // the client closed (or Ctrl-C shut our side) before its newline
        }
        info!("recv() -> {n} bytes from {peer}");
        message.extend_from_slice(&buf[..n]);
        if message.len() > MAX_MESSAGE {
            log::warn!("{peer} sent more than {MAX_MESSAGE} bytes without a newline: closing");
            return Ok(());
        }
    }

    if message.contains(&b'\n') {
        stream.write_all(&message)?;
        info!("send() -> {} bytes back to {peer}", message.len());
        // The client speaks first and closes first: wait for its FIN (and ignore anything it
        // sends before it: this lesson answers one line).
        while stream.read(&mut buf)? > 0 {}
    }

    if shutdown.is_triggered() {
        // Ctrl-C shut our reading side, which is what ended the recv(): tell the client why.
        stream.write_all(format!("{}\n", common::GOODBYE).as_bytes())?;
        info!("send() -> told {peer} the server is shutting down");
    } else {
        info!("recv() -> 0 bytes: {peer} closed its side");
    }
    drop(stream);
    info!("close() -> the socket for {peer} is gone");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::thread;

    #[test]
    fn a_silent_client_is_closed_after_the_deadline_and_the_next_one_is_served() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("an address");
        let shutdown = Shutdown::new();
        let server_shutdown = shutdown.clone();
        let server = thread::spawn(move || run_with(listener, &server_shutdown, Duration::from_millis(300)));
        let deadline = Some(Duration::from_secs(10));
        let mut silent = TcpStream::connect(addr).expect("connect");
        silent.set_read_timeout(deadline).expect("a timeout");
        let second = TcpStream::connect(addr).expect("connect");
        second.set_read_timeout(deadline).expect("a timeout");
        (&second).write_all(b"hello\n").expect("send");
        let mut echoed = String::new();
        BufReader::new(&second).read_line(&mut echoed).expect("the second client is served");
        assert_eq!(echoed, "hello\n");
        assert_eq!(silent.read(&mut [0; 16]).expect("closed, not timed out"), 0);
        drop(second);
        shutdown.trigger();
        server.join().expect("no panic").expect("run ends cleanly");
    }
}
