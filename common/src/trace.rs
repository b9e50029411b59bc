//! `--trace`: every read and write of a connection, printed as it happens.
//!
//! A lesson's logs say what the program *did* ("echoed 6 bytes"); a trace shows what went over
//! the wire when it did it. [`Traced`] wraps a stream and is itself a `Read + Write`, so the
//! lesson's code does not change: each `read` and `write` goes to the real socket first, and
//! then, if tracing is on, what it moved is printed (to stderr, beside the logs):
//!
//! ```text
//! >> to 127.0.0.1:8080, 63 bytes
//!    http  GET /poll?room=lobby&since=1 HTTP/1.1
//!    http  Host: 127.0.0.1:8080
//!    http  body: none
//!    0000  47 45 54 20 2f 70 6f 6c  6c 3f 72 6f 6f 6d 3d 6c  |GET /poll?room=l|
//!    0010  6f 62 62 79 26 73 69 6e  63 65 3d 31 20 48 54 54  |obby&since=1 HTT|
//!    0020  50 2f 31 2e 31 0d 0a 48  6f 73 74 3a 20 31 32 37  |P/1.1..Host: 127|
//!    0030  2e 30 2e 30 2e 31 3a 38  30 38 30 0d 0a 0d 0a     |.0.0.1:8080....|
//! ```
//!
//! First the direction (`>>` sent, `<<` received), the peer and the byte count; then the layer's
//! own view of those bytes (see [`Layer`]: chat lines, HTTP heads, WebSocket frames, decoded
//! across reads however TCP cut them); then the bytes themselves, 16 a row, cut after
//! [`dump::DUMP_BYTES`] with a count of the rest. Nothing a peer sends reaches the terminal
//! unescaped (see [`dump`]).
//!
//! The trace never changes what the program does: the bytes, their order and the results of
//! the calls are the socket's own, the trace only looks. Off (the default) it costs two branches
//! per call: [`Traced::new`] returns a pass-through without any tracing state at all.
//!
//! ## How a lesson adopts it (the wiring plan)
//!
//! 1. **The flag.** `server` and `client` take a global `--trace` (`#[arg(long, global = true)]`
//!    on the top-level `Cli`); `main` calls [`enable`] before running the lesson.
//! 2. **Where a connection starts**, wrap it once, naming the layer its lesson speaks:
//!    `let stream = Traced::new(stream, Layer::Http);` after `accept` (server) or after
//!    `common::net::connect` (client). Lessons 1-3: [`Layer::Raw`]; the chat (4, and the lab's
//!    TCP side): [`Layer::Lines`]; everything on the web port (5-8, the lab's web side, the
//!    tungstenite client): [`Layer::Http`], which follows the `101` to WebSocket by itself.
//! 3. **Types.** Where a function takes `TcpStream`, it takes `Traced<TcpStream>`. Everything else
//!    compiles unchanged: `Traced<TcpStream>` derefs to `TcpStream` (`set_read_timeout`,
//!    `shutdown`, `peer_addr`, `set_nodelay`, `SockRef::from(&*stream)`), `&Traced<TcpStream>`
//!    reads and writes like `&TcpStream`, and [`Traced::try_clone`] returns a traced clone that
//!    shares the connection's decoders (the reader thread's clone and the writer thread's clone
//!    together show one conversation). tungstenite takes it as its stream
//!    (`WebSocketContext::read(&mut traced)`, `tungstenite::client(request, traced)`).
//! 4. **Known spots**: `common::ws::split`, `common::handshake::client` and the HTTP layer's
//!    `read_request`, `read_body` and `refuse` take `Traced<TcpStream>`; the accept loop's
//!    `serve` and `refuse` closures receive the wrapped stream. `Shutdown::track_shared` takes an
//!    `Arc<TcpStream>`: let it take a `Weak` of anything `AsRef<TcpStream>` (`Traced` is), or
//!    call `track(&stream)` instead. A handle that is never read or written (a kick handle, the
//!    shutdown's clone) may stay a plain `TcpStream`. `client compare` and the benchmarks never
//!    trace: they measure.
//! 5. **Tests**: a lesson's test runs the binaries with `--trace` on port 0 and checks the events
//!    on stderr (the chapter's transcripts then come from that test); in-process tests that
//!    want the text use [`Traced::on`] with their own [`Sink`].
//!
//! A server can also show one connection to someone while it lives ([`Traced::watch`]): the
//! lab's wire panel learns from a request who is watching, after the connection was wrapped,
//! so this second tap is a slot set and cleared request by request (see `trace/watch.rs`).
//!
//! A test captures the output with [`Traced::on`] and a [`Sink`] of its own, or, for servers it
//! runs in-process, turns tracing on with [`enable_into`] and a sink it reads
//! (`client/tests/trace.rs`).

pub mod dump;
mod engineio;
mod http;
mod lines;
mod records;
mod sealed;
mod tap;
mod view;
mod watch;
mod websocket;

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::TcpStream;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use tap::Tap;
use view::{Direction, Views};
use watch::WatchSlot;

pub use sealed::Wire;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Where [`Traced::new`] sends its events when [`enable_into`] chose a sink; stderr otherwise.
static SINK: OnceLock<Sink> = OnceLock::new();

/// Turns tracing on for every connection wrapped from now on (what `--trace` does).
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Turns tracing on, into `sink` instead of stderr (a test that runs a server in-process and
/// reads its trace). The first sink chosen stays.
pub fn enable_into(sink: Sink) {
    let _ = SINK.set(sink);
    enable();
}

/// Whether `--trace` was given.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// How a connection's bytes are decoded above the raw dump.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Layer {
    /// Bytes only: the echo lessons, where the bytes *are* the message.
    Raw,
    /// Each complete `\n`-terminated line, escaped: the TCP chat.
    Lines,
    /// Each request or response head, then how its body is framed (length, chunks); after a
    /// `101 Switching Protocols` to WebSocket, both directions become [`Layer::WebSocket`]. On a
    /// connection whose request went to `/socket.io/`, bodies and text frames are also taken
    /// apart into Engine.IO and Socket.IO packets (`trace/engineio.rs`).
    Http,
    /// Each frame: FIN, opcode, MASK and key, payload length, the payload unmasked.
    WebSocket,
    /// Each TLS record: content type, version, length; the ClientHello's server name. What an
    /// eavesdropper sees of a `--tls` connection (the lesson's own layer is traced above it).
    Tls,
}

/// Where trace output goes: stderr, or (for a test, or a page) a function of the text of each
/// event. One call per event, so events from different threads never interleave.
#[derive(Clone)]
pub struct Sink(Arc<dyn Fn(&str) + Send + Sync>);

impl Sink {
    pub fn stderr() -> Self {
        Sink(Arc::new(|text| {
            let _ = io::stderr().lock().write_all(text.as_bytes());
        }))
    }

    pub fn new(write: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Sink(Arc::new(write))
    }
}

/// A stream whose reads and writes are printed when tracing is on, and passed through as they
/// are either way.
pub struct Traced<S> {
    stream: S,
    /// `None` when tracing is off: then nothing but this test stands between the lesson and
    /// the socket.
    tap: Option<Arc<Tap>>,
    /// A second tap that a server sets and clears while the connection lives (see
    /// [`Traced::watch`]); `None` until it first does.
    watch: Option<Arc<WatchSlot>>,
    /// TLS under the lesson's bytes (`--tls`, see `crate::tls`), shared by the connection's
    /// clones; `None` on a plain connection.
    tls: Option<Arc<crate::tls::Session>>,
    /// On a plain server's connection, the check of its first bytes for a TLS ClientHello.
    hello: Option<Arc<crate::tls::hello::PlainPort>>,
}

impl Traced<TcpStream> {
    /// Wraps a connection: traced as `layer` if [`enabled`], a plain pass-through if not.
    pub fn new(stream: TcpStream, layer: Layer) -> Self {
        if !enabled() {
            return Traced::off(stream);
        }
        let peer = stream.peer_addr().map_or_else(|_| "an unknown peer".to_string(), |a| a.to_string());
        let sink = SINK.get().cloned().unwrap_or_else(Sink::stderr);
        Traced::on(stream, peer, layer, sink)
    }

    /// Another handle to the same socket (see [`TcpStream::try_clone`]), traced into the same
    /// conversation: a reader thread and a writer thread each hold one.
    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(Traced {
            stream: self.stream.try_clone()?,
            tap: self.tap.clone(),
            watch: self.watch.clone(),
            tls: self.tls.clone(),
            hello: self.hello.clone(),
        })
    }
}

impl<S> Traced<S> {
    /// Wraps any stream (a `mio` socket, say) as [`Traced::new`] wraps std's: traced as `layer`
    /// into the chosen sink if [`enabled`], a plain pass-through if not.
    pub fn wrap(stream: S, peer: impl fmt::Display, layer: Layer) -> Self {
        if !enabled() {
            return Traced::off(stream);
        }
        let sink = SINK.get().cloned().unwrap_or_else(Sink::stderr);
        Traced::on(stream, peer, layer, sink)
    }

    /// A pass-through that never traces.
    pub fn off(stream: S) -> Self {
        Traced { stream, tap: None, watch: None, tls: None, hello: None }
    }

    /// A stream traced as `layer` into `sink`, whatever [`enabled`] says; `peer` names the other
    /// end in each event.
    pub fn on(stream: S, peer: impl fmt::Display, layer: Layer, sink: Sink) -> Self {
        Traced { tap: Some(Arc::new(Tap::new(peer, layer, sink, true))), ..Traced::off(stream) }
    }

    /// Shows this connection to `sink` from now on, whatever [`enabled`] says, until
    /// [`Traced::unwatch`]: each event with the layer's view and no hex dump, decoded as `layer`
    /// from a fresh start. `received` are bytes already read that belong to what follows (the
    /// request a server read before it knew who watches), shown first. Clones made after this
    /// call share the watcher (a WebSocket's reader and writer).
    pub fn watch(&mut self, peer: impl fmt::Display, layer: Layer, sink: Sink, received: &[u8]) {
        let tap = Arc::new(Tap::new(peer, layer, sink, false));
        if !received.is_empty() {
            tap.record(Direction::Received, &Ok(received.len()), &[received]);
        }
        self.watch.get_or_insert_with(Default::default).set(Some(tap));
    }

    /// Stops showing this connection to the sink [`Traced::watch`] gave, if any.
    pub fn unwatch(&self) {
        if let Some(slot) = &self.watch {
            slot.set(None);
        }
    }

    pub fn is_traced(&self) -> bool {
        self.tap.is_some()
    }

    /// Decodes both directions as `layer` from now on (a lesson that changes protocols by a
    /// means the trace cannot see; the `101` of an HTTP upgrade it sees by itself).
    pub fn set_layer(&self, layer: Layer) {
        if let Some(tap) = &self.tap {
            tap.lock().switch(layer);
        }
    }

    pub fn into_inner(self) -> S {
        self.stream
    }

    fn received(&self, result: &io::Result<usize>, bufs: &[&[u8]]) {
        self.record(Direction::Received, result, bufs);
    }

    fn sent(&self, result: &io::Result<usize>, bufs: &[&[u8]]) {
        self.record(Direction::Sent, result, bufs);
    }

    fn record(&self, direction: Direction, result: &io::Result<usize>, bufs: &[&[u8]]) {
        if let Some(tap) = &self.tap {
            tap.record(direction, result, bufs);
        }
        if let Some(tap) = self.watch.as_ref().and_then(|slot| slot.get()) {
            tap.record(direction, result, bufs);
        }
    }

    fn received_vectored(&self, result: &io::Result<usize>, bufs: &[IoSliceMut<'_>]) {
        if self.tap.is_some() || self.watch.is_some() {
            self.received(result, &bufs.iter().map(|buf| &**buf).collect::<Vec<_>>());
        }
    }

    fn sent_vectored(&self, result: &io::Result<usize>, bufs: &[IoSlice<'_>]) {
        if self.tap.is_some() || self.watch.is_some() {
            self.sent(result, &bufs.iter().map(|buf| &**buf).collect::<Vec<_>>());
        }
    }
}

impl<S: Read> Read for Traced<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let result = sealed::read(&self.tls, &self.hello, &mut self.stream, buf);
        self.received(&result, &[&*buf]);
        result
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        if self.tls.is_some() || self.hello.is_some() {
            return self.read(sealed::first_mut(bufs));
        }
        let result = self.stream.read_vectored(bufs);
        self.received_vectored(&result, bufs);
        result
    }
}

impl<S: Write> Write for Traced<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let result = sealed::write(&self.tls, &mut self.stream, buf);
        self.sent(&result, &[buf]);
        result
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.tls.is_some() {
            return self.write(sealed::first(bufs));
        }
        let result = self.stream.write_vectored(bufs);
        self.sent_vectored(&result, bufs);
        result
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// `&Traced<TcpStream>` reads and writes like `&TcpStream`: for a socket shared through an `Arc`.
impl<'a, S> Read for &'a Traced<S>
where
    &'a S: Read,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let this: &'a Traced<S> = self;
        let result = sealed::read(&this.tls, &this.hello, &mut &this.stream, buf);
        this.received(&result, &[&*buf]);
        result
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        let this: &'a Traced<S> = self;
        if this.tls.is_some() || this.hello.is_some() {
            return self.read(sealed::first_mut(bufs));
        }
        let result = (&this.stream).read_vectored(bufs);
        this.received_vectored(&result, bufs);
        result
    }
}

impl<'a, S> Write for &'a Traced<S>
where
    &'a S: Write,
{
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let this: &'a Traced<S> = self;
        let result = sealed::write(&this.tls, &mut &this.stream, buf);
        this.sent(&result, &[buf]);
        result
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let this: &'a Traced<S> = self;
        if this.tls.is_some() {
            return self.write(sealed::first(bufs));
        }
        let result = (&this.stream).write_vectored(bufs);
        this.sent_vectored(&result, bufs);
        result
    }

    fn flush(&mut self) -> io::Result<()> {
        let this: &'a Traced<S> = self;
        (&this.stream).flush()
    }
}

impl<S> Deref for Traced<S> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.stream
    }
}

impl<S> DerefMut for Traced<S> {
    fn deref_mut(&mut self) -> &mut S {
        &mut self.stream
    }
}

impl<S> std::borrow::Borrow<S> for Traced<S> {
    fn borrow(&self) -> &S {
        &self.stream
    }
}

impl<S> AsRef<S> for Traced<S> {
    fn as_ref(&self) -> &S {
        &self.stream
    }
}

impl<S: fmt::Debug> fmt::Debug for Traced<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Traced").field("stream", &self.stream).field("traced", &self.is_traced()).finish()
    }
}
