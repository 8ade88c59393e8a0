//! Usage history: per day, per key and per client, the requests sent, the
//! tokens they cost where known, the rate limits absorbed and the errors.
//! Kept in the state store (files or Redis) for a number of days (default
//! 30), so its size is bounded whatever the traffic: days × (keys + clients)
//! totals. A day is the daily-quota day of the connector (it rolls over at
//! the daily reset, midnight in the reset time zone).
//!
//! Counts are gathered in the process ([`Tally`]) and added to the store at
//! most every second, when a process ends, and before a status is read: a
//! process killed by SIGKILL loses at most its last second of counts.

use super::state::StateStore;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many days of history are kept unless told otherwise.
pub const DEFAULT_DAYS: usize = 30;

/// How often gathered counts are added to the store, at most.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// One day's totals of one key or client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Requests sent (a key) or made (a client).
    pub requests: u64,
    /// Tokens, where known: counted from the answers, else estimated.
    pub tokens: u64,
    /// Rate-limit answers (a key: taken and retried elsewhere; a client:
    /// given a 429).
    pub rate_limited: u64,
    /// Failures: bad keys, server and network errors (a client: 5xx).
    pub errors: u64,
}

impl Totals {
    fn add(&mut self, other: &Totals) {
        self.requests += other.requests;
        self.tokens += other.tokens;
        self.rate_limited += other.rate_limited;
        self.errors += other.errors;
    }

    /// The fields by name, for stores that keep them apart.
    pub fn fields(&self) -> [(&'static str, u64); 4] {
        [
            ("requests", self.requests),
            ("tokens", self.tokens),
            ("rate_limited", self.rate_limited),
            ("errors", self.errors),
        ]
    }

    /// Sets the field called `name`.
    pub fn set(&mut self, name: &str, value: u64) {
        match name {
            "requests" => self.requests = value,
            "tokens" => self.tokens = value,
            "rate_limited" => self.rate_limited = value,
            "errors" => self.errors = value,
            _ => {}
        }
    }
}

/// One day: totals by key and by client.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Day {
    /// By key name.
    #[serde(default)]
    pub keys: BTreeMap<String, Totals>,
    /// By `serve` client name.
    #[serde(default)]
    pub clients: BTreeMap<String, Totals>,
}

impl Day {
    /// The day's totals over its keys.
    pub fn total(&self) -> Totals {
        let mut total = Totals::default();
        for t in self.keys.values() {
            total.add(t);
        }
        total
    }
}

/// Days, by date (`2026-12-05`), oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// Date → that day.
    pub days: BTreeMap<String, Day>,
}

impl History {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &History) {
        for (date, day) in &other.days {
            let mine = self.days.entry(date.clone()).or_default();
            for (name, t) in &day.keys {
                mine.keys.entry(name.clone()).or_default().add(t);
            }
            for (name, t) in &day.clients {
                mine.clients.entry(name.clone()).or_default().add(t);
            }
        }
    }

    /// Keeps the newest `days` days.
    pub fn keep(&mut self, days: usize) {
        while self.days.len() > days.max(1) {
            self.days.pop_first();
        }
    }

    /// Whether it counts nothing.
    pub fn is_empty(&self) -> bool {
        self.days.is_empty()
    }
}

/// The date of the daily-quota day `now` is in, in `tz`.
pub fn day_of(now: Timestamp, tz: &str) -> String {
    let start = crate::daily::previous_reset(now, tz);
    match crate::daily::zone(tz) {
        Some(zone) => start.to_zoned(zone).date().to_string(),
        None => start.to_zoned(jiff::tz::TimeZone::UTC).date().to_string(),
    }
}

/// Counts gathered in this process, added to the store now and then.
#[derive(Debug)]
pub struct Tally {
    store: Arc<dyn StateStore>,
    tz: String,
    keep_days: usize,
    pending: Mutex<(History, Instant)>,
    /// A flush is under way on a thread of its own.
    flushing: std::sync::atomic::AtomicBool,
}

/// Which totals an event counts in.
#[derive(Debug, Clone, Copy)]
pub enum Of<'a> {
    /// A key's.
    Key(&'a str),
    /// A `serve` client's.
    Client(&'a str),
}

impl Tally {
    /// Counts for `store`'s connector, by days in `tz`, `keep_days` kept.
    pub fn new(store: Arc<dyn StateStore>, tz: &str, keep_days: usize) -> Tally {
        Tally {
            store,
            tz: tz.to_string(),
            keep_days,
            pending: Mutex::new((History::default(), Instant::now())),
            flushing: Default::default(),
        }
    }

    /// Counts one event today; if what is pending hasn't gone to the store
    /// for a second, it goes now, on a thread of its own (the caller may be
    /// an async task, and the store a slow Redis).
    pub fn count(self: &Arc<Self>, of: Of<'_>, add: Totals) {
        let date = day_of(Timestamp::now(), &self.tz);
        let due = {
            let mut pending = self
                .pending
                .lock()
                .expect("invariant: no panics under lock");
            let day = pending.0.days.entry(date).or_default();
            let (map, name) = match of {
                Of::Key(name) => (&mut day.keys, name),
                Of::Client(name) => (&mut day.clients, name),
            };
            map.entry(name.to_string()).or_default().add(&add);
            pending.1.elapsed() >= FLUSH_EVERY
        };
        if due
            && !self
                .flushing
                .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            let tally = self.clone();
            let spawned = std::thread::Builder::new()
                .name("jongler-history".into())
                .spawn(move || {
                    tally.flush();
                    tally
                        .flushing
                        .store(false, std::sync::atomic::Ordering::Release);
                });
            if spawned.is_err() {
                self.flush();
                self.flushing
                    .store(false, std::sync::atomic::Ordering::Release);
            }
        }
    }

    /// Adds what is pending to the store (a failure is logged: counts are
    /// not worth failing a request over).
    pub fn flush(&self) {
        let delta = {
            let mut pending = self
                .pending
                .lock()
                .expect("invariant: no panics under lock");
            pending.1 = Instant::now();
            std::mem::take(&mut pending.0)
        };
        if delta.is_empty() {
            return;
        }
        if let Err(e) = self.store.add_history(&delta, self.keep_days) {
            log::warn!("can't keep the usage history: {e:#}");
        }
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_roll_over_at_the_daily_reset() {
        let tz = "America/Los_Angeles";
        // 07:59 UTC is 23:59 in Los Angeles in winter; 08:00 the next day.
        let before: Timestamp = "2026-12-05T07:59:59Z".parse().unwrap();
        let after: Timestamp = "2026-12-05T08:00:00Z".parse().unwrap();
        assert_eq!(day_of(before, tz), "2026-12-04");
        assert_eq!(day_of(after, tz), "2026-12-05");
        assert_eq!(day_of(after, "UTC"), "2026-12-05");
    }

    #[test]
    fn adding_and_keeping_days() {
        let mut h = History::default();
        for d in 1..=40 {
            let mut delta = History::default();
            let day = delta.days.entry(format!("2026-01-{d:02}")).or_default();
            day.keys.insert(
                "k".into(),
                Totals {
                    requests: 2,
                    ..Totals::default()
                },
            );
            day.clients.insert(
                "c".into(),
                Totals {
                    errors: 1,
                    ..Totals::default()
                },
            );
            h.add(&delta);
            h.add(&delta);
            h.keep(30);
        }
        assert_eq!(h.days.len(), 30);
        assert_eq!(h.days.keys().next().unwrap(), "2026-01-11");
        let last = &h.days["2026-01-40"];
        assert_eq!(last.keys["k"].requests, 4);
        assert_eq!(last.clients["c"].errors, 2);
        assert_eq!(last.total().requests, 4);
    }
}
