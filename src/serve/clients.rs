//! Named clients of `serve`: who may use it, and how much.
//!
//! Clients are `[client NAME]` sections, in the key file or in a file of
//! their own (`serve --clients FILE`):
//!
//! ```ini
//! [client webapp]
//! token = sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//! priority = high
//! max_in_flight = 4
//! limits = 60/1m, 200000 tokens/day
//! ```
//!
//! `token` is the token itself or `sha256:` and its SHA-256 in hex (then the
//! file holds nothing a client could present). Every request is attributed to
//! the client whose token it presents; `--token` is one client named `token`.
//! Tokens are compared by digest, in constant time, and never logged.

use crate::config::KeyFile;
use crate::error::usage;
use crate::pool::Priority;
use crate::pool::quota::{Limit, Metric, Window};
use anyhow::Result;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// The name of the client `--token` defines.
pub(crate) const TOKEN_CLIENT: &str = "token";

/// The name requests go by when serve needs no token (loopback only).
pub(crate) const LOCAL_CLIENT: &str = "local";

/// One `[client NAME]` section.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ClientSpec {
    pub(crate) name: String,
    digest: [u8; 32],
    pub(crate) priority: Priority,
    pub(crate) max_in_flight: Option<u32>,
    pub(crate) limits: Vec<Limit>,
}

/// The SHA-256 of a token.
pub(crate) fn digest(token: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    d.as_ref()
        .try_into()
        .expect("invariant: SHA-256 is 32 bytes")
}

/// Compared whole, in constant time: neither the content nor the length of
/// a right token leaks through timing.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `[client NAME]` sections of a parsed INI file.
pub(crate) fn specs(file: &KeyFile) -> Result<Vec<ClientSpec>> {
    let path = file.path.display();
    let mut specs: Vec<ClientSpec> = Vec::new();
    for (section, entries) in &file.settings {
        let Some(("client", name)) = section.split_once(' ') else {
            continue;
        };
        let name = name.trim();
        let at = |line: usize, what: String| {
            usage(format!(
                "clients file {path}, section [{section}], line {line}: {what}"
            ))
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(usage(format!(
                "clients file {path}: [{section}]: a client's name is letters, digits, '-', '_' and '.'"
            )));
        }
        let mut spec = ClientSpec {
            name: name.to_string(),
            digest: [0; 32],
            priority: Priority::Normal,
            max_in_flight: None,
            limits: Vec::new(),
        };
        let mut has_token = false;
        for (field, value, line) in entries {
            match field.as_str() {
                "token" => {
                    spec.digest = token_digest(value).map_err(|e| at(*line, e))?;
                    has_token = true;
                }
                "priority" => {
                    spec.priority = Priority::parse(value).map_err(|e| at(*line, e))?;
                }
                "max_in_flight" => {
                    let n = value.trim().parse::<u32>().ok().filter(|n| *n > 0);
                    spec.max_in_flight = Some(n.ok_or_else(|| {
                        at(
                            *line,
                            "max_in_flight is a number of requests, 1 or more".into(),
                        )
                    })?);
                }
                "limits" => {
                    for item in value.split(',').filter(|s| !s.trim().is_empty()) {
                        let limit = crate::config::parse_limit(item.trim(), None)
                            .map_err(|e| at(*line, e))?;
                        spec.limits.push(limit);
                    }
                }
                other => {
                    return Err(at(
                        *line,
                        format!(
                            "unknown setting `{other}` (a client has token, priority, max_in_flight and limits)"
                        ),
                    ));
                }
            }
        }
        if !has_token {
            return Err(usage(format!(
                "clients file {path}: [{section}] has no `token = …` line"
            )));
        }
        if let Some(other) = specs.iter().find(|s| same(&s.digest, &spec.digest)) {
            return Err(usage(format!(
                "clients file {path}: [{section}] has the same token as [client {}]; each client needs its own",
                other.name
            )));
        }
        specs.push(spec);
    }
    Ok(specs)
}

fn token_digest(value: &str) -> Result<[u8; 32], String> {
    let value = value.trim();
    let Some(hex) = value.strip_prefix("sha256:") else {
        if value.len() < 8 {
            return Err("a token needs at least 8 characters".into());
        }
        return Ok(digest(value));
    };
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    match bytes.and_then(|b| <[u8; 32]>::try_from(b).ok()) {
        Some(d) => Ok(d),
        None => {
            Err("`sha256:` is followed by 64 hex digits (`printf %s TOKEN | sha256sum`)".into())
        }
    }
}

/// What one client did, since serve started (kept across reloads).
#[derive(Debug, Default)]
pub(crate) struct Counts {
    requests: AtomicU64,
    ok: AtomicU64,
    client_errors: AtomicU64,
    errors: AtomicU64,
    throttled: AtomicU64,
    in_flight: AtomicU64,
}

/// A client's counts, for `/status`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ClientReport {
    pub(crate) name: String,
    pub(crate) priority: Priority,
    pub(crate) max_in_flight: Option<u32>,
    pub(crate) in_flight: u64,
    pub(crate) requests: u64,
    pub(crate) ok: u64,
    pub(crate) client_errors: u64,
    pub(crate) errors: u64,
    /// Refused for the client's own limits.
    pub(crate) throttled: u64,
}

/// A client as serve knows it now.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) spec: ClientSpec,
    in_flight: Option<Arc<tokio::sync::Semaphore>>,
    /// Per limit, its sends in the window: (when, how much).
    sends: Mutex<Vec<VecDeque<(Instant, u64)>>>,
    counts: Arc<Counts>,
}

/// A slot among a client's requests in flight; dropping it frees it.
pub(crate) struct Slot {
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
    counts: Arc<Counts>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.counts.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why a client's request was not let through.
pub(crate) enum Refused {
    /// Over one of its limits: room again after this long.
    Limit { limit: String, after: Duration },
    /// Its requests in flight stayed at its cap for all of the wait.
    Busy { cap: u32 },
}

fn window_of(limit: &Limit) -> Duration {
    match limit.window {
        // A client's day is the last 24 hours.
        Window::Day => Duration::from_secs(86_400),
        Window::Millis(ms) => Duration::from_millis(ms.max(1) as u64),
    }
}

impl Client {
    pub(crate) fn name(&self) -> &str {
        &self.spec.name
    }

    /// Lets a request through if the client's limits have room for it
    /// (`tokens`: its estimate) and a slot among its requests in flight
    /// frees up within `wait`.
    pub(crate) async fn admit(&self, tokens: u64, wait: Duration) -> Result<Slot, Refused> {
        // The slot first: a request turned away for want of one uses none
        // of its limits' room.
        let permit = match &self.in_flight {
            None => None,
            Some(sem) => match tokio::time::timeout(wait, sem.clone().acquire_owned()).await {
                Ok(Ok(permit)) => Some(permit),
                _ => {
                    self.counts.throttled.fetch_add(1, Ordering::Relaxed);
                    return Err(Refused::Busy {
                        cap: self.spec.max_in_flight.unwrap_or(0),
                    });
                }
            },
        };
        self.take_room(tokens)?;
        self.counts.in_flight.fetch_add(1, Ordering::Relaxed);
        Ok(Slot {
            _permit: permit,
            counts: self.counts.clone(),
        })
    }

    /// Counts the request against every limit, or says which one is full.
    fn take_room(&self, tokens: u64) -> Result<(), Refused> {
        if self.spec.limits.is_empty() {
            return Ok(());
        }
        let now = Instant::now();
        let mut sends = self.sends.lock().expect("invariant: no panics under lock");
        for (limit, sent) in self.spec.limits.iter().zip(sends.iter_mut()) {
            let window = window_of(limit);
            while sent
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) >= window)
            {
                sent.pop_front();
            }
            let need = match limit.metric {
                Metric::Requests => 1,
                Metric::Tokens => tokens.min(limit.amount),
            };
            let used: u64 = sent.iter().map(|(_, n)| n).sum();
            if used + need > limit.amount {
                // Room again once enough of the oldest sends leave the window.
                let mut freed = 0;
                let mut after = window;
                for (t, n) in sent.iter() {
                    freed += n;
                    if used - freed + need <= limit.amount {
                        after = window.saturating_sub(now.duration_since(*t));
                        break;
                    }
                }
                self.counts.throttled.fetch_add(1, Ordering::Relaxed);
                return Err(Refused::Limit {
                    limit: limit.label(),
                    after,
                });
            }
        }
        for (limit, sent) in self.spec.limits.iter().zip(sends.iter_mut()) {
            let n = match limit.metric {
                Metric::Requests => 1,
                Metric::Tokens => tokens.min(limit.amount),
            };
            sent.push_back((now, n));
        }
        Ok(())
    }

    /// One request of this client answered with `status`.
    pub(crate) fn answered(&self, status: u16) {
        let c = &self.counts;
        c.requests.fetch_add(1, Ordering::Relaxed);
        match status {
            200..=399 => &c.ok,
            400..=499 => &c.client_errors,
            _ => &c.errors,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    fn report(&self) -> ClientReport {
        let c = &self.counts;
        ClientReport {
            name: self.spec.name.clone(),
            priority: self.spec.priority,
            max_in_flight: self.spec.max_in_flight,
            in_flight: c.in_flight.load(Ordering::Relaxed),
            requests: c.requests.load(Ordering::Relaxed),
            ok: c.ok.load(Ordering::Relaxed),
            client_errors: c.client_errors.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            throttled: c.throttled.load(Ordering::Relaxed),
        }
    }
}

/// Where clients come from.
#[derive(Debug, Clone)]
pub(crate) enum ClientSource {
    /// `--clients FILE` (it must exist).
    File(PathBuf),
    /// The key file's `[client …]` sections, if it has any.
    KeyFile(PathBuf),
}

impl ClientSource {
    pub(crate) fn path(&self) -> &Path {
        match self {
            ClientSource::File(p) | ClientSource::KeyFile(p) => p,
        }
    }

    fn read(&self) -> Result<Vec<ClientSpec>> {
        match KeyFile::read(self.path())? {
            Some(file) => specs(&file),
            None => match self {
                ClientSource::File(p) => Err(usage(format!(
                    "clients file {} does not exist (named by --clients)",
                    p.display()
                ))),
                ClientSource::KeyFile(_) => Ok(Vec::new()),
            },
        }
    }
}

/// Every client, as last read; their counts and limits' windows survive a
/// reload under the same name.
#[derive(Debug)]
pub(crate) struct Clients {
    current: RwLock<Arc<Vec<Arc<Client>>>>,
    source: Option<ClientSource>,
    /// The `--token` client, if there is one.
    token: Option<ClientSpec>,
    /// Counts by client name, across reloads.
    counts: Mutex<HashMap<String, Arc<Counts>>>,
    /// The anonymous client of a serve that needs no token.
    local: Option<Arc<Client>>,
}

impl Clients {
    /// The clients `token` and `source` define. Without either (or with a
    /// key file that defines none), every request is the `local` client and
    /// needs no token.
    pub(crate) fn load(token: Option<&str>, source: Option<ClientSource>) -> Result<Clients> {
        let token = token.map(|t| ClientSpec {
            name: TOKEN_CLIENT.into(),
            digest: digest(t),
            priority: Priority::Normal,
            max_in_flight: None,
            limits: Vec::new(),
        });
        let specs = match &source {
            Some(s) => s.read()?,
            None => Vec::new(),
        };
        let mut clients = Clients {
            current: RwLock::new(Arc::new(Vec::new())),
            local: None,
            source,
            token,
            counts: Mutex::new(HashMap::new()),
        };
        if clients.token.is_none() && specs.is_empty() {
            let spec = ClientSpec {
                name: LOCAL_CLIENT.into(),
                digest: [0; 32],
                priority: Priority::Normal,
                max_in_flight: None,
                limits: Vec::new(),
            };
            clients.local = Some(clients.client(spec));
        } else {
            clients.install(specs)?;
        }
        Ok(clients)
    }

    /// Whether requests must present a token.
    pub(crate) fn need_token(&self) -> bool {
        self.local.is_none()
    }

    fn client(&self, spec: ClientSpec) -> Arc<Client> {
        let counts = self
            .counts
            .lock()
            .expect("invariant: no panics under lock")
            .entry(spec.name.clone())
            .or_default()
            .clone();
        Arc::new(Client {
            in_flight: spec
                .max_in_flight
                .map(|n| Arc::new(tokio::sync::Semaphore::new(n as usize))),
            sends: Mutex::new(vec![VecDeque::new(); spec.limits.len()]),
            spec,
            counts,
        })
    }

    /// Puts `specs` (and the `--token` client) in place; a client whose
    /// settings are unchanged keeps its slots and windows.
    fn install(&self, specs: Vec<ClientSpec>) -> Result<()> {
        let old = self.current();
        let mut next: Vec<Arc<Client>> = Vec::with_capacity(specs.len() + 1);
        for spec in self.token.iter().cloned().chain(specs) {
            if next.iter().any(|c| c.spec.name == spec.name) {
                return Err(usage(format!(
                    "a client named `{}` is defined twice (`{TOKEN_CLIENT}` is --token's)",
                    spec.name
                )));
            }
            match old.iter().find(|c| c.spec == spec) {
                Some(same) => next.push(same.clone()),
                None => next.push(self.client(spec)),
            }
        }
        *self
            .current
            .write()
            .expect("invariant: no panics under lock") = Arc::new(next);
        Ok(())
    }

    fn current(&self) -> Arc<Vec<Arc<Client>>> {
        self.current
            .read()
            .expect("invariant: no panics under lock")
            .clone()
    }

    /// The client presenting one of `presented` (tokens), if any.
    pub(crate) fn identify<'a>(
        &self,
        presented: impl Iterator<Item = &'a str>,
    ) -> Option<Arc<Client>> {
        if let Some(local) = &self.local {
            return Some(local.clone());
        }
        let clients = self.current();
        let mut found = None;
        for token in presented {
            let d = digest(token);
            // Every client compared: the time taken says nothing of which.
            for client in clients.iter() {
                if same(&client.spec.digest, &d) && found.is_none() {
                    found = Some(client.clone());
                }
            }
        }
        found
    }

    /// Reads the clients again; what changed, for the log. A file that
    /// doesn't parse changes nothing.
    pub(crate) fn reload(&self) -> Result<Option<String>> {
        let Some(source) = &self.source else {
            return Ok(None);
        };
        if self.local.is_some() {
            // Started without tokens: a client defined later would need a
            // restart to be required (and to be safe to listen beyond
            // loopback).
            let specs = source.read()?;
            if !specs.is_empty() {
                return Ok(Some(
                    "clients were added, but serve started without tokens: restart it to require them".into(),
                ));
            }
            return Ok(None);
        }
        let before: Vec<String> = self.current().iter().map(|c| c.spec.name.clone()).collect();
        let old = self.current();
        self.install(source.read()?)?;
        let now = self.current();
        let added: Vec<&str> = now
            .iter()
            .filter(|c| !before.contains(&c.spec.name))
            .map(|c| c.name())
            .collect();
        let removed: Vec<&str> = before
            .iter()
            .filter(|n| !now.iter().any(|c| &c.spec.name == *n))
            .map(String::as_str)
            .collect();
        let changed = now
            .iter()
            .filter(|c| {
                old.iter()
                    .any(|o| o.spec.name == c.spec.name && !Arc::ptr_eq(o, c))
            })
            .count();
        let mut parts = Vec::new();
        if !added.is_empty() {
            parts.push(format!("+{} client(s) ({})", added.len(), added.join(", ")));
        }
        if !removed.is_empty() {
            parts.push(format!(
                "-{} client(s) ({})",
                removed.len(),
                removed.join(", ")
            ));
        }
        if changed > 0 {
            parts.push(format!("{changed} client(s) with new settings"));
        }
        Ok((!parts.is_empty()).then(|| parts.join(", ")))
    }

    /// The file clients are read from, to watch.
    pub(crate) fn file(&self) -> Option<&Path> {
        self.source.as_ref().map(ClientSource::path)
    }

    /// Every client's counts, in file order.
    pub(crate) fn reports(&self) -> Vec<ClientReport> {
        match &self.local {
            Some(local) => vec![local.report()],
            None => self.current().iter().map(|c| c.report()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<ClientSpec>> {
        specs(&KeyFile::parse(text, Path::new("clients.ini"))?)
    }

    #[test]
    fn a_client_has_a_token_and_optional_settings() {
        let hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let specs = parse(&format!(
            "[client web]\ntoken = sha256:{hex}\npriority = high\nmax_in_flight = 2\nlimits = 5/1m, 100 tokens/day\n\n[client batch]\ntoken = batch-token-1\n"
        ))
        .unwrap();
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[0].digest, digest("test"));
        assert_eq!(specs[0].priority, Priority::High);
        assert_eq!(specs[0].max_in_flight, Some(2));
        assert_eq!(specs[0].limits.len(), 2);
        assert_eq!(specs[1].digest, digest("batch-token-1"));
        assert_eq!(specs[1].priority, Priority::Normal);
    }

    #[test]
    fn mistakes_name_the_file_and_line_and_never_the_token() {
        for (text, says) in [
            ("[client a]\ntoken = sha256:abc\n", "line 2"),
            (
                "[client a]\ntoken = secret-token-1\ncolour = red\n",
                "line 3",
            ),
            (
                "[client a]\ntoken = secret-token-1\nmax_in_flight = 0\n",
                "line 3",
            ),
            (
                "[client a]\ntoken = secret-token-1\nlimits = 5 per minute\n",
                "line 3",
            ),
            ("[client a]\npriority = high\n", "no `token"),
            (
                "[client a]\ntoken = secret-token-1\n[client b]\ntoken = secret-token-1\n",
                "same token as [client a]",
            ),
        ] {
            let err = format!("{:#}", parse(text).unwrap_err());
            assert!(err.contains("clients.ini"), "{err}");
            assert!(err.contains(says), "{says}: {err}");
            assert!(!err.contains("secret-token-1"), "{err}");
        }
    }

    #[test]
    fn tokens_are_compared_whole() {
        assert!(same(&digest("abc"), &digest("abc")));
        assert!(!same(&digest("abc"), &digest("abd")) && !same(&digest("ab"), &digest("abc")));
    }

    #[tokio::test]
    async fn limits_refuse_what_the_window_has_no_room_for() {
        let clients = Clients::load(Some("tok-tok-tok"), None).unwrap();
        let mut spec = clients.current()[0].spec.clone();
        spec.limits = vec![crate::config::parse_limit("2/1h", None).unwrap()];
        let client = clients.client(spec);
        assert!(client.admit(1, Duration::ZERO).await.is_ok());
        assert!(client.admit(1, Duration::ZERO).await.is_ok());
        match client.admit(1, Duration::ZERO).await {
            Err(Refused::Limit { after, .. }) => assert!(after > Duration::from_secs(3500)),
            _ => panic!("a third request in the hour should be refused"),
        }
    }
}
