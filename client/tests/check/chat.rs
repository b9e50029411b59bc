//! Wrong chat servers (chapter 4's exercise): one small chat, written once, with a switch for
//! each mistake a hint names.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use client::check::{chat, hint};

use super::{covers, trips};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Bug {
    NoGreeting,
    NoNickAnswer,
    NoBroadcast,
    SkipsSender,
    DecodesEachRead,
    DropsInvalidLines,
    ClosesOnInvalid,
    DiesOnReset,
    DiesOnInvalid,
    WritesUnderTheLock,
    DropsEveryoneWhenOneIsSlow,
}

/// A member: its socket (to write under the lock, or to cut) and its queue (to write from its
/// own thread, the right way).
struct Member {
    id: u64,
    stream: TcpStream,
    queue: mpsc::Sender<String>,
}

struct Chat {
    bug: Bug,
    members: Mutex<Vec<Member>>,
    next: AtomicU64,
    dead: Arc<AtomicBool>,
    addr: String,
}

impl Chat {
    fn broadcast(&self, from: u64, line: &str) {
        let members = self.members.lock().unwrap();
        for member in members.iter().filter(|m| !(self.bug == Bug::SkipsSender && m.id == from)) {
            match self.bug {
                Bug::WritesUnderTheLock => drop((&member.stream).write_all(line.as_bytes())),
                Bug::DropsEveryoneWhenOneIsSlow => {
                    let _ = member.stream.set_write_timeout(Some(Duration::from_millis(300)));
                    if (&member.stream).write_all(line.as_bytes()).is_err() {
                        members.iter().for_each(|m| drop(m.stream.shutdown(Shutdown::Both)));
                        return;
                    }
                }
                _ => drop(member.queue.send(line.to_string())),
            }
        }
    }

    fn tell(&self, id: u64, line: &str) {
        let members = self.members.lock().unwrap();
        if let Some(member) = members.iter().find(|m| m.id == id) {
            let _ = member.queue.send(line.to_string());
        }
    }

    fn die(&self) {
        die(&self.dead, &self.addr);
    }

    fn serve(&self, stream: TcpStream) {
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        let (queue, outbox) = mpsc::channel::<String>();
        let mut writer = stream.try_clone().unwrap();
        // With `?` on every write too, a reset met while writing ends the server as well.
        let (dead, addr, bug) = (self.dead.clone(), self.addr.clone(), self.bug);
        thread::spawn(move || {
            let written = outbox.iter().try_for_each(|line| writer.write_all(line.as_bytes()));
            if written.is_err() && bug == Bug::DiesOnReset {
                die(&dead, &addr);
            }
        });
        if self.bug != Bug::NoGreeting {
            let _ = queue.send("* welcome\n".into());
        }
        let member = Member { id, stream: stream.try_clone().unwrap(), queue };
        self.members.lock().unwrap().push(member);
        self.read_lines(id, stream);
        self.members.lock().unwrap().retain(|m| m.id != id);
    }

    fn read_lines(&self, id: u64, stream: TcpStream) {
        let mut nick = format!("guest-{id}");
        let mut reader = BufReader::new(stream);
        let mut pending = String::new();
        loop {
            let mut bytes = Vec::new();
            let line = if self.bug == Bug::DecodesEachRead {
                // Decodes each read() as UTF-8: a character split between reads is "invalid".
                while !pending.contains('\n') {
                    let mut buf = [0u8; 4096];
                    match reader.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => match std::str::from_utf8(&buf[..n]) {
                            Ok(text) => pending.push_str(text),
                            Err(_) => self.tell(id, "! not UTF-8\n"),
                        },
                    }
                }
                let end = pending.find('\n').unwrap_or_default();
                Ok(pending.drain(..=end).collect::<String>().trim_end().to_string())
            } else {
                match reader.read_until(b'\n', &mut bytes) {
                    Ok(0) => return,
                    Err(_) if self.bug == Bug::DiesOnReset => return self.die(),
                    Err(_) => return,
                    Ok(_) => String::from_utf8(bytes).map(|l| l.trim_end().to_string()),
                }
            };
            match (line, self.bug) {
                (Err(_), Bug::DropsInvalidLines) => {}
                (Err(_), Bug::DiesOnInvalid) => return self.die(),
                (Err(_), Bug::ClosesOnInvalid) => return self.tell(id, "! not UTF-8\n"),
                (Err(_), _) => self.tell(id, "! not UTF-8\n"),
                (Ok(line), bug) => match line.strip_prefix("/nick ") {
                    Some(_) if bug == Bug::NoNickAnswer => {}
                    Some(new) => {
                        nick = new.to_string();
                        self.tell(id, &format!("* you are now {nick} in lobby\n"));
                    }
                    None if bug == Bug::NoBroadcast => {}
                    None => self.broadcast(id, &format!("{nick}: {line}\n")),
                },
            }
        }
    }
}

/// The accept loop ends at its next connection (this one wakes it).
fn die(dead: &AtomicBool, addr: &str) {
    dead.store(true, Ordering::SeqCst);
    let _ = TcpStream::connect(addr);
}

fn chat_with(bug: Bug) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let chat = Arc::new(Chat {
        bug,
        members: Mutex::new(Vec::new()),
        next: AtomicU64::new(1),
        dead: Arc::default(),
        addr: addr.clone(),
    });
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            if chat.dead.load(Ordering::SeqCst) {
                break;
            }
            let chat = chat.clone();
            thread::spawn(move || chat.serve(stream));
        }
    });
    addr
}

#[test]
fn every_chat_failure_has_a_wrong_server_that_trips_it() {
    let cases: &[(Bug, &[&str])] = &[
        (Bug::NoGreeting, &[chat::GREET]),
        (Bug::NoNickAnswer, &[chat::NICK]),
        (Bug::NoBroadcast, &[chat::BROADCAST]),
        (Bug::SkipsSender, &[chat::SENDER]),
        (Bug::DecodesEachRead, &[chat::SPLIT]),
        (Bug::DropsInvalidLines, &[chat::INVALID]),
        (Bug::ClosesOnInvalid, &[chat::AFTER_INVALID]),
        (Bug::DiesOnReset, &[chat::VANISHED]),
        (Bug::DiesOnInvalid, &[chat::INVALID, hint::GONE]),
        (Bug::WritesUnderTheLock, &[chat::FROZEN_ROOM]),
        (Bug::DropsEveryoneWhenOneIsSlow, &[chat::CUT_OFF]),
    ];
    let mut tripped = Vec::new();
    for (bug, hints) in cases {
        eprintln!("{bug:?}");
        tripped.push(trips("chat", &chat_with(*bug), hints));
    }
    tripped.push(trips("chat", &super::hostile::trickle(), &[hint::TOO_SLOW]));
    tripped.push(trips("chat", &super::hostile::flood(), &[hint::TOO_MUCH]));
    covers("chat", &tripped);
}
