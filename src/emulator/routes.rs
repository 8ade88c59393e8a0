//! Every route the emulator answers, one row each: the flavour, the method
//! and path as the provider documents them, and the handler. What stands
//! before every route (the key, its behaviour, limits, overlaps, latency)
//! is `exchange.rs`'s, so adding a route is adding a row and its handler.
//!
//! Paths are matched after the flavour's aliases are resolved (`/v1/models`
//! is Gemini's `/v1beta/models`; `/openai/v1` and `/api/v1` are OpenAI's
//! `/v1`): see each flavour's `Api::aliases`.

use super::Flavor::{self, Anthropic, Gemini, Openai};
use super::exchange::Call;
use super::{anthropic, anthropic_compat, gemini, openai};
use axum::http::Method;
use axum::response::Response;

/// One route.
pub(super) struct Route {
    pub flavor: Flavor,
    pub method: Verb,
    pub path: Path,
    pub answer: Answer,
}

/// The methods routes take.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Verb {
    Get,
    Post,
}

/// A path, or a family of them.
pub(super) enum Path {
    /// Exactly this path.
    Is(&'static str),
    /// This prefix, then an id with no `:` or `/` (captured).
    Id(&'static str),
    /// This prefix, then anything (captured).
    Under(&'static str),
    /// This prefix, then `{model}:{action}` (Gemini's methods): the model
    /// (captured) is what comes before the first `:`, the action what comes
    /// after the last.
    Action(&'static str, &'static str),
    /// As `Action`, whatever the action.
    AnyAction(&'static str),
}

/// How a route answers.
pub(super) enum Answer {
    /// From the catalogue (the models it serves), at once, given what the
    /// path captured.
    Now(fn(&[String], &str) -> Response),
    /// From the catalogue, after the set latency (a listing's round trip).
    AfterLatency(fn(&[String], &str) -> Response),
    /// A model call: the flavour's checks, the set latency, then this.
    Call(fn(Call) -> Response),
}

use Answer::{AfterLatency, Now};
use Path::{Action, AnyAction, Id, Is, Under};
use Verb::{Get, Post};

const fn get(flavor: Flavor, path: Path, answer: Answer) -> Route {
    Route {
        flavor,
        method: Get,
        path,
        answer,
    }
}

const fn post(flavor: Flavor, path: Path, answer: Answer) -> Route {
    Route {
        flavor,
        method: Post,
        path,
        answer,
    }
}

/// A Gemini model call `POST /v1beta/models/{model}:{action}`.
const fn gemini_call(action: &'static str, answer: fn(Call) -> Response) -> Route {
    post(
        Gemini,
        Action("/v1beta/models/", action),
        Answer::Call(answer),
    )
}

/// The first row that matches wins.
#[rustfmt::skip]
pub(super) static ROUTES: &[Route] = &[
    // Gemini: ai.google.dev/api/models
    get(Gemini, Is("/v1beta/models"), AfterLatency(gemini::models)),
    get(Gemini, Id("/v1beta/models/"), Now(gemini::model_info)),
    // ai.google.dev/api/generate-content, /api/tokens, /api/embeddings
    gemini_call("generateContent", gemini::generate_content),
    gemini_call("streamGenerateContent", gemini::stream_generate_content),
    gemini_call("countTokens", gemini::count_tokens),
    gemini_call("embedContent", gemini::embed_content),
    gemini_call("batchEmbedContents", gemini::batch_embed_contents),
    // ai.google.dev/gemini-api/docs/openai
    get(Gemini, Is("/v1beta/openai/models"), Now(gemini::openai_models)),
    get(Gemini, Under("/v1beta/openai/models/"), Now(gemini::openai_model)),
    post(Gemini, Is("/v1beta/openai/chat/completions"), Answer::Call(gemini::chat_completions)),
    post(Gemini, Is("/v1beta/openai/embeddings"), Answer::Call(gemini::embeddings)),
    // A method or OpenAI-compatible route Gemini lacks: checked as a call, then 404.
    post(Gemini, AnyAction("/v1beta/models/"), Answer::Call(gemini::unknown_action)),
    post(Gemini, Under("/v1beta/openai/"), Answer::Call(gemini::unknown_action)),
    // OpenAI: platform.openai.com/docs/api-reference/models, /chat (a
    // fine-tuned model's id holds `:`, so the id is anything after the prefix)
    get(Openai, Is("/v1/models"), Now(openai::models)),
    get(Openai, Under("/v1/models/"), Now(openai::model)),
    post(Openai, Is("/v1/chat/completions"), Answer::Call(openai::chat_completions)),
    // Anthropic: docs.anthropic.com/en/api/models-list, /models-get, /messages
    get(Anthropic, Is("/v1/models"), Now(anthropic::models)),
    get(Anthropic, Id("/v1/models/"), Now(anthropic::model)),
    post(Anthropic, Is("/v1/messages"), Answer::Call(anthropic::messages)),
    // docs.anthropic.com/en/api/openai-sdk
    post(Anthropic, Is(anthropic_compat::PATH), Answer::Call(anthropic_compat::chat_completions)),
];

/// The route for a request, and what its path captured.
pub(super) fn find<'p>(
    flavor: Flavor,
    method: &Method,
    path: &'p str,
) -> Option<(&'static Route, &'p str)> {
    let verb = match *method {
        Method::GET => Get,
        Method::POST => Post,
        _ => return None,
    };
    ROUTES
        .iter()
        .filter(|route| route.flavor == flavor && route.method == verb)
        .find_map(|route| Some((route, route.path.capture(path)?)))
}

impl Path {
    /// What `path` captures if it is one of these ("" for `Is`).
    fn capture<'p>(&self, path: &'p str) -> Option<&'p str> {
        match *self {
            Is(exact) => (path == exact).then_some(""),
            Id(prefix) => path
                .strip_prefix(prefix)
                .filter(|id| !id.contains([':', '/'])),
            Under(prefix) => path.strip_prefix(prefix),
            Action(prefix, action) => {
                let rest = path.strip_prefix(prefix)?;
                let (model, _) = rest.split_once(':')?;
                (rest.rsplit_once(':')?.1 == action).then_some(model)
            }
            AnyAction(prefix) => Some(path.strip_prefix(prefix)?.split_once(':')?.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A path that row's pattern matches.
    fn example(path: &Path) -> String {
        match *path {
            Is(exact) => exact.to_string(),
            Id(prefix) | Under(prefix) => format!("{prefix}some-id"),
            Action(prefix, action) => format!("{prefix}some-model:{action}"),
            AnyAction(prefix) => format!("{prefix}some-model:noSuchAction"),
        }
    }

    #[test]
    fn no_row_is_hidden_behind_an_earlier_one() {
        for route in ROUTES {
            let method = match route.method {
                Get => Method::GET,
                Post => Method::POST,
            };
            let path = example(&route.path);
            let (found, _) = find(route.flavor, &method, &path).expect("a row");
            assert!(std::ptr::eq(found, route), "{method} {path}");
        }
    }

    #[test]
    fn a_model_ends_at_the_first_colon_and_its_action_starts_after_the_last() {
        let post = |path| find(Gemini, &Method::POST, path).map(|(_, model)| model);
        assert_eq!(
            post("/v1beta/models/gemini-x:y:generateContent"),
            Some("gemini-x")
        );
        assert_eq!(post("/v1beta/models/a/b:countTokens"), Some("a/b"));
        assert_eq!(post("/v1beta/models/no-action"), None);
        assert!(find(Gemini, &Method::GET, "/v1beta/models/a:generateContent").is_none());
        assert!(find(Gemini, &Method::PUT, "/v1beta/models").is_none());
    }
}
