//! The emulator's OpenAI flavour (platform.openai.com/docs/api-reference,
//! /docs/guides/rate-limits, /docs/guides/error-codes):
//!
//! - `Authorization: Bearer`; `GET /v1/models`, `POST /v1/chat/completions`,
//!   also under `/openai/v1` (Groq) and `/api/v1` (OpenRouter): OpenAI-style
//!   services differ only in the prefix.
//! - Errors `{"error": {"message", "type", "param", "code"}}`: 401
//!   `invalid_api_key`, 503 `server_error` when overloaded.
//! - Headers `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, resets
//!   as Go durations (`6m0s`); a 429 carries those headers and no
//!   `retry-after`, and "unsuccessful requests contribute to your per-minute
//!   limit".

use super::chat::{self, Chat, Refusal, TOKEN_LIMIT};
use super::exchange::{Api, Call, Request, reply_tokens};
use super::limiter::Charged;
use super::state::InFlight;
use crate::pool::cost::Accounting;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::time::Duration;

pub(super) struct OpenAi;

impl Api for OpenAi {
    fn key_headers(&self) -> &'static [(&'static str, &'static str)] {
        &[("authorization", "Bearer ")]
    }

    fn aliases(&self) -> &'static [(&'static str, &'static str)] {
        &[("/openai/v1/", "/v1/"), ("/api/v1/", "/v1/")]
    }

    fn no_key(&self) -> Response {
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
        let code = if kind == "invalid_api_key" {
            json!("invalid_api_key")
        } else {
            Value::Null
        };
        let body =
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
        (status, axum::Json(body)).into_response()
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

/// `POST /v1/chat/completions`.
pub(super) fn chat_completions(call: Call) -> Response {
    let reply = call.reply();
    let reply_tokens = reply_tokens(&reply);
    axum::Json(json!({"id": "chatcmpl-emulated", "object": "chat.completion", "created": 0, "model": call.model,
           "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                        "finish_reason": "stop"}],
           "usage": {"prompt_tokens": call.tokens, "completion_tokens": reply_tokens,
                     "total_tokens": call.tokens + reply_tokens}}))
    .into_response()
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
