//! Where `Traced` meets TLS: the connection as a lesson sees it may be sealed underneath (see
//! `crate::tls`), and then `--trace` shows two layers: the records that cross the wire
//! ([`Wire`], as an eavesdropper sees them), and the lesson's bytes inside them (the usual tap).

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use super::tap::Tap;
use super::view::Direction;
use super::{enabled, Layer, Sink, Traced, SINK};
use crate::tls::hello::PlainPort;
use crate::tls::Session;

/// A read: through TLS when the connection has it, and on a plain server's connection, with
/// the check of its first bytes for a TLS ClientHello.
pub(super) fn read<R: Read>(
    tls: &Option<Arc<Session>>,
    hello: &Option<Arc<PlainPort>>,
    stream: &mut R,
    buf: &mut [u8],
) -> io::Result<usize> {
    let result = match tls {
        Some(tls) => tls.read(stream, buf),
        None => stream.read(buf),
    };
    match (hello, result) {
        (Some(hello), Ok(n)) => hello.check(&buf[..n]).map(|()| n),
        (_, result) => result,
    }
}

pub(super) fn write<W: Write>(tls: &Option<Arc<Session>>, stream: &mut W, buf: &[u8]) -> io::Result<usize> {
    match tls {
        Some(tls) => tls.write(buf),
        None => stream.write(buf),
    }
}

/// A sealed connection reads and writes one buffer per call: the first that is not empty.
pub(super) fn first_mut<'a>(bufs: &'a mut [IoSliceMut<'_>]) -> &'a mut [u8] {
    bufs.iter_mut().find(|buf| !buf.is_empty()).map_or(&mut [][..], |buf| &mut **buf)
}

pub(super) fn first<'a>(bufs: &'a [IoSlice<'_>]) -> &'a [u8] {
    bufs.iter().find(|buf| !buf.is_empty()).map_or(&[][..], |buf| &**buf)
}

/// `--trace` under TLS: every read and write of ciphertext, decoded as records.
pub struct Wire(Arc<Tap>);

impl Wire {
    /// A tap for `socket`'s records when `--trace` is on.
    pub fn new(socket: &TcpStream) -> Option<Wire> {
        if !enabled() {
            return None;
        }
        let peer = peer_name(socket);
        let sink = SINK.get().cloned().unwrap_or_else(Sink::stderr);
        Some(Wire(Arc::new(Tap::new(format!("{peer} (TLS records)"), Layer::Tls, sink, true))))
    }

    pub fn received(&self, result: &io::Result<usize>, bytes: &[u8]) {
        self.0.record(Direction::Received, result, &[bytes]);
    }

    pub fn sent(&self, result: &io::Result<usize>, bytes: &[u8]) {
        self.0.record(Direction::Sent, result, &[bytes]);
    }
}

fn peer_name(socket: &TcpStream) -> String {
    socket.peer_addr().map_or_else(|_| "an unknown peer".to_string(), |a| a.to_string())
}

impl Traced<TcpStream> {
    /// A connection sealed by `session`: the lesson reads and writes plaintext, traced as `layer`
    /// when `--trace` is on, and the records under it are traced too.
    pub fn with_tls(stream: TcpStream, layer: Layer, session: Session) -> Self {
        let mut traced = if enabled() {
            let peer = format!("{} (inside TLS)", peer_name(&stream));
            Traced::on(stream, peer, layer, SINK.get().cloned().unwrap_or_else(Sink::stderr))
        } else {
            Traced::off(stream)
        };
        traced.tls = Some(Arc::new(session));
        traced
    }

    /// A server's plain connection, which notices a TLS client that knocked at the wrong port.
    pub fn plain_server(stream: TcpStream, layer: Layer) -> Self {
        let peer = peer_name(&stream);
        let mut traced = Traced::new(stream, layer);
        traced.hello = Some(Arc::new(PlainPort::new(peer, layer)));
        traced
    }

    /// The TLS session under this connection, if it has one.
    pub fn tls(&self) -> Option<&Session> {
        self.tls.as_deref()
    }

    /// Runs the TLS handshake now (nothing to do on a plain connection), within
    /// `crate::tls::HANDSHAKE_DEADLINE` of `start`.
    pub fn tls_handshake(&self, start: Instant) -> io::Result<()> {
        match &self.tls {
            Some(tls) => tls.handshake(&mut &self.stream, start),
            None => Ok(()),
        }
    }

    /// `TcpStream::shutdown`, after TLS's own goodbye (close_notify) on a sealed connection.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match &self.tls {
            Some(tls) => tls.shutdown(how),
            None => self.stream.shutdown(how),
        }
    }
}
