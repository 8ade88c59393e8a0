//! The library's errors as the Python exceptions of `jongler.errors`, which
//! are plain Python classes so that `NoKeyError` can be a `RuntimeError`
//! (as api-jongler's) and `ConfigError` a `ValueError` at once.

use jongler::ExitCode;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Raises `jongler.errors.<class>(message, **attributes)`.
pub fn raise(
    py: Python<'_>,
    class: &str,
    message: String,
    attributes: &Bound<'_, PyDict>,
) -> PyErr {
    let made = py
        .import("jongler.errors")
        .and_then(|errors| errors.getattr(class))
        .and_then(|class| class.call((message,), Some(attributes)));
    match made {
        Ok(exception) => PyErr::from_value(exception),
        Err(e) => e,
    }
}

/// A library error as the exception for its exit code: 2 `ConfigError`,
/// 3 `NoKeyError` (with `retry_at`), a shared state store out of reach
/// `StateUnavailableError`, anything else `RequestError`.
pub fn from_anyhow(py: Python<'_>, err: anyhow::Error) -> PyErr {
    let code = jongler::error::exit_code_of(&err);
    let typed = err
        .chain()
        .find_map(|cause| cause.downcast_ref::<jongler::Error>());
    let attributes = PyDict::new(py);
    let mut class = match code {
        ExitCode::Usage => "ConfigError",
        ExitCode::NoKey => "NoKeyError",
        _ => "RequestError",
    };
    match typed {
        Some(jongler::Error::NoKey {
            retry_at: Some(at), ..
        }) => {
            if let Err(e) = attributes.set_item("retry_at", crate::answer::datetime(py, *at)) {
                return e;
            }
        }
        Some(jongler::Error::Unavailable(_)) => class = "StateUnavailableError",
        _ => {}
    }
    raise(py, class, format!("{err:#}"), &attributes)
}

/// A `ConfigError` (a bad argument: nothing was sent).
pub fn config(py: Python<'_>, message: impl Into<String>) -> PyErr {
    raise(py, "ConfigError", message.into(), &PyDict::new(py))
}

/// `HTTPStatusError` for an answer that wasn't a success.
pub fn http_status(
    py: Python<'_>,
    connector: &str,
    response: Py<crate::answer::Response>,
) -> PyErr {
    let (status, text) = {
        let r = response.get();
        (r.status, r.text(py))
    };
    let message = format!("{connector} answered {status}: {}", text.trim());
    let attributes = PyDict::new(py);
    if let Err(e) = attributes.set_item("response", response) {
        return e;
    }
    raise(py, "HTTPStatusError", message, &attributes)
}

/// Unwraps a library result, raising its exception.
pub trait OrRaise<T> {
    /// The value, or the Python exception for the error.
    fn or_raise(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> OrRaise<T> for anyhow::Result<T> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| from_anyhow(py, e))
    }
}
