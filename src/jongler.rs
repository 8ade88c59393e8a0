//! The request flow: one call, from picking a key to the answer, retrying on
//! other keys as the answers say. Config → pool → network, in one direction.

use crate::connector::Connector;
use crate::error::{Error, usage};
use crate::http::classify::{RetryHint, Rules, Verdict, classify};
use crate::http::{self, Answer, NetOptions, Outgoing};
use crate::pool::quota::{Ask, Metric, Violation, model_of, reported_tokens};
use crate::pool::state::{CleanReport, LockdownSource, StateStore};
use crate::pool::{
    Held, KeyEntry, KeyStatus, Lease, NoKey, Pool, Priority, Quotas, duration_until,
};
use crate::retry::{KeyEffect, Meaning, Next, Outcome, Policy, RateLimit, Step};
use crate::secret::ApiKey;
use anyhow::{Context, Result};
use jiff::Timestamp;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod reload;
pub use reload::Reloaded;

/// What one try got, with the key that got it (for naming and masking).
struct Got {
    body: Body,
    key: ApiKey,
    name: String,
}

/// An answer read whole, or a successful one still arriving.
enum Body {
    Whole(Answer),
    Stream(http::Pending),
}

/// How to connect: every field has the CLI's default.
#[derive(Debug, Clone)]
pub struct Options {
    /// The INI key file (default: `APIJONGLER_CONFIG`, else `<config dir>/jongler/APIJongler.ini`).
    pub config: Option<PathBuf>,
    /// The state dir (default: `JONGLER_STATE_DIR`, else the platform state dir).
    pub state_dir: Option<PathBuf>,
    /// A Redis URL to keep key state in (default: `JONGLER_STATE`, else the state dir).
    pub state: Option<String>,
    /// With Redis: how long a dead holder's key stays LOCKED.
    pub lease_ttl: Duration,
    /// An extra connectors dir, overriding the others.
    pub connectors_dir: Option<PathBuf>,
    /// Also take keys from the connector's `key_env_prefix` variables.
    pub env_keys: bool,
    /// How long a call may wait for a free key (`Duration::ZERO`: not at all).
    pub wait: Duration,
    /// Proxy and timeout.
    pub net: NetOptions,
    /// Models to fall back to, in order, when every key is out of its daily
    /// quota for the one asked for (default: the connector's `fallback_models`).
    pub fallback_models: Vec<String>,
    /// The place of this connection's calls among those waiting for a key
    /// (in every process on the pool): `batch` is low.
    pub priority: Priority,
    /// Keep a key this long after a call of normal or high priority lets go
    /// of it, for this connection's next such call (before a lower-priority
    /// call of another process takes it): for a long-lived process whose
    /// clients send one request after another (`serve`). `None`: never.
    pub linger: Option<Duration>,
    /// How many days of usage history the state store keeps.
    pub history_days: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            config: None,
            state_dir: None,
            state: None,
            lease_ttl: crate::pool::redis::DEFAULT_LEASE_TTL,
            connectors_dir: None,
            env_keys: true,
            wait: Duration::from_secs(60),
            net: NetOptions {
                proxy: None,
                timeout: Some(Duration::from_secs(300)),
            },
            fallback_models: Vec::new(),
            priority: Priority::Normal,
            linger: None,
            history_days: crate::pool::history::DEFAULT_DAYS,
        }
    }
}

/// How many keys `check` checks at once unless told otherwise.
pub const DEFAULT_CHECK_CONCURRENCY: usize = 32;

/// What `check` found out about one key.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyHealth {
    /// The key's name.
    pub name: String,
    /// The verdict.
    pub health: Health,
    /// Details for people.
    pub detail: String,
}

/// A key's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Health {
    /// It works.
    Ok,
    /// It is bad (now marked ERROR).
    Bad,
    /// It is rate limited (now locked down).
    RateLimited,
    /// The API could not be reached.
    Unreachable,
    /// The check request failed for another reason.
    Failed,
    /// Another process held it for the whole wait.
    Busy,
}

impl Health {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Bad => "bad",
            Health::RateLimited => "rate-limited",
            Health::Unreachable => "unreachable",
            Health::Failed => "failed",
            Health::Busy => "busy",
        }
    }
}

/// An answer, with the name of the key that got it.
#[derive(Debug, Clone)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// `HTTP/1.1` and the like.
    pub version: String,
    /// Headers in the order received.
    pub headers: Vec<(String, String)>,
    /// The body (any occurrence of the key's value masked out).
    pub body: Vec<u8>,
    /// The name of the key that was used (`None` for connectors without keys).
    pub key_name: Option<String>,
}

impl Response {
    /// Whether the status is 2xx or 3xx.
    pub fn is_success(&self) -> bool {
        (200..400).contains(&self.status)
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body).context("the answer is not JSON")
    }
}

/// Tells whether whoever asked for a call has gone (a proxy's client hung
/// up): checked once a key is held, before anything is sent.
#[derive(Clone)]
pub struct Gone(pub std::sync::Arc<dyn Fn() -> bool + Send + Sync>);

impl std::fmt::Debug for Gone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gone")
    }
}

/// A request as a proxy forwards it.
#[derive(Debug, Clone, Default)]
pub struct Call {
    /// The method.
    pub method: String,
    /// Path and query, starting with '/'.
    pub path: String,
    /// The body (a shared buffer: a proxy hands over what it received, and
    /// retries send it again, without copies).
    pub body: Option<bytes::Bytes>,
    /// Headers to pass on (never a key: the pool's key is added).
    pub headers: Vec<(String, String)>,
    /// Send the key as `Authorization: Bearer` (OpenAI-style routes).
    pub bearer: bool,
    /// Whether the caller has gone: then nothing is sent (it would cost quota
    /// for an answer nobody reads).
    pub gone: Option<Gone>,
    /// Its place among calls waiting for a key (`serve`: the client's).
    pub priority: Priority,
    /// Its estimated tokens, if the caller has estimated them already (a
    /// big body costs time to read); else they are estimated from the body.
    pub tokens: Option<u64>,
}

impl Call {
    fn outgoing<'a>(&'a self, method: &'a reqwest::Method) -> Outgoing<'a> {
        Outgoing {
            method,
            path: &self.path,
            body: self.body.clone(),
            headers: &self.headers,
            bearer: self.bearer,
            cancel: None,
        }
    }
}

/// What [`Jongler::forward`] got: a whole answer (errors, and anything
/// retried on), or a successful one as a stream.
pub enum Reply {
    /// Read whole.
    Whole(Response),
    /// Read as it arrives.
    Stream(StreamReply),
}

/// A successful answer whose body arrives as it is read. The key stays
/// LOCKED until this is dropped.
pub struct StreamReply {
    /// The HTTP status.
    pub status: u16,
    /// Headers in the order received.
    pub headers: Vec<(String, String)>,
    /// The name of the key that got it.
    pub key_name: Option<String>,
    /// The body.
    pub body: Box<dyn Read + Send>,
}

impl StreamReply {
    fn new(
        pending: http::Pending,
        key_name: Option<String>,
        hold: Option<Held>,
        key: Option<&ApiKey>,
    ) -> StreamReply {
        struct Holding<R> {
            inner: R,
            _hold: Option<Held>,
        }
        impl<R: Read> Read for Holding<R> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.inner.read(buf)
            }
        }
        let (status, headers) = (pending.status, pending.headers.clone());
        let inner: Box<dyn Read + Send> = match key {
            Some(key) if key.expose().len() >= 8 => Box::new(crate::secret::MaskingReader::new(
                pending.into_reader(),
                key,
            )),
            _ => Box::new(pending.into_reader()),
        };
        StreamReply {
            status,
            headers,
            key_name,
            body: Box::new(Holding { inner, _hold: hold }),
        }
    }
}

/// Hears what calls do, for metrics (`serve`'s `/metrics`). Called from the
/// calling thread; keep it cheap.
pub trait Observer: Send + Sync {
    /// A call got a key after waiting this long (zero when one was free).
    fn waited(&self, _wait: Duration) {}
    /// An answer's status and headers came back on key `key` this long after
    /// the request went out.
    fn answered(&self, _key: &str, _status: u16, _took: Duration) {}
    /// Key `key` answered "rate limited"; the call goes on elsewhere.
    fn rate_limited(&self, _key: &str) {}
}

/// What every engine of one [`Jongler`] shares across reloads: its observer
/// and its count of rate limits absorbed.
#[derive(Default)]
struct Shared {
    observer: std::sync::RwLock<Option<Arc<dyn Observer>>>,
    rate_limits: std::sync::atomic::AtomicU64,
    /// The usage history's counts, made by the first engine's pool.
    tally: std::sync::OnceLock<Arc<crate::pool::history::Tally>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("rate_limits", &self.rate_limits)
            .finish_non_exhaustive()
    }
}

/// A connection to one connector's API through its key pool.
///
/// It can be reloaded while in use ([`Jongler::reload`]): the key file and
/// the connector are read again, and the next call uses what they say now
/// (calls in flight finish on what they started with).
///
/// ```
/// # fn main() -> anyhow::Result<()> {
/// use jongler::emulator::{Emulator, EmulatorConfig};
/// use jongler::{Jongler, Options};
///
/// // A local Gemini stand-in with two valid keys.
/// let emulator = Emulator::start(EmulatorConfig::with_keys(&["AIza-key-one", "AIza-key-two"]))?;
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("keys.ini"), "[gemini-local]\nfirst = AIza-key-one\nsecond = AIza-key-two\n")?;
/// std::fs::create_dir(dir.path().join("connectors"))?;
/// std::fs::write(dir.path().join("connectors/gemini-local.json"), emulator.connector_json("gemini-local"))?;
///
/// let jongler = Jongler::connect("gemini-local", Options {
///     config: Some(dir.path().join("keys.ini")),
///     state_dir: Some(dir.path().join("state")),
///     connectors_dir: Some(dir.path().join("connectors")),
///     ..Options::default()
/// })?;
/// let answer = jongler.request_json(
///     "/v1beta/models/gemini-2.5-flash:generateContent",
///     &serde_json::json!({"contents": [{"parts": [{"text": "Hello"}]}]}),
/// )?;
/// assert!(answer["candidates"][0]["content"]["parts"][0]["text"].is_string());
/// for key in jongler.key_states()? {
///     println!("{} is {}", key.name, key.state.as_str());
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Jongler {
    current: std::sync::RwLock<Arc<Engine>>,
    /// Where the configuration came from, to read it again (`None`: built
    /// from parts, nothing to reload).
    source: Option<reload::Source>,
    /// One reload at a time.
    reloading: std::sync::Mutex<()>,
    shared: Arc<Shared>,
    wait: Duration,
}

/// A call found its pool replaced by a reload before it got a key: it goes on
/// with the new one.
#[derive(Debug)]
struct Superseded;

impl std::fmt::Display for Superseded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the pool was reloaded")
    }
}

impl std::error::Error for Superseded {}

impl Jongler {
    /// Loads the connector and its keys and opens the state dir.
    pub fn connect(connector: &str, options: Options) -> Result<Jongler> {
        let source = reload::Source::resolve(connector, options)?;
        let shared = Arc::new(Shared::default());
        let engine = source.load(&shared)?;
        Ok(Self::around(engine, Some(source), shared))
    }

    /// A connection from parts already loaded (the demo, tests), with the
    /// connector's own limits. It has nothing to reload from.
    pub fn with_keys(
        connector: Connector,
        keys: Vec<KeyEntry>,
        store: Arc<dyn StateStore>,
        options: &Options,
    ) -> Result<Jongler> {
        let quotas = Quotas {
            limits: connector.declared_limits(),
            groups: Default::default(),
            tz: connector.reset_tz().to_string(),
        };
        let shared = Arc::new(Shared::default());
        let engine = Engine::build(connector, keys, quotas, store, options, shared.clone())?;
        Ok(Self::around(engine, None, shared))
    }

    fn around(engine: Engine, source: Option<reload::Source>, shared: Arc<Shared>) -> Jongler {
        Jongler {
            wait: engine.wait,
            current: std::sync::RwLock::new(Arc::new(engine)),
            source,
            reloading: Default::default(),
            shared,
        }
    }

    /// The configuration calls start with now.
    fn engine(&self) -> Arc<Engine> {
        self.current
            .read()
            .expect("invariant: no panics under lock")
            .clone()
    }

    /// How long a call may wait for a free key.
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// The connector (as last loaded).
    pub fn connector(&self) -> Arc<Connector> {
        self.engine().connector.clone()
    }

    /// The key names (as last loaded).
    pub fn key_names(&self) -> Vec<String> {
        self.engine().pool.as_ref().map_or_else(Vec::new, |pool| {
            pool.keys().iter().map(|k| k.name.clone()).collect()
        })
    }

    /// Runs `call` on the current configuration, again on the new one when a
    /// reload replaces it before the call gets a key.
    fn on_current<T>(
        &self,
        wait: Duration,
        call: impl Fn(&Engine, Instant) -> Result<T>,
    ) -> Result<T> {
        let deadline = Instant::now() + wait;
        loop {
            match call(&self.engine(), deadline) {
                Err(e) if e.is::<Superseded>() => continue,
                done => return done,
            }
        }
    }

    /// Sends one request: a free key from the pool, and on a rate limit, a bad
    /// key or a network error, again on another key (each key at most once).
    /// A 4xx or 5xx that is the request's own fault comes back as a `Response`.
    pub fn request(&self, method: &str, endpoint: &str, body: Option<&[u8]>) -> Result<Response> {
        self.request_within(method, endpoint, body, self.wait)
    }

    /// [`Jongler::request`], waiting at most `wait` for a key instead of the
    /// connection's wait (`Duration::ZERO`: only a key free now).
    pub fn request_within(
        &self,
        method: &str,
        endpoint: &str,
        body: Option<&[u8]>,
        wait: Duration,
    ) -> Result<Response> {
        self.on_current(wait, |engine, deadline| {
            engine.request(method, endpoint, body, deadline)
        })
    }

    /// Forwards a request as the proxy receives it: like [`Jongler::request`]
    /// (a key from the pool, retries, waiting, fallback), but a successful
    /// answer comes back as a stream, read as it arrives, with the key held
    /// until the stream is dropped. Retries happen only before the answer's
    /// first byte.
    pub fn forward(&self, call: Call) -> Result<Reply> {
        self.forward_within(call, self.wait)
    }

    /// [`Jongler::forward`], waiting at most `wait` for a key instead of the
    /// connection's wait (`Duration::ZERO`: only a key free now). A gateway
    /// trying pools in turn uses it: a pool with no key for the call comes
    /// back at once with [`Error::NoKey`], nothing sent.
    pub fn forward_within(&self, call: Call, wait: Duration) -> Result<Reply> {
        self.on_current(wait, |engine, deadline| {
            engine.forward(call.clone(), deadline)
        })
    }

    /// POSTs `body` as JSON and returns the answer's JSON; a non-2xx answer is an error.
    pub fn request_json(
        &self,
        endpoint: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value> {
        let response = self.request("POST", endpoint, Some(body.to_string().as_bytes()))?;
        if !response.is_success() {
            anyhow::bail!(
                "{} answered {}: {}",
                self.connector().name,
                response.status,
                String::from_utf8_lossy(&response.body).trim()
            );
        }
        response.json()
    }

    /// Checks every key with a request that costs no quota (the connector's
    /// `check_endpoint`): bad keys are marked ERROR, keys in ERROR that work
    /// again are cleared, rate-limited keys are locked down.
    pub fn check(&self) -> Result<Vec<KeyHealth>> {
        self.check_with(DEFAULT_CHECK_CONCURRENCY, &|_, _| {})
    }

    /// [`Jongler::check`] with `concurrency` keys checked at once (each key
    /// still by one request at a time, and only while nobody else holds
    /// it: a key in use is checked after the others, waiting up to --wait
    /// for it); `progress(done, total)` hears of each key checked. The report
    /// is in the keys' order.
    pub fn check_with(
        &self,
        concurrency: usize,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Vec<KeyHealth>> {
        self.check_only(concurrency, progress, &|_| true)
    }

    /// [`Jongler::check_with`] of the keys whose names `which` takes.
    pub fn check_only(
        &self,
        concurrency: usize,
        progress: &(dyn Fn(usize, usize) + Sync),
        which: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<KeyHealth>> {
        self.engine().check_only(concurrency, progress, which)
    }

    /// Clears the LOCKDOWN and ERROR marks of key `name` (a key being
    /// removed); how many there were. A key in use is waited for up to
    /// --wait.
    pub fn clear_marks(&self, name: &str) -> Result<usize> {
        self.engine().clear_marks(name)
    }

    /// Tells `observer` what each call does from now on.
    pub fn observe_with(&mut self, observer: Arc<dyn Observer>) {
        *self
            .shared
            .observer
            .write()
            .expect("invariant: no panics under lock") = Some(observer);
    }

    /// Counts one request of `serve`'s client `name` in the usage history.
    pub fn count_client(&self, name: &str, totals: crate::pool::history::Totals) {
        if let Some(tally) = self.shared.tally.get() {
            tally.count(crate::pool::history::Of::Client(name), totals);
        }
    }

    /// Adds the counts gathered so far to the state store's usage history
    /// (done every second as calls come, and when the connection is
    /// dropped: a process about to exit without dropping it calls this).
    pub fn flush_history(&self) {
        if let Some(tally) = self.shared.tally.get() {
            tally.flush();
        }
    }

    /// The usage history, this connection's counts included.
    pub fn history(&self) -> Result<crate::pool::history::History> {
        self.flush_history();
        match &self.engine().pool {
            Some(pool) => pool.store().history(),
            None => Ok(Default::default()),
        }
    }

    /// How many rate-limit answers this connection has taken (each one
    /// retried on another key or later).
    pub fn rate_limits_absorbed(&self) -> u64 {
        self.shared
            .rate_limits
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How fast the declared limits let the pool send for `model` (`None`:
    /// no windowed request limit applies, or no keys).
    pub fn pace(&self, model: Option<&str>) -> Result<Option<crate::pool::Pace>> {
        self.engine()
            .pool
            .as_ref()
            .map_or(Ok(None), |pool| pool.pace(model))
    }

    /// Every key's state.
    pub fn key_states(&self) -> Result<Vec<KeyStatus>> {
        self.engine()
            .pool
            .as_ref()
            .map_or(Ok(Vec::new()), Pool::states)
    }

    /// Removes this connector's LOCKDOWN and ERROR markers and stale locks.
    pub fn cleanup(&self) -> Result<CleanReport> {
        self.engine()
            .pool
            .as_ref()
            .map_or(Ok(CleanReport::default()), Pool::clean)
    }
}

/// One loaded configuration of a [`Jongler`]: the connector, its keys and
/// limits. A reload builds a new one; calls in flight finish on theirs.
#[derive(Debug)]
struct Engine {
    connector: Arc<Connector>,
    /// `None` when the connector needs no key.
    pool: Option<Pool>,
    client: http::Client,
    wait: Duration,
    /// The priority of calls made through [`Jongler::request`].
    priority: Priority,
    /// The models to fall back on, in order, when every key is out of its
    /// daily quota for the one asked for.
    fallback_models: Vec<String>,
    /// The quotas the connector's rate-limit headers describe.
    header_quotas: Vec<crate::http::ratelimit::QuotaHeaders>,
    /// Who hears about each call (metrics), and the count of rate limits
    /// absorbed.
    shared: Arc<Shared>,
}

impl Engine {
    fn observer(&self) -> Option<Arc<dyn Observer>> {
        self.shared
            .observer
            .read()
            .expect("invariant: no panics under lock")
            .clone()
    }

    fn build(
        connector: Connector,
        keys: Vec<KeyEntry>,
        quotas: Quotas,
        store: Arc<dyn StateStore>,
        options: &Options,
        shared: Arc<Shared>,
    ) -> Result<Engine> {
        let client = http::Client::new(&connector, &options.net)?;
        let pool = if connector.requires_api_key {
            if keys.is_empty() {
                return Err(usage(format!("no keys for `{}`", connector.name)));
            }
            let tally = shared.tally.get_or_init(|| {
                Arc::new(crate::pool::history::Tally::new(
                    store.clone(),
                    &quotas.tz,
                    options.history_days,
                ))
            });
            let pool = Pool::new(&connector.name, keys, store, connector.lockdown_seconds)
                .with_quotas(quotas)
                .with_history(tally.clone());
            Some(match options.linger {
                Some(moment) => pool.with_linger(moment),
                None => pool,
            })
        } else {
            None
        };
        let mut fallback_models = options.fallback_models.clone();
        if fallback_models.is_empty() {
            fallback_models = connector.fallback_models.clone();
        }
        Ok(Engine {
            pool,
            client,
            wait: options.wait,
            priority: options.priority,
            fallback_models,
            shared,
            header_quotas: match &connector.rate_limit_headers {
                Some(spec) => spec
                    .quotas()
                    .map_err(|e| usage(format!("connector `{}`: {e}", connector.name)))?,
                None => Vec::new(),
            },
            connector: Arc::new(connector),
        })
    }

    fn request(
        &self,
        method: &str,
        endpoint: &str,
        body: Option<&[u8]>,
        deadline: Instant,
    ) -> Result<Response> {
        let method = parse_method(method)?;
        check_endpoint(endpoint, "endpoint")?;
        if let (Some(body), true) = (body, self.connector.is_json())
            && let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(body)
        {
            return Err(usage(format!(
                "the request body is not valid JSON ({e}); connector `{}` sends JSON",
                self.connector.name
            )));
        }
        let call = Call {
            method: method.to_string(),
            path: endpoint.to_string(),
            body: body.map(bytes::Bytes::copy_from_slice),
            headers: Vec::new(),
            bearer: false,
            gone: None,
            priority: self.priority,
            tokens: None,
        };
        match self.run(&method, call, false, deadline)? {
            Reply::Whole(response) => Ok(response),
            Reply::Stream(_) => unreachable!("invariant: streams only when asked for"),
        }
    }

    fn forward(&self, call: Call, deadline: Instant) -> Result<Reply> {
        let method = parse_method(&call.method)?;
        check_endpoint(&call.path, "path")?;
        self.run(&method, call, true, deadline)
    }

    fn run(
        &self,
        method: &reqwest::Method,
        mut call: Call,
        stream: bool,
        deadline: Instant,
    ) -> Result<Reply> {
        let Some(pool) = &self.pool else {
            let pending = self.client.start(&call.outgoing(method), None)?;
            return Ok(if stream && (200..300).contains(&pending.status) {
                Reply::Stream(StreamReply::new(pending, None, None, None))
            } else {
                Reply::Whole(into_response(pending.read_all()?, None))
            });
        };
        // The state dir is made (or checked) only now, once the request is
        // known to be well formed: bad input changes nothing on disk.
        pool.prepare()?;
        // The model chain: the one asked for, then its fallbacks.
        loop {
            let model = model_of(&call.path, call.body.as_deref());
            match self.attempt(pool, method, &call, model.as_deref(), deadline, stream) {
                Err(err) => {
                    let next = model.as_deref().and_then(|m| self.next_model(m));
                    let daily_out =
                        matches!(err.downcast_ref::<Error>(), Some(Error::NoKey { .. }))
                            && model
                                .as_deref()
                                .is_some_and(|m| pool.daily_exhausted(m).unwrap_or(false));
                    match (next, daily_out) {
                        (Some(next), true) => {
                            let from = model.expect("invariant: next implies a model");
                            log::warn!(
                                "every key is out of its daily quota for `{from}`; falling back to `{next}`"
                            );
                            (call.path, call.body) =
                                swap_model(&call.path, call.body, &from, &next);
                        }
                        _ => return Err(err),
                    }
                }
                ok => return ok,
            }
        }
    }

    /// What an answer's rate-limit headers say of its key's quotas (their
    /// send time is filled in by the pool).
    fn readings(
        &self,
        headers: &[(String, String)],
        model: Option<&str>,
    ) -> Vec<crate::pool::quota::Observed> {
        use crate::http::ratelimit::Counts;
        use crate::pool::quota::{Metric, Observed};
        if self.header_quotas.is_empty() {
            return Vec::new();
        }
        let now = Timestamp::now();
        crate::http::ratelimit::read(&self.header_quotas, headers, now)
            .into_iter()
            .map(|r| {
                let now_ms = now.as_millisecond();
                Observed {
                    name: r.name,
                    metric: match r.counts {
                        Counts::Requests => Some(Metric::Requests),
                        Counts::Tokens | Counts::InputTokens => Some(Metric::Tokens),
                        Counts::OutputTokens => None,
                    },
                    limit: r.limit,
                    remaining: r.remaining,
                    at: now_ms,
                    reset: now_ms
                        .saturating_add(r.reset_in.as_millis().min(i64::MAX as u128) as i64),
                    continuous: r.refill == crate::http::ratelimit::Refill::Continuous,
                    window: None,
                    model: model.map(str::to_string),
                }
            })
            .collect()
    }

    /// What an answer means for the key that got it, now.
    fn verdict(&self, answer: &Answer, key: &ApiKey) -> Verdict {
        let rules = Rules {
            rate_limit_statuses: &self.connector.rate_limit_statuses,
            bad_key_codes: &self.connector.bad_key_codes,
            reset_tz: self.connector.reset_tz(),
        };
        classify(
            answer.status,
            &answer.headers,
            &answer.body,
            &rules,
            Some(key),
            Timestamp::now(),
        )
    }

    fn next_model(&self, model: &str) -> Option<String> {
        let at = self.fallback_models.iter().position(|m| m == model);
        match at {
            Some(i) => self.fallback_models.get(i + 1).cloned(),
            // A chain given without the model asked for starts after it.
            None => self
                .fallback_models
                .first()
                .filter(|m| *m != model)
                .cloned(),
        }
    }

    /// One model's worth of tries: a key with room, and again on another key
    /// as the answers say. The policy decides; this loop does what it says.
    fn attempt(
        &self,
        pool: &Pool,
        method: &reqwest::Method,
        call: &Call,
        model: Option<&str>,
        deadline: Instant,
        stream: bool,
    ) -> Result<Reply> {
        let out = call.outgoing(method);
        let ask = Ask {
            model: model.map(str::to_string),
            tokens: call.tokens.unwrap_or_else(|| {
                crate::pool::cost::estimate(call.body.as_deref(), self.connector.media_accounting())
            }),
        };
        let mut policy: Policy<Lease<'_>, Got> = Policy::new(crate::jitter_seed());
        // The last try's hold was lost in flight: the call fails as the
        // store's fault (serve: 503).
        let mut hold_lost = false;
        loop {
            let asked = Instant::now();
            let step = match pool.acquire(policy.tried(), deadline, &ask, call.priority)? {
                Ok(lease) => {
                    if let Some(o) = &self.observer() {
                        o.waited(asked.elapsed());
                    }
                    if call.gone.as_ref().is_some_and(|gone| (gone.0)()) {
                        drop(lease);
                        return Err(Error::Gone.into());
                    }
                    let (index, name) = (lease.index(), lease.name().to_string());
                    log::debug!("{method} {} with key `{name}`", call.path);
                    let outcome = self.send(&out, &lease, &ask, stream);
                    hold_lost = matches!(outcome, Outcome::LeaseLost { .. });
                    let left = deadline.saturating_duration_since(Instant::now());
                    policy.on_outcome(index, &name, lease, outcome, left)
                }
                Err(NoKey::Superseded) => return Err(Superseded.into()),
                Err(NoKey::Fenced { left }) => return Err(self.fenced(pool, left)),
                Err(why) => {
                    let retry_at = match &why {
                        NoKey::LockedDown { soonest, .. } => Some(*soonest),
                        // Keys held by other processes may come back any moment.
                        _ => None,
                    };
                    let busy = matches!(why, NoKey::TimedOut { busy, .. } if busy > 0);
                    match policy.out_of_keys() {
                        Step {
                            next: Next::NoKey(history),
                            ..
                        } => {
                            let message = self.no_key_message(why, &history);
                            return Err(Error::NoKey {
                                message,
                                retry_at,
                                busy,
                            }
                            .into());
                        }
                        step => step,
                    }
                }
            };
            for (lease, effect) in step.effects {
                self.apply(lease, effect, None, model)?;
            }
            match step.next {
                Next::Again { pause } => std::thread::sleep(pause),
                Next::Deliver { answer, holder } => {
                    return self.deliver(answer, holder, model);
                }
                Next::Fail(message) if hold_lost => return Err(Error::Unavailable(message).into()),
                Next::Fail(message) => return Err(anyhow::anyhow!(message)),
                Next::NoKey(_) => unreachable!("invariant: only out_of_keys says NoKey"),
            }
        }
    }

    /// The error for a pool whose store lost its state and hands out no key
    /// for longer than the wait left.
    fn fenced(&self, pool: &Pool, left: Duration) -> anyhow::Error {
        Error::Unavailable(format!(
            "the state store {} lost its state (restarted empty, flushed or failed over): \
             no key for `{}` is handed out for {:.1}s more, until every lease that may still \
             be live has run out — longer than --wait; nothing was sent",
            pool.describe_store(),
            self.connector.name,
            left.as_secs_f64()
        ))
        .into()
    }

    /// Sends on a held key; what came back, read as the policy needs it.
    fn send(&self, out: &Outgoing<'_>, lease: &Lease<'_>, ask: &Ask, stream: bool) -> Outcome<Got> {
        let name = lease.name().to_string();
        let key = lease.key().clone();
        let sent = Instant::now();
        // Stopped in flight if the key's lease is lost.
        let out = Outgoing {
            cancel: lease.cancel(),
            ..out.clone()
        };
        let started = self.client.start(&out, Some(&key));
        if let (Some(o), Ok(p)) = (&self.observer(), &started) {
            o.answered(&name, p.status, sent.elapsed());
        }
        let answer = match started {
            // Success: the body is handed over as it arrives.
            Ok(p) if stream && (200..300).contains(&p.status) => {
                let status = p.status;
                return Outcome::Answered {
                    answer: Got {
                        body: Body::Stream(p),
                        key,
                        name,
                    },
                    status,
                    meaning: Meaning::Success,
                };
            }
            other => match other.and_then(http::Pending::read_all) {
                Ok(answer) => answer,
                Err(e) if e.stopped => return Outcome::LeaseLost { error: e.message },
                Err(e) => {
                    return Outcome::NetworkError {
                        error: e.message,
                        unsent: e.unsent,
                    };
                }
            },
        };
        let meaning = match self.verdict(&answer, &key) {
            Verdict::Success
                if !stream
                    && self.connector.is_json()
                    && answer.status == 200
                    && !is_json_answer(&answer) =>
            {
                Meaning::EmptySuccess
            }
            Verdict::Success => Meaning::Success,
            Verdict::CallerError => Meaning::CallerError,
            Verdict::ServerError => Meaning::ServerError,
            Verdict::Unavailable {
                retry_after,
                reason,
            } => Meaning::Unavailable {
                retry_after: retry_after.map(duration_until),
                reason,
            },
            Verdict::SuspectKey { reason } => Meaning::SuspectKey { reason },
            Verdict::BadKey { reason } => Meaning::BadKey { reason },
            Verdict::RateLimited {
                hint,
                reason,
                violations,
            } => {
                let model = ask.model.as_deref();
                Meaning::RateLimited(self.rate_limit(
                    lease,
                    &answer.headers,
                    model,
                    ask.tokens,
                    (hint, reason, violations),
                ))
            }
        };
        Outcome::Answered {
            status: answer.status,
            answer: Got {
                body: Body::Whole(answer),
                key,
                name,
            },
            meaning,
        }
    }

    /// A rate-limit answer read: until when (the API's word, else what its
    /// headers say, else the connector's default), with what its headers said
    /// of the key's quotas kept on the way.
    fn rate_limit(
        &self,
        lease: &Lease<'_>,
        headers: &[(String, String)],
        model: Option<&str>,
        tokens: u64,
        (hint, reason, violations): (
            RetryHint,
            String,
            Vec<crate::http::classify::QuotaViolation>,
        ),
    ) -> RateLimit {
        let (mut until, mut source) = lockdown_of(hint);
        let readings = self.readings(headers, model);
        if !readings.is_empty() {
            if until.is_none()
                && let Some(at) = room_again(&readings, tokens)
            {
                (until, source) = (Some(at), LockdownSource::RateLimitHeaders);
            }
            if let Err(e) = lease.observed(readings) {
                log::warn!("can't keep what the rate-limit headers said: {e:#}");
            }
        }
        let now = Timestamp::now();
        let until = until.unwrap_or_else(|| {
            let secs = self.connector.lockdown_seconds.min(i64::MAX as u64) as i64;
            now.saturating_add(jiff::SignedDuration::from_secs(secs))
                .unwrap_or(now)
        });
        let violations = violations
            .into_iter()
            .map(|v| Violation {
                metric: if v.tokens {
                    Metric::Tokens
                } else {
                    Metric::Requests
                },
                daily: v.daily,
                limit: v.limit,
                model: v.model.or_else(|| model.map(str::to_string)),
            })
            .collect();
        RateLimit {
            until,
            source,
            reason,
            violations,
        }
    }

    /// Does to a held key what the policy said; `answer` is the answer it
    /// got, when that is being delivered (its token count and headers are kept).
    fn apply(
        &self,
        lease: Lease<'_>,
        effect: KeyEffect,
        answer: Option<&Answer>,
        model: Option<&str>,
    ) -> Result<()> {
        match effect {
            KeyEffect::Release => drop(lease),
            KeyEffect::Succeeded => match answer {
                Some(answer) => lease.succeeded_with(
                    reported_tokens(&answer.body),
                    self.readings(&answer.headers, model),
                )?,
                None => lease.succeeded(None)?,
            },
            KeyEffect::Unavailable => lease.unavailable()?,
            KeyEffect::Bad(reason) => self.bad_key(lease, &reason)?,
            KeyEffect::RateLimited(limit) => {
                let name = lease.name().to_string();
                self.shared
                    .rate_limits
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if let Some(o) = &self.observer() {
                    o.rate_limited(&name);
                }
                let scope = match limit.violations.iter().find_map(|v| v.model.as_deref()) {
                    Some(m) => format!(" for `{m}`"),
                    None => String::new(),
                };
                let end = lease.rate_limited(
                    Some(limit.until),
                    limit.source,
                    &limit.reason,
                    &limit.violations,
                )?;
                log::warn!(
                    "key `{name}` is rate limited{scope} until {end:.0} ({}); trying another key",
                    limit.reason
                );
            }
        }
        Ok(())
    }

    /// Hands the caller the answer the policy chose.
    fn deliver(
        &self,
        got: Got,
        holder: Option<(Lease<'_>, KeyEffect)>,
        model: Option<&str>,
    ) -> Result<Reply> {
        let Got { body, key, name } = got;
        match body {
            Body::Stream(pending) => {
                let (lease, _) = holder.expect("invariant: a stream is delivered with its key");
                let hold = lease.succeeded_holding(self.readings(&pending.headers, model))?;
                Ok(Reply::Stream(StreamReply::new(
                    pending,
                    Some(name),
                    Some(hold),
                    Some(&key),
                )))
            }
            Body::Whole(answer) => {
                if let Some((lease, effect)) = holder {
                    self.apply(lease, effect, Some(&answer), model)?;
                }
                Ok(Reply::Whole(finish(answer, &key, name)))
            }
        }
    }

    /// Marks a key ERROR and says what to do about it.
    fn bad_key(&self, lease: Lease<'_>, reason: &str) -> Result<()> {
        let name = lease.name().to_string();
        lease.mark_error(reason)?;
        log::warn!(
            "key `{name}` is bad ({reason}); marked ERROR — fix it, then run `jongler --cleanup {}`",
            self.connector.name
        );
        Ok(())
    }

    fn check_only(
        &self,
        concurrency: usize,
        progress: &(dyn Fn(usize, usize) + Sync),
        which: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<KeyHealth>> {
        let Some(pool) = &self.pool else {
            return Ok(Vec::new());
        };
        pool.prepare()?;
        let name = &self.connector.name;
        let endpoint = self.connector.check_endpoint.as_deref().ok_or_else(|| {
            usage(format!(
                "connector `{name}` has no check_endpoint; add one to its file (a request that costs no quota, e.g. \"/v1beta/models\")"
            ))
        })?;
        let chosen: Vec<usize> = (0..pool.keys().len())
            .filter(|&i| which(&pool.keys()[i].name))
            .collect();
        let total = pool.keys().len();
        let slots: Vec<std::sync::Mutex<Option<KeyHealth>>> =
            (0..total).map(|_| Default::default()).collect();
        let done = std::sync::atomic::AtomicUsize::new(0);
        // Free keys first, without waiting; keys in use go round again,
        // waiting for them up to --wait.
        let busy: std::sync::Mutex<Vec<usize>> = Default::default();
        for (round, wait) in [(0, Duration::ZERO), (1, self.wait)] {
            let todo: Vec<usize> = if round == 0 {
                chosen.clone()
            } else {
                std::mem::take(&mut *busy.lock().expect("invariant: no panics under lock"))
            };
            let next = std::sync::atomic::AtomicUsize::new(0);
            let failed: std::sync::Mutex<Option<anyhow::Error>> = Default::default();
            let workers = concurrency.clamp(1, todo.len().max(1));
            std::thread::scope(|scope| {
                for _ in 0..workers {
                    scope.spawn(|| {
                        use std::sync::atomic::Ordering;
                        while let Some(&i) = todo.get(next.fetch_add(1, Ordering::Relaxed)) {
                            if failed
                                .lock()
                                .expect("invariant: no panics under lock")
                                .is_some()
                            {
                                return;
                            }
                            match self.check_key(pool, i, endpoint, Instant::now() + wait) {
                                Ok(Some(health)) => {
                                    *slots[i].lock().expect("invariant: no panics under lock") =
                                        Some(health);
                                    progress(
                                        done.fetch_add(1, Ordering::Relaxed) + 1,
                                        chosen.len(),
                                    );
                                }
                                Ok(None) if round == 0 => busy
                                    .lock()
                                    .expect("invariant: no panics under lock")
                                    .push(i),
                                Ok(None) => {
                                    *slots[i].lock().expect("invariant: no panics under lock") =
                                        Some(KeyHealth {
                                            name: pool.keys()[i].name.clone(),
                                            health: Health::Busy,
                                            detail: "in use by another process for all of --wait"
                                                .into(),
                                        });
                                    progress(
                                        done.fetch_add(1, Ordering::Relaxed) + 1,
                                        chosen.len(),
                                    );
                                }
                                Err(e) => {
                                    *failed.lock().expect("invariant: no panics under lock") =
                                        Some(e);
                                    return;
                                }
                            }
                        }
                    });
                }
            });
            if let Some(e) = failed
                .into_inner()
                .expect("invariant: no panics under lock")
            {
                return Err(e);
            }
        }
        Ok(slots
            .into_iter()
            .filter_map(|s| s.into_inner().expect("invariant: no panics under lock"))
            .collect())
    }

    /// Checks key `i` if it can be had by `deadline` (`None`: it was in use
    /// all along).
    fn check_key(
        &self,
        pool: &Pool,
        i: usize,
        endpoint: &str,
        deadline: Instant,
    ) -> Result<Option<KeyHealth>> {
        let key_name = pool.keys()[i].name.clone();
        let health = |health: Health, detail: String| KeyHealth {
            name: key_name.clone(),
            health,
            detail,
        };
        let Some(lease) = pool.take_for_check(i, deadline)? else {
            return Ok(None);
        };
        let answer =
            match self
                .client
                .send(&reqwest::Method::GET, endpoint, None, Some(lease.key()))
            {
                Ok(answer) => answer,
                Err(e) => return Ok(Some(health(Health::Unreachable, e.to_string()))),
            };
        let verdict = self.verdict(&answer, lease.key());
        Ok(Some(match verdict {
            Verdict::Unavailable { reason, .. } => health(
                Health::Failed,
                format!("{endpoint} answered {}: {reason}", answer.status),
            ),
            Verdict::Success => {
                let detail = if lease.clear_error()? {
                    "works again: ERROR cleared"
                } else {
                    ""
                };
                health(Health::Ok, detail.into())
            }
            // A check asks for nothing but the key: any refusal is the key's.
            Verdict::BadKey { reason } | Verdict::SuspectKey { reason } => {
                lease.mark_error(&reason)?;
                health(Health::Bad, format!("{reason} (marked ERROR)"))
            }
            Verdict::RateLimited {
                hint,
                reason,
                violations,
            } => {
                let limit =
                    self.rate_limit(&lease, &answer.headers, None, 1, (hint, reason, violations));
                let detail = format!("until {:.0}: {}", limit.until, limit.reason);
                self.apply(lease, KeyEffect::RateLimited(limit), None, None)?;
                health(Health::RateLimited, detail)
            }
            Verdict::CallerError | Verdict::ServerError => health(
                Health::Failed,
                format!("{endpoint} answered {}", answer.status),
            ),
        }))
    }

    /// Clears the LOCKDOWN and ERROR marks of key `name`; see [`Jongler::clear_marks`].
    fn clear_marks(&self, name: &str) -> Result<usize> {
        let Some(pool) = &self.pool else {
            return Ok(0);
        };
        let Some(i) = pool.keys().iter().position(|k| k.name == name) else {
            return Ok(0);
        };
        match pool.take_for_check(i, Instant::now() + self.wait)? {
            Some(lease) => lease.clear_marks(),
            None => Err(anyhow::anyhow!(
                "key `{name}` stayed in use for all of --wait; its marks are left (`jongler --cleanup {}` clears them)",
                self.connector.name
            )),
        }
    }

    fn no_key_message(&self, why: NoKey, history: &[String]) -> String {
        let name = &self.connector.name;
        let tried = if history.is_empty() {
            String::new()
        } else {
            format!(" (this call: {})", history.join("; "))
        };
        match why {
            NoKey::AllTried => format!("every key for `{name}` was tried in this call{tried}"),
            NoKey::AllBad { errors } => format!(
                "no usable key for `{name}`: {errors} in ERROR (bad keys){tried}; fix them in the config file, then run `jongler --cleanup {name}`"
            ),
            NoKey::LockedDown {
                soonest,
                key,
                daily,
            } => format!(
                "no key for `{name}` comes back within --wait {}s: the soonest is `{key}` at {soonest:.0}{}{tried}",
                self.wait.as_secs(),
                if daily {
                    " (daily quotas reset then)"
                } else {
                    ""
                }
            ),
            NoKey::Superseded => format!("the pool for `{name}` was reloaded{tried}"),
            NoKey::Fenced { left } => format!(
                "the state store lost its state; no key for `{name}` for {:.1}s{tried}",
                left.as_secs_f64()
            ),
            NoKey::TimedOut { busy, soonest } => {
                let later = soonest
                    .map(|(t, k)| format!("; `{k}` comes back at {t:.0}"))
                    .unwrap_or_default();
                format!(
                    "no key for `{name}` became free within --wait {}s: {busy} in use by other processes{later}{tried}",
                    self.wait.as_secs()
                )
            }
        }
    }
}

/// The request with `from` replaced by `to`: in a Gemini path
/// (`/models/<model>:`) or an OpenAI body's `"model"`.
fn swap_model(
    endpoint: &str,
    body: Option<bytes::Bytes>,
    from: &str,
    to: &str,
) -> (String, Option<bytes::Bytes>) {
    let needle = format!("/models/{from}");
    if endpoint.contains(&needle) {
        return (
            endpoint.replacen(&needle, &format!("/models/{to}"), 1),
            body,
        );
    }
    let body = body.map(|b| match serde_json::from_slice::<serde_json::Value>(&b) {
        Ok(mut json) if json.get("model").is_some() => {
            json["model"] = to.into();
            bytes::Bytes::from(json.to_string().into_bytes())
        }
        _ => b,
    });
    (endpoint.to_string(), body)
}

/// When a 429's headers say an exhausted quota is whole again (the reset,
/// as the providers define it: how capacity returns before then they don't
/// say), for a request of `tokens` estimated tokens.
fn room_again(readings: &[crate::pool::quota::Observed], tokens: u64) -> Option<Timestamp> {
    use crate::pool::quota::Metric;
    readings
        .iter()
        .filter(|o| {
            let need = match o.metric {
                Some(Metric::Requests) => 1,
                Some(Metric::Tokens) => tokens.max(1),
                None => return false,
            };
            o.remaining < need
        })
        .filter_map(|o| Timestamp::from_millisecond(o.reset.max(o.at + 1)).ok())
        .max()
}

/// How long a LOCKDOWN lasts, and how we know, from what the answer said.
fn lockdown_of(hint: RetryHint) -> (Option<Timestamp>, LockdownSource) {
    match hint {
        RetryHint::RetryInfo(t) => (Some(t), LockdownSource::RetryInfo),
        RetryHint::RetryAfter(t) => (Some(t), LockdownSource::RetryAfter),
        RetryHint::DailyReset(t) => (Some(t), LockdownSource::DailyQuota),
        RetryHint::Unknown => (None, LockdownSource::Default),
    }
}

/// The HTTP methods a request may use.
pub(crate) const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// An endpoint (or a proxied path) must start with '/': it is appended to
/// the connector's base URL. `what` names it in the message.
pub(crate) fn check_endpoint(endpoint: &str, what: &str) -> Result<()> {
    if endpoint.starts_with('/') {
        return Ok(());
    }
    Err(usage(format!("{what} `{endpoint}` must start with '/'")))
}

pub(crate) fn parse_method(method: &str) -> Result<reqwest::Method> {
    let upper = method.to_ascii_uppercase();
    if !METHODS.contains(&upper.as_str()) {
        return Err(usage(format!(
            "invalid method `{}`: use one of {}",
            method.escape_debug(),
            METHODS.join(", ")
        )));
    }
    Ok(reqwest::Method::from_bytes(upper.as_bytes()).expect("invariant: listed methods are valid"))
}

/// Whether a whole answer's body is JSON (an event stream counts as such).
fn is_json_answer(answer: &Answer) -> bool {
    crate::http::is_event_stream(&answer.headers)
        || serde_json::from_slice::<serde::de::IgnoredAny>(&answer.body).is_ok()
}

/// The answer as the caller gets it: the key's name, any echo of its value masked.
fn finish(answer: Answer, key: &ApiKey, name: String) -> Response {
    let mut response = into_response(answer, Some(name));
    mask(&mut response.body, key);
    response
}

fn into_response(answer: Answer, key_name: Option<String>) -> Response {
    Response {
        status: answer.status,
        version: answer.version,
        headers: answer.headers,
        body: answer.body,
        key_name,
    }
}

/// Masks any echo of the key's value in an answer before it is shown.
fn mask(body: &mut Vec<u8>, key: &ApiKey) {
    let needle = key.expose().as_bytes();
    if needle.len() < 8 || !body.windows(needle.len()).any(|w| w == needle) {
        return;
    }
    let text = String::from_utf8_lossy(body).replace(key.expose(), &key.masked());
    *body = text.into_bytes();
}
