//! The requests of this process that wait for a key, in arrival order. A
//! released key goes straight to the first of them that can use it, still
//! held, so no later request (of this process) can slip in before them.

use super::state::KeyHold;
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// The queue.
#[derive(Debug)]
pub(crate) struct Waiters {
    queue: Mutex<VecDeque<Arc<Waiter>>>,
}

#[derive(Debug)]
struct Waiter {
    slot: Mutex<Slot>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct Slot {
    /// Woken since it last looked.
    woken: bool,
    /// A key handed over: its index and hold.
    given: Option<(usize, Box<dyn KeyHold>)>,
    /// Keys it can't use (tried in this call, or declined).
    excluded: HashSet<usize>,
}

/// A place in the queue; dropping it leaves the queue (and passes on a key
/// handed over too late).
pub(crate) struct Queued {
    waiter: Arc<Waiter>,
    waiters: Arc<Waiters>,
}

impl Waiters {
    pub(crate) fn new() -> Waiters {
        Waiters {
            queue: Mutex::new(VecDeque::new()),
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<Waiter>>> {
        self.queue.lock().expect("invariant: no panics under lock")
    }

    /// Whether any request waits.
    pub(crate) fn has_waiters(&self) -> bool {
        !self.queue().is_empty()
    }

    /// Joins the end of the queue; `tried` are keys it won't take.
    pub(crate) fn join(self: &Arc<Self>, tried: &HashSet<usize>) -> Queued {
        let waiter = Arc::new(Waiter {
            slot: Mutex::new(Slot {
                excluded: tried.clone(),
                ..Slot::default()
            }),
            wake: Condvar::new(),
        });
        self.queue().push_back(waiter.clone());
        Queued {
            waiter,
            waiters: self.clone(),
        }
    }

    /// Hands a released key to the first waiter that can use it; with none,
    /// the hold is dropped (the key is free for everyone).
    pub(crate) fn offer(&self, index: usize, hold: Box<dyn KeyHold>) {
        let queue = self.queue();
        for waiter in queue.iter() {
            let mut slot = waiter.lock();
            if slot.given.is_none() && !slot.excluded.contains(&index) {
                slot.given = Some((index, hold));
                slot.woken = true;
                waiter.wake.notify_one();
                return;
            }
        }
        drop(queue);
        drop(hold);
    }

    /// Wakes every waiter, to look again (the pool was replaced by a reload).
    pub(crate) fn wake_all(&self) {
        for waiter in self.queue().iter() {
            waiter.lock().woken = true;
            waiter.wake.notify_one();
        }
    }

    /// Wakes the first waiter not woken yet, to look at the keys again
    /// (another process released one).
    pub(crate) fn wake_first(&self) {
        for waiter in self.queue().iter() {
            let mut slot = waiter.lock();
            if !slot.woken {
                slot.woken = true;
                waiter.wake.notify_one();
                return;
            }
        }
    }
}

impl Waiter {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().expect("invariant: no panics under lock")
    }
}

impl Queued {
    /// Sleeps until woken or `timeout`; a key handed over, if any.
    pub(crate) fn wait(&self, timeout: Duration) -> Option<(usize, Box<dyn KeyHold>)> {
        let slot = self.waiter.lock();
        let (mut slot, _) = self
            .waiter
            .wake
            .wait_timeout_while(slot, timeout, |s| !s.woken)
            .expect("invariant: no panics under lock");
        slot.woken = false;
        slot.given.take()
    }

    /// This key doesn't fit: don't hand it over again.
    pub(crate) fn decline(&self, index: usize) {
        self.waiter.lock().excluded.insert(index);
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.waiters
            .queue()
            .retain(|w| !Arc::ptr_eq(w, &self.waiter));
        let late = self.waiter.lock().given.take();
        if let Some((index, hold)) = late {
            self.waiters.offer(index, hold);
        }
    }
}
