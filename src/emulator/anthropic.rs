//! The emulator's Anthropic flavour (docs.anthropic.com/en/api/messages,
//! /en/api/models-list, /en/api/models-get, /en/api/rate-limits,
//! /en/api/errors, /en/api/versioning):
//!
//! - `x-api-key` and a required `anthropic-version`; `GET /v1/models`
//!   (`{"data": [ModelInfo], "has_more", "first_id", "last_id"}`),
//!   `GET /v1/models/{model_id}`, `POST /v1/messages` with a required
//!   `max_tokens`; and `POST /v1/chat/completions`, the OpenAI SDK
//!   compatibility layer, whose own rules are `anthropic_compat.rs`'s.
//! - Errors `{"type": "error", "error": {"type", "message"}}`: 401
//!   `authentication_error`, 404 `not_found_error` ("model: X") for a model
//!   it doesn't serve, 529 `overloaded_error`.
//! - Headers
//!   `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`
//!   with RFC 3339 resets; a 429 adds `retry-after` in seconds.

use super::anthropic_compat::{self, Compat};
use super::chat::{self, Chat, Refusal, TOKEN_LIMIT};
use super::exchange::{Api, Call, Request, prompt_text, reply_tokens};
use super::limiter::Charged;
use super::state::InFlight;
use crate::pool::cost::Accounting;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub(super) struct Anthropic;

/// Its 429's message, on every route.
pub(super) const RATE_LIMITED: &str = "This request would exceed your organization's rate limit of requests per minute. Please try again later.";

impl Api for Anthropic {
    /// The compatibility layer also takes OpenAI's `Authorization: Bearer`.
    fn key_headers(&self, route: &str) -> &'static [(&'static str, &'static str)] {
        if anthropic_compat::is_compat(route) {
            return &[("x-api-key", ""), ("authorization", "Bearer ")];
        }
        &[("x-api-key", "")]
    }

    fn aliases(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    fn default_models(&self) -> &'static [&'static str] {
        chat::MODELS
    }

    fn no_key(&self, request: &Request) -> Response {
        let message = "x-api-key header is required";
        if anthropic_compat::is_compat(&request.route) {
            return Compat::error(StatusCode::UNAUTHORIZED, "authentication_error", message);
        }
        Self::error(StatusCode::UNAUTHORIZED, "authentication_error", message)
    }

    /// The version header (the compatibility layer's OpenAI clients send
    /// none), then the key's behaviour.
    fn admit(&self, request: &Request, key: &str) -> Result<(), Response> {
        if anthropic_compat::is_compat(&request.route) {
            return chat::refuse_key::<Compat>(request.shared.behavior(key));
        }
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
        if anthropic_compat::is_compat(&request.route) {
            return chat::check::<Compat>(request, key, in_flight);
        }
        chat::check::<Self>(request, key, in_flight)
    }

    /// With no `openai_base_path`, as before the compatibility layer was
    /// played: `serve` routes a connector's paths by it, so a test that
    /// wants OpenAI-style paths sent to the layer sets it itself.
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

    fn model_not_found(model: &str) -> Response {
        let message = format!("model: {model}");
        Self::error(StatusCode::NOT_FOUND, "not_found_error", &message)
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
            RATE_LIMITED,
        )
    }
}

/// When every listed model was released (RFC 3339): fixed, so answers
/// compare.
const CREATED_AT: &str = "2025-01-01T00:00:00Z";

/// A `ModelInfo` (docs.anthropic.com/en/api/models-get).
fn model_info(id: &str) -> Value {
    json!({"type": "model", "id": id, "display_name": id, "created_at": CREATED_AT})
}

/// `GET /v1/models`: one page holding every model (the default page is 20
/// long; a test serves fewer), so `has_more` is false and `first_id` and
/// `last_id` bound it (null when empty).
pub(super) fn models(served: &[String], _: &str) -> Response {
    let data: Vec<Value> = served.iter().map(|m| model_info(m)).collect();
    axum::Json(json!({"data": data, "has_more": false,
                      "first_id": served.first(), "last_id": served.last()}))
    .into_response()
}

/// `GET /v1/models/{model_id}`: the `ModelInfo`, or 404 `not_found_error`.
pub(super) fn model(served: &[String], id: &str) -> Response {
    if !served.iter().any(|m| m == id) {
        return Anthropic::model_not_found(id);
    }
    axum::Json(model_info(id)).into_response()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::exchange::testing::{body, send, served, shared};
    use crate::emulator::{EmulatorConfig, Flavor};
    use axum::http::Method;
    use std::time::Duration;

    const KEY: &str = "sk-ant-test";
    const VERSION: (&str, &str) = ("anthropic-version", "2023-06-01");

    #[tokio::test]
    async fn the_model_list_is_anthropics_page_of_model_infos() {
        let list = body(models(&served(&["claude-a", "claude-b"]), "")).await;
        let fields: Vec<&str> = list
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(fields, ["data", "has_more", "first_id", "last_id"]);
        assert_eq!(list["has_more"], false);
        assert_eq!(list["first_id"], "claude-a");
        assert_eq!(list["last_id"], "claude-b");
        for (info, id) in list["data"]
            .as_array()
            .expect("data")
            .iter()
            .zip(["claude-a", "claude-b"])
        {
            let fields: Vec<&str> = info
                .as_object()
                .expect("an object")
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(fields, ["type", "id", "display_name", "created_at"]);
            assert_eq!(info["type"], "model");
            assert_eq!(info["id"], id);
            let created = info["created_at"].as_str().expect("a time");
            assert!(created.parse::<jiff::Timestamp>().is_ok(), "{created}");
        }
        let empty = body(models(&[], "")).await;
        assert_eq!(empty["first_id"], Value::Null);
        assert_eq!(
            body(model(&served(&["claude-a"]), "claude-a")).await["id"],
            "claude-a"
        );
        let missing = model(&served(&["claude-a"]), "claude-z");
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            body(missing).await,
            json!({"type": "error", "error": {"type": "not_found_error", "message": "model: claude-z"}})
        );
    }

    #[tokio::test]
    async fn a_model_it_does_not_serve_is_a_404_that_spends_none_of_the_keys_limit() {
        let shared = shared(EmulatorConfig {
            flavor: Flavor::Anthropic,
            rate: Some((1, Duration::from_secs(60))),
            models: served(&["claude-a"]),
            ..EmulatorConfig::with_keys(&[KEY])
        });
        let message = |model: &str| json!({"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]});
        let headers = [("x-api-key", KEY), VERSION];
        let unknown = send(
            &shared,
            Method::POST,
            "/v1/messages",
            &headers,
            message("claude-z"),
        )
        .await;
        assert_eq!(unknown.status, 404);
        assert_eq!(
            unknown.json(),
            json!({"type": "error", "error": {"type": "not_found_error", "message": "model: claude-z"}})
        );
        assert!(
            unknown
                .header("anthropic-ratelimit-requests-remaining")
                .is_none()
        );
        let known = send(
            &shared,
            Method::POST,
            "/v1/messages",
            &headers,
            message("claude-a"),
        )
        .await;
        assert_eq!(known.status, 200, "{}", known.body);
        assert_eq!(
            known.header("anthropic-ratelimit-requests-remaining"),
            Some("0")
        );
        let stats = shared.stats();
        assert_eq!((stats.requests, stats.by_key[KEY]), (2, 2));
        assert_eq!((stats.by_status[&404], stats.by_status[&200]), (1, 1));
        assert_eq!(stats.started.len(), 1);
    }
}
