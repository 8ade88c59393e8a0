//! `serve`'s `/metrics`: what the proxy did, in Prometheus text format
//! (through `prometheus-client`, the Prometheus project's Rust client).
//!
//! Counted as it happens: requests by key, client, route kind and status class;
//! rate-limit answers absorbed; requests in flight; how long calls waited for
//! a key and how long the upstream took to answer. Read from the pool at
//! each scrape: keys by state, and every limit's use per key.

use crate::jongler::Observer;
use crate::pool::{KeyStatus, State};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    connector: String,
    key: String,
    /// serve's client (`local` without tokens, `token` for --token).
    client: String,
    route: String,
    status_class: String,
    /// The model that served it, when `serve` routed by model ("" else).
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyLabels {
    connector: String,
    key: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    connector: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QuotaLabels {
    connector: String,
    key: String,
    limit: String,
}

/// The proxy's metrics, for every connector it serves.
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    rate_limited: Family<KeyLabels, Counter>,
    in_flight: Gauge,
    wait: Histogram,
    upstream: Histogram,
    keys: Family<StateLabels, Gauge>,
    quota_used: Family<QuotaLabels, Gauge>,
    quota_limit: Family<QuotaLabels, Gauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Seconds, from 1 ms to a minute and a half.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0, 90.0,
];

impl Metrics {
    /// Empty metrics.
    pub fn new() -> Metrics {
        let metrics = Metrics {
            registry: Mutex::new(Registry::with_prefix("jongler")),
            requests: Family::default(),
            rate_limited: Family::default(),
            in_flight: Gauge::default(),
            wait: Histogram::new(BUCKETS),
            upstream: Histogram::new(BUCKETS),
            keys: Family::default(),
            quota_used: Family::default(),
            quota_limit: Family::default(),
        };
        {
            let mut r = metrics.registry.lock().expect("invariant: no panics");
            r.register(
                "requests",
                "Requests answered, by key, route kind (native, openai) and status class",
                metrics.requests.clone(),
            );
            r.register(
                "rate_limited",
                "Rate-limit answers taken from the API and retried on another key or later",
                metrics.rate_limited.clone(),
            );
            r.register(
                "in_flight",
                "Requests being handled now",
                metrics.in_flight.clone(),
            );
            r.register(
                "key_wait_seconds",
                "How long a request waited for a key with room",
                metrics.wait.clone(),
            );
            r.register(
                "upstream_seconds",
                "How long the API took to start its answer (status and headers)",
                metrics.upstream.clone(),
            );
            r.register("keys", "Keys by state", metrics.keys.clone());
            r.register(
                "quota_used",
                "Each key's use of each limit in its current window",
                metrics.quota_used.clone(),
            );
            r.register(
                "quota_limit",
                "Each key's limits (declared, or learned from 429s or headers)",
                metrics.quota_limit.clone(),
            );
        }
        metrics
    }

    /// A request answered with `status` by `served` (its connector, and the
    /// model when routed by model; on `key`, if one was used).
    pub fn request(
        &self,
        served: (&str, Option<&str>),
        route: &str,
        status: u16,
        key: Option<&str>,
        client: &str,
    ) {
        let class = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.requests
            .get_or_create(&RequestLabels {
                connector: served.0.to_string(),
                key: key.unwrap_or("").to_string(),
                client: client.to_string(),
                route: route.to_string(),
                status_class: class.to_string(),
                model: served.1.unwrap_or("").to_string(),
            })
            .inc();
    }

    /// One more request in flight until the guard is dropped.
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// What one connector's pool tells: each call's wait, upstream time and
    /// rate limits absorbed.
    pub fn observer(self: &std::sync::Arc<Self>, connector: &str) -> std::sync::Arc<dyn Observer> {
        std::sync::Arc::new(PoolObserver {
            metrics: self.clone(),
            connector: connector.to_string(),
        })
    }

    /// The text a scrape gets, with each connector's pool as it is now.
    pub fn render(&self, pools: &[(String, Vec<KeyStatus>)]) -> String {
        self.keys.clear();
        self.quota_used.clear();
        self.quota_limit.clear();
        for (connector, keys) in pools {
            self.pool_state(connector, keys);
        }
        let mut text = String::new();
        let registry = self.registry.lock().expect("invariant: no panics");
        prometheus_client::encoding::text::encode(&mut text, &registry)
            .expect("invariant: writing to a String");
        text
    }

    /// One pool's keys by state and every limit's use.
    fn pool_state(&self, connector: &str, keys: &[KeyStatus]) {
        for state in [State::Vacant, State::Locked, State::Lockdown, State::Error] {
            let n = keys.iter().filter(|k| k.state == state).count();
            self.keys
                .get_or_create(&StateLabels {
                    connector: connector.to_string(),
                    state: state.as_str().to_string(),
                })
                .set(n as i64);
        }
        for key in keys {
            for u in &key.usage {
                let labels = QuotaLabels {
                    connector: connector.to_string(),
                    key: key.name.clone(),
                    limit: u.limit.clone(),
                };
                self.quota_used
                    .get_or_create(&labels)
                    .set(u.used.min(i64::MAX as u64) as i64);
                self.quota_limit
                    .get_or_create(&labels)
                    .set((u.used + u.left).min(i64::MAX as u64) as i64);
            }
        }
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

/// Counts a request in flight while it lives.
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A connector's pool telling the metrics what its calls did.
struct PoolObserver {
    metrics: std::sync::Arc<Metrics>,
    connector: String,
}

impl Observer for PoolObserver {
    fn waited(&self, wait: Duration) {
        self.metrics.wait.observe(wait.as_secs_f64());
    }

    fn answered(&self, _key: &str, _status: u16, took: Duration) {
        self.metrics.upstream.observe(took.as_secs_f64());
    }

    fn rate_limited(&self, key: &str) {
        self.metrics
            .rate_limited
            .get_or_create(&KeyLabels {
                connector: self.connector.clone(),
                key: key.to_string(),
            })
            .inc();
    }
}
