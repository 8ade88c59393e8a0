//! `serve`'s bridges from OpenAI APIs a connector lacks to the one it has:
//! the Responses API (`POST /v1/responses`) and legacy completions
//! (`POST /v1/completions`), both onto chat completions, plain and streamed.
//! Pure translation: requests in, answers (or an SSE stream) out.
//!
//! Responses fields, and what becomes of them: `model`, `input` (a string, or
//! messages with `input_text`/`output_text`/`input_image` parts,
//! `function_call` and `function_call_output` items), `instructions` (a
//! system message first), `max_output_tokens`, `temperature`, `top_p`,
//! `tools` (functions), `tool_choice`, `parallel_tool_calls`, `text.format`
//! (`text`, `json_object`, `json_schema`), `reasoning.effort`, `stream`;
//! `user`, `metadata` and `store` are accepted and have no effect (nothing is
//! stored). Anything else — `previous_response_id`, `conversation`,
//! `background`, `include`, built-in tools such as web search — is refused
//! with a 400 naming it: nothing is dropped silently.

use serde_json::{Map, Value, json};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};

/// Which API the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `POST /v1/responses`.
    Responses,
    /// `POST /v1/completions` (legacy).
    Completions,
}

const RESPONSES_FIELDS: &[&str] = &[
    "model",
    "input",
    "instructions",
    "max_output_tokens",
    "temperature",
    "top_p",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "text",
    "reasoning",
    "stream",
    "user",
    "metadata",
    "store",
];

const COMPLETIONS_FIELDS: &[&str] = &[
    "model",
    "prompt",
    "max_tokens",
    "temperature",
    "top_p",
    "n",
    "stop",
    "stream",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "user",
];

/// The chat-completions request for a client's request, or why it can't be
/// bridged (a 400 for the client).
pub fn request(kind: Kind, body: &[u8]) -> Result<Vec<u8>, String> {
    let req: Map<String, Value> = match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return Err("the request body must be a JSON object".into()),
        Err(e) => return Err(format!("the request body is not JSON: {e}")),
    };
    let chat = match kind {
        Kind::Responses => responses_request(&req)?,
        Kind::Completions => completions_request(&req)?,
    };
    Ok(serde_json::to_vec(&chat).expect("invariant: a Value serializes"))
}

fn unsupported(field: &str, kind: Kind) -> String {
    let api = match kind {
        Kind::Responses => "the Responses API",
        Kind::Completions => "completions",
    };
    format!(
        "jongler serve bridges {api} onto chat completions and can't honour `{field}`; leave it out (see README: \"Responses API bridge\")"
    )
}

fn responses_request(req: &Map<String, Value>) -> Result<Value, String> {
    if let Some(field) = req.keys().find(|k| !RESPONSES_FIELDS.contains(&k.as_str())) {
        return Err(unsupported(field, Kind::Responses));
    }
    if req.get("store") == Some(&Value::Bool(true)) {
        return Err(
            "`store: true`: jongler serve keeps no responses; send `store: false` or leave it out"
                .into(),
        );
    }
    let model = req
        .get("model")
        .and_then(Value::as_str)
        .ok_or("`model` is required")?;
    let mut messages: Vec<Value> = Vec::new();
    if let Some(instructions) = req.get("instructions").and_then(Value::as_str) {
        messages.push(json!({"role": "system", "content": instructions}));
    }
    match req.get("input") {
        Some(Value::String(text)) => messages.push(json!({"role": "user", "content": text})),
        Some(Value::Array(items)) => {
            for item in items {
                input_item(item, &mut messages)?;
            }
        }
        _ => return Err("`input` must be a string or a list of items".into()),
    }
    let mut chat = json!({"model": model, "messages": messages});
    for (from, to) in [
        ("max_output_tokens", "max_tokens"),
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("parallel_tool_calls", "parallel_tool_calls"),
    ] {
        if let Some(v) = req.get(from) {
            chat[to] = v.clone();
        }
    }
    if let Some(effort) = req.get("reasoning").and_then(|r| r.get("effort")) {
        chat["reasoning_effort"] = effort.clone();
    }
    if let Some(tools) = req.get("tools").and_then(Value::as_array) {
        let mut out = Vec::new();
        for tool in tools {
            if tool["type"] != "function" {
                return Err(format!(
                    "tool type {}: jongler serve bridges function tools only",
                    tool["type"]
                ));
            }
            let mut function = json!({"name": tool["name"]});
            for field in ["description", "parameters", "strict"] {
                if let Some(v) = tool.get(field) {
                    function[field] = v.clone();
                }
            }
            out.push(json!({"type": "function", "function": function}));
        }
        chat["tools"] = Value::Array(out);
    }
    match req.get("tool_choice") {
        None => {}
        Some(Value::String(s)) => chat["tool_choice"] = Value::String(s.clone()),
        Some(choice) if choice["type"] == "function" => {
            chat["tool_choice"] = json!({"type": "function", "function": {"name": choice["name"]}});
        }
        Some(other) => return Err(format!("tool_choice {other} is not a function choice")),
    }
    if let Some(format) = req.get("text").and_then(|t| t.get("format")) {
        match format["type"].as_str() {
            Some("text") => {}
            Some("json_object") => chat["response_format"] = json!({"type": "json_object"}),
            Some("json_schema") => {
                let mut schema = json!({"name": format["name"], "schema": format["schema"]});
                if let Some(strict) = format.get("strict") {
                    schema["strict"] = strict.clone();
                }
                chat["response_format"] = json!({"type": "json_schema", "json_schema": schema});
            }
            _ => {
                return Err(format!(
                    "text.format {format} is not text, json_object or json_schema"
                ));
            }
        }
    }
    if req.get("stream") == Some(&Value::Bool(true)) {
        chat["stream"] = Value::Bool(true);
        chat["stream_options"] = json!({"include_usage": true});
    }
    Ok(chat)
}

/// One `input` item as chat messages.
fn input_item(item: &Value, messages: &mut Vec<Value>) -> Result<(), String> {
    match item["type"].as_str() {
        Some("function_call") => {
            let call = json!({"id": item["call_id"], "type": "function",
                              "function": {"name": item["name"], "arguments": item["arguments"]}});
            // Calls in a row belong to one assistant turn.
            if let Some(last) = messages.last_mut()
                && last["role"] == "assistant"
                && last["tool_calls"].is_array()
            {
                last["tool_calls"]
                    .as_array_mut()
                    .expect("invariant")
                    .push(call);
            } else {
                messages.push(json!({"role": "assistant", "content": null, "tool_calls": [call]}));
            }
            Ok(())
        }
        Some("function_call_output") => {
            let output = match &item["output"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            messages
                .push(json!({"role": "tool", "tool_call_id": item["call_id"], "content": output}));
            Ok(())
        }
        Some("message") | None => {
            let role = match item["role"].as_str() {
                Some("developer") => "system",
                Some(r @ ("user" | "assistant" | "system")) => r,
                other => {
                    return Err(format!(
                        "input item role {other:?} is not user, assistant, system or developer"
                    ));
                }
            };
            let content = match &item["content"] {
                Value::String(s) => Value::String(s.clone()),
                Value::Array(parts) => {
                    let mut out = Vec::new();
                    for part in parts {
                        match part["type"].as_str() {
                            Some("input_text" | "output_text" | "text") => {
                                out.push(json!({"type": "text", "text": part["text"]}))
                            }
                            Some("input_image") => {
                                let url = part.get("image_url").and_then(Value::as_str).ok_or(
                                    "input_image needs an image_url (file_id is not bridged)",
                                )?;
                                out.push(json!({"type": "image_url", "image_url": {"url": url}}));
                            }
                            other => {
                                return Err(format!("content part type {other:?} is not bridged"));
                            }
                        }
                    }
                    // Text alone reads best as a plain string.
                    if out.iter().all(|p| p["type"] == "text") {
                        Value::String(
                            out.iter()
                                .filter_map(|p| p["text"].as_str())
                                .collect::<Vec<_>>()
                                .join(""),
                        )
                    } else {
                        Value::Array(out)
                    }
                }
                _ => return Err("a message's content must be a string or a list of parts".into()),
            };
            messages.push(json!({"role": role, "content": content}));
            Ok(())
        }
        Some(other) => Err(format!("input item type {other:?} is not bridged")),
    }
}

fn completions_request(req: &Map<String, Value>) -> Result<Value, String> {
    if let Some(field) = req
        .keys()
        .find(|k| !COMPLETIONS_FIELDS.contains(&k.as_str()))
    {
        return Err(unsupported(field, Kind::Completions));
    }
    let model = req
        .get("model")
        .and_then(Value::as_str)
        .ok_or("`model` is required")?;
    let prompt = match req.get("prompt") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) if a.len() == 1 && a[0].is_string() => {
            a[0].as_str().expect("invariant").to_string()
        }
        _ => {
            return Err(
                "`prompt` must be one string (lists and token arrays are not bridged)".into(),
            );
        }
    };
    let mut chat = json!({"model": model, "messages": [{"role": "user", "content": prompt}]});
    for field in COMPLETIONS_FIELDS
        .iter()
        .filter(|f| !["model", "prompt", "stream"].contains(f))
    {
        if let Some(v) = req.get(*field) {
            chat[*field] = v.clone();
        }
    }
    if req.get("stream") == Some(&Value::Bool(true)) {
        chat["stream"] = Value::Bool(true);
        chat["stream_options"] = json!({"include_usage": true});
    }
    Ok(chat)
}

/// A whole chat-completions answer as the client's API answers; an answer
/// that isn't one (an error) goes back as it came.
pub fn response(kind: Kind, body: &[u8]) -> Vec<u8> {
    let Ok(chat) = serde_json::from_slice::<Value>(body) else {
        return body.to_vec();
    };
    if !chat["choices"].is_array() {
        return body.to_vec();
    }
    let out = match kind {
        Kind::Responses => responses_response(&chat),
        Kind::Completions => completions_response(&chat),
    };
    serde_json::to_vec(&out).expect("invariant: a Value serializes")
}

fn usage(chat: &Value) -> Value {
    let u = &chat["usage"];
    let input = u["prompt_tokens"].as_u64().unwrap_or(0);
    let output = u["completion_tokens"].as_u64().unwrap_or(0);
    json!({"input_tokens": input, "input_tokens_details": {"cached_tokens": 0},
           "output_tokens": output, "output_tokens_details": {"reasoning_tokens": 0},
           "total_tokens": u["total_tokens"].as_u64().unwrap_or(input + output)})
}

fn response_id(chat: &Value) -> String {
    format!("resp_{}", chat["id"].as_str().unwrap_or("bridged"))
}

/// The Responses object around `output`.
fn response_object(id: &str, chat: &Value, status: &str, output: Vec<Value>) -> Value {
    let incomplete = (status == "incomplete").then(|| json!({"reason": "max_output_tokens"}));
    json!({"id": id, "object": "response", "created_at": chat["created"].as_u64().unwrap_or(0),
           "status": status, "error": null, "incomplete_details": incomplete,
           "model": chat["model"], "output": output, "parallel_tool_calls": true,
           "tool_choice": "auto", "tools": [], "text": {"format": {"type": "text"}},
           "usage": if chat["usage"].is_object() { usage(chat) } else { Value::Null }})
}

fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({"type": "message", "id": format!("msg_{id}"), "status": status, "role": "assistant",
           "content": [{"type": "output_text", "text": text, "annotations": []}]})
}

fn responses_response(chat: &Value) -> Value {
    let id = response_id(chat);
    let choice = &chat["choices"][0];
    let message = &choice["message"];
    let mut output = Vec::new();
    if let Some(text) = message["content"].as_str().filter(|t| !t.is_empty()) {
        output.push(message_item(&id, text, "completed"));
    }
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        output.push(json!({"type": "function_call", "id": format!("fc_{}", call["id"].as_str().unwrap_or("")),
                           "call_id": call["id"], "name": call["function"]["name"],
                           "arguments": call["function"]["arguments"], "status": "completed"}));
    }
    let status = if choice["finish_reason"] == "length" {
        "incomplete"
    } else {
        "completed"
    };
    response_object(&id, chat, status, output)
}

fn completions_response(chat: &Value) -> Value {
    let choices = completion_choices(chat, "message");
    json!({"id": chat["id"], "object": "text_completion", "created": chat["created"],
           "model": chat["model"], "choices": choices, "usage": chat["usage"]})
}

/// A streamed chat-completions answer (SSE) as the client's API streams.
pub fn stream(kind: Kind, upstream: Box<dyn Read + Send>) -> Box<dyn Read + Send> {
    Box::new(Translate {
        lines: BufReader::new(upstream),
        kind,
        out: VecDeque::new(),
        state: StreamState::default(),
        done: false,
    })
}

#[derive(Default)]
struct StreamState {
    started: bool,
    id: String,
    text: String,
    seq: u64,
    /// Function calls by chat index: (call id, name, arguments).
    calls: Vec<(String, String, String)>,
    last: Value,
    finish: Option<String>,
}

struct Translate<R> {
    lines: BufReader<R>,
    kind: Kind,
    out: VecDeque<u8>,
    state: StreamState,
    done: bool,
}

impl<R: Read> Read for Translate<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.out.is_empty() && !self.done {
            let mut line = String::new();
            if self.lines.read_line(&mut line)? == 0 {
                self.finish();
                self.done = true;
                break;
            }
            let Some(data) = line.trim_end().strip_prefix("data:") else {
                continue;
            };
            let data = data.trim();
            if data == "[DONE]" {
                self.finish();
                self.done = true;
                break;
            }
            if let Ok(chunk) = serde_json::from_str::<Value>(data) {
                self.chunk(&chunk);
            }
        }
        let n = buf.len().min(self.out.len());
        for (slot, byte) in buf.iter_mut().zip(self.out.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }
}

impl<R> Translate<R> {
    fn event(&mut self, kind: &str, mut data: Value) {
        data["type"] = Value::String(kind.to_string());
        data["sequence_number"] = Value::from(self.state.seq);
        self.state.seq += 1;
        self.out
            .extend(format!("event: {kind}\ndata: {data}\n\n").into_bytes());
    }

    fn chunk(&mut self, chunk: &Value) {
        if self.kind == Kind::Completions {
            // Legacy completions stream `choices[].text`.
            let choices = completion_choices(chunk, "delta");
            let out = json!({"id": chunk["id"], "object": "text_completion", "created": chunk["created"],
                             "model": chunk["model"], "choices": choices, "usage": chunk.get("usage").cloned().unwrap_or(Value::Null)});
            self.out.extend(format!("data: {out}\n\n").into_bytes());
            return;
        }
        self.state.last = chunk.clone();
        if !self.state.started {
            self.state.started = true;
            self.state.id = response_id(chunk);
            let created = response_object(&self.state.id, chunk, "in_progress", Vec::new());
            self.event("response.created", json!({"response": created}));
            self.event("response.in_progress", json!({"response": created}));
        }
        let choice = &chunk["choices"][0];
        if let Some(text) = choice["delta"]["content"]
            .as_str()
            .filter(|t| !t.is_empty())
        {
            let item_id = format!("msg_{}", self.state.id);
            if self.state.text.is_empty() {
                let item = json!({"type": "message", "id": item_id, "status": "in_progress",
                                  "role": "assistant", "content": []});
                self.event(
                    "response.output_item.added",
                    json!({"output_index": 0, "item": item}),
                );
                self.event(
                    "response.content_part.added",
                    json!({"item_id": item_id, "output_index": 0, "content_index": 0,
                           "part": {"type": "output_text", "text": "", "annotations": []}}),
                );
            }
            self.state.text.push_str(text);
            self.event(
                "response.output_text.delta",
                json!({"item_id": item_id, "output_index": 0, "content_index": 0, "delta": text}),
            );
        }
        for call in choice["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let index = call["index"].as_u64().unwrap_or(0) as usize;
            while self.state.calls.len() <= index {
                self.state
                    .calls
                    .push((String::new(), String::new(), String::new()));
            }
            let entry = &mut self.state.calls[index];
            if let Some(id) = call["id"].as_str() {
                entry.0 = id.to_string();
            }
            if let Some(name) = call["function"]["name"].as_str() {
                entry.1.push_str(name);
            }
            if let Some(args) = call["function"]["arguments"].as_str() {
                entry.2.push_str(args);
            }
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            self.state.finish = Some(reason.to_string());
        }
    }

    fn finish(&mut self) {
        if self.kind == Kind::Completions {
            self.out.extend(b"data: [DONE]\n\n");
            return;
        }
        if !self.state.started {
            return;
        }
        let id = self.state.id.clone();
        let mut output = Vec::new();
        let mut index = 0;
        if !self.state.text.is_empty() {
            let text = self.state.text.clone();
            let item_id = format!("msg_{id}");
            self.event(
                "response.output_text.done",
                json!({"item_id": item_id, "output_index": 0, "content_index": 0, "text": text}),
            );
            self.event(
                "response.content_part.done",
                json!({"item_id": item_id, "output_index": 0, "content_index": 0,
                       "part": {"type": "output_text", "text": text, "annotations": []}}),
            );
            let item = message_item(&id, &text, "completed");
            self.event(
                "response.output_item.done",
                json!({"output_index": 0, "item": item}),
            );
            output.push(item);
            index = 1;
        }
        for (call_id, name, args) in std::mem::take(&mut self.state.calls) {
            let item_id = format!("fc_{call_id}");
            let added = json!({"type": "function_call", "id": item_id, "call_id": call_id,
                               "name": name, "arguments": "", "status": "in_progress"});
            self.event(
                "response.output_item.added",
                json!({"output_index": index, "item": added}),
            );
            self.event(
                "response.function_call_arguments.delta",
                json!({"item_id": item_id, "output_index": index, "delta": args}),
            );
            self.event(
                "response.function_call_arguments.done",
                json!({"item_id": item_id, "output_index": index, "arguments": args}),
            );
            let item = json!({"type": "function_call", "id": item_id, "call_id": call_id,
                              "name": name, "arguments": args, "status": "completed"});
            self.event(
                "response.output_item.done",
                json!({"output_index": index, "item": item}),
            );
            output.push(item);
            index += 1;
        }
        let status = if self.state.finish.as_deref() == Some("length") {
            "incomplete"
        } else {
            "completed"
        };
        let last = self.state.last.clone();
        let done = response_object(&id, &last, status, output);
        let kind = if status == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        self.event(kind, json!({"response": done}));
    }
}

/// A chat answer's (or chunk's) choices as legacy completion choices: the
/// text from each choice's `field` (`message` whole, `delta` streamed).
fn completion_choices(chat: &Value, field: &str) -> Vec<Value> {
    chat["choices"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            json!({"index": c["index"], "text": c[field]["content"].as_str().unwrap_or(""),
                   "logprobs": null, "finish_reason": c["finish_reason"]})
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bridged(kind: Kind, req: Value) -> Result<Value, String> {
        request(kind, req.to_string().as_bytes()).map(|b| serde_json::from_slice(&b).unwrap())
    }

    #[test]
    fn a_responses_request_becomes_a_chat_request() {
        let chat = bridged(
            Kind::Responses,
            json!({"model": "m", "instructions": "be brief", "max_output_tokens": 50,
                   "input": [
                       {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
                       {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                       {"type": "function_call_output", "call_id": "c1", "output": "42"},
                       {"role": "developer", "content": "more"}],
                   "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
                   "tool_choice": {"type": "function", "name": "f"},
                   "text": {"format": {"type": "json_schema", "name": "s", "schema": {"type": "object"}, "strict": true}},
                   "stream": true}),
        )
        .unwrap();
        assert_eq!(
            chat["messages"][0],
            json!({"role": "system", "content": "be brief"})
        );
        assert_eq!(
            chat["messages"][1],
            json!({"role": "user", "content": "hi"})
        );
        assert_eq!(chat["messages"][2]["tool_calls"][0]["id"], "c1");
        assert_eq!(
            chat["messages"][3],
            json!({"role": "tool", "tool_call_id": "c1", "content": "42"})
        );
        assert_eq!(chat["messages"][4]["role"], "system");
        assert_eq!(chat["max_tokens"], 50);
        assert_eq!(chat["tools"][0]["function"]["name"], "f");
        assert_eq!(chat["tool_choice"]["function"]["name"], "f");
        assert_eq!(chat["response_format"]["json_schema"]["strict"], true);
        assert_eq!(chat["stream_options"]["include_usage"], true);
    }

    #[test]
    fn what_cant_be_bridged_is_refused_by_name() {
        for (req, says) in [
            (
                json!({"model": "m", "input": "x", "previous_response_id": "r"}),
                "previous_response_id",
            ),
            (
                json!({"model": "m", "input": "x", "background": true}),
                "background",
            ),
            (
                json!({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}),
                "function tools only",
            ),
            (json!({"model": "m", "input": "x", "store": true}), "store"),
            (json!({"input": "x"}), "`model`"),
        ] {
            let err = bridged(Kind::Responses, req).unwrap_err();
            assert!(err.contains(says), "{err}");
        }
        let err = bridged(
            Kind::Completions,
            json!({"model": "m", "prompt": "x", "echo": true}),
        )
        .unwrap_err();
        assert!(err.contains("`echo`"), "{err}");
    }

    #[test]
    fn answers_come_back_in_the_clients_shape() {
        let chat = json!({"id": "c", "created": 5, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "hello",
                                     "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}});
        let r: Value =
            serde_json::from_slice(&response(Kind::Responses, chat.to_string().as_bytes()))
                .unwrap();
        assert_eq!(r["object"], "response");
        assert_eq!(r["status"], "completed");
        assert_eq!(r["output"][0]["content"][0]["text"], "hello");
        assert_eq!(r["output"][1]["call_id"], "t1");
        assert_eq!(r["usage"]["input_tokens"], 3);
        let c: Value =
            serde_json::from_slice(&response(Kind::Completions, chat.to_string().as_bytes()))
                .unwrap();
        assert_eq!(c["choices"][0]["text"], "hello");
        assert_eq!(c["object"], "text_completion");
        // An error body passes through untouched.
        let err = br#"{"error": {"message": "nope"}}"#;
        assert_eq!(response(Kind::Responses, err), err.to_vec());
    }

    #[test]
    fn a_chat_stream_becomes_responses_events() {
        let sse = "data: {\"id\":\"c\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"he\"}}]}\n\n\
                   data: {\"id\":\"c\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"llo\"},\"finish_reason\":\"stop\"}]}\n\n\
                   data: [DONE]\n\n";
        let mut out = String::new();
        stream(
            Kind::Responses,
            Box::new(std::io::Cursor::new(sse.as_bytes().to_vec())),
        )
        .read_to_string(&mut out)
        .unwrap();
        let kinds: Vec<&str> = out
            .lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .collect();
        assert_eq!(
            kinds,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed"
            ]
        );
        assert!(out.contains("\"text\":\"hello\""));
    }
}
