//! Slow peers: loopback hides partial writes (Linux gives a loopback socket megabytes of send
//! buffer), so these peers shrink their receive window and segment size before they connect.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use super::DEADLINE;

/// The receive buffer a slow peer asks for; the kernel rounds it up to its minimum (about
/// 2 KiB on Linux), which is the point.
pub const TINY_RECEIVE_BUFFER: usize = 1024;

/// The segment size of a link that fragments (576-byte IP datagrams): 536 bytes of payload.
pub const SMALL_SEGMENT: u32 = 536;

/// Connects with a tiny receive buffer and small segments. Both must be set before `connect`:
/// the window scale and the MSS are agreed in the handshake.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(TINY_RECEIVE_BUFFER).expect("SO_RCVBUF");
    #[cfg(unix)]
    socket.set_tcp_mss(SMALL_SEGMENT).expect("TCP_MAXSEG");
    socket.connect_timeout(&addr.into(), DEADLINE).expect("connect");
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream
}

/// Writes from `data` until a write has waited `stall` (the peer's buffers and the server's
/// are full: it stopped reading from us), or until all of it is sent. Returns how many bytes
/// went; never more than `data.len()`.
pub fn write_until_stalled(stream: &mut TcpStream, data: &[u8], stall: Duration) -> usize {
    stream.set_write_timeout(Some(stall)).unwrap();
    let mut sent = 0;
    while sent < data.len() {
        match stream.write(&data[sent..]) {
            Ok(n) => sent += n,
            Err(e) if common::net::is_timeout(&e) => break,
            Err(e) => panic!("write failed after {sent} bytes: {e}"),
        }
    }
    stream.set_write_timeout(None).unwrap();
    sent
}

/// Reads exactly `len` bytes in small reads, with a deadline for the whole.
pub fn read_exactly(stream: &mut TcpStream, len: usize, within: Duration) -> io::Result<Vec<u8>> {
    let start = Instant::now();
    let mut got = vec![0u8; len];
    let mut at = 0;
    while at < len {
        if start.elapsed() > within {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{at} of {len} bytes in {within:?}"),
            ));
        }
        let end = (at + 4096).min(len);
        match stream.read(&mut got[at..end])? {
            0 => {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("closed after {at} bytes")))
            }
            n => at += n,
        }
    }
    Ok(got)
}

/// Bytes that show a reordered, repeated or dropped chunk: no two 4 KiB blocks alike.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ (i / 4096) as u8).collect()
}
