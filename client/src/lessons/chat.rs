//! Lesson 4, client side: read the keyboard and the socket at the same time.
//!
//! A chat client waits for two things at once: the user's next line, and the server's next
//! line, which can come at any moment. A blocking `read` can only wait for one. So, exactly as
//! in the classic tutorials, there are two threads:
//!
//! - the *sender* waits on the keyboard and sends each line it reads;
//! - the *receiver* (the caller's thread) waits in `recv` and prints each line that arrives.
//!
//! Everything the server sends is made safe to print before it is shown (see
//! `common::protocol::sanitize`): a peer cannot move our cursor or recolour our terminal.

use std::io::{BufRead, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use common::line::{LineError, LineReader};
use common::protocol::{parse_whereabouts, sanitize, ServerLine};
use common::trace::{Layer, Traced};
use log::{info, warn};

/// The longest line the client accepts from a server.
pub const MAX_LINE: usize = 64 * 1024;

/// A connected chat client, before it starts talking.
pub struct Chat {
    stream: Traced<TcpStream>,
    sender: Sender,
}

/// The sending side, shared by the keyboard thread and the Ctrl-C handler: a lock, so two
/// lines can never interleave on the wire.
#[derive(Clone)]
pub struct Sender {
    socket: Arc<Mutex<Traced<TcpStream>>>,
    quitting: Arc<AtomicBool>,
}

impl Sender {
    /// Sends one line; false once the connection is gone.
    pub fn send(&self, line: &str) -> bool {
        let mut socket = self.socket.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        socket.write_all(format!("{line}\n").as_bytes()).is_ok()
    }

    /// Says `/quit`, so the server tells the room we left, and sends nothing more.
    pub fn quit(&self) {
        if !self.quitting.swap(true, Ordering::SeqCst) {
            self.send("/quit");
            let socket = self.socket.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let _ = socket.shutdown(Shutdown::Write);
        }
    }
}

impl Chat {
    pub fn connect(addr: &str) -> Result<Chat, String> {
        let stream = common::tls::client::connect(addr, "chat", Layer::Lines)?;
        let writer = stream.try_clone().map_err(|e| format!("cannot clone the socket: {e}"))?;
        let sender = Sender { socket: Arc::new(Mutex::new(writer)), quitting: Arc::default() };
        Ok(Chat { stream, sender })
    }

    /// A handle that can send (or quit) from another thread, such as a Ctrl-C handler.
    pub fn sender(&self) -> Sender {
        self.sender.clone()
    }

    /// Chats until the server closes the connection: sends `nick` and `room` choices first,
    /// then every line of `input` (and `/quit` at its end), and prints what arrives to `output`.
    pub fn run(
        self,
        nick: Option<&str>,
        room: Option<&str>,
        input: impl BufRead + Send + 'static,
        output: &mut impl Write,
    ) -> Result<(), String> {
        let peer = self.stream.peer_addr().map_err(|e| e.to_string())?;
        info!("connected to {peer}; type a message and press Enter, /help lists the commands");
        let sender = self.sender;
        nick.iter().for_each(|nick| _ = sender.send(&format!("/nick {nick}")));
        room.iter().for_each(|room| _ = sender.send(&format!("/join {room}")));
        {
            let sender = sender.clone();
            // Not joined: at the end this thread may still wait for a key that never comes.
            thread::spawn(move || send_lines(input, |line| sender.send(line), || sender.quit()));
        }

        let mut me = String::new();
        let mut lines = LineReader::new(self.stream, MAX_LINE);
        let mut first = true;
        loop {
            match lines.read_line() {
                // A web server answers our first line with an HTTP status line: a wrong port.
                Ok(Some(line)) if first && line.starts_with("HTTP/") => {
                    sender.quit();
                    return Err(format!(
                        "{peer} answered in HTTP ({:?}): that is a web server, not the TCP chat. \
                         The TCP chat is `cargo server chat` (or the lab's TCP side) on {}",
                        sanitize(line.trim_end()),
                        crate::defaults::TCP
                    ));
                }
                Ok(Some(line)) => {
                    first = false;
                    let shown = render(&line, &mut me);
                    if writeln!(output, "{shown}").and_then(|()| output.flush()).is_err() {
                        sender.quit(); // nobody reads our output any more
                    }
                }
                Ok(None) => break,
                Err(e @ (LineError::TooLong { .. } | LineError::InvalidUtf8 { .. })) => {
                    warn!("skipped a line from the server: {e}");
                }
                Err(e) if sender.quitting.load(Ordering::SeqCst) => {
                    log::debug!("after /quit: {e}");
                    break;
                }
                Err(e) => return Err(format!("lost the connection to {peer}: {e}")),
            }
        }
        if sender.quitting.load(Ordering::SeqCst) {
            info!("left the chat");
        } else {
            info!("the server closed the connection");
        }
        Ok(())
    }
}

/// Sends each line of `input` with `send` (false: the connection is gone); at `/quit` or at the
/// end of the input (Ctrl-D, or the end of a pipe), calls `quit`.
pub fn send_lines(input: impl BufRead, send: impl Fn(&str) -> bool, quit: impl FnOnce()) {
    for line in input.lines() {
        let Ok(line) = line else { break };
        if line.trim() == "/quit" {
            break;
        }
        if !send(&line) {
            return;
        }
    }
    quit();
}

/// How a line from the server is shown: our own messages apart from everyone else's, and
/// nothing in it able to control the terminal. `me` follows our nickname as the server reports it.
pub fn render(line: &str, me: &mut String) -> String {
    match ServerLine::parse(line) {
        ServerLine::Message { nick, text } if nick == me => format!("[you] {}", sanitize(text)),
        ServerLine::Message { nick, text } => format!("{}: {}", sanitize(nick), sanitize(text)),
        ServerLine::Notice(text) => {
            if let Some((nick, _room)) = parse_whereabouts(text) {
                *me = nick.to_string();
            }
            format!("* {}", sanitize(text))
        }
        ServerLine::Error(text) => format!("! {}", sanitize(text)),
    }
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn own_messages_are_marked_and_escapes_are_neutralised() {
        let mut me = String::new();
        assert_eq!(render("* you are now alice in lobby", &mut me), "* you are now alice in lobby");
        assert_eq!(me, "alice");
        assert_eq!(render("alice: hi", &mut me), "[you] hi");
        assert_eq!(render("bob: \x1b[2Jhi\x07", &mut me), "bob: \u{FFFD}[2Jhi\u{FFFD}");
        assert_eq!(render("! \x1b]0;pwned\x07", &mut me), "! \u{FFFD}]0;pwned\u{FFFD}");
    }
}
