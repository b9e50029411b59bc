//! Lesson 14, the lab on one thread: the TCP chat and the web side (the page and `/ws`) on two
//! ports, one hub, one loop. `nc`, `cargo client chat`, `cargo client ws` and the browser's page
//! share its rooms; polling, long polling and streaming stay on `cargo server lab`.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Instant;

use common::trace::{Layer, Traced};
use common::Shutdown;
use log::info;
use mio::net::TcpStream;

use crate::evloop::bell::Bell;
use crate::evloop::chat::ChatConn;
use crate::evloop::mio_loop::{serve_many, Protocol};
use crate::evloop::web::WebConn;
use crate::evloop::{Config, Conn, Status};
use crate::http::{Origins, Site};
use crate::hub::{Delivery, Hub};

/// Serves the TCP chat on `tcp` and the page and the WebSocket chat on `web`, from this thread,
/// until `shutdown`.
pub fn run(
    tcp: TcpListener,
    web: TcpListener,
    shutdown: &Shutdown,
    hub: Arc<Hub>,
    config: &Config,
    origins: Origins,
) -> io::Result<()> {
    let (tcp_addr, web_addr) = (tcp.local_addr()?, web.local_addr()?);
    info!("the one-thread lab is open: http://{web_addr}/ (page and /ws), TCP chat on {tcp_addr}");
    let closing = hub.clone();
    shutdown.on_trigger(move || closing.close());
    let site = Arc::new(Site::new(web_addr, origins));
    serve_many(vec![tcp, web], shutdown, config, Lab { hub, site, guard: config.unfinished.clone() })?;
    info!("the one-thread lab is closed");
    Ok(())
}

struct Lab {
    hub: Arc<Hub>,
    site: Arc<Site>,
    guard: common::ws::unfinished::Guard,
}

/// A connection to either port.
///
/// The web side is boxed: a WebSocket connection carries a handshake and a
/// tungstenite state, and without the box every TCP member would pay for it.
/// The TCP side stays inline: it is the common case, one allocation fewer.
#[allow(clippy::large_enum_variant)]
pub enum LabConn {
    Chat(ChatConn),
    Web(Box<WebConn>),
}

impl Protocol for Lab {
    type Conn = LabConn;

    fn open(&mut self, stream: TcpStream, peer: SocketAddr, now: Instant) -> LabConn {
        self.open_on(0, stream, peer, now)
    }

    fn open_on(&mut self, side: usize, stream: TcpStream, peer: SocketAddr, now: Instant) -> LabConn {
        let _ = stream.set_nodelay(true);
        if side == 0 {
            LabConn::Chat(ChatConn::new(Traced::wrap(stream, peer, Layer::Lines), peer, self.hub.clone()))
        } else {
            let socket = Traced::wrap(stream, peer, Layer::Http);
            LabConn::Web(Box::new(WebConn::new(
                socket,
                peer,
                self.hub.clone(),
                self.site.clone(),
                now,
                self.guard.clone(),
            )))
        }
    }

    fn refuse(&mut self, mut stream: TcpStream, _max_connections: usize) {
        let max = self.hub.limits().max_members;
        let _ = stream.write(format!("{}\n", Delivery::Error(Hub::full(max)).line()).as_bytes());
        let _ = stream.shutdown(std::net::Shutdown::Write);
    }

    fn socket(conn: &mut LabConn) -> Option<&mut TcpStream> {
        match conn {
            LabConn::Chat(chat) => Some(chat.socket()),
            LabConn::Web(web) => web.socket(),
        }
    }

    /// Guests whose arrival grace is over are announced now (`hub::arrivals`): no thread of
    /// this server waits for them, the loop's tick looks (a burst, a share per turn).
    fn tick(&mut self, _now: Instant) -> bool {
        self.hub.announce_arrivals().more
    }
}

impl Conn for LabConn {
    fn drive(&mut self, scratch: &mut [u8], now: Instant) -> Status {
        match self {
            LabConn::Chat(c) => c.drive(scratch, now),
            LabConn::Web(c) => c.drive(scratch, now),
        }
    }
    fn wants_write(&self) -> bool {
        match self {
            LabConn::Chat(c) => c.wants_write(),
            LabConn::Web(c) => c.wants_write(),
        }
    }
    fn wants_read(&self) -> bool {
        match self {
            LabConn::Chat(c) => c.wants_read(),
            LabConn::Web(c) => c.wants_read(),
        }
    }
    fn expire(&mut self, now: Instant, config: &Config) -> bool {
        match self {
            LabConn::Chat(c) => c.expire(now, config),
            LabConn::Web(c) => c.expire(now, config),
        }
    }
    fn stop(&mut self) {
        match self {
            LabConn::Chat(c) => c.stop(),
            LabConn::Web(c) => c.stop(),
        }
    }
    fn readable(&mut self) {
        match self {
            LabConn::Chat(c) => c.readable(),
            LabConn::Web(c) => c.readable(),
        }
    }
    fn hang_bell(&mut self, bell: Bell) {
        match self {
            LabConn::Chat(c) => c.hang_bell(bell),
            LabConn::Web(c) => c.hang_bell(bell),
        }
    }
    fn holds_lines(&self) -> bool {
        match self {
            LabConn::Chat(c) => c.holds_lines(),
            LabConn::Web(c) => c.holds_lines(),
        }
    }
}
