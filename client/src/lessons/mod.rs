//! One file per lesson, in the order of the book. Each reads top to bottom.

pub mod chat;
pub mod echo;
pub mod handshake;
pub mod http;
pub mod lifecycle;
pub mod ws_chat;
pub mod ws_echo;
