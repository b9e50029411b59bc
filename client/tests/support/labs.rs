//! Labs joined through a broker, and members in them, for the broker's tests.
#![allow(dead_code)]

use std::io::BufRead;
use std::net::{SocketAddr, TcpListener};
use std::time::Instant;

use server::hub::{Broker, Hub, Limits};
use server::lessons::{http_chat::Config, lab};

use super::support::{start, Raw, Running, DEADLINE};

pub struct Lab {
    pub web: SocketAddr,
    pub tcp: SocketAddr,
    _running: Running,
}

/// A lab on two ephemeral ports whose hub publishes through the broker at `url`.
pub fn lab_with_broker(url: &str, limits: Limits) -> Lab {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_addr = tcp.local_addr().unwrap();
    let hub = Hub::with_broker(limits, Broker::new(url).unwrap()).unwrap();
    let running = start(move |web, shutdown| {
        let result = lab::run(tcp, web, shutdown, hub.clone(), Config::default(), Default::default());
        hub.close();
        hub.join_reader();
        result
    });
    Lab { web: running.addr, tcp: tcp_addr, _running: running }
}

/// A TCP member, moved into `room` (waits for the server's confirmation).
pub fn tcp_member(addr: SocketAddr, room: &str) -> Raw {
    let mut member = Raw::connect(addr);
    member.send(&format!("/join {room}\n"));
    // The welcome says "you are now guest-N in lobby" first: wait for the room asked for.
    let moved = format!(" in {room}");
    loop {
        let line = member.line();
        if line.starts_with("* you are now ") && line.ends_with(&moved) {
            break;
        }
    }
    member
}

/// Reads lines until one matches (returns it) or the deadline passes (`None`).
pub fn wait_for(member: &mut Raw, matches: impl Fn(&str) -> bool) -> Option<String> {
    let until = Instant::now() + 3 * DEADLINE;
    while Instant::now() < until {
        let mut line = String::new();
        match member.reader.read_line(&mut line) {
            Ok(0) => return None,
            Ok(_) if matches(line.trim_end()) => return Some(line.trim_end().to_string()),
            Ok(_) => {}
            Err(e) if common::net::is_timeout(&e) => {}
            Err(_) => return None,
        }
    }
    None
}
