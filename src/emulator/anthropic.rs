//! The emulator's Anthropic flavour (docs.anthropic.com/en/api/messages,
//! /en/api/rate-limits, /en/api/errors, /en/api/versioning):
//!
//! - `x-api-key` and a required `anthropic-version`; `GET /v1/models`,
//!   `POST /v1/messages` with a required `max_tokens`.
//! - Errors `{"type": "error", "error": {"type", "message"}}`: 401
//!   `authentication_error`, 529 `overloaded_error`.
//! - Headers
//!   `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`
//!   with RFC 3339 resets; a 429 adds `retry-after` in seconds.

use super::chat::{self, Chat, Refusal, TOKEN_LIMIT};
use super::exchange::{Api, Call, Request, prompt_text, reply_tokens};
use super::limiter::Charged;
use super::state::InFlight;
use crate::pool::cost::Accounting;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub(super) struct Anthropic;

impl Api for Anthropic {
    fn key_headers(&self) -> &'static [(&'static str, &'static str)] {
        &[("x-api-key", "")]
    }

    fn aliases(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    fn no_key(&self) -> Response {
        let message = "x-api-key header is required";
        Self::error(StatusCode::UNAUTHORIZED, "authentication_error", message)
    }

    /// The version header, then the key's behaviour.
    fn admit(&self, request: &Request, key: &str) -> Result<(), Response> {
        if !request.headers.contains_key("anthropic-version") {
            let message = "anthropic-version: header is required";
            return Err(Self::error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                message,
            ));
        }
        chat::refuse_key::<Self>(request.shared.behavior(key))
    }

    fn not_found(&self, _: &Request) -> Response {
        Self::error(StatusCode::NOT_FOUND, "not_found_error", "Not Found")
    }

    fn check(&self, request: &Request, key: &str, in_flight: InFlight) -> Result<Call, Response> {
        chat::check::<Self>(request, key, in_flight)
    }

    fn connector(&self, connector: &mut Value) {
        connector["api_key_header"] = "x-api-key".into();
        connector["api_key_prefix"] = "".into();
        connector["rate_limit_headers"] = "anthropic".into();
        connector["headers"] = json!({"anthropic-version": "2023-06-01"});
        connector["check_endpoint"] = "/v1/models".into();
        connector["forward_headers"] = json!(["anthropic-version", "anthropic-beta"]);
        connector
            .as_object_mut()
            .expect("invariant")
            .remove("openai_base_path");
    }
}

impl Chat for Anthropic {
    const ACCOUNTING: Accounting = Accounting::Anthropic;
    const COUNTS_REFUSED: bool = false;
    const INVALID_KEY: Refusal = (401, "authentication_error", "invalid x-api-key");
    const OVERLOADED: Refusal = (529, "overloaded_error", "Overloaded");

    fn error(status: StatusCode, kind: &str, message: &str) -> Response {
        let body = json!({"type": "error", "error": {"type": kind, "message": message}});
        (status, axum::Json(body)).into_response()
    }

    fn check_body(request: &Value) -> Result<(), Response> {
        if request["max_tokens"].is_u64() {
            return Ok(());
        }
        let message = "max_tokens: Field required";
        Err(Self::error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            message,
        ))
    }

    /// A message's `content` may be a string or a list of blocks.
    fn text(request: &Value) -> String {
        let parts: Vec<&str> = request["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|m| match &m["content"] {
                Value::String(s) => vec![s.as_str()],
                Value::Array(blocks) => blocks.iter().filter_map(|b| b["text"].as_str()).collect(),
                _ => Vec::new(),
            })
            .collect();
        if parts.is_empty() {
            return prompt_text(request);
        }
        parts.join(" ")
    }

    fn limit_headers(limit: u32, c: &Charged) -> Vec<(String, String)> {
        let quotas = [
            (
                &["requests"][..],
                f64::from(limit),
                c.requests_left,
                c.requests_reset,
            ),
            (
                &["tokens", "input-tokens", "output-tokens"][..],
                TOKEN_LIMIT,
                c.tokens_left,
                c.tokens_reset,
            ),
        ];
        let mut headers = Vec::new();
        for (names, cap, left, reset) in quotas {
            let at = jiff::Timestamp::now()
                .checked_add(jiff::SignedDuration::try_from(reset).unwrap_or_default())
                .unwrap_or(jiff::Timestamp::MAX);
            for n in names {
                headers.push((format!("anthropic-ratelimit-{n}-limit"), format!("{cap}")));
                headers.push((
                    format!("anthropic-ratelimit-{n}-remaining"),
                    format!("{}", left.floor()),
                ));
                headers.push((format!("anthropic-ratelimit-{n}-reset"), format!("{at:.0}")));
            }
        }
        if !c.admitted {
            let secs = c.retry_in.as_secs_f64().ceil().max(1.0) as u64;
            headers.push(("retry-after".into(), secs.to_string()));
        }
        headers
    }

    fn rate_limited(_: u32, _: &Charged) -> Response {
        Self::error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "This request would exceed your organization's rate limit of requests per minute. Please try again later.",
        )
    }
}

/// `POST /v1/messages`.
pub(super) fn messages(call: Call) -> Response {
    let reply = call.reply();
    axum::Json(
        json!({"id": "msg_emulated", "type": "message", "role": "assistant", "model": call.model,
           "content": [{"type": "text", "text": reply}], "stop_reason": "end_turn",
           "stop_sequence": null,
           "usage": {"input_tokens": call.tokens, "output_tokens": reply_tokens(&reply)}}),
    )
    .into_response()
}
