//! Caps one client can take whole (issue 27): connections that only wait for their next request
//! must not fill the web side, and one address must not hold every wire-panel slot.

mod support;

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use server::http::{self, Origins, OK};
use support::{read_response, start, DEADLINE};

const MAX: usize = 4;

/// A GET on a fresh connection that stays open; returns it and the response's status.
fn get(addr: SocketAddr, path: &str) -> (BufReader<TcpStream>, u16) {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(&stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut reader = BufReader::new(stream);
    let (status, _, _) = read_response(&mut reader, false);
    (reader, status)
}

/// Set to true (and notified) to let the held requests go.
type Release = Arc<(Mutex<bool>, Condvar)>;

/// An HTTP server of at most [`MAX`] connections: `/hold` waits until `release`, the rest
/// answers at once. Returns the server, the release and how many requests hold.
fn server() -> (support::Running, Release, Arc<AtomicUsize>) {
    let release = Arc::new((Mutex::new(false), Condvar::new()));
    let holding = Arc::new(AtomicUsize::new(0));
    let (released, held) = (release.clone(), holding.clone());
    let limits = http::Limits { max_connections: MAX, ..http::Limits::default() };
    let running = start(move |listener, shutdown| {
        http::serve(&listener, shutdown, limits, Origins::default(), move |connection, request| {
            if request.path() == "/hold" {
                held.fetch_add(1, Ordering::SeqCst);
                let (lock, wake) = &*released;
                let done = lock.lock().unwrap();
                drop(wake.wait_timeout_while(done, DEADLINE, |done| !*done).unwrap());
            }
            connection.respond(OK, &[("Content-Type", "text/plain")], b"ok")
        })
    });
    (running, release, holding)
}

#[test]
fn connections_that_only_wait_for_a_request_make_room_for_a_new_client() {
    let (_server, _, _) = server();
    let addr = _server.addr;
    // MAX keep-alive connections, each between two requests: the server is full of waiting.
    let mut waiting: Vec<BufReader<TcpStream>> = (0..MAX)
        .map(|_| {
            let (reader, status) = get(addr, "/");
            assert_eq!(status, 200);
            reader
        })
        .collect();
    let (_, status) = get(addr, "/");
    assert_eq!(status, 200, "a new client was refused while {MAX} connections only waited");
    // The one that had waited longest was closed to make room.
    let oldest = waiting.remove(0);
    assert_eq!(oldest.into_inner().read(&mut [0; 16]).unwrap_or(0), 0, "the oldest is closed");
}

#[test]
fn connections_that_are_busy_still_fill_the_server() {
    let (server, release, holding) = server();
    let addr = server.addr;
    let busy: Vec<_> = (0..MAX).map(|_| std::thread::spawn(move || get(addr, "/hold").1)).collect();
    let until = Instant::now() + DEADLINE;
    while holding.load(Ordering::SeqCst) < MAX {
        assert!(Instant::now() < until, "the requests never arrived");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Refused: a 503, or a reset if the refusal's close overtook the request.
    let refused = TcpStream::connect(addr).unwrap();
    refused.set_read_timeout(Some(DEADLINE)).unwrap();
    let _ = write!(&refused, "GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let mut answer = String::new();
    let _ = (&refused).take(12).read_to_string(&mut answer);
    assert!(!answer.starts_with("HTTP/1.1 200"), "a busy connection was closed to make room: {answer:?}");
    *release.0.lock().unwrap() = true;
    release.1.notify_all();
    assert!(busy.into_iter().all(|b| b.join().unwrap() == 200));
}

/// Opens a wire viewer from `local` (an address of this machine) and returns its status; the
/// connection stays open while the viewer is kept.
fn viewer(lab: SocketAddr, local: &str, n: usize) -> (TcpStream, u16) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&format!("{local}:0").parse::<SocketAddr>().unwrap().into()).unwrap();
    socket.connect(&lab.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let token = format!("{n:032x}");
    write!(&stream, "GET /wire?token={token} HTTP/1.1\r\nHost: {lab}\r\n\r\n").unwrap();
    let mut head = [0u8; 12];
    (&stream).read_exact(&mut head).unwrap();
    let status = String::from_utf8_lossy(&head[9..12]).parse().unwrap();
    (stream, status)
}

#[test]
fn one_address_holds_a_quarter_of_the_wire_panel_slots_at_most() {
    use server::http::wire::MAX_VIEWERS_PER_ADDRESS;
    let (lab, _) = support::lab(Default::default(), Default::default());
    let mine: Vec<(TcpStream, u16)> =
        (0..MAX_VIEWERS_PER_ADDRESS).map(|n| viewer(lab.addr, "127.0.0.1", n)).collect();
    assert!(mine.iter().all(|(_, status)| *status == 200));
    let (_, status) = viewer(lab.addr, "127.0.0.1", MAX_VIEWERS_PER_ADDRESS);
    assert_eq!(status, 503, "one address took more than {MAX_VIEWERS_PER_ADDRESS} wire slots");
    // Another client (127.0.0.2 is this machine too, on Linux) still gets one.
    if cfg!(target_os = "linux") {
        let (_, status) = viewer(lab.addr, "127.0.0.2", 1000);
        assert_eq!(status, 200, "another address was refused");
    }
}
