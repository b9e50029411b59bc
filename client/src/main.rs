//! `cargo client <lesson>`: parse the flags, run the lesson's client.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use client::{defaults, lessons};

#[derive(Parser)]
#[command(
    name = "client",
    about = "The client side of socket-steps: start the lesson's server in another terminal first.",
    after_help = "Each lesson has a matching server: `cargo server echo` there, `cargo client echo` here."
)]
struct Cli {
    #[command(subcommand)]
    lesson: Lesson,
    /// Print every read and write of every connection (to stderr, beside the logs): direction,
    /// peer, byte count, the layer's view (lines, HTTP heads, WebSocket frames), and the bytes
    #[arg(long, global = true)]
    trace: bool,
    /// Speak TLS to a server started with --tls (chat, poll, long-poll, stream, ws-echo, ws, nc)
    #[arg(long, global = true)]
    tls: bool,
    /// The certificate to trust (PEM), as the server printed it [default: the one a --tls server
    /// made on this machine]
    #[arg(long, global = true, value_name = "FILE", requires = "tls")]
    ca: Option<std::path::PathBuf>,
}

/// Where a TCP lesson's server is.
#[derive(clap::Args)]
struct Connect {
    /// Where the server listens
    #[arg(long, value_name = "HOST:PORT", default_value = defaults::TCP)]
    addr: String,
}

/// Where the HTTP chat is, which room to follow, and for how long.
#[derive(clap::Args)]
struct HttpArgs {
    /// Where the HTTP chat (`cargo server http`, or the lab's web side) listens
    #[arg(long, value_name = "HOST:PORT", default_value = defaults::HTTP)]
    addr: String,
    /// The room to follow and to send to
    #[arg(long, default_value = common::protocol::LOBBY)]
    room: String,
    /// The nickname your lines are sent as
    #[arg(long, default_value = "web-guest")]
    nick: String,
    /// Stop after this many seconds (otherwise at Ctrl-C or the end of input); the costs are printed either way
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
}

/// The lessons in the order of the book, then the tools.
#[derive(Subcommand)]
enum Lesson {
    /// 1. The socket life cycle, one call at a time: socket, connect, send, recv, close
    Lifecycle {
        #[command(flatten)]
        connect: Connect,
        /// The one line to send
        #[arg(long, default_value = "hello, server")]
        message: String,
    },
    /// 2. Send what you type to the echo server, print what comes back
    Echo(Connect),
    /// 3. The same client, for the threaded echo server
    ThreadedEcho(Connect),
    /// 4. Chat over plain TCP: type to talk, /help lists the commands
    Chat {
        #[command(flatten)]
        connect: Connect,
        /// Your nickname (otherwise the server gives you a guest name; /nick changes it)
        #[arg(long)]
        nick: Option<String>,
        /// The room to join (otherwise the lobby; /join changes it)
        #[arg(long)]
        room: Option<String>,
    },
    /// 5. HTTP polling: ask every --interval seconds what is new (type to send)
    Poll {
        #[command(flatten)]
        http: HttpArgs,
        /// Seconds between two requests
        #[arg(long, default_value_t = 1.0)]
        interval: f64,
    },
    /// 5. HTTP long polling: ask, and the server answers when there is news (type to send)
    LongPoll(HttpArgs),
    /// 5. HTTP streaming: one response that never ends, Server-Sent Events (type to send)
    Stream(HttpArgs),
    /// 6. WebSocket echo: each line you type goes out as a message and comes back
    WsEcho {
        /// Where the WebSocket echo server (`cargo server ws-echo`) listens
        #[arg(long, value_name = "HOST:PORT", default_value = defaults::WS_ECHO)]
        addr: String,
    },
    /// 7. The WebSocket handshake and one frame, by hand
    Handshake {
        #[command(flatten)]
        connect: Connect,
        /// The message to send in the frame
        #[arg(long, default_value = "hello, WebSocket")]
        message: String,
        /// The Sec-WebSocket-Key to send, instead of 16 random bytes in base64 (the book's runs
        /// use RFC 6455's example, dGhlIHNhbXBsZSBub25jZQ==)
        #[arg(long, value_name = "BASE64")]
        key: Option<String>,
        /// The frame's masking key, 4 bytes in hex (like 37fa213d), instead of random ones
        #[arg(long, value_name = "HEX", value_parser = lessons::handshake::parse_mask)]
        mask: Option<[u8; 4]>,
    },
    /// 8. Chat over WebSocket (the lab's or `cargo server ws`): the same as `chat`
    Ws {
        /// Where the WebSocket chat (`cargo server ws`, or the lab's web side) listens
        #[arg(long, value_name = "HOST:PORT", default_value = defaults::HTTP)]
        addr: String,
        /// Your nickname (otherwise the server gives you a guest name; /nick changes it)
        #[arg(long)]
        nick: Option<String>,
        /// The room to join (otherwise the lobby; /join changes it)
        #[arg(long)]
        room: Option<String>,
    },
    /// Socket.IO (chapter 16): join the lab's /chat, or any Socket.IO server, as socket.io-client does
    Sio {
        /// The server and namespace, for example http://127.0.0.1:8080/chat
        #[arg(default_value = "http://127.0.0.1:8080/chat")]
        url: String,
        /// Polling first then the upgrade (auto), or one transport only
        #[arg(long, value_enum, default_value = "auto")]
        transport: client::sio::Transport,
        /// Your nickname (sent in the CONNECT's auth payload)
        #[arg(long)]
        nick: Option<String>,
        /// The room to join (sent in the CONNECT's auth payload)
        #[arg(long)]
        room: Option<String>,
    },
    /// Grade a server (yours, in any language): echo, threaded-echo, chat, http, ws or one-thread-echo
    Check {
        /// Which lesson's server to check: echo, threaded-echo, chat, http, ws or one-thread-echo
        lesson: String,
        /// Where it listens [default: where that lesson's reference server listens: 127.0.0.1:8080
        /// for http, 127.0.0.1:7878 for the others]
        #[arg(long, value_name = "HOST:PORT")]
        addr: Option<String>,
        /// Let the teacher's lab (`cargo server lab --class`) grade your server instead, and print
        /// what it measured: the lab's address, as its page shows it
        #[arg(long, value_name = "http://HOST:PORT", requires = "nick")]
        enroll: Option<String>,
        /// Your name on the teacher's scoreboard (with --enroll)
        #[arg(long, value_name = "NAME", requires = "enroll")]
        nick: Option<String>,
    },
    /// 10. Measure every transport of a running lab (`cargo server lab`) side by side
    Compare {
        /// The lab's TCP chat
        #[arg(long, value_name = "HOST:PORT", default_value = defaults::TCP)]
        tcp: String,
        /// The lab's web side (HTTP and WebSocket), as `cargo server lab --http` says
        #[arg(long, value_name = "HOST:PORT", default_value = defaults::HTTP, alias = "web")]
        http: String,
        /// Subscribers per transport
        #[arg(long, default_value_t = 5)]
        subscribers: usize,
        /// Messages the publisher sends per transport
        #[arg(long, default_value_t = 20)]
        messages: usize,
        /// Messages per second
        #[arg(long, default_value_t = 10.0)]
        rate: f64,
        /// Polling intervals to measure, in seconds
        #[arg(long, value_delimiter = ',', default_value = "1,0.25")]
        intervals: Vec<f64>,
        /// Also write the raw figures as JSON to this file
        #[arg(long, value_name = "FILE")]
        json: Option<std::path::PathBuf>,
        /// Also draw the figures as an SVG chart in this file
        #[arg(long, value_name = "FILE")]
        svg: Option<std::path::PathBuf>,
    },
    /// A raw client, like nc: lines you type go out, bytes that come in are printed
    Nc {
        /// Where to connect
        #[arg(value_name = "HOST:PORT")]
        addr: String,
    },
}

fn main() -> ExitCode {
    common::logging::init();
    let cli = Cli::parse();
    if cli.trace {
        common::trace::enable();
    }
    if cli.tls {
        let sealed = matches!(
            cli.lesson,
            Lesson::Chat { .. } | Lesson::Poll { .. } | Lesson::LongPoll(_) | Lesson::Stream(_)
        ) || matches!(cli.lesson, Lesson::WsEcho { .. } | Lesson::Ws { .. } | Lesson::Nc { .. });
        let tls = if sealed {
            common::tls::client::ClientTls::new(cli.ca.as_deref())
        } else {
            Err("--tls works with chat, poll, long-poll, stream, ws-echo, ws and nc".to_string())
        };
        match tls {
            Ok(tls) => common::tls::client::enable(tls),
            Err(message) => {
                log::error!("{message}");
                return ExitCode::FAILURE;
            }
        }
    }
    match run(cli.lesson) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            log::error!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn run(lesson: Lesson) -> Result<(), String> {
    let mut stdout = std::io::stdout();
    match lesson {
        Lesson::Lifecycle { connect, message } => {
            let reply = lessons::lifecycle::run(&connect.addr, &message)?;
            println!("{}", common::protocol::sanitize(&reply));
        }
        Lesson::Echo(connect) => {
            lessons::echo::run(&connect.addr, "echo", std::io::stdin(), &mut stdout)?;
        }
        Lesson::ThreadedEcho(connect) => {
            lessons::echo::run(&connect.addr, "threaded-echo", std::io::stdin(), &mut stdout)?;
        }
        Lesson::Chat { connect, nick, room } => {
            let chat = lessons::chat::Chat::connect(&connect.addr)?;
            let sender = chat.sender();
            let presses = std::sync::atomic::AtomicUsize::new(0);
            ctrlc::set_handler(move || {
                // The first Ctrl-C leaves politely; a second one does not wait for the server.
                if presses.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0 {
                    std::process::exit(130);
                }
                sender.quit();
            })
            .map_err(|e| format!("cannot catch Ctrl-C: {e}"))?;
            chat.run(
                nick.as_deref(),
                room.as_deref(),
                std::io::BufReader::new(std::io::stdin()),
                &mut stdout,
            )?;
        }
        Lesson::Poll { http, interval } => {
            let interval = seconds(interval, "--interval")?;
            run_http(http, lessons::http::Mode::Poll { interval }, &mut stdout)?;
        }
        Lesson::LongPoll(http) => run_http(http, lessons::http::Mode::LongPoll, &mut stdout)?,
        Lesson::Stream(http) => run_http(http, lessons::http::Mode::Stream, &mut stdout)?,
        Lesson::Ws { addr, nick, room } => {
            let chat = lessons::ws_chat::WsChat::connect(&addr)?;
            let writer = chat.writer();
            let presses = std::sync::atomic::AtomicUsize::new(0);
            ctrlc::set_handler(move || {
                // The first Ctrl-C leaves with a close frame; a second one does not wait.
                if presses.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0 {
                    std::process::exit(130);
                }
                lessons::ws_chat::leave(&writer);
            })
            .map_err(|e| format!("cannot catch Ctrl-C: {e}"))?;
            let input = std::io::BufReader::new(std::io::stdin());
            chat.run(nick.as_deref(), room.as_deref(), input, &mut stdout)?;
        }
        Lesson::Sio { url, transport, nick, room } => {
            let options = client::sio::Options { url, transport, name: nick, room };
            client::sio::run(&options, std::io::BufReader::new(std::io::stdin()), &mut stdout)?;
        }
        Lesson::Check { lesson, addr, enroll: Some(lab), nick } => {
            let addr = addr.as_deref().or(client::check::default_addr(&lesson)).unwrap_or(defaults::TCP);
            let nick = nick.unwrap_or_default();
            if !client::enroll::run(&lab, &lesson, &nick, addr, &mut stdout)? {
                return Err("the lab's checks did not all pass".into());
            }
        }
        Lesson::Check { lesson, addr, .. } => {
            let report = client::check::run(&lesson, addr.as_deref(), &mut stdout)?;
            if report.failed > 0 {
                return Err(format!("{} check(s) failed", report.failed));
            }
        }
        Lesson::Compare { tcp, http, subscribers, messages, rate, intervals, json, svg } => {
            if rate <= 0.0 || subscribers == 0 || messages == 0 || intervals.iter().any(|i| *i <= 0.0) {
                return Err("--rate, --subscribers, --messages and --intervals must be positive".into());
            }
            let options = client::compare::Options { tcp, http, subscribers, messages, rate, intervals };
            // A bar per transport on a terminal; a plain line per transport in a pipe or a file.
            let rows = if stdout.is_terminal() {
                client::compare::run(&options, &mut client::compare::progress::Bars::new())?
            } else {
                client::compare::run(&options, &mut client::compare::progress::Lines(std::io::stdout()))?
            };
            print!("{}", client::compare::table(&rows));
            if let Some(path) = json {
                let figures = serde_json::Value::Array(rows.iter().map(client::compare::Row::json).collect());
                client::compare::save(&path, &format!("{figures:#}\n"))?;
            }
            if let Some(path) = svg {
                client::compare::save(&path, &client::compare::svg(&rows))?;
            }
        }
        Lesson::Nc { addr } => {
            client::nc::run(&addr, std::io::BufReader::new(std::io::stdin()), &mut stdout)?;
        }
        Lesson::Handshake { connect, message, key, mask } => {
            let pinned = lessons::handshake::Pinned { key, mask };
            println!(
                "{}",
                common::protocol::sanitize(&lessons::handshake::run_pinned(
                    &connect.addr,
                    &message,
                    &pinned
                )?)
            );
        }
        Lesson::WsEcho { addr } => {
            lessons::ws_echo::run(&addr, std::io::stdin().lock(), &mut stdout)?;
        }
    }
    Ok(())
}

fn seconds(value: f64, flag: &str) -> Result<std::time::Duration, String> {
    std::time::Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{flag} must be a positive number of seconds, not {value}"))
}

/// The three HTTP clients: listen until Ctrl-C (or --duration), then print what it cost.
fn run_http(args: HttpArgs, mode: lessons::http::Mode, stdout: &mut std::io::Stdout) -> Result<(), String> {
    let shutdown = common::Shutdown::new();
    shutdown.trigger_on_ctrl_c()?;
    if let Some(duration) = args.duration {
        let duration = seconds(duration, "--duration")?;
        let timer = shutdown.clone();
        std::thread::spawn(move || {
            std::thread::sleep(duration);
            timer.trigger();
        });
    }
    let input = StopAtEnd { input: std::io::BufReader::new(std::io::stdin()), shutdown: shutdown.clone() };
    lessons::http::run(&args.addr, mode, &args.room, &args.nick, input, stdout, &shutdown).map(|_| ())
}

/// Standard input that stops the client when it ends (Ctrl-D, or the end of a pipe), once every
/// line before has been sent: the HTTP clients end there, like `chat` and `ws`.
struct StopAtEnd<R> {
    input: R,
    shutdown: common::Shutdown,
}

impl<R: std::io::BufRead> std::io::Read for StopAtEnd<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.input.read(buf)?;
        if n == 0 {
            self.shutdown.trigger();
        }
        Ok(n)
    }
}

impl<R: std::io::BufRead> std::io::BufRead for StopAtEnd<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        let buf = self.input.fill_buf()?;
        if buf.is_empty() {
            self.shutdown.trigger();
        }
        Ok(buf)
    }

    fn consume(&mut self, amount: usize) {
        self.input.consume(amount)
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn help_lists_the_lessons_in_book_order_then_the_tools_and_describes_every_flag() {
        let cli = Cli::command();
        let names: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).collect();
        let book = ["lifecycle", "echo", "threaded-echo", "chat", "poll", "long-poll", "stream", "ws-echo"];
        let rest = ["handshake", "ws", "sio", "check", "compare", "nc"];
        assert_eq!(names, [&book[..], &rest[..]].concat());
        for command in cli.get_subcommands() {
            assert!(command.get_about().is_some(), "{} has no description", command.get_name());
            for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
                let name = arg.get_id().as_str();
                assert!(
                    arg.get_help().is_some(),
                    "`client {} --{name}` has no description",
                    command.get_name()
                );
            }
        }
    }
}
