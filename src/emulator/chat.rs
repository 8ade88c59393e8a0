//! What the OpenAI and Anthropic flavours (and Anthropic's OpenAI SDK
//! compatibility layer) share: the same default models, the same refusals
//! for suspended and exhausted keys, and the same steps for a chat call (a
//! JSON body naming `model` and `messages`, a model it serves, then a charge
//! to the key's limit that sets the rate-limit headers). Both define the reset
//! header as the time until the limit is whole again, and neither documents
//! how capacity comes back before then: each key's limit refills as a token
//! bucket or a sliding window, as the emulator is told (see `limiter.rs`).
//! `Chat` is what each does its own way.

use super::Behavior;
use super::exchange::{Call, Request, add_headers, input_tokens, prompt_text};
use super::limiter::Charged;
use super::state::InFlight;
use crate::pool::cost::Accounting;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

/// Tokens a request may use per window, beside the request limit (large:
/// the headers are there to be read, the request limit is what binds).
pub(super) const TOKEN_LIMIT: f64 = 1_000_000.0;

/// The models the OpenAI and Anthropic flavours serve unless told others.
pub(super) const MODELS: &[&str] = &["model-small", "model-large"];

/// An error answer as data: status, error type, message.
pub(super) type Refusal = (u16, &'static str, &'static str);

/// What OpenAI and Anthropic do differently within the steps they share.
pub(super) trait Chat {
    /// How it counts a request's media tokens.
    const ACCOUNTING: Accounting;
    /// Whether a refused request still counts against the limit.
    const COUNTS_REFUSED: bool;
    /// Its answer for a key it doesn't know.
    const INVALID_KEY: Refusal;
    /// Its answer when the model is overloaded.
    const OVERLOADED: Refusal;
    /// Its error body.
    fn error(status: StatusCode, kind: &str, message: &str) -> Response;
    /// Its 404 for a call naming a model it doesn't serve.
    fn model_not_found(model: &str) -> Response;
    /// Its checks on a chat body beyond `model` and `messages`.
    fn check_body(_: &Value) -> Result<(), Response> {
        Ok(())
    }
    /// The prompt's text.
    fn text(request: &Value) -> String {
        prompt_text(request)
    }
    /// Its rate-limit headers, as charging left the key's limit.
    fn limit_headers(limit: u32, charged: &Charged) -> Vec<(String, String)>;
    /// Its 429 for a request over the limit.
    fn rate_limited(limit: u32, charged: &Charged) -> Response;
}

/// The answer for a key that doesn't work.
pub(super) fn refuse_key<C: Chat>(behavior: Behavior) -> Result<(), Response> {
    Err(match behavior {
        Behavior::Valid => return Ok(()),
        Behavior::Invalid => refusal::<C>(C::INVALID_KEY),
        Behavior::Suspended | Behavior::Leaked => C::error(
            StatusCode::FORBIDDEN,
            "permission_error",
            "Your API key does not have permission to use the specified resource.",
        ),
        Behavior::DailyExhausted | Behavior::Exhausted => C::error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "This request would exceed your organization's daily rate limit.",
        ),
        Behavior::Overloaded => refusal::<C>(C::OVERLOADED),
    })
}

fn refusal<C: Chat>((status, kind, message): Refusal) -> Response {
    let status = StatusCode::from_u16(status).expect("invariant: a valid status");
    C::error(status, kind, message)
}

/// A chat call's checks: a JSON body naming `model` and `messages` (and the
/// flavour's own), a model it serves, then the charge to the key's limit.
/// A model it doesn't serve is refused before the charge: the call never
/// reaches a model, so it costs the key nothing.
pub(super) fn check<C: Chat>(
    request: &Request,
    key: &str,
    in_flight: InFlight,
) -> Result<Call, Response> {
    let bad = |message| C::error(StatusCode::BAD_REQUEST, "invalid_request_error", message);
    let Ok(body) = serde_json::from_slice::<Value>(request.body) else {
        return Err(bad("We could not parse the JSON body of your request."));
    };
    if !body["messages"].is_array() || !body["model"].is_string() {
        return Err(bad("`model` and `messages` are required"));
    }
    C::check_body(&body)?;
    let model = body["model"].as_str().unwrap_or_default().to_string();
    if !request.shared.serves(&model) {
        return Err(C::model_not_found(&model));
    }
    let text = C::text(&body);
    let tokens = input_tokens(&text, request.body, C::ACCOUNTING);
    Ok(Call {
        headers: charge::<C>(request, key, tokens)?,
        model,
        request: body,
        text,
        action: String::new(),
        key: key.to_string(),
        tokens,
        in_flight,
    })
}

/// Charges a call to its key's limit: the headers to answer with, or the
/// 429 with them (a refused request counts where the flavour says so).
fn charge<C: Chat>(
    request: &Request,
    key: &str,
    tokens: u64,
) -> Result<Vec<(String, String)>, Response> {
    let shared = request.shared;
    let Some((limit, charged)) = shared.charge(key, tokens as f64, C::COUNTS_REFUSED, TOKEN_LIMIT)
    else {
        return Ok(Vec::new());
    };
    let headers = C::limit_headers(limit, &charged);
    if charged.admitted {
        return Ok(headers);
    }
    let mut response = C::rate_limited(limit, &charged);
    add_headers(&mut response, &headers);
    Err(response)
}
