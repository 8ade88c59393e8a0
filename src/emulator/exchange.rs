//! The one path every API request takes, whatever its route or flavour, in
//! this order: find the key; count the request; with no key, the flavour's
//! refusal; note the request in flight on its key (counting overlaps); the
//! flavour's checks before any route (`Api::admit`); the request's row in
//! `routes.rs` (none: the flavour's 404); for a model call the flavour's
//! checks on the body (`Api::check`) and the set latency; the row's
//! handler; count the answer. What differs between the APIs is behind
//! `Api`, one implementation per flavour.

use super::gemini::Gemini;
use super::routes::{self, Answer};
use super::state::{InFlight, Shared};
use super::{Flavor, anthropic::Anthropic, openai::OpenAi};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use axum::response::Response;
use serde_json::Value;
use std::sync::Arc;

/// What one API does its own way.
pub(super) trait Api: Sync {
    /// Where it takes a key on `route` (aliases resolved), in the order it
    /// looks: a header, and what comes before the key in it (a `?key=` in
    /// the URL counts for all).
    fn key_headers(&self, route: &str) -> &'static [(&'static str, &'static str)];
    /// Path prefixes it also answers under: (alias, the prefix in `routes.rs`).
    fn aliases(&self) -> &'static [(&'static str, &'static str)];
    /// The models it serves unless told others.
    fn default_models(&self) -> &'static [&'static str];
    /// Its answer to a request with no key.
    fn no_key(&self, request: &Request) -> Response;
    /// Its checks before any route, on a request with a key: the key's
    /// behaviour, and whatever else it refuses on every route.
    fn admit(&self, request: &Request, key: &str) -> Result<(), Response>;
    /// Its answer to a method and path it has no route for.
    fn not_found(&self, request: &Request) -> Response;
    /// Its checks on a model call before the model runs: the call, or the
    /// answer without running it.
    fn check(&self, request: &Request, key: &str, in_flight: InFlight) -> Result<Call, Response>;
    /// Turns the Gemini-style connector file into one for this API.
    fn connector(&self, connector: &mut Value);
}

/// The API a flavour stands in for.
pub(super) fn api(flavor: Flavor) -> &'static dyn Api {
    match flavor {
        Flavor::Gemini => &Gemini,
        Flavor::Openai => &OpenAi,
        Flavor::Anthropic => &Anthropic,
    }
}

/// A request's key, and the header it came in (or `url`).
pub(super) struct Key {
    pub value: String,
    pub place: &'static str,
}

/// One request, as the flavours see it.
pub(super) struct Request<'a> {
    pub shared: &'a Arc<Shared>,
    pub method: &'a Method,
    /// The path as sent (error messages quote it).
    pub path: &'a str,
    /// The path with the flavour's aliases resolved: what routes match.
    pub route: String,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// A model call that passed its flavour's checks: what a route's handler
/// answers from.
pub(super) struct Call {
    /// The body, parsed.
    pub request: Value,
    /// The prompt's text.
    pub text: String,
    /// The model it names.
    pub model: String,
    /// Gemini's method after the `:` (`generateContent`), or the
    /// OpenAI-compatible route; errors quote it.
    pub action: String,
    pub key: String,
    /// Its input tokens, as the flavour counts them.
    pub tokens: u64,
    /// Rate-limit headers to send with the answer.
    pub headers: Vec<(String, String)>,
    /// Its place in flight on the key: a stream holds it to its last event.
    pub in_flight: InFlight,
}

impl Call {
    /// What the model answers: the prompt, echoed.
    pub fn reply(&self) -> String {
        format!("echo: {}", self.text)
    }
}

/// A reply's output tokens: one per four bytes.
pub(super) fn reply_tokens(reply: &str) -> u64 {
    reply.len().div_ceil(4) as u64
}

/// Every API request comes here (the axum fallback).
pub(super) async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let api = api(shared.flavor());
    let route = resolve_alias(api, uri.path());
    let url_key = url_key(&uri);
    let in_url = url_key.is_some();
    let key = header_key(api, &route, &headers).or(url_key.map(|value| Key {
        value,
        place: "url",
    }));
    shared.count_arrival(&headers, key.as_ref(), in_url);
    let request = Request {
        shared: &shared,
        method: &method,
        path: uri.path(),
        route,
        headers: &headers,
        body: &body,
    };
    let key = key.map(|key| key.value);
    let response = match &key {
        None => api.no_key(&request),
        Some(key) => answer(api, &request, key).await,
    };
    shared.count_answer(key, response.status().as_u16());
    response
}

/// Answers a request that carries a key.
async fn answer(api: &dyn Api, request: &Request<'_>, key: &str) -> Response {
    let text = serde_json::from_slice::<Value>(request.body)
        .map(|v| prompt_text(&v))
        .unwrap_or_default();
    let in_flight = request.shared.enter(key, text);
    if let Err(refusal) = api.admit(request, key) {
        return refusal;
    }
    let found = routes::find(request.shared.flavor(), request.method, &request.route);
    let Some((route, capture)) = found else {
        return api.not_found(request);
    };
    let models = request.shared.models();
    match route.answer {
        Answer::Now(answer) => answer(models, capture),
        Answer::AfterLatency(answer) => {
            request.shared.wait_latency().await;
            answer(models, capture)
        }
        Answer::Call(answer) => {
            let mut call = match api.check(request, key, in_flight) {
                Ok(call) => call,
                Err(answered) => return answered,
            };
            request.shared.answer_after_latency(&call.text).await;
            let headers = std::mem::take(&mut call.headers);
            let mut response = answer(call);
            add_headers(&mut response, &headers);
            response
        }
    }
}

/// A `key=` in the query string.
fn url_key(uri: &Uri) -> Option<String> {
    uri.query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("key=").map(str::to_string))
    })
}

/// The key in the first of the API's key headers for `route` that holds one.
fn header_key(api: &dyn Api, route: &str, headers: &HeaderMap) -> Option<Key> {
    api.key_headers(route).iter().find_map(|&(name, prefix)| {
        let value = headers.get(name)?.to_str().ok()?.strip_prefix(prefix)?;
        Some(Key {
            value: value.to_string(),
            place: name,
        })
    })
}

/// `path` with the first of the API's aliases it starts with replaced.
fn resolve_alias(api: &dyn Api, path: &str) -> String {
    api.aliases()
        .iter()
        .find_map(|(alias, prefix)| Some(format!("{prefix}{}", path.strip_prefix(alias)?)))
        .unwrap_or_else(|| path.to_string())
}

/// Adds `headers` to `response`, replacing any of the same name.
pub(super) fn add_headers(response: &mut Response, headers: &[(String, String)]) {
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
}

/// The input tokens an API reports for a request: its text, and its images,
/// audio, video and PDFs as the provider documents counting them.
pub(super) fn input_tokens(
    text: &str,
    body: &[u8],
    accounting: crate::pool::cost::Accounting,
) -> u64 {
    text.len().div_ceil(4).max(1) as u64 + crate::pool::cost::media_tokens(body, accounting)
}

/// The text of a Gemini `contents` or an OpenAI `messages`/`input` request.
pub(super) fn prompt_text(request: &Value) -> String {
    let gemini = request["contents"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["parts"].as_array().into_iter().flatten())
        .filter_map(|p| p["text"].as_str());
    // A message's content is a string, or parts whose text parts count.
    let openai = request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|m| match &m["content"] {
            Value::String(s) => vec![s.as_str()],
            Value::Array(parts) => parts
                .iter()
                .filter(|p| matches!(p["type"].as_str(), Some("text" | "input_text")))
                .filter_map(|p| p["text"].as_str())
                .collect(),
            _ => Vec::new(),
        });
    let input = request["input"].as_str().into_iter();
    gemini
        .chain(openai)
        .chain(input)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Requests straight into `handle`, with no socket: what the flavours'
/// tests send.
#[cfg(test)]
pub(super) mod testing {
    use super::*;
    use crate::emulator::EmulatorConfig;

    /// An answer, read to its end.
    pub(crate) struct Reply {
        pub status: u16,
        pub headers: HeaderMap,
        pub body: String,
    }

    impl Reply {
        pub fn json(&self) -> Value {
            serde_json::from_str(&self.body).expect("a JSON body")
        }

        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers.get(name).and_then(|v| v.to_str().ok())
        }
    }

    /// A model list as the config takes it.
    pub(crate) fn served(models: &[&str]) -> Vec<String> {
        models.iter().map(|m| m.to_string()).collect()
    }

    /// An answer's JSON body.
    pub(crate) async fn body(response: Response) -> Value {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body");
        serde_json::from_slice(&bytes).expect("JSON")
    }

    /// The state an emulator started with `config` would have.
    pub(crate) fn shared(config: EmulatorConfig) -> Arc<Shared> {
        Arc::new(Shared::new(config))
    }

    /// Sends a request (`body` `Null`: none) and reads its whole answer.
    pub(crate) async fn send(
        shared: &Arc<Shared>,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Value,
    ) -> Reply {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes()).expect("a header name");
            map.insert(name, HeaderValue::from_str(value).expect("a header value"));
        }
        let body = if body.is_null() {
            Bytes::new()
        } else {
            Bytes::from(body.to_string())
        };
        let uri = path.parse().expect("a path");
        let response = handle(State(shared.clone()), method, uri, map, body).await;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a whole body");
        Reply {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).expect("UTF-8"),
        }
    }
}
