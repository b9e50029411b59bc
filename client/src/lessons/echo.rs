//! Lessons 2 and 3, client side: send what the user types, print what comes back.
//!
//! A client that sends a line and then waits for the reply would be simple, and wrong for
//! big messages: while it is still sending a 1 MiB line, the server is already sending the
//! first bytes back. If nobody reads them, the buffers between the two fill up, the server's
//! `write` blocks, it stops reading, and then our `write` blocks too. Both wait forever.
//!
//! So the client does both at once, on two threads:
//! - the *sender* copies the input (keyboard or pipe) to the socket; at the end of the input it
//!   shuts down the socket's write half: the server reads 0 bytes and knows we are done;
//! - the *receiver* (this thread) reads the socket and prints every whole line that arrives.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use common::line::{LineError, LineReader};
use common::protocol::sanitize;
use common::trace::{Layer, Traced};
use log::{info, warn};

/// The longest reply line the client accepts: far above the 1 MiB messages the lessons send.
pub const MAX_LINE: usize = 16 * 1024 * 1024;

/// What one session moved, for the closing log line (and for tests).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub bytes_sent: u64,
    pub lines_received: usize,
    /// True when the server closed the connection before we finished sending.
    pub closed_by_server: bool,
}

/// Connects to `addr`, sends all of `input`, prints each reply line to `output`.
/// `lesson` names the server to suggest when nobody is listening.
pub fn run(
    addr: &str,
    lesson: &str,
    input: impl Read + Send + 'static,
    output: &mut impl Write,
) -> Result<Summary, String> {
    let stream = Traced::new(common::net::connect(addr, lesson)?, Layer::Raw);
    let (local, peer) = (stream.local_addr(), stream.peer_addr());
    let (local, peer) = (local.map_err(|e| e.to_string())?, peer.map_err(|e| e.to_string())?);
    info!("connected to {peer} from {local}; type lines, end with Ctrl-D (Windows: Ctrl-Z, Enter)");

    let write_half = stream.try_clone().map_err(|e| format!("cannot clone the socket: {e}"))?;
    let done_sending = Arc::new(AtomicBool::new(false));
    let sender = {
        let done_sending = done_sending.clone();
        thread::spawn(move || send_all(input, write_half, &done_sending))
    };

    let mut summary = Summary::default();
    let mut lines = LineReader::new(stream, MAX_LINE);
    let outcome = loop {
        match lines.read_line() {
            Ok(Some(line)) => {
                summary.lines_received += 1;
                // The server's bytes, made safe to print: a peer cannot drive our terminal.
                if writeln!(output, "{}", sanitize(&line)).and_then(|()| output.flush()).is_err() {
                    break Ok(()); // nobody reads our output any more (a closed pipe): stop
                }
            }
            Ok(None) => break Ok(()),
            Err(e @ (LineError::TooLong { .. } | LineError::InvalidUtf8 { .. })) => {
                warn!("skipped a line from the server: {e}");
            }
            Err(e) => break Err(format!("{peer}: {e}")),
        }
    };

    // The read half ended. If the sender finished first, the server simply answered everything
    // and closed after our shutdown; otherwise the server closed on us.
    if done_sending.load(Ordering::SeqCst) {
        summary.bytes_sent = sender.join().unwrap_or(0);
    } else {
        summary.closed_by_server = true;
        // The sender may be blocked reading the keyboard: leave it; the process ends anyway.
        info!("the server closed the connection");
    }
    outcome?;
    info!("closed: {} line(s) received", summary.lines_received);
    Ok(summary)
}

/// Copies `input` to the socket, then shuts the write half so the server sees the end.
fn send_all(mut input: impl Read, mut socket: Traced<TcpStream>, done: &AtomicBool) -> u64 {
    let sent = match io::copy(&mut input, &mut socket) {
        Ok(n) => n,
        Err(e) => {
            log::debug!("sending stopped: {}", common::net::describe(&e));
            return 0;
        }
    };
    done.store(true, Ordering::SeqCst);
    // The FIN: "no more data from me". We can still read everything the server sends back.
    let _ = socket.shutdown(Shutdown::Write);
    info!("end of input after {sent} bytes: shutdown(Write) tells the server we are done");
    sent
}
