//! `Jongler(connector, **options)`: the keyword options, named and read as
//! the CLI's flags are (`wait`, `timeout`, `fallback_models`, `state`, …),
//! turned into the library's `Options`.

use crate::errors;
use jongler::Options;
use jongler::http::TOR_PROXY;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use std::path::PathBuf;
use std::time::Duration;

/// The options `Jongler` takes, as their flags are spelled without `--`.
const NAMES: &[&str] = &[
    "wait",
    "timeout",
    "fallback_models",
    "state",
    "state_dir",
    "config",
    "connectors_dir",
    "proxy",
    "tor",
    "lease_ttl",
    "env_keys",
];

/// Reads `**options` into the library's options; an unknown name is a
/// `TypeError`, as Python's own keyword arguments are.
pub fn options(py: Python<'_>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Options> {
    // The library's defaults are the CLI's.
    let mut options = Options::default();
    if let Some(wait) = wait_from_env(py)? {
        options.wait = wait;
    }
    let (mut proxy, mut tor) = (None, false);
    for (name, value) in kwargs.into_iter().flat_map(|k| k.iter()) {
        let name: String = name.extract()?;
        if value.is_none() && name != "timeout" {
            continue;
        }
        match name.as_str() {
            "wait" => options.wait = duration(py, &value, "wait")?,
            "timeout" => options.net.timeout = timeout(py, &value)?,
            "fallback_models" => options.fallback_models = value.extract()?,
            "state" => options.state = Some(value.extract()?),
            "state_dir" => options.state_dir = Some(path(&value)?),
            "config" => options.config = Some(path(&value)?),
            "connectors_dir" => options.connectors_dir = Some(path(&value)?),
            "proxy" => proxy = Some(value.extract::<String>()?),
            "tor" => tor = value.is_truthy()?,
            "lease_ttl" => options.lease_ttl = duration(py, &value, "lease_ttl")?,
            "env_keys" => options.env_keys = value.is_truthy()?,
            other => {
                return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                    "Jongler() got an unexpected keyword argument '{other}' (it takes {})",
                    NAMES.join(", ")
                )));
            }
        }
    }
    options.net.proxy = match (proxy, tor) {
        (Some(_), true) => return Err(errors::config(py, "give `proxy` or `tor`, not both")),
        (_, true) => Some(TOR_PROXY.to_string()),
        (proxy, false) => proxy,
    };
    Ok(options)
}

/// `wait` unless given: `$JONGLER_WAIT`, as the CLI reads it.
fn wait_from_env(py: Python<'_>) -> PyResult<Option<Duration>> {
    match std::env::var("JONGLER_WAIT") {
        Ok(text) if !text.trim().is_empty() => jongler::cli::duration(&text)
            .map(Some)
            .map_err(|e| errors::config(py, format!("JONGLER_WAIT: {e}"))),
        _ => Ok(None),
    }
}

/// `timeout`: `None` or 0 means never, as `--timeout 0`.
fn timeout(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Option<Duration>> {
    if value.is_none() {
        return Ok(None);
    }
    let limit = duration(py, value, "timeout")?;
    Ok((!limit.is_zero()).then_some(limit))
}

/// A duration: seconds (an int or a float) or text as the CLI takes it
/// (`"500ms"`, `"10s"`, `"2m"`, `"1h 30m"`).
pub fn duration(py: Python<'_>, value: &Bound<'_, PyAny>, name: &str) -> PyResult<Duration> {
    if let Ok(text) = value.cast::<PyString>() {
        return jongler::cli::duration(text.to_str()?)
            .map_err(|e| errors::config(py, format!("{name}: {e}")));
    }
    let seconds: f64 = value.extract().map_err(|_| {
        errors::config(
            py,
            format!("{name} takes seconds (a number) or a duration such as \"10s\""),
        )
    })?;
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| errors::config(py, format!("{name}: {seconds} is not a duration ≥ 0")))
}

/// A path: a `str` or an `os.PathLike`.
fn path(value: &Bound<'_, PyAny>) -> PyResult<PathBuf> {
    value.extract()
}
