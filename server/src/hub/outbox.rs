//! A member's outbox: the queue between the hub (which never waits) and the thread that writes
//! to the member's connection (which may wait as long as the network makes it).
//!
//! A plain bounded channel cannot tell a reader that *stopped* from one that is a moment behind:
//! both look "full". So the outbox also keeps a gauge: how many lines wait, and when its writer
//! last made progress (took a line, or found the queue empty and got a new one). From that the
//! hub reads one of three things:
//! - lines wait and nothing was taken for the stall window: the reader **stalled** (dropped);
//! - at least the flood mark waits: the reader is **behind** (whoever wants to add more waits);
//! - otherwise: fine.
//!
//! The receiving side, [`Inbox`], has the methods of `std::sync::mpsc::Receiver` that the
//! transports use, so a writer thread reads it like any channel.

use std::sync::mpsc::{self, RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use super::event::Delivery;

/// A new outbox and its inbox. `capacity` lines may wait at most, however patient the hub is.
pub fn outbox(capacity: usize) -> (Outbox, Inbox) {
    let (sender, receiver) = mpsc::channel();
    let level =
        Level { waiting: 0, progress: Instant::now(), waiters: 0, reader_gone: false, released: false };
    let gauge = Arc::new(Gauge {
        level: Mutex::new(level),
        changed: Condvar::new(),
        capacity,
        bell: OnceLock::new(),
    });
    (Outbox { sender, gauge: gauge.clone() }, Inbox { receiver, gauge })
}

/// The sending end of a member's (or a stream's) outbox. Clones are the same outbox.
#[derive(Clone)]
pub struct Outbox {
    sender: mpsc::Sender<Delivery>,
    gauge: Arc<Gauge>,
}

/// The receiving end, read by the connection's writer thread.
pub struct Inbox {
    receiver: mpsc::Receiver<Delivery>,
    gauge: Arc<Gauge>,
}

struct Gauge {
    level: Mutex<Level>,
    /// Notified when a line is taken or the inbox goes away: senders held back by flood
    /// control wait on it.
    changed: Condvar,
    capacity: usize,
    /// Called after each line is queued (and on [`Outbox::ring`]): how a one-thread loop, which
    /// has no writer thread blocked on the inbox, learns that this member has mail.
    bell: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

struct Level {
    /// Lines sent and not yet taken by the writer.
    waiting: usize,
    /// When the writer last took a line, or when a line arrived in an empty queue.
    progress: Instant,
    /// Senders waiting in [`Outbox::wait_below`] right now.
    waiters: usize,
    reader_gone: bool,
    /// Set by [`Outbox::release`]: nobody waits on this outbox any more.
    released: bool,
}

impl Level {
    /// One more line waits. The stall clock starts with the first line nobody took, not with the
    /// last take: an hour of quiet before a line arrives is not a stall.
    fn count_one(&mut self, now: Instant) {
        if self.waiting == 0 && !self.reader_gone {
            self.progress = now;
        }
        self.waiting += 1;
    }

    /// A writer that is gone: leaving for the stall window after it went, then a ghost.
    fn gone(&self, now: Instant, stall: Duration) -> Backlog {
        if now.saturating_duration_since(self.progress) < stall {
            Backlog::Leaving
        } else {
            Backlog::Gone
        }
    }
}

/// How an outbox is doing, as the hub sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backlog {
    Fine,
    /// At least the flood mark waits, and its writer is still taking lines.
    Behind,
    /// Lines wait, and the writer has taken nothing for the whole stall window.
    Stalled,
    /// The writer ended moments ago (less than the stall window): its connection is ending,
    /// and the connection's own thread is about to say why (a `/quit`, a close, a reset, a
    /// shutdown). The hub skips it rather than guess "connection lost".
    Leaving,
    /// The writer has been gone for the whole stall window and nobody said why: a ghost.
    Gone,
}

impl Outbox {
    /// Queues `delivery` without waiting. `Full` at the capacity; `Disconnected` when the
    /// writer is gone.
    pub fn try_send(&self, delivery: Delivery) -> Result<(), TrySendError<Delivery>> {
        {
            let mut level = self.gauge.lock();
            if level.waiting >= self.gauge.capacity {
                return Err(TrySendError::Full(delivery));
            }
            level.count_one(Instant::now());
        }
        self.send_counted(delivery).map_err(|SendError(d)| TrySendError::Disconnected(d))
    }

    /// Queues the last thing this outbox will carry (the server's goodbye), even past the
    /// capacity: one line over the cap is bounded, and a goodbye that waited for room, or was
    /// refused, could be lost. `Err` only when the writer is gone.
    pub fn send_last(&self, delivery: Delivery) -> Result<(), SendError<Delivery>> {
        self.gauge.lock().count_one(Instant::now());
        self.send_counted(delivery)
    }

    /// Queues `delivery` for the hub's broadcast: like [`Outbox::try_send`], but refuses
    /// (`Err(Backlog::Stalled)`) when the writer has taken nothing for `stall` while lines wait,
    /// and says `Err(Backlog::Gone)` when the writer is gone.
    pub fn offer(&self, delivery: Delivery, now: Instant, stall: Duration) -> Result<(), Backlog> {
        {
            let mut level = self.gauge.lock();
            if level.reader_gone {
                return Err(level.gone(now, stall));
            }
            if level.waiting >= self.gauge.capacity
                || level.waiting > 0 && now.saturating_duration_since(level.progress) >= stall
            {
                return Err(Backlog::Stalled);
            }
            level.count_one(now);
        }
        self.send_counted(delivery).map_err(|_| Backlog::Leaving)
    }

    /// Sends a line already counted in `waiting`, *after* the gauge's lock is released: the send
    /// wakes the writer, whose first move is to take that lock (to count the line taken). Sent
    /// under the lock, every line to every member cost two more context switches: the writer
    /// woke, found the lock held, slept, and was woken again. (Measured: a fan-out to 1,000
    /// members took a third longer.)
    fn send_counted(&self, delivery: Delivery) -> Result<(), SendError<Delivery>> {
        self.sender.send(delivery).inspect_err(|_| {
            let mut level = self.gauge.lock();
            level.waiting = level.waiting.saturating_sub(1);
        })?;
        self.ring();
        Ok(())
    }

    /// Has `bell` called whenever a line is queued from now on, or [`Outbox::ring`] is called
    /// (the first bell set stays). Threads need none: their writer waits on the inbox.
    pub fn on_mail(&self, bell: impl Fn() + Send + Sync + 'static) {
        let _ = self.gauge.bell.set(Box::new(bell));
    }

    /// Rings the bell set with [`Outbox::on_mail`], if any: something for the reader to look at
    /// other than a line (it was dropped).
    pub fn ring(&self) {
        if let Some(bell) = self.gauge.bell.get() {
            bell();
        }
    }

    /// How this outbox is doing at `now`, measured against `mark` lines, `patience` and `stall`.
    /// A writer that took a line within `patience` is *draining*: a sender may wait for it. One
    /// that took nothing for longer is not waited for (a stalled reader must not hold anybody
    /// up), and after `stall` it is given up on.
    pub fn backlog(&self, now: Instant, mark: usize, patience: Duration, stall: Duration) -> Backlog {
        let level = self.gauge.lock();
        let quiet = now.saturating_duration_since(level.progress);
        if level.reader_gone {
            level.gone(now, stall)
        } else if level.waiting > 0 && quiet >= stall {
            Backlog::Stalled
        } else if level.waiting >= mark && quiet < patience {
            Backlog::Behind
        } else {
            Backlog::Fine
        }
    }

    /// Waits until fewer than `mark` lines wait, the writer goes away, the writer has taken
    /// nothing for `patience`, or [`Outbox::release`]. Every line the writer takes starts the
    /// patience again: a sender keeps pace with a reader that reads, however slowly, and stops
    /// waiting for one that does not. Never called with the hub's lock held.
    pub fn wait_below(&self, mark: usize, patience: Duration) {
        let mut level = self.gauge.lock();
        level.waiters += 1;
        while !level.reader_gone && !level.released && level.waiting >= mark {
            let Some(left) = (level.progress + patience).checked_duration_since(Instant::now()) else {
                break;
            };
            if left.is_zero() {
                break;
            }
            level = self.gauge.changed.wait_timeout(level, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        level.waiters -= 1;
    }

    /// Wakes every sender waiting on this outbox (the hub is closing).
    pub fn release(&self) {
        self.gauge.lock().released = true;
        self.gauge.changed.notify_all();
    }
}

impl Inbox {
    /// Blocks for the next delivery; `Err` once every [`Outbox`] is gone and the queue is empty.
    pub fn recv(&self) -> Result<Delivery, RecvError> {
        let delivery = self.receiver.recv()?;
        self.gauge.taken();
        Ok(delivery)
    }

    pub fn try_recv(&self) -> Result<Delivery, TryRecvError> {
        let delivery = self.receiver.try_recv()?;
        self.gauge.taken();
        Ok(delivery)
    }

    pub fn recv_timeout(&self, timeout: Duration) -> Result<Delivery, RecvTimeoutError> {
        let delivery = self.receiver.recv_timeout(timeout)?;
        self.gauge.taken();
        Ok(delivery)
    }

    /// How many lines wait to be taken.
    pub fn len(&self) -> usize {
        self.gauge.lock().waiting
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What is queued right now, without waiting.
    pub fn try_iter(&self) -> impl Iterator<Item = Delivery> + '_ {
        std::iter::from_fn(|| self.try_recv().ok())
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        let mut level = self.gauge.lock();
        level.reader_gone = true;
        // From now on `progress` says when the writer went (see `Backlog::Leaving`).
        level.progress = Instant::now();
        self.gauge.changed.notify_all();
    }
}

impl Gauge {
    fn lock(&self) -> MutexGuard<'_, Level> {
        self.level.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn taken(&self) {
        let mut level = self.lock();
        level.waiting = level.waiting.saturating_sub(1);
        level.progress = Instant::now();
        if level.waiters > 0 {
            self.changed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    const LONG: Duration = Duration::from_secs(60);

    fn notice(n: usize) -> Delivery {
        Delivery::Notice(n.to_string())
    }

    #[test]
    fn the_capacity_is_a_hard_cap_and_taking_makes_room() {
        let (outbox, inbox) = outbox(2);
        assert!(outbox.try_send(notice(1)).is_ok() && outbox.try_send(notice(2)).is_ok());
        assert!(matches!(outbox.try_send(notice(3)), Err(TrySendError::Full(_))));
        assert_eq!(inbox.recv().map(|d| d.line()), Ok("* 1".to_string()));
        assert!(outbox.try_send(notice(3)).is_ok());
        assert_eq!(inbox.try_iter().map(|d| d.line()).collect::<Vec<_>>(), ["* 2", "* 3"]);
        drop(inbox);
        assert!(matches!(outbox.try_send(notice(4)), Err(TrySendError::Disconnected(_))));
        // Just gone: its connection's thread is about to say why; a stall window later, a ghost.
        assert_eq!(outbox.backlog(Instant::now(), 1, LONG, LONG), Backlog::Leaving);
        assert_eq!(outbox.backlog(Instant::now(), 1, LONG, Duration::ZERO), Backlog::Gone);
    }

    #[test]
    fn backlog_tells_behind_from_stalled_by_time_without_progress() {
        let (outbox, inbox) = outbox(100);
        let start = Instant::now();
        assert_eq!(outbox.backlog(start, 2, LONG, LONG), Backlog::Fine);
        // An hour of silence before a line arrives is not a stall: the clock starts with the line.
        outbox.try_send(notice(1)).unwrap();
        outbox.try_send(notice(2)).unwrap();
        let now = Instant::now();
        assert_eq!(outbox.backlog(now, 2, LONG, LONG), Backlog::Behind);
        assert_eq!(outbox.backlog(now, 3, LONG, LONG), Backlog::Fine);
        assert_eq!(outbox.backlog(now + LONG, 3, LONG, LONG), Backlog::Stalled);
        inbox.recv().unwrap();
        assert_eq!(outbox.backlog(Instant::now(), 1, LONG, LONG), Backlog::Behind);
        inbox.recv().unwrap();
        // Nothing waits: however long ago the last take was, nothing is stalled.
        assert_eq!(outbox.backlog(Instant::now() + LONG, 1, LONG, LONG), Backlog::Fine);
    }

    #[test]
    fn a_waiting_sender_wakes_when_the_writer_takes_a_line_or_goes() {
        let (outbox, inbox) = outbox(100);
        (0..3).for_each(|n| outbox.try_send(notice(n)).unwrap());
        let start = Instant::now();
        let writer = thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            inbox.recv().unwrap();
            inbox
        });
        outbox.wait_below(3, LONG);
        assert!(start.elapsed() < Duration::from_secs(10), "the take did not wake the sender");
        let inbox = writer.join().unwrap();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            drop(inbox);
        });
        outbox.wait_below(1, LONG);
        // Just gone: its connection's thread is about to say why; a stall window later, a ghost.
        assert_eq!(outbox.backlog(Instant::now(), 1, LONG, LONG), Backlog::Leaving);
        assert_eq!(outbox.backlog(Instant::now(), 1, LONG, Duration::ZERO), Backlog::Gone);
    }

    #[test]
    fn a_waiting_sender_gives_up_after_the_patience_window() {
        let (outbox, _inbox) = outbox(100);
        outbox.try_send(notice(1)).unwrap();
        let patience = Duration::from_millis(100);
        let start = Instant::now();
        outbox.wait_below(1, patience);
        assert!(start.elapsed() >= Duration::from_millis(90));
        // Not draining any more: nobody waits for it, though it is not given up on yet...
        assert_eq!(outbox.backlog(Instant::now(), 1, patience, LONG), Backlog::Fine);
        // ...until the stall window.
        assert_eq!(outbox.backlog(Instant::now() + LONG, 1, patience, LONG), Backlog::Stalled);
    }
}
