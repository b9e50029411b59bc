//! Binding and connecting, with errors that say what to do next.
//!
//! The raw `io::Error` behind a failed `bind` or `connect` reads "Address already in use (os
//! error 98)": true, but it does not tell a learner which terminal to look at. Every lesson goes
//! through these functions so each failure is one line naming the address and the next step.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// How long `connect` waits for an answer. Loopback answers in microseconds; a classroom
/// network in milliseconds; a firewall that silently drops packets never answers at all.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Turns `HOST:PORT` into socket addresses (a name such as `localhost` may give several).
pub fn resolve(addr: &str) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| {
            format!("cannot use address {addr:?}: {e} (expected HOST:PORT, for example 127.0.0.1:7878)")
        })?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{addr:?} names no address: expected HOST:PORT, for example 127.0.0.1:7878"));
    }
    Ok(addrs)
}

/// The listen backlog when the system does not say (`SOMAXCONN` of Linux since 5.4; Windows
/// takes its own `SOMAXCONN`, `0x7fffffff`, as "the most you allow"; macOS caps any request at
/// its `kern.ipc.somaxconn`).
pub const DEFAULT_BACKLOG: i32 = if cfg!(windows) { 0x7fff_ffff } else { 4096 };

/// How many finished handshakes the kernel may queue for `accept()`: the system's maximum
/// (Linux: `net.core.somaxconn`, which caps any larger request silently). std's
/// `TcpListener::bind` asks for 128: a flood of connects overflows that in a moment, and a
/// healthy client's SYN is then dropped and sent again a second later.
pub fn max_backlog() -> i32 {
    let linux = std::fs::read_to_string("/proc/sys/net/core/somaxconn").ok();
    linux.and_then(|n| n.trim().parse().ok()).unwrap_or(DEFAULT_BACKLOG)
}

/// socket + `SO_REUSEADDR` (on Unix, as std does) + bind + listen with the system's maximum
/// backlog ([`max_backlog`]), with a friendly error.
pub fn bind(addr: &str) -> Result<TcpListener, String> {
    use socket2::{Domain, Protocol, Socket, Type};
    let first = resolve(addr)?[0];
    let socket = Socket::new(Domain::for_address(first), Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| format!("cannot open a socket for {first}: {e}"))?;
    if cfg!(unix) {
        socket.set_reuse_address(true).map_err(|e| format!("cannot set SO_REUSEADDR on {first}: {e}"))?;
    }
    socket.bind(&first.into()).map_err(|e| explain_bind_error(first, &e))?;
    socket.listen(max_backlog()).map_err(|e| format!("cannot listen on {first}: {e}"))?;
    Ok(socket.into())
}

/// One line that says why `bind` failed and what to try instead.
pub fn explain_bind_error(addr: SocketAddr, err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::AddrInUse => {
            let mut next = addr;
            next.set_port(addr.port().wrapping_add(1).max(1024));
            format!("{addr} is already in use — is another server running? try --addr {next}")
        }
        io::ErrorKind::AddrNotAvailable => format!(
            "{addr} is not an address of this machine: use 127.0.0.1 (this machine only) or 0.0.0.0 (every network)"
        ),
        io::ErrorKind::PermissionDenied => format!(
            "not allowed to bind {addr} (ports below 1024 need privileges): pick a port above 1024, for example --addr 127.0.0.1:7878"
        ),
        _ => format!("cannot bind {addr}: {err}"),
    }
}

/// `TcpStream::connect` with a timeout and a friendly error. `lesson` names the server
/// subcommand to suggest when nobody is listening.
pub fn connect(addr: &str, lesson: &str) -> Result<TcpStream, String> {
    let mut last = None;
    for candidate in resolve(addr)? {
        match TcpStream::connect_timeout(&candidate, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some((candidate, e)),
        }
    }
    let (candidate, err) = last.expect("resolve returns at least one address");
    Err(explain_connect_error(candidate, lesson, &err))
}

/// One line that says why `connect` failed and what to try instead.
pub fn explain_connect_error(addr: SocketAddr, lesson: &str, err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::ConnectionRefused => {
            format!(
                "no server at {addr}: start it in another terminal with `{}`",
                server_command(lesson, addr)
            )
        }
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            format!("no answer from {addr} (the connection timed out): is the address right, and is a firewall in the way?")
        }
        _ => format!("cannot connect to {addr}: {err}"),
    }
}

/// The command that starts `lesson`'s server where the client looked for it. With `--addr`
/// always, so the hint works as it is, also when the client was given another address.
fn server_command(lesson: &str, addr: SocketAddr) -> String {
    match lesson {
        // The lab listens on two ports, with flags of its own (`--tcp`, `--http`).
        "lab" => "cargo server lab".into(),
        _ => format!("cargo server {lesson} --addr {addr}"),
    }
}

/// A read timeout is `WouldBlock` on Unix and `TimedOut` on Windows: match both, always.
pub fn is_timeout(err: &io::Error) -> bool {
    matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// Says in words what a peer did when a read or write failed, for the one-line log message.
pub fn describe(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::ConnectionReset => "the peer reset the connection (it quit without closing)".into(),
        io::ErrorKind::ConnectionAborted => "the connection was aborted".into(),
        io::ErrorKind::BrokenPipe => "the peer is gone (broken pipe)".into(),
        io::ErrorKind::UnexpectedEof => "the peer closed the connection in the middle of a message".into(),
        _ if is_timeout(err) => "the peer was silent for too long".into(),
        _ => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Handshakes nobody has accepted yet: more than std's backlog of 128 wait in the queue.
    /// (std's listener drops the 130th SYN, and its connect times out.)
    #[test]
    fn a_listener_queues_more_handshakes_than_std_s_128() {
        const CLIENTS: usize = 300;
        if max_backlog() < CLIENTS as i32 + 10 {
            return eprintln!("skipping: this system's backlog is {}", max_backlog());
        }
        let listener = bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("an address");
        let mut waiting = Vec::new();
        for i in 0..CLIENTS {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                Ok(stream) => waiting.push(stream),
                Err(e) => panic!("connect {i} of {CLIENTS}, none accepted yet: {e}"),
            }
        }
    }

    #[test]
    fn the_hint_is_a_command_that_starts_the_server_where_the_client_looked() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        let hint = |lesson, addr: &str| explain_connect_error(addr.parse().unwrap(), lesson, &refused);
        assert!(hint("lifecycle", "127.0.0.1:7878")
            .ends_with("with `cargo server lifecycle --addr 127.0.0.1:7878`"));
        assert!(
            hint("lifecycle", "127.0.0.1:1").ends_with("with `cargo server lifecycle --addr 127.0.0.1:1`")
        );
        assert!(hint("lab", "127.0.0.1:8080").ends_with("with `cargo server lab`"));
    }
}
