//! The broker's wire (RESP2, Redis's protocol), spoken by this file alone, so that *this server*
//! decides how much it reads and how long it waits, whatever answers at the broker's address.
//!
//! A broker is a peer like any other: it may be a Redis that wants a password, a program that
//! echoes, one that says `+OK` to everything, one that announces a bulk string of a gigabyte
//! (`$1073741824`) and streams it, or one that never answers. So every call has one deadline for
//! the whole reply (not one per `read`: a byte a second would pass that), every reply a byte
//! budget checked *before* anything is allocated, and a link counts as a broker only after a real
//! round trip (`PING` answered with `PONG`). After any failure the link is dropped: it may be in
//! the middle of a reply, and nothing read after that could be trusted.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown as Both, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use redis::{ConnectionAddr, IntoConnectionInfo, Value};

/// The most one reply may take, all its parts together. The biggest honest reply is a room's
/// history (`XREVRANGE`, 1,000 events at most in any test) or one `XREAD` (see `broker`), a few
/// MiB; a peer that announces or streams more is not the Redis we expect.
pub const MAX_REPLY_BYTES: usize = 16 << 20;
/// How deep arrays may nest in a reply (an `XREAD` reply is four deep).
const MAX_DEPTH: usize = 8;
/// The longest status, error or length line.
const MAX_LINE: usize = 4096;

/// What went wrong with the broker, in words for the log (never with the password in them).
#[derive(Debug)]
pub struct Failure(pub String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Failure {
    /// A failure that quotes the peer: cut short and sanitized, never raw bytes in the log.
    pub fn from_peer(what: &str, said: &str) -> Failure {
        let said: String = said.chars().take(120).collect();
        Failure(format!("{what}: {}", common::protocol::sanitize(&said)))
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        Failure(match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => "no answer in time".into(),
            io::ErrorKind::UnexpectedEof => "it closed the connection".into(),
            _ => e.to_string(),
        })
    }
}

pub type Result<T> = std::result::Result<T, Failure>;

/// Where the broker is and how to log in: `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`.
#[derive(Clone)]
pub struct Target {
    host: String,
    port: u16,
    username: Option<String>,
    password: Option<String>,
    db: i64,
}

impl Target {
    pub fn parse(url: &str) -> std::result::Result<Target, String> {
        let expected = "expected redis://HOST:PORT, or redis://:PASSWORD@HOST:PORT";
        let shown = redact(url);
        let info = url.into_connection_info().map_err(|e| format!("--broker {shown}: {e} ({expected})"))?;
        let ConnectionAddr::Tcp(host, port) = info.addr() else {
            return Err(format!("--broker {shown}: only plain TCP is supported ({expected})"));
        };
        let redis = info.redis_settings();
        Ok(Target {
            host: host.clone(),
            port: *port,
            username: redis.username().map(str::to_string),
            password: redis.password().map(str::to_string),
            db: redis.db(),
        })
    }

    /// The address as the log shows it: never the password.
    pub fn shown(&self) -> String {
        let login = if self.password.is_some() { ":***@" } else { "" };
        let db = if self.db != 0 { format!("/{}", self.db) } else { String::new() };
        format!("redis://{login}{}:{}{db}", self.host, self.port)
    }
}

/// `url` with whatever sits between `//` and `@` (the credentials) masked, for error messages
/// about addresses that could not even be parsed.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(start), Some(at)) if at > start => format!("{}***{}", &url[..start + 3], &url[at..]),
        _ => url.to_string(),
    }
}

/// A connection to the broker that has proved it is one.
pub struct Link {
    reader: BufReader<Timed>,
    writer: TcpStream,
    /// How long each call may take, its whole reply included.
    limit: Duration,
}

impl Link {
    /// Connects, logs in if the address has a password, picks the database, and checks with a
    /// `PING` that a Redis answers; all within `handshake`. Each later call may take `limit`.
    pub fn open(target: &Target, handshake: Duration, limit: Duration) -> Result<Link> {
        let deadline = Instant::now() + handshake;
        let addr = resolve(target)?;
        let stream = TcpStream::connect_timeout(&addr, handshake)?;
        let _ = stream.set_nodelay(true);
        let writer = stream.try_clone()?;
        let mut link = Link { reader: BufReader::new(Timed { stream, deadline }), writer, limit };
        if let Some(password) = &target.password {
            let mut auth = redis::cmd("AUTH");
            if let Some(user) = &target.username {
                auth.arg(user);
            }
            auth.arg(password);
            link.call_until(&auth.get_packed_command(), 1, deadline).map_err(|e| login_failure(&e))?;
        }
        if target.db != 0 {
            link.call_until(&redis::cmd("SELECT").arg(target.db).get_packed_command(), 1, deadline)?;
        }
        let pong = link.call_until(&redis::cmd("PING").get_packed_command(), 1, deadline).map_err(|e| {
            if e.0.contains("NOAUTH") {
                Failure("it wants a password: give it in the address, redis://:PASSWORD@HOST:PORT".into())
            } else {
                e
            }
        })?;
        match pong.first() {
            Some(Value::SimpleString(s)) if s == "PONG" => Ok(link),
            other => {
                Err(Failure(format!("it is not a Redis server: it answered PING with {}", describe(other))))
            }
        }
    }

    /// A handle on the same socket, to cut a call short from another thread (`shutdown`).
    pub fn cutter(&self) -> io::Result<TcpStream> {
        self.writer.try_clone()
    }

    /// Sends `command` (one or more packed commands) and reads `replies` replies, all within
    /// the link's limit.
    pub fn call(&mut self, command: &[u8], replies: usize) -> Result<Vec<Value>> {
        self.call_until(command, replies, Instant::now() + self.limit)
    }

    fn call_until(&mut self, command: &[u8], replies: usize, deadline: Instant) -> Result<Vec<Value>> {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        self.writer.set_write_timeout(Some(left))?;
        self.writer.write_all(command)?;
        self.reader.get_mut().deadline = deadline;
        let mut values = Vec::with_capacity(replies);
        for _ in 0..replies {
            let mut budget = MAX_REPLY_BYTES;
            values.push(self.value(0, &mut budget)?);
        }
        Ok(values)
    }

    /// One value of a reply. An error reply is a [`Failure`] carrying Redis's words.
    fn value(&mut self, depth: usize, budget: &mut usize) -> Result<Value> {
        let line = self.line(budget)?;
        let (kind, rest) = line.split_at(1);
        match kind {
            "+" if rest == "OK" => Ok(Value::Okay),
            "+" => Ok(Value::SimpleString(rest.to_string())),
            "-" => Err(Failure::from_peer("it refused", rest)),
            ":" => Ok(Value::Int(number(rest)?)),
            "$" => {
                let Ok(length) = usize::try_from(number(rest)?) else { return Ok(Value::Nil) };
                // Checked before a byte is allocated or read: `$1073741824` ends here.
                take(budget, length.saturating_add(2))?;
                let mut bytes = vec![0; length + 2];
                self.reader.read_exact(&mut bytes)?;
                if !bytes.ends_with(b"\r\n") {
                    return Err(not_redis("a bulk string not ended by CRLF"));
                }
                bytes.truncate(length);
                Ok(Value::BulkString(bytes))
            }
            "*" => {
                let Ok(count) = usize::try_from(number(rest)?) else { return Ok(Value::Nil) };
                if depth >= MAX_DEPTH {
                    return Err(not_redis("arrays nested too deep"));
                }
                // Each element takes 3 bytes at least (`:0\r\n` is 4): a count past the budget
                // is refused before the vector is made.
                if count > *budget / 3 {
                    return Err(too_big());
                }
                let mut items = Vec::with_capacity(count.min(1024));
                for _ in 0..count {
                    items.push(self.value(depth + 1, budget)?);
                }
                Ok(Value::Array(items))
            }
            _ => Err(not_redis(&format!("a line starting with {kind:?}"))),
        }
    }

    /// One CRLF-ended line, without it, at most [`MAX_LINE`] bytes.
    fn line(&mut self, budget: &mut usize) -> Result<String> {
        let mut bytes = Vec::new();
        (&mut self.reader).take(MAX_LINE as u64).read_until(b'\n', &mut bytes)?;
        take(budget, bytes.len())?;
        if bytes.is_empty() {
            return Err(Failure("it closed the connection".into()));
        }
        if !bytes.ends_with(b"\r\n") || bytes.len() < 3 {
            return Err(not_redis("a line too long, or not ended by CRLF"));
        }
        bytes.truncate(bytes.len() - 2);
        String::from_utf8(bytes).map_err(|_| not_redis("a line that is not UTF-8"))
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let _ = self.writer.shutdown(Both::Both);
    }
}

/// The socket's read side with one deadline for a whole call: each `read` waits only for what
/// is left of it.
struct Timed {
    stream: TcpStream,
    deadline: Instant,
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

fn resolve(target: &Target) -> Result<SocketAddr> {
    (target.host.as_str(), target.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| Failure(format!("{} has no address", target.host)))
}

fn take(budget: &mut usize, bytes: usize) -> Result<()> {
    *budget = budget.checked_sub(bytes).ok_or_else(too_big)?;
    Ok(())
}

fn number(text: &str) -> Result<i64> {
    text.parse().map_err(|_| not_redis(&format!("{text:?} where a number belongs")))
}

fn too_big() -> Failure {
    Failure(format!("it sent a reply over {} MiB, more than any this server asks for", MAX_REPLY_BYTES >> 20))
}

fn not_redis(what: &str) -> Failure {
    Failure(format!("it is not a Redis server: {what}"))
}

fn login_failure(e: &Failure) -> Failure {
    if e.0.contains("WRONGPASS") || e.0.contains("invalid password") {
        Failure("it refused the password in the address (WRONGPASS)".into())
    } else if e.0.contains("without any password configured") {
        Failure("it has no password: leave it out of the address, redis://HOST:PORT".into())
    } else {
        Failure(format!("logging in failed: {e}"))
    }
}

/// A reply in a few words, for the log: never a peer's long or raw bytes.
fn describe(value: Option<&Value>) -> String {
    match value {
        Some(Value::Okay) => "+OK".into(),
        Some(Value::SimpleString(s)) => {
            format!("+{}", common::protocol::sanitize(&s.chars().take(40).collect::<String>()))
        }
        Some(Value::Array(items)) => format!("an array of {} (an echo?)", items.len()),
        Some(Value::BulkString(b)) => format!("a bulk string of {} bytes", b.len()),
        Some(Value::Int(n)) => format!("the number {n}"),
        _ => "nothing".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_never_shown() {
        let target = Target::parse("redis://:s3cret@127.0.0.1:6380/2").expect("parses");
        assert_eq!(target.shown(), "redis://:***@127.0.0.1:6380/2");
        assert_eq!(redact("redis://bob:s3cret@host:1"), "redis://***@host:1");
        let refused = Target::parse("redis://:s3cret@[::1").err().unwrap_or_default();
        assert!(!refused.contains("s3cret") && refused.contains("PASSWORD@HOST"), "{refused}");
        assert_eq!(
            Target::parse("redis://127.0.0.1:6379").map(|t| t.shown()),
            Ok("redis://127.0.0.1:6379".into())
        );
    }
}
