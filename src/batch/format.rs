//! What an input line means: a JSON body, an `{"id", "body", "endpoint"}`
//! envelope, or (with `--template`) plain text; and the fingerprint ids are
//! compared by.

use crate::error::usage;
use anyhow::Result;
use serde_json::{Map, Value};
use std::hash::BuildHasher;

const PLACEHOLDER: &str = "{{text}}";

/// One request of the input.
#[derive(Debug)]
pub(super) struct Item {
    /// 1-based line number.
    pub(super) line: u64,
    pub(super) id: Value,
    pub(super) endpoint: Option<String>,
    pub(super) body: Vec<u8>,
}

impl Item {
    /// A line that is only a body: its id is its line number.
    fn plain(line: u64, body: Vec<u8>) -> Item {
        Item {
            line,
            id: Value::from(line),
            endpoint: None,
            body,
        }
    }
}

/// How input lines read.
pub(super) enum Format {
    /// One JSON body, or an `{"id", "body", "endpoint"}` envelope, per line.
    Jsonl,
    /// Plain text, put into the template's `{{text}}` places.
    Template(Vec<String>),
}

impl Format {
    pub(super) fn new(template: Option<&str>, json: bool) -> Result<Format> {
        let Some(template) = template else {
            return Ok(Format::Jsonl);
        };
        if !template.contains(PLACEHOLDER) {
            return Err(usage(format!(
                "--template has no {PLACEHOLDER}: it is where each input line goes, e.g. '{{\"contents\":[{{\"parts\":[{{\"text\":\"{PLACEHOLDER}\"}}]}}]}}'"
            )));
        }
        let format = Format::Template(template.split(PLACEHOLDER).map(str::to_string).collect());
        if json {
            let sample = format.fill("a \"quoted\" line");
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&sample) {
                return Err(usage(format!(
                    "--template is not JSON once {PLACEHOLDER} is filled in ({e}); put {PLACEHOLDER} inside a JSON string: \"{PLACEHOLDER}\""
                )));
            }
        }
        Ok(format)
    }

    /// The template with `text`, JSON-escaped, in every placeholder.
    fn fill(&self, text: &str) -> Vec<u8> {
        let Format::Template(parts) = self else {
            unreachable!("invariant: fill is for templates")
        };
        let quoted = serde_json::to_string(text).expect("invariant: a str serializes");
        let escaped = &quoted[1..quoted.len() - 1];
        parts.join(escaped).into_bytes()
    }

    /// One input line: `None` when blank (skipped; its number stays unused).
    pub(super) fn parse(&self, line: u64, text: &str) -> Result<Option<Item>, String> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        if let Format::Template(_) = self {
            return Ok(Some(Item::plain(line, self.fill(text))));
        }
        let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?;
        match &value {
            Value::Object(fields) if fields.contains_key("body") => {
                envelope(line, fields).map(Some)
            }
            _ => Ok(Some(Item::plain(line, text.trim().as_bytes().to_vec()))),
        }
    }
}

/// A line with `body`, and maybe `id` and `endpoint`, beside it.
fn envelope(line: u64, fields: &Map<String, Value>) -> Result<Item, String> {
    if let Some(other) = fields
        .keys()
        .find(|k| !matches!(k.as_str(), "id" | "body" | "endpoint"))
    {
        return Err(format!(
            "unknown field `{other}` beside `body` (a line with `body` takes only `id`, `body` and `endpoint`)"
        ));
    }
    let id = match fields.get("id") {
        None => Value::from(line),
        Some(id @ (Value::String(_) | Value::Number(_))) => id.clone(),
        Some(other) => return Err(format!("`id` must be a string or a number, not {other}")),
    };
    let endpoint = match fields.get("endpoint") {
        None => None,
        Some(Value::String(e)) if e.starts_with('/') => Some(e.clone()),
        Some(other) => {
            return Err(format!(
                "`endpoint` must be a path starting with '/', not {other}"
            ));
        }
    };
    let body = serde_json::to_vec(&fields["body"]).expect("invariant: a Value serializes");
    Ok(Item {
        line,
        id,
        endpoint,
        body,
    })
}

/// A 128-bit fingerprint of an id's JSON text: ids are compared by these, so
/// a run keeps 16 bytes per line, not the ids.
pub(super) fn fingerprint(id: &Value) -> u128 {
    let text = id.to_string();
    let a = foldhash::quality::FixedState::with_seed(0x6a6f_6e67_6c65_7231).hash_one(&text);
    let b = foldhash::quality::FixedState::with_seed(0x6261_7463_6865_7332).hash_one(&text);
    (u128::from(a) << 64) | u128::from(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_bodies_or_envelopes() {
        let f = Format::Jsonl;
        let item = f.parse(3, r#"{"contents": []}"#).unwrap().unwrap();
        assert_eq!(item.id, Value::from(3));
        assert_eq!(item.body, br#"{"contents": []}"#);
        let item = f
            .parse(4, r#"{"id": "a", "body": {"x": 1}, "endpoint": "/v1/x"}"#)
            .unwrap()
            .unwrap();
        assert_eq!(item.id, Value::from("a"));
        assert_eq!(item.endpoint.as_deref(), Some("/v1/x"));
        assert_eq!(item.body, br#"{"x":1}"#);
        assert!(f.parse(5, "  ").unwrap().is_none());
        assert!(f.parse(6, "{nope").unwrap_err().contains("not JSON"));
        assert!(
            f.parse(7, r#"{"body": {}, "model": "m"}"#)
                .unwrap_err()
                .contains("`model`")
        );
        assert!(
            f.parse(8, r#"{"body": {}, "id": null}"#)
                .unwrap_err()
                .contains("`id`")
        );
        assert!(
            f.parse(9, r#"{"body": {}, "endpoint": "v1"}"#)
                .unwrap_err()
                .contains("`endpoint`")
        );
    }

    #[test]
    fn templates_escape_the_text_and_need_the_placeholder() {
        let f = Format::new(Some(r#"{"text": "{{text}}"}"#), true).unwrap();
        let item = f.parse(2, "say \"hi\"\\ \u{1}").unwrap().unwrap();
        let body: Value = serde_json::from_slice(&item.body).unwrap();
        assert_eq!(body["text"], "say \"hi\"\\ \u{1}");
        assert_eq!(item.id, Value::from(2));
        let err = Format::new(Some(r#"{"text": "x"}"#), true).err().unwrap();
        assert!(err.to_string().contains("{{text}}"));
        let err = Format::new(Some(r#"{"text": {{text}}}"#), true)
            .err()
            .unwrap();
        assert!(err.to_string().contains("inside a JSON string"));
    }

    #[test]
    fn ids_compare_by_their_json_text() {
        assert_eq!(
            fingerprint(&Value::from("a")),
            fingerprint(&Value::from("a"))
        );
        assert_ne!(fingerprint(&Value::from(3)), fingerprint(&Value::from("3")));
    }
}
