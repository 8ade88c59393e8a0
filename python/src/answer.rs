//! What calls give back to Python: a whole answer (`Response`), an answer
//! read as it arrives (`Stream`, holding its key until it ends or is
//! closed), and a key's state (`KeyState`).

use crate::errors;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use std::io::Read;
use std::sync::Mutex;

/// How much a `Stream` reads at most for one chunk.
const CHUNK: usize = 64 * 1024;

/// A UTC `datetime.datetime` for a timestamp (`None` if Python refuses it).
pub fn datetime(py: Python<'_>, at: jiff::Timestamp) -> Option<Py<PyAny>> {
    let seconds = at.as_millisecond() as f64 / 1000.0;
    let datetime = py.import("datetime").ok()?;
    let utc = datetime.getattr("timezone").ok()?.getattr("utc").ok()?;
    let made = datetime
        .getattr("datetime")
        .ok()?
        .call_method1("fromtimestamp", (seconds, utc))
        .ok()?;
    Some(made.unbind())
}

/// An HTTP answer, read whole. A 4xx or 5xx is an answer too: nothing is
/// raised for it until `raise_for_status()` is called.
#[pyclass(frozen, module = "jongler._native")]
pub struct Response {
    /// The HTTP status.
    #[pyo3(get)]
    pub status: u16,
    /// `HTTP/1.1` and the like.
    #[pyo3(get)]
    pub version: String,
    /// The name of the key that got it (`None` for connectors without keys).
    #[pyo3(get)]
    pub key_name: Option<String>,
    headers: Vec<(String, String)>,
    body: Py<PyBytes>,
    connector: String,
}

impl Response {
    /// Made from the library's answer.
    pub fn new(py: Python<'_>, response: jongler::Response, connector: &str) -> Response {
        Response {
            status: response.status,
            version: response.version,
            key_name: response.key_name,
            headers: response.headers,
            body: PyBytes::new(py, &response.body).unbind(),
            connector: connector.to_string(),
        }
    }

    /// The body as text (UTF-8, undecodable bytes replaced).
    pub fn text(&self, py: Python<'_>) -> String {
        String::from_utf8_lossy(self.body.bind(py).as_bytes()).into_owned()
    }
}

#[pymethods]
impl Response {
    /// Headers in the order received, as `(name, value)` pairs.
    #[getter]
    fn headers(&self) -> Vec<(String, String)> {
        self.headers.clone()
    }

    /// The body.
    #[getter]
    fn body(&self, py: Python<'_>) -> Py<PyBytes> {
        self.body.clone_ref(py)
    }

    /// The body as text (UTF-8, undecodable bytes replaced).
    #[getter(text)]
    fn text_py(&self, py: Python<'_>) -> String {
        self.text(py)
    }

    /// Whether the status is 2xx or 3xx.
    #[getter]
    fn ok(&self) -> bool {
        (200..400).contains(&self.status)
    }

    /// The first header of that name (any case), or `None`.
    fn header(&self, name: &str) -> Option<String> {
        header(&self.headers, name)
    }

    /// The body parsed as JSON (`json.loads`).
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("json")?
            .call_method1("loads", (self.body.bind(py),))
    }

    /// Raises `HTTPStatusError` unless the status is 2xx or 3xx.
    fn raise_for_status(slf: Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let me = slf.get();
        if (200..400).contains(&me.status) {
            return Ok(());
        }
        let connector = me.connector.clone();
        Err(errors::http_status(py, &connector, slf.unbind()))
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "<Response {} from {} via key {:?}, {} bytes>",
            self.status,
            self.connector,
            self.key_name.as_deref().unwrap_or("-"),
            self.body.bind(py).as_bytes().len()
        )
    }
}

/// The first header of that name (any case).
fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

/// Where a stream's chunks come from.
enum Source {
    /// A successful answer as it arrives; its key is held until this goes.
    Reader(Box<dyn Read + Send>),
    /// An answer read whole (not a success, or retried on): one chunk.
    Whole(Vec<u8>),
    /// Ended or closed.
    Done,
}

/// An answer read as it arrives: iterate it for chunks of `bytes`. A
/// successful answer keeps its key LOCKED until the last chunk is read, the
/// stream is closed, or it is garbage collected; any other answer is read
/// whole first (retries happen only before the first byte) and comes as one
/// chunk. Use it as a context manager to let go of the key early.
#[pyclass(module = "jongler._native")]
pub struct Stream {
    /// The HTTP status.
    #[pyo3(get)]
    pub status: u16,
    /// The name of the key that got it.
    #[pyo3(get)]
    pub key_name: Option<String>,
    headers: Vec<(String, String)>,
    source: Mutex<Source>,
    connector: String,
    /// The process that got it: a forked child shares its socket and its
    /// key's lock, and must neither read the one nor let go of the other.
    pid: u32,
}

impl Stream {
    /// Made from the library's reply.
    pub fn new(reply: jongler::Reply, connector: &str) -> Stream {
        let (status, key_name, headers, source) = match reply {
            jongler::Reply::Stream(s) => (s.status, s.key_name, s.headers, Source::Reader(s.body)),
            jongler::Reply::Whole(r) => (r.status, r.key_name, r.headers, Source::Whole(r.body)),
        };
        Stream {
            status,
            key_name,
            headers,
            source: Mutex::new(source),
            connector: connector.to_string(),
            pid: std::process::id(),
        }
    }

    /// Whether this is a forked child of the process that got the answer.
    fn forked(&self) -> bool {
        std::process::id() != self.pid
    }

    /// The next chunk (`None` at the end); the key goes with the end.
    fn next_chunk(&self) -> std::io::Result<Option<Vec<u8>>> {
        let mut source = self.source.lock().unwrap_or_else(|e| e.into_inner());
        let chunk = match &mut *source {
            Source::Reader(reader) => {
                let mut buf = vec![0; CHUNK];
                let n = match reader.read(&mut buf) {
                    Ok(n) => n,
                    Err(e) => {
                        *source = Source::Done;
                        return Err(e);
                    }
                };
                buf.truncate(n);
                (n > 0).then_some(buf)
            }
            Source::Whole(body) => Some(std::mem::take(body)).filter(|b| !b.is_empty()),
            Source::Done => None,
        };
        if chunk.is_none() || matches!(*source, Source::Whole(_)) {
            *source = Source::Done;
        }
        Ok(chunk)
    }

    /// Lets go of the answer (and its key), without the GIL: releasing a key
    /// wakes the threads waiting for it.
    fn let_go(&self, py: Python<'_>) {
        let source = {
            let mut source = self.source.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::replace(&mut *source, Source::Done)
        };
        if self.forked() {
            std::mem::forget(source);
        } else if let Source::Reader(_) = source {
            py.detach(move || drop(source));
        }
    }
}

#[pymethods]
impl Stream {
    /// Headers in the order received, as `(name, value)` pairs.
    #[getter]
    fn headers(&self) -> Vec<(String, String)> {
        self.headers.clone()
    }

    /// Whether the status is 2xx or 3xx.
    #[getter]
    fn ok(&self) -> bool {
        (200..400).contains(&self.status)
    }

    /// Whether the answer has ended or was closed (its key let go).
    #[getter]
    fn closed(&self) -> bool {
        matches!(
            *self.source.lock().unwrap_or_else(|e| e.into_inner()),
            Source::Done
        )
    }

    /// The first header of that name (any case), or `None`.
    fn header(&self, name: &str) -> Option<String> {
        header(&self.headers, name)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        if self.forked() {
            return Err(errors::from_anyhow(
                py,
                anyhow::anyhow!(
                    "this answer from {} arrives in the process that asked for it, not in a forked child",
                    self.connector
                ),
            ));
        }
        match py.detach(|| self.next_chunk()) {
            Ok(chunk) => Ok(chunk.map(|c| PyBytes::new(py, &c))),
            Err(e) => Err(errors::from_anyhow(
                py,
                anyhow::anyhow!("reading the answer from {}: {e}", self.connector),
            )),
        }
    }

    /// The rest of the answer, whole.
    fn read<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let mut all = Vec::new();
        while let Some(chunk) = self.__next__(py)? {
            all.extend_from_slice(chunk.as_bytes());
        }
        Ok(PyBytes::new(py, &all))
    }

    /// Raises `HTTPStatusError` (with the whole body) unless the status is
    /// 2xx or 3xx.
    fn raise_for_status(&self, py: Python<'_>) -> PyResult<()> {
        if (200..400).contains(&self.status) {
            return Ok(());
        }
        let body = self.read(py)?;
        let response = Response {
            status: self.status,
            version: String::new(),
            key_name: self.key_name.clone(),
            headers: self.headers.clone(),
            body: body.unbind(),
            connector: self.connector.clone(),
        };
        Err(errors::http_status(
            py,
            &self.connector,
            Py::new(py, response)?,
        ))
    }

    /// Stops reading and lets go of the key. Safe to call more than once.
    fn close(&self, py: Python<'_>) {
        self.let_go(py);
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _kind: Option<&Bound<'_, PyAny>>,
        _value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) {
        self.let_go(py);
    }

    fn __repr__(&self) -> String {
        format!(
            "<Stream {} from {} via key {:?}{}>",
            self.status,
            self.connector,
            self.key_name.as_deref().unwrap_or("-"),
            if self.closed() { ", closed" } else { "" }
        )
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let source = std::mem::replace(
            self.source.get_mut().unwrap_or_else(|e| e.into_inner()),
            Source::Done,
        );
        if self.forked() {
            std::mem::forget(source);
        } else if let Source::Reader(_) = source {
            Python::attach(|py| py.detach(move || drop(source)));
        }
    }
}

/// One key's state: never its value.
#[pyclass(frozen, module = "jongler._native")]
pub struct KeyState {
    /// The key's name in the key file (or its environment variable).
    #[pyo3(get)]
    pub name: String,
    /// `"vacant"`, `"locked"`, `"lockdown"` or `"error"`.
    #[pyo3(get)]
    pub state: &'static str,
    /// When a LOCKDOWN ends (a UTC `datetime`), else `None`.
    #[pyo3(get)]
    pub until: Option<Py<PyAny>>,
    /// Why it is in this state, if known.
    #[pyo3(get)]
    pub reason: Option<String>,
    /// The group of keys sharing its quota, if any.
    #[pyo3(get)]
    pub group: Option<String>,
    /// Requests sent on it (its group) since the daily reset.
    #[pyo3(get)]
    pub requests_today: u64,
    /// Rate-limit answers it (its group) took since the daily reset.
    #[pyo3(get)]
    pub rate_limited_today: u64,
}

impl KeyState {
    /// Made from the library's status of a key.
    pub fn new(py: Python<'_>, key: jongler::KeyStatus) -> KeyState {
        KeyState {
            name: key.name,
            state: key.state.as_str(),
            until: key.until.and_then(|at| datetime(py, at)),
            reason: key.reason,
            group: key.group,
            requests_today: key.requests_today,
            rate_limited_today: key.rate_limited_today,
        }
    }
}

#[pymethods]
impl KeyState {
    fn __repr__(&self) -> String {
        format!("<KeyState {} {}>", self.name, self.state)
    }
}

/// A list of key states, for `key_states()`.
pub fn key_states<'py>(
    py: Python<'py>,
    keys: Vec<jongler::KeyStatus>,
) -> PyResult<Bound<'py, PyList>> {
    let states = keys
        .into_iter()
        .map(|k| Py::new(py, KeyState::new(py, k)))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, states)
}
