//! The requests of this process that wait for a key, a higher priority
//! first, then in arrival order. A released key goes straight to the first
//! of them that can use it, still held, so no later request (of this
//! process) can slip in before them — unless a call of another process
//! stands before that one in the line ([`super::line`]): then the key goes
//! back to the store, for that call.

use super::line::{InLine, Place};
use super::state::{KeyHold, StateStore};
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// The queue.
#[derive(Debug)]
pub(crate) struct Waiters {
    queue: Mutex<VecDeque<Arc<Waiter>>>,
    /// Where the line across processes is kept.
    store: Arc<dyn StateStore>,
    /// Keys let go by a call of normal or high priority, kept a moment for
    /// this process's next call of that priority or higher (see
    /// [`Waiters::offer`]); `None`: keys are never kept.
    linger: Option<Arc<Lingering>>,
}

/// Keys kept a moment after their call let go of them.
#[derive(Debug)]
pub(crate) struct Lingering {
    keys: Mutex<Vec<Kept>>,
    /// Tells the thread that lets them go of a new one.
    changed: Condvar,
    /// How long a key is kept.
    moment: Duration,
}

#[derive(Debug)]
struct Kept {
    index: usize,
    hold: Box<dyn KeyHold>,
    priority: super::Priority,
    until: std::time::Instant,
}

#[derive(Debug)]
struct Waiter {
    slot: Mutex<Slot>,
    wake: Condvar,
    /// Its place, and the line (model) it stands in.
    place: Place,
    line: String,
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
    /// Its standing in the line across processes (left after the queue).
    _standing: Option<Box<dyn InLine>>,
}

impl Waiters {
    pub(crate) fn new(store: Arc<dyn StateStore>, linger: Option<Duration>) -> Waiters {
        let linger = linger.and_then(|moment| {
            let lingering = Arc::new(Lingering {
                keys: Mutex::new(Vec::new()),
                changed: Condvar::new(),
                moment,
            });
            let weak = Arc::downgrade(&lingering);
            let spawned = std::thread::Builder::new()
                .name("jongler-linger".into())
                .spawn(move || let_go_in_time(&weak));
            match spawned {
                Ok(_) => Some(lingering),
                Err(e) => {
                    // Nothing would let kept keys go: keep none.
                    log::warn!("can't start the thread that lets kept keys go: {e}");
                    None
                }
            }
        });
        Waiters {
            queue: Mutex::new(VecDeque::new()),
            store,
            linger,
        }
    }

    /// Whether keys are kept a moment after their call lets go.
    pub(crate) fn lingers(&self) -> bool {
        self.linger.is_some()
    }

    /// A key kept for a call of `priority` (or lower), not in `tried`.
    pub(crate) fn take_kept(
        &self,
        tried: &HashSet<usize>,
        priority: super::Priority,
    ) -> Option<(usize, Box<dyn KeyHold>)> {
        let linger = self.linger.as_ref()?;
        let mut keys = linger.lock();
        let at = keys
            .iter()
            .position(|k| k.priority <= priority && !tried.contains(&k.index))?;
        let kept = keys.swap_remove(at);
        Some((kept.index, kept.hold))
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<Waiter>>> {
        self.queue.lock().expect("invariant: no panics under lock")
    }

    /// Whether any request waits.
    pub(crate) fn has_waiters(&self) -> bool {
        !self.queue().is_empty()
    }

    /// Joins the queue at `place` (behind every waiter of its priority or
    /// higher), standing in `line` across processes as `standing`; `tried`
    /// are keys it won't take.
    pub(crate) fn join(
        self: &Arc<Self>,
        tried: &HashSet<usize>,
        place: &Place,
        line: &str,
        standing: Option<Box<dyn InLine>>,
    ) -> Queued {
        let waiter = Arc::new(Waiter {
            slot: Mutex::new(Slot {
                excluded: tried.clone(),
                ..Slot::default()
            }),
            wake: Condvar::new(),
            place: place.clone(),
            line: line.to_string(),
        });
        let mut queue = self.queue();
        let at = queue
            .iter()
            .position(|w| !waiter.place.is_after(w.place.name()))
            .unwrap_or(queue.len());
        queue.insert(at, waiter.clone());
        drop(queue);
        Queued {
            waiter,
            waiters: self.clone(),
            _standing: standing,
        }
    }

    /// Hands a released key to the first waiter that can use it; with none,
    /// or with a call of another process before it in the line, the hold is
    /// dropped (the key is free for everyone, that call first).
    ///
    /// A key let go by a call (`by`: its priority and line), with nobody of
    /// this process waiting for it and only calls of lower priority of other
    /// processes waiting in the line, is kept a moment for this process's
    /// next call of that priority or higher: a client sending one request
    /// after another gets its next key before a lower-priority call of
    /// another process (which would take it the instant it is let go) —
    /// else every request of it would wait for a key to come free again.
    /// With nobody else waiting, keys go back at once (and the next call
    /// takes the least recently used).
    pub(crate) fn offer(
        &self,
        index: usize,
        hold: Box<dyn KeyHold>,
        by: Option<(super::Priority, &str)>,
    ) {
        let queue = self.queue();
        for waiter in queue.iter() {
            let mut slot = waiter.lock();
            if slot.given.is_none() && !slot.excluded.contains(&index) {
                let yields = self
                    .store
                    .ahead(&waiter.line, &waiter.place, true)
                    .unwrap_or_else(|e| {
                        log::debug!("can't read the line: {e:#}");
                        false
                    });
                if yields {
                    break;
                }
                slot.given = Some((index, hold));
                slot.woken = true;
                waiter.wake.notify_one();
                return;
            }
        }
        drop(queue);
        if let (Some(linger), Some((priority, line))) = (&self.linger, by)
            && self.behind_only_lower(line, priority)
        {
            linger.keep(index, hold, priority);
            return;
        }
        drop(hold);
    }

    /// Whether calls of other processes wait in `line`, all of them of a
    /// priority lower than `priority` (then a key let go is kept a moment).
    fn behind_only_lower(&self, line: &str, priority: super::Priority) -> bool {
        match self.store.first_in_line(line, true) {
            Ok(Some(first)) => !Place::arriving(priority).is_after(&first),
            Ok(None) => false,
            Err(e) => {
                log::debug!("can't read the line: {e:#}");
                false
            }
        }
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

impl Drop for Waiters {
    fn drop(&mut self) {
        // Kept keys go now (the thread would let them go only later).
        if let Some(linger) = &self.linger {
            linger.lock().clear();
        }
    }
}

impl Lingering {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Kept>> {
        self.keys.lock().expect("invariant: no panics under lock")
    }

    fn keep(&self, index: usize, hold: Box<dyn KeyHold>, priority: super::Priority) {
        self.lock().push(Kept {
            index,
            hold,
            priority,
            until: std::time::Instant::now() + self.moment,
        });
        self.changed.notify_one();
    }
}

/// Lets kept keys go when their moment is over, until the waiters are gone.
fn let_go_in_time(lingering: &std::sync::Weak<Lingering>) {
    loop {
        let Some(linger) = lingering.upgrade() else {
            return;
        };
        let mut keys = linger.lock();
        let now = std::time::Instant::now();
        // Dropped outside the lock: letting go may take a round trip.
        let (over, kept): (Vec<Kept>, Vec<Kept>) = std::mem::take(&mut *keys)
            .into_iter()
            .partition(|k| k.until <= now);
        *keys = kept;
        let next = keys.iter().map(|k| k.until).min();
        if !over.is_empty() {
            drop(keys);
            drop(over);
            continue;
        }
        let wait = next.map_or(Duration::from_secs(1), |t| t.saturating_duration_since(now));
        let _unused = linger
            .changed
            .wait_timeout(keys, wait)
            .expect("invariant: no panics under lock");
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
            self.waiters.offer(index, hold, None);
        }
    }
}
