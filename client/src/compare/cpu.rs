//! The server's CPU time, read from outside the server, where the operating system tells.
//!
//! `compare` is a client: the server is another process, usually `cargo server lab` in another
//! terminal. To charge each transport's run with the server's CPU time, we must find that
//! process knowing only its address. On Linux everything needed is in `/proc`:
//!
//! 1. `/proc/net/tcp` (and `tcp6`) lists every TCP socket: local address and port in hex, the
//!    state (`0A` is LISTEN) and the socket's inode number;
//! 2. each process's open files are links in `/proc/PID/fd/`, and a socket's link reads
//!    `socket:[INODE]`: the process that holds our listening inode is the server;
//! 3. `/proc/PID/task/TID/schedstat` starts with the nanoseconds that thread has run on a CPU.
//!
//! Summing the threads before and after a run gives the server's CPU time for it. Threads that
//! end during the run are missed, so it is a lower bound. (`/proc/PID/stat` counts them too, but
//! in 10 ms ticks, coarser than the few milliseconds a run costs.) Elsewhere, and for a server
//! owned by another user, the column says "n/a".

use std::collections::HashMap;
#[cfg(target_os = "linux")]
use std::path::Path;

/// The server's threads' CPU time at one moment.
#[derive(Debug, Default)]
pub struct Sample {
    /// Thread id -> nanoseconds on a CPU.
    threads: HashMap<String, u64>,
}

/// The process listening on `port`, if this platform and our permissions can tell.
#[cfg(target_os = "linux")]
pub fn find_listener(port: u16) -> Option<u32> {
    let inodes: Vec<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|table| listening_inodes(&table, port))
        .collect();
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes.iter().map(|inode| format!("socket:[{inode}]")).collect();
    let processes = std::fs::read_dir("/proc").ok()?.flatten();
    processes.filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok()).find(|pid| {
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).into_iter().flatten().flatten();
        fds.filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .any(|link| wanted.iter().any(|w| link.as_os_str() == w.as_str()))
    })
}

#[cfg(not(target_os = "linux"))]
pub fn find_listener(_port: u16) -> Option<u32> {
    None
}

/// The inodes of the sockets in a `/proc/net/tcp` table that listen on `port`. A line reads
/// `sl local_address rem_address st ... inode`, with `0100007F:1EC6` for 127.0.0.1:7878.
fn listening_inodes(table: &str, port: u16) -> Vec<String> {
    let port = format!("{port:04X}");
    let fields = |line: &str| line.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    table
        .lines()
        .skip(1)
        .map(fields)
        .filter(|f| f.len() > 9 && f[3] == "0A" && f[1].rsplit(':').next() == Some(port.as_str()))
        .map(|f| f[9].clone())
        .collect()
}

/// The CPU time of every thread of `pid`, except threads named `compare …`: when the server runs
/// in the same process (the tests), those are this tool's own subscribers and publisher.
#[cfg(target_os = "linux")]
pub fn sample(pid: u32) -> Sample {
    let mut threads = HashMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten() {
        let (path, tid) = (task.path(), task.file_name().to_string_lossy().to_string());
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if name.starts_with("compare ") {
            continue;
        }
        if let Some(run_ns) = run_time(&path) {
            threads.insert(tid, run_ns);
        }
    }
    Sample { threads }
}

#[cfg(target_os = "linux")]
fn run_time(task: &Path) -> Option<u64> {
    let schedstat = std::fs::read_to_string(task.join("schedstat")).ok()?;
    schedstat.split(' ').next()?.parse().ok()
}

#[cfg(not(target_os = "linux"))]
pub fn sample(_pid: u32) -> Sample {
    Sample::default()
}

/// Milliseconds of server CPU between two samples (`None` where it cannot be told).
pub fn server_ms(before: &Sample, after: &Sample) -> Option<f64> {
    if after.threads.is_empty() {
        return None;
    }
    let ns: u64 = after
        .threads
        .iter()
        .map(|(tid, now)| now.saturating_sub(before.threads.get(tid).copied().unwrap_or(0)))
        .sum();
    Some(ns as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::listening_inodes;

    #[test]
    fn the_listening_socket_is_found_by_port_and_state() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1EC6 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0 100 0 0 10 0
   1: 0100007F:1EC6 0100007F:D2A4 01 00000000:00000000 00:00000000 00000000  1000        0 4343 1 0 20 4 30 10 -1
   2: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4444 1 0 100 0 0 10 0";
        // 7878 = 0x1EC6: the listener, not the accepted connection on the same port.
        assert_eq!(listening_inodes(table, 7878), ["4242"]);
        assert_eq!(listening_inodes(table, 8080), ["4444"]);
        assert!(listening_inodes(table, 9001).is_empty());
    }
}
