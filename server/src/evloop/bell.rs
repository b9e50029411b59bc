//! The doorbell: how work that does not come from a socket reaches the loop.
//!
//! The OS tells the loop which *sockets* are ready. But a chat member also gets work from the
//! hub: another member's line lands in its outbox, or the hub drops it (a kick). Asking every
//! connection "any mail?" after each turn would cost a look at every open connection per turn,
//! which is exactly the scan epoll took away for sockets. So each outbox rings a bell instead:
//! the bell writes its connection's slot on the loop's [`Board`] (once, until the loop answers
//! it), and after each turn the loop drives only the slots written there. The cost of a turn
//! follows the connections that have work, not the ones that are open.
//!
//! The hub may deliver from another thread (a shared hub, a broker's reader): a bell rung while
//! the loop sleeps in `poll` also wakes it, through the same `Waker` as Ctrl-C. Rung on the loop's
//! own thread, it costs a short lock and no system call.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use mio::Waker;

/// The slots whose bells rang since the loop last looked.
pub struct Board {
    rung: Mutex<Vec<usize>>,
    /// True while the loop sleeps in `poll` (only then does a ring need the waker).
    asleep: AtomicBool,
    waker: Arc<Waker>,
}

/// One connection's bell: rings its slot onto the board.
#[derive(Clone)]
pub struct Bell {
    slot: usize,
    /// Rung and not yet answered: more mail needs no second ring.
    pending: Arc<AtomicBool>,
    board: Arc<Board>,
}

impl Board {
    pub fn new(waker: Arc<Waker>) -> Arc<Board> {
        Arc::new(Board { rung: Mutex::new(Vec::new()), asleep: AtomicBool::new(false), waker })
    }

    /// A new bell for the connection in `slot`.
    pub fn bell(self: &Arc<Self>, slot: usize) -> Bell {
        Bell { slot, pending: Arc::new(AtomicBool::new(false)), board: self.clone() }
    }

    /// The slots rung since the last call, in the order they rang.
    pub fn take(&self) -> Vec<usize> {
        std::mem::take(&mut *self.rung.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The loop is about to sleep in `poll`: true if a bell rang meanwhile (then it must not).
    pub fn going_to_sleep(&self) -> bool {
        self.asleep.store(true, Ordering::SeqCst);
        !self.rung.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
    }

    pub fn awake(&self) {
        self.asleep.store(false, Ordering::SeqCst);
    }
}

impl Bell {
    /// Work arrived for this connection.
    pub fn ring(&self) {
        if self.pending.swap(true, Ordering::AcqRel) {
            return;
        }
        self.board.rung.lock().unwrap_or_else(|p| p.into_inner()).push(self.slot);
        if self.board.asleep.load(Ordering::SeqCst) {
            let _ = self.board.waker.wake();
        }
    }

    /// The loop is about to drive this connection: what arrives from now on rings again.
    pub fn answered(&self) {
        self.pending.store(false, Ordering::Release);
    }
}
