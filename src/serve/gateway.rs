//! `serve` in front of several connectors: which pool a request goes to.
//!
//! A path names its pool when it starts with a connector's name (or short
//! name), or when it is an API's own (Gemini's `/v1beta/…`, Anthropic's
//! `/v1/messages`). On the OpenAI-compatible routes the body's `model` picks
//! it: an alias (a chain of `connector/model` entries, tried in order, see
//! [`forward_chain`]), a `connector/model` id, or a model only one connector
//! lists in its catalog (the API's own model list, asked with a pool key and
//! refreshed now and then, or the connector's declared `models`).

use crate::jongler::{Call, Jongler, Reply};
use crate::pool::cost::Accounting;
use anyhow::Result;
use axum::http::{HeaderMap, Uri};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How often a fetched model list is asked for again.
const REFRESH: Duration = Duration::from_secs(600);

/// How long the model list's request may wait for a key.
const LIST_WAIT: Duration = Duration::from_secs(10);

/// How long a call through an alias waiting on one pool goes without a look
/// at another whose keys are all in use (their return unknown).
const SLICE: Duration = Duration::from_millis(250);

/// Turns taken by calls waiting on pools whose keys are busy.
static SPREAD: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// One connector behind the listener: its pool and its models.
#[derive(Debug)]
pub(crate) struct Served {
    pub(crate) jongler: Jongler,
    /// The models its API last listed.
    catalog: RwLock<Vec<String>>,
}

impl Served {
    pub(crate) fn new(jongler: Jongler) -> Served {
        Served {
            jongler,
            catalog: RwLock::new(Vec::new()),
        }
    }

    /// The connector's name.
    pub(crate) fn name(&self) -> String {
        self.jongler.connector().name.clone()
    }

    /// Whether `word` names this connector (its name or short name).
    fn is_named(&self, word: &str) -> bool {
        let connector = self.jongler.connector();
        connector.name == word || connector.short_name.as_deref() == Some(word)
    }

    /// Whose native API it speaks.
    fn family(&self) -> Accounting {
        self.jongler.connector().media_accounting()
    }

    /// `f` of its models: those its connector (as last loaded) declares,
    /// else those its API last listed.
    fn with_models<T>(&self, f: impl FnOnce(&[String]) -> T) -> T {
        let connector = self.jongler.connector();
        if !connector.models.is_empty() {
            return f(&connector.models);
        }
        f(&self
            .catalog
            .read()
            .expect("invariant: no panics under lock"))
    }

    /// Whether it lists `model` (`None`: it has no list to say).
    fn lists(&self, model: &str) -> Option<bool> {
        self.with_models(|models| (!models.is_empty()).then(|| models.iter().any(|m| m == model)))
    }

    fn models(&self) -> Vec<String> {
        self.with_models(<[String]>::to_vec)
    }

    /// Where its OpenAI-compatible model list is, if it has one.
    fn list_path(&self) -> Option<String> {
        let connector = self.jongler.connector();
        let base = connector.openai_base_path.as_deref()?;
        Some(match self.family() {
            // Anthropic pages its list 20 at a time unless told.
            Accounting::Anthropic => format!("{base}/models?limit=1000"),
            _ => format!("{base}/models"),
        })
    }

    /// Asks the API for its models (unless the connector declares them);
    /// what it says replaces what was known. Logs a failure and keeps the
    /// last list.
    pub(crate) fn refresh(&self) {
        if !self.jongler.connector().models.is_empty() {
            return;
        }
        let Some(path) = self.list_path() else {
            return;
        };
        let listed = self
            .jongler
            .request_within("GET", &path, None, LIST_WAIT)
            .and_then(|response| {
                if !response.is_success() {
                    anyhow::bail!("it answered {}", response.status);
                }
                model_ids(&response.json()?)
                    .ok_or_else(|| anyhow::anyhow!("its answer holds no model list"))
            });
        match listed {
            Ok(models) => {
                log::info!("{}: {} models", self.name(), models.len());
                *self
                    .catalog
                    .write()
                    .expect("invariant: no panics under lock") = models;
            }
            Err(e) => eprintln!(
                "jongler: can't list the models of `{}` ({e:#}); `{}/<model>` ids and aliases still reach it",
                self.name(),
                self.jongler
                    .connector()
                    .short_name
                    .clone()
                    .unwrap_or_else(|| self.name())
            ),
        }
    }
}

/// The ids of an OpenAI-style (`data[].id`) or Gemini-style
/// (`models[].name`) model list, without Gemini's `models/`.
fn model_ids(list: &serde_json::Value) -> Option<Vec<String>> {
    let items = list["data"].as_array().or(list["models"].as_array())?;
    let ids = items
        .iter()
        .filter_map(|m| m["id"].as_str().or(m["name"].as_str()))
        .map(|id| id.strip_prefix("models/").unwrap_or(id).to_string())
        .collect();
    Some(ids)
}

/// How long `serve` waits for the model lists before taking requests (a
/// list that comes later is used from then on).
const LIST_AT_START: Duration = Duration::from_secs(15);

/// Asks every pool for its models, each on a thread of its own: now (for at
/// most [`LIST_AT_START`]), then every [`REFRESH`].
pub(crate) fn list_models(pools: &[Arc<Served>]) {
    let (listed, done) = std::sync::mpsc::channel::<()>();
    for served in pools {
        let (served, listed) = (served.clone(), listed.clone());
        let _ = std::thread::Builder::new()
            .name("jongler-models".into())
            .spawn(move || {
                served.refresh();
                let _ = listed.send(());
                loop {
                    std::thread::sleep(REFRESH);
                    served.refresh();
                }
            });
    }
    let until = Instant::now() + LIST_AT_START;
    for _ in pools {
        if done
            .recv_timeout(until.saturating_duration_since(Instant::now()))
            .is_err()
        {
            eprintln!(
                "jongler: a model list is still coming after {LIST_AT_START:?}; serving without it until it does"
            );
            return;
        }
    }
}

/// One `[alias NAME]` section: a model name that stands for a chain.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Alias {
    pub(crate) name: String,
    /// `(connector, model)`, in order of preference.
    pub(crate) chain: Vec<(String, String)>,
    /// How long a call may wait for a key in any of them (default: `--wait`).
    pub(crate) wait: Option<Duration>,
}

/// The `[alias NAME]` sections of a key file, for the connectors served
/// (`names`: each one's name and short name); and what was left out: an
/// entry naming a connector not served here (a key file may be shared by
/// serves of different connectors), an alias left with none.
pub(crate) fn aliases(
    file: &crate::config::KeyFile,
    names: &[(String, Option<String>)],
) -> Result<(Vec<Alias>, Vec<String>)> {
    let path = file.path.display();
    let mut aliases = Vec::new();
    let mut left_out = Vec::new();
    for (section, entries) in &file.settings {
        let Some(("alias", name)) = section.split_once(' ') else {
            continue;
        };
        let name = name.trim();
        let at = |line: usize, what: String| {
            crate::error::usage(format!(
                "key file {path}, section [{section}], line {line}: {what}"
            ))
        };
        if name.is_empty() || name.contains(['/', ' ']) {
            return Err(crate::error::usage(format!(
                "key file {path}: [{section}]: an alias is a model name without '/' or spaces"
            )));
        }
        let mut alias = Alias {
            name: name.to_string(),
            chain: Vec::new(),
            wait: None,
        };
        for (field, value, line) in entries {
            match field.as_str() {
                "models" => {
                    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                        match alias_entry(entry, names).map_err(|e| at(*line, e))? {
                            Some(entry) => alias.chain.push(entry),
                            None => left_out.push(format!(
                                "[{section}] line {line}: `{entry}` (its connector isn't served here)"
                            )),
                        }
                    }
                }
                "wait" => alias.wait = Some(crate::cli::duration(value).map_err(|e| at(*line, e))?),
                other => {
                    return Err(at(
                        *line,
                        format!("unknown field `{other}`; an alias has `models` and `wait`"),
                    ));
                }
            }
        }
        if !entries.iter().any(|(field, ..)| field == "models") {
            return Err(crate::error::usage(format!(
                "key file {path}: [{section}] has no `models = connector/model, …` line"
            )));
        }
        if alias.chain.is_empty() {
            left_out.push(format!(
                "alias `{name}` (none of its models is served here)"
            ));
            continue;
        }
        aliases.push(alias);
    }
    Ok((aliases, left_out))
}

/// An alias entry `connector/model`, as `(connector's name, model)`;
/// `None` if the connector isn't one of `names`.
fn alias_entry(
    entry: &str,
    names: &[(String, Option<String>)],
) -> Result<Option<(String, String)>, String> {
    let Some((word, model)) = entry
        .split_once('/')
        .filter(|(w, m)| !w.is_empty() && !m.is_empty())
    else {
        return Err(format!(
            "`{entry}` is not connector/model (e.g. gemini/gemini-2.5-flash)"
        ));
    };
    Ok(names
        .iter()
        .find(|(name, short)| name == word || short.as_deref() == Some(word))
        .map(|(name, _)| (name.clone(), model.to_string())))
}

/// Where a request goes, told from its line and headers.
pub(crate) enum Plan {
    /// To one pool, at this URI (a connector prefix taken off).
    Pool(Arc<Served>, Uri),
    /// An OpenAI route whose body's `model` picks the pool.
    ByModel,
    /// `GET /v1/models`: every pool's models, answered here.
    Models,
    /// `GET /v1/models/{id}`, answered here.
    Model(String),
    /// No pool serves this path.
    Unknown,
}

/// Where the pools are and what names what.
pub(crate) struct Gateway {
    pub(crate) pools: Vec<Arc<Served>>,
    /// The aliases, and what of them was left out (for the log).
    aliases: RwLock<(Arc<Vec<Alias>>, Vec<String>)>,
}

/// What a model name stands for: the pools to try, in order, each with the
/// model it is called there.
pub(crate) struct Chain {
    /// The alias asked for, if it was one.
    pub(crate) alias: Option<String>,
    pub(crate) entries: Vec<(Arc<Served>, String)>,
    /// How long a call may wait for a key in any of them.
    pub(crate) wait: Option<Duration>,
}

/// OpenAI routes whose body names the model.
const BY_MODEL: &[&str] = &[
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/responses",
    "/v1/completions",
];

impl Gateway {
    /// The pools, without aliases yet ([`Gateway::set_aliases`]).
    pub(crate) fn new(pools: Vec<Arc<Served>>) -> Gateway {
        Gateway {
            pools,
            aliases: RwLock::new((Arc::new(Vec::new()), Vec::new())),
        }
    }

    /// Each served connector's name and short name.
    pub(crate) fn names(&self) -> Vec<(String, Option<String>)> {
        self.pools
            .iter()
            .map(|s| {
                let c = s.jongler.connector();
                (c.name.clone(), c.short_name.clone())
            })
            .collect()
    }

    pub(crate) fn aliases(&self) -> Arc<Vec<Alias>> {
        self.aliases
            .read()
            .expect("invariant: no panics under lock")
            .0
            .clone()
    }

    /// Puts new aliases in place (and what was left out of them); whether
    /// either differs.
    pub(crate) fn set_aliases(&self, aliases: Vec<Alias>, left_out: Vec<String>) -> bool {
        let mut current = self
            .aliases
            .write()
            .expect("invariant: no panics under lock");
        let changed = *current.0 != aliases || current.1 != left_out;
        *current = (Arc::new(aliases), left_out);
        changed
    }

    /// Where a request goes, from its path and headers. One connector
    /// serves everything (as before there were several), but an alias.
    pub(crate) fn plan(&self, method: &axum::http::Method, uri: &Uri, headers: &HeaderMap) -> Plan {
        let path = uri.path();
        let openai_style =
            !headers.contains_key("x-goog-api-key") && super::query_key(uri).is_none();
        let by_model = *method == axum::http::Method::POST && BY_MODEL.contains(&path);
        if let [only] = self.pools.as_slice() {
            if by_model && openai_style && !self.aliases().is_empty() {
                return Plan::ByModel;
            }
            return Plan::Pool(only.clone(), uri.clone());
        }
        if let Some((served, rest)) = self.prefixed(uri) {
            return Plan::Pool(served, rest);
        }
        let anthropic_sdk = headers.contains_key("anthropic-version");
        let family = |f: Accounting| self.pools.iter().find(|s| s.family() == f).cloned();
        if openai_style && !anthropic_sdk {
            if by_model {
                return Plan::ByModel;
            }
            if *method == axum::http::Method::GET {
                if path == "/v1/models" {
                    return Plan::Models;
                }
                if let Some(id) = path.strip_prefix("/v1/models/")
                    && !id.is_empty()
                    && !id.contains(':')
                {
                    return Plan::Model(id.to_string());
                }
            }
        }
        if path.starts_with("/v1/messages") || anthropic_sdk {
            return family(Accounting::Anthropic)
                .map_or(Plan::Unknown, |s| Plan::Pool(s, uri.clone()));
        }
        let gemini_path = [
            "/v1beta/",
            "/v1alpha/",
            "/upload/",
            "/models/",
            "/v1/models/",
        ]
        .iter()
        .any(|p| path.starts_with(p));
        if gemini_path || !openai_style {
            return family(Accounting::Gemini)
                .map_or(Plan::Unknown, |s| Plan::Pool(s, uri.clone()));
        }
        Plan::Unknown
    }

    /// A path under `/<connector name or short name>/`: that pool, and the
    /// URI without the prefix.
    fn prefixed(&self, uri: &Uri) -> Option<(Arc<Served>, Uri)> {
        let rest = uri.path().strip_prefix('/')?;
        let (word, rest) = rest.split_once('/')?;
        let served = self.pools.iter().find(|s| s.is_named(word))?;
        let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
        let uri = format!("/{rest}{query}").parse().ok()?;
        Some((served.clone(), uri))
    }

    /// What `model` stands for: an alias, a `connector/model` id, or a model
    /// one connector lists (the first in serve's order when several do).
    /// `None`: nothing serves it.
    pub(crate) fn resolve(&self, model: &str) -> Option<Chain> {
        if let Some(alias) = self.aliases().iter().find(|a| a.name == model) {
            let entries = alias
                .chain
                .iter()
                .filter_map(|(connector, model)| {
                    let served = self.pools.iter().find(|s| s.is_named(connector))?;
                    Some((served.clone(), model.clone()))
                })
                .collect();
            return Some(Chain {
                alias: Some(alias.name.clone()),
                entries,
                wait: alias.wait,
            });
        }
        let one = |served: &Arc<Served>, model: &str| Chain {
            alias: None,
            entries: vec![(served.clone(), model.to_string())],
            wait: None,
        };
        // One connector: the model goes as it was named (as before aliases).
        if let [only] = self.pools.as_slice() {
            return Some(one(only, model));
        }
        // A model a catalog lists, by its whole id first: `openai/gpt-oss-120b`
        // on Groq, `openrouter/auto`, are model ids, not prefixes.
        let bare = model.strip_prefix("models/").unwrap_or(model);
        if let Some(served) = self.pools.iter().find(|s| s.lists(bare) == Some(true)) {
            return Some(one(served, bare));
        }
        // `connector/model`: a model its catalog lists (any, if the catalog
        // couldn't be had).
        let (word, rest) = model.split_once('/')?;
        let served = self.pools.iter().find(|s| s.is_named(word))?;
        let listed = served.lists(rest) != Some(false);
        (listed && !rest.is_empty()).then(|| one(served, rest))
    }

    /// Every model id served, once: a model one connector lists by its own
    /// id, one several list as `connector/model` for each; then the aliases.
    /// Each with the connector that owns it.
    pub(crate) fn model_ids(&self) -> Vec<(String, String)> {
        let mut owners: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for served in &self.pools {
            let connector = served.jongler.connector();
            let prefix = connector
                .short_name
                .clone()
                .unwrap_or(connector.name.clone());
            for model in served.models() {
                owners
                    .entry(model.clone())
                    .or_default()
                    .push((prefix.clone(), connector.name.clone()));
            }
        }
        let mut ids = Vec::new();
        for (model, owners) in owners {
            match owners.as_slice() {
                [(_, owner)] => ids.push((model, owner.clone())),
                _ => ids.extend(
                    owners
                        .into_iter()
                        .map(|(prefix, owner)| (format!("{prefix}/{model}"), owner)),
                ),
            }
        }
        ids.extend(
            self.aliases()
                .iter()
                .map(|a| (a.name.clone(), "jongler".to_string())),
        );
        ids
    }

    /// The known ids closest to `model`, for a 404.
    pub(crate) fn closest(&self, model: &str) -> Vec<String> {
        let lower = model.to_ascii_lowercase();
        let mut scored: Vec<(f64, String)> = self
            .model_ids()
            .into_iter()
            .map(|(id, _)| (strsim::jaro_winkler(&lower, &id.to_ascii_lowercase()), id))
            .filter(|(score, _)| *score >= 0.7)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        scored.into_iter().take(3).map(|(_, id)| id).collect()
    }
}

/// What a pool said of a call it had no key for, or that failed there
/// before any byte reached the client.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Refusal {
    /// Nothing comes back within the wait: every key tried, in ERROR, or
    /// out until later than the call may wait; or the pool failed.
    Out,
    /// A key has room again then.
    At(Instant),
    /// Keys are held by other calls: one may come free any moment.
    Busy,
}

/// What an error from a pool means for a chain: a refusal when the pool had
/// no key for the call (nothing the API took was sent: at most requests it
/// refused with a rate limit); `None` when the call must end with it — the
/// client went away, the request is bad, or it may have reached the API (a
/// network error, a hold lost in flight): it is never sent again elsewhere.
pub(crate) fn refusal(err: &anyhow::Error) -> Option<Refusal> {
    use crate::error::Error;
    match err.chain().find_map(|c| c.downcast_ref::<Error>()) {
        Some(Error::NoKey {
            retry_at: Some(at), ..
        }) => Some(Refusal::At(
            Instant::now() + crate::pool::duration_until(*at),
        )),
        Some(Error::NoKey { busy: true, .. }) => Some(Refusal::Busy),
        Some(Error::NoKey { .. }) => Some(Refusal::Out),
        _ => None,
    }
}

/// After every pool of a chain refused a call for now: which to wait on,
/// and until when to look at the others again. `None` when none can serve
/// it before `deadline`; pools that can't are marked `out` for the rest of
/// the call.
///
/// A pool whose keys are busy (held by calls, or promised to calls before
/// this one in its line) may give one any moment: the call waits there —
/// spread over such pools by `spread`, so each has its share of waiters —
/// and the pool wakes it when one comes free or has room. Else it waits in
/// the pool whose key has room soonest. Either way it looks at the others
/// again when one of theirs has room (a busy one: after [`SLICE`]), so
/// whichever pool has the next key, a waiting call takes it.
pub(crate) fn choose(
    said: &[Option<Refusal>],
    out: &mut [bool],
    now: Instant,
    deadline: Instant,
    spread: usize,
) -> Option<(usize, Duration)> {
    // Each pool still in: when it may have a key (busy: any moment).
    let mut when: Vec<(usize, Option<Instant>)> = Vec::new();
    for (i, refusal) in said.iter().enumerate() {
        match refusal {
            Some(Refusal::At(at)) if *at <= deadline => when.push((i, Some(*at))),
            Some(Refusal::Busy) => when.push((i, None)),
            Some(_) => out[i] = true,
            None => {}
        }
    }
    let left = deadline.saturating_duration_since(now);
    if when.is_empty() || left.is_zero() {
        return None;
    }
    let busy: Vec<usize> = when
        .iter()
        .filter(|(_, at)| at.is_none())
        .map(|(i, _)| *i)
        .collect();
    let chosen = match busy.as_slice() {
        [] => when
            .iter()
            .min_by_key(|(_, at)| *at)
            .map(|(i, _)| *i)
            .expect("invariant: one pool at least"),
        busy => busy[spread % busy.len()],
    };
    let look_again = when
        .iter()
        .filter(|(i, _)| *i != chosen)
        .map(|(_, at)| at.unwrap_or(now + SLICE))
        .min();
    // A moment past the time: waking just before it finds no room.
    let wait = look_again.map_or(left, |at| {
        at.saturating_duration_since(now) + Duration::from_millis(2)
    });
    Some((chosen, wait.min(left)))
}

/// Runs a call down a chain: the first pool in order with a key free now
/// takes it; when none has, the call waits on the one whose key comes back
/// soonest (so the pools' capacity adds up), and looks at all again. A pool
/// out of keys (a daily quota, every key in ERROR, nothing back before the
/// deadline) is passed over without a request; nothing is tried again once
/// a pool answered, or may have been sent the request. `calls[i]` is the
/// call as pool `i` takes it; `chosen` says which answered (or whose
/// refusal the call ends with).
pub(crate) fn forward_chain(
    pools: &[Arc<Served>],
    calls: &[Call],
    deadline: Instant,
    chosen: &std::sync::OnceLock<usize>,
) -> Result<Reply> {
    let n = pools.len();
    let mut out = vec![false; n];
    // What each pool said last, and its error: a pool is looked at again
    // (without waiting) only once that may have changed — its keys were
    // busy, or its room time came.
    let mut said: Vec<Option<Refusal>> = vec![None; n];
    let mut errors: Vec<Option<anyhow::Error>> = (0..n).map(|_| None).collect();
    let mut first = true;
    loop {
        let now = Instant::now();
        for i in 0..n {
            let stale = match said[i] {
                None | Some(Refusal::Busy) => true,
                Some(Refusal::At(at)) => at <= now,
                Some(Refusal::Out) => false,
            };
            // Past the deadline, a look only on the first round.
            if out[i] || !stale || (!first && now >= deadline) {
                continue;
            }
            let result = pools[i]
                .jongler
                .forward_within(calls[i].clone(), Duration::ZERO);
            if let Some(result) = settle(result, &mut said[i], &mut errors[i]) {
                let _ = chosen.set(i);
                return result;
            }
        }
        first = false;
        let spread = SPREAD.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Some((i, wait)) = choose(&said, &mut out, Instant::now(), deadline, spread) else {
            let i = ending(&said, &errors);
            let _ = chosen.set(i);
            return Err(errors[i]
                .take()
                .unwrap_or_else(|| anyhow::anyhow!("no pool in the chain")));
        };
        log::debug!("chain: pools said {said:?}; waiting on #{i} for {wait:?}");
        let result = pools[i].jongler.forward_within(calls[i].clone(), wait);
        if let Some(result) = settle(result, &mut said[i], &mut errors[i]) {
            let _ = chosen.set(i);
            return result;
        }
    }
}

/// A pool's result for a chain's call: `Some` ends the call (an answer, or
/// an error not to fall back from); a refusal is noted in `said`, with its
/// error.
fn settle(
    result: Result<Reply>,
    said: &mut Option<Refusal>,
    error: &mut Option<anyhow::Error>,
) -> Option<Result<Reply>> {
    let err = match result {
        Ok(reply) => return Some(Ok(reply)),
        Err(err) => err,
    };
    let refused = refusal(&err)?;
    *said = Some(refused);
    *error = Some(err);
    None
}

/// Which pool's refusal a chain that got no key ends with: the one back
/// soonest (a 429 with its time), else the last that refused.
fn ending(said: &[Option<Refusal>], errors: &[Option<anyhow::Error>]) -> usize {
    let soonest = said
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match r {
            Some(Refusal::At(at)) if errors[i].is_some() => Some((*at, i)),
            _ => None,
        })
        .min();
    soonest.map_or_else(
        || errors.iter().rposition(Option::is_some).unwrap_or(0),
        |(_, i)| i,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_lists_of_either_shape_are_read() {
        let openai = serde_json::json!({"data": [{"id": "a"}, {"id": "models/b"}]});
        assert_eq!(model_ids(&openai).unwrap(), ["a", "b"]);
        let gemini = serde_json::json!({"models": [{"name": "models/gemini-2.5-flash"}]});
        assert_eq!(model_ids(&gemini).unwrap(), ["gemini-2.5-flash"]);
        assert!(model_ids(&serde_json::json!({"error": {}})).is_none());
    }

    #[test]
    fn a_chain_waits_on_the_pool_back_soonest_and_passes_over_those_out() {
        let now = Instant::now();
        let ms = Duration::from_millis;
        let deadline = now + Duration::from_secs(10);
        let mut out = vec![false; 3];
        let said = [
            Some(Refusal::At(now + Duration::from_secs(3600))),
            Some(Refusal::At(now + ms(300))),
            Some(Refusal::At(now + ms(100))),
        ];
        // In the pool back soonest, until the next has room too.
        assert_eq!(
            choose(&said, &mut out, now, deadline, 0),
            Some((2, ms(302)))
        );
        // Back after the deadline: out for the rest of the call.
        assert_eq!(out, [true, false, false]);
        // Busy keys may come free any moment: waited on there (spread over
        // such pools), looking again when another has room.
        let mut out = vec![false; 3];
        let said = [
            Some(Refusal::Busy),
            Some(Refusal::At(now + ms(700))),
            Some(Refusal::Busy),
        ];
        assert_eq!(
            choose(&said, &mut out, now, deadline, 0),
            Some((0, SLICE + ms(2)))
        );
        assert_eq!(
            choose(&said, &mut out, now, deadline, 1),
            Some((2, SLICE + ms(2)))
        );
        let said = [Some(Refusal::Busy), Some(Refusal::At(now + ms(100)))];
        assert_eq!(
            choose(&said, &mut out, now, deadline, 7),
            Some((0, ms(102)))
        );
        // Alone: the whole wait, the pool wakes it.
        let mut out = vec![false; 2];
        let said = [Some(Refusal::Out), Some(Refusal::Busy)];
        assert_eq!(
            choose(&said, &mut out, now, deadline, 0),
            Some((1, ms(10_000)))
        );
        assert_eq!(out, [true, false]);
        // Nothing left: give up.
        let mut out = vec![false; 2];
        let said = [Some(Refusal::Out), None];
        assert_eq!(choose(&said, &mut out, now, deadline, 0), None);
        // Back after the deadline: out.
        let mut out = vec![false; 1];
        let said = [Some(Refusal::At(now + Duration::from_secs(9)))];
        let soon = now + Duration::from_secs(1);
        assert_eq!(choose(&said, &mut out, now, soon, 0), None);
        assert_eq!(out, [true]);
    }

    #[test]
    fn errors_that_end_a_call_are_not_fallen_back_from() {
        use crate::error::Error;
        assert_eq!(refusal(&Error::Gone.into()), None);
        assert_eq!(refusal(&crate::error::usage("bad")), None);
        let busy = Error::NoKey {
            message: String::new(),
            retry_at: None,
            busy: true,
        };
        assert_eq!(refusal(&busy.into()), Some(Refusal::Busy));
        let all_bad = Error::NoKey {
            message: String::new(),
            retry_at: None,
            busy: false,
        };
        assert_eq!(refusal(&all_bad.into()), Some(Refusal::Out));
        // It may have reached the API: never sent again elsewhere.
        assert_eq!(refusal(&anyhow::anyhow!("connection reset")), None);
        assert_eq!(
            refusal(&Error::Unavailable("hold lost".into()).into()),
            None
        );
    }

    #[test]
    fn alias_entries_name_a_served_connector() {
        let names = vec![
            (
                "generativelanguage.googleapis.com".to_string(),
                Some("gemini".to_string()),
            ),
            ("api.groq.com".to_string(), Some("groq".to_string())),
        ];
        assert_eq!(
            alias_entry("gemini/gemini-2.5-flash", &names).unwrap(),
            Some((
                "generativelanguage.googleapis.com".into(),
                "gemini-2.5-flash".into()
            ))
        );
        assert_eq!(
            alias_entry("api.groq.com/meta-llama/llama-4", &names).unwrap(),
            Some(("api.groq.com".into(), "meta-llama/llama-4".into()))
        );
        // Another serve's connector: left out, not an error.
        assert_eq!(alias_entry("mistral/small", &names).unwrap(), None);
        // Not connector/model at all: an error.
        for bad in ["gemini-2.5-flash", "/x", "gemini/"] {
            assert!(alias_entry(bad, &names).is_err(), "{bad}");
        }
    }
}
