//! Reading a [`Jongler`]'s configuration again while it is in use: the key
//! file and the connector files are read as at connect; if they parse and
//! give keys, the next call uses them, and calls waiting for a key in the old
//! pool go over to the new one. Anything wrong keeps the last good
//! configuration serving.

use super::{Engine, Jongler, Options, Shared};
use crate::config::{self, Paths};
use crate::connector::{Connector, Connectors};
use crate::pool::state::StateStore;
use crate::pool::{Backend, KeyEntry, Quotas};
use anyhow::Result;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

/// Where a [`Jongler`]'s configuration comes from, to read it again.
#[derive(Debug)]
pub(super) struct Source {
    connector: String,
    options: Options,
    paths: Paths,
    /// Kept across reloads: the state is the same whatever the keys.
    store: Arc<dyn StateStore>,
}

impl Source {
    /// The locations `options` name, and the state store they open.
    pub(super) fn resolve(connector: &str, options: Options) -> Result<Source> {
        let paths = Paths::resolve(
            options.config.as_deref(),
            options.state_dir.as_deref(),
            options.connectors_dir.as_deref(),
        )?;
        let connectors = Connectors::load(&paths.connector_dirs)?;
        let name = connectors.get(connector)?.name.clone();
        let backend = Backend::resolve(
            options.state.as_deref(),
            &paths.state_dir,
            options.lease_ttl,
        )?;
        let store = backend.store(&name, &connectors.names());
        Ok(Source {
            connector: name,
            options,
            paths,
            store,
        })
    }

    /// Reads the connector and its keys as the files say now.
    pub(super) fn load(&self, shared: &Arc<Shared>) -> Result<Engine> {
        let connectors = Connectors::load(&self.paths.connector_dirs)?;
        let connector = connectors.get(&self.connector)?.clone();
        let (keys, quotas) = if connector.requires_api_key {
            config::keys_for(&connector, &self.paths, self.options.env_keys)?
        } else {
            (Vec::new(), Quotas::default())
        };
        Engine::build(
            connector,
            keys,
            quotas,
            self.store.clone(),
            &self.options,
            shared.clone(),
        )
    }

    /// The files whose change should bring a reload: the key file and the
    /// connector dirs.
    fn files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.paths.config_file.clone()];
        let dirs = &self.paths.connector_dirs;
        files.extend(dirs.required.iter().chain(&dirs.optional).cloned());
        files
    }
}

/// What a reload changed, for the log: `+2 keys (k9, k10), -1 key (k3),
/// limits changed for gemini-2.5-flash`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reloaded {
    /// Keys that are new, by name.
    pub added: Vec<String>,
    /// Keys no longer in the pool, by name.
    pub removed: Vec<String>,
    /// Keys whose name stayed and whose value changed.
    pub replaced: Vec<String>,
    /// The models whose limits changed (`all models` for limits on every
    /// request of a key).
    pub limits: Vec<String>,
    /// Whether the key groups changed.
    pub groups: bool,
    /// Whether the connector's definition changed.
    pub connector: bool,
}

impl Reloaded {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        *self == Reloaded::default()
    }

    fn between(old: &Engine, new: &Engine) -> Reloaded {
        let keys = |e: &Engine| -> Vec<KeyEntry> {
            e.pool
                .as_ref()
                .map(|p| p.keys().to_vec())
                .unwrap_or_default()
        };
        let (old_keys, new_keys) = (keys(old), keys(new));
        let before: HashMap<&str, &KeyEntry> =
            old_keys.iter().map(|k| (k.name.as_str(), k)).collect();
        let after: HashMap<&str, &KeyEntry> =
            new_keys.iter().map(|k| (k.name.as_str(), k)).collect();
        let mut changes = Reloaded::default();
        for k in &new_keys {
            match before.get(k.name.as_str()) {
                None => changes.added.push(k.name.clone()),
                Some(was) if was.key != k.key => changes.replaced.push(k.name.clone()),
                Some(_) => {}
            }
        }
        changes.removed = old_keys
            .iter()
            .filter(|k| !after.contains_key(k.name.as_str()))
            .map(|k| k.name.clone())
            .collect();
        let (old_q, new_q) = (quotas(old), quotas(new));
        changes.limits = limits_changed(&old_q, &new_q);
        changes.groups = old_q.groups != new_q.groups;
        changes.connector = !same_connector(&old.connector, &new.connector);
        changes
    }
}

fn quotas(engine: &Engine) -> Quotas {
    engine
        .pool
        .as_ref()
        .map(|p| p.quotas().clone())
        .unwrap_or_default()
}

/// The models whose set of limits differs.
fn limits_changed(old: &Quotas, new: &Quotas) -> Vec<String> {
    let models: BTreeSet<Option<&str>> = old
        .limits
        .iter()
        .chain(&new.limits)
        .map(|l| l.model.as_deref())
        .collect();
    models
        .into_iter()
        .filter(|m| {
            let of = |q: &Quotas| -> Vec<_> {
                q.limits
                    .iter()
                    .filter(|l| l.model.as_deref() == *m)
                    .cloned()
                    .collect()
            };
            of(old) != of(new)
        })
        .map(|m| m.unwrap_or("all models").to_string())
        .collect()
}

fn same_connector(a: &Connector, b: &Connector) -> bool {
    serde_json::to_value(a).ok() == serde_json::to_value(b).ok()
}

fn counted(n: usize, one: &str, names: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut list: Vec<&str> = names.iter().take(SHOWN).map(String::as_str).collect();
    if names.len() > SHOWN {
        list.push("…");
    }
    let plural = if n == 1 { "" } else { "s" };
    format!("{n} {one}{plural} ({})", list.join(", "))
}

impl std::fmt::Display for Reloaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_empty() {
            return f.write_str("nothing changed");
        }
        let mut parts = Vec::new();
        if !self.added.is_empty() {
            parts.push(format!(
                "+{}",
                counted(self.added.len(), "key", &self.added)
            ));
        }
        if !self.removed.is_empty() {
            parts.push(format!(
                "-{}",
                counted(self.removed.len(), "key", &self.removed)
            ));
        }
        if !self.replaced.is_empty() {
            parts.push(format!(
                "{} with a new value",
                counted(self.replaced.len(), "key", &self.replaced)
            ));
        }
        if !self.limits.is_empty() {
            parts.push(format!("limits changed for {}", self.limits.join(", ")));
        }
        if self.groups {
            parts.push("key groups changed".into());
        }
        if self.connector {
            parts.push("the connector's definition changed".into());
        }
        f.write_str(&parts.join(", "))
    }
}

impl Jongler {
    /// Reads the key file and the connector files again. If they parse and
    /// give at least one key, the next call uses them: added keys at once,
    /// removed ones no more (calls in flight on them finish), changed limits,
    /// groups and connector fields from the next request; calls waiting for
    /// a key go over to the new pool. If anything is wrong, the error says
    /// which file and line, and the configuration in use stays. Nothing
    /// changed: the pool in use stays as it is.
    pub fn reload(&self) -> Result<Reloaded> {
        let Some(source) = &self.source else {
            anyhow::bail!("this connection was built from parts: there are no files to reload");
        };
        let _one = self
            .reloading
            .lock()
            .expect("invariant: no panics under lock");
        let engine = source.load(&self.shared)?;
        let old = self.engine();
        let changes = Reloaded::between(&old, &engine);
        if changes.is_empty() {
            return Ok(changes);
        }
        *self
            .current
            .write()
            .expect("invariant: no panics under lock") = Arc::new(engine);
        if let Some(pool) = &old.pool {
            pool.supersede();
        }
        Ok(changes)
    }

    /// The files whose change should bring a [`Jongler::reload`] (none for
    /// a connection built from parts).
    pub fn config_files(&self) -> Vec<PathBuf> {
        self.source.as_ref().map(Source::files).unwrap_or_default()
    }
}
