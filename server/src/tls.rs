//! `--tls` on a server: the same lessons, sealed (see `common::tls` for the layer itself).
//!
//! A listener is marked as speaking TLS ([`serve_on`]) before its lesson runs; the accept loop
//! then wraps each connection in a TLS session and, on the connection's own thread, runs the
//! handshake before the lesson sees a byte. No lesson file changes: the lesson reads requests,
//! lines and frames from a stream that happens to be sealed underneath.
//!
//! `TcpListener` has no room for such a mark, so a small table keyed by the listening address
//! holds it, from [`serve_on`] until the accept loop ends.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Mutex;
use std::time::Instant;

use common::tls::hello::{self, Knock};
use common::tls::{CertFiles, ServerConfig, Session, HELLO_WAIT};
use common::trace::{Layer, Traced};
use log::{debug, info};
use rustls::ServerConnection;

/// The listeners that speak TLS, by address.
static SEALED: Mutex<Vec<(SocketAddr, ServerConfig)>> = Mutex::new(Vec::new());

fn sealed() -> std::sync::MutexGuard<'static, Vec<(SocketAddr, ServerConfig)>> {
    SEALED.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The server's TLS setup: `--cert` and `--key` when given, otherwise the certificate made
/// for this machine (made now if there is none yet). Logs the file clients must trust and its
/// SHA-256 fingerprint.
pub fn config(cert: Option<&str>, key: Option<&str>) -> Result<ServerConfig, String> {
    let (files, how) = match (cert, key) {
        (Some(cert), Some(key)) => (CertFiles { cert: cert.into(), key: key.into() }, "given"),
        (None, None) => match CertFiles::made_here_or_make()? {
            (files, true) => (files, "made now for localhost, 127.0.0.1 and ::1"),
            (files, false) => (files, "made at an earlier start, kept"),
        },
        _ => return Err("--cert and --key go together: the certificate and its private key".into()),
    };
    let config = common::tls::server_config(&files)?;
    let (chain, _) = files.load()?;
    let fingerprint = chain.first().map(|cert| common::tls::fingerprint(cert)).unwrap_or_default();
    info!("TLS certificate {} ({how}), SHA-256 {fingerprint}", files.cert.display());
    info!("clients trust it with --ca {} (curl --cacert, openssl s_client -CAfile)", files.cert.display());
    Ok(config)
}

/// Marks `listener` as speaking TLS with `config`: the accept loop seals what it accepts there.
pub fn serve_on(listener: &TcpListener, config: ServerConfig) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    sealed().push((addr, config));
    info!("{addr} speaks TLS: https://{addr}/ and wss://{addr}/ on a web port, --tls for the chat");
    Ok(())
}

/// The schemes a lesson's first log line names for `listener`: `("https", "wss")` when it speaks
/// TLS, `("http", "ws")` when not.
pub fn schemes(listener: &TcpListener) -> (&'static str, &'static str) {
    if config_for(listener).is_some() {
        ("https", "wss")
    } else {
        ("http", "ws")
    }
}

/// The TLS setup of `listener`, if [`serve_on`] marked it.
pub fn config_for(listener: &TcpListener) -> Option<ServerConfig> {
    let addr = listener.local_addr().ok()?;
    sealed().iter().find(|(at, _)| *at == addr).map(|(_, config)| config.clone())
}

/// Unmarks `listener` (its accept loop has ended; a later listener may get its address).
pub fn forget(listener: &TcpListener) {
    if let Ok(addr) = listener.local_addr() {
        sealed().retain(|(at, _)| *at != addr);
    }
}

/// Wraps a connection just accepted, on the accept thread: no reading or writing here, a slow
/// client must not hold up the next `accept`.
pub fn wrap(stream: TcpStream, layer: Layer, tls: Option<&ServerConfig>) -> Traced<TcpStream> {
    let Some(config) = tls else { return Traced::plain_server(stream, layer) };
    let session = stream.try_clone().and_then(|socket| {
        let connection = ServerConnection::new(config.clone()).map_err(std::io::Error::other)?;
        Ok(Session::server(socket, connection))
    });
    match session {
        Ok(session) => Traced::with_tls(stream, layer, session),
        // Without a session the connection stays plain: the handshake step below closes it.
        Err(e) => {
            debug!("cannot start TLS on a connection: {e}");
            Traced::new(stream, layer)
        }
    }
}

/// On the connection's own thread, before the lesson: waits for the ClientHello, tells a client
/// at the wrong door where to go, and runs the handshake within its deadline. True when the
/// lesson may go on (a plain connection always may).
pub fn handshake(stream: &Traced<TcpStream>, peer: SocketAddr, layer: Layer, tls: bool) -> bool {
    if !tls {
        return true;
    }
    if stream.tls().is_none() || stream.set_read_timeout(Some(HELLO_WAIT)).is_err() {
        return false;
    }
    match hello::knock(stream, layer) {
        Knock::Tls => {}
        Knock::Plain => return false,
        Knock::Nothing => {
            debug!("{peer}: closed before a ClientHello");
            return false;
        }
    }
    if let Err(e) = stream.tls_handshake(Instant::now()) {
        info!("{peer}: TLS handshake failed: {e}");
        return false;
    }
    if let Some(session) = stream.tls() {
        info!("{peer}: TLS handshake done: {}", session.summary());
    }
    stream.set_read_timeout(None).is_ok()
}
