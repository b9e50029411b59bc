//! What the server and the client of every lesson share.
//!
//! Each module is one idea with a name, so a lesson file can say "see `common::line`" and the
//! reader finds the whole story in one place:
//!
//! - [`shutdown`]: Ctrl-C turned into a handle that every accept loop and connection watches;
//! - [`logging`]: the log format a learner reads in each terminal;
//! - [`frame`]: WebSocket frames taken apart by hand;
//! - [`handshake`]: `Sec-WebSocket-Accept` by hand;
//! - [`line`]: newline framing with a length limit and UTF-8 checks;
//! - [`ws`]: a WebSocket connection split into a reading and a writing half;
//! - [`net`]: binding and connecting with errors that say what to do next;
//! - [`percent`]: percent-encoding for URL query strings (the client builds them);
//! - [`protocol`]: the chat's commands, server lines and naming rules;
//! - [`sio`]: Engine.IO and Socket.IO packets and payloads, as text;
//! - [`trace`]: `--trace`, every read and write printed and decoded as it happens;
//! - [`tls`]: `--tls`, the same bytes sealed by TLS under every lesson that has it.

pub mod frame;
pub mod handshake;
pub mod line;
pub mod logging;
pub mod net;
pub mod percent;
pub mod protocol;
pub mod shutdown;
pub mod sio;
pub mod tls;
pub mod trace;
pub mod ws;

pub use shutdown::Shutdown;

/// The address every lesson uses unless `--addr` says otherwise. Loopback only: nothing on the
/// network can reach a server bound here, which is the safe default on a laptop in a café.
pub const DEFAULT_ADDR: &str = "127.0.0.1:7878";

/// The line a server sends each client when it stops, so the client can say why it was closed.
pub const GOODBYE: &str = "* server shutting down, goodbye";
