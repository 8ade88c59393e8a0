//! The emulator's state, shared by every request, and the only code that
//! locks it: the counts tests read, the requests in flight on each key, each
//! key's rate limit, the set latency and any outage; and, read-only, the
//! models it serves.

use super::exchange::{Key, api};
use super::limiter::{Charged, Limiter};
use super::{Behavior, EmulatorConfig, Flavor, Refill, Stats};
use axum::http::HeaderMap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub(super) struct Shared {
    keys: HashMap<String, Behavior>,
    unknown: Behavior,
    exhausted_models: Vec<String>,
    rate: Option<(u32, Duration)>,
    latency: Mutex<Duration>,
    /// Until when every model answers 503 "overloaded" (`None`: it doesn't).
    outage_until: Mutex<Option<Instant>>,
    /// Prompt text → when its request arrived and when its answer was ready.
    times: Mutex<HashMap<String, (Instant, Option<Instant>)>>,
    stats: Mutex<Stats>,
    /// Key → the prompt texts of its requests being answered, by request id.
    in_flight: Mutex<HashMap<String, Vec<(u64, String)>>>,
    next_request: AtomicU64,
    /// How `rate` refills.
    refill: Refill,
    /// Each key's rate limit.
    limiters: Mutex<HashMap<String, Limiter>>,
    flavor: Flavor,
    /// The models it serves, in listing order.
    models: Vec<String>,
    /// Whether `models` was given rather than the flavour's default.
    models_configured: bool,
}

/// Locks `mutex`; no code panics while holding one of these locks.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().expect("invariant: no panics under lock")
}

impl Shared {
    pub(super) fn new(config: EmulatorConfig) -> Shared {
        let models_configured = !config.models.is_empty();
        let models = if models_configured {
            config.models
        } else {
            let defaults = api(config.flavor).default_models();
            defaults.iter().map(|m| m.to_string()).collect()
        };
        Shared {
            models,
            models_configured,
            keys: config.keys.into_iter().collect(),
            exhausted_models: config.daily_exhausted_models,
            unknown: if config.accept_unknown {
                Behavior::Valid
            } else {
                Behavior::Invalid
            },
            rate: config.rate,
            latency: Mutex::new(config.latency),
            outage_until: Mutex::new(None),
            times: Mutex::new(HashMap::new()),
            stats: Mutex::new(Stats::default()),
            in_flight: Mutex::new(HashMap::new()),
            next_request: Default::default(),
            refill: config.refill.unwrap_or(match config.flavor {
                Flavor::Gemini => Refill::Window,
                Flavor::Openai | Flavor::Anthropic => Refill::Bucket,
            }),
            limiters: Mutex::new(HashMap::new()),
            flavor: config.flavor,
        }
    }

    pub(super) fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// The models it serves, in listing order.
    pub(super) fn models(&self) -> &[String] {
        &self.models
    }

    /// Whether `model` is one it serves.
    pub(super) fn serves(&self, model: &str) -> bool {
        self.models.iter().any(|m| m == model)
    }

    /// Whether its models were given (rather than the flavour's default).
    pub(super) fn models_configured(&self) -> bool {
        self.models_configured
    }

    /// How `key` behaves (a key it doesn't know: invalid, or valid when
    /// told to accept unknown keys).
    pub(super) fn behavior(&self, key: &str) -> Behavior {
        self.keys.get(key).copied().unwrap_or(self.unknown)
    }

    /// Whether every key is out of its daily quota for `model`.
    pub(super) fn model_exhausted(&self, model: &str) -> bool {
        self.exhausted_models.iter().any(|m| m == model)
    }

    /// Whether an outage is on now.
    pub(super) fn overloaded(&self) -> bool {
        lock(&self.outage_until).is_some_and(|until| Instant::now() < until)
    }

    /// Starts an outage of `length` (`None`: until the emulator stops).
    pub(super) fn set_outage(&self, length: Option<Duration>) {
        let until = Instant::now() + length.unwrap_or(Duration::from_secs(100 * 365 * 86_400));
        *lock(&self.outage_until) = Some(until);
    }

    pub(super) fn set_latency(&self, latency: Duration) {
        *lock(&self.latency) = latency;
    }

    /// Waits out the set latency.
    pub(super) async fn wait_latency(&self) {
        let latency = *lock(&self.latency);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }

    /// Marks the request whose prompt is `text` as being answered, waits out
    /// the set latency and notes when its answer was ready.
    pub(super) async fn answer_after_latency(&self, text: &str) {
        lock(&self.stats).started.insert(text.to_string());
        let arrived = Instant::now();
        self.wait_latency().await;
        lock(&self.times).insert(text.to_string(), (arrived, Some(Instant::now())));
    }

    /// Charges a request of `tokens` to `key`'s rate limit, if there is one:
    /// the limit and what charging found. `token_limit` and `count_refused`
    /// are the flavour's (see `Limiter`).
    pub(super) fn charge(
        &self,
        key: &str,
        tokens: f64,
        count_refused: bool,
        token_limit: f64,
    ) -> Option<(u32, Charged)> {
        let (limit, window) = self.rate?;
        let now = Instant::now();
        let charged = lock(&self.limiters)
            .entry(key.to_string())
            .or_insert_with(|| Limiter::new(self.refill, limit, window, token_limit, now))
            .charge(now, tokens, count_refused);
        Some((limit, charged))
    }

    pub(super) fn stats(&self) -> Stats {
        lock(&self.stats).clone()
    }

    pub(super) fn times(&self, text: &str) -> Option<(Instant, Option<Instant>)> {
        lock(&self.times).get(text).copied()
    }

    /// Counts a request as it arrives: its headers, its key and where the
    /// key came.
    pub(super) fn count_arrival(&self, headers: &HeaderMap, key: Option<&Key>, key_in_url: bool) {
        let mut stats = lock(&self.stats);
        if let Some(key) = key {
            *stats.key_headers.entry(key.place.to_string()).or_default() += 1;
        }
        for name in headers.keys() {
            stats.header_names.insert(name.as_str().to_string());
        }
        stats.requests += 1;
        stats.key_in_url += u64::from(key_in_url);
        stats.no_key += u64::from(key.is_none());
        if let Some(key) = key {
            *stats.by_key.entry(key.value.clone()).or_default() += 1;
        }
    }

    /// Counts an answer, by status and by key.
    pub(super) fn count_answer(&self, key: Option<String>, status: u16) {
        let mut stats = lock(&self.stats);
        *stats.by_status.entry(status).or_default() += 1;
        if let Some(key) = key {
            *stats
                .by_key_status
                .entry(key)
                .or_default()
                .entry(status)
                .or_default() += 1;
        }
    }

    /// Notes a request on `key` (its prompt `text`) as being answered,
    /// counting an overlap with each one on the key that still is.
    pub(super) fn enter(self: &Arc<Shared>, key: &str, text: String) -> InFlight {
        let id = self.next_request.fetch_add(1, Ordering::Relaxed);
        let mut in_flight = lock(&self.in_flight);
        let on_key = in_flight.entry(key.to_string()).or_default();
        let mut stats = lock(&self.stats);
        stats.in_flight += 1;
        if !on_key.is_empty() {
            stats.overlaps += 1;
            for (_, earlier) in on_key.iter() {
                stats.overlap_pairs.push((earlier.clone(), text.clone()));
            }
        }
        on_key.push((id, text));
        InFlight {
            shared: self.clone(),
            key: key.to_string(),
            id,
        }
    }
}

/// Counts a request in flight on a key until dropped (also when the client
/// goes away mid-request and the server drops the handler).
pub(super) struct InFlight {
    shared: Arc<Shared>,
    key: String,
    id: u64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(on_key) = lock(&self.shared.in_flight).get_mut(&self.key) {
            on_key.retain(|(id, _)| *id != self.id);
        }
        lock(&self.shared.stats).in_flight -= 1;
    }
}
