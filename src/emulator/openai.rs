//! The emulator's OpenAI flavour (platform.openai.com/docs/api-reference,
//! /docs/guides/rate-limits, /docs/guides/error-codes):
//!
//! - `Authorization: Bearer`; `GET /v1/models[/{model}]`,
//!   `POST /v1/chat/completions` (streamed as `chat.completion.chunk`
//!   events ending `data: [DONE]` when asked), also under `/openai/v1`
//!   (Groq) and `/api/v1` (OpenRouter): OpenAI-style services differ only in
//!   the prefix.
//! - Errors `{"error": {"message", "type", "param", "code"}}`: 401
//!   `invalid_api_key`, 404 `model_not_found` for a model it doesn't serve
//!   ("The model `X` does not exist or you do not have access to it."), 503
//!   `server_error` when overloaded.
//! - Headers `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, resets
//!   as Go durations (`6m0s`); a 429 carries those headers and no
//!   `retry-after`, and "unsuccessful requests contribute to your per-minute
//!   limit".

use super::chat::{self, Chat, Refusal, TOKEN_LIMIT};
use super::exchange::{Api, Call, Request, reply_tokens};
use super::limiter::Charged;
use super::state::InFlight;
use super::stream::{split_reply, sse};
use crate::pool::cost::Accounting;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::time::Duration;

pub(super) struct OpenAi;

impl Api for OpenAi {
    fn key_headers(&self, _: &str) -> &'static [(&'static str, &'static str)] {
        &[("authorization", "Bearer ")]
    }

    fn aliases(&self) -> &'static [(&'static str, &'static str)] {
        &[("/openai/v1/", "/v1/"), ("/api/v1/", "/v1/")]
    }

    fn default_models(&self) -> &'static [&'static str] {
        chat::MODELS
    }

    fn no_key(&self, _: &Request) -> Response {
        Self::error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )
    }

    fn admit(&self, request: &Request, key: &str) -> Result<(), Response> {
        chat::refuse_key::<Self>(request.shared.behavior(key))
    }

    fn not_found(&self, request: &Request) -> Response {
        let message = format!("Invalid URL ({} {})", request.method, request.path);
        Self::error(StatusCode::NOT_FOUND, "invalid_request_error", &message)
    }

    fn check(&self, request: &Request, key: &str, in_flight: InFlight) -> Result<Call, Response> {
        chat::check::<Self>(request, key, in_flight)
    }

    fn connector(&self, connector: &mut Value) {
        connector
            .as_object_mut()
            .expect("invariant")
            .remove("default_api_version");
        connector["api_key_header"] = "Authorization".into();
        connector["api_key_prefix"] = "Bearer ".into();
        connector["rate_limit_headers"] = "openai".into();
        connector["check_endpoint"] = "/v1/models".into();
        connector["openai_base_path"] = "/v1".into();
    }
}

impl Chat for OpenAi {
    const ACCOUNTING: Accounting = Accounting::OpenAi;
    const COUNTS_REFUSED: bool = true;
    const INVALID_KEY: Refusal = (
        401,
        "invalid_api_key",
        "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
    );
    const OVERLOADED: Refusal = (
        503,
        "server_error",
        "The engine is currently overloaded, please try again later.",
    );

    fn error(status: StatusCode, kind: &str, message: &str) -> Response {
        let code = (kind == "invalid_api_key").then_some(kind);
        error_body(status, kind, message, code)
    }

    fn model_not_found(model: &str) -> Response {
        let message =
            format!("The model `{model}` does not exist or you do not have access to it.");
        let code = Some("model_not_found");
        error_body(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            &message,
            code,
        )
    }

    fn limit_headers(limit: u32, c: &Charged) -> Vec<(String, String)> {
        let quotas = [
            (
                "requests",
                f64::from(limit),
                c.requests_left,
                c.requests_reset,
            ),
            ("tokens", TOKEN_LIMIT, c.tokens_left, c.tokens_reset),
        ];
        let mut headers = Vec::new();
        for (name, cap, left, reset) in quotas {
            headers.push((format!("x-ratelimit-limit-{name}"), format!("{cap}")));
            headers.push((
                format!("x-ratelimit-remaining-{name}"),
                format!("{}", left.floor()),
            ));
            headers.push((format!("x-ratelimit-reset-{name}"), go_duration(reset)));
        }
        headers
    }

    fn rate_limited(limit: u32, charged: &Charged) -> Response {
        let message = format!(
            "Rate limit reached for requests on model-small: Limit {limit}, Used {limit}, Requested 1. Please try again in {}.",
            go_duration(charged.retry_in)
        );
        Self::error(StatusCode::TOO_MANY_REQUESTS, "requests", &message)
    }
}

/// OpenAI's error body, `code` its machine-readable name where it gives
/// one (platform.openai.com/docs/guides/error-codes).
pub(super) fn error_body(
    status: StatusCode,
    kind: &str,
    message: &str,
    code: Option<&str>,
) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    (status, axum::Json(body)).into_response()
}

/// When every listed model was made, in Unix seconds: fixed, so answers
/// compare.
const CREATED: u64 = 1_700_000_000;

/// A `Model` (platform.openai.com/docs/api-reference/models/object).
fn model_object(id: &str) -> Value {
    json!({"id": id, "object": "model", "created": CREATED, "owned_by": "openai"})
}

/// `GET /v1/models`: `{"object": "list", "data": [Model]}`.
pub(super) fn models(served: &[String], _: &str) -> Response {
    let data: Vec<Value> = served.iter().map(|m| model_object(m)).collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

/// `GET /v1/models/{model}`: the `Model`, or 404 `model_not_found`.
pub(super) fn model(served: &[String], id: &str) -> Response {
    if !served.iter().any(|m| m == id) {
        return OpenAi::model_not_found(id);
    }
    axum::Json(model_object(id)).into_response()
}

/// `POST /v1/chat/completions`.
pub(super) fn chat_completions(call: Call) -> Response {
    completion(call, "chatcmpl-emulated".into())
}

/// A `chat.completion` named `id`, or with `"stream": true` its
/// `chat.completion.chunk` events ending `data: [DONE]`
/// (platform.openai.com/docs/api-reference/chat-streaming): OpenAI's shape,
/// which Gemini's and Anthropic's compatibility layers answer in too.
pub(super) fn completion(call: Call, id: String) -> Response {
    let reply = call.reply();
    if call.request["stream"].as_bool() != Some(true) {
        let reply_tokens = reply_tokens(&reply);
        return axum::Json(json!({"id": id, "object": "chat.completion", "created": 0, "model": call.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": call.tokens, "completion_tokens": reply_tokens,
                      "total_tokens": call.tokens + reply_tokens}}))
        .into_response();
    }
    let parts = split_reply(&reply);
    let n = parts.len();
    let mut events: Vec<String> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let delta = if i == 0 {
                json!({"role": "assistant", "content": p})
            } else {
                json!({"content": p})
            };
            let finish = if i + 1 == n { json!("stop") } else { Value::Null };
            let chunk = json!({"id": id, "object": "chat.completion.chunk", "created": 0, "model": call.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
            format!("data: {chunk}\n\n")
        })
        .collect();
    events.push("data: [DONE]\n\n".into());
    sse(events, call.in_flight)
}

/// A duration the way OpenAI writes its resets: `1s`, `6m0s`, `1m30.5s`, `20ms`.
pub fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs_f64();
    let (h, rest) = ((secs / 3600.0).floor(), secs % 3600.0);
    let (m, s) = ((rest / 60.0).floor(), rest % 60.0);
    let s = format!("{:.3}", s)
        .trim_end_matches('0')
        .trim_end_matches('.')
        .to_string();
    match (h as u64, m as u64) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m{s}s"),
        (h, m) => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::exchange::testing::{body, send, served, shared};
    use crate::emulator::{EmulatorConfig, Flavor};
    use axum::http::Method;

    const KEY: &str = "sk-test";

    #[tokio::test]
    async fn the_model_list_is_openais_list_of_model_objects() {
        let list = body(models(&served(&["gpt-a", "gpt-b"]), "")).await;
        assert_eq!(list["object"], "list");
        let data = list["data"].as_array().expect("data");
        assert_eq!(data.len(), 2);
        for (model, id) in data.iter().zip(["gpt-a", "gpt-b"]) {
            let fields: Vec<&str> = model
                .as_object()
                .expect("an object")
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(fields, ["id", "object", "created", "owned_by"]);
            assert_eq!(model["id"], id);
            assert_eq!(model["object"], "model");
            assert!(model["created"].is_u64() && model["owned_by"].is_string());
        }
        let one = body(model(&served(&["gpt-a"]), "gpt-a")).await;
        assert_eq!(one["id"], "gpt-a");
        let missing = model(&served(&["gpt-a"]), "gpt-z");
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert_eq!(body(missing).await["error"]["code"], "model_not_found");
    }

    #[tokio::test]
    async fn a_model_it_does_not_serve_is_a_404_that_spends_none_of_the_keys_limit() {
        let shared = shared(EmulatorConfig {
            flavor: Flavor::Openai,
            rate: Some((1, Duration::from_secs(60))),
            models: served(&["gpt-a"]),
            ..EmulatorConfig::with_keys(&[KEY])
        });
        let auth = format!("Bearer {KEY}");
        let call =
            |model: &str| json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
        let headers = [("authorization", auth.as_str())];
        let path = "/v1/chat/completions";
        let unknown = send(&shared, Method::POST, path, &headers, call("gpt-z")).await;
        assert_eq!(unknown.status, 404);
        assert_eq!(
            unknown.json(),
            json!({"error": {"message": "The model `gpt-z` does not exist or you do not have access to it.",
                             "type": "invalid_request_error", "param": null, "code": "model_not_found"}})
        );
        assert!(unknown.header("x-ratelimit-remaining-requests").is_none());
        // The limit is one request: the 404 left it whole.
        let known = send(&shared, Method::POST, path, &headers, call("gpt-a")).await;
        assert_eq!(known.status, 200, "{}", known.body);
        assert_eq!(known.header("x-ratelimit-remaining-requests"), Some("0"));
        // Both are counted as requests on the key; only one was answered.
        let stats = shared.stats();
        assert_eq!(stats.requests, 2);
        assert_eq!(stats.by_key[KEY], 2);
        assert_eq!(stats.by_status[&404], 1);
        assert_eq!(stats.by_status[&200], 1);
        assert_eq!(stats.started.len(), 1);
    }

    #[tokio::test]
    async fn a_streamed_completion_ends_with_done() {
        let shared = shared(EmulatorConfig {
            flavor: Flavor::Openai,
            ..EmulatorConfig::with_keys(&[KEY])
        });
        let auth = format!("Bearer {KEY}");
        let request = json!({"model": "model-small", "stream": true,
                             "messages": [{"role": "user", "content": "flow"}]});
        let path = "/v1/chat/completions";
        let reply = send(
            &shared,
            Method::POST,
            path,
            &[("authorization", &auth)],
            request,
        )
        .await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("content-type"), Some("text/event-stream"));
        assert!(reply.body.ends_with("data: [DONE]\n\n"), "{}", reply.body);
    }
}
