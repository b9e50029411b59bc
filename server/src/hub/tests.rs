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

fn join(hub: &Hub, nick: &str) -> TestMember {
    let (outbox, inbox) = hub.outbox();
    let kicked = Arc::new(AtomicBool::new(false));
    let flag = kicked.clone();
    let id = hub.join(outbox, Box::new(move || flag.store(true, Ordering::SeqCst))).unwrap();
    let member = TestMember { id, inbox, kicked };
    member.lines();
    assert_eq!(hub.handle(id, Command::Nick(nick.into())), AfterCommand::Stay);
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
        "* guest-2 has entered lobby".to_string(),
        "* guest-2 is now known as minji".into(),
        "minji: hello".into(),
        "* minji has left the chat".into(),
    ]));
    // /quiet again: the comings and goings show again.
    hub.handle(teacher.id, Command::Quiet);
    assert_eq!(teacher.lines(), ["* you see others enter, leave and change names again"]);
    let late = join(&hub, "late");
    let _ = late;
    assert_eq!(teacher.lines(), ["* guest-3 has entered lobby", "* guest-3 is now known as late"]);
}
