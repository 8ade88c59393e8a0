//! The network: the only code that talks HTTP. It sends one request with one
//! key and hands back what came back; `classify` says what that means.
//!
//! Requests run on reqwest's async client, on one small runtime of the
//! process, driven from the calling thread (`block_on`): so a request in
//! flight can be stopped from another thread — the key's lease was lost
//! ([`Cancel`]) — which a blocking client can't do.

#![allow(clippy::disallowed_methods)] // This module owns the network.

pub mod classify;
pub mod ratelimit;

use crate::connector::Connector;
use crate::error::usage;
use crate::secret::ApiKey;
use anyhow::Result;
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use std::time::Duration;

/// Where Tor's SOCKS port usually listens; `socks5h` resolves names through it.
pub const TOR_PROXY: &str = "socks5h://127.0.0.1:9050";

/// How requests go out.
#[derive(Debug, Clone, Default)]
pub struct NetOptions {
    /// Send everything through this proxy (`http://`, `https://`, `socks5://`, `socks5h://`).
    pub proxy: Option<String>,
    /// Give up on a request after this long (`None`: never).
    pub timeout: Option<Duration>,
}

/// One answer, whole.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status code.
    pub status: u16,
    /// `HTTP/1.1` and the like.
    pub version: String,
    /// Headers in the order received.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// A failure to get any answer (connect, timeout, reset …), worth a retry on
/// another key. Its text names neither the URL's query nor the key.
#[derive(Debug, Clone)]
pub struct TransportError {
    /// What went wrong, for people.
    pub message: String,
    /// Whether the request surely never reached the API (no connection was
    /// made): then it used no quota.
    pub unsent: bool,
    /// Whether it was stopped in flight (its key's lease was lost): then it
    /// must not be sent again elsewhere — it may have reached the API.
    pub stopped: bool,
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TransportError {}

/// The runtime every request runs on (its worker thread drives the
/// connections; each call waits for its own request from its own thread).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("jongler-http")
            .enable_all()
            .build()
            .expect("starting the HTTP runtime")
    })
}

/// Stops a request in flight: given to the request, fired by whoever knows
/// it must stop (the key's lease was lost).
#[derive(Debug)]
pub struct Canceller(tokio::sync::watch::Sender<Option<String>>);

/// What a request listens to for being stopped.
#[derive(Debug, Clone)]
pub struct Cancel(tokio::sync::watch::Receiver<Option<String>>);

/// A canceller and what its request listens to.
pub fn cancel_pair() -> (Canceller, Cancel) {
    let (tx, rx) = tokio::sync::watch::channel(None);
    (Canceller(tx), Cancel(rx))
}

impl Canceller {
    /// Stops the request, saying why.
    pub fn cancel(&self, why: String) {
        self.0.send_replace(Some(why));
    }
}

impl Cancel {
    /// Why, once stopped.
    pub fn reason(&self) -> Option<String> {
        self.0.borrow().clone()
    }

    async fn stopped(mut self) -> String {
        match self.0.wait_for(Option::is_some).await {
            Ok(why) => why.clone().unwrap_or_default(),
            // The canceller is gone: nothing will stop it.
            Err(_) => std::future::pending().await,
        }
    }
}

/// What a step of a request came to: its own result, or a timeout.
type Timed<T> = Result<T, tokio::time::error::Elapsed>;

/// Runs `work` to its end (or until `limit`, if any), or until `cancel`
/// fires (then its reason).
fn wait<F: std::future::Future>(
    work: F,
    limit: Option<Duration>,
    cancel: Option<&Cancel>,
) -> Result<Timed<F::Output>, String> {
    let work = async move {
        match limit {
            Some(limit) => tokio::time::timeout(limit, work).await,
            None => Ok(work.await),
        }
    };
    match cancel {
        None => Ok(runtime().block_on(work)),
        Some(cancel) => {
            let stopped = cancel.clone().stopped();
            runtime().block_on(async move {
                tokio::select! {
                    biased;
                    why = stopped => Err(why),
                    out = work => Ok(out),
                }
            })
        }
    }
}

/// An HTTP client for one connector.
#[derive(Debug)]
pub struct Client {
    inner: reqwest::Client,
    /// How long the status and headers may take, and again the body
    /// (read whole), or each piece of it (read as it arrives).
    timeout: Option<std::time::Duration>,
    base_url: String,
    key_header: HeaderName,
    key_prefix: String,
    json: bool,
}

impl Client {
    /// A client for `connector`.
    pub fn new(connector: &Connector, options: &NetOptions) -> Result<Client> {
        let _runtime = runtime().enter();
        let base_url = connector.base_url();
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("jongler/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(15))
            // A redirect would carry the key's header to wherever it points
            // (reqwest strips only the standard auth headers): answers are
            // returned as they come, 3xx included.
            .redirect(reqwest::redirect::Policy::none());
        if connector.protocol == "http" && options.proxy.is_none() {
            builder = builder.tls_built_in_root_certs(false);
        }
        if !connector.headers.is_empty() {
            let mut fixed = reqwest::header::HeaderMap::new();
            for (name, value) in &connector.headers {
                let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(value),
                ) else {
                    return Err(usage(format!(
                        "connector `{}`: bad header {name:?}",
                        connector.name
                    )));
                };
                fixed.insert(name, value);
            }
            builder = builder.default_headers(fixed);
        }
        if let Some(proxy) = &options.proxy {
            let proxy = reqwest::Proxy::all(proxy.as_str())
                .map_err(|e| usage(format!("proxy {proxy:?} is not a proxy URL: {e}")))?;
            builder = builder.proxy(proxy);
        }
        let inner = builder
            .build()
            .map_err(|e| anyhow::anyhow!("can't set up HTTP: {e}"))?;
        let (header, key_prefix) = connector.key_header();
        let key_header = HeaderName::from_bytes(header.as_bytes()).map_err(|_| {
            usage(format!(
                "connector `{}`: bad api_key_header",
                connector.name
            ))
        })?;
        Ok(Client {
            inner,
            timeout: options.timeout,
            base_url,
            key_header,
            key_prefix,
            json: connector.is_json(),
        })
    }

    /// The URL an endpoint resolves to.
    pub fn url(&self, endpoint: &str) -> String {
        format!("{}{}", self.base_url, endpoint)
    }

    /// Sends one request, with `key` in the connector's header (marked
    /// sensitive, never in the URL), and reads the whole answer.
    pub fn send(
        &self,
        method: &reqwest::Method,
        endpoint: &str,
        body: Option<&[u8]>,
        key: Option<&ApiKey>,
    ) -> Result<Answer, TransportError> {
        self.start(
            &Outgoing {
                method,
                path: endpoint,
                body: body.map(bytes::Bytes::copy_from_slice),
                headers: &[],
                bearer: false,
                cancel: None,
            },
            key,
        )?
        .read_all()
    }

    /// Sends one request and returns as soon as the status and headers are
    /// in; the body is read from the [`Pending`] as it arrives.
    pub fn start(
        &self,
        out: &Outgoing<'_>,
        key: Option<&ApiKey>,
    ) -> Result<Pending, TransportError> {
        // reqwest makes its timers as it builds a request: in the runtime.
        let _runtime = runtime().enter();
        let url = self.url(out.path);
        let mut request = self.inner.request(out.method.clone(), &url);
        for (name, value) in out.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(key) = key {
            let (header, prefix) = if out.bearer {
                (reqwest::header::AUTHORIZATION, "Bearer ")
            } else {
                (self.key_header.clone(), self.key_prefix.as_str())
            };
            let mut value =
                HeaderValue::from_str(&format!("{prefix}{}", key.expose())).map_err(|_| {
                    TransportError {
                        message: "the key holds characters a header can't carry".into(),
                        unsent: true,
                        stopped: false,
                    }
                })?;
            value.set_sensitive(true);
            request = request.header(header, value);
        }
        if let Some(body) = &out.body {
            let has_type = out
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
            if self.json && !has_type {
                request = request.header(CONTENT_TYPE, "application/json");
            }
            // A shared buffer: retries on other keys send it again, uncopied.
            request = request.body(body.clone());
        }
        let where_ = format!("{} {}", out.method, url.split('?').next().unwrap_or(&url));
        let response = wait(request.send(), self.timeout, out.cancel.as_ref())
            .map_err(|why| cancelled(&where_, why))?
            .map_err(|_| timed_out(&where_, self.timeout))?
            .map_err(|e| describe(&where_, e))?;
        let status = response.status().as_u16();
        let version = format!("{:?}", response.version());
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        Ok(Pending {
            status,
            version,
            headers,
            response,
            where_,
            cancel: out.cancel.clone(),
            timeout: self.timeout,
        })
    }
}

/// One request to send.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    /// The method.
    pub method: &'a reqwest::Method,
    /// Path and query, starting with '/'.
    pub path: &'a str,
    /// The body.
    pub body: Option<bytes::Bytes>,
    /// Extra headers (never the key: that is added here).
    pub headers: &'a [(String, String)],
    /// Send the key as `Authorization: Bearer` (OpenAI-style routes) instead
    /// of the connector's header.
    pub bearer: bool,
    /// Stops it in flight (its key's lease was lost), answer read or not.
    pub cancel: Option<Cancel>,
}

/// An answer whose status and headers are in and whose body is not read yet.
#[derive(Debug)]
pub struct Pending {
    /// The HTTP status code.
    pub status: u16,
    /// `HTTP/1.1` and the like.
    pub version: String,
    /// Headers in the order received.
    pub headers: Vec<(String, String)>,
    response: reqwest::Response,
    where_: String,
    cancel: Option<Cancel>,
    timeout: Option<Duration>,
}

impl Pending {
    /// Reads the whole body.
    pub fn read_all(self) -> Result<Answer, TransportError> {
        let _runtime = runtime().enter();
        let Pending {
            status,
            version,
            headers,
            response,
            where_,
            cancel,
            timeout,
        } = self;
        let body = wait(response.bytes(), timeout, cancel.as_ref())
            .map_err(|why| cancelled(&where_, why))?
            .map_err(|_| timed_out(&where_, timeout))?
            .map_err(|e| describe(&where_, e))?
            .to_vec();
        Ok(Answer {
            status,
            version,
            headers,
            body,
        })
    }

    /// The body as a reader, yielding data as it arrives.
    pub fn into_reader(self) -> impl std::io::Read + Send + 'static {
        BodyReader {
            response: self.response,
            chunk: bytes::Bytes::new(),
            where_: self.where_,
            cancel: self.cancel,
            timeout: self.timeout,
        }
    }
}

/// An answer's body, read chunk by chunk as it arrives.
struct BodyReader {
    response: reqwest::Response,
    chunk: bytes::Bytes,
    where_: String,
    cancel: Option<Cancel>,
    /// How long each piece may take.
    timeout: Option<Duration>,
}

impl std::io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let _runtime = runtime().enter();
        while self.chunk.is_empty() {
            let next = wait(self.response.chunk(), self.timeout, self.cancel.as_ref())
                .map_err(|why| std::io::Error::other(cancelled(&self.where_, why)))?
                .map_err(|_| std::io::Error::other(timed_out(&self.where_, self.timeout)))?
                .map_err(|e| std::io::Error::other(describe(&self.where_, e)))?;
            match next {
                Some(chunk) => self.chunk = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

/// Whether an answer's headers say its body is a server-sent event stream.
pub fn is_event_stream(headers: &[(String, String)]) -> bool {
    headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("content-type") && v.contains("text/event-stream"))
}

/// A request that took longer than `--timeout`.
fn timed_out(where_: &str, limit: Option<Duration>) -> TransportError {
    TransportError {
        message: format!("{where_} timed out after {:.0?}", limit.unwrap_or_default()),
        unsent: false,
        stopped: false,
    }
}

/// A request stopped in flight, and why.
fn cancelled(where_: &str, why: String) -> TransportError {
    TransportError {
        message: format!("{where_} stopped: {why}"),
        unsent: false,
        stopped: true,
    }
}

fn describe(where_: &str, e: reqwest::Error) -> TransportError {
    let unsent = e.is_connect();
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "broke off while reading the answer"
    } else {
        "failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    let cause = if cause.is_empty() {
        e.without_url().to_string()
    } else {
        cause
    };
    TransportError {
        message: format!("{where_} {kind}: {cause}"),
        unsent,
        stopped: false,
    }
}
