//! `cargo server <lesson>`: parse the flags, bind, run the lesson until Ctrl-C.

use std::process::ExitCode;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use common::{Shutdown, DEFAULT_ADDR};
use server::hub::{self, Hub, Limits};
use server::lessons::{self, http_chat};

/// Where the HTTP chat, the WebSocket chat and the lab's web side listen: the usual port for a web
/// server that is not the main one.
const HTTP_ADDR: &str = "127.0.0.1:8080";

/// Where the WebSocket echo server listens: the port the Autobahn test suite expects.
const WS_ECHO_ADDR: &str = "127.0.0.1:9001";

#[derive(Parser)]
#[command(
    name = "server",
    about = "The server side of socket-steps: run one lesson, then start its client in another terminal.",
    after_help = "Each lesson has a matching client: `cargo server echo` here, `cargo client echo` there.\n\
                  Every server takes --addr HOST:PORT (alias --bind); 0.0.0.0:PORT opens it to your network.\n\
                  The lab takes --tcp and --http, or --bind HOST for both."
)]
struct Cli {
    #[command(subcommand)]
    lesson: Lesson,
    /// Print every read and write of every connection (to stderr, beside the logs): direction,
    /// peer, byte count, the layer's view (lines, HTTP heads, WebSocket frames), and the bytes
    #[arg(long, global = true)]
    trace: bool,
    /// Speak TLS: https:// and wss:// on a web port, a sealed chat on a TCP one (http, ws-echo,
    /// ws, chat, lab); without --cert, a certificate for localhost is made once and kept
    #[arg(long, global = true)]
    tls: bool,
    /// The certificate chain (PEM) that --tls shows, instead of the one made for localhost
    #[arg(long, global = true, value_name = "FILE", requires = "tls", requires = "key")]
    cert: Option<String>,
    /// The private key (PEM) of --cert
    #[arg(long, global = true, value_name = "FILE", requires = "cert")]
    key: Option<String>,
}

/// `--addr HOST:PORT` (alias `--bind`), with a lesson's default: one struct per default, so
/// that `--help` shows each lesson's own.
macro_rules! listen_flag {
    ($name:ident, $default:expr) => {
        #[derive(clap::Args)]
        struct $name {
            /// Where to listen: 127.0.0.1 is this machine only, 0.0.0.0 every network (a classroom)
            #[arg(long, visible_alias = "bind", value_name = "HOST:PORT", default_value = $default)]
            addr: String,
        }
    };
}
listen_flag!(Tcp, DEFAULT_ADDR);
listen_flag!(Web, HTTP_ADDR);
listen_flag!(WsEchoAddr, WS_ECHO_ADDR);

/// `--max-members`, for the chat servers and the lab.
#[derive(clap::Args)]
struct Members {
    /// Members at once; the next one is told the chat is full (connection threads are capped at
    /// twice this)
    #[arg(long, value_name = "N", default_value_t = hub::MAX_MEMBERS)]
    max_members: usize,
}

impl Members {
    fn hub(&self) -> Arc<Hub> {
        Arc::new(Hub::new(Limits { max_members: self.max_members, ..Limits::default() }))
    }
}

/// `--max-connections` for the one-thread servers of chapter 14.
#[derive(clap::Args)]
struct OneThread {
    /// Clients served at once by the one thread; the next one is told the server is busy
    #[arg(long, value_name = "N", default_value_t = server::evloop::MAX_CONNECTIONS)]
    max_connections: usize,
}

impl OneThread {
    fn config(&self) -> server::evloop::Config {
        server::evloop::Config { max_connections: self.max_connections, ..Default::default() }
    }
}

#[derive(Subcommand)]
enum Lesson {
    /// 1. The socket life cycle, one call at a time: socket, bind, listen, accept, recv, send, close
    Lifecycle(Tcp),
    /// 2. An echo server that serves one client at a time (and why the second one waits)
    Echo(Tcp),
    /// 3. The echo server with a thread per connection, and a cap on connections
    ThreadedEcho {
        #[command(flatten)]
        listen: Tcp,
        /// Clients served at once; the next one is told the server is busy
        #[arg(long, value_name = "N", default_value_t = lessons::threaded_echo::MAX_CONNECTIONS)]
        max_connections: usize,
    },
    /// 4. A chat over plain TCP: nicknames, rooms, broadcast, a reader and a writer per client
    Chat {
        #[command(flatten)]
        listen: Tcp,
        #[command(flatten)]
        members: Members,
    },
    /// 5. The chat over HTTP: polling, long polling and streaming (default 127.0.0.1:8080)
    Http {
        #[command(flatten)]
        listen: Web,
        /// Connections served at once (waiting long-polls and open streams included); the next
        /// one gets 503
        #[arg(long, value_name = "N", default_value_t = http_chat::Config::default().max_connections)]
        max_connections: usize,
    },
    /// 6. WebSocket echo: the threaded echo server over WebSocket, with tungstenite (port 9001)
    WsEcho {
        #[command(flatten)]
        listen: WsEchoAddr,
        /// Clients served at once; the next one gets 503
        #[arg(long, value_name = "N", default_value_t = lessons::ws_echo::MAX_CONNECTIONS)]
        max_connections: usize,
    },
    /// 7. The WebSocket handshake by hand, one frame taken apart, then tungstenite
    Handshake {
        #[command(flatten)]
        listen: Tcp,
        /// Clients served at once; the next one gets 503
        #[arg(long, value_name = "N", default_value_t = lessons::handshake::MAX_CONNECTIONS)]
        max_connections: usize,
    },
    /// 8. The chat over WebSocket, on the reader/writer split (default 127.0.0.1:8080, path /ws)
    Ws {
        #[command(flatten)]
        listen: Web,
        #[command(flatten)]
        members: Members,
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
        /// Listen on HOST for both, on their ports (0.0.0.0 opens the lab to your network, a
        /// classroom)
        #[arg(long, value_name = "HOST")]
        bind: Option<String>,
        #[command(flatten)]
        members: Members,
        /// Connections the web side serves at once (WebSocket members, streams, waiting
        /// long-polls); the next one gets 503 [default: 500, or twice --max-members if more]
        #[arg(long, value_name = "N")]
        max_connections: Option<usize>,
        /// Also let pages from this origin join over WebSocket; repeatable
        #[arg(long, value_name = "ORIGIN")]
        allow_origin: Vec<String>,
        /// Rooms kept at once; the quietest empty one is forgotten to make space
        #[arg(long, value_name = "N", default_value_t = hub::MAX_ROOMS)]
        max_rooms: usize,
        /// Share rooms with other labs through this Redis (chapter 13; with a password,
        /// redis://:PASSWORD@HOST:PORT, never printed); without it, one in-process hub
        #[arg(long, value_name = "redis://HOST:PORT")]
        broker: Option<String>,
        /// How often Socket.IO clients are pinged, in milliseconds (chapter 16)
        #[arg(long, value_name = "MS", default_value_t = server::sio::PING_INTERVAL.as_millis() as u64)]
        sio_ping_interval: u64,
        /// How long past a due ping a silent Socket.IO client is kept, in milliseconds
        #[arg(long, value_name = "MS", default_value_t = server::sio::PING_TIMEOUT.as_millis() as u64)]
        sio_ping_timeout: u64,
        /// The Socket.IO client script for the page at /sio (socket.io-client's
        /// dist/socket.io.min.js from npm); the lab ships none
        #[arg(long, value_name = "FILE")]
        sio_client: Option<std::path::PathBuf>,
        /// Class mode (chapter 11): grade every enrolled student's server with LESSON's checks
        /// (those of `cargo client check LESSON`) and show the class on /class
        #[arg(long, value_name = "LESSON")]
        class: Option<String>,
        /// In class mode, grade everyone again every N seconds
        #[arg(long, value_name = "SECONDS", default_value_t = server::class::EVERY.as_secs(),
              value_parser = clap::value_parser!(u64).range(1..))]
        class_every: u64,
        /// In class mode, append each change of a student's result to this CSV file
        #[arg(long, value_name = "FILE", requires = "class")]
        class_out: Option<std::path::PathBuf>,
    },
    /// 14. The echo server on one thread: non-blocking sockets and poll(2) by hand (Linux, macOS)
    OneThreadPoll {
        #[command(flatten)]
        listen: Tcp,
        #[command(flatten)]
        limits: OneThread,
    },
    /// 14. The one-thread echo server on mio (epoll, kqueue, IOCP): the same loop, on every OS
    OneThreadEcho {
        #[command(flatten)]
        listen: Tcp,
        #[command(flatten)]
        limits: OneThread,
    },
    /// 14. Lesson 4's TCP chat on one thread, over the same hub: rooms, nicknames, flood control
    OneThreadChat {
        #[command(flatten)]
        listen: Tcp,
        #[command(flatten)]
        members: Members,
    },
    /// 14. The lab on one thread: the TCP chat, the page and /ws on two ports, one hub
    OneThreadLab {
        /// The TCP chat's address (nc, `cargo client chat`)
        #[arg(long, value_name = "HOST:PORT", default_value = DEFAULT_ADDR)]
        tcp: String,
        /// The web side's address: the browser page and the WebSocket chat (/ws)
        #[arg(long, value_name = "HOST:PORT", default_value = HTTP_ADDR)]
        http: String,
        #[command(flatten)]
        members: Members,
        /// Also let pages from this origin join over WebSocket; repeatable
        #[arg(long, value_name = "ORIGIN")]
        allow_origin: Vec<String>,
    },
    /// 14. WebSocket echo on one thread: tungstenite over non-blocking sockets, on mio (port 9001)
    OneThreadWsEcho {
        #[command(flatten)]
        listen: WsEchoAddr,
        #[command(flatten)]
        limits: OneThread,
    },
}

fn main() -> ExitCode {
    common::logging::init();
    let cli = Cli::parse();
    if cli.trace {
        common::trace::enable();
    }
    let tls = match cli.tls.then(|| server::tls::config(cli.cert.as_deref(), cli.key.as_deref())).transpose()
    {
        Ok(tls) => tls,
        Err(message) => {
            log::error!("{message}");
            return ExitCode::FAILURE;
        }
    };
    match run(cli.lesson, tls) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            log::error!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn run(lesson: Lesson, tls: Option<common::tls::ServerConfig>) -> Result<(), String> {
    if tls.is_some() && matches!(lesson, Lesson::Lifecycle(_) | Lesson::Echo(_) | Lesson::ThreadedEcho { .. })
    {
        return Err(
            "--tls works on http, ws-echo, handshake, ws, chat and lab: lessons 1-3 show the bare socket"
                .into(),
        );
    }
    let shutdown = Shutdown::new();
    shutdown.trigger_on_ctrl_c()?;
    let bind = |addr: &str| {
        let listener = common::net::bind(addr)?;
        if let Some(tls) = &tls {
            server::tls::serve_on(&listener, tls.clone()).map_err(|e| format!("cannot use {addr}: {e}"))?;
        }
        Ok::<_, String>(listener)
    };
    match lesson {
        Lesson::Lifecycle(listen) => {
            let addr = common::net::resolve(&listen.addr)?[0];
            let listener = lessons::lifecycle::open(addr)?;
            lessons::lifecycle::run(listener, &shutdown)
        }
        Lesson::Echo(listen) => lessons::echo::run(bind(&listen.addr)?, &shutdown),
        Lesson::ThreadedEcho { listen, max_connections } => {
            lessons::threaded_echo::run(bind(&listen.addr)?, &shutdown, max_connections)
        }
        Lesson::Chat { listen, members } => lessons::chat::run(bind(&listen.addr)?, &shutdown, members.hub()),
        Lesson::Http { listen, max_connections } => {
            let hub = Arc::new(Hub::new(Limits::default()));
            let config = http_chat::Config { max_connections, ..http_chat::Config::default() };
            http_chat::run(bind(&listen.addr)?, &shutdown, hub, config)
        }
        Lesson::WsEcho { listen, max_connections } => {
            lessons::ws_echo::run(bind(&listen.addr)?, &shutdown, max_connections)
        }
        Lesson::Handshake { listen, max_connections } => {
            lessons::handshake::run(bind(&listen.addr)?, &shutdown, max_connections)
        }
        Lesson::Ws { listen, members, allow_origin } => {
            let origins = lessons::ws_chat::Origins { extra: allow_origin };
            // Room for every member, and for the one past the cap to hear why it is refused.
            let max_connections = server::http::MAX_CONNECTIONS.max(2 * members.max_members);
            let limits = server::http::Limits { max_connections, ..Default::default() };
            lessons::ws_chat::run(bind(&listen.addr)?, &shutdown, members.hub(), limits, origins)
        }
        Lesson::Lab {
            tcp,
            http,
            bind: host,
            members,
            max_connections,
            allow_origin,
            max_rooms,
            broker,
            sio_ping_interval,
            sio_ping_timeout,
            sio_client,
            class,
            class_every,
            class_out,
        } => {
            let (tcp, web) = match host {
                Some(host) => (on_host(&host, &tcp, "--tcp")?, on_host(&host, &http, "--http")?),
                None => (tcp, http),
            };
            let (tcp, web) = (bind(&tcp)?, bind(&web)?);
            let default = http_chat::Config::default();
            let max_connections =
                max_connections.unwrap_or(default.max_connections.max(2 * members.max_members));
            let config = http_chat::Config { max_connections, ..default };
            let origins = lessons::ws_chat::Origins { extra: allow_origin };
            let limits = Limits { max_members: members.max_members, max_rooms, ..Limits::default() };
            let hub = match broker {
                Some(url) => Hub::with_broker(limits, hub::Broker::new(&url)?)
                    .map_err(|e| format!("cannot start the broker's reader: {e}"))?,
                None => Arc::new(Hub::new(limits)),
            };
            let client_script = match sio_client {
                Some(path) => Some(std::fs::read(&path).map_err(|e| {
                    format!("cannot read --sio-client {}: {e} (it names socket.io-client's dist/socket.io.min.js)", path.display())
                })?),
                None => None,
            };
            let sio = server::sio::Config {
                ping_interval: Duration::from_millis(sio_ping_interval),
                ping_timeout: Duration::from_millis(sio_ping_timeout),
                client_script: client_script.map(Arc::from),
            };
            let class = class.map(|lesson| {
                let every = std::time::Duration::from_secs(class_every);
                let setup =
                    server::class::Config { every, out: class_out, ..server::class::Config::new(&lesson) };
                (setup, Arc::new(server::class::Checks) as Arc<dyn server::class::Grade>)
            });
            let result =
                lessons::lab::run_with_all(tcp, web, &shutdown, hub.clone(), config, origins, sio, class);
            // Closed already after Ctrl-C; closing again is harmless and stops the reader.
            hub.close();
            hub.join_reader();
            result
        }
        Lesson::OneThreadPoll { listen, limits } => {
            lessons::one_thread_poll::run(bind(&listen.addr)?, &shutdown, &limits.config())
        }
        Lesson::OneThreadEcho { listen, limits } => {
            lessons::one_thread_echo::run(bind(&listen.addr)?, &shutdown, &limits.config())
        }
        Lesson::OneThreadChat { listen, members } => {
            // As lesson 4: connections capped at twice the members, so the one over the cap
            // hears why.
            let config =
                server::evloop::Config { max_connections: 2 * members.max_members, ..Default::default() };
            lessons::one_thread_chat::run(bind(&listen.addr)?, &shutdown, members.hub(), &config)
        }
        Lesson::OneThreadLab { tcp, http, members, allow_origin } => {
            let config =
                server::evloop::Config { max_connections: 2 * members.max_members, ..Default::default() };
            let origins = lessons::ws_chat::Origins { extra: allow_origin };
            lessons::one_thread_lab::run(
                bind(&tcp)?,
                bind(&http)?,
                &shutdown,
                members.hub(),
                &config,
                origins,
            )
        }
        Lesson::OneThreadWsEcho { listen, limits } => {
            lessons::one_thread_echo::run_ws(bind(&listen.addr)?, &shutdown, &limits.config())
        }
    }
    .map_err(|e| format!("the server failed: {e}"))
}

/// `--bind HOST` for the lab: `addr`'s port on `host`. The lab listens on two ports, so a
/// `HOST:PORT` here cannot say which one it means: that is refused with what to write instead.
fn on_host(host: &str, addr: &str, flag: &str) -> Result<String, String> {
    let port = addr
        .rsplit_once(':')
        .map(|(_, port)| port)
        .ok_or_else(|| format!("{flag} {addr}: expected HOST:PORT"))?;
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(
            SocketAddr::new(ip, port.parse().map_err(|_| format!("{flag} {addr}: bad port"))?).to_string()
        );
    }
    if host.parse::<SocketAddr>().is_ok() || host.contains(':') {
        return Err(format!(
            "--bind takes a host only, such as 0.0.0.0, because the lab listens on two ports; \
             choose them with --tcp HOST:PORT and --http HOST:PORT (got --bind {host})"
        ));
    }
    Ok(format!("{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::on_host;

    #[test]
    fn lab_bind_takes_a_host_and_refuses_a_port() {
        assert_eq!(on_host("0.0.0.0", "127.0.0.1:7878", "--tcp").unwrap(), "0.0.0.0:7878");
        assert_eq!(on_host("::", "127.0.0.1:8080", "--http").unwrap(), "[::]:8080");
        assert_eq!(on_host("localhost", "127.0.0.1:8080", "--http").unwrap(), "localhost:8080");
        let refused = on_host("0.0.0.0:7000", "127.0.0.1:7878", "--tcp").unwrap_err();
        assert!(refused.starts_with("--bind takes a host only"), "{refused}");
    }
}
