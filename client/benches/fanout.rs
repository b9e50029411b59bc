//! Chat fan-out: one message to 1,000 WebSocket members, and how long until the last one has it.
//!
//!     cargo bench -p client --bench fanout [-- MEMBERS MESSAGES] [--labs N | --one-thread[-ws] | --threads[-ws]]
//!
//! With `--one-thread`, the members are TCP members of chapter 14's `server one-thread-chat`;
//! with `--one-thread-ws`, WebSocket members of its `server one-thread-lab`; with `--threads`
//! and `--threads-ws`, TCP or WebSocket members of the threaded `server lab`. Each runs as its
//! own process (build it first: `cargo build --release -p server`), so that 10,000 members fit
//! in each process's open-file limit. Without them, WebSocket members of the lab, in-process.
//!
//! Every member says `/quiet` as it joins: what is measured is the publisher's lines, and 10,000
//! members each told of 10,000 arrivals would be 100 million lines before the first of them.
//!
//! With `--labs N`, N labs share the room through one Redis (`server lab --broker`, chapter 13),
//! a `redis-server` this benchmark starts on a free port: the members are spread evenly over the
//! labs, the publisher is on the first. `--labs 1` is one lab through Redis: compared with the
//! embedded hub, what the broker costs per message.
//!
//! The lab (with room for the members) runs in this process: 1,000 members are 2,000 server
//! threads (a reader and a writer each). The members themselves are read by *one* thread on an
//! event loop (`mio`, epoll on Linux), so that measuring does not take the two cores from the
//! server: a member per thread would add 1,000 more threads competing with the ones measured.
//! A TCP member publishes MESSAGES lines, 50 ms apart (`--gap MS` for another spacing); for each line the delay of the *last*
//! member to receive it is kept, and the table shows their percentiles.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use common::Shutdown;
#[path = "../tests/support/redis_server.rs"]
mod redis_server;
use mio::{Events, Interest, Poll, Token};
use server::hub::{Hub, Limits};

/// Reads every member's socket on one thread, from the moment it has joined (`members` hands
/// them over as they connect: a member that read nothing until the last one joined would be
/// dropped as too slow); sends (message number, arrival µs) for each publisher line, and `None`
/// once per member when it is in the room.
fn read_members(
    members: mpsc::Receiver<(TcpStream, Vec<u8>)>,
    mut epoll: Poll,
    epoch: Instant,
    out: mpsc::Sender<Arrival>,
    lines: bool,
) {
    let take: fn(&mut Vec<u8>, Instant, &mpsc::Sender<Arrival>) =
        if lines { take_lines } else { take_frames };
    let mut sockets: Vec<mio::net::TcpStream> = Vec::new();
    let mut buffers: Vec<Vec<u8>> = Vec::new();
    let mut connecting = true;
    let mut events = Events::with_capacity(1024);
    let mut chunk = [0u8; 16 * 1024];
    loop {
        while connecting {
            match members.try_recv() {
                Ok((socket, mut already)) => {
                    socket.set_nonblocking(true).unwrap();
                    let mut socket = mio::net::TcpStream::from_std(socket);
                    epoll.registry().register(&mut socket, Token(sockets.len()), Interest::READABLE).unwrap();
                    // Frames that came in with the handshake's answer.
                    take(&mut already, epoch, &out);
                    sockets.push(socket);
                    buffers.push(already);
                }
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => connecting = false,
            }
        }
        let wait = if connecting { Duration::from_millis(5) } else { Duration::from_secs(5) };
        if epoll.poll(&mut events, Some(wait)).is_err() || (events.is_empty() && !connecting) {
            return; // quiet for 5 s: the run is over
        }
        for event in &events {
            let i = event.token().0;
            loop {
                match sockets[i].read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => buffers[i].extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => break,
                }
            }
            take(&mut buffers[i], epoch, &out);
        }
    }
}

/// The message number of the line sent before the measured ones: once every member has it,
/// the "has entered" notices of 1,000 joins are behind us (with a broker they travel through
/// the streams after the members are in, and would be measured otherwise).
const WARM_UP: usize = usize::MAX;

/// `Some((message number, arrival µs))` for a publisher line, `None` when a member is in the room.
type Arrival = Option<(usize, u64)>;

/// Takes whole lines off the front of `buffer` (TCP members).
fn take_lines(buffer: &mut Vec<u8>, epoch: Instant, out: &mpsc::Sender<Arrival>) {
    let Some(end) = buffer.iter().rposition(|&b| b == b'\n') else { return };
    let now = epoch.elapsed().as_micros() as u64;
    for line in String::from_utf8_lossy(&buffer[..end]).lines() {
        arrived(line, now, out);
    }
    buffer.drain(..=end);
}

/// What one line of the chat tells the benchmark.
fn arrived(line: &str, now: u64, out: &mpsc::Sender<Arrival>) {
    if line == "publisher: warm-up" {
        let _ = out.send(Some((WARM_UP, now)));
    } else if let Some(seq) = line.strip_prefix("publisher: m ").and_then(|s| s.parse().ok()) {
        let _ = out.send(Some((seq, now)));
    } else if line.starts_with("* you are now ") {
        let _ = out.send(None); // in the room: the hub has it
    }
}

/// Starts `server LESSON` (`one-thread-chat`, `one-thread-lab` or `lab`: the release build next
/// to this benchmark) for `members`; returns it, its TCP chat's address and its web address.
fn server_process(lesson: &str, members: usize) -> (std::process::Child, SocketAddr, Option<SocketAddr>) {
    let exe = std::env::current_exe().expect("this benchmark's path");
    let binary = exe.parent().and_then(|deps| deps.parent()).expect("target/release").join("server");
    let max = (members + 10).to_string();
    let mut args = vec![lesson, "--max-members", &max];
    match lesson {
        "one-thread-chat" => args.extend(["--addr", "127.0.0.1:0"]),
        _ => args.extend(["--tcp", "127.0.0.1:0", "--http", "127.0.0.1:0"]),
    }
    if lesson == "lab" {
        args.extend(["--max-connections", &max]);
    }
    let mut child = std::process::Command::new(&binary)
        .args(args)
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{}: {e} (run `cargo build --release -p server` first)", binary.display())
        });
    let mut log = std::io::BufReader::new(child.stderr.take().expect("its log"));
    // "... listening on TCP: join with ...", "  browser:  http://WEB/" (the lab), or
    // "... open: http://WEB/ (page and /ws), TCP chat on TCP" (the one-thread lab).
    let (mut tcp, mut web) = (None, None);
    for _ in 0..20 {
        let mut line = String::new();
        assert!(std::io::BufRead::read_line(&mut log, &mut line).unwrap() > 0, "the server did not start");
        let after = |marker: &str, end: &str| -> Option<SocketAddr> {
            line.split(marker)
                .nth(1)
                .and_then(|rest| rest.split(end).next())
                .and_then(|a| a.trim().parse().ok())
        };
        tcp = tcp.or(after("listening on ", ": ")).or(after("TCP chat on ", "\n"));
        web = web.or(after("http://", "/"));
        if tcp.is_some() && (web.is_some() || lesson == "one-thread-chat") {
            break;
        }
    }
    let tcp = tcp.expect("the server's TCP address in its first lines");
    // Keep draining its log (a line per member) so that it never blocks on a full pipe, into a
    // file for when a run goes wrong.
    let kept = std::env::temp_dir().join("fanout-server.log");
    eprintln!("{lesson}'s log: {}", kept.display());
    let mut file = std::fs::File::create(&kept).expect("a file for the server's log");
    thread::spawn(move || std::io::copy(&mut log, &mut file));
    (child, tcp, web)
}

/// Takes whole frames off the front of `buffer` (server frames are never masked).
fn take_frames(buffer: &mut Vec<u8>, epoch: Instant, out: &mpsc::Sender<Arrival>) {
    loop {
        let mut rest = &buffer[..];
        let Ok(frame) = common::frame::read(&mut rest, 1 << 20) else { return };
        let used = buffer.len() - rest.len();
        let now = epoch.elapsed().as_micros() as u64;
        for line in String::from_utf8_lossy(&frame.payload).lines() {
            arrived(line, now, out);
        }
        buffer.drain(..used);
    }
}

fn main() {
    let all: Vec<String> = std::env::args().skip(1).collect();
    let labs_flag = all.iter().position(|a| a == "--labs");
    let gap_flag = all.iter().position(|a| a == "--gap");
    let gap = Duration::from_millis(
        gap_flag.and_then(|at| all.get(at + 1)).and_then(|ms| ms.parse().ok()).unwrap_or(50),
    );
    // Which server runs as its own process, and whether its members join over TCP.
    let (process, tcp_members) = match ["--one-thread", "--one-thread-ws", "--threads", "--threads-ws"]
        .iter()
        .find(|flag| all.iter().any(|a| a == *flag))
    {
        Some(&"--one-thread") => (Some("one-thread-chat"), true),
        Some(&"--one-thread-ws") => (Some("one-thread-lab"), false),
        Some(&"--threads") => (Some("lab"), true),
        Some(_) => (Some("lab"), false),
        None => (None, false),
    };
    let brokered = labs_flag.and_then(|at| all.get(at + 1)).and_then(|n| n.parse::<usize>().ok());
    let mut args = all
        .iter()
        .enumerate()
        .filter(|(i, _)| labs_flag.is_none_or(|at| *i != at + 1) && gap_flag.is_none_or(|at| *i != at + 1))
        .filter_map(|(_, a)| a.parse::<usize>().ok());
    let members = args.next().unwrap_or(1000);
    let messages = args.next().unwrap_or(50);

    let redis = brokered.map(|_| {
        assert!(
            redis_server::RedisServer::installed("the fan-out benchmark with --labs"),
            "redis-server needed"
        );
        redis_server::RedisServer::start()
    });
    let labs = if process.is_some() { 0 } else { brokered.unwrap_or(1).max(1) };
    let mut servers = Vec::new();
    let mut addrs = Vec::new();
    for _ in 0..labs {
        let limits = Limits { max_members: members + 10, ..Limits::default() };
        let hub = match &redis {
            Some(redis) => Hub::with_broker(limits, server::hub::Broker::new(&redis.url()).unwrap()).unwrap(),
            None => Arc::new(Hub::new(limits)),
        };
        let (tcp, web) =
            (TcpListener::bind("127.0.0.1:0").unwrap(), TcpListener::bind("127.0.0.1:0").unwrap());
        addrs.push((tcp.local_addr().unwrap(), web.local_addr().unwrap()));
        let shutdown = Shutdown::new();
        let stopper = shutdown.clone();
        let config =
            server::lessons::http_chat::Config { max_connections: members + 10, ..Default::default() };
        let server = thread::spawn(move || {
            let result =
                server::lessons::lab::run(tcp, web, &stopper, hub.clone(), config, Default::default());
            hub.close();
            hub.join_reader();
            result
        });
        servers.push((shutdown, server));
    }
    let child = process.map(|lesson| server_process(lesson, members));
    let tcp_addr = child.as_ref().map_or_else(|| addrs[0].0, |(_, addr, _)| *addr);
    let loop_web = child.as_ref().and_then(|(_, _, web)| *web);

    // Members: the handshake blocking, one after another, each handed to the event loop that
    // reads them all.
    let started = Instant::now();
    let epoch = Instant::now();
    let (arrivals, arrived) = mpsc::channel();
    let (joining, joined_members) = mpsc::channel();
    let reader = thread::spawn(move || {
        read_members(joined_members, Poll::new().unwrap(), epoch, arrivals, tcp_members)
    });
    let connect = |i: usize| -> (TcpStream, Vec<u8>) {
        // Each member says `/quiet` first: the others' arrivals are not what is measured,
        // and 10,000 of them told to 10,000 members would be 100 million lines.
        if tcp_members {
            let mut stream = TcpStream::connect(tcp_addr).unwrap();
            stream.write_all(b"/quiet\n").unwrap();
            return (stream, Vec::new());
        }
        let web_addr = loop_web.unwrap_or_else(|| addrs[i % labs].1);
        let mut stream = TcpStream::connect(web_addr).unwrap();
        let already = client::upgrade::upgrade(
            &mut stream,
            &web_addr.to_string(),
            "/ws",
            client::upgrade::HANDSHAKE_TIMEOUT,
            &client::lessons::ws_chat::EXPECTED,
        )
        .unwrap();
        stream.write_all(&common::frame::encode(0x1, b"/quiet", Some([7, 7, 7, 7]))).unwrap();
        (stream, already)
    };
    for i in 0..members {
        joining.send(connect(i)).expect("the members' reader");
    }
    drop(joining);
    let mut joined = 0;
    while joined < members {
        if arrived.recv_timeout(Duration::from_secs(30)).expect("members never joined").is_none() {
            joined += 1;
        }
    }
    let connect_time = started.elapsed();

    let mut publisher = TcpStream::connect(tcp_addr).unwrap();
    publisher.set_nodelay(true).unwrap();
    // A bounded wait for the rename: a server that never answers must fail the run, not hang it.
    publisher.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    publisher.write_all(b"/nick publisher\n").unwrap();
    let mut own = std::io::BufReader::new(publisher.try_clone().unwrap());
    let mut line = String::new();
    while line.trim_end() != "* you are now publisher in lobby" {
        line.clear();
        assert!(
            std::io::BufRead::read_line(&mut own, &mut line).expect("the publisher's rename (30 s)") > 0,
            "the publisher was not renamed"
        );
    }
    // The publisher's own copy of every line must be read, or its outbox fills up.
    publisher.set_read_timeout(None).unwrap();
    thread::spawn(move || std::io::copy(&mut own, &mut std::io::sink()));

    publisher.write_all(b"warm-up\n").unwrap();
    let mut warm = 0;
    while warm < members {
        if let Some((WARM_UP, _)) =
            arrived.recv_timeout(Duration::from_secs(60)).expect("the warm-up never arrived")
        {
            warm += 1;
        }
    }

    let mut sent_at = Vec::new();
    let mut last_arrival = vec![0u64; messages];
    let mut count = vec![0usize; messages];
    let mut take = |arrival: Arrival| {
        if let Some((s, at)) = arrival.filter(|(s, _)| *s != WARM_UP) {
            last_arrival[s] = last_arrival[s].max(at);
            count[s] += 1;
        }
    };
    for seq in 0..messages {
        sent_at.push(epoch.elapsed().as_micros() as u64);
        publisher.write_all(format!("m {seq}\n").as_bytes()).unwrap();
        // Collect arrivals for the gap, then send the next.
        let until = Instant::now() + gap;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            let Ok(arrival) = arrived.recv_timeout(left) else { break };
            take(arrival);
        }
    }
    // Stragglers.
    while let Ok(arrival) = arrived.recv_timeout(Duration::from_secs(2)) {
        take(arrival);
    }
    let complete = count.iter().filter(|&&c| c == members).count();
    let mut delays: Vec<f64> = (0..messages)
        .filter(|&s| count[s] == members)
        .map(|s| (last_arrival[s] - sent_at[s]) as f64 / 1000.0)
        .collect();
    delays.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| {
        delays
            .get(((p / 100.0) * (delays.len().max(1) - 1) as f64).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    let how = match brokered {
        _ if process.is_some() => {
            let kind = if tcp_members { "TCP" } else { "WebSocket" };
            format!("{kind} members on {}, its own process", process.unwrap_or_default())
        }
        Some(n) => format!("WebSocket members on {n} lab(s) through one Redis"),
        None => "WebSocket members on one lab, embedded hub".to_string(),
    };
    println!(
        "chat fan-out: {members} {how}, {messages} messages {} ms apart (connecting them took {:.1} s)",
        gap.as_millis(),
        connect_time.as_secs_f64()
    );
    println!("| messages that reached every member | last member's delay p50 | p95 | p99 | max |");
    println!("|---|---|---|---|---|");
    println!(
        "| {complete} of {messages} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
        pct(50.0),
        pct(95.0),
        pct(99.0),
        pct(100.0)
    );
    if let Some(redis) = &redis {
        // The broker's own cost: the publish script's round trip, which `publish` waits for
        // under the hub's lock, one message after another.
        let broker = server::hub::Broker::new(&redis.url()).unwrap();
        let mut connection = broker.connect(Duration::from_secs(2)).unwrap();
        let kind = server::hub::EventKind::Message { nick: "publisher".into(), text: "m 0".into() };
        let rounds = 10_000;
        let started = Instant::now();
        for _ in 0..rounds {
            broker.publish(&mut connection, "cost", &kind, 0, 100).unwrap();
        }
        let each = started.elapsed().as_secs_f64() * 1e6 / rounds as f64;
        println!(
            "the broker per message: {each:.1} µs for the publish script's round trip ({rounds} in a row)"
        );
    }
    for (shutdown, server) in servers {
        shutdown.trigger();
        let _ = server.join();
    }
    if let Some((mut child, _, _)) = child {
        let _ = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status();
        let _ = child.wait();
    }
    let _ = reader.join();
}
