//! The hub's rules, tested without a socket: outboxes are read (or not) by the test itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use common::protocol::Command;

use super::*;

/// Long enough never to expire in a test, however busy the machine.
const NEVER: Duration = Duration::from_secs(600);

fn hub(limits: Limits) -> Arc<Hub> {
    Arc::new(Hub::new(limits))
}

struct TestMember {
    id: MemberId,
    inbox: Inbox,
    kicked: Arc<AtomicBool>,
}

impl TestMember {
    /// Everything queued so far, as wire lines.
    fn lines(&self) -> Vec<String> {
        self.inbox.try_iter().map(|d| d.line()).collect()
    }
}

/// A guest, as `Hub::join` makes one: in the lobby, not announced yet (see `arrivals`).
fn guest(hub: &Hub) -> TestMember {
    let (outbox, inbox) = hub.outbox();
    let kicked = Arc::new(AtomicBool::new(false));
    let flag = kicked.clone();
    let id = hub.join(outbox, Box::new(move || flag.store(true, Ordering::SeqCst))).unwrap();
    TestMember { id, inbox, kicked }
}

/// A guest that took the name `nick` and settled: its room was told `* NICK has entered lobby`.
fn join(hub: &Hub, nick: &str) -> TestMember {
    let member = guest(hub);
    member.lines();
    assert_eq!(hub.handle(member.id, Command::Nick(nick.into())), AfterCommand::Stay);
    let mut kicks = Kicks::new();
    let mut state = hub.lock();
    hub.settle(&mut state, member.id, &mut kicks);
    finish(state, kicks);
    member.lines();
    member
}

fn say(hub: &Hub, member: &TestMember, text: &str) {
    assert_eq!(hub.handle(member.id, Command::Say(text.into())), AfterCommand::Stay);
}

#[test]
fn a_stalled_member_is_dropped_the_room_told_and_its_connection_cut() {
    let hub = hub(Limits { stall: Duration::from_millis(50), ..Limits::default() });
    let (alice, bob, stalled) = (join(&hub, "alice"), join(&hub, "bob"), join(&hub, "stalled"));
    alice.lines();
    bob.lines();
    say(&hub, &alice, "one");
    thread::sleep(Duration::from_millis(100)); // stalled takes nothing for the whole window
    alice.lines();
    bob.lines();
    say(&hub, &alice, "two");
    let notice = "* stalled stopped reading and was dropped (too slow to keep up)";
    // The sender's flood check finds the stall first: the room hears of it before the message.
    assert_eq!(bob.lines(), [notice, "alice: two"]);
    assert_eq!(alice.lines(), [notice, "alice: two"]);
    assert!(stalled.kicked.load(Ordering::SeqCst));
    assert_eq!(hub.handle(stalled.id, Command::Who), AfterCommand::Quit);
}

#[test]
fn a_member_that_is_a_moment_behind_is_not_dropped() {
    let hub = hub(Limits { flood_mark: 1000, ..Limits::default() });
    let (alice, bob) = (join(&hub, "alice"), join(&hub, "bob"));
    // bob reads nothing while alice says 500 lines: far behind, not stalled.
    (0..500).for_each(|i| say(&hub, &alice, &i.to_string()));
    let heard: Vec<String> = bob.lines();
    assert_eq!(heard.len(), 500);
    assert!(heard.iter().enumerate().all(|(i, line)| *line == format!("alice: {i}")));
    assert!(!bob.kicked.load(Ordering::SeqCst));
}

#[test]
fn the_drop_cascade_ends_when_nobody_is_left_to_drop() {
    let hub = hub(Limits { stall: Duration::from_millis(50), ..Limits::default() });
    let alice = join(&hub, "alice");
    let quiet: Vec<TestMember> = ["b", "c", "d"].iter().map(|nick| join(&hub, nick)).collect();
    say(&hub, &alice, "one");
    thread::sleep(Duration::from_millis(100));
    alice.lines();
    say(&hub, &alice, "two");
    // b's departure is offered to c and d, who are stalled too: their drops follow from it.
    let lines = alice.lines();
    assert_eq!(lines.len(), 4, "three drops and one message: {lines:?}");
    assert_eq!(lines[3], "alice: two");
    assert!(quiet.iter().all(|member| member.kicked.load(Ordering::SeqCst)));
    assert_eq!(hub.handle(alice.id, Command::Who), AfterCommand::Stay);
    assert_eq!(alice.lines(), ["* in lobby: alice"]);
}

#[test]
fn flood_control_holds_the_sender_until_the_reader_catches_up() {
    let hub = hub(Limits { flood_mark: 10, patience: NEVER, stall: NEVER, ..Limits::default() });
    let (alice, bob) = (join(&hub, "alice"), join(&hub, "bob"));
    alice.lines(); // bob's arrival
    let paster = {
        let (hub, id) = (hub.clone(), alice.id);
        thread::spawn(move || {
            for i in 0..200 {
                hub.handle(id, Command::Say(i.to_string()));
            }
        })
    };
    // bob reads nothing yet: the paster stops with exactly the mark in bob's outbox.
    let deadline = Instant::now() + Duration::from_secs(10);
    while bob.inbox.len() < 10 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    thread::sleep(Duration::from_millis(100));
    assert_eq!(bob.inbox.len(), 10);
    assert!(!paster.is_finished());
    // Now both read, slowly; bob's outbox never holds more than the mark.
    let mut heard = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while heard.len() < 200 && Instant::now() < deadline {
        alice.inbox.try_iter().for_each(drop);
        assert!(bob.inbox.len() <= 10, "{} lines were queued past the mark", bob.inbox.len());
        if let Ok(delivery) = bob.inbox.recv_timeout(Duration::from_millis(10)) {
            heard.push(delivery.line());
        }
    }
    paster.join().unwrap();
    assert_eq!(heard, (0..200).map(|i| format!("alice: {i}")).collect::<Vec<_>>());
    assert!(!bob.kicked.load(Ordering::SeqCst) && !alice.kicked.load(Ordering::SeqCst));
}

#[test]
fn flood_control_waits_for_a_stalled_reader_once_for_the_patience_window() {
    let patience = Duration::from_millis(200);
    let hub = hub(Limits { flood_mark: 5, patience, stall: NEVER, ..Limits::default() });
    let (alice, stalled) = (join(&hub, "alice"), join(&hub, "stalled"));
    let start = Instant::now();
    for i in 0..20 {
        say(&hub, &alice, &i.to_string());
        alice.inbox.try_iter().for_each(drop);
    }
    let took = start.elapsed();
    assert!(took >= patience, "the sender never waited");
    // Once, not once per line: 15 lines past the mark would have taken 3 s.
    assert!(took < 15 * patience, "the sender waited {took:?}");
    // Not dropped yet (that is the stall window's or the cap's job), and every line is queued.
    assert!(!stalled.kicked.load(Ordering::SeqCst));
    assert_eq!(stalled.inbox.len(), 20);
}

#[test]
fn closing_the_hub_wakes_long_polls_and_held_back_senders() {
    let hub = hub(Limits { flood_mark: 3, stall: NEVER, ..Limits::default() });
    let (alice, behind) = (join(&hub, "alice"), join(&hub, "behind"));
    alice.lines();
    behind.lines();
    for line in ["three lines", "fill behind's outbox", "to the mark"] {
        say(&hub, &alice, line);
        alice.lines();
    }
    let poll = {
        let hub = hub.clone();
        thread::spawn(move || hub.wait_newer("lobby", u64::MAX - 1, NEVER))
    };
    let sender = {
        let (hub, id) = (hub.clone(), alice.id);
        thread::spawn(move || hub.handle(id, Command::Say("held back".into())))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while hub.waiting() == 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    hub.close();
    assert!(poll.join().unwrap().events.is_empty());
    assert_eq!(sender.join().unwrap(), AfterCommand::Stay);
}

#[test]
fn the_quietest_unused_room_is_forgotten_first_and_occupied_rooms_never() {
    let hub = hub(Limits { max_rooms: 4, ..Limits::default() });
    let alice = join(&hub, "alice");
    hub.post("old", "x", "first").unwrap();
    hub.post("newer", "x", "second").unwrap();
    hub.handle(alice.id, Command::Join("busy".into()));
    hub.post("old", "x", "old is active again").unwrap(); // now "newer" is the quietest
    hub.post("fresh", "x", "needs a slot").unwrap();
    alice.lines();
    hub.handle(alice.id, Command::Rooms);
    assert_eq!(alice.lines(), ["* rooms: busy (1), fresh (0), lobby (0), old (0)"]);
    // Only occupied rooms (and the lobby) left to forget? Then a new room is refused.
    let bob = join(&hub, "bob");
    hub.handle(bob.id, Command::Join("old".into()));
    let carol = join(&hub, "carol");
    hub.handle(carol.id, Command::Join("fresh".into()));
    carol.lines();
    hub.handle(carol.id, Command::Join("another".into()));
    assert_eq!(carol.lines(), ["! there are 4 rooms in use, the most this server keeps; /rooms lists them"]);
}

#[test]
fn watching_made_up_rooms_uses_no_room_slot() {
    let hub = hub(Limits { max_rooms: 3, ..Limits::default() });
    let streams: Vec<_> = (0..20)
        .map(|i| {
            let (outbox, inbox) = hub.outbox();
            (hub.watch(&format!("made-up-{i}"), outbox).unwrap(), inbox)
        })
        .collect();
    let alice = join(&hub, "alice");
    hub.handle(alice.id, Command::Join("games".into()));
    assert_eq!(alice.lines(), ["* alice has entered games", "* you are now alice in games"]);
    // A watcher hears a room from its first event on, once someone opens it.
    hub.handle(alice.id, Command::Join("made-up-3".into()));
    let heard: Vec<String> = streams[3].1.try_iter().map(|d| d.line()).collect();
    assert_eq!(heard, ["* alice has entered made-up-3"]);
    assert_eq!(hub.watchers("made-up-3"), 1);
    hub.unwatch("made-up-3", streams[3].0);
    assert_eq!(hub.watchers("made-up-3"), 0);
}

#[test]
fn a_watcher_that_stops_reading_is_let_go_and_close_says_goodbye_to_the_others() {
    let hub = hub(Limits { stall: Duration::from_millis(50), ..Limits::default() });
    let alice = join(&hub, "alice");
    let (stalled_outbox, stalled) = hub.outbox();
    let (healthy_outbox, healthy) = hub.outbox();
    hub.watch("lobby", stalled_outbox).unwrap();
    hub.watch("lobby", healthy_outbox).unwrap();
    say(&hub, &alice, "one");
    thread::sleep(Duration::from_millis(100));
    alice.lines();
    assert_eq!(healthy.try_iter().count(), 1);
    say(&hub, &alice, "two");
    assert_eq!(hub.watchers("lobby"), 1);
    assert_eq!(stalled.try_iter().count(), 1, "only what came before the stall");
    assert!(matches!(
        stalled.recv_timeout(Duration::from_secs(5)),
        Err(mpsc::RecvTimeoutError::Disconnected)
    ));
    hub.close();
    let last: Vec<String> = healthy.try_iter().map(|d| d.line()).collect();
    assert_eq!(last, ["alice: two", common::GOODBYE]);
}

#[test]
fn look_alike_nicknames_are_refused() {
    let hub = hub(Limits::default());
    let (alice, other) = (join(&hub, "alice"), join(&hub, "민지"));
    for (nick, error) in [
        ("ALICE", "! the nickname ALICE is taken; pick another"),
        ("\u{0430}lice", "! the nickname \u{0430}lice looks too much like alice, who is here; pick another"),
        ("ａｌｉｃｅ", "! the nickname ａｌｉｃｅ looks too much like alice, who is here; pick another"),
    ] {
        hub.handle(other.id, Command::Nick(nick.into()));
        assert_eq!(other.lines(), [error]);
    }
    let third = join(&hub, "x");
    hub.handle(third.id, Command::Nick("\u{1106}\u{1175}\u{11AB}\u{110C}\u{1175}".into()));
    assert_eq!(third.lines(), ["! the nickname \u{1106}\u{1175}\u{11AB}\u{110C}\u{1175} looks too much like 민지, who is here; pick another"]);
    hub.handle(third.id, Command::Nick("철수".into()));
    assert_eq!(third.lines(), ["* x is now known as 철수", "* you are now 철수 in lobby"]);
    hub.handle(third.id, Command::Nick("철수".into()));
    assert_eq!(third.lines(), ["! you are 철수 already"]);
    // One's own look-alike is fine: a change of capitals.
    alice.lines();
    hub.handle(alice.id, Command::Nick("ALICE".into()));
    assert_eq!(alice.lines(), ["* alice is now known as ALICE", "* you are now ALICE in lobby"]);
}

/// A member whose writer just ended (a client that closed, a WebSocket that got its 1001) is
/// leaving: the hub does not call it "connection lost" on its own; the member's thread says why.
/// Only a writer gone for the whole stall window, with nobody saying why, is dropped as lost.
#[test]
fn a_member_whose_writer_just_ended_leaves_with_the_reason_its_thread_gives() {
    let hub = hub(Limits { stall: NEVER, ..Limits::default() });
    let (alice, bob) = (join(&hub, "alice"), join(&hub, "bob"));
    alice.lines();
    let TestMember { id: bob_id, inbox, .. } = bob;
    drop(inbox);
    say(&hub, &alice, "still there?");
    assert_eq!(alice.lines(), ["alice: still there?"], "no 'connection lost' guessed by the hub");
    hub.leave(bob_id, LeaveReason::Quit);
    assert_eq!(alice.lines(), ["* bob has left the chat"]);

    let hub = self::hub(Limits { stall: Duration::from_millis(50), ..Limits::default() });
    let (alice, ghost) = (join(&hub, "alice"), join(&hub, "ghost"));
    alice.lines();
    drop(ghost.inbox);
    thread::sleep(Duration::from_millis(100)); // gone for the whole stall window
    say(&hub, &alice, "anyone?");
    assert_eq!(alice.lines(), ["* ghost has left the chat (connection lost)", "alice: anyone?"]);
}

#[test]
fn a_quiet_member_hears_messages_but_not_comings_and_goings_and_the_history_keeps_them() {
    let hub = hub(Limits::default());
    let teacher = join(&hub, "teacher");
    assert_eq!(hub.handle(teacher.id, Command::Quiet), AfterCommand::Stay);
    assert_eq!(
        teacher.lines(),
        ["* quiet: you no longer see others enter, leave or change names; /quiet shows them again"]
    );
    let student = join(&hub, "minji");
    say(&hub, &student, "hello");
    hub.leave(student.id, LeaveReason::Quit);
    assert_eq!(teacher.lines(), ["minji: hello"]);
    // The room's history still says who came and went, one line per person.
    let history: Vec<String> = hub.newer("lobby", 0).events.iter().map(|e| e.line()).collect();
    assert!(history.ends_with(&[
        "* minji has entered lobby".to_string(),
        "minji: hello".into(),
        "* minji has left the chat".into(),
    ]));
    // /quiet again: the comings and goings show again.
    hub.handle(teacher.id, Command::Quiet);
    assert_eq!(teacher.lines(), ["* you see others enter, leave and change names again"]);
    let late = join(&hub, "late");
    let _ = late;
    assert_eq!(teacher.lines(), ["* late has entered lobby"]);
}

/// Every line of the lobby's history, as the wire shows it.
fn history(hub: &Hub, room: &str) -> Vec<String> {
    hub.newer(room, 0).events.iter().map(|e| e.line()).collect()
}

/// Waits (bounded) until `member` has been sent `count` lines or more; returns them all.
fn lines_within(member: &TestMember, count: usize, limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    let mut lines = Vec::new();
    while lines.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        match member.inbox.recv_timeout(left) {
            Ok(delivery) => lines.push(delivery.line()),
            Err(_) => break,
        }
    }
    lines
}

#[test]
fn a_guest_that_moves_on_at_once_is_never_seen_in_the_lobby() {
    let hub = hub(Limits { arrival: NEVER, ..Limits::default() });
    let alice = join(&hub, "alice");
    let before = history(&hub, "lobby");
    // compare's publisher: a name, then its own room, in one breath; then it goes.
    let publisher = guest(&hub);
    assert_eq!(
        publisher.lines(),
        ["* welcome to the socket-steps chat! /help lists the commands", "* you are now guest-2 in lobby"],
        "the newcomer's own welcome is never delayed"
    );
    hub.handle(publisher.id, Command::Who);
    assert_eq!(publisher.lines(), ["* in lobby: alice, guest-2"], "/who lists a guest not announced yet");
    hub.handle(publisher.id, Command::Nick("pub-1".into()));
    hub.handle(publisher.id, Command::Join("bench".into()));
    assert_eq!(
        publisher.lines(),
        ["* you are now pub-1 in lobby", "* pub-1 has entered bench", "* you are now pub-1 in bench"]
    );
    hub.leave(publisher.id, LeaveReason::Quit);
    // A subscriber that joins its room at once, and one that only connects and closes (a probe).
    let subscriber = guest(&hub);
    hub.handle(subscriber.id, Command::Join("bench".into()));
    hub.leave(subscriber.id, LeaveReason::Quit);
    let probe = guest(&hub);
    hub.leave(probe.id, LeaveReason::Lost);
    assert!(alice.lines().is_empty(), "the lobby heard nothing");
    assert_eq!(history(&hub, "lobby"), before, "nor does its history keep anything");
    assert_eq!(
        history(&hub, "bench"),
        [
            "* pub-1 has entered bench",
            "* pub-1 has left the chat",
            "* guest-3 has entered bench",
            "* guest-3 has left the chat"
        ],
        "the room they moved to is told as usual"
    );
    assert!(hub.lock().arrivals.len() <= 1, "guests gone are forgotten at the next arrival");
}

#[test]
fn a_guest_that_takes_a_name_at_once_is_announced_once_under_it() {
    let hub = hub(Limits { arrival: NEVER, ..Limits::default() });
    let alice = join(&hub, "alice");
    let minji = guest(&hub);
    minji.lines();
    hub.handle(minji.id, Command::Nick("민지".into()));
    assert_eq!(minji.lines(), ["* you are now 민지 in lobby"]);
    assert!(alice.lines().is_empty(), "no guest-N, no rename");
    // Her first line settles her: the room hears who she is, then what she says.
    say(&hub, &minji, "안녕하세요");
    assert_eq!(alice.lines(), ["* 민지 has entered lobby", "민지: 안녕하세요"]);
    say(&hub, &minji, "again");
    hub.handle(minji.id, Command::Nick("minji".into()));
    hub.leave(minji.id, LeaveReason::Quit);
    assert_eq!(
        alice.lines(),
        ["민지: again", "* 민지 is now known as minji", "* minji has left the chat"],
        "once announced, a member is told of as before"
    );
    // A line refused (empty) is no act in the room: still unannounced.
    let quiet = guest(&hub);
    hub.handle(quiet.id, Command::Say("   ".into()));
    hub.leave(quiet.id, LeaveReason::Quit);
    assert!(alice.lines().is_empty());
}

#[test]
fn a_silent_guest_is_announced_when_its_arrival_grace_ends() {
    let arrival = Duration::from_millis(100);
    let hub = hub(Limits { arrival, ..Limits::default() });
    Hub::keep_door(&hub);
    Hub::keep_door(&hub); // once per hub, however many servers ask
    let alice = join(&hub, "alice");
    let start = Instant::now();
    let silent = guest(&hub);
    let renamed = guest(&hub);
    hub.handle(renamed.id, Command::Nick("late".into()));
    let heard = lines_within(&alice, 2, Duration::from_secs(10));
    assert_eq!(heard, ["* guest-2 has entered lobby", "* late has entered lobby"]);
    assert!(start.elapsed() >= arrival, "announced before the grace ended");
    assert!(alice.inbox.recv_timeout(arrival * 3).is_err(), "and only once");
    // Announced: its leaving is told as before.
    hub.leave(silent.id, LeaveReason::Lost);
    assert_eq!(alice.lines(), ["* guest-2 has left the chat (connection lost)"]);
    // The one-thread servers' way: their tick asks.
    let hub = self::hub(Limits { arrival, ..Limits::default() });
    let alice = join(&hub, "alice");
    let _quiet = guest(&hub);
    assert_eq!(hub.announce_arrivals().announced, 0, "not yet");
    let deadline = Instant::now() + Duration::from_secs(10);
    while hub.announce_arrivals().announced == 0 {
        assert!(Instant::now() < deadline, "never announced");
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(alice.lines(), ["* guest-2 has entered lobby"]);
    // The doorkeeper ends with its hub.
    hub.close();
}

#[test]
fn a_guest_dropped_before_it_was_announced_leaves_no_notice() {
    let hub = hub(Limits { arrival: NEVER, stall: Duration::from_millis(50), ..Limits::default() });
    let alice = join(&hub, "alice");
    let stalled = guest(&hub);
    say(&hub, &alice, "one");
    thread::sleep(Duration::from_millis(100)); // the guest takes nothing for the whole window
    alice.lines();
    say(&hub, &alice, "two");
    assert_eq!(alice.lines(), ["alice: two"]);
    assert!(stalled.kicked.load(Ordering::SeqCst));
    assert!(history(&hub, "lobby").iter().all(|line| !line.contains("guest-")));
}

#[test]
fn many_guests_due_at_once_are_announced_a_share_at_a_time() {
    // Half a flood mark a call: a talker's outbox never gets a whole crowd's notices at once.
    let arrival = Duration::from_millis(20);
    let hub = hub(Limits { arrival, flood_mark: 4, outbox_capacity: 64, ..Limits::default() });
    let alice = join(&hub, "alice");
    let _guests: Vec<_> = (0..5).map(|_| guest(&hub)).collect();
    thread::sleep(arrival * 2); // every guest's grace is over
    let shares: Vec<(usize, bool)> =
        (0..3).map(|_| hub.announce_arrivals()).map(|a| (a.announced, a.more)).collect();
    assert_eq!(shares, [(2, true), (2, true), (1, false)]);
    assert_eq!(alice.lines().len(), 5);
}
