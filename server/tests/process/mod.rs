//! The server binary as a user runs it, for the tests: a real process on an ephemeral port,
//! its log lines as they come, Ctrl-C as SIGINT.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

pub const DEADLINE: Duration = Duration::from_secs(10);

pub fn server() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
    command.env_remove("RUST_LOG").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    command
}

/// A running server process and the log lines it prints, as they come.
pub struct Process {
    pub child: Child,
    pub log: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Process {
    pub fn spawn(args: &[&str]) -> Process {
        let mut command = server();
        command.args(args);
        Process::start(command)
    }

    pub fn start(mut command: Command) -> Process {
        let mut child = command.spawn().expect("start the server binary");
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (tx, log) = mpsc::channel();
        thread::spawn(move || stderr.lines().map_while(Result::ok).try_for_each(|l| tx.send(l)));
        Process { child, log, seen: Vec::new() }
    }

    /// Waits for a log line containing `needle` and returns it.
    pub fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no log line with {needle:?}; saw {:#?}", self.seen),
            }
        }
    }

    /// The address from the "listening on ADDR" line.
    pub fn listening_addr(&mut self) -> SocketAddr {
        let line = self.wait_for("listening on ");
        let rest = &line[line.find("listening on ").unwrap() + "listening on ".len()..];
        let rest = rest.trim_start_matches("http://").trim_start_matches("ws://");
        let addr: String = rest.chars().take_while(|c| !matches!(c, ',' | ' ' | '/')).collect();
        addr.trim_end_matches(':').parse().unwrap_or_else(|_| panic!("no address in {line:?}"))
    }

    /// Every log line printed so far, waiting up to `quiet` for each next one.
    pub fn drain(&mut self, quiet: Duration) -> &[String] {
        while let Ok(line) = self.log.recv_timeout(quiet) {
            self.seen.push(line);
        }
        &self.seen
    }

    pub fn interrupt(&self) {
        let status = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill -INT failed");
    }

    /// Waits (bounded) for the process to exit.
    pub fn exit_within(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        panic!("the server did not exit within {limit:?}; log: {:#?}", self.seen);
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn connect(addr: SocketAddr) -> (TcpStream, BufReader<TcpStream>) {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let reader = BufReader::new(stream.try_clone().unwrap());
    (stream, reader)
}

pub fn read_line(reader: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    line
}
