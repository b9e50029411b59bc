//! TLS on the same blocking sockets: `--tls`, `https://`, `wss://`.
//!
//! TLS is one more layer in the stream, under everything a lesson reads and writes: the bytes a
//! lesson writes are *sealed* into records (encrypted, authenticated, numbered), and the records
//! that arrive are checked and opened again. Above the stream nothing changes: an HTTP head, a
//! WebSocket frame, a chat line are the same bytes as before. So TLS lives where the socket is
//! wrapped at accept and connect (beside `--trace`, in [`crate::trace::Traced`]), and no lesson
//! file knows whether its connection is sealed.
//!
//! ## One state machine, two threads
//!
//! A rustls connection is one state machine (keys, sequence numbers, buffers), but the chat
//! reads in one thread and writes in another. Putting the whole stream behind one lock would be
//! wrong: the reader spends its life blocked in `read`, waiting for its peer, and would hold the
//! lock the writer needs to send the room's messages. So [`Session`] splits the work:
//!
//! ```text
//! reader thread                                   writer thread
//! read(socket) -> ciphertext       (no lock)      lock state: seal plaintext into records
//! lock state: feed the records, open them         lock out, unlock state
//!             take the plaintext, unlock          write(socket) the records, unlock out
//! ```
//!
//! Neither thread holds `state` while it waits on the socket. `out` keeps records in the order
//! they were sealed (TLS numbers them implicitly; a reordered record fails to open): it is taken
//! before `state` is let go. Whoever sealed records writes them: the writer for messages, the
//! reader for what the handshake and the peer's requests produce (and alerts when the peer's
//! records are bad).

mod cert;
pub mod client;
pub mod hello;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rustls::{ClientConnection, Connection, ServerConnection};

use crate::trace;

pub use cert::{fingerprint, CertFiles};

/// A TLS handshake, from its first byte, must finish within this time: the same rule as an HTTP
/// head's deadline, so a client that stops halfway does not hold a thread.
pub const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);

/// How long a server waits for a new connection's first byte (its ClientHello) before closing
/// it: a TLS client always speaks first.
pub const HELLO_WAIT: Duration = Duration::from_secs(30);

/// Ciphertext read from the socket in one call: about half a record (records carry up to 16 KiB).
const READ_CHUNK: usize = 8 * 1024;

/// The TLS side of one connection, shared by its reading and writing handles.
pub struct Session {
    /// The rustls state machine: handshake state, keys, and the buffers on both sides.
    state: Mutex<Connection>,
    /// Held while sealed records go to the socket, so they leave in the order they were sealed.
    out: Mutex<()>,
    /// A handle on the socket for writing records (`&TcpStream` writes) and for its options.
    socket: TcpStream,
    /// `--trace` for the ciphertext: the records as anyone on the path sees them.
    wire: Option<trace::Wire>,
    /// Set once we sent close_notify: what the peer still sends is read and dropped until it
    /// closes (rustls must not open records after its own goodbye).
    closing: AtomicBool,
    /// Ciphertext read but not yet taken by rustls, which holds at most 16 KiB of plaintext
    /// that nobody has read: the next read opens it before it waits on the socket again.
    backlog: Mutex<Vec<u8>>,
}

impl Session {
    pub fn server(socket: TcpStream, connection: ServerConnection) -> Self {
        Session::new(socket, connection.into())
    }

    pub fn client(socket: TcpStream, connection: ClientConnection) -> Self {
        Session::new(socket, connection.into())
    }

    fn new(socket: TcpStream, state: Connection) -> Self {
        let wire = trace::Wire::new(&socket);
        Session {
            state: Mutex::new(state),
            out: Mutex::new(()),
            socket,
            wire,
            closing: AtomicBool::new(false),
            backlog: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs the handshake to its end, reading with `reader` (this connection's reading handle):
    /// within [`HANDSHAKE_DEADLINE`] of `start`, or the error says it took too long.
    pub fn handshake(&self, reader: &mut impl Read, start: Instant) -> io::Result<()> {
        let before = self.socket.read_timeout()?;
        let result = self.drive_handshake(reader, start);
        self.socket.set_read_timeout(before)?;
        result
    }

    fn drive_handshake(&self, reader: &mut impl Read, start: Instant) -> io::Result<()> {
        let mut chunk = vec![0u8; READ_CHUNK];
        loop {
            let state = self.lock();
            if !state.is_handshaking() {
                return self.send(state);
            }
            self.send(state)?;
            let left = HANDSHAKE_DEADLINE.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, too_slow()));
            }
            self.socket.set_read_timeout(Some(left))?;
            let n = match self.read_socket(reader, &mut chunk) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the peer closed the connection during the TLS handshake",
                    ))
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if crate::net::is_timeout(&e) => {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, too_slow()))
                }
                Err(e) => return Err(e),
            };
            self.open(&chunk[..n])?;
        }
    }

    /// What the handshake agreed on, for the log: `TLS 1.3, TLS13_AES_128_GCM_SHA256`.
    pub fn summary(&self) -> String {
        let state = self.lock();
        let version = state.protocol_version().map_or("?".into(), |v| version_name(v.into()));
        let suite = state.negotiated_cipher_suite().map_or("?".into(), |s| format!("{:?}", s.suite()));
        let sni = match &*state {
            Connection::Server(server) => server.server_name().map(|name| format!(", SNI {name:?}")),
            Connection::Client(_) => None,
        };
        format!("{version}, {suite}{}", sni.unwrap_or_default())
    }

    /// The peer's certificate (a client sees the server's), as DER.
    pub fn peer_certificate(&self) -> Option<Vec<u8>> {
        self.lock().peer_certificates().and_then(|chain| chain.first()).map(|cert| cert.to_vec())
    }

    /// Reads plaintext into `buf`, reading ciphertext from `reader` (this handle's own clone of
    /// the socket) without the lock whenever none is ready. `Ok(0)` at the end of the stream.
    pub fn read(&self, reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
        let mut chunk = [0u8; READ_CHUNK];
        loop {
            match self.lock().reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The peer closed the TCP connection without a TLS close_notify. For a protocol
                // that frames its own messages (lines, HTTP with lengths, WebSocket) a cut
                // message is still caught above; browsers treat it the same way.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            let backlog = std::mem::take(&mut *self.backlog.lock().unwrap_or_else(|p| p.into_inner()));
            if !backlog.is_empty() {
                self.open(&backlog)?;
                continue;
            }
            // No plaintext waiting: wait for the peer's next records, holding nothing.
            let n = self.read_socket(reader, &mut chunk)?;
            if self.closing.load(Ordering::Relaxed) {
                if n == 0 {
                    return Ok(0);
                }
                continue;
            }
            if n == 0 {
                self.lock().read_tls(&mut io::empty())?;
                continue;
            }
            self.open(&chunk[..n])?;
        }
    }

    /// Seals `buf` into records and writes them: `Ok(n)` for the bytes of `buf` taken.
    pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
        let mut state = self.lock();
        let n = state.writer().write(buf)?;
        self.send(state)?;
        Ok(n)
    }

    /// Sends TLS's own goodbye (close_notify) before the socket's FIN, so the peer can tell a
    /// finished conversation from a cut one.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if how != Shutdown::Read {
            self.closing.store(true, Ordering::Relaxed);
            let mut state = self.lock();
            state.send_close_notify();
            let _ = self.send(state);
        }
        self.socket.shutdown(how)
    }

    /// One read of ciphertext from the socket, traced as records.
    fn read_socket(&self, reader: &mut impl Read, chunk: &mut [u8]) -> io::Result<usize> {
        let result = reader.read(chunk);
        if let Some(wire) = &self.wire {
            wire.received(&result, chunk);
        }
        result
    }

    /// Feeds `ciphertext` to the state machine and opens the records it completes; whatever
    /// that makes us send (handshake messages, an alert about bad records) goes out at once.
    fn open(&self, mut ciphertext: &[u8]) -> io::Result<()> {
        let mut state = self.lock();
        while !ciphertext.is_empty() {
            if !matches!(state.read_tls(&mut ciphertext), Ok(1..)) {
                // Full of plaintext nobody has read yet: keep the rest for the next call.
                self.backlog.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(ciphertext);
                break;
            }
            if let Err(e) = state.process_new_packets() {
                // rustls has queued an alert that tells the peer why; send it, then give up.
                let _ = self.send(state);
                return Err(io::Error::new(io::ErrorKind::InvalidData, describe(&e)));
            }
        }
        self.send(state)
    }

    /// Writes every sealed record waiting in `state`, after taking `out` and letting `state` go:
    /// other threads may seal and open again while these bytes are in flight.
    fn send(&self, mut state: MutexGuard<'_, Connection>) -> io::Result<()> {
        let mut records = Vec::new();
        while state.wants_write() {
            state.write_tls(&mut records)?;
        }
        if records.is_empty() {
            return Ok(());
        }
        let _out = self.out.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        drop(state);
        let result = (&self.socket).write_all(&records);
        if let Some(wire) = &self.wire {
            wire.sent(&result.as_ref().map(|()| records.len()).map_err(clone_error), &records);
        }
        result
    }
}

fn clone_error(e: &io::Error) -> io::Error {
    io::Error::new(e.kind(), e.to_string())
}

fn too_slow() -> String {
    format!("the TLS handshake did not finish within {} s", HANDSHAKE_DEADLINE.as_secs())
}

/// A TLS version number as people write it: `0x0303` is TLS 1.2 (SSL 3.3, for history).
pub fn version_name(version: u16) -> String {
    match version {
        0x0300 => "SSL 3.0".into(),
        0x0301 => "TLS 1.0".into(),
        0x0302 => "TLS 1.1".into(),
        0x0303 => "TLS 1.2".into(),
        0x0304 => "TLS 1.3".into(),
        other => format!("version {other:#06x}"),
    }
}

/// A rustls error in words a learner can act on.
pub fn describe(error: &rustls::Error) -> String {
    use rustls::{AlertDescription as A, Error as E, PeerIncompatible as P};
    match error {
        E::InvalidMessage(_) | E::InappropriateMessage { .. } | E::InappropriateHandshakeMessage { .. } => {
            format!("the peer's bytes are not a TLS conversation we can follow ({error})")
        }
        E::PeerIncompatible(P::SupportedVersionsExtensionRequired | P::Tls12NotOffered) => {
            format!("the peer offers only TLS versions older than 1.2, which are not safe any more ({error})")
        }
        // Our client's own check explains itself (see `client::Explained`).
        E::InvalidCertificate(rustls::CertificateError::Other(why)) => {
            format!("the certificate was refused: {}", why.0)
        }
        E::AlertReceived(A::BadCertificate | A::UnknownCA | A::CertificateUnknown) => {
            format!("the peer does not trust our certificate ({error}): give it the certificate file with --ca (or --cacert, -CAfile)")
        }
        _ => error.to_string(),
    }
}

/// A server's TLS settings: the certificate it shows and the key that proves it is its own.
pub type ServerConfig = Arc<rustls::ServerConfig>;

/// The server's TLS setup from a certificate and key file: rustls with the ring provider, TLS 1.2
/// and 1.3, `http/1.1` offered by ALPN (curl and browsers ask).
pub fn server_config(files: &CertFiles) -> Result<ServerConfig, String> {
    let (chain, key) = files.load()?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            format!("{} and {} do not make a usable pair: {e}", files.cert.display(), files.key.display())
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    if let Some(log) = keylog() {
        config.key_log = log;
    }
    Ok(Arc::new(config))
}

/// `SSLKEYLOGFILE=FILE`: the session keys are appended to FILE, in the format Wireshark and
/// tshark read, so a reader can decrypt a capture of their own traffic. Said once in the log,
/// because a file of keys opens every recorded conversation.
fn keylog() -> Option<Arc<dyn rustls::KeyLog>> {
    let file = std::env::var_os("SSLKEYLOGFILE")?;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        log::warn!("SSLKEYLOGFILE is set: TLS session keys are written to {}", file.to_string_lossy())
    });
    Some(Arc::new(rustls::KeyLogFile::new()))
}
