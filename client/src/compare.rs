//! `cargo client compare`: every transport of the book, measured side by side on one server.
//!
//! For each transport, `subscribers` clients follow a room of their own while one publisher (a
//! TCP member) sends `messages` lines at `rate` per second. Every line carries the time it was
//! sent; every subscriber notes when it arrived. Bytes are counted on the subscribers' own
//! sockets, headers included. The result is one table (and, on request, JSON and an SVG chart).

use std::fmt::Write as _;
use std::io::Write;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::line::LineReader;
use common::Shutdown;
use serde_json::{json, Value};

use crate::lessons::http::{self, Counted, Mode, Stats};

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// A running lab's TCP and web addresses; `None` starts a lab in this process.
    pub addrs: Option<(String, String)>,
    pub subscribers: usize,
    pub messages: usize,
    /// Messages per second from the publisher.
    pub rate: f64,
    /// Polling intervals to measure, in seconds (one row each).
    pub intervals: Vec<f64>,
}

impl Default for Options {
    fn default() -> Self {
        Options { addrs: None, subscribers: 5, messages: 20, rate: 10.0, intervals: vec![1.0, 0.25] }
    }
}

/// One transport's figures.
#[derive(Debug, Clone)]
pub struct Row {
    pub transport: String,
    pub sent: usize,
    /// Deliveries summed over subscribers (at most `sent` × subscribers).
    pub delivered: u64,
    /// HTTP requests; `None` where the transport is not HTTP.
    pub requests: Option<u64>,
    pub empty: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// Delivery delays in microseconds, sorted.
    pub delays_us: Vec<u64>,
    /// The server's CPU time during the run, where this platform and setup can tell.
    pub server_cpu_ms: Option<f64>,
}

impl Row {
    fn per_message(&self, bytes: u64) -> f64 {
        bytes as f64 / self.delivered.max(1) as f64
    }

    /// The `p`-th percentile delay in milliseconds.
    pub fn delay_ms(&self, p: f64) -> Option<f64> {
        if self.delays_us.is_empty() {
            return None;
        }
        let rank = ((p / 100.0) * (self.delays_us.len() - 1) as f64).round() as usize;
        Some(self.delays_us[rank] as f64 / 1000.0)
    }

    pub fn json(&self) -> Value {
        json!({
            "transport": self.transport, "sent": self.sent, "delivered": self.delivered,
            "requests": self.requests, "empty": self.empty, "bytes_up": self.bytes_up,
            "bytes_down": self.bytes_down, "delay_ms": {"p50": self.delay_ms(50.0), "p95": self.delay_ms(95.0),
            "p99": self.delay_ms(99.0)}, "server_cpu_ms": self.server_cpu_ms,
        })
    }
}

/// The transports, in the order of the book.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Transport {
    Poll(f64),
    LongPoll,
    Stream,
    WebSocket,
    Tcp,
}

impl Transport {
    fn name(self) -> String {
        match self {
            Transport::Poll(interval) => format!("polling every {interval} s"),
            Transport::LongPoll => "long polling".into(),
            Transport::Stream => "SSE streaming".into(),
            Transport::WebSocket => "WebSocket".into(),
            Transport::Tcp => "raw TCP".into(),
        }
    }
}

/// Runs every transport and returns one row each; `progress` gets a line per transport.
pub fn run(options: &Options, progress: &mut impl Write) -> Result<Vec<Row>, String> {
    let lab_shutdown = Shutdown::new();
    let (tcp, web, in_process) = match &options.addrs {
        Some((tcp, web)) => (tcp.clone(), web.clone(), false),
        None => {
            let (tcp, web) = start_lab(&lab_shutdown)?;
            (tcp, web, true)
        }
    };
    let mut transports: Vec<Transport> = options.intervals.iter().map(|&i| Transport::Poll(i)).collect();
    transports.extend([Transport::LongPoll, Transport::Stream, Transport::WebSocket, Transport::Tcp]);
    let mut rows = Vec::new();
    for (i, transport) in transports.into_iter().enumerate() {
        let _ = writeln!(
            progress,
            "measuring {} ({} subscribers, {} messages at {}/s)...",
            transport.name(),
            options.subscribers,
            options.messages,
            options.rate
        );
        let room = format!("compare-{}-{i}", std::process::id());
        rows.push(measure(transport, &room, &tcp, &web, options, in_process)?);
    }
    lab_shutdown.trigger();
    Ok(rows)
}

/// A lab on two ephemeral loopback ports, in this process.
fn start_lab(shutdown: &Shutdown) -> Result<(String, String), String> {
    let bind = || TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot start the lab: {e}"));
    let (tcp, web) = (bind()?, bind()?);
    let addrs = (tcp.local_addr().map_err(|e| e.to_string())?, web.local_addr().map_err(|e| e.to_string())?);
    let hub = Arc::new(server::hub::Hub::new(server::hub::Limits::default()));
    let shutdown = shutdown.clone();
    let config = server::lessons::http_chat::Config::default();
    thread::Builder::new()
        .name("compare lab".into())
        .spawn(move || server::lessons::lab::run(tcp, web, &shutdown, hub, config, Default::default()))
        .map_err(|e| e.to_string())?;
    Ok((addrs.0.to_string(), addrs.1.to_string()))
}

/// Microseconds since 1970: the publisher and the subscribers may be different processes.
fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// What every subscriber of one run shares.
struct Tally {
    /// The publisher's nickname in this run (each run has its own: the last run's publisher may
    /// still be leaving when the next one arrives).
    publisher: String,
    delays: Mutex<Vec<u64>>,
    delivered: AtomicU64,
}

impl Tally {
    /// Records a line the publisher sent (`m SEQ SENT_US`); ignores everything else.
    fn record(&self, nick: &str, text: &str) {
        let sent = text
            .strip_prefix("m ")
            .and_then(|rest| rest.split(' ').nth(1))
            .and_then(|t| t.parse::<u64>().ok());
        if let (true, Some(sent)) = (nick == self.publisher, sent) {
            self.delivered.fetch_add(1, Ordering::Relaxed);
            self.delays.lock().unwrap_or_else(|p| p.into_inner()).push(now_us().saturating_sub(sent));
        }
    }
}

fn measure(
    transport: Transport,
    room: &str,
    tcp: &str,
    web: &str,
    options: &Options,
    in_process: bool,
) -> Result<Row, String> {
    let stats = Arc::new(Stats::default());
    let publisher_nick = format!("pub-{room}");
    let tally = Arc::new(Tally {
        publisher: publisher_nick.clone(),
        delays: Mutex::new(Vec::new()),
        delivered: AtomicU64::new(0),
    });
    let stop = Shutdown::new();
    let (ready_tx, ready) = mpsc::channel();
    let mut subscribers = Vec::new();
    for n in 0..options.subscribers {
        let subscriber = Subscriber {
            transport,
            tcp: tcp.to_string(),
            web: web.to_string(),
            room: room.to_string(),
            stats: stats.clone(),
            tally: tally.clone(),
            stop: stop.clone(),
            ready: ready_tx.clone(),
        };
        let handle = thread::Builder::new()
            .name(format!("compare sub {n}"))
            .spawn(move || subscriber.run())
            .map_err(|e| e.to_string())?;
        subscribers.push(handle);
    }
    for _ in 0..options.subscribers {
        ready
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| format!("{}: a subscriber never got ready", transport.name()))??;
    }

    let cpu_before = cpu::sample();
    let publisher = publish(tcp, room, &publisher_nick, options)?;
    // Wait for the last deliveries: a poller may ask only once its interval has passed.
    let expected = (options.messages * options.subscribers) as u64;
    let grace = match transport {
        Transport::Poll(interval) => Duration::from_secs_f64(interval * 2.0 + 1.0),
        _ => Duration::from_secs(2),
    };
    let deadline = Instant::now() + grace;
    while tally.delivered.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    let cpu_after = cpu::sample();
    stop.trigger();
    drop(publisher);
    for handle in subscribers {
        let _ = handle.join();
    }

    let mut delays = std::mem::take(&mut *tally.delays.lock().unwrap_or_else(|p| p.into_inner()));
    delays.sort_unstable();
    let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
    Ok(Row {
        transport: transport.name(),
        sent: options.messages,
        delivered: get(&tally.delivered),
        requests: match transport {
            Transport::Tcp => None,
            Transport::WebSocket => Some(options.subscribers as u64), // one upgrade each
            _ => Some(get(&stats.requests)),
        },
        empty: get(&stats.empty),
        bytes_up: get(&stats.bytes_sent),
        bytes_down: get(&stats.bytes_received),
        delays_us: delays,
        server_cpu_ms: if in_process { cpu::server_ms(&cpu_before, &cpu_after) } else { None },
    })
}

/// One subscriber of one run: follows `room` by `transport` until `stop`, recording every
/// publisher line in `tally`, counting its bytes in `stats`, and saying on `ready` when it listens.
struct Subscriber {
    transport: Transport,
    tcp: String,
    web: String,
    room: String,
    stats: Arc<Stats>,
    tally: Arc<Tally>,
    stop: Shutdown,
    ready: mpsc::Sender<Result<(), String>>,
}

impl Subscriber {
    fn run(self) {
        let tally = self.tally.clone();
        let mut show = |event: &Value| {
            if let (Some(nick), Some(text)) = (event["nick"].as_str(), event["text"].as_str()) {
                tally.record(nick, text);
            }
            Ok(())
        };
        let (web, stats, stop) = (&self.web, &self.stats, &self.stop);
        let encoded = common::percent::encode(&self.room);
        let result = match self.transport {
            Transport::Poll(interval) => {
                let _ = self.ready.send(Ok(()));
                let mode = Mode::Poll { interval: Duration::from_secs_f64(interval) };
                http::poll(web, mode, &encoded, stats, stop, &mut show)
            }
            Transport::LongPoll => {
                let _ = self.ready.send(Ok(()));
                http::poll(web, Mode::LongPoll, &encoded, stats, stop, &mut show)
            }
            Transport::Stream => {
                let _ = self.ready.send(Ok(()));
                http::stream(web, &encoded, stats, stop, &mut show)
            }
            Transport::Tcp | Transport::WebSocket => self.member(),
        };
        if let Err(e) = result {
            if !self.stop.is_triggered() {
                log::warn!("{}: {e}", self.transport.name());
            }
        }
    }

    /// A TCP or WebSocket subscriber: a member of the room, reading lines until stopped.
    fn member(&self) -> Result<(), String> {
        let addr = if self.transport == Transport::Tcp { &self.tcp } else { &self.web };
        let stream = common::net::connect(addr, "lab")?;
        let _tracked = self.stop.track(&stream).map_err(|e| e.to_string())?;
        let counted = Counted { stream, stats: self.stats.clone() };
        let room = &self.room;
        let in_room = format!(" in {room}");
        let mut on_line = |line: &str| {
            if let Some((nick, text)) = line.split_once(": ") {
                self.tally.record(nick, text);
            }
            if line.starts_with("* you are now ") && line.ends_with(&in_room) {
                let _ = self.ready.send(Ok(()));
            }
        };
        if self.transport == Transport::Tcp {
            let mut counted = counted;
            counted.write_all(format!("/join {room}\n").as_bytes()).map_err(|e| e.to_string())?;
            let mut lines = LineReader::new(counted, 64 * 1024);
            while let Ok(Some(line)) = lines.read_line() {
                on_line(&line);
            }
        } else {
            let url = format!("ws://{}/ws", self.web);
            let (mut socket, _) =
                tungstenite::client::client(url.as_str(), counted).map_err(|e| e.to_string())?;
            socket.send(tungstenite::Message::text(format!("/join {room}"))).map_err(|e| e.to_string())?;
            while let Ok(message) = socket.read() {
                if let tungstenite::Message::Text(text) = message {
                    text.lines().for_each(&mut on_line);
                }
            }
        }
        Ok(())
    }
}

/// The publisher: a TCP member of `room` that sends `messages` lines at `rate`, each carrying its
/// sequence number and send time. Returned so its connection stays open until the run ends.
fn publish(tcp: &str, room: &str, nick: &str, options: &Options) -> Result<std::net::TcpStream, String> {
    let mut stream = common::net::connect(tcp, "lab")?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    // Joining must not take long; if it does, something is wrong: say so rather than wait.
    stream.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    let mut lines = LineReader::new(stream.try_clone().map_err(|e| e.to_string())?, 64 * 1024);
    stream.write_all(format!("/nick {nick}\n/join {room}\n").as_bytes()).map_err(|e| e.to_string())?;
    // Joined once the server says so; everything before is the welcome.
    let joined = format!("* you are now {nick} in {room}");
    for _ in 0..100 {
        match lines.read_line() {
            Ok(Some(line)) if line == joined => break,
            Ok(Some(line)) if line.starts_with("! ") => {
                return Err(format!("the publisher could not join: {line}"))
            }
            Ok(Some(_)) => continue,
            _ => return Err(format!("the publisher could not join {room}")),
        }
    }
    stream.set_read_timeout(None).map_err(|e| e.to_string())?;
    // The room's other lines must not pile up unread: a reader drains them.
    thread::Builder::new()
        .name("compare publisher reader".into())
        .spawn(move || while let Ok(Some(_)) = lines.read_line() {})
        .map_err(|e| e.to_string())?;
    let gap = Duration::from_secs_f64(1.0 / options.rate.max(0.001));
    let start = Instant::now();
    for seq in 0..options.messages {
        // A fixed schedule, not "sleep after each": sending time does not stretch the rate.
        let at = start + gap * seq as u32;
        if let Some(wait) = at.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        stream.write_all(format!("m {seq} {}\n", now_us()).as_bytes()).map_err(|e| e.to_string())?;
    }
    Ok(stream)
}

/// The table, as the terminal shows it.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<22} {:>9} {:>8} {:>6} {:>9} {:>10} {:>8} {:>8} {:>8} {:>13}",
        "transport",
        "delivered",
        "requests",
        "empty",
        "up B/msg",
        "down B/msg",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "server CPU ms"
    );
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    for row in rows {
        let _ = writeln!(
            out,
            "{:<22} {:>9} {:>8} {:>6} {:>9.0} {:>10.0} {:>8} {:>8} {:>8} {:>13}",
            row.transport,
            format!("{}", row.delivered),
            row.requests.map_or("-".into(), |r| r.to_string()),
            row.empty,
            row.per_message(row.bytes_up),
            row.per_message(row.bytes_down),
            ms(row.delay_ms(50.0)),
            ms(row.delay_ms(95.0)),
            ms(row.delay_ms(99.0)),
            row.server_cpu_ms.map_or("-".into(), |c| format!("{c:.1}")),
        );
    }
    out
}

/// Two bar charts in one SVG: requests per delivered message, and the median delay.
pub fn svg(rows: &[Row]) -> String {
    let (width, bar, gap, label) = (760.0, 22.0, 8.0, 170.0);
    let chart = |title: &str, y0: f64, values: Vec<(String, f64)>, unit: &str| -> String {
        let max = values.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max).max(f64::MIN_POSITIVE);
        let mut s = format!(r#"<text x="0" y="{y0}" font-weight="bold">{title}</text>"#);
        for (i, (name, value)) in values.iter().enumerate() {
            let y = y0 + 12.0 + i as f64 * (bar + gap);
            let w = (width - label - 90.0) * value / max;
            let _ = write!(
                s,
                r##"<text x="0" y="{ty}">{name}</text><rect x="{label}" y="{y}" width="{w:.1}" height="{bar}" fill="#4a7bd0"/><text x="{tx:.1}" y="{ty}">{value:.2} {unit}</text>"##,
                ty = y + bar * 0.7,
                tx = label + w + 6.0
            );
        }
        s
    };
    let n = rows.len() as f64;
    let per = |r: &Row| r.requests.map_or(0.0, |q| q as f64 / r.delivered.max(1) as f64);
    let first = chart(
        "HTTP requests per delivered message",
        20.0,
        rows.iter().map(|r| (r.transport.clone(), per(r))).collect(),
        "",
    );
    let y1 = 20.0 + 30.0 + n * (bar + gap);
    let second = chart(
        "median delivery delay",
        y1,
        rows.iter().map(|r| (r.transport.clone(), r.delay_ms(50.0).unwrap_or(0.0))).collect(),
        "ms",
    );
    let height = y1 + 30.0 + n * (bar + gap);
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="13">{first}{second}</svg>
"#
    )
}

/// The server's CPU time, where Linux tells: the run time of every thread of this process that
/// is not this tool's own (those are all named "compare ..."), from `/proc/self/task/*/schedstat`
/// (nanoseconds). Threads that ended during the run are missed, so this is a lower bound.
mod cpu {
    use std::collections::HashMap;

    #[derive(Debug, Default)]
    pub struct Sample {
        /// Thread id -> nanoseconds on a CPU, for the server's threads.
        threads: HashMap<String, u64>,
    }

    #[cfg(target_os = "linux")]
    pub fn sample() -> Sample {
        let main = std::process::id().to_string();
        let mut threads = HashMap::new();
        for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
            let (path, tid) = (task.path(), task.file_name().to_string_lossy().to_string());
            let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            if name.starts_with("compare ") || tid == main {
                continue;
            }
            let run_ns = std::fs::read_to_string(path.join("schedstat"))
                .ok()
                .and_then(|s| s.split(' ').next().and_then(|n| n.parse().ok()))
                .unwrap_or(0);
            threads.insert(tid, run_ns);
        }
        Sample { threads }
    }

    #[cfg(not(target_os = "linux"))]
    pub fn sample() -> Sample {
        Sample::default()
    }

    /// Milliseconds of server CPU between two samples (`None` where it cannot be told).
    pub fn server_ms(before: &Sample, after: &Sample) -> Option<f64> {
        if after.threads.is_empty() {
            return None;
        }
        let ns: u64 = after
            .threads
            .iter()
            .map(|(tid, now)| now.saturating_sub(before.threads.get(tid).copied().unwrap_or(0)))
            .sum();
        Some(ns as f64 / 1e6)
    }
}

/// Writes `text` to `path`.
pub fn save(path: &std::path::Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
