//! A terminal of a session: a real program started through `bash`, its output collected as a
//! terminal would show it, typed into, interrupted, stopped.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::book::{self, repo_root};

/// How long one step may take on a busy machine before the session fails.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// How long an exited program's output may take to come through the pipe.
const PIPE_END: Duration = Duration::from_secs(5);

/// One terminal of a session: a running program and everything it has printed so far.
pub struct Terminal {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    pub output: Arc<Mutex<String>>,
    /// Set when the reader has reached the end of the pipe: everything printed is in `output`.
    pub ended: Arc<AtomicBool>,
    /// Lines already compared with the book.
    pub seen: usize,
    pub place: String,
}

/// The built binaries of the two crates.
pub fn binaries() -> (PathBuf, PathBuf) {
    (PathBuf::from(env!("CARGO_BIN_EXE_server")), book::client_binary())
}

/// A folder holding a `cargo` that runs the built binaries, so the book's lines run as written.
pub fn stand_in(server: &Path, client: &Path) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("transcripts-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("a temporary folder");
    // A certificate from an earlier run would make `--tls` say "kept" instead of "made now".
    let _ = fs::remove_dir_all(dir.join("socket-steps"));
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

/// Starts `command` in `bash`, its standard output and error merged like a terminal shows them.
pub fn start(command: &str, path: &Path, place: &str) -> Terminal {
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
        // `--tls` keeps its certificate here, not in the reader's data folder (chapter 15).
        .env("SOCKET_STEPS_TLS_DIR", path.join("socket-steps/tls"))
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(writer)
        .stderr(errors)
        .spawn()
        .unwrap_or_else(|e| panic!("{place}: cannot start `{command}`: {e}"));
    let output = Arc::new(Mutex::new(String::new()));
    let ended = Arc::new(AtomicBool::new(false));
    let (sink, end) = (output.clone(), ended.clone());
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().expect("output lock").push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        end.store(true, Ordering::SeqCst);
    });
    let stdin = child.stdin.take();
    Terminal { child, stdin, output, ended, seen: 0, place: place.to_string() }
}

/// A failed step ends the session early: its programs end with it.
impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Terminal {
    pub fn lines(&self) -> Vec<String> {
        self.output.lock().expect("output lock").lines().map(str::to_string).collect()
    }

    /// Waits until the terminal has printed `count` more lines (or has exited), then takes them.
    pub fn next_lines(&mut self, count: usize, until_exit: bool) -> Vec<String> {
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

    /// After the process exits, its last bytes may still be in the pipe: wait for the reader
    /// to reach the pipe's end (an event, where a fixed pause lost a busy machine's last lines),
    /// within `PIPE_END`; a program that left a child holding the pipe is taken as it is then.
    pub fn settled(&self, lines: &[String]) -> bool {
        let deadline = Instant::now() + PIPE_END;
        while !self.ended.load(Ordering::SeqCst) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        self.lines().len() == lines.len()
    }

    pub fn type_lines(&mut self, typed: &[String]) {
        if let Some(stdin) = self.stdin.as_mut() {
            for line in typed {
                let _ = writeln!(stdin, "{line}");
            }
            let _ = stdin.flush();
        }
    }

    pub fn ctrl_c(&mut self) {
        // Its process id may already belong to another program once it has exited.
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
    }

    pub fn stop(&mut self) {
        self.stdin = None;
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
