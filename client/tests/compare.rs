//! `cargo client compare` against a lab on 127.0.0.1:0 in this process: the counts (never the
//! times) must add up, the output is one line per transport and the table, and the WebSocket
//! subscribers leave with a close frame.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use client::compare::{self, progress::Lines, Options};
use server::hub::Limits;

/// The lab, in this process on port 0. Its log lines only with RUST_LOG (to see why a run failed).
fn lab() -> (support::Running, std::net::SocketAddr) {
    if std::env::var_os("RUST_LOG").is_some() {
        common::logging::init();
    }
    support::lab(Limits::default(), Default::default())
}

fn small(tcp: std::net::SocketAddr, web: std::net::SocketAddr) -> Options {
    Options {
        tcp: tcp.to_string(),
        http: web.to_string(),
        subscribers: 2,
        messages: 3,
        rate: 50.0,
        intervals: vec![0.05],
    }
}

#[test]
fn a_small_comparison_counts_every_delivery_and_request() {
    let (lab, tcp) = lab();
    // A member in the WebSocket run's room (the fourth run: polling, long polling, SSE, then it)
    // sees how the subscribers leave.
    let watcher = TcpStream::connect(tcp).unwrap();
    (&watcher).write_all(format!("/join compare-{}-3\n", std::process::id()).as_bytes()).unwrap();
    let (tx, seen) = mpsc::channel();
    let reader = BufReader::new(watcher.try_clone().unwrap());
    thread::spawn(move || reader.lines().map_while(Result::ok).try_for_each(|line| tx.send(line)));

    let mut progress = Vec::new();
    let rows = compare::run(&small(tcp, lab.addr), &mut Lines(&mut progress)).unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r.transport.as_str()).collect();
    assert_eq!(
        names,
        [
            "polling every 0.05 s",
            "long polling",
            "SSE streaming",
            "WebSocket",
            "raw TCP",
            "Socket.IO (WebSocket)"
        ]
    );
    for row in &rows {
        assert_eq!(row.delivered, 6, "{}: every message reaches every subscriber once", row.transport);
        assert_eq!(row.delays_us.len(), 6, "{}: one delay per delivery", row.transport);
        assert!(row.bytes_down > 0 && row.bytes_up > 0, "{}: bytes were counted", row.transport);
        assert!(row.empty <= row.requests.unwrap_or(0), "{}", row.transport);
    }
    let requests = |name: &str| rows.iter().find(|r| r.transport == name).unwrap().requests;
    // One request per subscriber for the long-lived transports; none for raw TCP.
    assert_eq!(requests("SSE streaming"), Some(2));
    assert_eq!(requests("WebSocket"), Some(2));
    assert_eq!(requests("raw TCP"), None);
    assert_eq!(requests("Socket.IO (WebSocket)"), Some(2));
    // Long polling: at least one answered request per subscriber, at most one per message plus
    // the first and the one still waiting at the end.
    let long = requests("long polling").unwrap();
    assert!((2..=2 * (3 + 2)).contains(&long), "{long} long-poll requests");
    // Polling asks on its own schedule; some of its answers carry nothing.
    assert!(requests("polling every 0.05 s").unwrap() >= 2);
    // The server's CPU time is found through the listening socket, here: this very process.
    if cfg!(target_os = "linux") {
        assert!(rows.iter().all(|r| r.server_cpu_ms.is_some()), "{rows:?}");
    }

    let progress = String::from_utf8(progress).unwrap();
    assert_eq!(progress.lines().count(), rows.len(), "{progress}");
    assert!(progress.lines().all(|l| l.ends_with(" s") && l.contains("6 of 6 delivered in")), "{progress}");
    let table = compare::table(&rows);
    assert_eq!(table.lines().count(), rows.len() + 1);
    let svg = compare::svg(&rows);
    assert!(svg.starts_with("<svg") && names.iter().all(|n| svg.contains(n)));
    assert_eq!(rows[3].json()["delivered"], 6);

    // Both WebSocket subscribers said goodbye with a close frame: they left, their connection
    // was not lost.
    let left: Vec<String> = seen.try_iter().filter(|l| l.contains("left")).collect();
    assert!(left.len() >= 2, "{left:?}");
    assert!(left.iter().all(|l| !l.contains("lost")), "{left:?}");
}

#[test]
fn the_binary_prints_one_line_per_transport_and_the_table_and_nothing_else() {
    let (lab, tcp) = lab();
    let out = Command::new(env!("CARGO_BIN_EXE_client"))
        .args(["compare", "--tcp", &tcp.to_string(), "--http", &lab.addr.to_string()])
        .args(["--subscribers", "1", "--messages", "2", "--rate", "50", "--intervals", "0.05"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "no log lines around the table");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    let rows = 6; // five transports and Socket.IO (chapter 16)
    assert_eq!(lines.len(), rows + 1 + rows, "{stdout}");
    assert!(lines[..rows].iter().all(|l| l.contains("2 of 2 delivered")), "{stdout}");
    assert!(lines[rows].starts_with("transport "), "{stdout}");
}

#[test]
fn without_a_lab_it_says_to_start_one_in_one_line() {
    let nobody = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_client"))
        .args(["compare", "--tcp", &nobody, "--web", &nobody])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!("error: no lab at {nobody}: start one in another terminal with `cargo server lab`\n")
    );
}

/// What a front to the lab's web side does with a request.
enum Front {
    /// Passes it (and the rest of the connection) to the lab.
    Pass,
    /// Answers these bytes and closes.
    Answer(&'static str),
    /// Never answers (for 30 s).
    Hold,
}

/// A web side in front of the lab's, deciding by each connection's first request line.
fn front(lab: SocketAddr, decide: fn(&str) -> Front) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        for mut client in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && client.read_exact(&mut byte).is_ok() {
                    head.push(byte[0]);
                }
                match decide(String::from_utf8_lossy(&head).lines().next().unwrap_or_default()) {
                    Front::Answer(bytes) => drop(client.write_all(bytes.as_bytes())),
                    Front::Hold => thread::sleep(Duration::from_secs(30)),
                    Front::Pass => {
                        let Ok(mut server) = TcpStream::connect(lab) else { return };
                        // The lab answers only requests for itself (a Host of another port is
                        // another site): every request the front passes on says whom it asks for.
                        let (ours, theirs) = (client.local_addr().unwrap().to_string(), lab.to_string());
                        let retarget =
                            move |bytes: &[u8]| String::from_utf8_lossy(bytes).replace(&ours, &theirs);
                        let _ = server.write_all(retarget(&head).as_bytes());
                        let (mut up, mut down) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                        thread::spawn(move || {
                            let mut buf = [0u8; 4096];
                            while let Ok(n @ 1..) = up.read(&mut buf) {
                                if down.write_all(retarget(&buf[..n]).as_bytes()).is_err() {
                                    break;
                                }
                            }
                        });
                        let _ = std::io::copy(&mut server, &mut client);
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn a_lab_that_never_answers_the_websocket_upgrade_fails_the_run_in_bounded_time() {
    let (lab, tcp) = lab();
    let web = front(lab.addr, |line| if line.starts_with("GET /ws") { Front::Hold } else { Front::Pass });
    let options = Options { http: web, intervals: vec![], ..small(tcp, lab.addr) };
    let started = Instant::now();
    let error = compare::run(&options, &mut Lines(Vec::new())).unwrap_err();
    assert!(error.contains("no answer to the WebSocket upgrade (GET /ws) within 5s"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(25), "took {:?}", started.elapsed());
}

#[test]
fn a_poll_answering_500_is_an_error_with_a_non_zero_exit_not_delivered_0() {
    let (lab, tcp) = lab();
    let web = front(lab.addr, |line| {
        match line.starts_with("GET /poll") {
        true => Front::Answer(
            "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: 34\r\n\r\n\
             {\"error\": \"boom \\u001b[2J \\u202e\"}",
        ),
        false => Front::Pass,
    }
    });
    let out = Command::new(env!("CARGO_BIN_EXE_client"))
        .args(["compare", "--tcp", &tcp.to_string(), "--http", &web])
        .args(["--subscribers", "1", "--messages", "2", "--rate", "50", "--intervals", "0.05"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("polling every 0.05 s: the server answered 500"), "{stderr}");
    // JSON escaped the ESC; the right-to-left override it lets through is escaped on the way out.
    assert!(stderr.contains("\\u{202e}") && !stderr.contains('\u{202e}'), "{stderr}");
}

/// Issue 21, item 5: a class chats in the lobby while compare runs. Every client of the run
/// (the start-up probe, each run's TCP publisher, the raw TCP, WebSocket and Socket.IO
/// subscribers) goes straight to its own room, or away, before the hub's arrival grace ends:
/// the lobby hears nothing of it at all (`hub::arrivals`).
#[test]
fn the_lobby_never_sees_a_compare_run() {
    let (lab, tcp) = lab();
    let lobby = TcpStream::connect(tcp).unwrap();
    lobby.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut lines = BufReader::new(lobby.try_clone().unwrap()).lines();
    // Named, and announced once its own arrival grace ended (a server that announces guests at
    // once says the rename instead): everything after that line is what the lobby was told.
    (&lobby).write_all(b"/nick lobby-watcher\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    for count in 0.. {
        let line = lines.next().unwrap().unwrap();
        if line == "* lobby-watcher has entered lobby" || line.ends_with(" is now known as lobby-watcher") {
            break;
        }
        assert!(Instant::now() < deadline && count < 10, "never announced; last: {line}");
    }

    let rows = compare::run(&small(tcp, lab.addr), &mut Lines(&mut Vec::new())).unwrap();
    assert_eq!(rows.len(), 6, "every transport compare measures ran");
    // A question only we are answered: every notice the run caused is queued before the answer,
    // and it says who is still in the lobby.
    (&lobby).write_all(b"/who\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    let who = loop {
        let line = lines.next().unwrap().unwrap();
        if line.starts_with("* in lobby: ") {
            break line;
        }
        seen.push(line);
        assert!(Instant::now() < deadline && seen.len() < 100, "{seen:?}");
    };
    assert_eq!(seen, Vec::<String>::new(), "the lobby heard of the compare run");
    assert_eq!(who, "* in lobby: lobby-watcher");
}
