//! The book's console sessions are run, and what they print is compared with what the book
//! shows. Code excerpts are checked by `docs.rs`; this file checks the *output* a reader sees.
//!
//! A chapter marks every block of one session with `session=NAME` in its info string:
//!
//! ```text
//! ```console,session=echo                     terminal 1: `$ cargo server echo`, then its first lines
//! ```console,session=echo,stdin=hello           a client; `stdin` is what the reader types (`|` between
//!                                               lines); typed lines shown in the block are not output
//! ```console,session=echo,part=server           more of terminal 1's output, later in the story
//! ```console,session=echo,part=a,eof            client `a` (named with `name=a`) gets end of input
//! ```console,session=echo,part=server,ctrl-c    Ctrl-C in terminal 1, and what it prints then
//! ```console,session=echo,part=a+b,exit         what clients `a` and `b` each print, and then end
//! ```console,session=chat,part=server,any-order threads racing: the lines come in any order
//! ```
//!
//! A terminal the prose describes but does not show is an HTML comment, in the same order:
//! `<!-- session=busy,name=a,stdin=hi,lines=2: $ cargo client threaded-echo -->`; the story goes
//! on once it has printed `lines` lines (1 unless given), so that a server has logged what the
//! next block shows (the lifecycle server's `lines=6` waits for its `accept()`). A block indented
//! inside a list item counts from its fence's indentation.
//!
//! Each session runs the real binaries on free ports (the book's 7878, 8080 and 9001 are mapped
//! to them, and back in what the programs print) through a `cargo` stand-in on `PATH`, so pipes,
//! `curl` and `nc` lines run as written. Every terminal keeps its standard input open (the reader
//! has not pressed Ctrl-D) unless the block says `eof`; a pipeline's commands run in `bash`, a lone
//! command replaces it, so that Ctrl-C reaches the program. A block is compared with the next lines
//! that terminal prints, as many as the block shows; `[..]` in a line matches anything. Client
//! ports, timings and the port after a book port (a busy port's advice) are normalised on both
//! sides. A console block with output that is not a
//! session says `measured` (figures from a benchmark run, which no test can reproduce) or
//! `illustrative` (an example whose output depends on the reader's machine).

#![cfg(unix)]

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

mod book;
#[path = "transcripts/ports.rs"]
mod ports;
#[path = "transcripts/story.rs"]
mod story;
#[path = "transcripts/terminal.rs"]
mod terminal;

use ports::{ephemeral_as_the_book_shows, free_ports, localise, normalise, BOOK_PORTS};
use story::{sessions, Step};
use terminal::{binaries, stand_in, start, Terminal};

/// The lines the book shows, less what the reader typed (a terminal echoes typing; the program
/// does not print it) and a `^C`.
fn shown(expected: &[String], typed: &[String]) -> Vec<String> {
    let mut typed = typed.iter().peekable();
    expected
        .iter()
        .filter(|line| {
            if line.as_str() == "^C" {
                return false;
            }
            if typed.peek().is_some_and(|t| t == line) {
                typed.next();
                return false;
            }
            true
        })
        .cloned()
        .collect()
}

/// The outside programs a session's commands run (`nc`, `curl`, `redis-server`) that this machine
/// lacks.
fn missing_tools(steps: &[Step]) -> Vec<&'static str> {
    let uses = |tool: &str| {
        steps.iter().filter_map(|s| s.command.as_deref()).any(|command| {
            command.split(['|', ';', '&']).any(|part| part.split_whitespace().next() == Some(tool))
        })
    };
    let installed = |tool: &str| {
        Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .output()
            .is_ok_and(|o| o.status.success())
    };
    ["nc", "curl", "redis-server"].into_iter().filter(|tool| uses(tool) && !installed(tool)).collect()
}

fn run_session(chapter: &str, name: &str, steps: &[Step], path: &Path) {
    let ports: HashMap<u16, u16> = free_ports(&[BOOK_PORTS.as_slice(), &[7979, 6379]].concat());
    let mut terminals: HashMap<String, Terminal> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        let typed: Vec<String> =
            step.attr("stdin").map(|s| s.split('|').map(str::to_string).collect()).unwrap_or_default();
        let whose: Vec<String> = match (&step.command, step.attr("part")) {
            (Some(command), _) => {
                let who = step.attr("name").map(str::to_string).unwrap_or_else(|| {
                    if command.starts_with("cargo server") {
                        "server".into()
                    } else {
                        format!("t{index}")
                    }
                });
                let terminal = start(&localise(command, &ports), path, &step.place);
                terminals.insert(who.clone(), terminal);
                order.push(who.clone());
                vec![who]
            }
            // `part=a+b`: each of these terminals prints the lines the block shows.
            (None, Some(part)) => part.split('+').map(str::to_string).collect(),
            (None, None) => {
                panic!("{}: a block with no `$ ` command must say whose output it is (part=)", step.place)
            }
        };
        // `part=a+b` shows what several terminals print alike: each is compared with the block.
        for who in &whose {
            check_step(name, chapter, step, who, &typed, &mut terminals, &ports);
        }
    }
    // The end of the story: Ctrl-C for the server, end of input for everybody.
    if let Some(server) = terminals.get_mut("server") {
        server.ctrl_c();
    }
    for who in order.iter().rev() {
        if let Some(terminal) = terminals.get_mut(who) {
            terminal.stop();
        }
    }
}

/// Types, closes or interrupts as the step says in terminal `who`, then compares its next lines.
fn check_step(
    name: &str,
    chapter: &str,
    step: &Step,
    who: &str,
    typed: &[String],
    terminals: &mut HashMap<String, Terminal>,
    ports: &HashMap<u16, u16>,
) {
    let terminal = terminals
        .get_mut(who)
        .unwrap_or_else(|| panic!("{}: no terminal {who} in session {name} of {chapter}", step.place));
    terminal.place = step.place.clone();
    terminal.type_lines(typed);
    if step.flag("eof") {
        terminal.stdin = None;
    }
    if step.flag("ctrl-c") {
        terminal.ctrl_c();
    }
    let Some(expected) = &step.expected else {
        // A hidden terminal: let it get going before the story moves on.
        let wait = step.attr("lines").and_then(|n| n.parse().ok()).unwrap_or(1);
        terminal.next_lines(wait, false);
        return;
    };
    let expected = shown(expected, typed);
    let until_exit =
        ["eof", "ctrl-c", "exit"].iter().any(|flag| step.flag(flag)) || expected.iter().any(|l| l == "...");
    let actual = terminal.next_lines(expected.len(), until_exit);
    let (actual, mut expected) =
        (normalise(&actual.join("\n"), ports), normalise(&expected.join("\n"), ports));
    let mut actual = ephemeral_as_the_book_shows(&actual, &expected);
    if step.flag("any-order") {
        let sorted = |text: &str| {
            let mut lines: Vec<&str> = text.lines().collect();
            lines.sort_unstable();
            lines.join("\n")
        };
        (actual, expected) = (sorted(&actual), sorted(&expected));
    }
    // No path normalising: a trace's `\"` is an escaped quote, not a Windows path separator.
    let assert = snapbox::Assert::new().palette(snapbox::report::Palette::plain()).normalize_paths(false);
    if let Err(error) = assert.try_eq(Some(&step.place), actual.into(), expected.into()) {
        for terminal in terminals.values_mut() {
            terminal.stop();
        }
        panic!("{}: the book shows other output than {who} prints (session {name}):\n{error}", step.place);
    }
}

#[test]
fn every_console_session_in_the_book_prints_what_the_book_shows() {
    let (server, client) = binaries();
    let path = stand_in(&server, &client);
    let mut unmarked = Vec::new();
    let sessions = sessions(&mut unmarked);
    // `TRANSCRIPT=02-echo.md` (a chapter) or `TRANSCRIPT=echo` (a session) runs just that.
    let only = std::env::var("TRANSCRIPT").ok();
    for ((chapter, name), steps) in &sessions {
        if only.as_deref().is_some_and(|only| only != name && only != chapter) {
            continue;
        }
        let missing = missing_tools(steps);
        if !missing.is_empty() {
            // `.ci/run` installs them, so CI checks every session; a laptop without them skips.
            eprintln!(
                "skipping session {name} of {chapter}: it needs {} (not installed)",
                missing.join(", ")
            );
            continue;
        }
        run_session(chapter, name, steps, &path);
    }
    assert!(
        only.is_some() || unmarked.is_empty(),
        "these console blocks show output but are not checked: mark each `console,session=NAME` \
         (see server/tests/transcripts.rs), or `measured` / `illustrative` if no test can reproduce it:\n{}",
        unmarked.join("\n")
    );
}

#[test]
fn ports_and_timings_are_normalised_and_typed_lines_are_not_output() {
    let ports: HashMap<u16, u16> = [(7878, 40001)].into_iter().collect();
    assert_eq!(
        normalise("listening on 127.0.0.1:40001\nconnected from 127.0.0.1:51234 in 12.5 ms\n", &ports),
        "listening on 127.0.0.1:7878\nconnected from 127.0.0.1:PORT in TIME ms\n"
    );
    assert_eq!(normalise(r#"{"id":1,"time":1795607298594}"#, &ports), r#"{"id":1,"time":TIMESTAMP}"#);
    assert_eq!(normalise("try --addr 127.0.0.1:40002", &ports), "try --addr 127.0.0.1:7879");
    assert_eq!(localise("cargo client echo", &ports), "cargo client echo --addr 127.0.0.1:40001");
    assert_eq!(localise("nc 127.0.0.1 7878", &ports), "nc 127.0.0.1 40001");
    let typed = vec!["hello".to_string()];
    let book: Vec<String> = ["connected", "hello", "hello"].iter().map(|s| s.to_string()).collect();
    assert_eq!(shown(&book, &typed), ["connected", "hello"]);
}

#[test]
fn a_client_port_that_is_also_a_book_port_is_still_the_ephemeral_port() {
    // Seen once: the client's port was 9002, which `normalise` keeps (ws-echo's port plus one).
    let book = "connected to 127.0.0.1:7878 from 127.0.0.1:PORT; type lines\n* server busy\n";
    let actual = "connected to 127.0.0.1:7878 from 127.0.0.1:9002; type lines\n* server busy\n";
    assert_eq!(ephemeral_as_the_book_shows(actual, book), book);
    // Only where the book has `:PORT`, and only when that port is the line's whole difference.
    let other = "connected to 127.0.0.1:9002 from 127.0.0.1:9002; type lines\n* server busy\n";
    assert_eq!(ephemeral_as_the_book_shows(other, book), other);
    let elsewhere = "listening on 127.0.0.1:9002\n";
    assert_eq!(ephemeral_as_the_book_shows(elsewhere, "listening on 127.0.0.1:9001\n"), elsewhere);
}
