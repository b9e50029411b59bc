//! The lab: one process, one hub, every transport.
//!
//! ```text
//!                      +--------------------------- one Hub ---------------------------+
//! TCP port (7878)  --> | lesson 4: nc, telnet, `cargo client chat`                      |
//! HTTP port (8080) --> | GET /         the browser page                                 |
//!                      | GET /ws       lesson 8: WebSocket (the page, `cargo client ws`)|
//!                      | /poll /long-poll /stream /send   lesson 5: HTTP               |
//!                      | GET /wire     the page's wire panel (crate::http::wire)        |
//!                      | /class        class mode's scoreboard (crate::class)           |
//!                      +----------------------------------------------------------------+
//! ```
//!
//! A browser, a terminal client and `nc` sit in the same room and see each other.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread;

use common::Shutdown;
use log::info;

use super::chat;
use super::http_chat::{self, Config};
use super::ws_chat;
use crate::class;
use crate::http::{self, AfterResponse, Connection, Origins, Request};
use crate::hub::Hub;

/// The browser page, in the binary: no build step, no files to find at run time.
pub const PAGE: &str = include_str!("../web/index.html");

/// Runs the TCP chat on `tcp` and the web side on `web`, both on `hub`, until `shutdown`.
pub fn run(
    tcp: TcpListener,
    web: TcpListener,
    shutdown: &Shutdown,
    hub: Arc<Hub>,
    config: Config,
    origins: Origins,
) -> io::Result<()> {
    run_with_class(tcp, web, shutdown, hub, config, origins, None)
}

/// [`run`], in class mode when `class` is given: the lab also grades the students' servers and
/// shows them on `/class` (see [`crate::class`]).
pub fn run_with_class(
    tcp: TcpListener,
    web: TcpListener,
    shutdown: &Shutdown,
    hub: Arc<Hub>,
    config: Config,
    origins: Origins,
    class: Option<(class::Config, Arc<dyn class::Grade>)>,
) -> io::Result<()> {
    let class = match class {
        Some((setup, grade)) => {
            let ports = [tcp.local_addr()?.port(), web.local_addr()?.port()];
            let networks = class::rules::Networks::new(web.local_addr()?, &ports);
            Some(class::Class::start(setup, grade, networks, shutdown).map_err(io::Error::other)?)
        }
        None => None,
    };
    announce(tcp.local_addr()?, web.local_addr()?, class.as_ref().map(|c| c.lesson()));
    let chat_side = {
        let (hub, shutdown) = (hub.clone(), shutdown.clone());
        thread::Builder::new().name("lab tcp".into()).spawn(move || chat::run(tcp, &shutdown, hub))?
    };
    let closing = hub.clone();
    shutdown.on_trigger(move || closing.close());
    let limits = config.limits();
    let wire = http::wire::Wire::default();
    http::serve(&web, shutdown, limits, origins, move |connection, request| {
        wire.answer(connection, request, |connection, request| {
            // Class mode's pages first (they say how to turn it on when it is off).
            if class::routes::serves(request.path()) {
                return class::route(connection, request, class.as_deref());
            }
            route(connection, request, &hub, &config)
        })
    })?;
    let _ = chat_side.join();
    info!("the lab is closed");
    Ok(())
}

/// The page and the WebSocket upgrade; everything else is lesson 5's.
fn route(connection: &mut Connection, request: Request, hub: &Hub, config: &Config) -> AfterResponse {
    match (request.method.as_str(), request.path()) {
        ("GET" | "HEAD", "/" | "/index.html") => {
            let headers = [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-cache")];
            connection.respond(http::OK, &headers, PAGE.as_bytes())
        }
        // The WebSocket session takes over this connection until it ends. Another method gets
        // its 405 (with `Allow: GET`) from the upgrade's checks.
        (_, "/ws") => ws_chat::join_chat(connection, &request, hub),
        _ => http_chat::route(connection, request, hub, config),
    }
}

/// Says where to point a browser and the terminal clients (and, in class mode, where the
/// scoreboard is and how students enroll), and, when the lab listens on every address, which
/// addresses students on the same network should use.
fn announce(tcp: SocketAddr, web: SocketAddr, class: Option<&str>) {
    let hosts: Vec<IpAddr> = if web.ip().is_unspecified() {
        let all = if_addrs::get_if_addrs().unwrap_or_default();
        all.into_iter().map(|i| i.ip()).filter(|ip| ip.is_ipv4() && !ip.is_loopback()).collect()
    } else {
        vec![web.ip()]
    };
    let hosts = if hosts.is_empty() { vec![IpAddr::from([127, 0, 0, 1])] } else { hosts };
    info!("the lab is open, one chat for every transport:");
    for host in &hosts {
        let (web, tcp) = (SocketAddr::new(*host, web.port()), SocketAddr::new(*host, tcp.port()));
        info!("  browser:  http://{web}/");
        if let Some(lesson) = class {
            info!("  class:    http://{web}/class   |   cargo client check {lesson} --enroll http://{web} --nick NAME");
        }
        info!(
            "  terminal: cargo client chat --addr {tcp}   |   cargo client ws --addr {web}   |   nc {} {}",
            tcp.ip(),
            tcp.port()
        );
    }
    if web.ip().is_unspecified() {
        info!("  (students use one of the addresses above; your firewall may ask to let them in)");
    }
}
