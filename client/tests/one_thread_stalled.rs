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

/// Late readers get every line. A member that reads only after a long paste has more waiting in
/// its outbox than the loop's write buffer holds, and when it starts reading no new line comes to
/// ring its bell: the loop must go on fetching until the outbox is empty (it once stopped after
/// one write buffer's worth, and the room froze for the reader).
#[test]
fn members_that_read_only_after_a_long_paste_get_every_line_of_it() {
    // No flood control in the way: nobody is held, nobody is dropped for being behind.
    let limits = Limits { flood_mark: 20_000, outbox_capacity: 20_000, ..Limits::default() };
    let hub = Arc::new(Hub::new(limits));
    let server = support::start(move |l, s| one_thread_chat::run(l, s, hub, &Config::default()));
    let mut late = Raw::connect(server.addr);
    late.send("/nick late\n");
    assert!((0..10).any(|_| late.line() == "* you are now late in lobby"));
    let mut talker = Raw::connect(server.addr);
    talker.send("/nick talker\n");
    assert!((0..10).any(|_| talker.line() == "* you are now talker in lobby"));

    // About 2.5 MB: far more than a write buffer (64 KiB) and the sockets' buffers hold.
    const LINES: usize = 6000;
    let filler = "x".repeat(400);
    let paste: String = (0..LINES).map(|i| format!("{i} {filler}\n")).collect();
    let mut writer = talker.stream.try_clone().unwrap();
    // Sent from another thread: the talker hears its own lines too, read only afterwards.
    let sending = std::thread::spawn(move || writer.write_all(paste.as_bytes()).is_ok());
    assert!(sending.join().unwrap(), "the paste was not taken");
    let last = format!("talker: {} {filler}", LINES - 1);
    for (who, member) in [("talker", &mut talker), ("late", &mut late)] {
        let heard = (0..LINES + 20).any(|_| member.line() == last);
        assert!(heard, "{who} never got the paste's last line");
    }
}
