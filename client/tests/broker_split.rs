//! Two labs on one Redis when the broker goes and comes back (issues 16 and 27): the room
//! splits and joins again, nothing said after the rejoin is lost or repeated, and a broker with
//! a password works without the password ever being shown. The tests that need `redis-server`
//! say so and pass without it.

#[path = "support/labs.rs"]
mod labs;
#[path = "support/redis_server.rs"]
mod redis_server;
mod support;

use std::net::TcpListener;

use labs::{lab_with_broker, tcp_member, wait_for, Lab};
use redis_server::RedisServer;
use server::hub::{Broker, Limits};
use support::Raw;

/// Two labs on one Redis with a member each in `room`, the broker then killed and the split
/// told to both members: the Redis (to start again on its port), the labs and the members.
fn split_two_labs(room: &str) -> (RedisServer, Lab, Lab, Raw, Raw) {
    let mut redis = RedisServer::start();
    let (a, b) =
        (lab_with_broker(&redis.url(), Limits::default()), lab_with_broker(&redis.url(), Limits::default()));
    let (mut alice, mut bob) = (tcp_member(a.tcp, room), tcp_member(b.tcp, room));
    alice.send("msg before\n");
    assert!(wait_for(&mut bob, |l| l.ends_with(": msg before")).is_some());
    redis.kill();
    for member in [&mut alice, &mut bob] {
        assert!(wait_for(member, |l| l.contains("the rooms are split")).is_some(), "no split notice");
    }
    (redis, a, b, alice, bob)
}

/// Starts the broker again on `port` and waits until both members are told the rooms are joined.
fn rejoin(port: u16, members: [&mut Raw; 2]) -> RedisServer {
    let redis = RedisServer::start_on(port);
    for member in members {
        assert!(wait_for(member, |l| l.contains("the rooms are joined again")).is_some(), "not rejoined");
    }
    redis
}

#[test]
fn a_broker_restart_splits_the_room_then_joins_it_again() {
    if !RedisServer::installed("a_broker_restart_splits_the_room_then_joins_it_again") {
        return;
    }
    let (redis, _a, _b, mut alice, mut bob) = split_two_labs("split");
    // Alone, but alive: A's members still hear each other.
    alice.send("msg alone\n");
    assert!(wait_for(&mut alice, |l| l.ends_with(": msg alone")).is_some());
    let _redis = rejoin(redis.port, [&mut alice, &mut bob]);
    alice.send("msg after\n");
    let heard = wait_for(&mut bob, |l| l.contains(": msg "));
    assert!(heard.as_deref().is_some_and(|l| l.ends_with(": msg after")), "bob heard {heard:?}");
}

#[test]
fn after_a_rejoin_nothing_said_is_lost_or_repeated_on_either_lab() {
    if !RedisServer::installed("after_a_rejoin_nothing_said_is_lost_or_repeated_on_either_lab") {
        return;
    }
    let (redis, _a, _b, mut alice, mut bob) = split_two_labs("gap");
    // A talks alone: 21 local ids that the broker never saw.
    for i in 0..21 {
        alice.send(&format!("msg alone {i}\n"));
    }
    assert!(wait_for(&mut alice, |l| l.ends_with(": msg alone 20")).is_some());
    let _redis = rejoin(redis.port, [&mut alice, &mut bob]);
    for i in 0..30 {
        bob.send(&format!("msg from-b {i}\n"));
    }
    for (name, member) in [("alice on A", &mut alice), ("bob on B", &mut bob)] {
        let mut heard = Vec::new();
        while !heard.iter().any(|l: &String| l.ends_with(": msg from-b 29")) {
            match wait_for(member, |l| l.contains(": msg from-")) {
                Some(line) => heard.push(line),
                None => break,
            }
        }
        // A repeat would come after the last line: one more line shows whether one does.
        if name == "alice on A" {
            alice_done(&mut heard, member);
        }
        let from_b: Vec<&str> =
            heard.iter().filter_map(|l| l.split_once(": msg from-b ").map(|(_, n)| n)).collect();
        let expected: Vec<String> = (0..30).map(|i| i.to_string()).collect();
        assert_eq!(from_b, expected, "{name} heard B's 30 lines as {heard:?}");
    }
}

/// Alice says one more line and reads up to it: anything B's lines left behind shows up.
fn alice_done(heard: &mut Vec<String>, alice: &mut Raw) {
    alice.send("msg last\n");
    while let Some(line) = wait_for(alice, |l| l.contains(": msg ")) {
        if line.ends_with(": msg last") {
            return;
        }
        heard.push(line);
    }
    panic!("alice did not hear her own last line");
}

#[test]
fn a_broker_with_a_password_is_joined_and_the_password_never_shown() {
    if !RedisServer::installed("a_broker_with_a_password_is_joined_and_the_password_never_shown") {
        return;
    }
    let redis = RedisServer::start_with(&["--requirepass", "s3cret"]);
    let port = redis.port;
    let url = format!("redis://:s3cret@127.0.0.1:{port}");
    let broker = Broker::new(&url).unwrap();
    assert!(!broker.url().contains("s3cret"), "{}", broker.url());
    assert_eq!(broker.probe(), Ok(()));
    let wrong = Broker::new(&format!("redis://:guess@127.0.0.1:{port}")).unwrap().probe().unwrap_err();
    assert!(wrong.contains("refused the password") && !wrong.contains("guess"), "{wrong}");
    let none = Broker::new(&format!("redis://127.0.0.1:{port}")).unwrap().probe().unwrap_err();
    assert!(none.contains("wants a password"), "{none}");
    let (a, b) = (lab_with_broker(&url, Limits::default()), lab_with_broker(&url, Limits::default()));
    let (mut alice, mut bob) = (tcp_member(a.tcp, "secret"), tcp_member(b.tcp, "secret"));
    alice.send("msg through the password\n");
    assert!(wait_for(&mut bob, |l| l.ends_with(": msg through the password")).is_some());
}

#[test]
fn without_a_broker_to_reach_a_lab_serves_its_own_members() {
    // Runs everywhere: nothing listens on this port, so the room is split from the start.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let a = lab_with_broker(&format!("redis://127.0.0.1:{port}"), Limits::default());
    let mut alice = tcp_member(a.tcp, "alone");
    let mut carol = tcp_member(a.tcp, "alone");
    alice.send("msg hello\n");
    assert!(wait_for(&mut carol, |l| l.ends_with(": msg hello")).is_some());
}
