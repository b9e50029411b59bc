//! Lesson 14, the chat: lesson 4's TCP chat on one thread, over the same hub.
//!
//! Same wire protocol, same rooms, nicknames (and their look-alike check), history and
//! stalled/behind rules: the hub decides all of them, as it does for the threaded chat. What
//! changed is who carries the lines: no reader and writer thread per member, but one state
//! machine per member ([`crate::evloop::chat`]) on the mio loop.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Instant;

use common::trace::{Layer, Traced};
use common::Shutdown;
use log::info;
use mio::net::TcpStream;
use socket2::{SockRef, TcpKeepalive};

use crate::conn::{KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, SEND_BUFFER};
use crate::evloop::chat::ChatConn;
use crate::evloop::mio_loop::{serve, Protocol};
use crate::evloop::Config;
use crate::hub::{Delivery, Hub};
use crate::lessons::chat::nc_addr;

/// Serves chat members from this thread until `shutdown`.
pub fn run(listener: TcpListener, shutdown: &Shutdown, hub: Arc<Hub>, config: &Config) -> io::Result<()> {
    let addr = listener.local_addr()?;
    info!(
        "one-thread chat server listening on {addr}: join with `cargo client chat` or `nc {}`",
        nc_addr(addr)
    );
    let closing = hub.clone();
    shutdown.on_trigger(move || closing.close());
    serve(listener, shutdown, config, Chat { hub })?;
    info!("one-thread chat server stopped");
    Ok(())
}

struct Chat {
    hub: Arc<Hub>,
}

impl Protocol for Chat {
    type Conn = ChatConn;

    fn open(&mut self, stream: TcpStream, peer: SocketAddr, _now: Instant) -> ChatConn {
        // As lesson 4's `conn::tune`, without the write timeout (nothing here waits in `write`).
        let _ = stream.set_nodelay(true);
        let socket = SockRef::from(&stream);
        let _ = socket.set_send_buffer_size(SEND_BUFFER);
        let _ = socket.set_tcp_keepalive(
            &TcpKeepalive::new().with_time(KEEPALIVE_IDLE).with_interval(KEEPALIVE_INTERVAL),
        );
        ChatConn::new(Traced::wrap(stream, peer, Layer::Lines), peer, self.hub.clone())
    }

    fn refuse(&mut self, mut stream: TcpStream, _max_connections: usize) {
        let max = self.hub.limits().max_members;
        let _ = stream.write(format!("{}\n", Delivery::Error(Hub::full(max)).line()).as_bytes());
        let _ = stream.shutdown(std::net::Shutdown::Write);
    }

    fn socket(conn: &mut ChatConn) -> Option<&mut TcpStream> {
        Some(conn.socket())
    }

    /// Guests whose arrival grace is over are announced now (`hub::arrivals`): no thread of
    /// this server waits for them, the loop's tick looks (a burst, a share per turn).
    fn tick(&mut self, _now: Instant) -> bool {
        self.hub.announce_arrivals().more
    }
}
