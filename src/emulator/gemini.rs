//! The emulator's Gemini flavour (the default): the Generative Language API
//! and its OpenAI-compatible routes, answering the way Google does.
//!
//! - Routes (ai.google.dev/api/models, /api/generate-content, /api/tokens,
//!   /api/embeddings, /gemini-api/docs/openai): `GET /v1beta/models[/{id}]`,
//!   `POST /v1beta/models/{model}:{method}`, and
//!   `/v1beta/openai/{models,chat/completions,embeddings}`; `/v1/models` is
//!   answered as `/v1beta/models`.
//! - The key (ai.google.dev/gemini-api/docs/api-key): `x-goog-api-key`, or
//!   `Authorization: Bearer` (the OpenAI-compatible routes' way), or `?key=`.
//! - Errors (cloud.google.com/apis/design/errors,
//!   ai.google.dev/gemini-api/docs/troubleshooting):
//!   `{"error": {"code", "message", "status", "details"}}`; 400
//!   `INVALID_ARGUMENT` (`API_KEY_INVALID` in an `ErrorInfo`), 403
//!   `PERMISSION_DENIED`, 404 `NOT_FOUND`, 429 `RESOURCE_EXHAUSTED` with a
//!   `QuotaFailure` naming the `quotaId` and a `RetryInfo`
//!   (ai.google.dev/gemini-api/docs/rate-limits), 500 `INTERNAL`, 503
//!   `UNAVAILABLE`.
//! - Models: those it was told to serve, else `MODELS` in its listings and
//!   any `gemini-` model for calls; a call naming another is a 404
//!   `NOT_FOUND` ("models/X is not found for API version v1beta, or is not
//!   supported for generateContent."), answered before the key's quota is
//!   charged.
//! - Models for tests: `gemini-fail` answers 500, `gemini-empty` an empty
//!   200, `gemini-echo-key` puts the key in its answer, `gemini-big-stream`
//!   streams 64 MB.

use super::exchange::{Api, Call, Request, input_tokens, prompt_text, reply_tokens};
use super::routes::{self, Answer};
use super::state::{InFlight, Shared};
use super::stream::{big_stream, split_reply, sse};
use super::{Behavior, Flavor, openai};
use crate::pool::cost::Accounting;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::time::Duration;

/// The models it lists unless told others.
const MODELS: &[&str] = &[
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-2.5-pro",
    "gemini-2.0-flash",
    "gemini-embedding-001",
];

/// The fields a `GenerateContentRequest` may have: Gemini refuses any other
/// (an OpenAI-style body, say).
const GENERATE_FIELDS: &[&str] = &[
    "contents",
    "tools",
    "toolConfig",
    "tool_config",
    "safetySettings",
    "safety_settings",
    "systemInstruction",
    "system_instruction",
    "generationConfig",
    "generation_config",
    "cachedContent",
    "cached_content",
];

pub(super) struct Gemini;

impl Api for Gemini {
    fn key_headers(&self, _: &str) -> &'static [(&'static str, &'static str)] {
        &[("x-goog-api-key", ""), ("authorization", "Bearer ")]
    }

    fn aliases(&self) -> &'static [(&'static str, &'static str)] {
        &[("/v1/models", "/v1beta/models")]
    }

    fn default_models(&self) -> &'static [&'static str] {
        MODELS
    }

    fn no_key(&self, _: &Request) -> Response {
        error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
        )
    }

    /// The key's behaviour, a model call naming a model it doesn't serve
    /// (404, before anything is charged: no model ran), an outage (model
    /// calls only), a model out of its daily quota, then the key's rate
    /// limit: every other route counts.
    fn admit(&self, request: &Request, key: &str) -> Result<(), Response> {
        let shared = request.shared;
        let model = model(request);
        let behavior = shared.behavior(key);
        // A model's daily quota binds calls of it, not the model list.
        if behavior != Behavior::DailyExhausted || calls_a_model(&request.route) {
            refuse_key(behavior, key, &model)?;
        }
        if is_call(request) && !serves(shared, &model) {
            let message = format!(
                "models/{model} is not found for API version v1beta, or is not supported for {}.",
                action(&request.route)
            );
            return Err(error(StatusCode::NOT_FOUND, "NOT_FOUND", &message));
        }
        if shared.overloaded() && calls_a_model(&request.route) {
            return Err(overloaded());
        }
        if shared.model_exhausted(&model) {
            return Err(quota_429(&model, "PerDay", 250, Duration::from_secs(23)));
        }
        match shared.charge(key, 0.0, false, f64::MAX) {
            Some((limit, charged)) if !charged.admitted => {
                Err(quota_429(&model, "PerMinute", limit, charged.retry_in))
            }
            _ => Ok(()),
        }
    }

    fn not_found(&self, request: &Request) -> Response {
        let message = format!("{} {} is not found", request.method, request.path);
        error(StatusCode::NOT_FOUND, "NOT_FOUND", &message)
    }

    /// A JSON body, the test models' own answers, and for the generate
    /// methods, a `GenerateContentRequest` (the model was checked in
    /// `admit`).
    fn check(&self, request: &Request, key: &str, in_flight: InFlight) -> Result<Call, Response> {
        let action = action(&request.route);
        let model = model(request);
        let Ok(body) = serde_json::from_slice::<Value>(request.body) else {
            let message = "Invalid JSON payload received.";
            return Err(error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message));
        };
        test_model_answer(&model)?;
        if matches!(action, "generateContent" | "streamGenerateContent") {
            check_generate_request(&body)?;
        }
        let text = prompt_text(&body);
        Ok(Call {
            tokens: input_tokens(&text, request.body, Accounting::Gemini),
            request: body,
            text,
            model,
            action: action.to_string(),
            key: key.to_string(),
            headers: Vec::new(),
            in_flight,
        })
    }

    fn connector(&self, _: &mut Value) {}
}

/// Google's error body, with no details.
fn error(status: StatusCode, api_status: &str, message: &str) -> Response {
    error_with(status, api_status, message, json!([]))
}

/// Google's error body: the HTTP code, a message, the canonical status and
/// typed `details`.
fn error_with(status: StatusCode, api_status: &str, message: &str, details: Value) -> Response {
    let body = json!({"error": {"code": status.as_u16(), "message": message, "status": api_status, "details": details}});
    (status, axum::Json(body)).into_response()
}

/// An error with no `details` field at all, as Gemini sends a few.
fn bare_error(status: StatusCode, api_status: &str, message: &str) -> Response {
    let body =
        json!({"error": {"code": status.as_u16(), "status": api_status, "message": message}});
    (status, axum::Json(body)).into_response()
}

/// 503: the model is overloaded (a key that always is, or an outage).
fn overloaded() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "UNAVAILABLE",
        "The model is overloaded. Please try again later.",
    )
}

/// Gemini's answer for a key that doesn't work.
fn refuse_key(behavior: Behavior, key: &str, model: &str) -> Result<(), Response> {
    Err(match behavior {
        Behavior::Valid => return Ok(()),
        Behavior::Invalid => error_with(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}]),
        ),
        Behavior::Suspended => error_with(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            &format!("Permission denied: Consumer 'api_key:{key}' has been suspended."),
            json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "CONSUMER_SUSPENDED",
                    "domain": "googleapis.com"}]),
        ),
        Behavior::Exhausted => bare_error(
            StatusCode::TOO_MANY_REQUESTS,
            "RESOURCE_EXHAUSTED",
            "Resource has been exhausted (e.g. check quota).",
        ),
        Behavior::Leaked => bare_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "Your API key was reported as leaked. Please use another API key.",
        ),
        Behavior::DailyExhausted => quota_429(model, "PerDay", 50, Duration::from_secs(17)),
        Behavior::Overloaded => overloaded(),
    })
}

/// 429 for a quota (`per`: `PerDay`, `PerMinute`) of `limit` requests,
/// with room again in `retry_in`.
fn quota_429(model: &str, per: &str, limit: u32, retry_in: Duration) -> Response {
    error_with(
        StatusCode::TOO_MANY_REQUESTS,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
        json!([
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
             "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                             "quotaId": format!("GenerateRequests{per}PerProjectPerModel-FreeTier"),
                             "quotaDimensions": {"location": "global", "model": model},
                             "quotaValue": limit.to_string()}]},
            {"@type": "type.googleapis.com/google.rpc.Help",
             "links": [{"description": "Learn more about Gemini API quotas",
                        "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": format!("{:.3}s", retry_in.as_secs_f64())}
        ]),
    )
}

/// The model a request names: in its path, else in its body's `model` (the
/// OpenAI-compatible routes), else `gemini-2.5-flash`.
fn model(request: &Request) -> String {
    if let Some(rest) = request.route.strip_prefix("/v1beta/models/") {
        return rest.split(':').next().unwrap_or_default().to_string();
    }
    serde_json::from_slice::<Value>(request.body)
        .ok()
        .and_then(|v| {
            v.get("model")
                .and_then(Value::as_str)
                .map(|m| m.trim_start_matches("models/").to_string())
        })
        .unwrap_or_else(|| "gemini-2.5-flash".into())
}

/// What a call is called in errors: the method after the last `:`, or the
/// OpenAI-compatible route ("" for one Gemini lacks).
fn action(route: &str) -> &str {
    match route.strip_prefix("/v1beta/openai/") {
        Some(action @ ("chat/completions" | "embeddings")) => action,
        Some(_) => "",
        None => route.rsplit(':').next().unwrap_or(""),
    }
}

/// Whether a request's route is a model call (its row answers a `Call`).
fn is_call(request: &Request) -> bool {
    routes::find(Flavor::Gemini, request.method, &request.route)
        .is_some_and(|(route, _)| matches!(route.answer, Answer::Call(_)))
}

/// Whether it serves `model`: one it was told to, or with no list, any
/// `gemini-` model (the test models, and names tests and examples still
/// use).
fn serves(shared: &Shared, model: &str) -> bool {
    shared.serves(model) || (!shared.models_configured() && model.starts_with("gemini-"))
}

/// Whether a path calls a model (what an outage stops; listings go on).
fn calls_a_model(route: &str) -> bool {
    route
        .strip_prefix("/v1beta/models/")
        .is_some_and(|rest| rest.contains(':'))
        || route.starts_with("/v1beta/openai/chat")
}

/// The test models that answer before running: `gemini-fail` 500, and
/// `gemini-empty` 200 with nothing in it, as Gemini now and then does.
fn test_model_answer(model: &str) -> Result<(), Response> {
    match model {
        "gemini-fail" => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "An internal error has occurred.",
        )),
        "gemini-empty" => Err(StatusCode::OK.into_response()),
        _ => Ok(()),
    }
}

/// A `GenerateContentRequest`: known fields only, and `contents`.
fn check_generate_request(body: &Value) -> Result<(), Response> {
    let unknown = body.as_object().and_then(|fields| {
        fields
            .keys()
            .find(|k| !GENERATE_FIELDS.contains(&k.as_str()))
    });
    if let Some(unknown) = unknown {
        let message = format!(
            "Invalid JSON payload received. Unknown name \"{unknown}\": Cannot find field."
        );
        return Err(error_with(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            &message,
            json!([{"@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"description": message}]}]),
        ));
    }
    if !body["contents"].is_array() {
        let message = "* GenerateContentRequest.contents: contents is not specified";
        return Err(error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message));
    }
    Ok(())
}

/// `GET /v1beta/models`.
pub(super) fn models(served: &[String], _: &str) -> Response {
    let models: Vec<Value> = served
        .iter()
        .map(|m| json!({"name": format!("models/{m}"), "displayName": m}))
        .collect();
    axum::Json(json!({ "models": models })).into_response()
}

/// `GET /v1beta/models/{id}`.
pub(super) fn model_info(served: &[String], id: &str) -> Response {
    if !served.iter().any(|m| m == id) {
        return unknown_model(id);
    }
    let methods = if id.contains("embedding") {
        json!(["embedContent"])
    } else {
        json!(["generateContent", "countTokens"])
    };
    axum::Json(
        json!({"name": format!("models/{id}"), "displayName": id, "version": "001",
        "inputTokenLimit": 1048576, "outputTokenLimit": 65536,
        "supportedGenerationMethods": methods}),
    )
    .into_response()
}

/// `GET /v1beta/openai/models`.
pub(super) fn openai_models(served: &[String], _: &str) -> Response {
    let data: Vec<Value> = served.iter().map(|m| openai_model_object(m)).collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

/// `GET /v1beta/openai/models/{id}` (the id with or without `models/`).
pub(super) fn openai_model(served: &[String], id: &str) -> Response {
    let id = id.trim_start_matches("models/");
    if !served.iter().any(|m| m == id) {
        return unknown_model(id);
    }
    axum::Json(openai_model_object(id)).into_response()
}

fn openai_model_object(id: &str) -> Value {
    json!({"id": format!("models/{id}"), "object": "model", "created": 0, "owned_by": "google"})
}

fn unknown_model(id: &str) -> Response {
    let message = format!("models/{id} is not found for API version v1beta");
    error(StatusCode::NOT_FOUND, "NOT_FOUND", &message)
}

/// `:generateContent`.
pub(super) fn generate_content(call: Call) -> Response {
    axum::Json(candidate(&call, &call.reply(), true)).into_response()
}

/// `:streamGenerateContent`: the reply in three events.
pub(super) fn stream_generate_content(call: Call) -> Response {
    if call.model == "gemini-big-stream" {
        // A long answer (64 MB in 64 KB events, no pauses): a client that
        // stops reading fills every buffer between it and here.
        let filler = "x".repeat(64 * 1024);
        let event = format!("data: {}\r\n\r\n", candidate(&call, &filler, false));
        return big_stream(event, 1024, call.in_flight);
    }
    let parts = split_reply(&call.reply());
    let n = parts.len();
    let events = parts
        .iter()
        .enumerate()
        .map(|(i, p)| format!("data: {}\r\n\r\n", candidate(&call, p, i + 1 == n)))
        .collect();
    sse(events, call.in_flight)
}

/// `:countTokens`.
pub(super) fn count_tokens(call: Call) -> Response {
    axum::Json(json!({"totalTokens": call.tokens})).into_response()
}

/// `:embedContent`.
pub(super) fn embed_content(call: Call) -> Response {
    let text = call.request["content"]["parts"][0]["text"]
        .as_str()
        .unwrap_or_default();
    axum::Json(json!({"embedding": {"values": embed(text)}})).into_response()
}

/// `:batchEmbedContents`.
pub(super) fn batch_embed_contents(call: Call) -> Response {
    let Some(requests) = call.request["requests"].as_array() else {
        let message = "* BatchEmbedContentsRequest.requests: requests is not specified";
        return error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message);
    };
    let embeddings: Vec<Value> = requests
        .iter()
        .map(|r| json!({"values": embed(r["content"]["parts"][0]["text"].as_str().unwrap_or_default())}))
        .collect();
    axum::Json(json!({ "embeddings": embeddings })).into_response()
}

/// `POST /v1beta/openai/chat/completions`, streamed when asked.
pub(super) fn chat_completions(call: Call) -> Response {
    let id = format!("chatcmpl-{}", call.tokens);
    openai::completion(call, id)
}

/// `POST /v1beta/openai/embeddings`: `encoding_format: "base64"`
/// (openai-python's default) is the little-endian f32 array, base64-encoded.
pub(super) fn embeddings(call: Call) -> Response {
    let inputs: Vec<String> = match &call.request["input"] {
        Value::Array(a) => a
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect(),
        v => vec![v.as_str().unwrap_or_default().to_string()],
    };
    let base64 = call.request["encoding_format"] == "base64";
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let values = embed(t);
            let embedding = if base64 {
                let bytes: Vec<u8> = values
                    .iter()
                    .flat_map(|v| (*v as f32).to_le_bytes())
                    .collect();
                Value::String(base64_encode(&bytes))
            } else {
                json!(values)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    axum::Json(json!({"object": "list", "data": data, "model": call.model,
                      "usage": {"prompt_tokens": call.tokens, "total_tokens": call.tokens}}))
    .into_response()
}

/// A method or OpenAI-compatible route Gemini doesn't have.
pub(super) fn unknown_action(call: Call) -> Response {
    let message = format!("unknown action {}", call.action);
    error(StatusCode::NOT_FOUND, "NOT_FOUND", &message)
}

/// A `GenerateContentResponse` holding `text`; the `last` one of a stream
/// (or the only one) says why it stopped and carries the usage.
fn candidate(call: &Call, text: &str, last: bool) -> Value {
    let mut chunk = json!({
        "candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}],
        "modelVersion": call.model
    });
    // Some APIs echo the key in an answer (a debug field, a 200 carrying an
    // error text): jongler must mask it, streams included.
    if call.model == "gemini-echo-key" {
        chunk["echoedKey"] = call.key.clone().into();
    }
    if last {
        let reply_tokens = reply_tokens(&call.reply());
        chunk["candidates"][0]["finishReason"] = "STOP".into();
        chunk["usageMetadata"] = json!({"promptTokenCount": call.tokens,
            "candidatesTokenCount": reply_tokens, "totalTokenCount": call.tokens + reply_tokens});
    }
    chunk
}

/// A made-up 4-dimensional embedding of `text` (its length first).
fn embed(text: &str) -> Vec<f64> {
    vec![text.len() as f64, 0.5, -0.25, 1.0]
}

/// Standard base64 with padding.
fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::EmulatorConfig;
    use crate::emulator::exchange::testing::{body, send, served, shared};
    use axum::http::Method;

    const KEY: &str = "AIza-test";

    fn generate(model: &str) -> String {
        format!("/v1beta/models/{model}:generateContent")
    }

    fn prompt() -> Value {
        json!({"contents": [{"parts": [{"text": "hi"}]}]})
    }

    #[tokio::test]
    async fn the_listings_show_the_models_it_serves_in_each_shape() {
        let list = served(&["gemini-a", "gemini-b"]);
        let native = body(models(&list, "")).await;
        assert_eq!(native["models"][1]["name"], "models/gemini-b");
        assert_eq!(native["models"].as_array().map(Vec::len), Some(2));
        let openai = body(openai_models(&list, "")).await;
        assert_eq!(openai["object"], "list");
        assert_eq!(
            openai["data"][0],
            json!({"id": "models/gemini-a", "object": "model", "created": 0, "owned_by": "google"})
        );
        assert_eq!(
            body(model_info(&list, "gemini-a")).await["name"],
            "models/gemini-a"
        );
        assert_eq!(
            model_info(&list, "gemini-2.5-flash").status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            openai_model(&list, "models/gemini-b").status(),
            StatusCode::OK
        );
        assert_eq!(
            openai_model(&list, "gemini-c").status(),
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn a_model_off_its_list_is_a_404_that_spends_none_of_the_keys_quota() {
        let shared = shared(EmulatorConfig {
            rate: Some((1, Duration::from_secs(60))),
            models: served(&["gemini-a"]),
            ..EmulatorConfig::with_keys(&[KEY])
        });
        let headers = [("x-goog-api-key", KEY)];
        // Off the list, though `gemini-`: a list is the whole of what it serves.
        let off = send(
            &shared,
            Method::POST,
            &generate("gemini-2.5-flash"),
            &headers,
            prompt(),
        )
        .await;
        assert_eq!(off.status, 404);
        assert_eq!(off.json()["error"]["status"], "NOT_FOUND");
        assert_eq!(
            off.json()["error"]["message"],
            "models/gemini-2.5-flash is not found for API version v1beta, or is not supported for generateContent."
        );
        let chat = json!({"model": "gemini-z", "messages": [{"role": "user", "content": "hi"}]});
        let path = "/v1beta/openai/chat/completions";
        let off = send(&shared, Method::POST, path, &headers, chat).await;
        assert_eq!(off.status, 404);
        // A quota of one request: both 404s left it whole.
        let on = send(
            &shared,
            Method::POST,
            &generate("gemini-a"),
            &headers,
            prompt(),
        )
        .await;
        assert_eq!(on.status, 200, "{}", on.body);
        let stats = shared.stats();
        assert_eq!((stats.requests, stats.by_key[KEY]), (3, 3));
        assert_eq!((stats.by_status[&404], stats.by_status[&200]), (2, 1));
        assert_eq!(stats.started.len(), 1);
    }

    #[tokio::test]
    async fn with_no_list_it_lists_its_own_and_serves_any_gemini_model() {
        let shared = shared(EmulatorConfig::with_keys(&[KEY]));
        let headers = [("x-goog-api-key", KEY)];
        let list = send(
            &shared,
            Method::GET,
            "/v1beta/models",
            &headers,
            Value::Null,
        )
        .await;
        assert_eq!(
            list.json()["models"].as_array().map(Vec::len),
            Some(MODELS.len())
        );
        let older = send(
            &shared,
            Method::POST,
            &generate("gemini-1.5-flash"),
            &headers,
            prompt(),
        )
        .await;
        assert_eq!(older.status, 200, "{}", older.body);
        let other = send(
            &shared,
            Method::POST,
            &generate("gpt-4o"),
            &headers,
            prompt(),
        )
        .await;
        assert_eq!(other.status, 404);
    }
}
