//! `jongler serve`: a local HTTP proxy in front of one or more connectors, on
//! the same pools, key states and marker files as the CLI — so SDKs and
//! OpenAI-style tools share the keys with CLI batch jobs safely. With several
//! connectors, `gateway` says which pool a request goes to.
//!
//! axum on tokio serves; each proxied request runs the blocking request flow
//! ([`Jongler::forward`]) on tokio's blocking pool and relays the answer's
//! body chunk by chunk as it arrives.

pub(crate) mod clients;
mod gateway;
mod reload;

use crate::error::{Error, usage};
use crate::jongler::{Call, Gone, Jongler, Reply};
use crate::output::ConnectorStatus;
use anyhow::{Context, Result};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gateway::{Plan, Served};
use serde_json::json;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// The client's headers that go upstream: what the API needs to read the
/// request, nothing about the client's hop, identity or cookies (a
/// connector's `forward_headers` adds to it).
const FORWARDED: &[&str] = &["content-type", "accept", "x-goog-api-client"];

/// Headers of an answer that are about one hop: never relayed.
const NOT_FORWARDED: &[&str] = &[
    "host",
    "authorization",
    "x-goog-api-key",
    "x-api-key",
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
    "proxy-authorization",
    "proxy-connection",
    "accept-encoding",
];

/// Whether a path under `/v1` is an OpenAI-compatible route:
/// `/chat/completions`, `/embeddings`, `/models` and `/models/<id>` — but not
/// Gemini's own `v1` API, whose model paths carry an action (`…:generateContent`).
fn is_openai_route(rest: &str) -> bool {
    matches!(rest, "/chat/completions" | "/embeddings" | "/models")
        || rest
            .strip_prefix("/models/")
            .is_some_and(|id| !id.is_empty() && !id.contains([':', '/']))
}

/// Where a request goes, told from the request itself.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    /// To the connector's own API, at this path and query.
    Native(String),
    /// To the connector's OpenAI-compatible API (key as Bearer).
    OpenAi(String),
    /// An OpenAI API the connector lacks, bridged onto its chat completions
    /// (at this path).
    Bridge(crate::bridge::Kind, String),
    /// An OpenAI route the connector doesn't have: answered here, no key spent.
    NotFound,
}

/// The client's credential style says which API it speaks: Google's SDKs
/// send `x-goog-api-key` (or `?key=`), OpenAI-style ones `Authorization:
/// Bearer`. `GET /v1/models` means Gemini's model list to the former and
/// OpenAI's to the latter. A path without an API version (`/models/…`, what
/// a base URL without `/v1beta` yields) gets the connector's default one.
fn route(uri: &Uri, headers: &HeaderMap, connector: &crate::connector::Connector) -> Route {
    let openai_base = connector.openai_base_path.as_deref();
    let default_version = connector.default_api_version.as_deref();
    let native_routes = &connector.openai_native_routes;
    let path_and_query = upstream_path(uri);
    let path = uri.path();
    let google_style = headers.contains_key("x-goog-api-key") || query_key(uri).is_some();
    if let Some(version) = default_version
        && (path == "/models" || path.starts_with("/models/"))
    {
        return Route::Native(format!("{version}{path_and_query}"));
    }
    let Some(base) = openai_base else {
        return Route::Native(path_and_query);
    };
    let Some(rest) = path.strip_prefix("/v1").filter(|r| r.starts_with('/')) else {
        return Route::Native(path_and_query);
    };
    // Anthropic's SDKs send its version header; `/v1/messages` is its API.
    let anthropic_style = connector.media_accounting() == crate::pool::cost::Accounting::Anthropic
        && (headers.contains_key("anthropic-version")
            || rest == "/messages"
            || rest.starts_with("/messages/"));
    if google_style || anthropic_style {
        return Route::Native(path_and_query);
    }
    if is_openai_route(rest) || native_routes.iter().any(|r| r == rest) {
        return Route::OpenAi(format!("{base}{}", &path_and_query[3..]));
    }
    let chat = format!("{base}/chat/completions");
    match rest {
        "/responses" => return Route::Bridge(crate::bridge::Kind::Responses, chat),
        "/completions" => return Route::Bridge(crate::bridge::Kind::Completions, chat),
        _ => {}
    }
    // Gemini's own v1 model actions stay native.
    if rest.starts_with("/models/") && rest.contains(':') {
        return Route::Native(path_and_query);
    }
    Route::NotFound
}

/// The largest request body the proxy takes.
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// The most request-body bytes buffered at once, over all requests: beyond
/// it a request gets 503 with Retry-After before its body is read, so many
/// large uploads can't exhaust memory.
pub const MAX_BUFFERED: usize = 128 * 1024 * 1024;

const MIB: usize = 1024 * 1024;

/// How long `serve` keeps a key after a request of normal or high priority
/// lets go of it, for its next such request: a client's next request
/// follows its answer within a few milliseconds.
pub const LINGER: std::time::Duration = std::time::Duration::from_millis(25);

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The token clients must present; `None` allows loopback listening only.
    pub token: Option<String>,
    /// A client that stops reading a streamed answer for this long loses it
    /// (and its key is released).
    pub stall_timeout: std::time::Duration,
    /// A connection gets this long to send a request's headers, counted from
    /// when it opens or its previous answer ends (so idle keep-alive
    /// connections are closed after it too).
    pub header_timeout: std::time::Duration,
    /// After SIGTERM/SIGINT, requests in flight get this long to finish; then
    /// what is left is closed (every key released).
    pub shutdown_timeout: std::time::Duration,
    /// Serve `/metrics` without the token (for a scraper on a trusted network).
    pub metrics_public: bool,
    /// A file of `[client NAME]` sections (default: those of the key file).
    pub clients: Option<std::path::PathBuf>,
}

impl ServeOptions {
    /// The defaults, listening on `listen`.
    pub fn new(listen: SocketAddr, token: Option<String>) -> ServeOptions {
        ServeOptions {
            listen,
            token,
            stall_timeout: std::time::Duration::from_secs(30),
            header_timeout: std::time::Duration::from_secs(30),
            shutdown_timeout: std::time::Duration::from_secs(30),
            metrics_public: false,
            clients: None,
        }
    }
}

/// How many connections at once: what the process's file limit leaves after
/// room for files, each client connection needing one upstream too.
fn connection_cap() -> usize {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: a valid out-pointer for getrlimit.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
            let soft = usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX);
            return (soft.saturating_sub(64) / 2).clamp(16, 16_384);
        }
    }
    1024
}

/// How long a body may take: 10 s, plus a second for every 64 KiB announced
/// (a client slower than that is holding a buffer and a task hostage).
fn body_deadline(len: Option<usize>) -> std::time::Duration {
    let len = len.unwrap_or(MAX_BODY);
    std::time::Duration::from_secs(10 + (len / (64 * 1024)) as u64)
}

struct App {
    /// The pools, and what routes a request to each.
    gateway: gateway::Gateway,
    /// How long a call may wait for a key.
    wait: std::time::Duration,
    /// Who may use it (`--token`, `[client …]` sections), or anyone on
    /// loopback.
    clients: clients::Clients,
    /// Where we listen (the port bound), for the Host check without a token.
    listen: std::sync::OnceLock<SocketAddr>,
    /// Room for request bodies, in MiB.
    buffered: Arc<tokio::sync::Semaphore>,
    stall_timeout: std::time::Duration,
    metrics: Arc<crate::metrics::Metrics>,
}

/// Reads a token from the first line of `path`.
pub fn read_token_file(path: &std::path::Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("can't read --token-file {}: {e}", path.display())))?;
    let token = text.lines().next().unwrap_or("").trim().to_string();
    if token.is_empty() {
        return Err(usage(format!(
            "--token-file {} is empty: put the token on its first line",
            path.display()
        )));
    }
    Ok(token)
}

/// Serves until SIGINT or SIGTERM: every connector of `jonglers` behind one
/// listener.
pub fn run(mut jonglers: Vec<Jongler>, opts: ServeOptions) -> Result<()> {
    if opts.token.as_deref().is_some_and(str::is_empty) {
        return Err(usage("--token is empty"));
    }
    let Some(first) = jonglers.first() else {
        return Err(usage("serve: name a connector to serve"));
    };
    let key_file = first.config_files().first().cloned();
    let wait = first.wait();
    let source = match (&opts.clients, &key_file) {
        (Some(file), _) => Some(clients::ClientSource::File(file.clone())),
        (None, Some(key_file)) => Some(clients::ClientSource::KeyFile(key_file.clone())),
        (None, None) => None,
    };
    let clients = clients::Clients::load(opts.token.as_deref(), source)?;
    if !clients.need_token() && !opts.listen.ip().is_loopback() {
        return Err(usage(format!(
            "refusing to listen on {} without a token: anyone who can reach it could spend your keys; \
             pass --token, set JONGLER_PROXY_TOKEN or define [client NAME] sections, or listen on 127.0.0.1",
            opts.listen
        )));
    }
    let metrics = Arc::new(crate::metrics::Metrics::new());
    for jongler in &mut jonglers {
        jongler.observe_with(metrics.observer(&jongler.connector().name));
    }
    let pools: Vec<Arc<Served>> = jonglers
        .into_iter()
        .map(|j| Arc::new(Served::new(j)))
        .collect();
    let names: Vec<String> = pools.iter().map(|s| format!("`{}`", s.name())).collect();
    let gateway = gateway::Gateway::new(pools);
    if let Some(file) = &key_file {
        load_aliases(&gateway, file)?;
    }
    let app = Arc::new(App {
        metrics,
        gateway,
        wait,
        clients,
        listen: std::sync::OnceLock::new(),
        buffered: Arc::new(tokio::sync::Semaphore::new(MAX_BUFFERED / MIB)),
        stall_timeout: opts.stall_timeout,
    });
    let mut watched: Vec<std::path::PathBuf> = app
        .gateway
        .pools
        .iter()
        .flat_map(|s| s.jongler.config_files())
        .collect();
    watched.sort();
    watched.dedup();
    watched.extend(app.clients.file().map(std::path::Path::to_path_buf));
    let _watching = reload::watch(app.clone(), watched);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(512)
        .enable_all()
        .build()
        .context("starting the server runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .with_context(|| format!("can't listen on {}", opts.listen))?;
        let addr = listener.local_addr()?;
        let _ = app.listen.set(addr);
        let names = names.join(", ");
        let routes = if app.gateway.pools.len() > 1 {
            "OpenAI-compatible at /v1 routed by model, each native API at /<connector>/"
        } else {
            "native API at /, OpenAI-compatible at /v1"
        };
        eprintln!("jongler: serving {names} on http://{addr} — {routes}, status at /status");
        if app.gateway.pools.len() > 1 {
            // Before the first request is taken (it waits in the backlog):
            // routing by model needs the model lists.
            let pools = app.gateway.pools.clone();
            let _ = tokio::task::spawn_blocking(move || gateway::list_models(&pools)).await;
        }
        #[cfg(unix)]
        tokio::spawn(reload::on_hangup(app.clone()));
        let router = router(app.clone(), opts.metrics_public);
        serve_connections(listener, router, &opts).await;
        // The counts of the last second, which no later request will bring.
        for served in &app.gateway.pools {
            served.jongler.flush_history();
        }
        eprintln!("jongler: stopped; every held key is released");
        Ok(())
    })
}

/// Reads the key file's `[alias NAME]` sections into the gateway; whether
/// they changed (then what was left out is said). A key file that is gone
/// (mid-save) changes nothing.
fn load_aliases(gateway: &gateway::Gateway, key_file: &std::path::Path) -> Result<bool> {
    let Some(file) = crate::config::KeyFile::read(key_file)? else {
        return Ok(false);
    };
    let (aliases, left_out) = gateway::aliases(&file, &gateway.names())?;
    let changed = gateway.set_aliases(aliases, left_out.clone());
    if changed {
        for what in left_out {
            eprintln!("jongler: alias entry left out: {what}");
        }
    }
    Ok(changed)
}

/// Every route: the proxy behind the guard, and the pages beside it.
fn router(app: Arc<App>, metrics_public: bool) -> Router {
    let mut router = Router::new().route("/status", get(status));
    if !metrics_public {
        router = router.route("/metrics", get(metrics_page));
    }
    let mut router = router
        .fallback(proxy)
        // The token (or, without one, the Host and Origin) is checked from
        // the request line and headers, before any body byte is read.
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard))
        .route("/healthz", get(|| async { "ok\n" }))
        // Browsers ask for it on every page: no 401 noise in the log.
        .route("/favicon.ico", get(favicon));
    if metrics_public {
        router = router.route("/metrics", get(metrics_page));
    }
    router
        // Gemini takes inline images and documents of up to 20 MB a request.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(app)
}

/// Accepts connections (up to the cap) until SIGINT or SIGTERM, then gives
/// the requests in flight the shutdown timeout to finish.
async fn serve_connections(listener: tokio::net::TcpListener, router: Router, opts: &ServeOptions) {
    let cap = Arc::new(tokio::sync::Semaphore::new(connection_cap()));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(opts.header_timeout)
        .keep_alive(true);
    let mut signal = std::pin::pin!(shutdown_signal());
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of fds and the like: wait a moment rather than spin.
                    eprintln!("jongler: accepting a connection: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut signal => break,
        };
        let Ok(permit) = cap.clone().try_acquire_owned() else {
            // Over the cap: closed at once, before it costs anything.
            drop(tcp);
            continue;
        };
        // Streamed answers go out in small writes: without TCP_NODELAY,
        // Nagle holds the last one until the client's delayed ACK (~40 ms).
        let _ = tcp.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(tcp), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(opts.shutdown_timeout) => {
            eprintln!(
                "jongler: requests still in flight after {:?}; closing them",
                opts.shutdown_timeout
            );
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    eprintln!("jongler: shutting down: finishing the requests in flight");
}

impl App {
    /// The client whose token the request presents (header, bearer or
    /// `?key=`); without tokens, the one `local` client.
    fn identify(&self, headers: &HeaderMap, uri: &Uri) -> Option<Arc<clients::Client>> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let query = query_key(uri);
        let presented = [
            header("x-goog-api-key"),
            header("authorization").and_then(|v| v.strip_prefix("Bearer ")),
            // Anthropic's SDKs send the key as x-api-key.
            header("x-api-key"),
            query.as_deref(),
        ];
        self.clients.identify(presented.into_iter().flatten())
    }

    /// Re-reads the clients, saying what changed or why nothing did.
    fn reload_clients(&self, why: &str) {
        match self.clients.reload() {
            Ok(Some(changes)) => eprintln!("jongler: clients reloaded ({why}): {changes}"),
            Ok(None) => {}
            Err(e) => {
                eprintln!("jongler: clients reload ({why}) refused, the clients in use stay: {e:#}")
            }
        }
    }

    /// Re-reads the aliases, saying what changed or why nothing did.
    fn reload_aliases(&self, why: &str) {
        let Some(key_file) = self
            .gateway
            .pools
            .first()
            .and_then(|s| s.jongler.config_files().first().cloned())
        else {
            return;
        };
        match load_aliases(&self.gateway, &key_file) {
            Ok(true) => eprintln!(
                "jongler: aliases reloaded ({why}): {} alias(es)",
                self.gateway.aliases().len()
            ),
            Ok(false) => {}
            Err(e) => {
                eprintln!("jongler: aliases reload ({why}) refused, the aliases in use stay: {e:#}")
            }
        }
    }

    /// Every pool's keys as they are now, by connector.
    fn key_states(&self) -> Result<Vec<(String, Vec<crate::pool::KeyStatus>)>> {
        self.gateway
            .pools
            .iter()
            .map(|s| Ok((s.name(), s.jongler.key_states()?)))
            .collect()
    }

    /// Without a token (loopback only), whether the request names us: a web
    /// page the user visits can't make the browser spend keys (a foreign
    /// `Origin`) nor reach us under another name (DNS rebinding, a foreign
    /// `Host`).
    fn local_origin(&self, headers: &HeaderMap) -> bool {
        if self.clients.need_token() {
            return true;
        }
        let Some(listen) = self.listen.get() else {
            return false;
        };
        let port = listen.port();
        let ours = |authority: &str| {
            let authority = authority.trim().to_ascii_lowercase();
            [
                format!("localhost:{port}"),
                format!("127.0.0.1:{port}"),
                format!("[::1]:{port}"),
                listen.to_string(),
            ]
            .contains(&authority)
        };
        let host_ok = headers
            .get("host")
            .and_then(|v| v.to_str().ok())
            .is_none_or(ours);
        let origin_ok = headers
            .get("origin")
            .and_then(|v| v.to_str().ok())
            .is_none_or(|o| o.strip_prefix("http://").is_some_and(ours));
        host_ok && origin_ok
    }
}

/// Checks every request but `/healthz` before its body is read: a wrong or
/// missing token gets 401 and the connection is closed (so an unread upload
/// is never taken in); a foreign Host or Origin without a token gets 403.
async fn guard(
    State(app): State<Arc<App>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (method, uri) = (request.method().clone(), request.uri().clone());
    let started = Instant::now();
    if !app.local_origin(request.headers()) {
        access(
            &method,
            &uri,
            403,
            None,
            None,
            started,
            " (foreign Host or Origin)",
        );
        return closing(error_json(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "jongler serve: this request names another host or comes from a web page; \
             without --token only requests to this address are served",
        ));
    }
    let Some(client) = app.identify(request.headers(), &uri) else {
        access(
            &method,
            &uri,
            401,
            None,
            None,
            started,
            " (wrong or missing token)",
        );
        return closing(unauthorized());
    };
    request.extensions_mut().insert(client);
    // Room for the body it announces (a chunked one may be as large as any).
    let announced = announced_length(request.headers());
    let chunked = request.headers().contains_key("transfer-encoding");
    let need = match (announced, chunked) {
        (Some(n), _) => n.min(MAX_BODY).div_ceil(MIB),
        (None, true) => MAX_BODY / MIB,
        (None, false) => 0,
    };
    let _room = if need > 0 {
        match app.buffered.clone().try_acquire_many_owned(need as u32) {
            Ok(permit) => Some(permit),
            Err(_) => {
                access(
                    &method,
                    &uri,
                    503,
                    None,
                    None,
                    started,
                    " (too many large bodies at once)",
                );
                let mut response = closing(error_json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "UNAVAILABLE",
                    "jongler serve: too many large request bodies at once; try again shortly",
                ));
                response
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from_static("1"));
                return response;
            }
        }
    } else {
        None
    };
    next.run(request).await
}

/// The response, with the connection closed after it (a refused request's
/// unread body is never taken in).
fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert("connection", HeaderValue::from_static("close"));
    response
}

/// The body length a request announces, if it does.
fn announced_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

fn query_key(uri: &Uri) -> Option<String> {
    uri.query()?
        .split('&')
        .find_map(|kv| kv.strip_prefix("key=").map(str::to_string))
}

/// The path and query to send upstream: without the client's `key=`.
fn upstream_path(uri: &Uri) -> String {
    let query: Vec<&str> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.starts_with("key="))
        .collect();
    if query.is_empty() {
        uri.path().to_string()
    } else {
        format!("{}?{}", uri.path(), query.join("&"))
    }
}

fn error_json(status: StatusCode, api_status: &str, message: &str) -> Response {
    let body =
        json!({"error": {"code": status.as_u16(), "message": message, "status": api_status}});
    (status, axum::Json(body)).into_response()
}

fn unauthorized() -> Response {
    error_json(
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
        "jongler serve: missing or wrong token; send it as x-goog-api-key, x-api-key, Authorization: Bearer, or ?key=",
    )
}

/// Logs one access line: never a key value or the client's token (the query
/// is left out, as it may hold `?key=`).
fn access(
    method: &Method,
    uri: &Uri,
    status: u16,
    key: Option<&str>,
    client: Option<&str>,
    started: Instant,
    note: &str,
) {
    eprintln!(
        "jongler: {method} {} {status} key={} client={} {}ms{note}",
        uri.path(),
        key.unwrap_or("-"),
        client.unwrap_or("-"),
        started.elapsed().as_millis()
    );
}

/// Prometheus text format (see `crate::metrics`).
async fn metrics_page(State(app): State<Arc<App>>) -> Response {
    let states = app.clone();
    match tokio::task::spawn_blocking(move || states.key_states()).await {
        Ok(Ok(keys)) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            app.metrics.render(&keys),
        )
            .into_response(),
        Ok(Err(e)) => error_json(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            &format!("{e:#}"),
        ),
        Err(e) => error_json(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            &e.to_string(),
        ),
    }
}

/// The tab icon: a small juggling-balls SVG.
async fn favicon() -> Response {
    const ICON: &str = "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'>\
<circle cx='4' cy='11' r='3' fill='#2a7'/><circle cx='12' cy='11' r='3' fill='#d83'/>\
<circle cx='8' cy='4' r='3' fill='#36c'/></svg>";
    (
        [
            (axum::http::header::CONTENT_TYPE, "image/svg+xml"),
            (axum::http::header::CACHE_CONTROL, "max-age=86400"),
        ],
        ICON,
    )
        .into_response()
}

async fn status(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    let states = app.clone();
    let read = tokio::task::spawn_blocking(move || {
        states
            .gateway
            .pools
            .iter()
            .map(|s| Ok((s.name(), s.jongler.key_states()?, s.jongler.history()?)))
            .collect::<Result<Vec<_>>>()
    });
    let pools = match read.await {
        Ok(Ok(read)) => read,
        Ok(Err(e)) => {
            return error_json(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                &format!("{e:#}"),
            );
        }
        Err(e) => {
            return error_json(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                &e.to_string(),
            );
        }
    };
    let several = pools.len() > 1;
    let reports: Vec<ConnectorStatus> = pools
        .into_iter()
        .map(|(connector, keys, history)| ConnectorStatus {
            connector,
            keys,
            // Clients are the listener's: said once, beside the connectors.
            clients: if several {
                Vec::new()
            } else {
                app.clients.reports()
            },
            history: crate::output::day_reports(&history, false),
        })
        .collect();
    let wants_html = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
        || uri
            .query()
            .is_some_and(|q| q.split('&').any(|kv| kv == "format=html"));
    if wants_html {
        let now = jiff::Timestamp::now();
        let part = uri
            .query()
            .is_some_and(|q| q.split('&').any(|kv| kv == "part=main"));
        let html = if part {
            crate::dashboard::parts(&reports, now)
        } else {
            crate::dashboard::page(&reports, now)
        };
        (
            [(axum::http::header::CACHE_CONTROL, "no-store")],
            axum::response::Html(html),
        )
            .into_response()
    } else if several {
        let aliases: Vec<serde_json::Value> = app
            .gateway
            .aliases()
            .iter()
            .map(|a| {
                let chain: Vec<String> = a.chain.iter().map(|(c, m)| format!("{c}/{m}")).collect();
                json!({"name": a.name, "models": chain})
            })
            .collect();
        axum::Json(json!({
            "connectors": reports,
            "clients": app.clients.reports(),
            "aliases": aliases,
        }))
        .into_response()
    } else {
        let report = reports
            .into_iter()
            .next()
            .expect("invariant: one pool at least");
        axum::Json(report).into_response()
    }
}

enum Head {
    Whole(crate::jongler::Response),
    Stream {
        status: u16,
        headers: Vec<(String, String)>,
        key: Option<String>,
    },
    Failed(anyhow::Error),
}

/// An answer given by `serve` itself, instead of the upstream's.
type Answered = Box<Response>;

/// One pool a request may go to: its route there, and the model it is called
/// there when the request was routed by model.
struct Target {
    served: Arc<Served>,
    /// The connector as loaded when the request came in (a reload changes
    /// only later requests).
    connector: Arc<crate::connector::Connector>,
    route: Route,
    model: Option<String>,
}

impl Target {
    /// `served` at `uri` (a connector prefix already taken off).
    fn at(served: Arc<Served>, uri: &Uri, headers: &HeaderMap, model: Option<String>) -> Target {
        let connector = served.jongler.connector();
        let route = route(uri, headers, &connector);
        Target {
            served,
            connector,
            route,
            model,
        }
    }

    /// `connector/model`, for the header, the log and the metrics (a
    /// client's model name, so no control characters: one log line stays one).
    fn served_by(&self) -> Option<String> {
        let model: String = self
            .model
            .as_deref()?
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        Some(format!("{}/{model}", self.connector.name))
    }
}

/// One request's life in `serve`, in phases as pingora's: the route is
/// decided once, from the request line and headers (or, routed by model,
/// from its body's `model`), and every outcome is logged and counted in one
/// place ([`Exchange::done`]).
struct Exchange {
    app: Arc<App>,
    /// Who sent it.
    client: Arc<clients::Client>,
    /// Its estimated tokens, once its body is read.
    tokens: std::sync::OnceLock<u64>,
    method: Method,
    uri: Uri,
    started: Instant,
    /// Where it may go, in order: one pool, or an alias's chain.
    targets: Vec<Target>,
    /// The alias it asked for, if any: its call may go down the chain.
    alias: Option<(String, Option<std::time::Duration>)>,
    /// Which target answered (or failed last).
    chosen: std::sync::OnceLock<usize>,
}

impl Exchange {
    /// The target that answered, else the first.
    fn target(&self) -> Option<&Target> {
        self.targets.get(self.chosen.get().copied().unwrap_or(0))
    }

    /// The route's label in `/metrics`.
    fn label(&self) -> &'static str {
        match self.target().map(|t| &t.route) {
            Some(Route::Native(_)) => "native",
            None | Some(Route::OpenAi(_) | Route::NotFound) => "openai",
            Some(Route::Bridge(crate::bridge::Kind::Responses, _)) => "responses",
            Some(Route::Bridge(crate::bridge::Kind::Completions, _)) => "completions",
        }
    }

    /// The one place a request's outcome is logged and counted.
    fn done(&self, status: u16, key: Option<&str>, note: &str) {
        self.log(status, key, note);
        self.client.answered(status);
        let target = self.target();
        if let Some(target) = target {
            target.served.jongler.count_client(
                self.client.name(),
                crate::pool::history::Totals {
                    requests: 1,
                    tokens: self.tokens.get().copied().unwrap_or(0),
                    rate_limited: u64::from(status == 429),
                    errors: u64::from(status >= 500),
                },
            );
        }
        let connector = target.map_or("", |t| t.connector.name.as_str());
        let model = target.and_then(|t| t.model.as_deref());
        self.app.metrics.request(
            (connector, model),
            self.label(),
            status,
            key,
            self.client.name(),
        );
    }

    /// An access line alone, for what happens after the answer was counted
    /// (a client that stalls mid-stream).
    fn log(&self, status: u16, key: Option<&str>, note: &str) {
        let served = self.target().and_then(Target::served_by);
        let note = match (&served, &self.alias) {
            (Some(by), Some((alias, _))) => format!(" served={by} alias={alias}{note}"),
            (Some(by), None) => format!(" served={by}{note}"),
            (None, _) => note.to_string(),
        };
        access(
            &self.method,
            &self.uri,
            status,
            key,
            Some(self.client.name()),
            self.started,
            &note,
        );
    }

    /// An error of jongler's own, in the shape the client's SDK reads:
    /// OpenAI's on the OpenAI-compatible routes (bridged ones too), the
    /// API's own on its native routes (Anthropic's, else Google's).
    fn error(&self, status: StatusCode, api_status: &str, message: &str) -> Response {
        if let Some(target) = self.target()
            && matches!(target.route, Route::Native(_))
        {
            if target.connector.media_accounting() == crate::pool::cost::Accounting::Anthropic {
                return anthropic_error(status, message);
            }
            return error_json(status, api_status, message);
        }
        let (kind, code) = match status {
            StatusCode::TOO_MANY_REQUESTS => ("requests", json!("rate_limit_exceeded")),
            s if s.is_server_error() => ("server_error", json!(null)),
            _ => ("invalid_request_error", json!(null)),
        };
        let body =
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
        (status, axum::Json(body)).into_response()
    }

    /// Phase 2½: the client's own limits and cap on requests in flight;
    /// the slot is held until the answer's last byte.
    async fn admit(&self, calls: &mut [Call]) -> Result<clients::Slot, Answered> {
        // Estimated once, for the client's limits, its history and the pool.
        let accounting = self
            .target()
            .map_or(crate::pool::cost::Accounting::OpenAi, |t| {
                t.connector.media_accounting()
            });
        let tokens =
            crate::pool::cost::estimate(calls.first().and_then(|c| c.body.as_deref()), accounting);
        for call in calls.iter_mut() {
            call.tokens = Some(tokens);
        }
        let _ = self.tokens.set(tokens);
        match self.client.admit(tokens, self.app.wait).await {
            Ok(slot) => Ok(slot),
            Err(clients::Refused::Limit { limit, after }) => {
                let secs = after.as_secs_f64().ceil().max(1.0) as u64;
                Err(self.refused(
                    secs,
                    " (the client's own limit)",
                    &format!("is over its limit {limit}; room again in {secs}s"),
                ))
            }
            Err(clients::Refused::Busy { cap }) => Err(self.refused(
                1,
                " (the client's requests in flight stayed at its cap)",
                &format!("had {cap} requests in flight (its max_in_flight) for all of --wait"),
            )),
        }
    }

    /// A 429 of the client's own making (`what` it did), with Retry-After.
    fn refused(&self, retry_secs: u64, note: &str, what: &str) -> Answered {
        self.done(429, None, note);
        let message = format!("jongler serve: client `{}` {what}", self.client.name());
        let mut answer = self.error(
            StatusCode::TOO_MANY_REQUESTS,
            "RESOURCE_EXHAUSTED",
            &message,
        );
        answer
            .headers_mut()
            .insert("retry-after", HeaderValue::from(retry_secs));
        Box::new(answer)
    }

    /// Phase 1: the whole body, within its deadline and the size cap.
    async fn read_body(&self, headers: &HeaderMap, body: Body) -> Result<Bytes, Answered> {
        let read = tokio::time::timeout(
            body_deadline(announced_length(headers)),
            axum::body::to_bytes(body, MAX_BODY),
        );
        match read.await {
            Ok(Ok(body)) => Ok(body),
            Ok(Err(e)) => {
                self.done(413, None, &format!(" (body: {e})"));
                Err(Box::new(self.error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "INVALID_ARGUMENT",
                    &format!("jongler serve: the request body could not be read: {e}"),
                )))
            }
            Err(_) => {
                self.done(408, None, " (body too slow)");
                Err(Box::new(closing(self.error(
                    StatusCode::REQUEST_TIMEOUT,
                    "DEADLINE_EXCEEDED",
                    "jongler serve: the request body came too slowly",
                ))))
            }
        }
    }

    /// Phase 1½, for an OpenAI route with several pools behind it: the
    /// targets the body's `model` names, or OpenAI's 404 naming the closest
    /// known ids (no key spent).
    fn by_model(&mut self, headers: &HeaderMap, body: &[u8]) -> Result<(), Answered> {
        let model = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["model"].as_str().map(str::to_string));
        let Some(model) = model else {
            self.done(400, None, " (no model named: answered here)");
            return Err(Box::new(self.error(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                "you must provide a model parameter: a JSON body with \"model\" (see GET /v1/models)",
            )));
        };
        let Some(chain) = self.app.gateway.resolve(&model) else {
            return Err(self.unknown_model(&model));
        };
        if let Some(alias) = &chain.alias {
            self.alias = Some((alias.clone(), chain.wait));
        }
        // One connector and no alias: the request goes as it came.
        let routed = self.alias.is_some() || self.app.gateway.pools.len() > 1;
        let (reachable, not): (Vec<Target>, Vec<Target>) = chain
            .entries
            .into_iter()
            .map(|(served, model)| Target::at(served, &self.uri, headers, routed.then_some(model)))
            .partition(|t| !matches!(t.route, Route::NotFound | Route::Native(_)));
        // None has the route: the first says so (OpenAI's 404 for the route).
        self.targets = match reachable.is_empty() {
            true => not.into_iter().take(1).collect(),
            false => reachable,
        };
        if self.targets.is_empty() {
            return Err(self.unknown_model(&model));
        }
        Ok(())
    }

    /// OpenAI's 404 for a model nothing serves, with the closest known ids.
    fn unknown_model(&self, model: &str) -> Answered {
        self.done(404, None, " (no such model: answered here)");
        let closest = self.app.gateway.closest(model);
        let hint = match closest.as_slice() {
            [] => " (GET /v1/models lists them)".to_string(),
            ids => format!(" Did you mean {}?", ids.join(", ")),
        };
        let message =
            format!("The model `{model}` does not exist or you do not have access to it.{hint}");
        // OpenAI's own answer for it.
        let body = json!({"error": {"message": message, "type": "invalid_request_error",
                                    "param": null, "code": "model_not_found"}});
        Box::new((StatusCode::NOT_FOUND, axum::Json(body)).into_response())
    }

    /// Phase 2: the call to make upstream for each target (path, key style,
    /// the headers passed on, the body with the target's model, bridged if
    /// it must be), or the answer given here.
    fn upstream_calls(
        &self,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Result<Vec<(Call, Option<crate::bridge::Kind>)>, Answered> {
        self.targets
            .iter()
            .map(|target| self.upstream_call(target, headers, body))
            .collect()
    }

    fn upstream_call(
        &self,
        target: &Target,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Result<(Call, Option<crate::bridge::Kind>), Answered> {
        let mut body = match &target.model {
            Some(model) => with_model(body, model),
            None => body.clone(),
        };
        let mut bridge = None;
        let (path, bearer) = match &target.route {
            Route::Native(path) => (path.clone(), false),
            Route::OpenAi(path) => (path.clone(), true),
            Route::Bridge(kind, path) => match crate::bridge::request(*kind, &body) {
                Ok(chat) => {
                    body = Bytes::from(chat);
                    bridge = Some(*kind);
                    (path.clone(), true)
                }
                Err(why) => {
                    self.done(400, None, &format!(" (not bridged: {why})"));
                    return Err(Box::new(self.error(
                        StatusCode::BAD_REQUEST,
                        "INVALID_ARGUMENT",
                        &why,
                    )));
                }
            },
            Route::NotFound => {
                self.done(404, None, " (no such OpenAI route: answered here)");
                let message = format!(
                    "Invalid URL ({} {}): `{}` has no such OpenAI-compatible route",
                    self.method,
                    self.uri.path(),
                    target.connector.name
                );
                return Err(Box::new(self.error(
                    StatusCode::NOT_FOUND,
                    "NOT_FOUND",
                    &message,
                )));
            }
        };
        let call = Call {
            method: self.method.to_string(),
            path,
            body: (!body.is_empty()).then_some(body),
            headers: forwarded(&target.connector, headers),
            bearer,
            gone: None,
            priority: self.client.spec.priority,
            tokens: None,
        };
        Ok((call, bridge))
    }

    /// `GET /v1/models` with several pools: every model served, once, and
    /// the aliases, in OpenAI's list shape.
    fn models(&self) -> Response {
        self.done(200, None, " (models: answered here)");
        let data: Vec<serde_json::Value> = self
            .app
            .gateway
            .model_ids()
            .into_iter()
            .map(
                |(id, owner)| json!({"id": id, "object": "model", "created": 0, "owned_by": owner}),
            )
            .collect();
        axum::Json(json!({"object": "list", "data": data})).into_response()
    }

    /// `GET /v1/models/{id}` with several pools.
    fn model(&self, id: &str) -> Response {
        match self
            .app
            .gateway
            .model_ids()
            .into_iter()
            .find(|(known, _)| known == id)
        {
            Some((id, owner)) => {
                self.done(200, None, " (model: answered here)");
                axum::Json(json!({"id": id, "object": "model", "created": 0, "owned_by": owner}))
                    .into_response()
            }
            None => *self.unknown_model(id),
        }
    }

    /// A path no connector of several serves.
    fn unknown_path(&self) -> Response {
        self.done(404, None, " (no connector serves this path: answered here)");
        let prefixes: Vec<String> = self
            .app
            .gateway
            .names()
            .into_iter()
            .map(|(name, short)| format!("/{}/", short.unwrap_or(name)))
            .collect();
        let message = format!(
            "Invalid URL ({} {}): no connector here serves it; a connector's own API is under {}",
            self.method,
            self.uri.path(),
            prefixes.join(", ")
        );
        self.error(StatusCode::NOT_FOUND, "NOT_FOUND", &message)
    }
}

/// The client's headers that go upstream to `connector`: those it passes
/// on, less any the client names in `Connection:` (about its hop only).
fn forwarded(
    connector: &crate::connector::Connector,
    headers: &HeaderMap,
) -> Vec<(String, String)> {
    let hop: Vec<String> = headers
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    headers
        .iter()
        .filter(|(name, _)| {
            FORWARDED.contains(&name.as_str())
                || connector
                    .forward_headers
                    .iter()
                    .any(|f| f.eq_ignore_ascii_case(name.as_str()))
        })
        .filter(|(name, _)| !hop.iter().any(|h| h == name.as_str()))
        .filter_map(|(name, value)| {
            Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
        })
        .collect()
}

/// A JSON body with its `model` set to `model` (as it was if it isn't a
/// JSON object).
fn with_model(body: &Bytes, model: &str) -> Bytes {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(mut json) if json.is_object() && json["model"].as_str() != Some(model) => {
            json["model"] = model.into();
            Bytes::from(json.to_string())
        }
        _ => body.clone(),
    }
}

/// An error in Anthropic's shape, for its SDKs on its native routes.
fn anthropic_error(status: StatusCode, message: &str) -> Response {
    let kind = match status {
        StatusCode::TOO_MANY_REQUESTS => "rate_limit_error",
        StatusCode::UNAUTHORIZED => "authentication_error",
        StatusCode::FORBIDDEN => "permission_error",
        StatusCode::NOT_FOUND => "not_found_error",
        StatusCode::PAYLOAD_TOO_LARGE => "request_too_large",
        s if s.is_server_error() => "api_error",
        _ => "invalid_request_error",
    };
    let body = json!({"type": "error", "error": {"type": kind, "message": message}});
    (status, axum::Json(body)).into_response()
}

async fn proxy(
    State(app): State<Arc<App>>,
    axum::Extension(client): axum::Extension<Arc<clients::Client>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let flight = app.metrics.in_flight();
    let plan = app.gateway.plan(&method, &uri, &headers);
    let mut exchange = Exchange {
        app: app.clone(),
        client,
        tokens: std::sync::OnceLock::new(),
        method,
        uri,
        started: Instant::now(),
        targets: Vec::new(),
        alias: None,
        chosen: std::sync::OnceLock::new(),
    };
    match plan {
        Plan::Pool(served, uri) => exchange
            .targets
            .push(Target::at(served, &uri, &headers, None)),
        Plan::ByModel => {}
        Plan::Models => return exchange.models(),
        Plan::Model(id) => return exchange.model(&id),
        Plan::Unknown => return exchange.unknown_path(),
    }
    let body = match exchange.read_body(&headers, body).await {
        Ok(body) => body,
        Err(answer) => return *answer,
    };
    if exchange.targets.is_empty()
        && let Err(answer) = exchange.by_model(&headers, &body)
    {
        return *answer;
    }
    let (mut calls, bridges): (Vec<Call>, Vec<_>) = match exchange.upstream_calls(&headers, &body) {
        Ok(calls) => calls.into_iter().unzip(),
        Err(answer) => return *answer,
    };
    let slot = match exchange.admit(&mut calls).await {
        Ok(slot) => slot,
        Err(answer) => return *answer,
    };
    let (head_tx, head_rx) = tokio::sync::oneshot::channel::<Head>();
    let (chunk_tx, chunk_rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    // The handler is dropped when its client hangs up, and the receiver with it.
    let (alive_tx, alive_rx) = tokio::sync::oneshot::channel::<()>();
    let gone = Gone(Arc::new(move || alive_tx.is_closed()));
    for call in &mut calls {
        call.gone = Some(gone.clone());
    }
    let runtime = tokio::runtime::Handle::current();
    let exchange = Arc::new(exchange);
    let upstream = exchange.clone();
    tokio::task::spawn_blocking(move || {
        // In flight until the answer's last byte is passed on.
        let _flight = (flight, slot);
        forward(&upstream, calls, &bridges, head_tx, chunk_tx, &runtime)
    });
    let _alive = alive_rx;
    respond(&exchange, head_rx, chunk_rx).await
}

/// Phase 3, on a blocking thread: runs the call (down the alias's chain if
/// it asked for one); its head goes to `head_tx`, a streamed body chunk by
/// chunk to `chunk_tx`.
fn forward(
    exchange: &Exchange,
    calls: Vec<Call>,
    bridges: &[Option<crate::bridge::Kind>],
    head_tx: tokio::sync::oneshot::Sender<Head>,
    chunk_tx: tokio::sync::mpsc::Sender<Bytes>,
    runtime: &tokio::runtime::Handle,
) {
    let reply = match &exchange.alias {
        Some((_, wait)) => {
            let pools: Vec<Arc<Served>> =
                exchange.targets.iter().map(|t| t.served.clone()).collect();
            let deadline = Instant::now() + wait.unwrap_or(exchange.app.wait);
            gateway::forward_chain(&pools, &calls, deadline, &exchange.chosen)
        }
        None => {
            let _ = exchange.chosen.set(0);
            let call = calls
                .into_iter()
                .next()
                .expect("invariant: one target at least");
            exchange.targets[0].served.jongler.forward(call)
        }
    };
    let bridge = bridges[exchange.chosen.get().copied().unwrap_or(0)];
    let reply = reply.map(|reply| bridged(reply, bridge));
    match reply {
        Ok(Reply::Whole(response)) => {
            let _ = head_tx.send(Head::Whole(response));
        }
        Ok(Reply::Stream(stream)) => {
            let head = Head::Stream {
                status: stream.status,
                headers: stream.headers.clone(),
                key: stream.key_name.clone(),
            };
            if head_tx.send(head).is_ok() {
                pump(exchange, stream, &chunk_tx, runtime);
            }
        }
        Err(e) => {
            if matches!(e.downcast_ref::<Error>(), Some(Error::Gone)) {
                exchange.log(
                    499,
                    None,
                    " (client went away before its request was sent: nothing sent)",
                );
            }
            let _ = head_tx.send(Head::Failed(e));
        }
    }
}

/// An answer to a bridged request, translated back into the API the client
/// asked for (a successful one: errors pass as they came).
fn bridged(reply: Reply, bridge: Option<crate::bridge::Kind>) -> Reply {
    match (reply, bridge) {
        (Reply::Whole(mut response), Some(kind)) if response.is_success() => {
            response.body = crate::bridge::response(kind, &response.body);
            Reply::Whole(response)
        }
        (Reply::Stream(mut stream), Some(kind)) => {
            if crate::http::is_event_stream(&stream.headers) {
                stream.body = crate::bridge::stream(kind, stream.body);
            } else {
                // A whole answer (success comes back as a stream): read it,
                // translate it.
                let mut whole = Vec::new();
                if let Err(e) = stream.body.read_to_end(&mut whole) {
                    eprintln!("jongler: the answer broke off: {e}");
                }
                stream.body = Box::new(std::io::Cursor::new(crate::bridge::response(kind, &whole)));
            }
            stream
                .headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case("content-length"));
            Reply::Stream(stream)
        }
        (reply, _) => reply,
    }
}

/// Passes a streamed body on as it arrives, until it ends, the client goes
/// away, or the client reads nothing for the stall timeout (then the key
/// is released: dropping the stream does it).
fn pump(
    exchange: &Exchange,
    mut stream: crate::jongler::StreamReply,
    chunk_tx: &tokio::sync::mpsc::Sender<Bytes>,
    runtime: &tokio::runtime::Handle,
) {
    let stall = exchange.app.stall_timeout;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match stream.body.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) => {
                eprintln!("jongler: the answer broke off mid-stream: {e}");
                return;
            }
        };
        let chunk = Bytes::copy_from_slice(&buf[..n]);
        match runtime.block_on(tokio::time::timeout(stall, chunk_tx.send(chunk))) {
            Ok(Ok(())) => {}
            // The client went away: stop reading.
            Ok(Err(_)) => return,
            Err(_) => {
                exchange.log(
                    499,
                    stream.key_name.as_deref(),
                    &format!(" (client stalled: read nothing for {stall:?}; the key is released)"),
                );
                return;
            }
        }
    }
}

/// Phase 4: the client's answer from the call's head, saying which
/// connector and model served it when it was routed by model.
async fn respond(
    exchange: &Exchange,
    head_rx: tokio::sync::oneshot::Receiver<Head>,
    chunk_rx: tokio::sync::mpsc::Receiver<Bytes>,
) -> Response {
    let (mut response, upstream) = answer(exchange, head_rx, chunk_rx).await;
    if upstream
        && let Some(by) = exchange.target().and_then(Target::served_by)
        && let Ok(value) = HeaderValue::from_str(&by)
    {
        response.headers_mut().insert("x-jongler-served-by", value);
    }
    response
}

async fn answer(
    exchange: &Exchange,
    head_rx: tokio::sync::oneshot::Receiver<Head>,
    chunk_rx: tokio::sync::mpsc::Receiver<Bytes>,
) -> (Response, bool) {
    let Ok(head) = head_rx.await else {
        let failed = error_json(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "the request task ended early",
        );
        return (failed, false);
    };
    match head {
        Head::Whole(response) => {
            exchange.done(response.status, response.key_name.as_deref(), "");
            let mut out = Response::builder().status(response.status);
            for (name, value) in &response.headers {
                if !NOT_FORWARDED.contains(&name.as_str()) {
                    out = out.header(name.as_str(), value.as_str());
                }
            }
            let out = out.body(Body::from(response.body)).unwrap_or_else(|_| {
                error_json(StatusCode::BAD_GATEWAY, "INTERNAL", "bad upstream headers")
            });
            (out, true)
        }
        Head::Stream {
            status,
            headers,
            key,
        } => {
            let sse = crate::http::is_event_stream(&headers);
            exchange.done(status, key.as_deref(), if sse { " (stream)" } else { "" });
            (streamed(status, &headers, chunk_rx), true)
        }
        Head::Failed(err) => (failed(exchange, &err), false),
    }
}

/// A streamed answer: the upstream's headers (and length, if it gave one:
/// the answer stays unchunked, as it came), the body as it arrives.
fn streamed(
    status: u16,
    headers: &[(String, String)],
    mut chunk_rx: tokio::sync::mpsc::Receiver<Bytes>,
) -> Response {
    let body = futures_util::stream::poll_fn(move |cx| {
        chunk_rx
            .poll_recv(cx)
            .map(|c| c.map(Ok::<_, std::io::Error>))
    });
    let mut out = Response::builder().status(status);
    for (name, value) in headers {
        if !NOT_FORWARDED.contains(&name.as_str()) || name.eq_ignore_ascii_case("content-length") {
            out = out.header(name.as_str(), value.as_str());
        }
    }
    out.header("x-accel-buffering", HeaderValue::from_static("no"))
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| error_json(StatusCode::BAD_GATEWAY, "INTERNAL", "bad upstream headers"))
}

/// A call that got no answer to pass on: every key out until a known time
/// is the API's own "quota exhausted" (a 429 that SDKs report as a rate
/// limit); otherwise 503, 400 or 502 by what went wrong.
fn failed(exchange: &Exchange, err: &anyhow::Error) -> Response {
    let typed = err.chain().find_map(|c| c.downcast_ref::<Error>());
    if let Some(Error::NoKey {
        retry_at: Some(at), ..
    }) = typed
    {
        let secs = at
            .duration_since(jiff::Timestamp::now())
            .as_secs_f64()
            .ceil()
            .max(1.0);
        exchange.done(429, None, &format!(" ({err:#})"));
        let message = format!("jongler: rate limited: every key's quota is used up ({err:#})");
        let mut response = exchange.error(
            StatusCode::TOO_MANY_REQUESTS,
            "RESOURCE_EXHAUSTED",
            &message,
        );
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&format!("{secs:.0}")) {
            headers.insert("retry-after", value);
        }
        // SDKs that honour it (openai-python and -node, the Vercel AI
        // SDK) fail fast instead of sleeping for hours.
        if secs > 60.0 {
            headers.insert("x-should-retry", HeaderValue::from_static("false"));
        }
        return response;
    }
    let (status, api_status) = match typed {
        Some(Error::NoKey { .. } | Error::Unavailable(_)) => {
            (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE")
        }
        Some(Error::Usage(_)) => (StatusCode::BAD_REQUEST, "INVALID_ARGUMENT"),
        // Nobody reads this: the client is gone.
        Some(Error::Gone) => (StatusCode::BAD_REQUEST, "CANCELLED"),
        None => (StatusCode::BAD_GATEWAY, "UNAVAILABLE"),
    };
    exchange.done(status.as_u16(), None, &format!(" ({err:#})"));
    exchange.error(status, api_status, &format!("jongler: {err:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_routed_by_what_they_are() {
        let gemini = crate::connector::Connector::parse(
            r#"{"name":"g","host":"h","api_key_header":"x-goog-api-key",
                "openai_base_path":"/v1beta/openai","default_api_version":"/v1beta"}"#,
            "t",
        )
        .unwrap();
        let anthropic = crate::connector::Connector::parse(
            r#"{"name":"a","host":"h","api_key_header":"x-api-key","openai_base_path":"/v1"}"#,
            "t",
        )
        .unwrap();
        let on =
            |connector: &crate::connector::Connector, uri: &str, header: Option<(&str, &str)>| {
                let uri: Uri = uri.parse().unwrap();
                let mut headers = HeaderMap::new();
                if let Some((n, v)) = header {
                    headers.insert(
                        axum::http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                        HeaderValue::from_str(v).unwrap(),
                    );
                }
                route(&uri, &headers, connector)
            };
        let r = |uri: &str, header: Option<(&str, &str)>| on(&gemini, uri, header);
        let google = Some(("x-goog-api-key", "t"));
        let bearer = Some(("authorization", "Bearer t"));
        // google-genai's models.list and models.get: Gemini's own.
        assert_eq!(r("/v1/models", google), Route::Native("/v1/models".into()));
        assert_eq!(
            r("/v1/models/gemini-2.5-flash", google),
            Route::Native("/v1/models/gemini-2.5-flash".into())
        );
        // The OpenAI SDK's: the OpenAI-compatible API.
        assert_eq!(
            r("/v1/models", bearer),
            Route::OpenAi("/v1beta/openai/models".into())
        );
        assert_eq!(
            r("/v1/chat/completions", bearer),
            Route::OpenAi("/v1beta/openai/chat/completions".into())
        );
        // ?key= is Google's style, and never goes upstream.
        assert_eq!(
            r("/v1/models?key=t&pageSize=5", None),
            Route::Native("/v1/models?pageSize=5".into())
        );
        // A base URL without the version.
        assert_eq!(
            r("/models/gemini-2.5-flash:generateContent", google),
            Route::Native("/v1beta/models/gemini-2.5-flash:generateContent".into())
        );
        // Gemini's v1 actions stay native even with a Bearer token.
        assert_eq!(
            r("/v1/models/gemini-2.5-flash:generateContent", bearer),
            Route::Native("/v1/models/gemini-2.5-flash:generateContent".into())
        );
        // OpenAI routes the connector lacks are answered here.
        assert_eq!(r("/v1/files", bearer), Route::NotFound);
        assert_eq!(
            r("/v1/responses", bearer),
            Route::Bridge(
                crate::bridge::Kind::Responses,
                "/v1beta/openai/chat/completions".into()
            )
        );
        assert_eq!(r("/v1/assistants", None), Route::NotFound);
        // Anthropic's own API, beside its OpenAI SDK compatibility layer.
        assert_eq!(
            on(&anthropic, "/v1/messages", Some(("x-api-key", "t"))),
            Route::Native("/v1/messages".into())
        );
        assert_eq!(
            on(
                &anthropic,
                "/v1/models",
                Some(("anthropic-version", "2023-06-01"))
            ),
            Route::Native("/v1/models".into())
        );
        assert_eq!(
            on(&anthropic, "/v1/chat/completions", bearer),
            Route::OpenAi("/v1/chat/completions".into())
        );
        // Another API has no /v1/messages: answered here.
        assert_eq!(r("/v1/messages", bearer), Route::NotFound);
    }

    #[test]
    fn openai_routes_are_told_from_gemini_v1_paths() {
        assert!(is_openai_route("/chat/completions"));
        assert!(is_openai_route("/models"));
        assert!(is_openai_route("/models/gemini-2.5-flash"));
        assert!(!is_openai_route("/models/gemini-2.5-flash:generateContent"));
        assert!(!is_openai_route("/files"));
    }

    #[test]
    fn the_clients_key_is_stripped_from_the_query() {
        let uri: Uri = "/v1beta/models/m:streamGenerateContent?key=t&alt=sse"
            .parse()
            .unwrap();
        assert_eq!(
            upstream_path(&uri),
            "/v1beta/models/m:streamGenerateContent?alt=sse"
        );
        assert_eq!(query_key(&uri).as_deref(), Some("t"));
    }
}
