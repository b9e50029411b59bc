//! The watcher's slot: a tap that comes and goes while the connection lives.
//!
//! `--trace` decides once, when a connection is wrapped. A server that shows a connection to
//! someone (the lab's wire panel) learns who from a request, after the connection was wrapped,
//! and may learn another answer from the next request on the same keep-alive connection: so the
//! watcher is a slot, shared by the connection's clones, set and cleared request by request.

use std::sync::{Arc, Mutex};

use super::Tap;

#[derive(Default)]
pub struct WatchSlot(Mutex<Option<Arc<Tap>>>);

impl WatchSlot {
    /// The watcher now, if any. (Cloned out, so a slow sink never holds the slot's lock.)
    pub fn get(&self) -> Option<Arc<Tap>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    pub fn set(&self, tap: Option<Arc<Tap>>) {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = tap;
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};
    use std::sync::{Arc, Mutex};

    use crate::trace::{Layer, Sink, Traced};

    #[test]
    fn a_watcher_sees_what_was_read_before_it_then_each_call_until_unwatched() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let into = seen.clone();
        let sink = Sink::new(move |text| into.lock().unwrap().push(text.to_string()));
        let mut stream = Traced::off(Cursor::new(Vec::new()));
        stream.write_all(b"before anyone watched").unwrap();
        stream.watch("a page", Layer::Http, sink, b"GET /poll?wire=t HTTP/1.1\r\nHost: x\r\n\r\n");
        stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").unwrap();
        stream.unwatch();
        stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2, "{seen:#?}");
        assert!(
            seen[0].starts_with("<< from a page, 38 bytes\n   http  GET /poll?wire=t HTTP/1.1\n"),
            "{}",
            seen[0]
        );
        assert!(seen[1].starts_with(">> to a page, 38 bytes\n   http  HTTP/1.1 200 OK\n"), "{}", seen[1]);
        assert!(!seen.iter().any(|event| event.contains("0000  ")), "a watcher gets no hex dump: {seen:#?}");
        assert!(!stream.is_traced(), "watching is not --trace");
    }
}
