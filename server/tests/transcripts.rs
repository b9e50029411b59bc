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

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

mod book;
use book::{blocks, markdown_files, repo_root, Block};

/// How long one step may take on a busy machine before the session fails.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// The ports the book uses, each the default of some lesson.
const BOOK_PORTS: [u16; 3] = [7878, 8080, 9001];

/// One terminal of a session: a running program and everything it has printed so far.
struct Terminal {
    child: Child,
    stdin: Option<ChildStdin>,
    output: Arc<Mutex<String>>,
    /// Lines already compared with the book.
    seen: usize,
    place: String,
}

/// A step of a session, in the order the chapter tells it.
struct Step {
    place: String,
    attrs: BTreeMap<String, String>,
    /// The command after `$ ` (continuation lines joined), if the step starts a program.
    command: Option<String>,
    /// What the book shows the terminal printing; `None` for a hidden step.
    expected: Option<Vec<String>>,
}

impl Step {
    fn flag(&self, name: &str) -> bool {
        self.attrs.contains_key(name)
    }
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(String::as_str)
    }
}

fn parse_attrs(list: &str) -> BTreeMap<String, String> {
    list.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| match part.split_once('=') {
            Some((key, value)) => (key.to_string(), value.to_string()),
            None => (part.to_string(), String::new()),
        })
        .collect()
}

/// Splits a console block into its command (the `$ ` line and its `\` continuations) and the
/// lines it shows after it.
fn command_and_output(body: &str) -> (Option<String>, Vec<String>) {
    let mut lines = body.lines().peekable();
    let mut command = None;
    if let Some(first) = lines.peek().and_then(|line| line.strip_prefix("$ ")) {
        let mut text = first.to_string();
        lines.next();
        while text.ends_with('\\') {
            text.pop();
            match lines.next() {
                Some(more) => text.push_str(more),
                None => break,
            }
        }
        command = Some(text);
    }
    (command, lines.map(str::to_string).collect())
}

/// Every session of the book, by chapter and name, its steps in order.
fn sessions(unmarked: &mut Vec<String>) -> BTreeMap<(String, String), Vec<Step>> {
    let mut sessions: BTreeMap<(String, String), Vec<(usize, Step)>> = BTreeMap::new();
    for path in markdown_files() {
        let text = fs::read_to_string(&path).expect("a readable chapter");
        let chapter = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        for block in blocks(&text).into_iter().filter(|b| b.info.split(',').next() == Some("console")) {
            let place = format!("{chapter}:{}", block.line);
            if !is_marked(&block) {
                unmarked.push(place.clone());
            }
            let Some(name) = block.attr("session") else { continue };
            let (command, output) = command_and_output(&block.body);
            let attrs = parse_attrs(&block.info);
            let step = Step { place, attrs, command, expected: Some(output) };
            sessions.entry((chapter.clone(), name.to_string())).or_default().push((block.line, step));
        }
        for (number, line) in text.lines().enumerate() {
            let Some(inner) = line.trim().strip_prefix("<!--").and_then(|c| c.strip_suffix("-->")) else {
                continue;
            };
            let Some((attrs, command)) = inner.trim().split_once(": $ ") else { continue };
            let attrs = parse_attrs(attrs);
            let Some(name) = attrs.get("session").cloned() else { continue };
            let place = format!("{chapter}:{}", number + 1);
            let step = Step { place, attrs, command: Some(command.trim().to_string()), expected: None };
            sessions.entry((chapter.clone(), name)).or_default().push((number + 1, step));
        }
    }
    sessions
        .into_iter()
        .map(|(key, mut steps)| {
            steps.sort_by_key(|(line, _)| *line);
            (key, steps.into_iter().map(|(_, step)| step).collect())
        })
        .collect()
}

/// A console block that shows output is a session, or says why it cannot be one.
fn is_marked(block: &Block) -> bool {
    // A block without a `$ ` prompt lists commands to copy; one with a prompt and other lines
    // shows what a program printed.
    let (command, output) = command_and_output(&block.body);
    let shows_output =
        command.is_some() && output.iter().any(|line| !line.trim().is_empty() && !line.starts_with("$ "));
    let marked = block.attr("session").is_some() || block.flag("measured") || block.flag("illustrative");
    !shows_output || marked
}

/// The built binaries of the two crates.
fn binaries() -> (PathBuf, PathBuf) {
    (PathBuf::from(env!("CARGO_BIN_EXE_server")), book::client_binary())
}

/// A folder holding a `cargo` that runs the built binaries, so the book's lines run as written.
fn stand_in(server: &Path, client: &Path) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("transcripts-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("a temporary folder");
    let script = format!(
        "#!/bin/sh\ncase \"$1\" in\n  server) shift; exec '{}' \"$@\";;\n  client) shift; exec '{}' \"$@\";;\n  \
         *) echo \"the transcripts test only runs cargo server/client, not cargo $1\" >&2; exit 2;;\nesac\n",
        server.display(),
        client.display()
    );
    let path = dir.join("cargo");
    fs::write(&path, script).expect("the stand-in is written");
    // In a terminal curl shows no progress meter; into our pipe it would, so it is told not to.
    fs::write(dir.join(".curlrc"), "no-progress-meter\n").expect("a curl configuration is written");
    let chmod = Command::new("chmod").arg("+x").arg(&path).status().expect("chmod runs");
    assert!(chmod.success());
    dir
}

/// The book's port of each lesson's server, and of the server each client talks to.
fn default_port(program: &str, lesson: &str, next: Option<&str>) -> Option<u16> {
    match (program, lesson) {
        (_, "http" | "ws" | "poll" | "long-poll" | "stream") => Some(8080),
        (_, "ws-echo") => Some(9001),
        ("client", "check") => next.and_then(|lesson| default_port("server", lesson, None)),
        ("client", "compare") | ("server", "lab") => None,
        _ => Some(7878),
    }
}

/// The command line with the book's ports replaced by this run's, and `--addr` added where the
/// book relies on a lesson's default address.
fn localise(command: &str, ports: &HashMap<u16, u16>) -> String {
    let mut text = command.to_string();
    for (book, real) in ports {
        for host in ["127.0.0.1", "localhost"] {
            text = text.replace(&format!("{host}:{book}"), &format!("{host}:{real}"));
            text = text.replace(&format!("{host} {book}"), &format!("{host} {real}"));
        }
        // redis-server takes its port as `--port N`.
        text = text.replace(&format!("--port {book}"), &format!("--port {real}"));
    }
    // Every `cargo server|client LESSON ...` segment of the line.
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("cargo ") {
        out.push_str(&rest[..at]);
        let segment_end = rest[at..].find(['|', ';', '&', '#']).map_or(rest.len(), |end| at + end);
        let segment = &rest[at..segment_end];
        let words: Vec<&str> = segment.split_whitespace().collect();
        let has_address = words
            .iter()
            .any(|w| ["--addr", "--bind", "--tcp", "--http", "--web"].iter().any(|flag| w.starts_with(flag)));
        let mut localised = segment.to_string();
        if let (Some(program), Some(lesson)) = (words.get(1), words.get(2)) {
            if !has_address {
                let port_of = |book: u16| ports.get(&book).copied().unwrap_or(book);
                let extra = match (*program, *lesson) {
                    ("server", "lab") | ("client", "compare") => {
                        format!(" --tcp 127.0.0.1:{} --http 127.0.0.1:{}", port_of(7878), port_of(8080))
                    }
                    _ => match default_port(program, lesson, words.get(3).copied()) {
                        Some(book) => format!(" --addr 127.0.0.1:{}", port_of(book)),
                        None => String::new(),
                    },
                };
                // After `cargo server LESSON` (or `cargo client check LESSON`), before the rest.
                let at = end_of_word(segment, if *lesson == "check" { 4 } else { 3 });
                localised = format!("{}{extra}{}", &segment[..at], &segment[at..]);
            }
        }
        out.push_str(&localised);
        rest = &rest[segment_end..];
    }
    out.push_str(rest);
    out
}

/// The byte offset where the `n`th whitespace-separated word of `text` ends.
fn end_of_word(text: &str, n: usize) -> usize {
    let mut words = 0;
    let mut in_word = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() && in_word {
            words += 1;
            if words == n {
                return i;
            }
        }
        in_word = !c.is_whitespace();
    }
    text.len()
}

/// Ports and timings differ on every run: both the book and the real output are normalised.
fn normalise(text: &str, ports: &HashMap<u16, u16>) -> String {
    let mut text = text.to_string();
    for (book, real) in ports {
        // A busy port's error suggests the next one.
        if !ports.values().any(|other| *other == real + 1) {
            text = text.replace(&format!(":{}", real + 1), &format!(":{}", book + 1));
        }
        text = text.replace(&format!(":{real}"), &format!(":{book}"));
        text = text.replace(&format!(" {real}\n"), &format!(" {book}\n"));
    }
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        // host:port where the port is not one of the book's: a client's ephemeral port.
        if chars[i] == ':' && i > 0 && chars[i - 1].is_ascii_digit() {
            let digits: String = chars[i + 1..].iter().take_while(|c| c.is_ascii_digit()).collect();
            let book_port =
                BOOK_PORTS.iter().any(|p| p.to_string() == digits || (p + 1).to_string() == digits);
            if digits.len() >= 4 && !book_port && digits != "7979" {
                out.push_str(":PORT");
                i += 1 + digits.len();
                continue;
            }
        }
        // A number followed by a unit of time: timings vary.
        if chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_alphanumeric()) {
            let number: String = chars[i..].iter().take_while(|c| c.is_ascii_digit() || **c == '.').collect();
            // Thirteen digits: a time in milliseconds since 1970, as the chat's JSON carries.
            if number.len() == 13 && !number.contains('.') {
                out.push_str("TIMESTAMP");
                i += number.len();
                continue;
            }
            let after: String = chars[i + number.len()..].iter().take(4).collect();
            let unit = ["ms", " ms", "µs", " µs", "s ", " s ", " s,", " s)", " s.", "s)", "s,"]
                .iter()
                .find(|unit| after.starts_with(**unit) || after == unit.trim_end());
            if let Some(unit) = unit {
                out.push_str("TIME");
                i += number.chars().count();
                let keep = unit.trim_start().trim_end_matches([' ', ',', ')', '.']);
                out.push_str(if unit.starts_with(' ') { " " } else { "" });
                out.push_str(keep);
                i += unit.trim_end_matches([' ', ',', ')', '.']).chars().count();
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// A free port for each of the book's ports, all different: each is held until all are found.
fn free_ports(book: &[u16]) -> HashMap<u16, u16> {
    let held: Vec<TcpListener> =
        book.iter().map(|_| TcpListener::bind("127.0.0.1:0").expect("a free port on loopback")).collect();
    book.iter()
        .zip(&held)
        .map(|(port, listener)| (*port, listener.local_addr().expect("its address").port()))
        .collect()
}

/// Starts `command` in `bash`, its standard output and error merged like a terminal shows them.
fn start(command: &str, path: &Path, place: &str) -> Terminal {
    let (mut reader, writer) = std::io::pipe().expect("a pipe");
    let errors = writer.try_clone().expect("the pipe's write end, twice");
    let search = format!("{}:{}", path.display(), std::env::var("PATH").unwrap_or_default());
    let mut child = Command::new("bash")
        .arg("-c")
        // A lone program replaces the shell, so that Ctrl-C reaches it; a pipeline stays in bash.
        .arg(if command.contains(['|', ';', '&', '{']) {
            command.to_string()
        } else {
            format!("exec {command}")
        })
        .current_dir(repo_root())
        .env("PATH", search)
        .env("NO_COLOR", "1")
        .env("CURL_HOME", path)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(writer)
        .stderr(errors)
        .spawn()
        .unwrap_or_else(|e| panic!("{place}: cannot start `{command}`: {e}"));
    let output = Arc::new(Mutex::new(String::new()));
    let sink = output.clone();
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().expect("output lock").push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let stdin = child.stdin.take();
    Terminal { child, stdin, output, seen: 0, place: place.to_string() }
}

/// A failed step ends the session early: its programs end with it.
impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Terminal {
    fn lines(&self) -> Vec<String> {
        self.output.lock().expect("output lock").lines().map(str::to_string).collect()
    }

    /// Waits until the terminal has printed `count` more lines (or has exited), then takes them.
    fn next_lines(&mut self, count: usize, until_exit: bool) -> Vec<String> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let exited = matches!(self.child.try_wait(), Ok(Some(_)));
            let lines = self.lines();
            let enough = !until_exit && lines.len() >= self.seen + count;
            if enough || (exited && self.settled(&lines)) {
                let end = if until_exit { lines.len() } else { (self.seen + count).min(lines.len()) };
                let taken = lines[self.seen.min(end)..end].to_vec();
                self.seen = end;
                return taken;
            }
            if Instant::now() > deadline {
                panic!(
                    "{}: waited {STEP_TIMEOUT:?} for {count} more line(s); the terminal shows:\n{}",
                    self.place,
                    lines.join("\n")
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// After the process exits, its last bytes may still be in the pipe: wait for the reader.
    fn settled(&self, lines: &[String]) -> bool {
        thread::sleep(Duration::from_millis(50));
        self.lines().len() == lines.len()
    }

    fn type_lines(&mut self, typed: &[String]) {
        if let Some(stdin) = self.stdin.as_mut() {
            for line in typed {
                let _ = writeln!(stdin, "{line}");
            }
            let _ = stdin.flush();
        }
    }

    fn ctrl_c(&mut self) {
        // Its process id may already belong to another program once it has exited.
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
    }

    fn stop(&mut self) {
        self.stdin = None;
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
    let (actual, expected) = (normalise(&actual.join("\n"), ports), normalise(&expected.join("\n"), ports));
    let assert = snapbox::Assert::new().palette(snapbox::report::Palette::plain());
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
