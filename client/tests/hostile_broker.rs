//! Brokers that are not the Redis a lab expects (issue 27): one that wants a password, one that
//! echoes, one that answers `+OK` to everything, one that answers `PONG` and then fails every
//! command, one that announces a gigabyte and streams it, and one that never answers. Each is
//! a fake on 127.0.0.1:0. Whatever it does, the lab names it in one line, tells its members once,
//! reads a bounded number of bytes, lets the first member in at once, and stops within a second.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use server::hub::{Broker, Hub, Limits};
use server::lessons::{http_chat::Config, lab};
use support::{start, Raw, Running};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// A Redis with `requirepass`, without the password in the address.
    NeedsPassword,
    /// Sends back every byte.
    Echo,
    /// `+OK` to anything.
    OkToEverything,
    /// `+PONG` to a `PING`, an error to anything else.
    PongThenErrors,
    /// `+PONG` to a `PING`, nothing to anything else.
    PongThenSilent,
    /// `$1073741824` and then bytes, as fast as they are taken.
    HugeBulk,
    /// Reads, never answers.
    Silent,
}

/// What the fakes may send in all: enough to show a lab that reads without a bound.
const FLOOD_CAP: usize = 512 << 20;

struct Fake {
    addr: SocketAddr,
    /// Bytes sent to the lab, over every connection.
    sent: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Fake {
    fn start(kind: Kind) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (sent, stop) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let (sent2, stop2) = (sent.clone(), stop.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let (sent, stop) = (sent2.clone(), stop2.clone());
                if let Ok(stream) = stream {
                    thread::spawn(move || answer(kind, stream, &sent, &stop));
                }
            }
        });
        Fake { addr, sent, stop }
    }

    fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Serves one connection of the lab's as `kind` until the lab hangs up or the test ends.
fn answer(kind: Kind, mut stream: TcpStream, sent: &AtomicUsize, stop: &AtomicBool) {
    stream.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        let n = match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if common::net::is_timeout(&e) => continue,
            Err(_) => return,
        };
        let got = &buf[..n];
        let ping = got.windows(4).any(|w| w == b"PING");
        let reply: Vec<u8> = match kind {
            Kind::NeedsPassword => b"-NOAUTH Authentication required.\r\n".to_vec(),
            Kind::Echo => got.to_vec(),
            Kind::OkToEverything => b"+OK\r\n".to_vec(),
            Kind::PongThenErrors if ping => b"+PONG\r\n".to_vec(),
            Kind::PongThenErrors => b"-ERR unknown command\r\n".to_vec(),
            Kind::PongThenSilent if ping => b"+PONG\r\n".to_vec(),
            Kind::PongThenSilent | Kind::Silent => continue,
            Kind::HugeBulk => {
                let chunk = vec![b'x'; 64 << 10];
                let _ = stream.write_all(b"$1073741824\r\n");
                while !stop.load(Ordering::SeqCst) && sent.load(Ordering::SeqCst) < FLOOD_CAP {
                    if stream.write_all(&chunk).is_err() {
                        return;
                    }
                    sent.fetch_add(chunk.len(), Ordering::SeqCst);
                }
                return;
            }
        };
        if stream.write_all(&reply).is_err() {
            return;
        }
        sent.fetch_add(reply.len(), Ordering::SeqCst);
    }
}

struct Lab {
    tcp: SocketAddr,
    hub: Arc<Hub>,
    running: Running,
}

/// A lab on the broker at `url`; also returns how long starting it took.
fn lab_on(url: &str) -> (Lab, Duration) {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_addr = tcp.local_addr().unwrap();
    let started = Instant::now();
    let hub = Hub::with_broker(Limits::default(), Broker::new(url).unwrap()).unwrap();
    let took = started.elapsed();
    let served = hub.clone();
    let running = start(move |web, shutdown| {
        let result = lab::run(tcp, web, shutdown, served.clone(), Config::default(), Default::default());
        served.close();
        served.join_reader();
        result
    });
    (Lab { tcp: tcp_addr, hub, running }, took)
}

/// Connects a member and waits for its welcome; returns it and how long that took.
fn join(addr: SocketAddr) -> (Raw, Duration) {
    let started = Instant::now();
    let mut member = Raw::connect(addr);
    let welcome = member.line();
    assert!(welcome.contains("welcome"), "{welcome}");
    (member, started.elapsed())
}

/// The split and rejoin notices `member` gets within `window`.
fn notices(member: &mut Raw, window: Duration) -> (usize, usize) {
    member.stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let (mut split, mut back) = (0, 0);
    let until = Instant::now() + window;
    let mut line = String::new();
    while Instant::now() < until {
        line.clear();
        match std::io::BufRead::read_line(&mut member.reader, &mut line) {
            Ok(0) => break,
            Ok(_) if line.contains("rooms are split") => split += 1,
            Ok(_) if line.contains("joined again") => back += 1,
            _ => {}
        }
    }
    (split, back)
}

/// A join waits for the broker once at most, for `COMMAND_TIMEOUT` (500 ms; it was 2 s), and
/// then never again while split: with room for a busy machine.
const JOIN_WITHIN: Duration = Duration::from_millis(1500);
/// Ctrl-C, whatever the broker does.
const STOP_WITHIN: Duration = Duration::from_secs(1);

/// Why the lab does not count `kind` as a broker, in the words of its log line.
fn refused(kind: Kind) -> String {
    let fake = Fake::start(kind);
    Broker::new(&fake.url()).unwrap().probe().expect_err("a fake is not a broker")
}

/// The checks every hostile broker must pass.
fn survives(kind: Kind) {
    let fake = Fake::start(kind);
    let (mut lab, _) = lab_on(&fake.url());
    let (mut member, took) = join(lab.tcp);
    assert!(took < JOIN_WITHIN, "{kind:?}: the first join took {took:?}");
    let (mut second, took) = join(lab.tcp);
    assert!(took < JOIN_WITHIN, "{kind:?}: the second join took {took:?}");
    member.send("hello\n");
    let (split, back) = notices(&mut member, Duration::from_secs(3));
    assert!(split <= 1 && back == 0, "{kind:?}: {split} split and {back} rejoin notices in 3 s");
    let (split, back) = notices(&mut second, Duration::from_millis(100));
    assert!(split <= 1 && back == 0, "{kind:?}: {split} split and {back} rejoin notices in 3 s");
    assert!(lab.hub.is_split(), "{kind:?}: counted as a broker");
    let sent = fake.sent.load(Ordering::SeqCst);
    assert!(sent < 64 << 20, "{kind:?}: the lab took {} MiB from it", sent >> 20);
    let stopping = Instant::now();
    lab.running.stop_within(STOP_WITHIN).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
    assert!(stopping.elapsed() < STOP_WITHIN, "{kind:?}: Ctrl-C took {:?}", stopping.elapsed());
}

/// [`survives`], and the probe's log line names it with all of `words`.
fn survives_and_is_named(kind: Kind, words: &[&str]) {
    survives(kind);
    let why = refused(kind);
    assert!(words.iter().all(|w| why.contains(w)), "{kind:?}: {why}");
}

#[test]
fn a_redis_that_wants_a_password_is_named_and_splits_once() {
    survives_and_is_named(Kind::NeedsPassword, &["wants a password", "redis://:PASSWORD@HOST:PORT"]);
}

#[test]
fn an_echo_server_is_not_a_broker() {
    survives_and_is_named(Kind::Echo, &["not a Redis server"]);
}

#[test]
fn a_peer_that_says_ok_to_everything_is_not_a_broker() {
    survives_and_is_named(Kind::OkToEverything, &["not a Redis server", "+OK"]);
}

#[test]
fn a_broker_that_answers_ping_and_fails_the_rest_splits_once() {
    survives(Kind::PongThenErrors);
}

#[test]
fn a_broker_that_answers_ping_then_goes_silent_holds_the_hub_half_a_second_at_most() {
    survives(Kind::PongThenSilent);
}

#[test]
fn a_gigabyte_bulk_string_is_refused_before_it_is_read() {
    survives_and_is_named(Kind::HugeBulk, &["MiB"]);
}

#[test]
fn a_silent_broker_costs_the_start_a_second_and_the_first_join_nothing() {
    let fake = Fake::start(Kind::Silent);
    let (lab, took) = lab_on(&fake.url());
    assert!(took < Duration::from_secs(2), "starting took {took:?}");
    drop(lab);
    survives_and_is_named(Kind::Silent, &["no answer in time"]);
}
