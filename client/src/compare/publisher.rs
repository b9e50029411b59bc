//! The publisher: one TCP member that says timestamped lines at a fixed rate, which every
//! subscriber then receives by its own transport.

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::line::LineReader;

use super::{now_us, Options};

/// How long joining the room may take before the run gives up: the server answers `/join` at once.
const JOIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Joins `room` on the TCP chat at `tcp` as `nick`. Returned connected, so that the run can start
/// the clock only once the publisher is in the room.
pub fn join(tcp: &str, room: &str, nick: &str) -> Result<TcpStream, String> {
    let mut stream = common::net::connect(tcp, "lab")?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    // A lab that stops reading fails the run instead of holding it.
    stream.set_write_timeout(Some(super::subscriber::WRITE_TIMEOUT)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(JOIN_TIMEOUT)).map_err(|e| e.to_string())?;
    let mut lines = LineReader::new(stream.try_clone().map_err(|e| e.to_string())?, 64 * 1024);
    // Both in one write, well within the hub's arrival grace: the lobby, where a class may be
    // chatting, is never told of the publisher (`ARRIVAL`, server/src/hub/mod.rs).
    stream.write_all(format!("/nick {nick}\n/join {room}\n").as_bytes()).map_err(|e| e.to_string())?;
    // Joined once the server says so; everything before is the welcome.
    let joined = format!("* you are now {nick} in {room}");
    for _ in 0..100 {
        match lines.read_line() {
            Ok(Some(line)) if line == joined => break,
            Ok(Some(line)) if line.starts_with("! ") => {
                return Err(format!("the publisher could not join: {line}"))
            }
            Ok(Some(_)) => continue,
            _ => return Err(format!("the publisher could not join {room} on {tcp}")),
        }
    }
    stream.set_read_timeout(None).map_err(|e| e.to_string())?;
    // The room's other lines must not pile up unread (the server would drop a member that does
    // not read): a thread drains them.
    thread::Builder::new()
        .name("compare drain".into())
        .spawn(move || while let Ok(Some(_)) = lines.read_line() {})
        .map_err(|e| e.to_string())?;
    Ok(stream)
}

/// Sends `options.messages` lines at `options.rate`, each `m SEQ SENT_US`: its sequence number
/// and the time it was sent, in microseconds since 1970.
pub fn publish(stream: &mut TcpStream, options: &Options) -> Result<(), String> {
    let gap = Duration::from_secs_f64(1.0 / options.rate.max(0.001));
    let start = Instant::now();
    for seq in 0..options.messages {
        // A fixed schedule, not "sleep after each": the time sending takes does not stretch the rate.
        let at = start + gap * seq as u32;
        if let Some(wait) = at.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        stream.write_all(format!("m {seq} {}\n", now_us()).as_bytes()).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Leaves the room with `/quit` and a FIN; the draining thread reads until the server closes.
pub fn leave(mut stream: TcpStream) {
    let _ = stream.write_all(b"/quit\n");
    let _ = stream.shutdown(std::net::Shutdown::Write);
}
