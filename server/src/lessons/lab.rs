//! The lab: one process, one hub, every transport.
//!
//! ```text
//!                      +--------------------------- one Hub ---------------------------+
//! TCP port (7878)  --> | lesson 4: nc, telnet, `cargo client chat`                      |
//! HTTP port (8080) --> | GET /         the browser page                                 |
//!                      | GET /ws       lesson 8: WebSocket (the page, `cargo client ws`)|
//!                      | /poll /long-poll /stream /send   lesson 5: HTTP               |
//!                      | GET /wire     the page's wire panel (crate::http::wire)        |
//!                      | /socket.io/   Socket.IO clients, namespace /chat (crate::sio)  |
//!                      | GET /sio      the Socket.IO page (the article's chat)          |
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
use crate::sio::{self, Sio};

/// The browser page, in the binary: no build step, no files to find at run time.
pub const PAGE: &str = include_str!("../web/index.html");
/// The tab's icon: every browser asks for `/favicon.ico` on its own, and a 404 in the log on
/// every page load looks like a fault. A small SVG (a plug) answers it.
pub const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect x="5" y="1" width="2" height="5" fill="#036"/><rect x="9" y="1" width="2" height="5" fill="#036"/><rect x="3" y="5" width="10" height="6" rx="2" fill="#064"/><rect x="7" y="11" width="2" height="4" fill="#064"/></svg>"##;

/// The page's Korean (labels, its own notices) and its English/한국어 switch, loaded by the page.
pub const PAGE_LANG: &str = include_str!("../web/lang.js");

/// The page's root element as written; [`page_in`] swaps its language.
const PAGE_ROOT: &str = "<html lang=\"en\">";

/// Runs the TCP chat on `tcp` and the web side on `web`, both on `hub`, until `shutdown`.
pub fn run(
    tcp: TcpListener,
    web: TcpListener,
    shutdown: &Shutdown,
    hub: Arc<Hub>,
    config: Config,
    origins: Origins,
) -> io::Result<()> {
    run_with_all(tcp, web, shutdown, hub, config, origins, sio::Config::default(), None)
}

/// [`run`], with the Socket.IO side's timings (`--sio-ping-interval`, `--sio-ping-timeout`).
pub fn run_with(
    tcp: TcpListener,
    web: TcpListener,
    shutdown: &Shutdown,
    hub: Arc<Hub>,
    config: Config,
    origins: Origins,
    sio_config: sio::Config,
) -> io::Result<()> {
    run_with_all(tcp, web, shutdown, hub, config, origins, sio_config, None)
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
    run_with_all(tcp, web, shutdown, hub, config, origins, sio::Config::default(), class)
}

/// [`run`] with everything given: the Socket.IO side's timings and class mode.
#[allow(clippy::too_many_arguments)]
pub fn run_with_all(
    tcp: TcpListener,
    web: TcpListener,
    shutdown: &Shutdown,
    hub: Arc<Hub>,
    config: Config,
    origins: Origins,
    sio_config: sio::Config,
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
    let lesson = class.as_ref().map(|c| c.lesson());
    announce(tcp.local_addr()?, web.local_addr()?, crate::tls::schemes(&web).0, lesson);
    let chat_side = {
        let (hub, shutdown) = (hub.clone(), shutdown.clone());
        thread::Builder::new().name("lab tcp".into()).spawn(move || chat::run(tcp, &shutdown, hub))?
    };
    // The TCP side starts it too; the web side's guests (WebSocket, Socket.IO) need it as much.
    Hub::keep_door(&hub);
    let closing = hub.clone();
    shutdown.on_trigger(move || closing.close());
    let limits = config.limits();
    let wire = http::wire::Wire::default();
    let sio = Sio::new(hub.clone(), sio_config);
    let stopping = sio.clone();
    shutdown.on_trigger(move || stopping.close_all());
    http::serve(&web, shutdown, limits, origins, move |connection, request| {
        wire.answer(connection, request, |connection, request| {
            // Class mode's pages first (they say how to turn it on when it is off).
            if class::routes::serves(request.path()) {
                return class::route(connection, request, class.as_deref());
            }
            if sio::serves(request.path()) {
                return sio.route(connection, request);
            }
            route(connection, request, &hub, &config)
        })
    })?;
    let _ = chat_side.join();
    info!("the lab is closed");
    Ok(())
}

/// The page (and its icon) and the WebSocket upgrade; everything else is lesson 5's.
fn route(connection: &mut Connection, request: Request, hub: &Hub, config: &Config) -> AfterResponse {
    match (request.method.as_str(), request.path()) {
        ("GET" | "HEAD", "/" | "/index.html") => {
            let page = page_in(page_language(&request));
            let headers = [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Cache-Control", "no-cache"),
                ("Vary", "Accept-Language"),
            ];
            connection.respond(http::OK, &headers, page.as_bytes())
        }
        ("GET" | "HEAD", "/lang.js") => {
            let headers = [("Content-Type", "text/javascript; charset=utf-8"), ("Cache-Control", "no-cache")];
            connection.respond(http::OK, &headers, PAGE_LANG.as_bytes())
        }
        ("GET" | "HEAD", "/favicon.ico") => {
            let headers = [("Content-Type", "image/svg+xml"), ("Cache-Control", "max-age=86400")];
            connection.respond(http::OK, &headers, ICON.as_bytes())
        }
        // The WebSocket session takes over this connection until it ends. Another method gets
        // its 405 (with `Allow: GET`) from the upgrade's checks.
        (_, "/ws") => ws_chat::join_chat(connection, &request, hub),
        _ => http_chat::route(connection, request, hub, config),
    }
}

/// The page's language, "ko" or "en": the page's switch (`?lang=ko`, `?lang=en`) if it asked,
/// else whichever of Korean and English the browser's `Accept-Language` ranks higher
/// (`ko-KR,ko;q=0.9,en;q=0.8` is Korean), else English.
fn page_language(request: &Request) -> &'static str {
    match http::query::query(&request.target, "lang") {
        Some(Ok(lang)) if lang == "ko" => return "ko",
        Some(Ok(lang)) if lang == "en" => return "en",
        _ => {}
    }
    let mut best = ("en", 0.0);
    for range in request.header("accept-language").unwrap_or_default().split(',') {
        let mut parts = range.split(';').map(str::trim);
        let tag = parts.next().unwrap_or_default().to_ascii_lowercase();
        let quality = parts
            .find_map(|p| p.strip_prefix("q="))
            .map_or(Some(1.0), |q| q.parse::<f32>().ok())
            .unwrap_or(0.0);
        let language = match tag.split('-').next() {
            Some("ko") => "ko",
            Some("en") => "en",
            _ => continue,
        };
        if quality > best.1 {
            best = (language, quality);
        }
    }
    best.0
}

/// The page with its root element in `language`.
fn page_in(language: &str) -> String {
    PAGE.replacen(PAGE_ROOT, &format!("<html lang=\"{language}\">"), 1)
}

/// Says where to point a browser and the terminal clients (and, in class mode, where the
/// scoreboard is and how students enroll), and, when the lab listens on every address, which
/// addresses students on the same network should use.
fn announce(tcp: SocketAddr, web: SocketAddr, http: &str, class: Option<&str>) {
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
        info!("  browser:  {http}://{web}/");
        if let Some(lesson) = class {
            info!("  class:    {http}://{web}/class   |   cargo client check {lesson} --enroll {http}://{web} --nick NAME");
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

#[cfg(test)]
mod tests {
    use super::*;

    fn get(target: &str, accept_language: Option<&str>) -> Request {
        let mut head = format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        if let Some(value) = accept_language {
            head += &format!("Accept-Language: {value}\r\n");
        }
        head += "\r\n";
        let (request, _) = http::request::parse_head(head.as_bytes()).unwrap().unwrap();
        request
    }

    #[test]
    fn the_page_speaks_the_language_the_browser_prefers_of_korean_and_english() {
        assert_eq!(page_language(&get("/", Some("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7"))), "ko");
        assert_eq!(page_language(&get("/", Some("en-US,en;q=0.9,ko;q=0.8"))), "en");
        assert_eq!(page_language(&get("/", Some("fr-FR, ko;q=0.5"))), "ko");
        assert_eq!(page_language(&get("/", Some("ko;q=0, en;q=0.1"))), "en");
        assert_eq!(page_language(&get("/", Some("de"))), "en");
        assert_eq!(page_language(&get("/", None)), "en");
        // The page's switch wins over the browser.
        assert_eq!(page_language(&get("/?lang=en", Some("ko-KR"))), "en");
        assert_eq!(page_language(&get("/?lang=ko", Some("en-US"))), "ko");
    }

    #[test]
    fn the_page_root_carries_the_language() {
        assert!(PAGE.contains(PAGE_ROOT), "index.html must start its root as {PAGE_ROOT} for page_in");
        assert!(page_in("ko").contains("<html lang=\"ko\">"));
        assert!(PAGE.contains("<script src=\"/lang.js\"></script>"), "index.html must load /lang.js");
    }
}
