//! Connector definitions: the JSON files that say where an API lives and how
//! it takes a key. The files in `connectors/` are built into the binary; a
//! user file with the same `name` overrides a built-in.

use crate::error::usage;
use crate::names;
use crate::pool::quota::{Limit, Metric, Window};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The connectors shipped in `connectors/`, as (file name, JSON).
const BUILT_IN: &[(&str, &str)] = &[
    (
        "generativelanguage.googleapis.com.json",
        include_str!("../connectors/generativelanguage.googleapis.com.json"),
    ),
    (
        "api-inference.huggingface.co.json",
        include_str!("../connectors/api-inference.huggingface.co.json"),
    ),
    (
        "api.openai.com.json",
        include_str!("../connectors/api.openai.com.json"),
    ),
    (
        "api.anthropic.com.json",
        include_str!("../connectors/api.anthropic.com.json"),
    ),
    (
        "api.groq.com.json",
        include_str!("../connectors/api.groq.com.json"),
    ),
    (
        "openrouter.ai.json",
        include_str!("../connectors/openrouter.ai.json"),
    ),
    (
        "api.mistral.ai.json",
        include_str!("../connectors/api.mistral.ai.json"),
    ),
    (
        "api.cerebras.ai.json",
        include_str!("../connectors/api.cerebras.ai.json"),
    ),
    (
        "api.deepseek.com.json",
        include_str!("../connectors/api.deepseek.com.json"),
    ),
    (
        "router.huggingface.co.json",
        include_str!("../connectors/router.huggingface.co.json"),
    ),
    (
        "httpbin.org.json",
        include_str!("../connectors/httpbin.org.json"),
    ),
];

/// A `models` list: ids, or objects naming one in `id` or `name` (as other
/// tools' connector files may hold them).
fn model_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let items = Vec::<serde_json::Value>::deserialize(d)?;
    items
        .iter()
        .map(|item| {
            item.as_str()
                .or_else(|| item["id"].as_str())
                .or_else(|| item["name"].as_str())
                .map(str::to_string)
                .ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "models holds {item}, neither a model id nor an object with one"
                    ))
                })
        })
        .collect()
}

/// One API, as described by a connector file. Fields unknown to jongler are
/// kept in `extra`, so files written for api-jongler load unchanged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Connector {
    /// The name used on the command line and in the INI section header.
    pub name: String,
    /// Host name or IP address of the API.
    pub host: String,
    /// TCP port; defaults to 443 for https and 80 for http.
    #[serde(default)]
    pub port: Option<u16>,
    /// `https` or `http`.
    #[serde(default = "default_protocol")]
    pub protocol: String,
    /// `json` (bodies are checked and sent as application/json) or `text`.
    #[serde(default = "default_format")]
    pub format: String,
    /// Whether requests need a key from the pool.
    #[serde(default = "default_true")]
    pub requires_api_key: bool,
    /// The header that carries the key (default `Authorization`).
    #[serde(default)]
    pub api_key_header: Option<String>,
    /// Put before the key in the header (default `Bearer ` for `Authorization`).
    #[serde(default)]
    pub api_key_prefix: Option<String>,
    /// Environment variables `PREFIX`, `PREFIX_1` … `PREFIX_N` also hold keys.
    #[serde(default)]
    pub key_env_prefix: Option<String>,
    /// Statuses that mean "this key is rate limited" besides 429. (A 500,
    /// 502, 503 or 504 is the service's trouble, not the key's, unless listed.)
    #[serde(default = "default_rate_limit_statuses")]
    pub rate_limit_statuses: Vec<u16>,
    /// Error codes that mean "this key is bad", as the API puts them in its
    /// error body (`error.code`, `error.type`, `error.status` or an
    /// `ErrorInfo.reason`), besides 401 and Google's key reasons.
    #[serde(default)]
    pub bad_key_codes: Vec<String>,
    /// How long a LOCKDOWN lasts when the API does not say.
    #[serde(default = "default_lockdown_seconds")]
    pub lockdown_seconds: u64,
    /// Quotas per key: `{"requests": N | "tokens": N, "per": "2s" | "1m" | "day", "model": "…"}`.
    #[serde(default)]
    pub limits: Vec<LimitSpec>,
    /// The time zone `"per": "day"` limits reset in (default America/Los_Angeles).
    #[serde(default)]
    pub daily_reset_tz: Option<String>,
    /// Models to fall back to, in order, when every key is out of its daily
    /// quota for the model asked for (e.g. `["gemini-2.5-flash", "gemini-2.5-flash-lite"]`).
    #[serde(default)]
    pub fallback_models: Vec<String>,
    /// Where the API's OpenAI-compatible routes live, for `jongler serve`'s
    /// `/v1/chat/completions`, `/v1/models` and `/v1/embeddings` (Gemini: `/v1beta/openai`).
    #[serde(default)]
    pub openai_base_path: Option<String>,
    /// OpenAI routes the API has natively besides chat completions, models
    /// and embeddings (`["/responses", "/completions"]` for OpenAI): `serve`
    /// passes them through instead of bridging them onto chat completions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub openai_native_routes: Vec<String>,
    /// The API version `jongler serve` puts before a path that names none
    /// (`/models/…:generateContent`, from a base URL without it), e.g. `/v1beta`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_api_version: Option<String>,
    /// Client headers `jongler serve` passes upstream besides `content-type`,
    /// `accept` and `x-goog-api-client` (e.g. `anthropic-version`).
    #[serde(default)]
    pub forward_headers: Vec<String>,
    /// How the answers' rate-limit headers read: `"openai"`, `"anthropic"`,
    /// `"cerebras"`, or `{"quotas": [...]}` (see `http::ratelimit`). What they
    /// say paces the pool like a declared limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_headers: Option<crate::http::ratelimit::SchemeSpec>,
    /// Headers sent with every request (e.g. `{"anthropic-version": "2023-06-01"}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// A request that costs no quota, for `jongler check` (e.g. `/v1beta/models`).
    #[serde(default)]
    pub check_endpoint: Option<String>,
    /// The models the API serves, for `jongler serve`'s routing by model
    /// when it serves several connectors (default: the API's own model
    /// list, asked with a pool key and refreshed now and then).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "model_list"
    )]
    pub models: Vec<String>,
    /// A short name for `jongler serve`'s `<name>/<model>` ids and native
    /// prefix, beside the full name (e.g. `groq` for `api.groq.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_name: Option<String>,
    /// Whose documented rules count a request's images, audio, video and
    /// PDFs against token limits: `"gemini"`, `"openai"` or `"anthropic"`
    /// (default: Gemini's for a key in `x-goog-api-key`, Anthropic's for one
    /// in `x-api-key`, else OpenAI's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_tokens: Option<crate::pool::cost::Accounting>,
    /// Everything else in the file, kept as is.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// One entry of a connector's `"limits"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSpec {
    /// At most this many requests …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    /// … or this many tokens …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    /// … per this window: `"2s"`, `"1m"`, `"1h"` or `"day"`.
    pub per: String,
    /// Only for this model (default: every request on the key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Where the figure comes from, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Connector {
    /// Whose rules count media in this API's requests.
    pub fn media_accounting(&self) -> crate::pool::cost::Accounting {
        use crate::pool::cost::Accounting;
        self.media_tokens.unwrap_or_else(|| {
            match self
                .api_key_header
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("x-goog-api-key") => Accounting::Gemini,
                Some("x-api-key") => Accounting::Anthropic,
                _ => Accounting::OpenAi,
            }
        })
    }
}

impl LimitSpec {
    /// The limit it declares.
    pub fn to_limit(&self) -> Result<Limit, String> {
        let (metric, amount) = match (self.requests, self.tokens) {
            (Some(n), None) => (Metric::Requests, n),
            (None, Some(n)) => (Metric::Tokens, n),
            _ => return Err("a limit needs exactly one of \"requests\" and \"tokens\"".into()),
        };
        if amount == 0 {
            return Err("a limit of 0 would never let a request out".into());
        }
        let window = Window::parse(&self.per)?;
        Ok(Limit {
            metric,
            amount,
            window,
            model: self.model.clone(),
        })
    }
}

fn default_protocol() -> String {
    "https".into()
}
fn default_format() -> String {
    "json".into()
}
fn default_true() -> bool {
    true
}
fn default_rate_limit_statuses() -> Vec<u16> {
    vec![429]
}
fn default_lockdown_seconds() -> u64 {
    60
}

impl Connector {
    /// Parses and validates one connector file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Connector> {
        let connector: Connector = serde_json::from_str(text).map_err(|e| {
            usage(format!(
                "connector file {origin} is not a valid connector: {e}"
            ))
        })?;
        connector
            .validate()
            .map_err(|e| usage(format!("connector file {origin}: {e}")))?;
        Ok(connector)
    }

    /// A connector from a JSON value (a file with its `extends` resolved).
    pub fn from_value(value: serde_json::Value, origin: &str) -> Result<Connector> {
        let connector: Connector = serde_json::from_value(value).map_err(|e| {
            usage(format!(
                "connector file {origin} is not a valid connector: {e}"
            ))
        })?;
        connector
            .validate()
            .map_err(|e| usage(format!("connector file {origin}: {e}")))?;
        Ok(connector)
    }

    fn validate(&self) -> Result<(), String> {
        names::check(&self.name).map_err(|e| format!("name {:?} can't be used: {e}", self.name))?;
        if let Some(short) = &self.short_name {
            names::check(short).map_err(|e| format!("short_name {short:?} can't be used: {e}"))?;
        }
        if let Some(bad) = self
            .models
            .iter()
            .find(|m| m.is_empty() || m.chars().any(char::is_whitespace))
        {
            return Err(format!("models holds {bad:?}, not a model id"));
        }
        if self.host.is_empty() || self.host.contains(['/', '?', '#', '@', ' ']) {
            return Err(format!("host {:?} is not a host name", self.host));
        }
        if !matches!(self.protocol.as_str(), "http" | "https") {
            return Err(format!(
                "protocol {:?} must be \"http\" or \"https\"",
                self.protocol
            ));
        }
        if self.port == Some(0) {
            return Err("port 0 is not a port".into());
        }
        if let Some(header) = self.api_key_header.as_ref().filter(|h| !is_token(h)) {
            return Err(format!("api_key_header {header:?} is not a header name"));
        }
        let key_header = self.key_header().0.to_ascii_lowercase();
        if let Some(header) = self
            .forward_headers
            .iter()
            .find(|h| !is_token(h) || reserved_header(h, &key_header))
        {
            return Err(format!(
                "forward_headers holds {header:?}, which is not a header name or would carry a key, a cookie or the host"
            ));
        }
        if let Some((name, value)) = self.headers.iter().find(|(name, value)| {
            !is_token(name)
                || reqwest::header::HeaderValue::from_str(value).is_err()
                || reserved_header(name, &key_header)
                || name.eq_ignore_ascii_case("content-length")
        }) {
            return Err(format!(
                "headers holds {name:?}: {value:?}, which is not a header, or would carry a key, a cookie, the host or a length"
            ));
        }
        if let Some(spec) = &self.rate_limit_headers {
            spec.quotas()?;
        }
        if let Some(bad) = self
            .rate_limit_statuses
            .iter()
            .find(|s| !(400..=599).contains(*s))
        {
            return Err(format!(
                "rate_limit_statuses holds {bad}, not an HTTP error status"
            ));
        }
        if let Some(prefix) = &self.key_env_prefix
            && (prefix.is_empty()
                || !prefix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            return Err(format!(
                "key_env_prefix {prefix:?} is not an environment variable name"
            ));
        }
        for (i, spec) in self.limits.iter().enumerate() {
            spec.to_limit().map_err(|e| format!("limits[{i}]: {e}"))?;
        }
        if let Some(tz) = &self.daily_reset_tz {
            crate::daily::zone(tz)
                .ok_or_else(|| format!("daily_reset_tz {tz:?} is not a time zone"))?;
        }
        if let Some(v) = self
            .default_api_version
            .as_ref()
            .filter(|v| !v.starts_with('/') || v.ends_with('/') || v.contains(['?', '#']))
        {
            return Err(format!(
                "default_api_version {v:?} must be a path such as \"/v1beta\""
            ));
        }
        if let Some(endpoint) = self.check_endpoint.as_ref().filter(|e| !e.starts_with('/')) {
            return Err(format!("check_endpoint {endpoint:?} must start with '/'"));
        }
        Ok(())
    }

    /// The declared limits.
    pub fn declared_limits(&self) -> Vec<Limit> {
        self.limits
            .iter()
            .filter_map(|l| l.to_limit().ok())
            .collect()
    }

    /// The daily reset time zone.
    pub fn reset_tz(&self) -> &str {
        self.daily_reset_tz
            .as_deref()
            .unwrap_or(crate::daily::DAILY_RESET_TZ)
    }

    /// `protocol://host:port`, with no trailing slash.
    pub fn base_url(&self) -> String {
        let port = self
            .port
            .unwrap_or(if self.protocol == "http" { 80 } else { 443 });
        let host = if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{}://{}:{}", self.protocol, host, port)
    }

    /// The header name and prefix the key is sent with.
    pub fn key_header(&self) -> (String, String) {
        let header = self
            .api_key_header
            .clone()
            .unwrap_or_else(|| "Authorization".into());
        let prefix = self.api_key_prefix.clone().unwrap_or_else(|| {
            if header.eq_ignore_ascii_case("authorization") {
                "Bearer ".into()
            } else {
                String::new()
            }
        });
        (header, prefix)
    }

    /// Whether bodies are JSON.
    pub fn is_json(&self) -> bool {
        self.format.eq_ignore_ascii_case("json")
    }
}

/// Where user connector files are looked for, lowest precedence first.
#[derive(Debug, Clone, Default)]
pub struct ConnectorDirs {
    /// Directories that must exist (given on the command line or in the environment).
    pub required: Vec<PathBuf>,
    /// Directories read only if they exist (the config dir's `connectors/`).
    pub optional: Vec<PathBuf>,
}

/// All known connectors, by name: built-ins overridden by user files. A
/// built-in is parsed only when it is asked for (most calls use one).
#[derive(Debug, Clone)]
pub struct Connectors {
    by_name: BTreeMap<String, Known>,
}

#[derive(Debug, Clone)]
struct Known {
    /// Where it came from, for people.
    origin: String,
    /// A built-in's JSON, parsed on first use.
    text: Option<&'static str>,
    parsed: std::sync::OnceLock<Connector>,
}

impl Known {
    fn connector(&self) -> &Connector {
        self.parsed.get_or_init(|| {
            let text = self
                .text
                .expect("invariant: user connectors are parsed on load");
            // Built-ins are checked by the tests (every field, time zone included).
            serde_json::from_str(text).expect("invariant: built-in connectors are valid")
        })
    }
}

impl Connectors {
    /// The built-ins plus every `*.json` in `dirs`; later dirs override earlier.
    pub fn load(dirs: &ConnectorDirs) -> Result<Connectors> {
        let mut by_name = BTreeMap::new();
        for (file, text) in BUILT_IN {
            // A built-in's file is named after it.
            let name = file
                .strip_suffix(".json")
                .expect("invariant: built-ins are .json");
            by_name.insert(
                name.to_string(),
                Known {
                    origin: format!("built in ({file})"),
                    text: Some(text),
                    parsed: std::sync::OnceLock::new(),
                },
            );
        }
        for dir in &dirs.optional {
            if dir.is_dir() {
                load_dir(dir, &mut by_name)?;
            }
        }
        for dir in &dirs.required {
            if !dir.is_dir() {
                return Err(usage(format!(
                    "connectors dir {} does not exist or is not a directory",
                    dir.display()
                )));
            }
            load_dir(dir, &mut by_name)?;
        }
        Ok(Connectors { by_name })
    }

    /// The connector called `name` (or with that `short_name`), or an error
    /// listing the known ones.
    pub fn get(&self, name: &str) -> Result<&Connector> {
        if let Some(known) = self.by_name.get(name) {
            return Ok(known.connector());
        }
        let short = self
            .by_name
            .values()
            .map(Known::connector)
            .find(|c| c.short_name.as_deref() == Some(name));
        short.ok_or_else(|| {
            let known: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
            let suggestion = did_you_mean(name, &known)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            // A file named after it that defines another name.
            let misnamed = self.by_name.values().find(|k| {
                std::path::Path::new(&k.origin)
                    .file_stem()
                    .is_some_and(|stem| stem == name)
            });
            if let Some(other) = misnamed {
                return usage(format!(
                    "unknown connector `{name}`: {} defines `{}` (a connector is called by its \"name\"; make it \"{name}\", or call `{}`)",
                    other.origin,
                    other.connector().name,
                    other.connector().name
                ));
            }
            usage(format!(
                "unknown connector `{name}`{suggestion} (known: {}; add {name}.json to a connectors dir to define one)",
                known.join(", ")
            ))
        })
    }

    /// Every connector's name.
    pub fn names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }

    /// Every connector with the file or built-in it came from.
    pub fn iter(&self) -> impl Iterator<Item = (&Connector, &str)> {
        self.by_name
            .values()
            .map(|known| (known.connector(), known.origin.as_str()))
    }
}

/// The known name closest to a mistyped one, if any is close: a typo or
/// two, a wrong case, or a part of the name (`openai` → `api.openai.com`).
pub fn did_you_mean<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    if lower.len() >= 3
        && let Some(hit) = known
            .iter()
            .find(|k| k.to_ascii_lowercase().contains(&lower))
    {
        return Some(hit);
    }
    known
        .iter()
        .map(|k| (strsim::levenshtein(&lower, &k.to_ascii_lowercase()), *k))
        .filter(|(d, k)| *d <= (k.len() / 4).clamp(1, 3))
        .min()
        .map(|(_, k)| k)
}

/// Whether a header a connector names would carry a key (its own key header
/// included), a cookie or the host: never set or passed on by a connector.
fn reserved_header(name: &str, key_header: &str) -> bool {
    [
        "authorization",
        "x-goog-api-key",
        "host",
        "cookie",
        key_header,
    ]
    .iter()
    .any(|r| name.eq_ignore_ascii_case(r))
}

/// Whether `name` is an HTTP header name (an RFC 9110 token).
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn load_dir(dir: &Path, by_name: &mut BTreeMap<String, Known>) -> Result<()> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| usage(format!("can't read connectors dir {}: {e}", dir.display())))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    // Read every file first: one may extend another of the same dir. A
    // whole connector that neither extends nor replaces a built-in (the
    // common case, read on every call) is parsed once, straight.
    let mut docs: Vec<(PathBuf, serde_json::Map<String, serde_json::Value>)> = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| usage(format!("can't read connector file {}: {e}", path.display())))?;
        if let Ok(connector) = serde_json::from_str::<Connector>(&text)
            && !connector.extra.contains_key("extends")
            && by_name
                .get(&connector.name)
                .is_none_or(|k| k.text.is_none())
        {
            connector
                .validate()
                .map_err(|e| usage(format!("connector file {}: {e}", path.display())))
                .with_context(|| format!("loading connectors from {}", dir.display()))?;
            by_name.insert(
                connector.name.clone(),
                Known {
                    origin: path.display().to_string(),
                    text: None,
                    parsed: std::sync::OnceLock::from(connector),
                },
            );
            continue;
        }
        let doc = match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Object(doc)) => doc,
            Ok(_) => {
                return Err(usage(format!(
                    "connector file {} is not a JSON object",
                    path.display()
                )));
            }
            // The parser's own message, with line and column.
            Err(_) => {
                Connector::parse(&text, &path.display().to_string())?;
                unreachable!("invariant: text that is not JSON fails to parse")
            }
        };
        docs.push((path, doc));
    }
    for (path, doc) in &docs {
        let origin = path.display().to_string();
        let merged = resolve(doc, &origin, &docs, by_name, &mut Vec::new())?;
        if let Some(name) = merged.get("name").and_then(|n| n.as_str())
            && !doc.contains_key("extends")
            && let Some(built_in) = by_name.get(name).and_then(|k| k.text)
            && let Ok(serde_json::Value::Object(base)) = serde_json::from_str(built_in)
        {
            let dropped: Vec<&str> = [
                "api_key_header",
                "key_env_prefix",
                "limits",
                "openai_base_path",
                "rate_limit_headers",
                "headers",
            ]
            .into_iter()
            .filter(|f| base.contains_key(*f) && !doc.contains_key(*f))
            .collect();
            if !dropped.is_empty() {
                log::warn!(
                    "connector file {origin} replaces the built-in `{name}` and leaves out {}; add \"extends\": \"{name}\" to keep the built-in's",
                    dropped.join(", ")
                );
            }
        }
        let connector = Connector::from_value(serde_json::Value::Object(merged), &origin)
            .with_context(|| format!("loading connectors from {}", dir.display()))?;
        by_name.insert(
            connector.name.clone(),
            Known {
                origin,
                text: None,
                parsed: std::sync::OnceLock::from(connector),
            },
        );
    }
    Ok(())
}

/// A connector file with what it `extends` filled in: the base's fields,
/// then the file's own over them (a connector of the same dir, or one known
/// already: a built-in or from an earlier dir).
fn resolve(
    doc: &serde_json::Map<String, serde_json::Value>,
    origin: &str,
    dir_docs: &[(PathBuf, serde_json::Map<String, serde_json::Value>)],
    known: &BTreeMap<String, Known>,
    chain: &mut Vec<String>,
) -> Result<serde_json::Map<String, serde_json::Value>> {
    let Some(base) = doc.get("extends") else {
        return Ok(doc.clone());
    };
    let Some(base) = base.as_str() else {
        return Err(usage(format!(
            "connector file {origin}: \"extends\" must be a connector's name"
        )));
    };
    if chain.iter().any(|c| c == base) {
        chain.push(base.to_string());
        return Err(usage(format!(
            "connector file {origin}: \"extends\" goes round in a circle ({})",
            chain.join(" → ")
        )));
    }
    chain.push(base.to_string());
    let own_name = doc.get("name").and_then(|n| n.as_str());
    let in_dir = dir_docs.iter().find(|(_, d)| {
        d.get("name").and_then(|n| n.as_str()) == Some(base) && own_name != Some(base)
    });
    let mut merged = match (in_dir, known.get(base)) {
        (Some((path, d)), _) => resolve(d, &path.display().to_string(), dir_docs, known, chain)?,
        (None, Some(k)) => match serde_json::to_value(k.connector()) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => unreachable!("invariant: a connector serializes to an object"),
        },
        (None, None) => {
            let names: Vec<&str> = known.keys().map(String::as_str).collect();
            let hint = did_you_mean(base, &names)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            return Err(usage(format!(
                "connector file {origin} extends `{base}`, which is not a known connector{hint}"
            )));
        }
    };
    for (field, value) in doc {
        if field != "extends" {
            merged.insert(field.clone(), value.clone());
        }
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_is_valid_and_named_after_its_file() {
        for (file, text) in BUILT_IN {
            let connector = Connector::parse(text, file).unwrap();
            assert_eq!(format!("{}.json", connector.name), *file);
        }
    }

    #[test]
    fn built_ins_load_and_gemini_sends_its_key_in_a_header() {
        let all = Connectors::load(&ConnectorDirs::default()).unwrap();
        let gemini = all.get("generativelanguage.googleapis.com").unwrap();
        assert_eq!(
            gemini.key_header(),
            ("x-goog-api-key".into(), String::new())
        );
        assert_eq!(
            gemini.base_url(),
            "https://generativelanguage.googleapis.com:443"
        );
        let hf = all.get("api-inference.huggingface.co").unwrap();
        assert_eq!(hf.key_header(), ("Authorization".into(), "Bearer ".into()));
        assert!(!all.get("httpbin.org").unwrap().requires_api_key);
    }

    #[test]
    fn api_jongler_files_load_and_keep_unknown_fields() {
        let c = Connector::parse(
            r#"{"name":"x.example","host":"x.example","port":443,"protocol":"https",
                "format":"json","requires_api_key":true,"models":["a"]}"#,
            "t",
        )
        .unwrap();
        assert_eq!(c.models, ["a"]);
        assert_eq!(c.rate_limit_statuses, vec![429]);
        assert!(
            Connector::parse(r#"{"name":"x","host":"h","api_key_header":"x y"}"#, "t").is_err()
        );
        assert!(
            Connector::parse(
                r#"{"name":"x","host":"h","api_key_header":"x-goog-api-key"}"#,
                "t"
            )
            .is_ok()
        );
    }

    #[test]
    fn bad_connectors_name_the_file_and_the_field() {
        let err = Connector::parse(r#"{"name":"../x","host":"h"}"#, "f.json").unwrap_err();
        assert!(format!("{err:#}").contains("f.json"), "{err:#}");
        let err =
            Connector::parse(r#"{"name":"x","host":"h","protocol":"ftp"}"#, "f.json").unwrap_err();
        assert!(format!("{err:#}").contains("protocol"), "{err:#}");
        let err = Connector::parse("{", "g.json").unwrap_err();
        assert!(format!("{err:#}").contains("g.json"), "{err:#}");
    }
}
