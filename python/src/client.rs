//! `jongler.Jongler`: one connector's API through its key pool, shared by
//! every thread of the process (and every process on the machine). Each
//! call lets go of the GIL while it waits for a key and while it is on the
//! network.

use crate::answer::{self, Response, Stream};
use crate::errors::{self, OrRaise};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

/// A connection to one connector's API through its pool of keys.
///
/// `Jongler(connector, *, wait=None, timeout=300, fallback_models=None,
/// state=None, state_dir=None, config=None, connectors_dir=None, proxy=None,
/// tor=False, lease_ttl=5, env_keys=True)`: the options are the CLI's
/// flags; durations are seconds or text such as `"10s"`; `wait` defaults to
/// `$JONGLER_WAIT`, else 60 s; `timeout=None` (or 0) never gives up.
#[pyclass(frozen, module = "jongler._native")]
pub struct Jongler {
    /// Taken only by `Drop`, which lets it go without the GIL.
    inner: Option<jongler::Jongler>,
    options: jongler::Options,
    connector: String,
    /// The process that made it: a forked child has none of its threads
    /// (the HTTP client's, the state dir's watcher), so it must make its own.
    pid: u32,
}

impl Jongler {
    fn inner(&self) -> &jongler::Jongler {
        self.inner
            .as_ref()
            .expect("invariant: only Drop takes the connection")
    }

    /// The library's connection, in the process that made it.
    fn engine(&self, py: Python<'_>) -> PyResult<&jongler::Jongler> {
        if std::process::id() != self.pid {
            return Err(errors::raise(
                py,
                "RequestError",
                format!(
                    "this Jongler of `{}` was made before the process forked, and its threads stayed behind; make one in this process (or start processes with the \"spawn\" method)",
                    self.connector
                ),
                &PyDict::new(py),
            ));
        }
        Ok(self.inner())
    }
}

impl Drop for Jongler {
    /// Without the GIL: the connection's threads may be waiting for it (to
    /// log) while it stops them. In a forked child those threads don't
    /// exist, and waiting for them to stop would never end: there the
    /// connection is left as it is.
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        if std::process::id() != self.pid {
            std::mem::forget(inner);
            return;
        }
        Python::attach(|py| py.detach(move || drop(inner)));
    }
}

/// A request body: `bytes`, or `str` (sent as UTF-8).
pub struct Body(Vec<u8>);

impl<'a, 'py> FromPyObject<'a, 'py> for Body {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Body> {
        if let Ok(text) = obj.cast::<PyString>() {
            return Ok(Body(text.to_str()?.as_bytes().to_vec()));
        }
        if let Ok(bytes) = obj.cast::<PyBytes>() {
            return Ok(Body(bytes.as_bytes().to_vec()));
        }
        Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "a request body is str or bytes, not {}; for JSON use request_json()",
            obj.get_type().name()?
        )))
    }
}

#[pymethods]
impl Jongler {
    #[new]
    #[pyo3(signature = (connector, **options))]
    fn new(py: Python<'_>, connector: &str, options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        crate::log_owner::to_python(py)?;
        let options = crate::settings::options(py, options)?;
        let copy = options.clone();
        let inner = py
            .detach(|| jongler::Jongler::connect(connector, copy))
            .or_raise(py)?;
        Ok(Jongler {
            inner: Some(inner),
            options,
            connector: connector.to_string(),
            pid: std::process::id(),
        })
    }

    /// The connector's name.
    #[getter]
    fn connector(&self) -> &str {
        &self.connector
    }

    /// How long a call waits for a free key, in seconds.
    #[getter]
    fn wait(&self) -> f64 {
        self.options.wait.as_secs_f64()
    }

    /// How long a request may take, in seconds (`None`: no limit).
    #[getter]
    fn timeout(&self) -> Option<f64> {
        self.options.net.timeout.map(|t| t.as_secs_f64())
    }

    /// Sends one request through the pool: a free key (waiting up to `wait`
    /// for one), and on a rate limit, a bad key or a network error, again on
    /// another key. Any answer the API gives comes back as a `Response` —
    /// a 4xx or 5xx too; `NoKeyError` when no key could be had.
    #[pyo3(signature = (method, endpoint, body=None))]
    fn request(
        &self,
        py: Python<'_>,
        method: &str,
        endpoint: &str,
        body: Option<Body>,
    ) -> PyResult<Response> {
        let inner = self.engine(py)?;
        let body = body.map(|b| b.0);
        let response = py
            .detach(|| inner.request(method, endpoint, body.as_deref()))
            .or_raise(py)?;
        Ok(Response::new(py, response, &self.connector))
    }

    /// POSTs `data` as JSON (`json.dumps`) and returns the answer's JSON
    /// (`json.loads`); any status but 2xx raises `HTTPStatusError`.
    fn request_json<'py>(
        &self,
        py: Python<'py>,
        endpoint: &str,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        static DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        static LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let body = DUMPS.import(py, "json", "dumps")?.call1((data,))?;
        let body = body.cast::<PyString>()?.to_str()?.as_bytes();
        let inner = self.engine(py)?;
        let response = py
            .detach(|| inner.request("POST", endpoint, Some(body)))
            .or_raise(py)?;
        if !(200..300).contains(&response.status) {
            let response = Py::new(py, Response::new(py, response, &self.connector))?;
            return Err(errors::http_status(py, &self.connector, response));
        }
        let text = PyString::new(py, &String::from_utf8_lossy(&response.body));
        LOADS.import(py, "json", "loads")?.call1((text,))
    }

    /// Like `request`, but a successful answer comes back as a `Stream`,
    /// read as it arrives, its key held until the stream ends or is closed.
    /// Retries happen only before the first byte.
    #[pyo3(signature = (method, endpoint, body=None))]
    fn stream(
        &self,
        py: Python<'_>,
        method: &str,
        endpoint: &str,
        body: Option<Body>,
    ) -> PyResult<Stream> {
        let call = jongler::Call {
            method: method.to_string(),
            path: endpoint.to_string(),
            body: body.map(|b| bytes::Bytes::from(b.0)),
            ..jongler::Call::default()
        };
        let inner = self.engine(py)?;
        let reply = py.detach(|| inner.forward(call)).or_raise(py)?;
        Ok(Stream::new(reply, &self.connector))
    }

    /// Every key's state (names only, never values).
    fn key_states<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let inner = self.engine(py)?;
        let keys = py.detach(|| inner.key_states()).or_raise(py)?;
        answer::key_states(py, keys)
    }

    /// The keys' names, in the pool's order.
    fn key_names(&self) -> Vec<String> {
        self.inner().key_names()
    }

    /// Each key's name with its value masked (`…wxyz`, the last four
    /// characters of a long key): what api-jongler's `getAvailableKeys()`
    /// shows, without handing keys out.
    fn masked_keys(&self, py: Python<'_>) -> PyResult<Vec<(String, String)>> {
        let options = &self.options;
        let inner = self.engine(py)?;
        py.detach(|| -> anyhow::Result<Vec<(String, String)>> {
            let paths = jongler::config::Paths::resolve(
                options.config.as_deref(),
                options.state_dir.as_deref(),
                options.connectors_dir.as_deref(),
            )?;
            let connector = inner.connector();
            let (keys, _) = jongler::config::keys_for(&connector, &paths, options.env_keys)?;
            Ok(keys.into_iter().map(|k| (k.name, k.key.masked())).collect())
        })
        .or_raise(py)
    }

    /// Removes this connector's LOCKDOWN and ERROR marks and the locks of
    /// dead holders (`jongler --cleanup <connector>`); what it removed.
    fn cleanup<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let inner = self.engine(py)?;
        let report = py.detach(|| inner.cleanup()).or_raise(py)?;
        crate::command::report(py, &report)
    }

    /// Clears key `name`'s LOCKDOWN and ERROR marks; how many there were.
    fn clear_marks(&self, py: Python<'_>, name: &str) -> PyResult<usize> {
        let inner = self.engine(py)?;
        py.detach(|| inner.clear_marks(name)).or_raise(py)
    }

    /// Checks every key with a request that costs no quota (`jongler
    /// check`): a list of `{"name", "health", "detail"}`, health one of
    /// `ok`, `bad`, `rate-limited`, `unreachable`, `failed`, `busy`.
    #[pyo3(signature = (concurrency=32))]
    fn check<'py>(&self, py: Python<'py>, concurrency: usize) -> PyResult<Bound<'py, PyList>> {
        if concurrency == 0 {
            return Err(errors::config(py, "concurrency must be at least 1"));
        }
        let inner = self.engine(py)?;
        let report = py
            .detach(|| inner.check_with(concurrency, &|_, _| {}))
            .or_raise(py)?;
        let rows = report
            .into_iter()
            .map(|k| {
                let row = PyDict::new(py);
                row.set_item("name", k.name)?;
                row.set_item("health", k.health.as_str())?;
                row.set_item("detail", k.detail)?;
                Ok(row)
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, rows)
    }

    /// Rate-limit answers this object's calls took (and retried elsewhere).
    fn rate_limits_absorbed(&self) -> u64 {
        self.inner().rate_limits_absorbed()
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        _kind: Option<&Bound<'_, PyAny>>,
        _value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) {
    }

    fn __repr__(&self) -> String {
        format!(
            "<Jongler {} keys={}>",
            self.connector,
            self.inner().key_names().len()
        )
    }
}
