//! One file per lesson, in the order of the book. Each reads top to bottom.

pub mod chat;
pub mod echo;
pub mod handshake;
pub mod http_chat;
pub mod lab;
pub mod lifecycle;
pub mod one_thread_chat;
pub mod one_thread_echo;
pub mod one_thread_lab;
pub mod one_thread_poll;
pub mod threaded_echo;
pub mod ws_chat;
pub mod ws_echo;
