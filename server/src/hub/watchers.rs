//! Watchers: streams (HTTP Server-Sent Events) that follow a room without being in it.
//!
//! A watcher follows a room's *name*. Watching never opens a room, so a client that streams
//! made-up names cannot use up the room slots that `/join` needs; a watcher of a room that does
//! not exist yet hears it from its first event on. Each watcher is an open HTTP connection, so
//! the HTTP server's connection cap bounds them.

use common::protocol::check_room;

use super::event::Delivery;
use super::outbox::Outbox;
use super::Hub;

impl Hub {
    /// Follows `room` through `outbox` without joining it; returns a handle for
    /// [`Hub::unwatch`]. A watcher that stops reading is let go like a member (its outbox
    /// closes).
    pub fn watch(&self, room: &str, outbox: Outbox) -> Result<u64, String> {
        check_room(room)?;
        let mut state = self.lock();
        if state.closing {
            let _ = outbox.try_send(Delivery::Goodbye);
        }
        // With a broker, the reader must follow the room to hear it.
        self.follow_room(&mut state, room);
        state.next_watcher += 1;
        let id = state.next_watcher;
        state.watchers.entry(room.to_string()).or_default().insert(id, outbox);
        Ok(id)
    }

    /// How many streams follow `room`.
    pub fn watchers(&self, room: &str) -> usize {
        self.lock().watchers.get(room).map_or(0, |watchers| watchers.len())
    }

    pub fn unwatch(&self, room: &str, id: u64) {
        let mut state = self.lock();
        if let Some(watchers) = state.watchers.get_mut(room) {
            watchers.remove(&id);
            if watchers.is_empty() {
                state.watchers.remove(room);
            }
        }
    }
}
