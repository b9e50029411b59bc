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
