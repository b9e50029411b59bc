//! Lesson 1, client side: the life of a socket, one system call at a time.
//!
//! ```text
//! socket()   -> a new, unconnected TCP socket
//! connect()  -> the three-way handshake with the server; the kernel picks our port
//! send()     -> write our message (send may take only part of it: loop)
//! recv()     -> read the reply (one recv may return only part of it: loop)
//! close()    -> done
//! ```

use std::io::{Read, Write};
use std::net::TcpStream;

use common::net::{explain_connect_error, resolve};
use common::trace::{Layer, Traced};
use log::info;
use socket2::{Domain, Protocol, Socket, Type};

/// Sends `message` and a newline to the lifecycle server at `addr`, returns its reply line.
pub fn run(addr: &str, message: &str) -> Result<String, String> {
    if message.contains('\n') {
        return Err("the message must be one line: a newline ends it on the wire".into());
    }
    let addr = resolve(addr)?[0];

    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| format!("socket() failed: {e}"))?;
    info!("socket() -> a new TCP socket");

    // A plain, blocking connect(): it returns once the handshake is done, or fails. A server
    // that refuses answers at once; a host that never answers (a firewall that drops packets)
    // keeps it waiting while the kernel retries, about two minutes on Linux.
    socket.connect(&addr.into()).map_err(|e| explain_connect_error(addr, "lifecycle", &e))?;
    let local = socket.local_addr().ok().and_then(|a| a.as_socket());
    let local = local.map_or_else(|| "?".to_string(), |a| a.to_string());
    info!("connect({addr}) -> connected; the kernel picked our address {local} (no bind() needed)");

    // From here on std's type wraps the very same socket.
    let mut stream = Traced::new(TcpStream::from(socket), Layer::Raw);
    let io_error = |e: std::io::Error| format!("talking to {addr}: {}", common::net::describe(&e));

    // `write` is send(): it may take fewer bytes than offered, so loop until all are gone.
    // (`write_all` is this loop, ready-made; the later lessons use it.)
    let data = format!("{message}\n");
    let mut sent = 0;
    while sent < data.len() {
        let n = stream.write(&data.as_bytes()[sent..]).map_err(io_error)?;
        info!("send() -> {n} bytes");
        sent += n;
    }

    // `read` is recv(): it returns whatever has arrived, maybe only part of the reply.
    let mut reply = Vec::new();
    let mut buf = [0u8; 1024];
    while !reply.contains(&b'\n') {
        let n = stream.read(&mut buf).map_err(io_error)?;
        if n == 0 {
            return Err(format!("the server at {addr} closed the connection before replying"));
        }
        info!("recv() -> {n} bytes");
        reply.extend_from_slice(&buf[..n]);
    }

    drop(stream);
    info!("close() -> the socket is gone; the server's recv() now returns 0");

    let line = reply.split(|&b| b == b'\n').next().unwrap_or_default();
    String::from_utf8(line.to_vec())
        .map_err(|_| format!("the server at {addr} replied with bytes that are not UTF-8"))
}
