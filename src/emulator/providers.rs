//! The emulator's OpenAI and Anthropic flavours: their routes, auth headers,
//! error bodies and rate-limit headers. Both define the reset header as the
//! time until the limit is whole again, and neither documents how capacity
//! comes back before then: each key's limit refills as a token bucket or a
//! sliding window, as the emulator is told (see `limiter.rs`).
//!
//! - OpenAI (platform.openai.com/docs/guides/rate-limits, /docs/api-reference):
//!   `Authorization: Bearer`; `POST /v1/chat/completions`, `GET /v1/models`;
//!   errors `{"error": {"message", "type", "param", "code"}}`; headers
//!   `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, resets as Go
//!   durations (`6m0s`); a 429 carries those headers and no `retry-after`.
//! - Anthropic (docs.anthropic.com/en/api/rate-limits, /en/api/errors,
//!   /en/api/versioning): `x-api-key` and a required `anthropic-version`;
//!   `POST /v1/messages`, `GET /v1/models`; errors `{"type": "error",
//!   "error": {"type", "message"}}`; headers
//!   `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`
//!   with RFC 3339 resets; a 429 adds `retry-after` in seconds; 529 is
//!   `overloaded_error`.

use super::limiter::Limiter;
use super::{Behavior, InFlight, Shared, prompt_text};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which API the emulator stands in for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flavor {
    /// Google's Gemini API (and its OpenAI-compatible routes).
    #[default]
    Gemini,
    /// OpenAI's API.
    Openai,
    /// Anthropic's API.
    Anthropic,
}

impl std::str::FromStr for Flavor {
    type Err = String;
    fn from_str(s: &str) -> Result<Flavor, String> {
        serde_json::from_value(Value::String(s.to_string()))
            .map_err(|_| format!("unknown flavour {s:?}: gemini, openai, anthropic"))
    }
}

impl Flavor {
    /// The key the request carries, where this API takes it.
    pub(super) fn key(self, headers: &HeaderMap) -> Option<(String, &'static str)> {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        match self {
            Flavor::Gemini => None,
            Flavor::Openai => get("authorization")
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(|k| (k.to_string(), "authorization")),
            Flavor::Anthropic => get("x-api-key").map(|k| (k.to_string(), "x-api-key")),
        }
    }
}

/// Tokens a request may use per window, beside the request limit (large:
/// the headers are there to be read, the request limit is what binds).
const TOKEN_LIMIT: f64 = 1_000_000.0;

fn error(flavor: Flavor, status: StatusCode, kind: &str, message: &str) -> Response {
    let body = match flavor {
        Flavor::Anthropic => {
            json!({"type": "error", "error": {"type": kind, "message": message}})
        }
        _ => json!({"error": {"message": message, "type": kind, "param": null,
                              "code": if kind == "invalid_api_key" { json!("invalid_api_key") } else { Value::Null }}}),
    };
    (status, axum::Json(body)).into_response()
}

/// Answers one request the way the flavour's API does.
#[allow(clippy::too_many_arguments)]
pub(super) async fn answer(
    shared: &Arc<Shared>,
    flavor: Flavor,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    key: Option<&str>,
    body: &[u8],
    _in_flight: Option<InFlight>,
) -> Response {
    let anthropic = flavor == Flavor::Anthropic;
    let Some(key) = key else {
        return if anthropic {
            error(
                flavor,
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "x-api-key header is required",
            )
        } else {
            error(
                flavor,
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        };
    };
    if anthropic && !headers.contains_key("anthropic-version") {
        return error(
            flavor,
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "anthropic-version: header is required",
        );
    }
    match shared.keys.get(key).copied().unwrap_or(shared.unknown) {
        Behavior::Valid => {}
        Behavior::Invalid => {
            return if anthropic {
                error(
                    flavor,
                    StatusCode::UNAUTHORIZED,
                    "authentication_error",
                    "invalid x-api-key",
                )
            } else {
                error(
                    flavor,
                    StatusCode::UNAUTHORIZED,
                    "invalid_api_key",
                    "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
                )
            };
        }
        Behavior::Suspended | Behavior::Leaked => {
            return error(
                flavor,
                StatusCode::FORBIDDEN,
                "permission_error",
                "Your API key does not have permission to use the specified resource.",
            );
        }
        Behavior::DailyExhausted | Behavior::Exhausted => {
            return error(
                flavor,
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "This request would exceed your organization's daily rate limit.",
            );
        }
        Behavior::Overloaded => {
            return if anthropic {
                error(
                    flavor,
                    StatusCode::from_u16(529).expect("invariant: a valid status"),
                    "overloaded_error",
                    "Overloaded",
                )
            } else {
                error(
                    flavor,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server_error",
                    "The engine is currently overloaded, please try again later.",
                )
            };
        }
    }
    let path = uri.path();
    // OpenAI-style services differ only in the prefix (Groq's /openai/v1,
    // OpenRouter's /api/v1); Anthropic has one.
    let prefixes: &[&str] = if anthropic {
        &["/v1"]
    } else {
        &["/v1", "/openai/v1", "/api/v1"]
    };
    let under = |route: &str| prefixes.iter().any(|p| path.strip_prefix(p) == Some(route));
    let chat = if anthropic {
        "/messages"
    } else {
        "/chat/completions"
    };
    if *method == Method::GET && under("/models") {
        let data: Vec<Value> = ["model-small", "model-large"]
            .iter()
            .map(|m| json!({"id": m, "object": "model", "type": "model", "created": 0}))
            .collect();
        return axum::Json(json!({"object": "list", "data": data})).into_response();
    }
    if *method != Method::POST || !under(chat) {
        return if anthropic {
            error(
                flavor,
                StatusCode::NOT_FOUND,
                "not_found_error",
                "Not Found",
            )
        } else {
            error(
                flavor,
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                &format!("Invalid URL ({method} {path})"),
            )
        };
    }
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return error(
            flavor,
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "We could not parse the JSON body of your request.",
        );
    };
    if !request["messages"].is_array() || !request["model"].is_string() {
        return error(
            flavor,
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "`model` and `messages` are required",
        );
    }
    if anthropic && !request["max_tokens"].is_u64() {
        return error(
            flavor,
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "max_tokens: Field required",
        );
    }
    let text = anthropic_text(&request).unwrap_or_else(|| prompt_text(&request));
    let accounting = if anthropic {
        crate::pool::cost::Accounting::Anthropic
    } else {
        crate::pool::cost::Accounting::OpenAi
    };
    let tokens = super::input_tokens(&text, body, accounting) as f64;

    // The key's limits, charged (a refused request counts at OpenAI).
    let mut limit_headers = Vec::new();
    if let Some((limit, window)) = shared.rate {
        let now = Instant::now();
        let c = shared
            .limiters
            .lock()
            .expect("invariant")
            .entry(key.to_string())
            .or_insert_with(|| Limiter::new(shared.refill, limit, window, TOKEN_LIMIT, now))
            .charge(now, tokens, !anthropic);
        let admitted = c.admitted;
        let limit = f64::from(limit);
        let quotas = [
            ("requests", limit, c.requests_left, c.requests_reset),
            ("tokens", TOKEN_LIMIT, c.tokens_left, c.tokens_reset),
        ];
        let retry_in = c.retry_in;
        for (name, cap, left, reset) in quotas {
            if anthropic {
                let at = jiff::Timestamp::now()
                    .checked_add(jiff::SignedDuration::try_from(reset).unwrap_or_default())
                    .unwrap_or(jiff::Timestamp::MAX);
                for n in if name == "tokens" {
                    vec!["tokens", "input-tokens", "output-tokens"]
                } else {
                    vec![name]
                } {
                    limit_headers
                        .push((format!("anthropic-ratelimit-{n}-limit"), format!("{cap}")));
                    limit_headers.push((
                        format!("anthropic-ratelimit-{n}-remaining"),
                        format!("{}", left.floor()),
                    ));
                    limit_headers
                        .push((format!("anthropic-ratelimit-{n}-reset"), format!("{at:.0}")));
                }
            } else {
                limit_headers.push((format!("x-ratelimit-limit-{name}"), format!("{cap}")));
                limit_headers.push((
                    format!("x-ratelimit-remaining-{name}"),
                    format!("{}", left.floor()),
                ));
                limit_headers.push((format!("x-ratelimit-reset-{name}"), go_duration(reset)));
            }
        }
        if !admitted {
            let mut response = if anthropic {
                error(
                    flavor,
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limit_error",
                    "This request would exceed your organization's rate limit of requests per minute. Please try again later.",
                )
            } else {
                error(
                    flavor,
                    StatusCode::TOO_MANY_REQUESTS,
                    "requests",
                    &format!(
                        "Rate limit reached for requests on model-small: Limit {limit}, Used {limit}, Requested 1. Please try again in {}.",
                        go_duration(retry_in)
                    ),
                )
            };
            if anthropic {
                let secs = retry_in.as_secs_f64().ceil().max(1.0) as u64;
                limit_headers.push(("retry-after".into(), secs.to_string()));
            }
            add_headers(&mut response, &limit_headers);
            return response;
        }
    }

    super::answer_after_latency(shared, &text).await;
    let reply = format!("echo: {text}");
    let reply_tokens = reply.len().div_ceil(4);
    let model = request["model"].clone();
    let body = if anthropic {
        json!({"id": "msg_emulated", "type": "message", "role": "assistant", "model": model,
               "content": [{"type": "text", "text": reply}], "stop_reason": "end_turn",
               "stop_sequence": null,
               "usage": {"input_tokens": tokens as u64, "output_tokens": reply_tokens}})
    } else {
        json!({"id": "chatcmpl-emulated", "object": "chat.completion", "created": 0, "model": model,
               "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                            "finish_reason": "stop"}],
               "usage": {"prompt_tokens": tokens as u64, "completion_tokens": reply_tokens,
                         "total_tokens": tokens as u64 + reply_tokens as u64}})
    };
    let mut response = axum::Json(body).into_response();
    add_headers(&mut response, &limit_headers);
    response
}

fn add_headers(response: &mut Response, headers: &[(String, String)]) {
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
}

/// Anthropic's `content` may be a string or a list of blocks.
fn anthropic_text(request: &Value) -> Option<String> {
    let parts: Vec<&str> = request["messages"]
        .as_array()?
        .iter()
        .flat_map(|m| match &m["content"] {
            Value::String(s) => vec![s.as_str()],
            Value::Array(blocks) => blocks.iter().filter_map(|b| b["text"].as_str()).collect(),
            _ => Vec::new(),
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
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
