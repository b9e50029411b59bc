//! Chapter 14's chat: a member that stops reading while nobody else speaks. The hub only judges
//! readers when someone publishes; the loop's write timeout (the threaded chat's blocked `write`
//! timing out) drops it anyway, and the room hears that it left.

mod support;

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use server::evloop::Config;
use server::hub::{Hub, Limits};
use server::lessons::one_thread_chat;
use support::{slow, Raw};

#[test]
fn a_member_that_stops_reading_while_the_room_is_quiet_is_dropped_after_the_write_timeout() {
    let config = Config { write_timeout: Duration::from_millis(500), ..Config::default() };
    let hub = Arc::new(Hub::new(Limits::default()));
    let server = support::start(move |l, s| one_thread_chat::run(l, s, hub, &config));
    let mut watcher = Raw::connect(server.addr);
    watcher.send("/nick watcher\n");
    assert!((0..10).any(|_| watcher.line() == "* you are now watcher in lobby"));

    // Asks for /help thousands of times and never reads the answers (a megabyte of them).
    let mut stalled = slow::connect(server.addr);
    stalled.write_all(b"/nick stalled\n").unwrap();
    // Silent after its name: the loop's tick announces it once its arrival grace ends.
    assert!((0..10).any(|_| watcher.line() == "* stalled has entered lobby"));
    let asking = "/help\n".repeat(3000);
    slow::write_until_stalled(&mut stalled, asking.as_bytes(), Duration::from_millis(300));

    let start = Instant::now();
    let line = watcher.line(); // the next thing the room hears, within the support deadline
    assert!(line.starts_with("* stalled ") && line.contains("left"), "{line}");
    assert!(start.elapsed() < Duration::from_secs(4), "took {:?}", start.elapsed());
}
