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
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        RedisServer::start_on(port)
    }

    /// Starts redis-server on `port` (again, after [`RedisServer::kill`]) and waits for its
    /// "Ready to accept connections" line.
    pub fn start_on(port: u16) -> RedisServer {
        RedisServer::start_with(port, &[])
    }

    /// Starts redis-server on `port` with more flags (`--requirepass s3cret`).
    pub fn start_with(port: u16, extra: &[&str]) -> RedisServer {
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
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("Ready to accept connections") {
                    let _ = ready.send(());
                }
            }
        });
        let mut server = RedisServer { child, port };
        if waiting.recv_timeout(READY).is_err() {
            server.kill();
            panic!("redis-server on port {port} did not say it was ready within {READY:?}");
        }
        server
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
