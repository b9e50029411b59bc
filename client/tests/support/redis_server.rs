//! A real `redis-server` for the broker's tests and benchmark: a child process on a free port,
//! nothing saved to disk, stopped when dropped. Never the system service.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// How long redis-server may take to say it is ready (beside four busy loops it once took over 10 s).
const READY: Duration = Duration::from_secs(30);

pub struct RedisServer {
    child: Child,
    pub port: u16,
}

impl RedisServer {
    /// True when `redis-server` can be run; otherwise says what the caller's test needs.
    pub fn installed(test: &str) -> bool {
        let found = Command::new("redis-server").arg("--version").output().is_ok_and(|o| o.status.success());
        if !found {
            eprintln!(
                "skipping {test}: it needs redis-server (Debian: apt-get install redis-server); \
                 .ci/run installs it"
            );
        }
        found
    }

    /// Starts redis-server on a port the system says is free.
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// [`RedisServer::start`] with more flags (`--requirepass s3cret`). A port that was free when
    /// asked can be taken before redis-server binds it (by another test's client, or another
    /// suite running beside this one): then redis-server exits at once, and another port is tried.
    pub fn start_with(extra: &[&str]) -> RedisServer {
        let mut failures = Vec::new();
        for _ in 0..5 {
            let port =
                TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
            match RedisServer::try_start(port, extra) {
                Ok(server) => return server,
                Err(why) => failures.push(why),
            }
        }
        panic!("redis-server did not start on 5 free ports: {}", failures.join("; "));
    }

    /// Starts redis-server on `port` (again, after [`RedisServer::kill`]) and waits for its
    /// "Ready to accept connections" line.
    pub fn start_on(port: u16) -> RedisServer {
        RedisServer::try_start(port, &[]).unwrap_or_else(|why| panic!("{why}"))
    }

    /// Starts redis-server on `port`; `Err` says why it is not ready (what it printed, if it
    /// ended first).
    fn try_start(port: u16, extra: &[&str]) -> Result<RedisServer, String> {
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let stdout = child.stdout.take().expect("piped stdout");
        let (ready, waiting) = mpsc::channel();
        thread::spawn(move || {
            let mut last = String::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("Ready to accept connections") {
                    let _ = ready.send(Ok(()));
                }
                last = line;
            }
            let _ = ready.send(Err(last)); // it ended (before it was ready, or when killed)
        });
        let mut server = RedisServer { child, port };
        match waiting.recv_timeout(READY) {
            Ok(Ok(())) => Ok(server),
            Ok(Err(last)) => {
                server.kill();
                Err(format!("redis-server on port {port} ended before it was ready, saying: {last}"))
            }
            Err(_) => {
                server.kill();
                Err(format!("redis-server on port {port} did not say it was ready within {READY:?}"))
            }
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops it at once (SIGKILL: a crash, not a shutdown) and waits for the process to end.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
