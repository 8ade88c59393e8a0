//! A stand-in for the Gemini, OpenAI and Anthropic APIs on loopback, for the
//! tests, the benchmarks and the demo: per-key quota windows, real 429 bodies
//! (QuotaFailure with `quotaId`, RetryInfo) and rate-limit headers, 400
//! `API_KEY_INVALID`, 403 suspended keys, 503s, the models it serves (404
//! for any other), set latency, and a count of requests that overlapped on
//! one key.
//!
//! Reading order: `routes.rs` lists every route of every flavour, one row
//! each; `exchange.rs` is the one path every request takes (key, counts,
//! overlaps, the flavour's checks, the row's handler, latency); `gemini.rs`,
//! `openai.rs` and `anthropic.rs` are each API's own answers, citing its
//! documentation, with `chat.rs` what the last two share and
//! `anthropic_compat.rs` Anthropic's OpenAI SDK compatibility layer; `state.rs` is the
//! state every request shares, `limiter.rs` one key's rate limit.

// A check's `Err` is the answer to send (axum's own pattern); boxing every
// early answer of a test server would buy nothing.
#![allow(clippy::result_large_err)]

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod anthropic;
mod anthropic_compat;
mod chat;
mod exchange;
mod gemini;
mod limiter;
mod openai;
mod routes;
mod state;
mod stream;

use state::Shared;
pub use stream::STREAM_CHUNK_INTERVAL;

/// `FromStr` by the kebab-case names serde gives a unit enum (as the CLI
/// spells them), listing them all on a miss.
macro_rules! from_kebab_str {
    ($type:ty, $what:literal, $names:literal) => {
        impl std::str::FromStr for $type {
            type Err = String;
            fn from_str(s: &str) -> Result<$type, String> {
                serde_json::from_value(Value::String(s.to_string()))
                    .map_err(|_| format!("unknown {} {s:?}: {}", $what, $names))
            }
        }
    };
}

/// How the emulator treats one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Behavior {
    /// A working key (subject to the rate window).
    Valid,
    /// 400 `API_KEY_INVALID`.
    Invalid,
    /// 403 `PERMISSION_DENIED`, consumer suspended.
    Suspended,
    /// 429 with a per-day `quotaId`: out of quota until midnight Pacific.
    DailyExhausted,
    /// 503 `UNAVAILABLE`: the model is overloaded.
    Overloaded,
    /// A bare 429 `RESOURCE_EXHAUSTED` ("Resource has been exhausted (e.g.
    /// check quota)."), with no `QuotaFailure` or `RetryInfo`: Gemini's
    /// answer when shared capacity runs out, naming no quota and no time.
    Exhausted,
    /// A bare 403 `PERMISSION_DENIED` with no `ErrorInfo`, as Gemini answers
    /// for a key reported as leaked: nothing structured says the key is at
    /// fault (a file of another project gets the same shape).
    Leaked,
}

from_kebab_str!(
    Behavior,
    "behaviour",
    "valid, invalid, suspended, leaked, exhausted, daily-exhausted, overloaded"
);

/// What the emulator does.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Key values it knows, with how each behaves. Unknown keys are invalid.
    pub keys: Vec<(String, Behavior)>,
    /// Per key: at most this many requests in any window of this length.
    pub rate: Option<(u32, Duration)>,
    /// How long each successful request takes.
    pub latency: Duration,
    /// Treat keys it doesn't know as valid (benchmarks with thousands of keys).
    pub accept_unknown: bool,
    /// Models whose daily quota every key has used up (429 PerDay for them only).
    pub daily_exhausted_models: Vec<String>,
    /// Which API it stands in for (Gemini by default). The OpenAI and
    /// Anthropic flavours send their rate-limit headers.
    pub flavor: Flavor,
    /// How `rate` refills (default: a sliding window for Gemini, a token
    /// bucket for OpenAI and Anthropic). Neither OpenAI nor Anthropic
    /// documents the rule between two resets, so both are played.
    pub refill: Option<Refill>,
    /// The model ids it serves: its listings show them, and a call naming
    /// another gets the flavour's documented "model not found" 404, charged
    /// to no limit. Empty: the flavour's default (Gemini: five current
    /// models listed, and any `gemini-` model served, so the test models
    /// and older names keep working; OpenAI and Anthropic: `model-small`
    /// and `model-large`).
    pub models: Vec<String>,
}

/// How a key's used-up capacity comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Refill {
    /// Each request counts for one window from when it was made: capacity
    /// comes back as the requests age out.
    Window,
    /// Capacity comes back steadily, the whole limit over one window.
    Bucket,
}

from_kebab_str!(Refill, "refill", "window, bucket");

impl EmulatorConfig {
    /// Valid keys, no rate limit, no latency.
    pub fn with_keys(keys: &[&str]) -> EmulatorConfig {
        EmulatorConfig {
            keys: keys
                .iter()
                .map(|k| (k.to_string(), Behavior::Valid))
                .collect(),
            rate: None,
            latency: Duration::ZERO,
            accept_unknown: false,
            daily_exhausted_models: Vec::new(),
            flavor: Flavor::Gemini,
            refill: None,
            models: Vec::new(),
        }
    }
}

/// Counts of what the emulator saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {
    /// Every request.
    pub requests: u64,
    /// Answers by status.
    pub by_status: BTreeMap<u16, u64>,
    /// Requests by key value.
    pub by_key: BTreeMap<String, u64>,
    /// Answers by key value, then status.
    pub by_key_status: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Requests that arrived while another request on the same key was still being answered.
    pub overlaps: u64,
    /// Every request header name seen (lowercase), to check what a proxy
    /// passes on.
    pub header_names: std::collections::BTreeSet<String>,
    /// For each overlap: the prompt text of the request still being answered
    /// and of the one that arrived ("" where a request has no prompt).
    pub overlap_pairs: Vec<(String, String)>,
    /// Requests that carried a key in the URL (`?key=`), which jongler never does.
    pub key_in_url: u64,
    /// Requests that carried no key at all.
    pub no_key: u64,
    /// Requests by the header (or `url`) their key came in.
    pub key_headers: BTreeMap<String, u64>,
    /// Requests being answered now.
    pub in_flight: u64,
    /// The prompt texts of generateContent requests that passed every check
    /// and are being (or were) answered: tests use it to act mid-request.
    pub started: std::collections::BTreeSet<String>,
}

/// Which API the emulator stands in for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flavor {
    /// Google's Gemini API (and its OpenAI-compatible routes).
    #[default]
    Gemini,
    /// OpenAI's API.
    Openai,
    /// Anthropic's API.
    Anthropic,
}

from_kebab_str!(Flavor, "flavour", "gemini, openai, anthropic");

/// A running emulator; dropping it stops it.
pub struct Emulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Emulator {
    /// Starts on a random loopback port, in a thread of its own.
    pub fn start(config: EmulatorConfig) -> anyhow::Result<Emulator> {
        Self::start_on(
            "127.0.0.1:0".parse().expect("invariant: valid address"),
            config,
        )
    }

    /// Starts on `addr`.
    pub fn start_on(addr: SocketAddr, config: EmulatorConfig) -> anyhow::Result<Emulator> {
        let shared = Arc::new(Shared::new(config));
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        // The test hooks, then every API route through one handler.
        let app = Router::new()
            .route("/__emulator/stats", get(stats))
            .route("/__emulator/latency", post(set_latency))
            .route("/__emulator/outage", post(set_outage))
            .fallback(exchange::handle)
            .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
            .with_state(shared.clone());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("emulator".into())
            .spawn(move || runtime.block_on(serve(listener, app, stopped)))?;
        Ok(Emulator {
            addr,
            shared,
            stop: Some(stop),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A connector file pointing at this emulator, in its flavour's style
    /// (the OpenAI and Anthropic ones name their rate-limit header scheme).
    pub fn connector_json(&self, name: &str) -> String {
        let mut connector: Value =
            serde_json::from_str(&connector_json(name, self.addr)).expect("invariant: JSON");
        exchange::api(self.shared.flavor()).connector(&mut connector);
        serde_json::to_string_pretty(&connector).expect("invariant: JSON serializes")
    }

    /// What it has seen so far.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// When the request whose prompt is `text` arrived, and when its answer
    /// was ready (in this process's clock).
    pub fn times(&self, text: &str) -> Option<(Instant, Option<Instant>)> {
        self.shared.times(text)
    }

    /// Every model answers 503 `UNAVAILABLE` "The model is overloaded", as
    /// Gemini does at peak, for `length` (`None`: until the emulator stops).
    pub fn overload(&self, length: Option<Duration>) {
        self.shared.set_outage(length);
    }

    /// Changes the latency of successful requests.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.set_latency(latency);
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Serves `app` on `listener` until `stopped`.
async fn serve(
    listener: std::net::TcpListener,
    app: Router,
    stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let listener =
        tokio::net::TcpListener::from_std(listener).expect("invariant: nonblocking listener");
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let server = axum::serve(listener, app);
    tokio::select! {
        result = server => if let Err(e) = result { eprintln!("emulator: {e}") },
        _ = stopped => {}
    }
}

/// A Gemini-style connector file for an emulator at `addr`.
pub fn connector_json(name: &str, addr: SocketAddr) -> String {
    serde_json::to_string_pretty(&serde_json::json!({
        "name": name,
        "host": addr.ip().to_string(),
        "port": addr.port(),
        "protocol": "http",
        "format": "json",
        "requires_api_key": true,
        "api_key_header": "x-goog-api-key",
        "rate_limit_statuses": [429],
        "lockdown_seconds": 60,
        "check_endpoint": "/v1beta/models",
        "openai_base_path": "/v1beta/openai",
        "default_api_version": "/v1beta"
    }))
    .expect("invariant: JSON serializes")
}

/// `GET /__emulator/stats`: what it has seen so far, as JSON.
async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.stats()).into_response()
}

#[derive(Deserialize)]
struct LatencyQuery {
    ms: u64,
}

#[derive(Deserialize)]
struct OutageQuery {
    /// How long; absent: until further notice.
    ms: Option<u64>,
}

/// `POST /__emulator/outage?ms=2000`: every model is overloaded for that long.
async fn set_outage(State(shared): State<Arc<Shared>>, Query(q): Query<OutageQuery>) -> StatusCode {
    shared.set_outage(q.ms.map(Duration::from_millis));
    StatusCode::NO_CONTENT
}

/// `POST /__emulator/latency?ms=200`: successful requests take that long.
async fn set_latency(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<LatencyQuery>,
) -> StatusCode {
    shared.set_latency(Duration::from_millis(q.ms));
    StatusCode::NO_CONTENT
}
