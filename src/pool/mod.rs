//! The key pool: which key a request gets, the lease that holds it, and the
//! state changes an answer causes. All state lives in [`store`]; the quota
//! arithmetic is in [`quota`].

pub mod quota;
pub mod store;

use crate::config::KeyEntry;
use crate::secret::ApiKey;
use anyhow::Result;
use jiff::Timestamp;
use quota::{Ask, Clock, Limit, LimitUse, Metric, Usage, Violation};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
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

/// A LOCKDOWN of one model on a key (or its group).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelStatus {
    /// The model (`*`: every model).
    pub model: String,
    /// Until when.
    pub until: Timestamp,
    /// Why.
    pub reason: String,
}

/// One key's state with until-when and why, and its quota standing.
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
    /// The group of keys sharing its quota, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Each declared or learned limit: used, left, when it frees up.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub usage: Vec<LimitUse>,
    /// Models locked down on this key (or its group).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ModelStatus>,
}

/// Limits, groups and the daily reset zone of a pool.
#[derive(Debug, Clone, Default)]
pub struct Quotas {
    /// Declared limits (connector, overridden by the INI file).
    pub limits: Vec<Limit>,
    /// Key name → the group whose quota it shares.
    pub groups: HashMap<String, String>,
    /// The time zone daily quotas reset in.
    pub tz: String,
}

/// The keys of one connector over one state dir.
#[derive(Debug)]
pub struct Pool {
    connector: String,
    keys: Vec<KeyEntry>,
    store: Store,
    default_lockdown_secs: u64,
    quotas: Quotas,
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
    /// The send recorded in the usage record.
    reservation: u64,
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

    /// The request went through and its answer is still streaming: a
    /// LOCKDOWN it was in is over; the key stays held by the returned lock.
    pub fn succeeded_holding(self) -> Result<KeyLock> {
        if self.lockdown.is_some() {
            self.pool.store.clear_lockdown(&self.lock)?;
        }
        Ok(self.lock)
    }

    /// The request went through: a LOCKDOWN it was in is over, and the
    /// tokens the answer reports replace the estimate.
    pub fn succeeded(self, tokens: Option<u64>) -> Result<()> {
        if self.lockdown.is_some() {
            self.pool.store.clear_lockdown(&self.lock)?;
            log::info!("key `{}` works again; its LOCKDOWN is cleared", self.name());
        }
        if let Some(tokens) = tokens.filter(|_| self.pool.counts_tokens()) {
            let lock = self
                .pool
                .store
                .lock_usage(&self.pool.usage_stem(self.index))?;
            let mut usage = lock.load();
            usage.correct(&self.pool.bucket(self.index), self.reservation, tokens);
            lock.save(&usage)?;
        }
        Ok(())
    }

    /// Rate limited. With the quotas the API named, those are locked down on
    /// the key's bucket (the key, or its whole group) — per model where the
    /// API says which — and learned where none was declared; without, the key
    /// itself is locked down until `until` (or the connector's default).
    pub fn rate_limited(
        self,
        until: Option<Timestamp>,
        source: LockdownSource,
        reason: &str,
        violations: &[Violation],
    ) -> Result<Timestamp> {
        let now = Timestamp::now();
        let end = until.unwrap_or_else(|| {
            now.saturating_add(jiff::SignedDuration::from_secs(
                self.pool.default_lockdown_secs as i64,
            ))
            .unwrap_or(now)
        });
        let lock = self
            .pool
            .store
            .lock_usage(&self.pool.usage_stem(self.index))?;
        let mut usage = lock.load();
        let bucket = self.pool.bucket(self.index);
        usage.forget(&bucket, self.reservation);
        let clock = self.pool.clock(now);
        for violation in violations {
            usage.learn(
                &bucket,
                &self.pool.quotas.limits,
                violation,
                end,
                reason,
                &clock,
            );
        }
        lock.save(&usage)?;
        drop(lock);
        if violations.is_empty() {
            let lockdown = Lockdown {
                until: Some(end),
                reason: reason.to_string(),
                source,
                since: now,
            };
            self.pool.store.write_lockdown(&self.lock, &lockdown)?;
        }
        Ok(end)
    }

    /// The key is bad: ERROR until cleaned up.
    pub fn mark_error(self, reason: &str) -> Result<()> {
        let mark = ErrorMark {
            reason: reason.to_string(),
            since: Timestamp::now(),
        };
        self.pool.store.write_error(&self.lock, &mark)?;
        let lock = self
            .pool
            .store
            .lock_usage(&self.pool.usage_stem(self.index))?;
        let mut usage = lock.load();
        usage.forget(&self.pool.bucket(self.index), self.reservation);
        lock.save(&usage)
    }

    /// Clears an ERROR marker (a health check found the key good again).
    pub fn clear_error(&self) -> Result<bool> {
        self.pool.store.clear_error(&self.lock)
    }
}

/// Why no key could be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoKey {
    /// Every key has been tried in this call.
    AllTried,
    /// Every key not yet tried is in ERROR.
    AllBad {
        /// How many.
        errors: usize,
    },
    /// The keys left are locked down or out of quota past the wait: the
    /// soonest comes back then.
    LockedDown {
        /// When.
        soonest: Timestamp,
        /// Which key.
        key: String,
        /// Whether every key waits for the daily reset.
        daily: bool,
    },
    /// The wait ran out while other processes held the keys left.
    TimedOut {
        /// Keys held elsewhere.
        busy: usize,
        /// The soonest key back from a LOCKDOWN, if any.
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
        let quotas = Quotas {
            tz: crate::http::classify::DAILY_RESET_TZ.into(),
            ..Quotas::default()
        };
        Pool {
            connector: connector.to_string(),
            keys,
            store,
            default_lockdown_secs,
            quotas,
        }
    }

    /// The same pool with limits and groups.
    pub fn with_quotas(mut self, quotas: Quotas) -> Pool {
        self.quotas = quotas;
        self
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

    fn bucket(&self, i: usize) -> String {
        let name = &self.keys[i].name;
        match self.quotas.groups.get(name) {
            Some(group) => format!("group:{group}"),
            None => format!("key:{name}"),
        }
    }

    /// The file stem of key `i`'s usage record: `<connector>_<key>`, or
    /// `<connector>_group~<group>` for a group (`~` is never in a key name).
    fn usage_stem(&self, i: usize) -> String {
        let name = &self.keys[i].name;
        match self.quotas.groups.get(name) {
            Some(group) => format!("{}_group~{group}", self.connector),
            None => format!("{}_{name}", self.connector),
        }
    }

    fn clock(&self, now: Timestamp) -> Clock<'_> {
        Clock {
            now,
            tz: &self.quotas.tz,
        }
    }

    fn counts_tokens(&self) -> bool {
        self.quotas
            .limits
            .iter()
            .any(|l| l.metric == Metric::Tokens)
    }

    /// Takes a key not in `tried` with room for `ask`, waiting for one until
    /// `deadline`.
    ///
    /// VACANT keys come first, starting after the last one handed out (the
    /// cursor is shared by every process, so the load spreads and the least
    /// recently used key goes next); a key whose quota is full is skipped
    /// until the time it has room again. Then, as a last resort, keys whose
    /// LOCKDOWN end was only guessed. ERROR keys never; keys locked down
    /// until a time the API gave, not before then. When nothing can come
    /// back before the deadline, it says so at once instead of waiting.
    pub fn acquire(
        &self,
        tried: &HashSet<usize>,
        deadline: Instant,
        ask: &Ask,
    ) -> Result<Result<Lease<'_>, NoKey>> {
        let n = self.keys.len();
        let mut backoff = Backoff::new();
        loop {
            let now = Timestamp::now();
            let clock = self.clock(now);
            let markers = self.store.markers(&self.connector)?;
            let start = self.store.cursor(&self.connector) % n.max(1);
            let (mut busy, mut errors) = (0usize, 0usize);
            let mut soonest: Option<(Timestamp, usize)> = None;
            let mut all_daily = true;
            let mut guessed: Vec<(Timestamp, usize)> = Vec::new();
            let mut note = |end: Timestamp,
                            i: usize,
                            daily: bool,
                            soonest: &mut Option<(Timestamp, usize)>| {
                all_daily &= daily;
                if soonest.is_none_or(|s| (end, i) < s) {
                    *soonest = Some((end, i));
                }
            };
            let mut exact: Vec<(Timestamp, usize)> = Vec::new();
            let taken = {
                // Takes key `i` if it is free and its bucket has room for `ask`.
                let mut try_key = |i: usize,
                                   busy: &mut usize,
                                   soonest: &mut Option<(Timestamp, usize)>|
                 -> Result<Option<Lease<'_>>> {
                    let mut lease = match self.take(i, now)? {
                        Taken::Lease(lease) => lease,
                        Taken::Busy => {
                            *busy += 1;
                            return Ok(None);
                        }
                        Taken::Blocked => return Ok(None),
                    };
                    let usage_lock = self.store.lock_usage(&self.usage_stem(i))?;
                    let mut usage = usage_lock.load();
                    usage.prune(&clock, &self.quotas.limits);
                    let bucket = self.bucket(i);
                    if let Err(later) = usage.room(&bucket, &self.quotas.limits, ask, &clock) {
                        log::debug!(
                            "key `{}` has no room until {:.0}: {}",
                            self.keys[i].name,
                            later.at,
                            later.why
                        );
                        note(later.at, i, later.daily, soonest);
                        return Ok(None);
                    }
                    lease.reservation = usage.record(&bucket, ask, &clock);
                    usage_lock.save(&usage)?;
                    Ok(Some(lease))
                };
                let mut taken = None;
                for i in (start..n).chain(0..start) {
                    if tried.contains(&i) {
                        continue;
                    }
                    match self.blocker(markers.get(&self.keys[i].name), now) {
                        Blocker::Error => errors += 1,
                        Blocker::Exact(end) => exact.push((end, i)),
                        Blocker::Guessed(end) => guessed.push((end, i)),
                        Blocker::None => {
                            if let Some(lease) = try_key(i, &mut busy, &mut soonest)? {
                                taken = Some(lease);
                                break;
                            }
                        }
                    }
                }
                if taken.is_none() {
                    guessed.sort();
                    for &(_, i) in &guessed {
                        if let Some(lease) = try_key(i, &mut busy, &mut soonest)? {
                            log::info!(
                                "no key is free: trying `{}` before its LOCKDOWN ends",
                                lease.name()
                            );
                            taken = Some(lease);
                            break;
                        }
                    }
                }
                taken
            };
            for (end, i) in exact {
                note(end, i, false, &mut soonest);
            }
            if let Some(lease) = taken {
                self.store.set_cursor(&self.connector, lease.index + 1);
                return Ok(Ok(lease));
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
                    return Ok(Err(NoKey::LockedDown {
                        soonest: end,
                        key,
                        daily: all_daily,
                    }));
                }
                log::info!("no key has room; waiting {until_end:.1?} for `{key}`");
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

    /// Whether every usable key is out of its daily quota for `model`.
    pub fn daily_exhausted(&self, model: &str) -> Result<bool> {
        let now = Timestamp::now();
        let clock = self.clock(now);
        let markers = self.store.markers(&self.connector)?;
        let ask = Ask {
            model: Some(model.to_string()),
            tokens: 1,
        };
        let mut any = false;
        for i in 0..self.keys.len() {
            if markers
                .get(&self.keys[i].name)
                .is_some_and(|m| m.error.is_some())
            {
                continue;
            }
            let usage = self.store.usage(&self.usage_stem(i));
            match usage.room(&self.bucket(i), &self.quotas.limits, &ask, &clock) {
                Err(later) if later.daily => any = true,
                _ => return Ok(false),
            }
        }
        Ok(any)
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
            reservation: 0,
        }))
    }

    /// Takes key `i` for a health check, waiting up to `deadline` if another
    /// process holds it; ERROR and LOCKDOWN keys are taken too.
    pub fn take_for_check(&self, i: usize, deadline: Instant) -> Result<Option<Lease<'_>>> {
        let mut backoff = Backoff::new();
        loop {
            if let Some(lock) = self.store.try_lock(&self.connector, &self.keys[i].name)? {
                return Ok(Some(Lease {
                    pool: self,
                    index: i,
                    lock,
                    lockdown: None,
                    reservation: 0,
                }));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            std::thread::sleep(backoff.next().min(left));
        }
    }

    /// Every key's state, in configuration order.
    pub fn states(&self) -> Result<Vec<KeyStatus>> {
        let now = Timestamp::now();
        let clock = self.clock(now);
        let markers = self.store.markers(&self.connector)?;
        (0..self.keys.len())
            .map(|i| {
                let usage: Usage = self.store.usage(&self.usage_stem(i));
                let entry = &self.keys[i];
                let bucket = self.bucket(i);
                let models: Vec<ModelStatus> = usage
                    .lockdowns(&bucket, &clock)
                    .into_iter()
                    .map(|(model, l)| ModelStatus {
                        model,
                        until: l.until,
                        reason: l.reason,
                    })
                    .collect();
                let mut status = KeyStatus {
                    name: entry.name.clone(),
                    state: State::Vacant,
                    until: None,
                    reason: None,
                    group: self.quotas.groups.get(&entry.name).cloned(),
                    usage: usage.standing(&bucket, &self.quotas.limits, &clock),
                    models: Vec::new(),
                };
                let m = markers.get(&entry.name);
                if let Some(err) = m.and_then(|m| m.error.as_ref()) {
                    status.state = State::Error;
                    status.reason = Some(err.reason.clone());
                } else if let Some(holder) = self.store.holder(&self.connector, &entry.name)? {
                    status.state = State::Locked;
                    status.reason = Some(format!("in use by {holder}"));
                } else if let Some(ld) = m
                    .and_then(|m| m.lockdown.as_ref())
                    .filter(|ld| ld.ends(self.default_lockdown_secs) > now)
                {
                    status.state = State::Lockdown;
                    status.until = Some(ld.ends(self.default_lockdown_secs));
                    status.reason = Some(ld.reason.clone());
                } else if let Some(first) = models.iter().min_by_key(|m| m.until) {
                    // Locked down for some model(s): usable for others.
                    status.state = State::Lockdown;
                    status.until = Some(first.until);
                    status.reason = Some(if first.model == quota::ALL_MODELS {
                        first.reason.clone()
                    } else {
                        format!("{} only: {}", first.model, first.reason)
                    });
                }
                status.models = models;
                Ok(status)
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
