//! The backend-neutral side of key state: the types every backend stores and
//! the [`StateStore`] interface the pool reaches them through. Nothing here
//! knows about files (or any other backend); the marker-file store is in
//! [`super::files`].

use super::quota::Usage;
use anyhow::Result;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt::Debug;

/// Why a LOCKDOWN ends when it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockdownSource {
    /// The API said how long, in Gemini's `RetryInfo.retryDelay`.
    RetryInfo,
    /// The API said how long, in a `Retry-After` header.
    RetryAfter,
    /// A per-day quota ran out: until the next daily reset.
    DailyQuota,
    /// The answer's rate-limit headers said when the quota has room again.
    RateLimitHeaders,
    /// The API said nothing: the connector's default duration (a guess).
    Default,
    /// A marker without details, as api-jongler writes them (a guess).
    Legacy,
}

impl LockdownSource {
    /// Whether the end time came from the API rather than a guess. Only
    /// guessed lockdowns are tried as a last resort before they end.
    pub fn is_exact(self) -> bool {
        matches!(
            self,
            Self::RetryInfo | Self::RetryAfter | Self::DailyQuota | Self::RateLimitHeaders
        )
    }
}

/// A LOCKDOWN: a key set aside because the API rate-limited it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lockdown {
    /// When it ends; `None` for markers that don't say (then: written + default).
    pub until: Option<Timestamp>,
    /// What the API said, for people.
    pub reason: String,
    /// Where `until` came from.
    pub source: LockdownSource,
    /// When it was written.
    pub since: Timestamp,
    /// The models it is for, when it isn't for the whole key (a per-model
    /// quota ran out): then it only shows the state in the state dir, and
    /// the usage record rules which requests wait.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
}

impl Lockdown {
    /// Whether it sets the whole key aside (not only some models).
    pub fn is_key_wide(&self) -> bool {
        self.models.is_empty()
    }

    /// When it ends, using `default_secs` after it was written if it doesn't say.
    pub fn ends(&self, default_secs: u64) -> Timestamp {
        self.until.unwrap_or_else(|| {
            self.since
                .checked_add(jiff::SignedDuration::from_secs(
                    default_secs.min(i64::MAX as u64) as i64,
                ))
                .unwrap_or(Timestamp::MAX)
        })
    }
}

/// An ERROR mark: the key is bad until someone cleans it up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorMark {
    /// What the API said, for people.
    pub reason: String,
    /// When it was written.
    pub since: Timestamp,
}

/// The LOCKDOWN and ERROR marks of one key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyMarks {
    /// Its LOCKDOWN, if any (possibly already over).
    pub lockdown: Option<Lockdown>,
    /// Its ERROR mark, if any.
    pub error: Option<ErrorMark>,
}

impl KeyMarks {
    /// Whether there is no mark at all.
    pub fn is_empty(&self) -> bool {
        self.lockdown.is_none() && self.error.is_none()
    }
}

/// A mark to set on a held key.
#[derive(Debug, Clone, PartialEq)]
pub enum Mark {
    /// Put it in LOCKDOWN.
    Lockdown(Lockdown),
    /// Put it in ERROR.
    Error(ErrorMark),
}

/// Which mark to clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    /// The LOCKDOWN.
    Lockdown,
    /// The ERROR mark.
    Error,
}

/// What a cleanup removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanReport {
    /// LOCKDOWN marks removed (keys and models).
    pub lockdowns: usize,
    /// ERROR marks removed.
    pub errors: usize,
    /// Stale holds (their holder died) removed.
    pub stale_locks: usize,
    /// Holds left alone because a live process holds the key.
    pub held: usize,
}

impl std::ops::AddAssign for CleanReport {
    fn add_assign(&mut self, other: CleanReport) {
        self.lockdowns += other.lockdowns;
        self.errors += other.errors;
        self.stale_locks += other.stale_locks;
        self.held += other.held;
    }
}

/// Whose quota a usage record counts: one key's, or a group's that its keys
/// share. Names only: never a key's value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BucketId {
    /// One key's own quota.
    Key(String),
    /// A group of keys sharing one quota (one project's keys).
    Group(String),
}

impl BucketId {
    /// The bucket's name inside a usage record: `key:<name>` or `group:<name>`.
    pub fn label(&self) -> String {
        match self {
            BucketId::Key(name) => format!("key:{name}"),
            BucketId::Group(name) => format!("group:{name}"),
        }
    }
}

/// What an attempt on one key found.
#[derive(Debug)]
pub enum Attempt {
    /// The key is ours now, with its marks as they stand under the hold.
    Held(Box<dyn KeyHold>, KeyMarks),
    /// Someone else holds it.
    Busy,
    /// It carries marks, and the attempt was told not to take marked keys.
    Marked(KeyMarks),
    /// The store lost its state (a Redis restarted empty, flushed, or a
    /// replica promoted): no key is handed out until every lease that may
    /// still be live has run out, this long from now.
    Fenced(std::time::Duration),
}

/// A key held by this process: while it lives, no other holder anywhere gets
/// the same key. Dropping it releases the key.
pub trait KeyHold: std::any::Any + Send + Sync + Debug {
    /// The held key's name.
    fn key(&self) -> &str;

    /// What fires if the hold is lost while held (a lease that could not be
    /// renewed): a request on the key stops then. `None` where a hold can't
    /// be lost (a lock its process holds till it ends).
    fn cancel(&self) -> Option<crate::http::Cancel> {
        None
    }
}

/// Where the keys' states of one connector live. Every process (and, for a
/// shared backend, every machine) using the same store sees the same states.
///
/// The contract, checked for every backend by the suite in `contract.rs`:
/// - a key is held by at most one [`KeyHold`] at a time, and a holder that
///   dies (even by SIGKILL) frees it;
/// - marks are set and cleared only through a hold, and a reader sees a mark
///   whole or not at all;
/// - a usage update sees every update made before it (no lost update);
/// - `clean` touches this connector's state only.
pub trait StateStore: Send + Sync + Debug {
    /// Where the state lives, for messages (`state dir /x`).
    fn describe(&self) -> String;

    /// Makes the store ready for writing (creates the dir, checks it can
    /// lock). Reading needs no preparation.
    fn prepare(&self) -> Result<()>;

    /// Takes `key` without waiting: `None` if someone else holds it.
    fn try_hold(&self, key: &str) -> Result<Option<Box<dyn KeyHold>>>;

    /// Takes `key` if nobody holds it — unless it carries any mark and
    /// `take_marked` is false — and reads its marks under the hold, so a mark
    /// set by another holder just before is seen. `bucket` is the usage
    /// record the caller will update next, for backends that fetch it in the
    /// same step. A key someone holds is turned away before its marks are
    /// read. Backends that can do all this in one step (one round trip)
    /// override it.
    fn attempt(&self, key: &str, take_marked: bool, bucket: &BucketId) -> Result<Attempt> {
        let _ = bucket;
        if self.is_held(key)? {
            return Ok(Attempt::Busy);
        }
        if !take_marked {
            let marks = self.marks(key)?;
            if !marks.is_empty() {
                return Ok(Attempt::Marked(marks));
            }
        }
        match self.try_hold(key)? {
            None => Ok(Attempt::Busy),
            Some(hold) => {
                let marks = self.marks(key)?;
                Ok(Attempt::Held(hold, marks))
            }
        }
    }

    /// How many keys [`StateStore::attempt_each`] should be given at once: 1
    /// where each costs the same alone (files), more where a call costs a
    /// round trip (a shared backend).
    fn batch(&self) -> usize {
        1
    }

    /// [`StateStore::attempt`] on each of `keys` in order (each with the
    /// usage record it would update), stopping after the first one held: the
    /// outcome for every key attempted, at least one. Shared backends do it in
    /// one round trip.
    fn attempt_each(&self, keys: &[(&str, BucketId)], take_marked: bool) -> Result<Vec<Attempt>> {
        let mut out = Vec::new();
        for (key, bucket) in keys {
            let attempt = self.attempt(key, take_marked, bucket)?;
            let held = matches!(attempt, Attempt::Held(..));
            out.push(attempt);
            if held {
                break;
            }
        }
        Ok(out)
    }

    /// The marks and usage record of each of `keys`, read without holding
    /// any: a waiter looks before it takes, since taking (and letting go of)
    /// a key it can't use would wake every other waiter for nothing.
    /// Shared backends do it in one round trip.
    /// `None` for a key someone holds (its marks and usage are not read).
    fn peek(&self, keys: &[(&str, BucketId)]) -> Result<Vec<Option<(KeyMarks, Usage)>>> {
        keys.iter()
            .map(|(key, bucket)| {
                if self.is_held(key)? {
                    return Ok(None);
                }
                Ok(Some((self.marks(key)?, self.usage(bucket))))
            })
            .collect()
    }

    /// Whether someone holds `key` now, found without holding it or
    /// changing anything.
    fn is_held(&self, key: &str) -> Result<bool> {
        Ok(self.holder(key)?.is_some())
    }

    /// Who holds `key` (for people), if anyone.
    fn holder(&self, key: &str) -> Result<Option<String>>;

    /// The marks of one key, read afresh.
    fn marks(&self, key: &str) -> Result<KeyMarks>;

    /// The marks of every key that has any.
    fn all_marks(&self) -> Result<HashMap<String, KeyMarks>>;

    /// Sets a mark on a held key.
    fn mark(&self, hold: &dyn KeyHold, mark: &Mark) -> Result<()>;

    /// Clears a mark of a held key; whether there was one.
    fn clear(&self, hold: &dyn KeyHold, kind: MarkKind) -> Result<bool>;

    /// Updates one usage record atomically: `update` gets the record as it
    /// stands and returns whether to save it.
    fn update_usage(
        &self,
        bucket: &BucketId,
        update: &mut dyn FnMut(&mut Usage) -> bool,
    ) -> Result<()>;

    /// Reads one usage record without holding it (for `status`).
    fn usage(&self, bucket: &BucketId) -> Usage;

    /// Where the next key search starts (a shared hint).
    fn cursor(&self) -> usize;

    /// Sets where the next key search starts.
    fn set_cursor(&self, at: usize);

    /// Removes this connector's LOCKDOWN and ERROR marks, stale holds and
    /// model lockdowns; holds of live processes are left alone.
    fn clean(&self) -> Result<CleanReport>;

    /// Adds `delta` to this connector's usage history and keeps its newest
    /// `keep_days` days (nothing, where the store keeps no history).
    fn add_history(&self, delta: &super::history::History, keep_days: usize) -> Result<()> {
        let _ = (delta, keep_days);
        Ok(())
    }

    /// This connector's usage history.
    fn history(&self) -> Result<super::history::History> {
        Ok(super::history::History::default())
    }

    /// Stands a waiting call in the line named `line` (a model's) at
    /// `place`, until the returned guard is dropped or its process dies.
    /// `None` where the store keeps no line (then priorities hold within a
    /// process only).
    fn join_line(
        &self,
        line: &str,
        place: &super::line::Place,
    ) -> Result<Option<Box<dyn super::line::InLine>>> {
        let _ = (line, place);
        Ok(None)
    }

    /// The place of the first live call in `line` — of another process,
    /// with `others_only` — if any. Places of dead processes are removed on
    /// the way.
    fn first_in_line(&self, line: &str, others_only: bool) -> Result<Option<String>> {
        let _ = (line, others_only);
        Ok(None)
    }

    /// Whether a live call stands in `line` before `place` (of another
    /// process, with `others_only`).
    fn ahead(&self, line: &str, place: &super::line::Place, others_only: bool) -> Result<bool> {
        Ok(self
            .first_in_line(line, others_only)?
            .is_some_and(|first| place.is_after(&first)))
    }

    /// Calls `on_change` whenever another holder may have freed something
    /// (a key released, a mark cleared, a call leaving the line), for as long as the returned guard
    /// lives; `None` where the backend can't tell (then waiters poll). May
    /// call it spuriously.
    fn watch(
        &self,
        on_change: std::sync::Arc<dyn Fn() + Send + Sync>,
    ) -> Option<Box<dyn std::any::Any + Send + Sync>>;
}
