//! The key pool: which key a request gets, the lease that holds it, and the
//! state changes an answer causes. All state lives in [`store`].

pub mod store;

use crate::config::KeyEntry;
use crate::secret::ApiKey;
use anyhow::Result;
use jiff::Timestamp;
use serde::Serialize;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use store::{ErrorMark, KeyLock, KeyMarkers, Lockdown, LockdownSource, Store};

/// A key's state, as `status` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Free for the next request.
    Vacant,
    /// A live process is using it right now.
    Locked,
    /// Rate limited until `until`.
    Lockdown,
    /// The key is bad; never used again until cleaned up.
    Error,
}

impl State {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Vacant => "vacant",
            State::Locked => "locked",
            State::Lockdown => "lockdown",
            State::Error => "error",
        }
    }
}

/// One key's state with until-when and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyStatus {
    /// The key's name (never its value).
    pub name: String,
    /// Its state now.
    pub state: State,
    /// When a LOCKDOWN ends.
    pub until: Option<Timestamp>,
    /// Why it is in this state.
    pub reason: Option<String>,
}

/// The keys of one connector over one state dir.
#[derive(Debug)]
pub struct Pool {
    connector: String,
    keys: Vec<KeyEntry>,
    store: Store,
    default_lockdown_secs: u64,
}

/// A key held for one request. Dropping it releases the key (VACANT again);
/// the methods that consume it record what the answer meant first.
#[derive(Debug)]
pub struct Lease<'p> {
    pool: &'p Pool,
    index: usize,
    lock: KeyLock,
    /// The LOCKDOWN it was taken out of, when tried as a last resort.
    lockdown: Option<Lockdown>,
}

impl Lease<'_> {
    /// The key's name.
    pub fn name(&self) -> &str {
        &self.pool.keys[self.index].name
    }

    /// The key's position in the pool.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The key itself, for the request.
    pub fn key(&self) -> &ApiKey {
        &self.pool.keys[self.index].key
    }

    /// Whether it was taken from a LOCKDOWN as a last resort.
    pub fn was_locked_down(&self) -> bool {
        self.lockdown.is_some()
    }

    /// The request went through: a LOCKDOWN it was in is over.
    pub fn succeeded(self) -> Result<()> {
        if self.lockdown.is_some() {
            self.pool.store.clear_lockdown(&self.lock)?;
            log::info!("key `{}` works again; its LOCKDOWN is cleared", self.name());
        }
        Ok(())
    }

    /// Rate limited: LOCKDOWN until `until` (or the connector's default).
    pub fn lock_down(
        self,
        until: Option<Timestamp>,
        source: LockdownSource,
        reason: &str,
    ) -> Result<Timestamp> {
        let now = Timestamp::now();
        let lockdown = Lockdown {
            until: Some(until.unwrap_or_else(|| {
                now.saturating_add(jiff::SignedDuration::from_secs(
                    self.pool.default_lockdown_secs as i64,
                ))
                .unwrap_or(now)
            })),
            reason: reason.to_string(),
            source,
            since: now,
        };
        self.pool.store.write_lockdown(&self.lock, &lockdown)?;
        Ok(lockdown.ends(self.pool.default_lockdown_secs))
    }

    /// The key is bad: ERROR until cleaned up.
    pub fn mark_error(self, reason: &str) -> Result<()> {
        let mark = ErrorMark {
            reason: reason.to_string(),
            since: Timestamp::now(),
        };
        self.pool.store.write_error(&self.lock, &mark)
    }
}

/// Why no key could be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoKey {
    /// Every key has been tried in this call.
    AllTried,
    /// Every key not yet tried is in ERROR.
    AllBad { errors: usize },
    /// The keys left are locked down past the wait: the soonest comes back then.
    LockedDown { soonest: Timestamp, key: String },
    /// The wait ran out while other processes held the keys left.
    TimedOut {
        busy: usize,
        soonest: Option<(Timestamp, String)>,
    },
}

impl Pool {
    /// A pool of `keys` for `connector`, kept in `store`.
    pub fn new(
        connector: &str,
        keys: Vec<KeyEntry>,
        store: Store,
        default_lockdown_secs: u64,
    ) -> Pool {
        Pool {
            connector: connector.to_string(),
            keys,
            store,
            default_lockdown_secs,
        }
    }

    /// The connector's name.
    pub fn connector(&self) -> &str {
        &self.connector
    }

    /// The keys.
    pub fn keys(&self) -> &[KeyEntry] {
        &self.keys
    }

    /// The state dir.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Takes a key not in `tried`, waiting for one until `deadline`.
    ///
    /// VACANT keys come first, starting after the last one handed out (the
    /// cursor is shared by every process, so the load spreads and the least
    /// recently used key goes next); then, as a last resort, keys whose
    /// LOCKDOWN end was only guessed. ERROR keys never; keys locked down until
    /// a time the API gave, not before then. When nothing can come back
    /// before the deadline, it says so at once instead of waiting.
    pub fn acquire(
        &self,
        tried: &HashSet<usize>,
        deadline: Instant,
    ) -> Result<Result<Lease<'_>, NoKey>> {
        let n = self.keys.len();
        let mut backoff = Backoff::new();
        loop {
            let now = Timestamp::now();
            let markers = self.store.markers(&self.connector)?;
            let start = self.store.cursor(&self.connector) % n.max(1);
            let (mut busy, mut errors) = (0usize, 0usize);
            let mut soonest: Option<(Timestamp, usize)> = None;
            let mut guessed: Vec<(Timestamp, usize)> = Vec::new();
            for i in (start..n).chain(0..start) {
                if tried.contains(&i) {
                    continue;
                }
                let name = &self.keys[i].name;
                match self.blocker(markers.get(name), now) {
                    Blocker::Error => {
                        errors += 1;
                        continue;
                    }
                    Blocker::Exact(end) => {
                        if soonest.is_none_or(|s| (end, i) < s) {
                            soonest = Some((end, i));
                        }
                        continue;
                    }
                    Blocker::Guessed(end) => {
                        guessed.push((end, i));
                        continue;
                    }
                    Blocker::None => {}
                }
                match self.take(i, now)? {
                    Taken::Lease(lease) => {
                        self.store.set_cursor(&self.connector, i + 1);
                        return Ok(Ok(lease));
                    }
                    Taken::Busy => busy += 1,
                    Taken::Blocked => {}
                }
            }
            guessed.sort();
            for &(_, i) in &guessed {
                match self.take(i, now)? {
                    Taken::Lease(lease) => {
                        log::info!(
                            "no key is free: trying `{}` before its LOCKDOWN ends",
                            lease.name()
                        );
                        return Ok(Ok(lease));
                    }
                    Taken::Busy => busy += 1,
                    Taken::Blocked => {}
                }
            }

            if tried.len() >= n {
                return Ok(Err(NoKey::AllTried));
            }
            let soonest_named = soonest.map(|(t, i)| (t, self.keys[i].name.clone()));
            if busy == 0 && guessed.is_empty() && soonest.is_none() {
                // What is left is in ERROR: nothing will come back.
                return Ok(Err(if tried.is_empty() {
                    NoKey::AllBad { errors }
                } else {
                    NoKey::AllTried
                }));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if busy == 0 && guessed.is_empty() {
                let (end, key) = soonest_named.clone().expect("invariant: checked above");
                let until_end = duration_until(end);
                if until_end > left {
                    return Ok(Err(NoKey::LockedDown { soonest: end, key }));
                }
                log::info!("all keys are rate limited; waiting {until_end:.1?} for `{key}`");
                std::thread::sleep(until_end);
                continue;
            }
            if left.is_zero() {
                return Ok(Err(NoKey::TimedOut {
                    busy,
                    soonest: soonest_named,
                }));
            }
            let mut pause = backoff.next().min(left);
            if let Some((end, _)) = soonest {
                pause = pause.min(duration_until(end).max(Duration::from_millis(1)));
            }
            log::debug!("no key free ({busy} in use elsewhere); polling again in {pause:?}");
            std::thread::sleep(pause);
        }
    }

    fn blocker(&self, markers: Option<&KeyMarkers>, now: Timestamp) -> Blocker {
        let Some(markers) = markers else {
            return Blocker::None;
        };
        if markers.error.is_some() {
            return Blocker::Error;
        }
        match &markers.lockdown {
            Some(ld) if ld.ends(self.default_lockdown_secs) > now => {
                let end = ld.ends(self.default_lockdown_secs);
                if ld.source.is_exact() {
                    Blocker::Exact(end)
                } else {
                    Blocker::Guessed(end)
                }
            }
            _ => Blocker::None,
        }
    }

    /// Locks key `i`, then reads its markers again under the lock: another
    /// process may have marked it between our listing and our lock.
    fn take(&self, i: usize, now: Timestamp) -> Result<Taken<'_>> {
        let name = &self.keys[i].name;
        let Some(lock) = self.store.try_lock(&self.connector, name)? else {
            return Ok(Taken::Busy);
        };
        let fresh = self.store.key_markers(&self.connector, name)?;
        let lockdown = match (self.blocker(Some(&fresh), now), fresh.lockdown) {
            (Blocker::Error | Blocker::Exact(_), _) => return Ok(Taken::Blocked),
            (Blocker::Guessed(_), lockdown) => lockdown,
            (Blocker::None, Some(_)) => {
                // Over: tidy the marker away while we hold the key.
                self.store.clear_lockdown(&lock)?;
                None
            }
            (Blocker::None, None) => None,
        };
        Ok(Taken::Lease(Lease {
            pool: self,
            index: i,
            lock,
            lockdown,
        }))
    }

    /// Every key's state, in configuration order.
    pub fn states(&self) -> Result<Vec<KeyStatus>> {
        let now = Timestamp::now();
        let markers = self.store.markers(&self.connector)?;
        self.keys
            .iter()
            .map(|entry| {
                let m = markers.get(&entry.name);
                let status = |state, until, reason: Option<String>| KeyStatus {
                    name: entry.name.clone(),
                    state,
                    until,
                    reason,
                };
                if let Some(err) = m.and_then(|m| m.error.as_ref()) {
                    return Ok(status(State::Error, None, Some(err.reason.clone())));
                }
                if let Some(holder) = self.store.holder(&self.connector, &entry.name)? {
                    return Ok(status(
                        State::Locked,
                        None,
                        Some(format!("in use by {holder}")),
                    ));
                }
                match m.and_then(|m| m.lockdown.as_ref()) {
                    Some(ld) if ld.ends(self.default_lockdown_secs) > now => Ok(status(
                        State::Lockdown,
                        Some(ld.ends(self.default_lockdown_secs)),
                        Some(ld.reason.clone()),
                    )),
                    _ => Ok(status(State::Vacant, None, None)),
                }
            })
            .collect()
    }
}

enum Blocker {
    None,
    Error,
    Exact(Timestamp),
    Guessed(Timestamp),
}

enum Taken<'p> {
    Lease(Lease<'p>),
    Busy,
    Blocked,
}

fn duration_until(t: Timestamp) -> Duration {
    let d = t.duration_since(Timestamp::now());
    d.try_into().unwrap_or(Duration::ZERO)
}

/// Polling pauses: short at first, growing to 100 ms, with jitter so that
/// waiting processes don't move in step.
struct Backoff {
    next_ms: f64,
    seed: u64,
}

impl Backoff {
    fn new() -> Backoff {
        let seed = u64::from(std::process::id()) ^ (Timestamp::now().as_nanosecond() as u64) | 1;
        Backoff { next_ms: 2.0, seed }
    }

    fn next(&mut self) -> Duration {
        // xorshift64: good enough for jitter.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let jitter = 0.7 + (self.seed % 600) as f64 / 1000.0;
        let ms = self.next_ms * jitter;
        self.next_ms = (self.next_ms * 1.5).min(100.0);
        Duration::from_secs_f64(ms / 1000.0)
    }
}
