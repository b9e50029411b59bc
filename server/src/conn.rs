//! Socket settings for long-lived connections (chat, WebSocket), and the way to cut one.

use std::io;
use std::net::{self, TcpStream};
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};

use crate::hub::Kick;

/// A write that cannot finish in this time means the client stopped reading: it is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The kernel's send buffer per connection. Linux lets it grow to 4 MiB, which hides a client
/// that stopped reading for a long time; a small one makes its outbox fill, and the hub notice,
/// after a few hundred lines instead of tens of thousands.
pub const SEND_BUFFER: usize = 64 * 1024;

/// A connection silent for this long gets a TCP keep-alive probe (then one every
/// [`KEEPALIVE_INTERVAL`]); a peer that vanished without closing (laptop lid shut, cable pulled)
/// stops answering them and the kernel ends the connection, which ends our `read`.
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);

/// Applies the settings above to a freshly accepted connection.
pub fn tune(stream: &TcpStream) -> io::Result<()> {
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    // Chat lines are small and should leave at once, not wait to be merged (Nagle's algorithm).
    stream.set_nodelay(true)?;
    let socket = SockRef::from(stream);
    socket.set_send_buffer_size(SEND_BUFFER)?;
    socket.set_tcp_keepalive(&TcpKeepalive::new().with_time(KEEPALIVE_IDLE).with_interval(KEEPALIVE_INTERVAL))
}

/// How the hub cuts this connection when the member must go: both halves shut, so the
/// connection's blocked `read` and `write` both return at once.
pub fn kick_for(stream: &TcpStream) -> io::Result<Kick> {
    let socket = stream.try_clone()?;
    Ok(Box::new(move || {
        let _ = socket.shutdown(net::Shutdown::Both);
    }))
}
