//! What TLS costs (chapter 15): `server ws-echo` in-process, plain and `--tls`, side by side in
//! one run. `cargo bench -p client --bench tls [-- CONNECTS MESSAGES]`.
//!
//! - **Connect**: TCP connect + (TLS handshake) + WebSocket upgrade + close, one after another;
//!   the mean per connection.
//! - **Echo**: one connection, 16-byte text messages, one in flight; the wall time and the CPU
//!   time per echoed message, client and server together (this process's threads, from
//!   `/proc/self/task/*/schedstat`, Linux only).
//!
//! - **Fan-out** (`-- fanout [MEMBERS] [MESSAGES]`): the WebSocket chat with MEMBERS members
//!   (190 by default), one of them sending a line every 20 ms; how long the *last* member waits
//!   for each line, p50 and p99, `ws://` and `wss://`.
//!
//! Rounds alternate plain and sealed, so a burst of other work on the machine hits both.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::tls::client::ClientTls;
use common::tls::CertFiles;
use common::trace::{Layer, Traced};
use common::Shutdown;
use tungstenite::Message;

const ROUNDS: usize = 3;

fn main() {
    if std::env::args().any(|a| a == "fanout") {
        return fanout_main();
    }
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let connects = args.first().copied().unwrap_or(200);
    let messages = args.get(1).copied().unwrap_or(20_000);
    let dir = std::env::temp_dir().join(format!("tls-bench-{}", std::process::id()));
    let files = CertFiles::made_in(&dir);
    files.make_if_absent().expect("a certificate");
    let tls = ClientTls::new(Some(&files.cert)).expect("trust it");

    let shutdown = Shutdown::new();
    let plain = serve(&shutdown, None);
    let sealed = serve(&shutdown, Some(common::tls::server_config(&files).expect("config")));

    let mut totals = [[0f64; 3]; 2]; // [plain, sealed] x [connect s, echo wall s, echo cpu s]
    for round in 0..ROUNDS {
        for (i, (addr, tls)) in [(plain, None), (sealed, Some(&tls))].into_iter().enumerate() {
            let connect = time_connects(addr, tls, connects);
            let (wall, cpu) = time_echo(addr, tls, messages);
            totals[i][0] += connect;
            totals[i][1] += wall;
            totals[i][2] += cpu;
            let name = if i == 0 { "ws:// " } else { "wss://" };
            println!(
                "round {} {name} connect {:>8.1} µs   echo {:>6.1} µs wall, {:>6.1} µs CPU per message",
                round + 1,
                connect * 1e6 / connects as f64,
                wall * 1e6 / messages as f64,
                cpu * 1e6 / messages as f64
            );
        }
    }
    let per = |i: usize, k: usize, n: usize| totals[i][k] * 1e6 / (n * ROUNDS) as f64;
    println!();
    println!("| per | ws:// | wss:// | wss / ws |");
    println!("|---|---|---|---|");
    for (label, k, n) in [
        ("connection (connect, upgrade, close)", 0, connects),
        ("echoed message, wall", 1, messages),
        ("echoed message, CPU", 2, messages),
    ] {
        let (ws, wss) = (per(0, k, n), per(1, k, n));
        println!("| {label} | {ws:.1} µs | {wss:.1} µs | {:.2} |", wss / ws);
    }
    println!(
        "\n{connects} connections and {messages} messages per round, {ROUNDS} rounds, debug={}",
        cfg!(debug_assertions)
    );
    shutdown.trigger();
    let _ = std::fs::remove_dir_all(&dir);
}

fn serve(shutdown: &Shutdown, tls: Option<common::tls::ServerConfig>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    if let Some(tls) = tls {
        server::tls::serve_on(&listener, tls).expect("mark");
    }
    let shutdown = shutdown.clone();
    std::thread::spawn(move || server::lessons::ws_echo::run(listener, &shutdown, 1000));
    addr
}

fn open(addr: SocketAddr, tls: Option<&ClientTls>) -> tungstenite::WebSocket<Traced<TcpStream>> {
    let socket = TcpStream::connect(addr).expect("connect");
    socket.set_nodelay(true).expect("nodelay");
    let stream = match tls {
        Some(tls) => tls.seal(socket, &format!("localhost:{}", addr.port()), Layer::Http).expect("TLS"),
        None => Traced::off(socket),
    };
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let (socket, _) =
        tungstenite::client(format!("ws://localhost:{}/", addr.port()), stream).expect("upgrade");
    socket
}

fn time_connects(addr: SocketAddr, tls: Option<&ClientTls>, n: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        let mut socket = open(addr, tls);
        let _ = socket.close(None);
        while socket.read().is_ok() {}
    }
    start.elapsed().as_secs_f64()
}

fn time_echo(addr: SocketAddr, tls: Option<&ClientTls>, n: usize) -> (f64, f64) {
    let mut socket = open(addr, tls);
    let message = "0123456789abcdef";
    let (start, cpu) = (Instant::now(), cpu_seconds());
    for _ in 0..n {
        socket.send(Message::text(message)).expect("send");
        assert_eq!(socket.read().expect("echo"), Message::text(message));
    }
    let (wall, cpu) = (start.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    let _ = socket.close(None);
    while socket.read().is_ok() {}
    (wall, cpu)
}

/// This process's CPU time so far: every live thread's nanoseconds on a CPU (Linux).
fn cpu_seconds() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return f64::NAN };
    let nanos: u64 = tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    nanos as f64 / 1e9
}

fn fanout_main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let members = args.first().copied().unwrap_or(190);
    let messages = args.get(1).copied().unwrap_or(50);
    let dir = std::env::temp_dir().join(format!("tls-bench-fanout-{}", std::process::id()));
    let files = CertFiles::made_in(&dir);
    files.make_if_absent().expect("a certificate");
    let tls = ClientTls::new(Some(&files.cert)).expect("trust it");
    let shutdown = Shutdown::new();
    println!("| {members} members, {messages} lines 20 ms apart | last member's delay p50 | p99 |");
    println!("|---|---|---|");
    for (name, sealed) in [("ws://", false), ("wss://", true), ("ws://", false), ("wss://", true)] {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        if sealed {
            server::tls::serve_on(&listener, common::tls::server_config(&files).expect("config"))
                .expect("mark");
        }
        let limits = server::hub::Limits { max_members: members + 10, ..Default::default() };
        let hub = std::sync::Arc::new(server::hub::Hub::new(limits));
        let http = server::http::Limits { max_connections: 2 * members + 20, ..Default::default() };
        let stop = shutdown.clone();
        std::thread::spawn(move || {
            server::lessons::ws_chat::run(listener, &stop, hub, http, Default::default())
        });
        let delays = fanout(addr, sealed.then_some(&tls), members, messages);
        println!("| {name} | {:.2} ms | {:.2} ms |", percentile(&delays, 0.5), percentile(&delays, 0.99));
    }
    shutdown.trigger();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The last member's delay for each line, in milliseconds.
fn fanout(addr: SocketAddr, tls: Option<&ClientTls>, members: usize, messages: usize) -> Vec<f64> {
    let base = Instant::now();
    let open_chat = |nick: String| {
        let socket = TcpStream::connect(addr).expect("connect");
        let stream = match tls {
            Some(tls) => tls.seal(socket, &format!("localhost:{}", addr.port()), Layer::Http).expect("TLS"),
            None => Traced::off(socket),
        };
        stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        let (mut ws, _) =
            tungstenite::client(format!("ws://localhost:{}/ws", addr.port()), stream).expect("upgrade");
        ws.send(Message::text(format!("/nick {nick}"))).expect("nick");
        let wanted = format!("* you are now {nick} in lobby");
        while ws.read().expect("joined").to_text().map_or(true, |t| t != wanted) {}
        ws
    };
    let readers: Vec<_> = (0..members.saturating_sub(1))
        .map(|i| {
            let mut ws = open_chat(format!("m{i}"));
            // Reading from the start: a member that read nothing while the others join would
            // be far behind, and the hub would hold the newcomers back (flood control).
            std::thread::spawn(move || {
                let mut heard = vec![0f64; messages];
                let mut got = 0;
                while got < messages {
                    let Ok(Message::Text(text)) = ws.read() else { continue };
                    if let Some(i) = text.strip_prefix("pub: ").and_then(|i| i.parse::<usize>().ok()) {
                        heard[i] = base.elapsed().as_secs_f64() * 1e3;
                        got += 1;
                    }
                }
                heard
            })
        })
        .collect();
    let mut publisher = open_chat("pub".into());
    let mut sent = Vec::with_capacity(messages);
    for i in 0..messages {
        sent.push(base.elapsed().as_secs_f64() * 1e3);
        publisher.send(Message::text(i.to_string())).expect("publish");
        std::thread::sleep(Duration::from_millis(20));
    }
    let heard: Vec<Vec<f64>> = readers.into_iter().map(|r| r.join().expect("a member")).collect();
    (0..messages).map(|i| heard.iter().map(|h| h[i]).fold(0f64, f64::max) - sent[i]).collect()
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}
