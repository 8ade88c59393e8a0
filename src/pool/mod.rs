//! The key pool: which key a request gets, the lease that holds it, and the
//! state changes an answer causes. State is reached only through the
//! [`StateStore`] interface ([`files`] is the marker-file store); the quota
//! arithmetic is in [`quota`].
//!
//! Choosing a key costs O(1) in the common case: from the shared cursor, one
//! key at a time is examined (its marks, then its hold) and the first usable
//! one is taken; every key is looked at only when none is free. A request
//! that must wait queues in this process: a key released here is handed
//! straight to the first waiter that can use it, and a release in another
//! process wakes the queue through the store's watch.

pub mod cost;
pub mod files;
pub mod history;
pub mod line;
pub mod quota;
pub mod redis;
pub mod state;
mod waiters;

#[cfg(test)]
mod contract;

use crate::secret::ApiKey;
use anyhow::Result;
use jiff::Timestamp;
use quota::{Ask, Clock, Limit, LimitUse, Metric, Usage, Violation};
use serde::Serialize;
use state::{
    Attempt, BucketId, CleanReport, ErrorMark, KeyHold, KeyMarks, Lockdown, LockdownSource, Mark,
    MarkKind, StateStore,
};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use waiters::Waiters;

/// Where key state lives: the marker files of a state dir (one machine), or
/// a Redis shared by every machine that names it.
#[derive(Debug, Clone)]
pub enum Backend {
    /// Marker files in this dir.
    Files(std::path::PathBuf),
    /// A Redis server.
    Redis {
        /// The server.
        server: redis::Server,
        /// How long a dead holder's key stays LOCKED.
        lease_ttl: Duration,
    },
}

/// Environment variable naming a Redis URL for key state.
pub const STATE_ENV: &str = "JONGLER_STATE";

impl Backend {
    /// Redis when `state` (else `$JONGLER_STATE`) names one, else the files
    /// in `state_dir`.
    pub fn resolve(
        state: Option<&str>,
        state_dir: &std::path::Path,
        lease_ttl: Duration,
    ) -> Result<Backend> {
        let from_env = std::env::var(STATE_ENV).ok().filter(|v| !v.is_empty());
        let Some(url) = state.map(str::to_string).or(from_env) else {
            return Ok(Backend::Files(state_dir.to_path_buf()));
        };
        let schemes = [
            "redis://",
            "rediss://",
            "redis+sentinel://",
            "rediss+sentinel://",
        ];
        if !schemes.iter().any(|s| url.starts_with(s)) {
            return Err(crate::error::usage(
                "--state takes a redis://, rediss:// or redis+sentinel:// URL (for a directory, use --state-dir)",
            ));
        }
        if lease_ttl < Duration::from_millis(100) {
            return Err(crate::error::usage(
                "--lease-ttl must be at least 0.1 seconds",
            ));
        }
        Ok(Backend::Redis {
            server: redis::Server::open(&url)?,
            lease_ttl,
        })
    }

    /// The store of `connector`; `others` are every known connector's name.
    pub fn store(&self, connector: &str, others: &[String]) -> Arc<dyn StateStore> {
        match self {
            Backend::Files(dir) => Arc::new(files::FileStore::new(dir, connector, others)),
            Backend::Redis { server, lease_ttl } => Arc::new(redis::RedisStore::new(
                server.clone(),
                connector,
                *lease_ttl,
            )),
        }
    }

    /// Where the state lives, for messages (`state dir /x`, `Redis host:port`).
    pub fn describe(&self) -> String {
        match self {
            Backend::Files(dir) => format!("state dir {}", dir.display()),
            Backend::Redis { server, .. } => format!("Redis {server:?}"),
        }
    }

    /// Cleans every connector's state (`--cleanup-all`).
    pub fn clean_all(&self) -> Result<CleanReport> {
        match self {
            Backend::Files(dir) => files::clean_all(dir),
            Backend::Redis { server, .. } => redis::clean_all(server),
        }
    }
}

/// Which waiting call gets the next free key: a higher priority first, then
/// the one that has waited longest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Batch work: after everyone else.
    Low,
    /// Interactive calls, `serve` requests.
    #[default]
    Normal,
    /// Before everyone else.
    High,
}

impl Priority {
    /// `low`, `normal` or `high`.
    pub fn parse(text: &str) -> Result<Priority, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "low" => Ok(Priority::Low),
            "normal" => Ok(Priority::Normal),
            "high" => Ok(Priority::High),
            other => Err(format!(
                "priority {other:?} is not one of low, normal, high"
            )),
        }
    }

    /// `low`, `normal` or `high`.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
        }
    }
}

/// One configured key: its name (used in marker files and messages) and value.
#[derive(Debug, Clone)]
pub struct KeyEntry {
    /// The INI label or environment variable name.
    pub name: String,
    /// The secret itself.
    pub key: ApiKey,
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
    /// Requests sent on its bucket today (since the daily reset).
    pub requests_today: u64,
    /// Rate-limit answers its bucket took today.
    pub rate_limited_today: u64,
}

/// The keys of one connector over one state store.
#[derive(Debug)]
pub struct Pool {
    connector: String,
    keys: Vec<KeyEntry>,
    store: Arc<dyn StateStore>,
    default_lockdown_secs: u64,
    quotas: Quotas,
    waiters: Arc<Waiters>,
    /// The store's watch, started by the first request that has to wait.
    watch: Mutex<Option<Box<dyn std::any::Any + Send + Sync>>>,
    watching: std::sync::atomic::AtomicBool,
    /// A reload put another pool in its place: it hands out no more keys
    /// (the leases it gave out finish as they are).
    superseded: std::sync::atomic::AtomicBool,
    /// Where each send is counted for the usage history, if anywhere.
    history: Option<Arc<history::Tally>>,
}

/// A held key, apart from any pool borrow (a streamed answer keeps one).
/// Dropping it releases the key — to a request of this process waiting for
/// one, if there is one that can use it, else to everyone.
#[derive(Debug)]
pub struct Held {
    hold: Option<Box<dyn KeyHold>>,
    index: usize,
    waiters: Arc<Waiters>,
    /// The priority and line of the call holding it, for a key kept a
    /// moment after it lets go (`None`: never kept).
    linger: Option<(Priority, String)>,
}

/// How many keys this process holds right now (for the Ctrl-C message: a
/// signal handler may read an atomic, nothing more).
static HOLDING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Whether this process holds any key right now.
pub fn holding_any() -> bool {
    HOLDING.load(std::sync::atomic::Ordering::Relaxed) > 0
}

impl Held {
    fn new(hold: Box<dyn KeyHold>, index: usize, waiters: Arc<Waiters>) -> Held {
        HOLDING.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Held {
            hold: Some(hold),
            index,
            waiters,
            linger: None,
        }
    }

    fn hold(&self) -> &dyn KeyHold {
        self.hold.as_deref().expect("invariant: held until dropped")
    }

    /// Releases the key to everyone, skipping this process's waiters (it has
    /// just been marked: none of them could use it).
    fn release_to_all(mut self) {
        drop(self.hold.take());
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(hold) = self.hold.take() {
            // A hold given up (its lease couldn't be kept) goes back to the
            // store, not to the next call.
            if hold.cancel().is_some_and(|c| c.reason().is_some()) {
                drop(hold);
            } else {
                let by = self.linger.as_ref().map(|(p, line)| (*p, line.as_str()));
                self.waiters.offer(self.index, hold, by);
            }
        }
        HOLDING.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// One send that failed, in the usage history.
fn failed() -> history::Totals {
    history::Totals {
        requests: 1,
        errors: 1,
        ..Default::default()
    }
}

/// A key held for one request. Dropping it releases the key (VACANT again);
/// the methods that consume it record what the answer meant first.
#[derive(Debug)]
pub struct Lease<'p> {
    pool: &'p Pool,
    index: usize,
    held: Held,
    /// The LOCKDOWN it was taken out of, when tried as a last resort.
    lockdown: Option<Lockdown>,
    /// The send recorded in the usage record.
    reservation: Option<u64>,
    /// The tokens it was recorded with (the estimate).
    estimate: u64,
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

    /// What fires if the hold on the key is lost (its lease could not be
    /// renewed): the request on it stops.
    pub fn cancel(&self) -> Option<crate::http::Cancel> {
        self.held.hold().cancel()
    }

    /// The key itself, for the request.
    pub fn key(&self) -> &ApiKey {
        &self.pool.keys[self.index].key
    }

    /// The request went through and its answer is still streaming: a
    /// LOCKDOWN it was in is over; the key stays held by the returned guard.
    pub fn succeeded_holding(self, readings: Vec<quota::Observed>) -> Result<Held> {
        if self.lockdown.is_some() {
            self.pool
                .store
                .clear(self.held.hold(), MarkKind::Lockdown)?;
        }
        self.pool
            .observe(self.index, self.reservation, None, readings, true)?;
        self.pool.count(self.index, self.sent(None));
        Ok(self.held)
    }

    /// One send that went through, costing `tokens` (else the estimate).
    fn sent(&self, tokens: Option<u64>) -> history::Totals {
        history::Totals {
            requests: 1,
            tokens: tokens.unwrap_or(self.estimate),
            ..Default::default()
        }
    }

    /// The request went through: a LOCKDOWN it was in is over, and the
    /// tokens the answer reports replace the estimate.
    pub fn succeeded(self, tokens: Option<u64>) -> Result<()> {
        self.succeeded_with(tokens, Vec::new())
    }

    /// [`Lease::succeeded`], with what the answer's rate-limit headers said
    /// (their `at` is filled in from the send).
    pub fn succeeded_with(self, tokens: Option<u64>, readings: Vec<quota::Observed>) -> Result<()> {
        if self.lockdown.is_some() {
            self.pool
                .store
                .clear(self.held.hold(), MarkKind::Lockdown)?;
            log::info!("key `{}` works again; its LOCKDOWN is cleared", self.name());
        }
        self.pool.count(self.index, self.sent(tokens));
        // A count equal to the estimate would change nothing.
        let tokens = tokens.filter(|t| self.pool.counts_tokens() && *t != self.estimate);
        self.pool
            .observe(self.index, self.reservation, tokens, readings, true)
    }

    /// Keeps what a rate-limit answer's headers said of the key's quotas.
    pub fn observed(&self, readings: Vec<quota::Observed>) -> Result<()> {
        self.pool
            .observe(self.index, self.reservation, None, readings, false)
    }

    /// The service was in trouble (not the key): the send is not counted,
    /// and the key goes back as it was.
    pub fn unavailable(self) -> Result<()> {
        self.pool.count(self.index, failed());
        self.pool.forget(self.index, self.reservation)
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
                self.pool.default_lockdown_secs.min(i64::MAX as u64) as i64,
            ))
            .unwrap_or(now)
        });
        let pool = self.pool;
        pool.count(
            self.index,
            history::Totals {
                requests: 1,
                rate_limited: 1,
                ..Default::default()
            },
        );
        let bucket = pool.bucket(self.index);
        let label = bucket.label();
        let clock = pool.clock(now);
        let reservation = self.reservation;
        let mut models: Vec<(String, quota::ModelLockdown)> = Vec::new();
        pool.store.update_usage(&bucket, &mut |usage| {
            if let Some(id) = reservation {
                usage.forget(&label, id);
            }
            for violation in violations {
                usage.learn(&label, &pool.quotas.limits, violation, end, reason, &clock);
            }
            usage.note_limited(&label, &clock);
            models = usage.lockdowns(&label, &clock);
            true
        })?;
        let lockdown = if violations.is_empty() {
            Some(Lockdown {
                until: Some(end),
                reason: reason.to_string(),
                source,
                since: now,
                models: Vec::new(),
            })
        } else {
            // The models set aside live in the usage record; the marker
            // shows them in the state dir (unless the whole key is set aside
            // already).
            let key_wide =
                pool.store.marks(self.name())?.lockdown.is_some_and(|ld| {
                    ld.is_key_wide() && ld.ends(pool.default_lockdown_secs) > now
                });
            let until = models.iter().map(|(_, l)| l.until).max();
            (!key_wide)
                .then_some(())
                .zip(until)
                .map(|((), until)| Lockdown {
                    until: Some(until),
                    reason: reason.to_string(),
                    source,
                    since: now,
                    models: models.iter().map(|(m, _)| m.clone()).collect(),
                })
        };
        if let Some(lockdown) = lockdown {
            pool.store
                .mark(self.held.hold(), &Mark::Lockdown(lockdown))?;
        }
        self.held.release_to_all();
        Ok(end)
    }

    /// The key is bad: ERROR until cleaned up.
    pub fn mark_error(self, reason: &str) -> Result<()> {
        let mark = ErrorMark {
            reason: reason.to_string(),
            since: Timestamp::now(),
        };
        self.pool.store.mark(self.held.hold(), &Mark::Error(mark))?;
        self.pool.count(self.index, failed());
        self.pool.forget(self.index, self.reservation)?;
        self.held.release_to_all();
        Ok(())
    }

    /// Clears its ERROR and LOCKDOWN marks; how many there were.
    pub fn clear_marks(&self) -> Result<usize> {
        let error = self.pool.store.clear(self.held.hold(), MarkKind::Error)?;
        let lockdown = self
            .pool
            .store
            .clear(self.held.hold(), MarkKind::Lockdown)?;
        Ok(usize::from(error) + usize::from(lockdown))
    }

    /// Clears an ERROR mark (a health check found the key good again).
    pub fn clear_error(&self) -> Result<bool> {
        self.pool.store.clear(self.held.hold(), MarkKind::Error)
    }
}

/// How fast a pool's declared limits let it send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// Requests per second a long run keeps up.
    pub rate: f64,
    /// Requests that may go at once from a standing start (each window's
    /// first fill).
    pub burst: f64,
}

impl Pace {
    /// The least time `n` requests take at this pace.
    pub fn ideal(&self, n: u64) -> Duration {
        Duration::from_secs_f64(((n as f64 - self.burst).max(0.0) / self.rate).max(0.0))
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
        /// When the soonest comes back.
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
    /// A reload replaced the pool while the call waited: it goes on with
    /// the new one.
    Superseded,
    /// The store lost its state, and hands out no key for longer than the
    /// wait left (see [`state::Attempt::Fenced`]).
    Fenced {
        /// How long the fence lasts.
        left: Duration,
    },
}

/// How long a call lets the first in line go before it. A call that stays
/// first this long takes nothing that is free — it tried those keys already
/// (after a network error), or its process is stopped (^Z) — and the calls
/// behind it go on.
const YIELD_FOR: Duration = Duration::from_secs(2);

/// Whom a waiting call lets go first, since when.
#[derive(Debug, Default)]
struct Patience {
    first: Option<(String, Instant)>,
}

impl Patience {
    /// Whether to let the call at place `first` go first still.
    fn still(&mut self, first: &str) -> bool {
        match &self.first {
            Some((name, since)) if name == first => since.elapsed() < YIELD_FOR,
            _ => {
                self.first = Some((first.to_string(), Instant::now()));
                true
            }
        }
    }
}

/// What one pass over the keys found when none could be taken.
#[derive(Debug, Default)]
struct Shortfall {
    busy: usize,
    errors: usize,
    /// The soonest a key comes back (LOCKDOWN end or quota room).
    soonest: Option<(Timestamp, usize)>,
    /// Whether every key that comes back waits for a daily reset.
    all_daily: bool,
    /// Keys in a guessed LOCKDOWN were tried (and were busy or full).
    guessed: bool,
    /// The store lost its state: no key until then.
    fenced: Option<Instant>,
}

impl Shortfall {
    fn note(&mut self, end: Timestamp, i: usize, daily: bool) {
        self.all_daily &= daily;
        if self.soonest.is_none_or(|s| (end, i) < s) {
            self.soonest = Some((end, i));
        }
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
    Blocked(Blocker),
    NoRoom(quota::RoomLater),
}

/// How long a waiter sleeps without hearing anything before it looks again,
/// when the store can tell of releases (else: short, growing polls).
const WATCHED_POLL: Duration = Duration::from_millis(250);

impl Pool {
    /// A pool of `keys` for `connector`, kept in `store`.
    pub fn new(
        connector: &str,
        keys: Vec<KeyEntry>,
        store: Arc<dyn StateStore>,
        default_lockdown_secs: u64,
    ) -> Pool {
        let quotas = Quotas {
            tz: crate::daily::DAILY_RESET_TZ.into(),
            ..Quotas::default()
        };
        Pool {
            connector: connector.to_string(),
            waiters: Arc::new(Waiters::new(store.clone(), None)),
            keys,
            store,
            default_lockdown_secs,
            quotas,
            watch: Mutex::new(None),
            watching: Default::default(),
            superseded: Default::default(),
            history: None,
        }
    }

    /// The same pool, keeping a key `moment` after a call of normal or high
    /// priority lets go of it, for this process's next such call (a
    /// long-lived process: `serve`). See [`waiters::Waiters::offer`].
    pub fn with_linger(mut self, moment: Duration) -> Pool {
        self.waiters = Arc::new(Waiters::new(self.store.clone(), Some(moment)));
        self
    }

    /// The same pool, counting each send in `tally` (the usage history).
    pub fn with_history(mut self, tally: Arc<history::Tally>) -> Pool {
        self.history = Some(tally);
        self
    }

    /// The state store.
    pub fn store(&self) -> &Arc<dyn StateStore> {
        &self.store
    }

    /// Counts one send on key `i` in the usage history.
    fn count(&self, i: usize, totals: history::Totals) {
        if let Some(tally) = &self.history {
            tally.count(history::Of::Key(&self.keys[i].name), totals);
        }
    }

    /// The same pool with limits and groups.
    pub fn with_quotas(mut self, quotas: Quotas) -> Pool {
        self.quotas = quotas;
        self
    }

    /// A reload put another pool in its place: no more keys are handed out
    /// here, and the calls waiting for one are told to go to the new pool
    /// ([`NoKey::Superseded`]).
    pub fn supersede(&self) {
        self.superseded
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.waiters.wake_all();
    }

    fn is_superseded(&self) -> bool {
        self.superseded.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The connector's name.
    pub fn connector(&self) -> &str {
        &self.connector
    }

    /// The limits, groups and reset zone.
    pub fn quotas(&self) -> &Quotas {
        &self.quotas
    }

    /// The keys.
    pub fn keys(&self) -> &[KeyEntry] {
        &self.keys
    }

    /// Where the state lives, for messages.
    pub fn describe_store(&self) -> String {
        self.store.describe()
    }

    /// Makes the store ready for writing.
    pub fn prepare(&self) -> Result<()> {
        self.store.prepare()
    }

    /// Removes this connector's LOCKDOWN and ERROR marks, stale holds and
    /// model lockdowns.
    pub fn clean(&self) -> Result<CleanReport> {
        self.store.clean()
    }

    fn bucket(&self, i: usize) -> BucketId {
        let name = &self.keys[i].name;
        match self.quotas.groups.get(name) {
            Some(group) => BucketId::Group(group.clone()),
            None => BucketId::Key(name.clone()),
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

    /// One write for what an answer taught: the tokens it reported (for
    /// the send `reservation`) and its rate-limit headers. No write when
    /// there is nothing to keep. The span from the send to the reset of a
    /// `success`ful answer bounds the API's window from above (its own
    /// request is in it); a refused one's doesn't.
    fn observe(
        &self,
        i: usize,
        reservation: Option<u64>,
        tokens: Option<u64>,
        mut readings: Vec<quota::Observed>,
        success: bool,
    ) -> Result<()> {
        let tokens = tokens.zip(reservation);
        if tokens.is_none() && readings.is_empty() {
            return Ok(());
        }
        let bucket = self.bucket(i);
        let label = bucket.label();
        let now = Timestamp::now().as_millisecond();
        self.store.update_usage(&bucket, &mut |usage| {
            if let Some((tokens, id)) = tokens {
                usage.correct(&label, id, tokens);
            }
            if !readings.is_empty() {
                // Sends after this one are not in what the headers say is left.
                let sent = reservation
                    .and_then(|id| usage.buckets.get(&label)?.sends.iter().find(|s| s.id == id))
                    .map_or(now, |s| s.t);
                for r in &mut readings {
                    r.at = sent;
                    r.window = success.then(|| (r.reset - sent).max(1));
                }
                // (The closure may run again on a contended store: no take.)
                usage.observe(&label, readings.clone());
            }
            true
        })
    }

    fn forget(&self, i: usize, reservation: Option<u64>) -> Result<()> {
        let Some(id) = reservation else {
            return Ok(());
        };
        let bucket = self.bucket(i);
        let label = bucket.label();
        self.store.update_usage(&bucket, &mut |usage| {
            usage.forget(&label, id);
            true
        })
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
        priority: Priority,
    ) -> Result<Result<Lease<'_>, NoKey>> {
        let line = line::line_name(ask.model.as_deref());
        let got = match self.take_kept(tried, ask, priority)? {
            Some(lease) => Ok(lease),
            None => self.take_or_wait(tried, deadline, ask, priority, &line)?,
        };
        Ok(got.map(|mut lease| {
            if self.waiters.lingers() {
                lease.held.linger = Some((priority, line));
            }
            lease
        }))
    }

    /// A key kept a moment for a call like this one, if it fits the call.
    fn take_kept(
        &self,
        tried: &HashSet<usize>,
        ask: &Ask,
        priority: Priority,
    ) -> Result<Option<Lease<'_>>> {
        let Some((i, hold)) = self.waiters.take_kept(tried, priority) else {
            return Ok(None);
        };
        let marks = self.store.marks(&self.keys[i].name)?;
        // Not kept again if it doesn't fit: it goes to whoever can use it.
        let held = self.held(i, hold);
        match self.checked(held, marks, Timestamp::now(), ask, true)? {
            Taken::Lease(lease) => {
                self.store.set_cursor(i + 1);
                Ok(Some(lease))
            }
            _ => Ok(None),
        }
    }

    fn take_or_wait(
        &self,
        tried: &HashSet<usize>,
        deadline: Instant,
        ask: &Ask,
        priority: Priority,
        line: &str,
    ) -> Result<Result<Lease<'_>, NoKey>> {
        let n = self.keys.len();
        let place = line::Place::arriving(priority);
        let mut patience = Patience::default();
        let join = || -> Result<waiters::Queued> {
            let standing = self.store.join_line(line, &place)?;
            Ok(self.waiters.join(tried, &place, line, standing))
        };
        // Others of this process wait already: queue behind them.
        let mut me = match self.waiters.has_waiters() {
            true => Some(join()?),
            false => None,
        };
        let mut pause: Option<Duration> = me.as_ref().map(|_| WATCHED_POLL);
        let mut backoff = PollPause::new();
        let mut told = Told::default();
        loop {
            if self.is_superseded() {
                return Ok(Err(NoKey::Superseded));
            }
            if let (Some(queued), Some(timeout)) = (&me, pause.take()) {
                let timeout = timeout.min(deadline.saturating_duration_since(Instant::now()));
                if let Some((i, hold)) = queued.wait(timeout).filter(|_| !self.is_superseded()) {
                    // A key handed over by a release in this process. Declined
                    // first: if it doesn't fit, it goes on to the next waiter.
                    queued.decline(i);
                    let marks = self.store.marks(&self.keys[i].name)?;
                    let held = self.held(i, hold);
                    if let Taken::Lease(lease) =
                        self.checked(held, marks, Timestamp::now(), ask, true)?
                    {
                        self.store.set_cursor(i + 1);
                        return Ok(Ok(lease));
                    }
                }
            }
            let now = Timestamp::now();
            // A waiter looks before it takes; so does a call that won't wait
            // (a gateway looking at each of its pools in turn): no hold is
            // taken and let go for a key without room.
            let look = me.is_some() || Instant::now() >= deadline;
            let shortfall = match self.scan(tried, now, ask, look, (line, &place, &mut patience))? {
                Ok(lease) => {
                    self.store.set_cursor(lease.index + 1);
                    return Ok(Ok(lease));
                }
                Err(shortfall) => shortfall,
            };
            if tried.len() >= n {
                return Ok(Err(NoKey::AllTried));
            }
            let wait = match self.wait_for(
                shortfall,
                !tried.is_empty(),
                deadline,
                &mut backoff,
                &mut told,
            ) {
                Ok(wait) => wait,
                Err(no_key) => return Ok(Err(no_key)),
            };
            if me.is_none() {
                // Queue, listen, and look once more before sleeping: a key
                // freed since the pass above is not missed.
                me = Some(join()?);
                self.start_watch();
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            pause = Some(wait.min(left).max(Duration::from_micros(100)));
        }
    }

    /// How long to wait after a pass that found no key (and saying why,
    /// once), or why waiting is pointless: nothing left but ERROR keys, or
    /// nothing back before `deadline`.
    fn wait_for(
        &self,
        shortfall: Shortfall,
        tried_any: bool,
        deadline: Instant,
        backoff: &mut PollPause,
        told: &mut Told,
    ) -> Result<Duration, NoKey> {
        let Shortfall {
            busy,
            errors,
            soonest,
            all_daily,
            guessed,
            fenced,
        } = shortfall;
        if let Some(until) = fenced {
            let wait = until.saturating_duration_since(Instant::now());
            if wait > deadline.saturating_duration_since(Instant::now()) {
                return Err(NoKey::Fenced { left: wait });
            }
            told.say(format!(
                "the state store lost its state (restarted empty, flushed or failed over): \
                 no key is handed out for {:.1}s, until every lease that may still be live has run out",
                wait.as_secs_f64()
            ));
            return Ok(wait + Duration::from_millis(1));
        }
        if busy == 0 && !guessed && soonest.is_none() {
            // What is left is in ERROR: nothing will come back.
            return Err(if tried_any {
                NoKey::AllTried
            } else {
                NoKey::AllBad { errors }
            });
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let soonest_named = soonest.map(|(t, i)| (t, self.keys[i].name.clone()));
        if busy == 0 && !guessed {
            let (end, key) = soonest_named.expect("invariant: checked above");
            let until_end = duration_until(end);
            if until_end > left {
                return Err(NoKey::LockedDown {
                    soonest: end,
                    key,
                    daily: all_daily,
                });
            }
            told.say(format!(
                "no key has room; waiting until {end:.0} for `{key}`"
            ));
            // A millisecond past the time computed: waking just before it
            // would only find no room and sleep again.
            return Ok(until_end + Duration::from_millis(1));
        }
        if left.is_zero() {
            return Err(NoKey::TimedOut {
                busy,
                soonest: soonest_named,
            });
        }
        let mut wait = if self.watching() {
            WATCHED_POLL
        } else {
            backoff.next()
        };
        if let Some((end, _)) = soonest {
            wait = wait.min(duration_until(end).max(Duration::from_millis(1)));
        }
        told.say(match soonest_named.as_ref() {
            Some((end, key)) => format!(
                "no key free ({busy} in use elsewhere); waiting for a release, or until {end:.0} for `{key}`"
            ),
            None => format!("no key free ({busy} in use elsewhere); waiting for a release"),
        });
        Ok(wait)
    }

    fn watching(&self) -> bool {
        self.watching.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Starts the store's watch once: each change wakes the first waiter.
    fn start_watch(&self) {
        if self.watching() {
            return;
        }
        let mut watch = self.watch.lock().expect("invariant: no panics under lock");
        if watch.is_none() {
            let waiters = Arc::downgrade(&self.waiters);
            *watch = self.store.watch(Arc::new(move || {
                if let Some(waiters) = waiters.upgrade() {
                    waiters.wake_first();
                }
            }));
            self.watching
                .store(watch.is_some(), std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// One pass over the keys from the cursor: the first usable one is taken.
    /// With `peek`, keys are looked at before they are taken, and only those
    /// that could be used are (a waiter's look: no hold is taken and let go
    /// for a key without room, so nobody is woken by it).
    fn scan(
        &self,
        tried: &HashSet<usize>,
        now: Timestamp,
        ask: &Ask,
        peek: bool,
        (line, place, patience): (&str, &line::Place, &mut Patience),
    ) -> Result<Result<Lease<'_>, Shortfall>> {
        let n = self.keys.len();
        let mut shortfall = Shortfall {
            all_daily: true,
            ..Shortfall::default()
        };
        // Someone stands before us in the line: the next free key is theirs
        // (unless they stay first too long: see `Patience`).
        if let Some(first) = self.store.first_in_line(line, false)?
            && place.is_after(&first)
            && patience.still(&first)
        {
            shortfall.busy += 1;
            shortfall.all_daily = false;
            return Ok(Err(shortfall));
        }
        let start = self.store.cursor() % n.max(1);
        let mut guessed: Vec<(Timestamp, usize)> = Vec::new();
        let mut order = (start..n).chain(0..start).filter(|i| !tried.contains(i));
        // A batch at a time (one round trip each, on a shared backend); the
        // first key free usually ends the search in the first batch.
        let size = self.store.batch().max(1);
        let mut pending: Vec<usize> = Vec::with_capacity(size);
        loop {
            pending.extend(order.by_ref().take(size - pending.len()));
            if pending.is_empty() {
                break;
            }
            let mut batch = std::mem::take(&mut pending);
            if peek {
                batch = self.usable(batch, now, ask, &mut shortfall)?;
                if batch.is_empty() {
                    continue;
                }
            }
            let names: Vec<(&str, BucketId)> = batch
                .iter()
                .map(|&i| (self.keys[i].name.as_str(), self.bucket(i)))
                .collect();
            // A key with marks is not taken by this first look (for files: not
            // even its lock is touched); whether the marks block it is ours to say.
            let attempts = self.store.attempt_each(&names, false)?;
            // Keys the store didn't get to go first in the next batch.
            pending.extend_from_slice(&batch[attempts.len().max(1)..]);
            for (&i, attempt) in batch.iter().zip(attempts) {
                match attempt {
                    Attempt::Busy => shortfall.busy += 1,
                    Attempt::Fenced(left) => {
                        shortfall.fenced = Some(Instant::now() + left);
                        return Ok(Err(shortfall));
                    }
                    Attempt::Held(hold, marks) => {
                        match self.checked(self.held(i, hold), marks, now, ask, false)? {
                            Taken::Lease(lease) => return Ok(Ok(lease)),
                            taken => self.account(taken, i, &mut shortfall),
                        }
                    }
                    Attempt::Marked(marks) => match self.blocker(&marks, now) {
                        Blocker::Error => shortfall.errors += 1,
                        Blocker::Exact(end) => shortfall.note(end, i, false),
                        Blocker::Guessed(end) => guessed.push((end, i)),
                        // Marks that no longer block (an ended LOCKDOWN): take it.
                        Blocker::None => match self.take(i, now, ask, false)? {
                            Taken::Lease(lease) => return Ok(Ok(lease)),
                            taken => self.account(taken, i, &mut shortfall),
                        },
                    },
                }
            }
        }
        guessed.sort();
        for &(_, i) in &guessed {
            shortfall.guessed = true;
            match self.take(i, now, ask, true)? {
                Taken::Lease(lease) => {
                    log::info!(
                        "no key is free: trying `{}` before its LOCKDOWN ends",
                        lease.name()
                    );
                    return Ok(Ok(lease));
                }
                taken => self.account(taken, i, &mut shortfall),
            }
        }
        Ok(Err(shortfall))
    }

    /// The keys of `batch` that could be used now, by a look at their marks
    /// and usage without holding them; the others go into `shortfall`.
    fn usable(
        &self,
        batch: Vec<usize>,
        now: Timestamp,
        ask: &Ask,
        shortfall: &mut Shortfall,
    ) -> Result<Vec<usize>> {
        let names: Vec<(&str, BucketId)> = batch
            .iter()
            .map(|&i| (self.keys[i].name.as_str(), self.bucket(i)))
            .collect();
        let looks = self.store.peek(&names)?;
        let clock = self.clock(now);
        let mut usable = Vec::with_capacity(batch.len());
        for ((&i, (_, bucket)), look) in batch.iter().zip(&names).zip(looks) {
            let Some((marks, usage)) = look else {
                shortfall.busy += 1;
                continue;
            };
            match self.blocker(&marks, now) {
                Blocker::Error => shortfall.errors += 1,
                Blocker::Exact(end) => shortfall.note(end, i, false),
                Blocker::None | Blocker::Guessed(_) => {
                    match usage.room(&bucket.label(), &self.quotas.limits, ask, &clock) {
                        Ok(()) => usable.push(i),
                        Err(later) => self.account(Taken::NoRoom(later), i, shortfall),
                    }
                }
            }
        }
        Ok(usable)
    }

    fn account(&self, taken: Taken<'_>, i: usize, shortfall: &mut Shortfall) {
        match taken {
            Taken::Lease(_) => {}
            Taken::Busy => shortfall.busy += 1,
            Taken::Blocked(Blocker::Error) => shortfall.errors += 1,
            Taken::Blocked(Blocker::Exact(end) | Blocker::Guessed(end)) => {
                shortfall.note(end, i, false)
            }
            Taken::Blocked(Blocker::None) => {}
            Taken::NoRoom(later) => {
                log::debug!(
                    "key `{}` has no room until {:.0}: {}",
                    self.keys[i].name,
                    later.at,
                    later.why
                );
                shortfall.note(later.at, i, later.daily);
            }
        }
    }

    /// Whether every usable key is out of its daily quota for `model`.
    pub fn daily_exhausted(&self, model: &str) -> Result<bool> {
        let now = Timestamp::now();
        let clock = self.clock(now);
        let marks = self.store.all_marks()?;
        let ask = Ask {
            model: Some(model.to_string()),
            tokens: 1,
        };
        let mut any = false;
        for i in 0..self.keys.len() {
            if marks
                .get(&self.keys[i].name)
                .is_some_and(|m| m.error.is_some())
            {
                continue;
            }
            let bucket = self.bucket(i);
            let usage = self.store.usage(&bucket);
            match usage.room(&bucket.label(), &self.quotas.limits, &ask, &clock) {
                Err(later) if later.daily => any = true,
                _ => return Ok(false),
            }
        }
        Ok(any)
    }

    fn blocker(&self, marks: &KeyMarks, now: Timestamp) -> Blocker {
        if marks.error.is_some() {
            return Blocker::Error;
        }
        match &marks.lockdown {
            // A marker of model lockdowns only shows them: the usage record rules.
            Some(ld) if ld.is_key_wide() && ld.ends(self.default_lockdown_secs) > now => {
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

    fn held(&self, i: usize, hold: Box<dyn KeyHold>) -> Held {
        Held::new(hold, i, self.waiters.clone())
    }

    /// Holds key `i` whatever its marks say, and checks it under the hold.
    fn take(&self, i: usize, now: Timestamp, ask: &Ask, guessed_ok: bool) -> Result<Taken<'_>> {
        match self
            .store
            .attempt(&self.keys[i].name, true, &self.bucket(i))?
        {
            Attempt::Held(hold, marks) => {
                self.checked(self.held(i, hold), marks, now, ask, guessed_ok)
            }
            Attempt::Busy | Attempt::Marked(_) | Attempt::Fenced(_) => Ok(Taken::Busy),
        }
    }

    /// Checks a held key's marks as read under the hold (another process
    /// may have marked it since we looked) and reserves room for `ask` in its
    /// quota.
    fn checked(
        &self,
        held: Held,
        fresh: KeyMarks,
        now: Timestamp,
        ask: &Ask,
        guessed_ok: bool,
    ) -> Result<Taken<'_>> {
        let i = held.index;
        let models_marked = fresh.lockdown.as_ref().is_some_and(|ld| !ld.is_key_wide());
        let lockdown = match self.blocker(&fresh, now) {
            blocker @ (Blocker::Error | Blocker::Exact(_)) => {
                held.release_to_all();
                return Ok(Taken::Blocked(blocker));
            }
            Blocker::Guessed(end) if !guessed_ok => {
                held.release_to_all();
                return Ok(Taken::Blocked(Blocker::Guessed(end)));
            }
            Blocker::Guessed(_) => fresh.lockdown,
            Blocker::None => {
                if fresh.lockdown.as_ref().is_some_and(Lockdown::is_key_wide) {
                    // Over: tidy the marker away while we hold the key.
                    self.store.clear(held.hold(), MarkKind::Lockdown)?;
                }
                None
            }
        };

        let clock = self.clock(now);
        let bucket = self.bucket(i);
        let label = bucket.label();
        let limits = &self.quotas.limits;
        let mut outcome: Result<u64, quota::RoomLater> = Ok(0);
        let mut models_over = false;
        self.store.update_usage(&bucket, &mut |usage| {
            usage.prune(&clock, limits);
            models_over = models_marked && usage.lockdowns(&label, &clock).is_empty();
            outcome = usage
                .room(&label, limits, ask, &clock)
                .map(|()| usage.record(&label, ask, &clock));
            outcome.is_ok()
        })?;
        if models_over {
            // The models' lockdowns are over: their marker goes too.
            self.store.clear(held.hold(), MarkKind::Lockdown)?;
        }
        match outcome {
            Ok(id) => Ok(Taken::Lease(Lease {
                pool: self,
                index: i,
                held,
                lockdown,
                reservation: Some(id),
                estimate: ask.tokens,
            })),
            Err(later) => Ok(Taken::NoRoom(later)),
        }
    }

    /// Takes key `i` for a health check, waiting up to `deadline` if another
    /// process holds it; ERROR and LOCKDOWN keys are taken too.
    pub fn take_for_check(&self, i: usize, deadline: Instant) -> Result<Option<Lease<'_>>> {
        let mut backoff = PollPause::new();
        loop {
            if let Some(hold) = self.store.try_hold(&self.keys[i].name)? {
                return Ok(Some(Lease {
                    pool: self,
                    index: i,
                    held: self.held(i, hold),
                    lockdown: None,
                    reservation: None,
                    estimate: 0,
                }));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            std::thread::sleep(backoff.next().min(left));
        }
    }

    /// How fast the declared limits let this pool send requests for
    /// `model`, summed over its quota buckets (keys sharing a group count
    /// once; keys in ERROR not at all). Per-day limits are caps, not a pace:
    /// they don't count. `None` when no windowed request limit applies.
    pub fn pace(&self, model: Option<&str>) -> Result<Option<Pace>> {
        let marks = self.store.all_marks()?;
        let mut buckets = HashSet::new();
        for (i, entry) in self.keys.iter().enumerate() {
            if marks.get(&entry.name).is_none_or(|m| m.error.is_none()) {
                buckets.insert(self.bucket(i).label());
            }
        }
        let n = buckets.len() as f64;
        Ok(self
            .quotas
            .limits
            .iter()
            .filter(|l| l.metric == Metric::Requests)
            .filter(|l| l.model.as_deref().is_none_or(|m| Some(m) == model))
            .filter_map(|l| match l.window {
                quota::Window::Millis(ms) if ms > 0 => Some(Pace {
                    rate: l.amount as f64 * n / (ms as f64 / 1000.0),
                    burst: l.amount as f64 * n,
                }),
                _ => None,
            })
            .min_by(|a, b| a.rate.total_cmp(&b.rate)))
    }

    /// Every key's state, in configuration order.
    pub fn states(&self) -> Result<Vec<KeyStatus>> {
        let now = Timestamp::now();
        let clock = self.clock(now);
        let marks = self.store.all_marks()?;
        (0..self.keys.len())
            .map(|i| {
                let bucket = self.bucket(i);
                let label = bucket.label();
                let usage: Usage = self.store.usage(&bucket);
                let entry = &self.keys[i];
                let models: Vec<ModelStatus> = usage
                    .lockdowns(&label, &clock)
                    .into_iter()
                    .map(|(model, l)| ModelStatus {
                        model,
                        until: l.until,
                        reason: l.reason,
                    })
                    .collect();
                let (requests_today, rate_limited_today) = usage.today(&label, &clock);
                let mut status = KeyStatus {
                    requests_today,
                    rate_limited_today,
                    name: entry.name.clone(),
                    state: State::Vacant,
                    until: None,
                    reason: None,
                    group: self.quotas.groups.get(&entry.name).cloned(),
                    usage: usage.standing(&label, &self.quotas.limits, &clock),
                    models: Vec::new(),
                };
                let m = marks.get(&entry.name);
                if let Some(err) = m.and_then(|m| m.error.as_ref()) {
                    status.state = State::Error;
                    status.reason = Some(err.reason.clone());
                } else if let Some(holder) = self.store.holder(&entry.name)? {
                    status.state = State::Locked;
                    status.reason = Some(format!("in use by {holder}"));
                } else if let Some(ld) = m
                    .and_then(|m| m.lockdown.as_ref())
                    .filter(|ld| ld.is_key_wide() && ld.ends(self.default_lockdown_secs) > now)
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

/// How long until `t` (zero once it has passed).
pub(crate) fn duration_until(t: Timestamp) -> Duration {
    let d = t.duration_since(Timestamp::now());
    d.try_into().unwrap_or(Duration::ZERO)
}

/// What a waiting call last said it waits for: said once (at `-v`), not
/// once per wake.
#[derive(Default)]
struct Told(Option<String>);

impl Told {
    fn say(&mut self, what: String) {
        if self.0.as_ref() != Some(&what) {
            log::info!("{what}");
            self.0 = Some(what);
        }
    }
}

/// Polling pauses where the store can't tell of releases: short at first,
/// growing to 100 ms, with jitter so that waiting processes don't move in step.
struct PollPause {
    next_ms: f64,
    seed: u64,
}

impl PollPause {
    fn new() -> PollPause {
        PollPause {
            next_ms: 2.0,
            seed: crate::jitter_seed(),
        }
    }

    fn next(&mut self) -> Duration {
        let jitter = 0.7 + crate::xorshift(&mut self.seed) as f64 % 600.0 / 1000.0;
        let ms = self.next_ms * jitter;
        self.next_ms = (self.next_ms * 1.5).min(100.0);
        Duration::from_secs_f64(ms / 1000.0)
    }
}
