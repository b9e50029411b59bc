//! `cargo server <lesson>`: parse the flags, bind, run the lesson until Ctrl-C.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use common::{Shutdown, DEFAULT_ADDR};
use server::hub::{Hub, Limits};
use server::lessons;
use std::sync::Arc;

/// Where the HTTP chat listens: the usual port for a web server that is not the main one.
const HTTP_ADDR: &str = "127.0.0.1:8080";

/// Where the WebSocket echo server listens: the port the Autobahn test suite expects.
const WS_ECHO_ADDR: &str = "127.0.0.1:9001";

#[derive(Parser)]
#[command(
    name = "server",
    about = "The server side of socket-steps: run one lesson, then start its client in another terminal.",
    after_help = "Each lesson has a matching client: `cargo server echo` here, `cargo client echo` there."
)]
struct Cli {
    #[command(subcommand)]
    lesson: Lesson,
}

/// Where to listen. 127.0.0.1 is this machine only; 0.0.0.0:PORT opens the server to the network.
#[derive(clap::Args)]
struct Bind {
    #[arg(long, visible_alias = "bind", value_name = "HOST:PORT", default_value = DEFAULT_ADDR)]
    addr: String,
}

#[derive(Subcommand)]
enum Lesson {
    /// 1. The socket life cycle, one call at a time: socket, bind, listen, accept, recv, send, close
    Lifecycle(Bind),
    /// 2. An echo server that serves one client at a time (and why the second one waits)
    Echo(Bind),
    /// 3. The echo server with a thread per connection, and a cap on connections
    ThreadedEcho {
        #[command(flatten)]
        bind: Bind,
        /// Clients served at once; the next one is told the server is busy
        #[arg(long, default_value_t = lessons::threaded_echo::MAX_CONNECTIONS)]
        max_connections: usize,
    },
    /// 4. A chat over plain TCP: nicknames, rooms, broadcast, a reader and a writer per client
    Chat(Bind),
    /// 5. The chat over HTTP: polling, long polling and streaming (default 127.0.0.1:8080)
    Http {
        #[arg(long, visible_alias = "bind", value_name = "HOST:PORT", default_value = HTTP_ADDR)]
        addr: String,
    },
    /// 6. WebSocket echo: the threaded echo server over WebSocket, with tungstenite (port 9001)
    WsEcho {
        #[arg(long, visible_alias = "bind", value_name = "HOST:PORT", default_value = WS_ECHO_ADDR)]
        addr: String,
        /// Clients served at once; the next one gets 503
        #[arg(long, default_value_t = lessons::ws_echo::MAX_CONNECTIONS)]
        max_connections: usize,
    },
    /// 7. The WebSocket handshake by hand, one frame taken apart, then tungstenite
    Handshake(Bind),
    /// 8. The chat over WebSocket, on the reader/writer split (default 127.0.0.1:8080, path /ws)
    Ws {
        #[arg(long, visible_alias = "bind", value_name = "HOST:PORT", default_value = HTTP_ADDR)]
        addr: String,
        /// Also let pages from this origin join (for example http://localhost:3000); repeatable
        #[arg(long, value_name = "ORIGIN")]
        allow_origin: Vec<String>,
    },
    /// The lab: one chat for every transport - TCP, HTTP polling/streaming, WebSocket, the browser
    Lab {
        /// The TCP chat's address (nc, `cargo client chat`)
        #[arg(long, value_name = "HOST:PORT", default_value = DEFAULT_ADDR)]
        tcp: String,
        /// The web side's address: the browser page, WebSocket and the HTTP endpoints
        #[arg(long, value_name = "HOST:PORT", default_value = HTTP_ADDR)]
        http: String,
        /// Listen on HOST for both (0.0.0.0 opens the lab to your network, a classroom)
        #[arg(long, value_name = "HOST")]
        bind: Option<String>,
        /// Also let pages from this origin join over WebSocket; repeatable
        #[arg(long, value_name = "ORIGIN")]
        allow_origin: Vec<String>,
    },
}

fn main() -> ExitCode {
    common::logging::init();
    match run(Cli::parse().lesson) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            log::error!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn run(lesson: Lesson) -> Result<(), String> {
    let shutdown = Shutdown::new();
    shutdown.trigger_on_ctrl_c()?;
    match lesson {
        Lesson::Lifecycle(bind) => {
            let addr = common::net::resolve(&bind.addr)?[0];
            let listener = lessons::lifecycle::open(addr)?;
            lessons::lifecycle::run(listener, &shutdown)
        }
        Lesson::Echo(bind) => lessons::echo::run(common::net::bind(&bind.addr)?, &shutdown),
        Lesson::ThreadedEcho { bind, max_connections } => {
            lessons::threaded_echo::run(common::net::bind(&bind.addr)?, &shutdown, max_connections)
        }
        Lesson::Chat(bind) => {
            let hub = Arc::new(Hub::new(Limits::default()));
            lessons::chat::run(common::net::bind(&bind.addr)?, &shutdown, hub)
        }
        Lesson::Http { addr } => {
            let hub = Arc::new(Hub::new(Limits::default()));
            let config = lessons::http_chat::Config::default();
            lessons::http_chat::run(common::net::bind(&addr)?, &shutdown, hub, config)
        }
        Lesson::WsEcho { addr, max_connections } => {
            lessons::ws_echo::run(common::net::bind(&addr)?, &shutdown, max_connections)
        }
        Lesson::Handshake(bind) => lessons::handshake::run(common::net::bind(&bind.addr)?, &shutdown),
        Lesson::Ws { addr, allow_origin } => {
            let hub = Arc::new(Hub::new(Limits::default()));
            let origins = lessons::ws_chat::Origins { extra: allow_origin };
            lessons::ws_chat::run(common::net::bind(&addr)?, &shutdown, hub, Default::default(), origins)
        }
        Lesson::Lab { tcp, http, bind, allow_origin } => {
            let on_host = |addr: String| match &bind {
                Some(host) => format!("{host}:{}", addr.rsplit(':').next().unwrap_or_default()),
                None => addr,
            };
            let (tcp, web) = (common::net::bind(&on_host(tcp))?, common::net::bind(&on_host(http))?);
            let hub = Arc::new(Hub::new(Limits::default()));
            let origins = lessons::ws_chat::Origins { extra: allow_origin };
            lessons::lab::run(tcp, web, &shutdown, hub, lessons::http_chat::Config::default(), origins)
        }
    }
    .map_err(|e| format!("the server failed: {e}"))
}
