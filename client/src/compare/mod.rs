//! `cargo client compare`: every transport of the book, measured side by side on a running lab.
//!
//! ```text
//! terminal 1: cargo server lab          (TCP chat on 127.0.0.1:7878, web side on 127.0.0.1:8080)
//! terminal 2: cargo client compare
//! ```
//!
//! For each transport, `subscribers` clients follow a room of their own while one publisher (a
//! TCP member) sends `messages` lines at `rate` per second. Every line carries the time it was
//! sent; every subscriber notes when it arrived. Bytes are counted on the subscribers' own
//! sockets, headers included, so the figures are what the network carried, not what the code
//! meant to send. The result is one table (and, on request, JSON and an SVG chart).
//!
//! The parts: [`subscriber`] (the clients measured), [`publisher`], [`report`] (the table),
//! [`cpu`] (the server's CPU time, read from outside it) and [`progress`].

pub mod cpu;
pub mod progress;
mod publisher;
pub mod report;
mod socketio;
mod subscriber;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::Shutdown;

use crate::lessons::http::Stats;
pub use progress::Progress;
pub use report::{save, svg, table, Row};
use subscriber::{Subscriber, Tally};

/// How long the subscribers of one run may take to be listening, all together.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// What to measure, and where.
#[derive(Debug, Clone)]
pub struct Options {
    /// The lab's TCP chat (the publisher, and the raw TCP subscribers).
    pub tcp: String,
    /// The lab's web side (HTTP and WebSocket subscribers).
    pub http: String,
    pub subscribers: usize,
    pub messages: usize,
    /// Messages per second from the publisher.
    pub rate: f64,
    /// Polling intervals to measure, in seconds (one row each).
    pub intervals: Vec<f64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tcp: crate::defaults::TCP.into(),
            http: crate::defaults::HTTP.into(),
            subscribers: 5,
            messages: 20,
            rate: 10.0,
            intervals: vec![1.0, 0.25],
        }
    }
}

/// The transports, in the order of the book.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transport {
    Poll(f64),
    LongPoll,
    Stream,
    WebSocket,
    Tcp,
    /// Chapter 16's Socket.IO, on a WebSocket (`socketio`).
    SocketIo,
}

impl Transport {
    pub fn name(self) -> String {
        match self {
            Transport::Poll(interval) => format!("polling every {interval} s"),
            Transport::LongPoll => "long polling".into(),
            Transport::Stream => "SSE streaming".into(),
            Transport::WebSocket => "WebSocket".into(),
            Transport::Tcp => "raw TCP".into(),
            Transport::SocketIo => socketio::NAME.into(),
        }
    }
}

/// Runs every transport against the lab at `options.tcp` and `options.http`; returns one row
/// each. `progress` is told as each run goes.
pub fn run(options: &Options, progress: &mut impl Progress) -> Result<Vec<Row>, String> {
    // An error may quote the lab (a status line, a JSON error): shown escaped, like `check`'s.
    measure_all(options, progress).map_err(|e| crate::check::shown(&e))
}

fn measure_all(options: &Options, progress: &mut impl Progress) -> Result<Vec<Row>, String> {
    // Nobody listening is one line that says what to start, before any measuring. (A guest that
    // connects and goes at once is never announced to the lobby: the probe is unseen there.)
    for addr in [&options.tcp, &options.http] {
        drop(common::net::connect(addr, "lab").map_err(|e| match e.strip_prefix("no server at ") {
            Some(_) => format!("no lab at {addr}: start one in another terminal with `cargo server lab`"),
            None => e,
        })?);
    }
    let server = listening_port(&options.tcp).and_then(cpu::find_listener);
    let mut transports: Vec<Transport> = options.intervals.iter().map(|&i| Transport::Poll(i)).collect();
    transports.extend([Transport::LongPoll, Transport::Stream, Transport::WebSocket, Transport::Tcp]);
    transports.push(Transport::SocketIo);
    let mut rows = Vec::new();
    for (i, transport) in transports.into_iter().enumerate() {
        let room = format!("compare-{}-{i}", std::process::id());
        rows.push(measure(transport, &room, options, server, progress)?);
    }
    Ok(rows)
}

/// The port of `addr`, to find the process that listens on it.
fn listening_port(addr: &str) -> Option<u16> {
    addr.parse::<SocketAddr>().ok().map(|a| a.port()).or_else(|| addr.rsplit(':').next()?.parse().ok())
}

/// Microseconds since 1970: the publisher and the subscribers may be different processes.
fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// One transport's run: subscribers first (each says when it listens), then the publisher, then
/// a grace period for the last deliveries.
fn measure(
    transport: Transport,
    room: &str,
    options: &Options,
    server: Option<u32>,
    progress: &mut impl Progress,
) -> Result<Row, String> {
    let expected = (options.messages * options.subscribers) as u64;
    progress.start(&transport.name(), expected);
    let started = Instant::now();
    let stats = Arc::new(Stats::default());
    let publisher_nick = format!("pub-{room}");
    let tally = Arc::new(Tally::new(publisher_nick.clone()));
    let stop = Shutdown::new();
    let (ready_tx, ready) = mpsc::channel();
    let mut subscribers = Vec::new();
    for n in 0..options.subscribers {
        let subscriber = Subscriber {
            transport,
            tcp: options.tcp.clone(),
            web: options.http.clone(),
            room: room.to_string(),
            nick: format!("s{n}-{room}"),
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
    let stop_all = |subscribers: Vec<thread::JoinHandle<()>>| {
        stop.trigger();
        subscribers.into_iter().for_each(|handle| drop(handle.join()));
    };
    // One deadline for all the subscribers to be listening, not one each.
    let listening_by = Instant::now() + READY_TIMEOUT;
    for _ in 0..options.subscribers {
        let answer = ready.recv_timeout(listening_by.saturating_duration_since(Instant::now()));
        if let Err(e) = answer.unwrap_or_else(|_| {
            Err(format!("{}: a subscriber was not listening within {READY_TIMEOUT:?}", transport.name()))
        }) {
            stop_all(subscribers);
            return Err(e);
        }
    }

    let mut stream = match publisher::join(&options.tcp, room, &publisher_nick) {
        Ok(stream) => stream,
        Err(e) => {
            stop_all(subscribers);
            return Err(e);
        }
    };
    let cpu_before = server.map(cpu::sample);
    // The publisher has its own thread, so that this one can watch the deliveries meanwhile. It
    // hands its connection back: leaving the room before the last delivery could cut it short.
    let publishing = {
        let options = options.clone();
        thread::Builder::new()
            .name("compare publisher".into())
            .spawn(move || publisher::publish(&mut stream, &options).map(|()| stream))
            .map_err(|e| e.to_string())?
    };
    // Wait for the publisher, then for the last deliveries: a poller may ask only once its
    // interval has passed.
    let grace = match transport {
        Transport::Poll(interval) => Duration::from_secs_f64(interval * 2.0 + 1.0),
        _ => Duration::from_secs(2),
    };
    let mut deadline = None;
    loop {
        let delivered = tally.delivered.load(Ordering::Relaxed);
        progress.update(delivered);
        if delivered >= expected {
            break;
        }
        match deadline {
            None if publishing.is_finished() => deadline = Some(Instant::now() + grace),
            Some(deadline) if Instant::now() >= deadline => break,
            _ => {}
        }
        thread::sleep(Duration::from_millis(5));
    }
    let cpu_after = server.map(cpu::sample);
    stop_all(subscribers);
    let published = publishing.join().map_err(|_| "the publisher's thread failed".to_string())?;
    let publisher = published.map_err(|e| format!("{}: the publisher failed: {e}", transport.name()))?;
    publisher::leave(publisher);
    if let Some((first, count)) = tally.errors() {
        let others =
            if count > 1 { format!(" (and {} more subscribers failed)", count - 1) } else { String::new() };
        return Err(format!("{first}{others}"));
    }
    if tally.delivered.load(Ordering::Relaxed) == 0 {
        return Err(format!(
            "{}: none of the {expected} deliveries arrived within {grace:?} after the last message: is the lab answering?",
            transport.name()
        ));
    }

    let mut delays = std::mem::take(&mut *tally.delays.lock().unwrap_or_else(|p| p.into_inner()));
    delays.sort_unstable();
    let get = |n: &std::sync::atomic::AtomicU64| n.load(Ordering::Relaxed);
    let row = Row {
        transport: transport.name(),
        sent: options.messages,
        delivered: get(&tally.delivered),
        requests: match transport {
            Transport::Tcp => None,
            Transport::WebSocket | Transport::SocketIo => Some(options.subscribers as u64), // one upgrade each
            _ => Some(get(&stats.requests)),
        },
        empty: get(&stats.empty),
        bytes_up: get(&stats.bytes_sent),
        bytes_down: get(&stats.bytes_received),
        delays_us: delays,
        server_cpu_ms: cpu_before.zip(cpu_after).and_then(|(before, after)| cpu::server_ms(&before, &after)),
    };
    progress.finish(&row, expected, started.elapsed());
    Ok(row)
}
