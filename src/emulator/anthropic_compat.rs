//! Anthropic's OpenAI SDK compatibility layer, `POST /v1/chat/completions`
//! in the Anthropic flavour (docs.anthropic.com/en/api/openai-sdk):
//!
//! - An OpenAI chat body and a `chat.completion` answer (streamed as
//!   OpenAI's chunks ending `data: [DONE]`), from `openai::completion`;
//!   `n` must be exactly 1, and most other fields are "silently ignored".
//! - The key as `x-api-key` or as OpenAI's `Authorization: Bearer` (the
//!   OpenAI SDK's way); no `anthropic-version` needed, as that SDK sends
//!   none.
//! - "Rate limits follow Anthropic's standard limits for the /v1/messages
//!   endpoint": the same limiter, charged as a message is, answered with
//!   Anthropic's `anthropic-ratelimit-*` headers and, as the page's header
//!   table lists, OpenAI's `x-ratelimit-*` ones, `retry-after` on a 429 and
//!   `openai-version: 2020-10-01`.
//! - "The compatibility layer maintains consistent error formats with the
//!   OpenAI API. However, the detailed error messages will not be
//!   equivalent": OpenAI's `{"error": {"message", "type", "param", "code"}}`
//!   carrying Anthropic's error types and messages (404 `not_found_error`
//!   "model: X" for a model it doesn't serve).

use super::anthropic::{Anthropic, RATE_LIMITED};
use super::chat::{Chat, Refusal};
use super::exchange::Call;
use super::limiter::Charged;
use super::openai::{self, OpenAi};
use crate::pool::cost::Accounting;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::Value;

/// Where the layer answers (aliases resolved).
pub(super) const PATH: &str = "/v1/chat/completions";

/// The `openai-version` the layer states on every answer.
const OPENAI_VERSION: &str = "2020-10-01";

/// Whether a route is the compatibility layer's.
pub(super) fn is_compat(route: &str) -> bool {
    route == PATH
}

/// The layer: Anthropic's limits and refusals in OpenAI's shapes.
pub(super) struct Compat;

impl Chat for Compat {
    const ACCOUNTING: Accounting = Anthropic::ACCOUNTING;
    const COUNTS_REFUSED: bool = Anthropic::COUNTS_REFUSED;
    const INVALID_KEY: Refusal = Anthropic::INVALID_KEY;
    const OVERLOADED: Refusal = Anthropic::OVERLOADED;

    fn error(status: StatusCode, kind: &str, message: &str) -> Response {
        openai::error_body(status, kind, message, None)
    }

    fn model_not_found(model: &str) -> Response {
        let message = format!("model: {model}");
        Self::error(StatusCode::NOT_FOUND, "not_found_error", &message)
    }

    /// "n: Must be exactly 1".
    fn check_body(request: &Value) -> Result<(), Response> {
        match request.get("n") {
            None | Some(Value::Null) => Ok(()),
            Some(n) if n.as_u64() == Some(1) => Ok(()),
            Some(_) => Err(Self::error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "n: only n = 1 is supported",
            )),
        }
    }

    fn limit_headers(limit: u32, charged: &Charged) -> Vec<(String, String)> {
        let mut headers = Anthropic::limit_headers(limit, charged);
        headers.extend(OpenAi::limit_headers(limit, charged));
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

/// `POST /v1/chat/completions`.
pub(super) fn chat_completions(call: Call) -> Response {
    let mut response = openai::completion(call, "chatcmpl-emulated".into());
    response
        .headers_mut()
        .insert("openai-version", HeaderValue::from_static(OPENAI_VERSION));
    response
}

#[cfg(test)]
mod tests {
    use crate::emulator::exchange::testing::{Reply, send, shared};
    use crate::emulator::{EmulatorConfig, Flavor};
    use axum::http::Method;
    use serde_json::{Value, json};
    use std::sync::Arc;
    use std::time::Duration;

    const KEY: &str = "sk-ant-test";

    fn emulator(rate: Option<(u32, Duration)>) -> Arc<crate::emulator::state::Shared> {
        shared(EmulatorConfig {
            flavor: Flavor::Anthropic,
            rate,
            models: vec!["claude-a".into()],
            ..EmulatorConfig::with_keys(&[KEY])
        })
    }

    fn chat(model: &str, text: &str, stream: bool) -> Value {
        json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": text}]})
    }

    async fn post(
        shared: &Arc<crate::emulator::state::Shared>,
        headers: &[(&str, &str)],
        body: Value,
    ) -> Reply {
        send(shared, Method::POST, super::PATH, headers, body).await
    }

    #[tokio::test]
    async fn an_openai_client_gets_a_chat_completion_with_both_rate_limit_headers() {
        let shared = emulator(Some((5, Duration::from_secs(60))));
        let bearer = format!("Bearer {KEY}");
        // The OpenAI SDK's way: a bearer key and no anthropic-version.
        let reply = post(
            &shared,
            &[("authorization", &bearer)],
            chat("claude-a", "hello", false),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let answer = reply.json();
        assert_eq!(answer["object"], "chat.completion");
        assert_eq!(answer["model"], "claude-a");
        assert_eq!(answer["choices"][0]["message"]["content"], "echo: hello");
        assert_eq!(answer["choices"].as_array().map(Vec::len), Some(1));
        assert!(answer["usage"]["total_tokens"].is_u64());
        assert_eq!(reply.header("openai-version"), Some("2020-10-01"));
        assert_eq!(
            reply.header("anthropic-ratelimit-requests-remaining"),
            Some("4")
        );
        assert_eq!(reply.header("x-ratelimit-remaining-requests"), Some("4"));
        // The native way to send the key works too.
        let reply = post(
            &shared,
            &[("x-api-key", KEY)],
            chat("claude-a", "again", false),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(shared.stats().key_headers.len(), 2);
    }

    #[tokio::test]
    async fn a_streamed_chat_completion_is_openai_chunks_ending_with_done() {
        let shared = emulator(None);
        let reply = post(
            &shared,
            &[("x-api-key", KEY)],
            chat("claude-a", "stream me", true),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.header("content-type"), Some("text/event-stream"));
        let events: Vec<&str> = reply
            .body
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| e.strip_prefix("data: ").expect("a data event"))
            .collect();
        assert_eq!(events.last(), Some(&"[DONE]"));
        let chunks: Vec<Value> = events[..events.len() - 1]
            .iter()
            .map(|e| serde_json::from_str(e).expect("a JSON chunk"))
            .collect();
        assert!(
            chunks
                .iter()
                .all(|c| c["object"] == "chat.completion.chunk")
        );
        let text: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(text, "echo: stream me");
        assert_eq!(
            chunks
                .last()
                .map(|c| c["choices"][0]["finish_reason"].clone()),
            Some(json!("stop"))
        );
    }

    #[tokio::test]
    async fn its_errors_are_openais_shape_and_its_limit_is_the_messages_limit() {
        let shared = emulator(Some((1, Duration::from_secs(60))));
        let unknown = post(
            &shared,
            &[("x-api-key", KEY)],
            chat("claude-z", "hi", false),
        )
        .await;
        assert_eq!(unknown.status, 404);
        assert_eq!(
            unknown.json(),
            json!({"error": {"message": "model: claude-z", "type": "not_found_error", "param": null, "code": null}})
        );
        let bad_key = post(
            &shared,
            &[("authorization", "Bearer nope")],
            chat("claude-a", "hi", false),
        )
        .await;
        assert_eq!(bad_key.status, 401);
        assert_eq!(bad_key.json()["error"]["type"], "authentication_error");
        let no_key = post(&shared, &[], chat("claude-a", "hi", false)).await;
        assert_eq!(no_key.status, 401);
        assert!(no_key.json()["error"]["message"].is_string());
        // One request a minute, spent on /v1/messages: the layer is refused.
        let message = json!({"model": "claude-a", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]});
        let headers = [("x-api-key", KEY), ("anthropic-version", "2023-06-01")];
        let native = send(&shared, Method::POST, "/v1/messages", &headers, message).await;
        assert_eq!(native.status, 200, "{}", native.body);
        let limited = post(
            &shared,
            &[("x-api-key", KEY)],
            chat("claude-a", "hi", false),
        )
        .await;
        assert_eq!(limited.status, 429);
        assert_eq!(limited.json()["error"]["type"], "rate_limit_error");
        assert!(limited.header("retry-after").is_some());
        assert_eq!(
            limited.header("anthropic-ratelimit-requests-remaining"),
            Some("0")
        );
        let two = post(
            &shared,
            &[("x-api-key", KEY)],
            json!({"model": "claude-a", "n": 2, "messages": []}),
        )
        .await;
        assert_eq!(two.status, 400);
    }
}
