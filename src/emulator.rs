//! A Gemini API emulator on loopback, for the tests, the benchmarks and the
//! demo: per-key quota windows, real 429 bodies (QuotaFailure with `quotaId`,
//! RetryInfo), 400 `API_KEY_INVALID`, 403 suspended keys, 503s, set latency,
//! and a count of requests that overlapped on one key.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod limiter;
mod providers;
pub use providers::Flavor;

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

impl std::str::FromStr for Behavior {
    type Err = String;
    fn from_str(s: &str) -> Result<Behavior, String> {
        serde_json::from_value(Value::String(s.to_string())).map_err(|_| {
            format!(
                "unknown behaviour {s:?}: valid, invalid, suspended, leaked, exhausted, daily-exhausted, overloaded"
            )
        })
    }
}

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

impl std::str::FromStr for Refill {
    type Err = String;
    fn from_str(s: &str) -> Result<Refill, String> {
        serde_json::from_value(Value::String(s.to_string()))
            .map_err(|_| format!("unknown refill {s:?}: window, bucket"))
    }
}

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

struct Shared {
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
    next_request: std::sync::atomic::AtomicU64,
    /// How `rate` refills.
    refill: Refill,
    /// Each key's rate limit.
    limiters: Mutex<HashMap<String, limiter::Limiter>>,
    flavor: Flavor,
}

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
        let shared = Arc::new(Shared {
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
        });
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = Router::new()
            .route("/__emulator/stats", get(stats))
            .route("/__emulator/latency", post(set_latency))
            .route("/__emulator/outage", post(set_outage))
            .fallback(handle)
            .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
            .with_state(shared.clone());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("emulator".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("invariant: nonblocking listener");
                    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                        let _ = tcp.set_nodelay(true);
                    });
                    let server = axum::serve(listener, app);
                    tokio::select! {
                        result = server => if let Err(e) = result { eprintln!("emulator: {e}") },
                        _ = stopped => {}
                    }
                });
            })?;
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
        match self.shared.flavor {
            Flavor::Gemini => {}
            Flavor::Openai => {
                connector
                    .as_object_mut()
                    .expect("invariant")
                    .remove("default_api_version");
                connector["api_key_header"] = "Authorization".into();
                connector["api_key_prefix"] = "Bearer ".into();
                connector["rate_limit_headers"] = "openai".into();
                connector["check_endpoint"] = "/v1/models".into();
                connector["openai_base_path"] = "/v1".into();
            }
            Flavor::Anthropic => {
                connector["api_key_header"] = "x-api-key".into();
                connector["api_key_prefix"] = "".into();
                connector["rate_limit_headers"] = "anthropic".into();
                connector["headers"] = json!({"anthropic-version": "2023-06-01"});
                connector["check_endpoint"] = "/v1/models".into();
                connector["forward_headers"] = json!(["anthropic-version", "anthropic-beta"]);
                connector
                    .as_object_mut()
                    .expect("invariant")
                    .remove("openai_base_path");
            }
        }
        serde_json::to_string_pretty(&connector).expect("invariant: JSON serializes")
    }

    /// What it has seen so far.
    pub fn stats(&self) -> Stats {
        self.shared
            .stats
            .lock()
            .expect("invariant: no panics under lock")
            .clone()
    }

    /// When the request whose prompt is `text` arrived, and when its answer
    /// was ready (in this process's clock).
    pub fn times(&self, text: &str) -> Option<(Instant, Option<Instant>)> {
        self.shared
            .times
            .lock()
            .expect("invariant: no panics under lock")
            .get(text)
            .copied()
    }

    /// Every model answers 503 `UNAVAILABLE` "The model is overloaded", as
    /// Gemini does at peak, for `length` (`None`: until the emulator stops).
    pub fn overload(&self, length: Option<Duration>) {
        self.shared.set_outage(length);
    }

    /// Changes the latency of successful requests.
    pub fn set_latency(&self, latency: Duration) {
        *self
            .shared
            .latency
            .lock()
            .expect("invariant: no panics under lock") = latency;
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A Gemini-style connector file for an emulator at `addr`.
pub fn connector_json(name: &str, addr: SocketAddr) -> String {
    serde_json::to_string_pretty(&json!({
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

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    let stats = shared
        .stats
        .lock()
        .expect("invariant: no panics under lock")
        .clone();
    axum::Json(stats).into_response()
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

impl Shared {
    fn set_outage(&self, length: Option<Duration>) {
        let until = Instant::now() + length.unwrap_or(Duration::from_secs(100 * 365 * 86_400));
        *self
            .outage_until
            .lock()
            .expect("invariant: no panics under lock") = Some(until);
    }
}

async fn set_latency(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<LatencyQuery>,
) -> StatusCode {
    *shared
        .latency
        .lock()
        .expect("invariant: no panics under lock") = Duration::from_millis(q.ms);
    StatusCode::NO_CONTENT
}

/// Counts a request in flight on a key until dropped (also when the client
/// goes away mid-request and the server drops the handler).
struct InFlight {
    shared: Arc<Shared>,
    key: String,
    id: u64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(on_key) = self
            .shared
            .in_flight
            .lock()
            .expect("invariant")
            .get_mut(&self.key)
        {
            on_key.retain(|(id, _)| *id != self.id);
        }
        self.shared.stats.lock().expect("invariant").in_flight -= 1;
    }
}

fn google_error(status: StatusCode, api_status: &str, message: &str, details: Value) -> Response {
    let body = json!({"error": {"code": status.as_u16(), "message": message, "status": api_status, "details": details}});
    (status, axum::Json(body)).into_response()
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let url_key = uri.query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("key=").map(str::to_string))
    });
    let key: Option<(String, &'static str)> = match shared.flavor {
        Flavor::Gemini => headers
            .get("x-goog-api-key")
            .and_then(|v| v.to_str().ok())
            .map(|k| (k.to_string(), "x-goog-api-key"))
            .or_else(|| {
                headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .map(|k| (k.to_string(), "authorization"))
            }),
        flavor => flavor.key(&headers),
    }
    .or(url_key.clone().map(|k| (k, "url")));
    if let Some((_, header)) = &key {
        let mut stats = shared.stats.lock().expect("invariant");
        *stats.key_headers.entry(header.to_string()).or_default() += 1;
    }
    let key = key.map(|(k, _)| k);

    {
        let mut stats = shared.stats.lock().expect("invariant");
        for name in headers.keys() {
            stats.header_names.insert(name.as_str().to_string());
        }
    }
    let response = answer(
        &shared,
        &method,
        &uri,
        &headers,
        key.as_deref(),
        url_key.is_some(),
        &body,
    )
    .await;
    let mut stats = shared.stats.lock().expect("invariant");
    let status = response.status().as_u16();
    *stats.by_status.entry(status).or_default() += 1;
    if let Some(key) = key {
        *stats
            .by_key_status
            .entry(key)
            .or_default()
            .entry(status)
            .or_default() += 1;
    }
    response
}

async fn answer(
    shared: &Arc<Shared>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    key: Option<&str>,
    in_url: bool,
    body: &[u8],
) -> Response {
    {
        let mut stats = shared.stats.lock().expect("invariant");
        stats.requests += 1;
        stats.key_in_url += u64::from(in_url);
        stats.no_key += u64::from(key.is_none());
        if let Some(key) = key {
            *stats.by_key.entry(key.to_string()).or_default() += 1;
        }
    }
    if shared.flavor != Flavor::Gemini && key.is_none() {
        return providers::answer(
            shared,
            shared.flavor,
            method,
            uri,
            headers,
            None,
            body,
            None,
        )
        .await;
    }
    let Some(key) = key else {
        return google_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
            json!([]),
        );
    };
    let in_flight = {
        let id = shared
            .next_request
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let text = serde_json::from_slice::<Value>(body)
            .map(|v| prompt_text(&v))
            .unwrap_or_default();
        let mut in_flight = shared.in_flight.lock().expect("invariant");
        let on_key = in_flight.entry(key.to_string()).or_default();
        let mut stats = shared.stats.lock().expect("invariant");
        stats.in_flight += 1;
        if !on_key.is_empty() {
            stats.overlaps += 1;
            for (_, earlier) in on_key.iter() {
                stats.overlap_pairs.push((earlier.clone(), text.clone()));
            }
        }
        on_key.push((id, text));
        InFlight {
            shared: shared.clone(),
            key: key.to_string(),
            id,
        }
    };

    if shared.flavor != Flavor::Gemini {
        return providers::answer(
            shared,
            shared.flavor,
            method,
            uri,
            headers,
            Some(key),
            body,
            Some(in_flight),
        )
        .await;
    }
    let openai_model = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
        v.get("model")
            .and_then(Value::as_str)
            .map(|m| m.trim_start_matches("models/").to_string())
    });
    let native = uri
        .path()
        .strip_prefix("/v1beta/models/")
        .or_else(|| uri.path().strip_prefix("/v1/models/"));
    let model = match native {
        Some(rest) => rest.split(':').next().unwrap_or_default().to_string(),
        None => openai_model.unwrap_or_else(|| "gemini-2.5-flash".into()),
    };
    match shared.keys.get(key).copied().unwrap_or(shared.unknown) {
        Behavior::Valid => {}
        Behavior::Invalid => {
            return google_error(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}]),
            );
        }
        Behavior::Suspended => {
            return google_error(
                StatusCode::FORBIDDEN,
                "PERMISSION_DENIED",
                &format!("Permission denied: Consumer 'api_key:{key}' has been suspended."),
                json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "CONSUMER_SUSPENDED",
                        "domain": "googleapis.com"}]),
            );
        }
        Behavior::Exhausted => {
            let body = json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
                "message": "Resource has been exhausted (e.g. check quota)."}});
            return (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
        }
        Behavior::Leaked => {
            // No `details` at all, as Gemini sends it.
            let body = json!({"error": {"code": 403, "status": "PERMISSION_DENIED",
                "message": "Your API key was reported as leaked. Please use another API key."}});
            return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
        }
        Behavior::DailyExhausted => {
            return quota_429(&model, "PerDay", 50, Duration::from_secs(17));
        }
        Behavior::Overloaded => {
            return google_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "The model is overloaded. Please try again later.",
                json!([]),
            );
        }
    }

    let overloaded = shared
        .outage_until
        .lock()
        .expect("invariant")
        .is_some_and(|until| Instant::now() < until);
    if overloaded
        && (native.is_some_and(|rest| rest.contains(':'))
            || uri.path().starts_with("/v1beta/openai/chat"))
    {
        return google_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "The model is overloaded. Please try again later.",
            json!([]),
        );
    }
    if shared.exhausted_models.contains(&model) {
        return quota_429(&model, "PerDay", 250, Duration::from_secs(23));
    }
    if let Some((limit, window)) = shared.rate {
        let now = Instant::now();
        let charged = shared
            .limiters
            .lock()
            .expect("invariant")
            .entry(key.to_string())
            .or_insert_with(|| limiter::Limiter::new(shared.refill, limit, window, f64::MAX, now))
            .charge(now, 0.0, false);
        if !charged.admitted {
            return quota_429(&model, "PerMinute", limit, charged.retry_in);
        }
    }

    let path = uri.path();
    if *method == Method::GET && (path == "/v1beta/models" || path == "/v1/models") {
        // A listing takes its round trip too (what `check` sends).
        let latency = *shared.latency.lock().expect("invariant");
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        return axum::Json(json!({"models": MODELS.iter().map(|m| json!({"name": format!("models/{m}"), "displayName": m})).collect::<Vec<_>>()}))
            .into_response();
    }
    if *method == Method::GET && path == "/v1beta/openai/models" {
        return axum::Json(json!({"object": "list", "data": MODELS.iter().map(|m| json!({"id": format!("models/{m}"), "object": "model", "created": 0, "owned_by": "google"})).collect::<Vec<_>>()}))
            .into_response();
    }
    // One model: `GET /v1beta/models/{id}` and the OpenAI-compatible
    // `GET /v1beta/openai/models/{id}`.
    if *method == Method::GET {
        let one = native
            .filter(|rest| !rest.contains(':') && !rest.contains('/'))
            .map(|id| (id, false))
            .or_else(|| {
                path.strip_prefix("/v1beta/openai/models/")
                    .map(|id| (id.trim_start_matches("models/"), true))
            });
        if let Some((id, openai)) = one {
            if !MODELS.contains(&id) {
                return google_error(
                    StatusCode::NOT_FOUND,
                    "NOT_FOUND",
                    &format!("models/{id} is not found for API version v1beta"),
                    json!([]),
                );
            }
            return if openai {
                axum::Json(json!({"id": format!("models/{id}"), "object": "model", "created": 0, "owned_by": "google"}))
                    .into_response()
            } else {
                axum::Json(json!({"name": format!("models/{id}"), "displayName": id, "version": "001",
                    "inputTokenLimit": 1048576, "outputTokenLimit": 65536,
                    "supportedGenerationMethods": if id.contains("embedding") { json!(["embedContent"]) } else { json!(["generateContent", "countTokens"]) }}))
                    .into_response()
            };
        }
    }
    let openai = path.starts_with("/v1beta/openai/");
    let action = if openai {
        // The OpenAI-compatible API has these routes, no others.
        match path.trim_start_matches("/v1beta/openai/") {
            "chat/completions" => "chat/completions",
            "embeddings" => "embeddings",
            _ => "",
        }
    } else {
        path.rsplit(':').next().unwrap_or("")
    };
    if *method != Method::POST || !(openai || (native.is_some() && path.contains(':'))) {
        return google_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("{method} {path} is not found"),
            json!([]),
        );
    }
    if !model.starts_with("gemini-") {
        return google_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!(
                "models/{model} is not found for API version v1beta, or is not supported for {action}."
            ),
            json!([]),
        );
    }
    let request: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => {
            return google_error(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                "Invalid JSON payload received.",
                json!([]),
            );
        }
    };
    let text = prompt_text(&request);
    if model == "gemini-fail" {
        return google_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "An internal error has occurred.",
            json!([]),
        );
    }
    if model == "gemini-empty" {
        // Gemini now and then answers 200 with nothing in it.
        return StatusCode::OK.into_response();
    }
    let needs_contents = matches!(action, "generateContent" | "streamGenerateContent");
    if needs_contents && let Some(fields) = request.as_object() {
        // Gemini refuses fields it doesn't know (an OpenAI-style body, say).
        const KNOWN: &[&str] = &[
            "contents",
            "tools",
            "toolConfig",
            "tool_config",
            "safetySettings",
            "safety_settings",
            "systemInstruction",
            "system_instruction",
            "generationConfig",
            "generation_config",
            "cachedContent",
            "cached_content",
        ];
        if let Some(unknown) = fields.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            let message = format!(
                "Invalid JSON payload received. Unknown name \"{unknown}\": Cannot find field."
            );
            return google_error(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                &message,
                json!([{"@type": "type.googleapis.com/google.rpc.BadRequest",
                        "fieldViolations": [{"description": message}]}]),
            );
        }
    }
    if needs_contents && !request["contents"].is_array() {
        return google_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "* GenerateContentRequest.contents: contents is not specified",
            json!([]),
        );
    }
    answer_after_latency(shared, &text).await;
    let prompt_tokens = input_tokens(&text, body, crate::pool::cost::Accounting::Gemini) as usize;
    let reply = format!("echo: {text}");
    // Some APIs echo the key in an answer (a debug field, a 200 carrying an
    // error text): jongler must mask it, streams included.
    let echoed_key = (model == "gemini-echo-key").then(|| key.to_string());
    let reply_tokens = reply.len().div_ceil(4);
    let usage = json!({"promptTokenCount": prompt_tokens, "candidatesTokenCount": reply_tokens,
                       "totalTokenCount": prompt_tokens + reply_tokens});
    let gemini_chunk = |text: &str, last: bool| {
        let mut chunk = json!({
            "candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}],
            "modelVersion": model
        });
        if let Some(key) = &echoed_key {
            chunk["echoedKey"] = key.clone().into();
        }
        if last {
            chunk["candidates"][0]["finishReason"] = "STOP".into();
            chunk["usageMetadata"] = usage.clone();
        }
        chunk
    };
    let openai_usage = json!({"prompt_tokens": prompt_tokens, "completion_tokens": reply_tokens,
                              "total_tokens": prompt_tokens + reply_tokens});
    match (openai, action) {
        (false, "countTokens") => axum::Json(json!({"totalTokens": prompt_tokens})).into_response(),
        (false, "generateContent") => axum::Json(gemini_chunk(&reply, true)).into_response(),
        (false, "streamGenerateContent") if model == "gemini-big-stream" => {
            // A long answer (64 MB in 64 KB events, no pauses): a client that
            // stops reading fills every buffer between it and here.
            let filler = "x".repeat(64 * 1024);
            let event = format!("data: {}\r\n\r\n", gemini_chunk(&filler, false));
            let events = futures_util::stream::iter(
                (0..1024)
                    .map(move |_| Ok::<_, std::convert::Infallible>(Bytes::from(event.clone()))),
            );
            let guarded = futures_util::stream::unfold(
                (events, in_flight),
                |(mut events, guard)| async move {
                    use futures_util::StreamExt;
                    let next = events.next().await?;
                    Some((next, (events, guard)))
                },
            );
            Response::builder()
                .header("content-type", "text/event-stream")
                .body(axum::body::Body::from_stream(guarded))
                .expect("invariant: a valid response")
        }
        (false, "streamGenerateContent") => {
            let parts = split_reply(&reply);
            let n = parts.len();
            let events = parts
                .iter()
                .enumerate()
                .map(|(i, p)| format!("data: {}\r\n\r\n", gemini_chunk(p, i + 1 == n)))
                .collect();
            sse(events, in_flight)
        }
        (false, "embedContent") => {
            let text = request["content"]["parts"][0]["text"]
                .as_str()
                .unwrap_or_default();
            axum::Json(json!({"embedding": {"values": embed(text)}})).into_response()
        }
        (false, "batchEmbedContents") => {
            let Some(requests) = request["requests"].as_array() else {
                return google_error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_ARGUMENT",
                    "* BatchEmbedContentsRequest.requests: requests is not specified",
                    json!([]),
                );
            };
            let embeddings: Vec<Value> = requests
                .iter()
                .map(|r| json!({"values": embed(r["content"]["parts"][0]["text"].as_str().unwrap_or_default())}))
                .collect();
            axum::Json(json!({"embeddings": embeddings})).into_response()
        }
        (true, "chat/completions") => {
            let id = format!("chatcmpl-{}", prompt_tokens);
            if request["stream"].as_bool() == Some(true) {
                let parts = split_reply(&reply);
                let n = parts.len();
                let mut events: Vec<String> = parts
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        let chunk = json!({"id": id, "object": "chat.completion.chunk", "created": 0, "model": model,
                            "choices": [{"index": 0, "delta": if i == 0 { json!({"role": "assistant", "content": p}) } else { json!({"content": p}) },
                                         "finish_reason": if i + 1 == n { json!("stop") } else { Value::Null }}]});
                        format!("data: {chunk}\n\n")
                    })
                    .collect();
                events.push("data: [DONE]\n\n".into());
                sse(events, in_flight)
            } else {
                axum::Json(json!({"id": id, "object": "chat.completion", "created": 0, "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
                    "usage": openai_usage}))
                .into_response()
            }
        }
        (true, "embeddings") => {
            let inputs: Vec<String> = match &request["input"] {
                Value::Array(a) => a
                    .iter()
                    .map(|v| v.as_str().unwrap_or_default().to_string())
                    .collect(),
                v => vec![v.as_str().unwrap_or_default().to_string()],
            };
            // `encoding_format: "base64"` (openai-python's default) is the
            // little-endian f32 array, base64-encoded.
            let base64 = request["encoding_format"] == "base64";
            let data: Vec<Value> = inputs
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let values = embed(t);
                    let embedding = if base64 {
                        let bytes: Vec<u8> = values
                            .iter()
                            .flat_map(|v| (*v as f32).to_le_bytes())
                            .collect();
                        Value::String(base64_encode(&bytes))
                    } else {
                        json!(values)
                    };
                    json!({"object": "embedding", "index": i, "embedding": embedding})
                })
                .collect();
            axum::Json(json!({"object": "list", "data": data, "model": model,
                              "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}}))
            .into_response()
        }
        _ => google_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("unknown action {action}"),
            json!([]),
        ),
    }
}

/// The models the emulator knows.
const MODELS: &[&str] = &[
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-2.5-pro",
    "gemini-2.0-flash",
    "gemini-embedding-001",
];

/// How long a stream waits between its chunks.
pub const STREAM_CHUNK_INTERVAL: Duration = Duration::from_millis(150);

/// The input tokens an API reports for a request: its text, and its images,
/// audio, video and PDFs as the provider documents counting them.
pub(crate) fn input_tokens(
    text: &str,
    body: &[u8],
    accounting: crate::pool::cost::Accounting,
) -> u64 {
    text.len().div_ceil(4).max(1) as u64 + crate::pool::cost::media_tokens(body, accounting)
}

/// The text of a Gemini `contents` or an OpenAI `messages`/`input` request.
fn prompt_text(request: &Value) -> String {
    let gemini = request["contents"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["parts"].as_array().into_iter().flatten())
        .filter_map(|p| p["text"].as_str());
    // A message's content is a string, or parts whose text parts count.
    let openai = request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|m| match &m["content"] {
            Value::String(s) => vec![s.as_str()],
            Value::Array(parts) => parts
                .iter()
                .filter(|p| matches!(p["type"].as_str(), Some("text" | "input_text")))
                .filter_map(|p| p["text"].as_str())
                .collect(),
            _ => Vec::new(),
        });
    let input = request["input"].as_str().into_iter();
    gemini
        .chain(openai)
        .chain(input)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Marks the request whose prompt is `text` as being answered, waits out
/// the configured latency and notes when its answer was ready.
async fn answer_after_latency(shared: &Shared, text: &str) {
    shared
        .stats
        .lock()
        .expect("invariant")
        .started
        .insert(text.to_string());
    let arrived = Instant::now();
    let latency = *shared.latency.lock().expect("invariant");
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    shared
        .times
        .lock()
        .expect("invariant")
        .insert(text.to_string(), (arrived, Some(Instant::now())));
}

/// A made-up 4-dimensional embedding of `text` (its length first).
fn embed(text: &str) -> Vec<f64> {
    vec![text.len() as f64, 0.5, -0.25, 1.0]
}

/// Standard base64 with padding.
fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A reply in three pieces, for streams.
fn split_reply(reply: &str) -> Vec<String> {
    let chars: Vec<char> = reply.chars().collect();
    let third = chars.len().div_ceil(3).max(1);
    chars.chunks(third).map(|c| c.iter().collect()).collect()
}

/// A server-sent-events response: the first event at once, the rest
/// `STREAM_CHUNK_INTERVAL` apart; the key counts as in flight until the end.
fn sse(events: Vec<String>, in_flight: InFlight) -> Response {
    let stream = futures_util::stream::unfold(
        (events.into_iter(), 0usize, in_flight),
        |(mut events, i, guard)| async move {
            let event = events.next()?;
            if i > 0 {
                tokio::time::sleep(STREAM_CHUNK_INTERVAL).await;
            }
            Some((
                Ok::<_, std::convert::Infallible>(Bytes::from(event)),
                (events, i + 1, guard),
            ))
        },
    );
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(axum::body::Body::from_stream(stream))
        .expect("invariant: a valid response")
}

fn quota_429(model: &str, per: &str, limit: u32, retry_in: Duration) -> Response {
    google_error(
        StatusCode::TOO_MANY_REQUESTS,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
        json!([
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
             "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                             "quotaId": format!("GenerateRequests{per}PerProjectPerModel-FreeTier"),
                             "quotaDimensions": {"location": "global", "model": model},
                             "quotaValue": limit.to_string()}]},
            {"@type": "type.googleapis.com/google.rpc.Help",
             "links": [{"description": "Learn more about Gemini API quotas",
                        "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": format!("{:.3}s", retry_in.as_secs_f64())}
        ]),
    )
}
