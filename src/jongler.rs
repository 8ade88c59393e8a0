//! The request flow: one call, from picking a key to the answer, retrying on
//! other keys as the answers say. Config → pool → network, in one direction.

use crate::config::{self, KeyEntry, Paths};
use crate::connector::{Connector, Connectors};
use crate::error::{Error, usage};
use crate::http::classify::{RetryHint, Verdict, classify};
use crate::http::{self, Answer, NetOptions};
use crate::pool::store::{CleanReport, LockdownSource, Store};
use crate::pool::{KeyStatus, NoKey, Pool};
use anyhow::{Context, Result};
use jiff::Timestamp;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Network errors say nothing about the key, and an outage would otherwise
/// be tried on every key of a large pool: retry on at most this many others.
const MAX_NETWORK_RETRIES: usize = 2;

/// How often one call may use one key that keeps answering "rate limited,
/// come back at T": each time only after T, so this only bounds a call that
/// would otherwise wait out --wait on a key that never recovers.
const MAX_TRIES_PER_KEY: usize = 3;

/// How to connect: every field has the CLI's default.
#[derive(Debug, Clone)]
pub struct Options {
    /// The INI key file (default: `APIJONGLER_CONFIG`, else `<config dir>/jongler/APIJongler.ini`).
    pub config: Option<PathBuf>,
    /// The state dir (default: `JONGLER_STATE_DIR`, else the platform state dir).
    pub state_dir: Option<PathBuf>,
    /// An extra connectors dir, overriding the others.
    pub connectors_dir: Option<PathBuf>,
    /// Also take keys from the connector's `key_env_prefix` variables.
    pub env_keys: bool,
    /// How long a call may wait for a free key (`Duration::ZERO`: not at all).
    pub wait: Duration,
    /// Proxy and timeout.
    pub net: NetOptions,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            config: None,
            state_dir: None,
            connectors_dir: None,
            env_keys: true,
            wait: Duration::from_secs(60),
            net: NetOptions {
                proxy: None,
                timeout: Some(Duration::from_secs(300)),
            },
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

/// A connection to one connector's API through its key pool.
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
    connector: Connector,
    /// `None` when the connector needs no key.
    pool: Option<Pool>,
    client: http::Client,
    wait: Duration,
}

impl Jongler {
    /// Loads the connector and its keys and opens the state dir.
    pub fn connect(connector: &str, options: Options) -> Result<Jongler> {
        let paths = Paths::resolve(
            options.config.as_deref(),
            options.state_dir.as_deref(),
            options.connectors_dir.as_deref(),
        )?;
        let connectors = Connectors::load(&paths.connector_dirs)?;
        let connector = connectors.get(connector)?.clone();
        let keys = if connector.requires_api_key {
            config::keys_for(&connector, &paths, options.env_keys)?
        } else {
            Vec::new()
        };
        Self::with_keys(connector, keys, Store::new(paths.state_dir), &options)
    }

    /// A connection from parts already loaded (the emulator demo, tests).
    pub fn with_keys(
        connector: Connector,
        keys: Vec<KeyEntry>,
        store: Store,
        options: &Options,
    ) -> Result<Jongler> {
        let client = http::Client::new(&connector, &options.net)?;
        let pool = if connector.requires_api_key {
            if keys.is_empty() {
                return Err(usage(format!("no keys for `{}`", connector.name)));
            }
            store.prepare()?;
            Some(Pool::new(
                &connector.name,
                keys,
                store,
                connector.lockdown_seconds,
            ))
        } else {
            None
        };
        Ok(Jongler {
            connector,
            pool,
            client,
            wait: options.wait,
        })
    }

    /// The connector.
    pub fn connector(&self) -> &Connector {
        &self.connector
    }

    /// Sends one request: a free key from the pool, and on a rate limit, a bad
    /// key or a network error, again on another key (each key at most once).
    /// A 4xx or 5xx that is the request's own fault comes back as a `Response`.
    pub fn request(&self, method: &str, endpoint: &str, body: Option<&[u8]>) -> Result<Response> {
        let method = parse_method(method)?;
        if !endpoint.starts_with('/') {
            return Err(usage(format!("endpoint `{endpoint}` must start with '/'")));
        }
        if let (Some(body), true) = (body, self.connector.is_json())
            && let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(body)
        {
            return Err(usage(format!(
                "the request body is not valid JSON ({e}); connector `{}` sends JSON",
                self.connector.name
            )));
        }
        let Some(pool) = &self.pool else {
            let answer = self.client.send(&method, endpoint, body, None)?;
            return Ok(into_response(answer, None));
        };

        let deadline = Instant::now() + self.wait;
        let mut tried = HashSet::new();
        let mut history: Vec<String> = Vec::new();
        let mut last_transport: Option<http::TransportError> = None;
        let mut only_transport = true;
        let mut network_errors = 0;
        let mut rate_limited: HashMap<usize, usize> = HashMap::new();
        loop {
            let lease = match pool.acquire(&tried, deadline)? {
                Ok(lease) => lease,
                Err(why) => {
                    if let (Some(e), true) = (&last_transport, only_transport) {
                        return Err(anyhow::anyhow!(
                            "{e}; every key was tried: {}",
                            history.join("; ")
                        ));
                    }
                    return Err(Error::NoKey(self.no_key_message(why, &history)).into());
                }
            };
            tried.insert(lease.index());
            let name = lease.name().to_string();
            log::debug!("{method} {endpoint} with key `{name}`");
            let answer = match self.client.send(&method, endpoint, body, Some(lease.key())) {
                Ok(answer) => answer,
                Err(e) => {
                    history.push(format!("`{name}` network error"));
                    network_errors += 1;
                    if network_errors > MAX_NETWORK_RETRIES {
                        return Err(anyhow::anyhow!(
                            "{e}; gave up after {network_errors} network errors ({})",
                            history.join("; ")
                        ));
                    }
                    log::warn!("key `{name}`: {e}; trying another key");
                    last_transport = Some(e);
                    drop(lease);
                    continue;
                }
            };
            let now = Timestamp::now();
            let verdict = classify(
                answer.status,
                &answer.headers,
                &answer.body,
                &self.connector.rate_limit_statuses,
                Some(lease.key()),
                now,
            );
            match verdict {
                Verdict::Success | Verdict::CallerError | Verdict::ServerError => {
                    let key = lease.key().clone();
                    if verdict == Verdict::Success {
                        lease.succeeded()?;
                    }
                    let mut response = into_response(answer, Some(name));
                    mask(&mut response.body, &key);
                    return Ok(response);
                }
                Verdict::RateLimited { hint, reason } => {
                    only_transport = false;
                    let (until, source) = match hint {
                        RetryHint::RetryInfo(t) => (Some(t), LockdownSource::RetryInfo),
                        RetryHint::RetryAfter(t) => (Some(t), LockdownSource::RetryAfter),
                        RetryHint::DailyReset(t) => (Some(t), LockdownSource::DailyQuota),
                        RetryHint::Unknown => (None, LockdownSource::Default),
                    };
                    // A key the API gave a time for may be tried again in
                    // this call once that time has come (within --wait).
                    let index = lease.index();
                    let times = rate_limited.entry(index).or_insert(0);
                    *times += 1;
                    if source.is_exact() && *times < MAX_TRIES_PER_KEY {
                        tried.remove(&index);
                    }
                    let end = lease.lock_down(until, source, &reason)?;
                    log::warn!(
                        "key `{name}` is rate limited until {end:.0} ({reason}); trying another key"
                    );
                    history.push(format!("`{name}` rate limited until {end:.0}"));
                }
                Verdict::BadKey { reason } => {
                    only_transport = false;
                    lease.mark_error(&reason)?;
                    log::warn!(
                        "key `{name}` is bad ({reason}); marked ERROR — fix it, then run `jongler --cleanup {}`",
                        self.connector.name
                    );
                    history.push(format!("`{name}` bad key"));
                }
            }
        }
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
                self.connector.name,
                response.status,
                String::from_utf8_lossy(&response.body).trim()
            );
        }
        response.json()
    }

    /// Every key's state.
    pub fn key_states(&self) -> Result<Vec<KeyStatus>> {
        self.pool.as_ref().map_or(Ok(Vec::new()), Pool::states)
    }

    /// Removes this connector's LOCKDOWN and ERROR markers and stale locks.
    pub fn cleanup(&self) -> Result<CleanReport> {
        self.pool.as_ref().map_or(Ok(CleanReport::default()), |p| {
            p.store().clean(Some(p.connector()))
        })
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
            NoKey::LockedDown { soonest, key } => format!(
                "no key for `{name}` comes back within --wait {}s: the soonest is `{key}` at {soonest:.0}{tried}",
                self.wait.as_secs()
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

fn parse_method(method: &str) -> Result<reqwest::Method> {
    const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
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
fn mask(body: &mut Vec<u8>, key: &crate::secret::ApiKey) {
    let needle = key.expose().as_bytes();
    if needle.len() < 8 || !body.windows(needle.len()).any(|w| w == needle) {
        return;
    }
    let text = String::from_utf8_lossy(body).replace(key.expose(), &key.masked());
    *body = text.into_bytes();
}
