//! One HTTP/1.1 layer for every web lesson: read requests, write responses, serve a listener.
//!
//! ```text
//! serve            accept loop (lesson 3's, from crate::workers), a thread per connection
//!  └ Connection    one client: the socket, and the RequestReader that owns its bytes
//!     ├ read_request   head and body, framed by RFC 9112, within the limits below
//!     ├ Site::check    the Host and Origin rules (DNS rebinding, other sites' requests)
//!     └ handler        the lesson's routes: respond, stream, or upgrade to WebSocket
//! ```
//!
//! `httparse` parses a head (a hand-written HTTP parser is a bug farm); this layer adds what a
//! server on the open network needs around it: where each request ends (`request`), limits on
//! size and time so a slow or hostile client cannot hold a thread, and answers that always say
//! how long they are (`response`).

mod connection;
pub mod query;
pub mod request;
pub mod response;
pub mod site;
pub mod wire;

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use common::trace::{Layer, Traced};
use common::Shutdown;
use log::{debug, info};

pub use connection::{read_request, refuse, AfterResponse, Connection};
pub use query::query;
pub use request::{ReadError, Request};
pub use response::{
    write_response, Status, BAD_REQUEST, FORBIDDEN, HEADERS_TOO_LARGE, METHOD_NOT_ALLOWED,
    MISDIRECTED_REQUEST, NOT_FOUND, NOT_IMPLEMENTED, OK, PAYLOAD_TOO_LARGE, REQUEST_TIMEOUT,
    SERVICE_UNAVAILABLE, UNSUPPORTED_MEDIA_TYPE, UPGRADE_REQUIRED,
};
pub use site::{Origins, Site, ANY_ORIGIN};

use crate::workers::{accept_loop_with, Idle};

/// How long a persistent connection may sit idle between requests before we close it.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// A whole request, head and body, must arrive within this time of its first byte. Over it: 408.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// The largest request body (a `POST /send` is a few hundred bytes). Over it: 413.
pub const MAX_BODY: usize = 4096;
/// Connections served at once (waiting long-polls and open streams included). Past it, a
/// connection that only waits for its next request is closed to make room; if none waits: 503.
pub const MAX_CONNECTIONS: usize = 500;

/// The limits of one HTTP server; tests shorten the timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub idle: Duration,
    pub request_deadline: Duration,
    pub max_body: usize,
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            idle: IDLE_TIMEOUT,
            request_deadline: REQUEST_DEADLINE,
            max_body: MAX_BODY,
            max_connections: MAX_CONNECTIONS,
        }
    }
}

/// Serves HTTP on `listener` until `shutdown`: every request that passes the limits and the
/// [`Site`] rules goes to `handler`, in the order the client sent them.
pub fn serve(
    listener: &TcpListener,
    shutdown: &Shutdown,
    limits: Limits,
    origins: Origins,
    handler: impl Fn(&mut Connection, Request) -> AfterResponse + Send + Sync + 'static,
) -> io::Result<()> {
    let site =
        Site::new(listener.local_addr()?, origins).over_tls(crate::tls::config_for(listener).is_some());
    let max = limits.max_connections;
    let refuse_one = move |mut stream: Traced<TcpStream>, _peer| {
        let why = format!("{max} connections already open, try again later");
        refuse(&mut stream, SERVICE_UNAVAILABLE, &why, &[("Retry-After", "5")]);
    };
    let watcher = shutdown.clone();
    let idle = Arc::new(Idle::default());
    let waiting = idle.clone();
    accept_loop_with(listener, shutdown, Layer::Http, max, Some(&idle), refuse_one, move |stream, peer| {
        answer_requests(stream, peer, limits, &site, &watcher, &waiting, &handler)
    })
}

/// Reads requests from one connection and answers each, until either side is done.
fn answer_requests(
    stream: Traced<TcpStream>,
    peer: SocketAddr,
    limits: Limits,
    site: &Site,
    shutdown: &Shutdown,
    idle: &Arc<Idle>,
    handler: &(dyn Fn(&mut Connection, Request) -> AfterResponse + Send + Sync),
) {
    let Ok(_tracked) = shutdown.track(&stream) else { return };
    if let Err(e) = crate::conn::tune(&stream) {
        return debug!("{peer}: cannot set up the socket: {e}");
    }
    let mut connection = Connection::new(stream, peer, limits, shutdown.clone());
    connection.wait_in(idle.clone());
    loop {
        let request = match connection.read_request() {
            Ok(request) => request,
            Err(ReadError::Gone) => return debug!("{peer}: connection closed"),
            Err(ReadError::Bad(status, why)) => {
                info!("{peer}: {} {}: {why}", status.0, status.1);
                connection.refuse(status, &why, &[]);
                return;
            }
        };
        debug!("{peer}: {} {}", request.method, request.target);
        if let Err((status, why)) = site.check(&request) {
            info!("{peer}: {} {}: {why}", status.0, status.1);
            connection.refuse(status, &why, &[]);
            return;
        }
        if handler(&mut connection, request) == AfterResponse::Close || connection.stopping() {
            return;
        }
    }
}
