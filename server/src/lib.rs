//! The server side of every lesson. `main.rs` only parses flags and binds; each lesson's `run`
//! takes an already bound listener and a [`common::Shutdown`], so tests drive the real servers
//! in-process on `127.0.0.1:0`.

pub mod class;
pub mod conn;
pub mod evloop;
pub mod http;
pub mod hub;
pub mod lessons;
pub mod sio;
pub mod tls;
pub mod workers;
pub mod ws;
