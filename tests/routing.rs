//! `serve` in front of several connectors at once: requests routed by model
//! to the provider that serves it (each emulator's own counts say where
//! they went), aliases falling back across providers and adding their
//! capacity up, the native APIs beside, and real SDKs through an alias.
#![allow(clippy::disallowed_methods)] // reqwest as the clients

mod common;
use common::*;
use jongler::emulator::{Behavior, Emulator, EmulatorConfig, Flavor};
use serde_json::{Value, json};
use std::time::Duration;

/// One provider behind the gateway: an emulator of its flavour, a
/// connector for it, its keys.
struct Provider {
    name: &'static str,
    emulator: Emulator,
}

/// What a provider is.
struct Spec {
    name: &'static str,
    short: &'static str,
    flavor: Flavor,
    models: &'static [&'static str],
    keys: Vec<Behavior>,
    rate: Option<(u32, Duration)>,
}

impl Spec {
    fn new(name: &'static str, short: &'static str, flavor: Flavor) -> Spec {
        Spec {
            name,
            short,
            flavor,
            models: &[],
            keys: vec![Behavior::Valid; 2],
            rate: None,
        }
    }
    fn models(mut self, models: &'static [&'static str]) -> Spec {
        self.models = models;
        self
    }
    fn keys(mut self, keys: Vec<Behavior>) -> Spec {
        self.keys = keys;
        self
    }
    fn rate(mut self, n: u32, per: Duration) -> Spec {
        self.rate = Some((n, per));
        self
    }
}

/// Several providers, a connectors dir and a key file for them all.
struct Gateway {
    dir: tempfile::TempDir,
    providers: Vec<Provider>,
    /// Every key value, to check none ever leaks.
    values: Vec<String>,
}

fn value_of(provider: &str, i: usize) -> String {
    format!(
        "{}-key{i}-0123456789abcdefSECRET",
        provider.replace('.', "-")
    )
}

impl Gateway {
    fn new(specs: Vec<Spec>, ini_extra: &str) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("connectors")).unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        let mut ini = String::new();
        let mut providers = Vec::new();
        let mut values = Vec::new();
        for spec in specs {
            let keys: Vec<(String, Behavior)> = spec
                .keys
                .iter()
                .enumerate()
                .map(|(i, b)| (value_of(spec.name, i + 1), *b))
                .collect();
            let emulator = Emulator::start(EmulatorConfig {
                keys: keys.clone(),
                rate: spec.rate,
                models: spec.models.iter().map(|m| m.to_string()).collect(),
                flavor: spec.flavor,
                ..EmulatorConfig::with_keys(&[])
            })
            .unwrap();
            let mut connector: Value =
                serde_json::from_str(&emulator.connector_json(spec.name)).unwrap();
            connector["short_name"] = json!(spec.short);
            // As the built-in's: its OpenAI SDK compatibility layer.
            if spec.flavor == Flavor::Anthropic {
                connector["openai_base_path"] = json!("/v1");
            }
            std::fs::write(
                dir.path()
                    .join("connectors")
                    .join(format!("{}.json", spec.name)),
                connector.to_string(),
            )
            .unwrap();
            ini.push_str(&format!("[{}]\n", spec.name));
            for (i, (value, _)) in keys.iter().enumerate() {
                ini.push_str(&format!("key{} = {value}\n", i + 1));
                values.push(value.clone());
            }
            providers.push(Provider {
                name: spec.name,
                emulator,
            });
        }
        ini.push_str(ini_extra);
        std::fs::write(dir.path().join("keys.ini"), ini).unwrap();
        Gateway {
            dir,
            providers,
            values,
        }
    }

    fn ini(&self) -> std::path::PathBuf {
        self.dir.path().join("keys.ini")
    }

    fn cmd(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_jongler"));
        cmd.env_clear()
            .env("HOME", self.dir.path().join("home"))
            .env("NO_COLOR", "1")
            .env("APIJONGLER_CONFIG", self.ini())
            .env("JONGLER_STATE_DIR", self.dir.path().join("state"))
            .env("JONGLER_CONNECTORS_DIR", self.dir.path().join("connectors"))
            .stdin(std::process::Stdio::null());
        cmd
    }

    /// `jongler serve` of every provider (all of them with `--all`), with `args`.
    fn serve(&self, args: &[&str]) -> Proxy {
        let mut cmd = self.cmd();
        cmd.args(["serve", "--listen", "127.0.0.1:0"]);
        if !args.contains(&"--all") {
            cmd.args(self.providers.iter().map(|p| p.name));
        }
        let proxy = Proxy::spawn(cmd.args(args));
        // Served once the model lists are in (until then, requests wait).
        let health = client().get(format!("{}/healthz", proxy.url)).send();
        assert!(health.is_ok_and(|h| h.status().is_success()));
        proxy
    }

    /// Requests each provider's emulator has seen, in order.
    fn counts(&self) -> Vec<u64> {
        self.providers
            .iter()
            .map(|p| p.emulator.stats().requests)
            .collect()
    }

    fn provider(&self, name: &str) -> &Emulator {
        &self
            .providers
            .iter()
            .find(|p| p.name == name)
            .unwrap()
            .emulator
    }

    /// No key value anywhere in `text`.
    fn assert_clean(&self, text: &str) {
        for value in &self.values {
            assert!(
                !text.contains(value.as_str()),
                "a key value leaked:\n{text}"
            );
        }
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// `POST /v1/chat/completions` for `model`: status, served-by header, body.
fn chat(url: &str, model: &str, text: &str) -> (u16, String, Value) {
    let response = client()
        .post(format!("{url}/v1/chat/completions"))
        .bearer_auth("sk-anything")
        .header("content-type", "application/json")
        .body(
            (json!({"model": model, "messages": [{"role": "user", "content": text}]})).to_string(),
        )
        .send()
        .unwrap();
    let status = response.status().as_u16();
    let by = response
        .headers()
        .get("x-jongler-served-by")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (
        status,
        by,
        response
            .text()
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null),
    )
}

const GEMINI: &str = "gemini-test";
const GROQ: &str = "groq-test";
const ANTHROPIC: &str = "anthropic-test";

fn three_providers(ini_extra: &str) -> Gateway {
    Gateway::new(
        vec![
            Spec::new(GEMINI, "gem", Flavor::Gemini),
            // `claude/mimic` is a model id of Groq's, not Anthropic's
            // `claude` prefix (as `openai/gpt-oss-120b` is on the real Groq).
            Spec::new(GROQ, "groq", Flavor::Openai).models(&[
                "llama-3.1-8b-instant",
                "shared-model",
                "claude/mimic",
            ]),
            Spec::new(ANTHROPIC, "claude", Flavor::Anthropic)
                .models(&["claude-haiku-4-5", "shared-model"]),
        ],
        ini_extra,
    )
}

#[test]
fn each_providers_models_reach_that_provider_only_and_unknown_ones_spend_nothing() {
    let _machine = loaded();
    let gw = three_providers("");
    let proxy = gw.serve(&[]);
    let url = proxy.url.clone();
    // Every model once: a name two providers serve only as connector/model.
    let list: Value = client()
        .get(format!("{url}/v1/models"))
        .bearer_auth("x")
        .send()
        .unwrap()
        .text()
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap();
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    for id in [
        "gemini-2.5-flash",
        "llama-3.1-8b-instant",
        "claude-haiku-4-5",
        "groq/shared-model",
        "claude/shared-model",
    ] {
        assert!(ids.contains(&id), "{id} not in {ids:?}");
    }
    assert!(!ids.contains(&"shared-model"), "{ids:?}");
    let before = gw.counts();
    let expect = [
        ("gemini-2.5-flash", "gemini-test/gemini-2.5-flash"),
        ("llama-3.1-8b-instant", "groq-test/llama-3.1-8b-instant"),
        ("claude-haiku-4-5", "anthropic-test/claude-haiku-4-5"),
        ("groq/shared-model", "groq-test/shared-model"),
        ("claude/shared-model", "anthropic-test/shared-model"),
        ("gem/gemini-2.5-flash", "gemini-test/gemini-2.5-flash"),
        ("claude/mimic", "groq-test/claude/mimic"),
    ];
    for (model, by) in expect {
        let (status, served_by, body) = chat(&url, model, &format!("for {model}"));
        assert_eq!(status, 200, "{model}: {body}");
        assert_eq!(served_by, by, "{model}");
        assert_eq!(
            body["choices"][0]["message"]["content"],
            format!("echo: for {model}")
        );
    }
    let after = gw.counts();
    let sent: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    assert_eq!(sent, [2, 3, 2], "requests per provider");
    // Unknown models: OpenAI's 404, the closest ids named, no key spent.
    let before = gw.counts();
    let (status, by, body) = chat(&url, "llama-3.1-8b-instnt", "x");
    assert_eq!(status, 404, "{body}");
    assert_eq!(by, "");
    assert_eq!(body["error"]["code"], "model_not_found", "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("llama-3.1-8b-instant"), "{message}");
    // A connector's prefix with a model it doesn't list.
    for model in ["mistral/small", "groq/llama-3.1-8b-typo"] {
        let (status, _, body) = chat(&url, model, "x");
        assert_eq!(status, 404, "{model}: {body}");
        assert_eq!(body["error"]["code"], "model_not_found", "{body}");
    }
    let no_model = client()
        .post(format!("{url}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body((json!({"messages": []})).to_string())
        .send()
        .unwrap();
    assert_eq!(no_model.status().as_u16(), 400);
    assert_eq!(gw.counts(), before, "nothing was sent for unknown models");
    // /status: every connector's keys, the listener's clients once.
    let status: Value = serde_json::from_str(
        &client()
            .get(format!("{url}/status"))
            .send()
            .unwrap()
            .text()
            .unwrap(),
    )
    .unwrap();
    let connectors: Vec<&str> = status["connectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["connector"].as_str().unwrap())
        .collect();
    assert_eq!(connectors, [GEMINI, GROQ, ANTHROPIC]);
    assert_eq!(status["clients"][0]["name"], "local", "{status}");
    let page = client()
        .get(format!("{url}/status?format=html"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    for name in [GEMINI, GROQ, ANTHROPIC] {
        assert!(page.contains(name), "the dashboard lacks {name}");
    }
    let log = proxy.stop().1;
    gw.assert_clean(&log);
    assert!(
        log.contains("served=groq-test/llama-3.1-8b-instant"),
        "{log}"
    );
}

#[test]
fn native_apis_stay_reachable_beside_the_routing() {
    let _machine = loaded();
    let gw = three_providers("");
    let proxy = gw.serve(&[]);
    let url = proxy.url.clone();
    let before = gw.counts();
    // Gemini's own API: its paths, its key header.
    let gemini = client()
        .post(format!(
            "{url}/v1beta/models/gemini-2.5-flash:generateContent"
        ))
        .header("x-goog-api-key", "anything")
        .body(prompt("native gemini"))
        .send()
        .unwrap();
    assert_eq!(gemini.status().as_u16(), 200);
    // Anthropic's own: /v1/messages.
    let anthropic = client()
        .post(format!("{url}/v1/messages"))
        .header("x-api-key", "anything")
        .header("anthropic-version", "2023-06-01")
        .header("content-type", "application/json")
        .body(
            (json!({"model": "claude-haiku-4-5", "max_tokens": 16,
                      "messages": [{"role": "user", "content": "native anthropic"}]}))
            .to_string(),
        )
        .send()
        .unwrap();
    assert_eq!(anthropic.status().as_u16(), 200);
    let body: Value = serde_json::from_str(&anthropic.text().unwrap()).unwrap();
    assert_eq!(body["content"][0]["text"], "echo: native anthropic");
    // Any connector's API under its name or short name.
    for prefix in ["groq", GROQ] {
        let groq = client()
            .post(format!("{url}/{prefix}/v1/chat/completions"))
            .header("content-type", "application/json")
            .body(
                (json!({"model": "llama-3.1-8b-instant",
                          "messages": [{"role": "user", "content": "prefixed"}]}))
                .to_string(),
            )
            .send()
            .unwrap();
        assert_eq!(groq.status().as_u16(), 200, "{prefix}");
    }
    let after = gw.counts();
    let sent: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    assert_eq!(sent, [1, 2, 1], "requests per provider");
    // A path none serves: 404, nothing sent.
    let unknown = client().get(format!("{url}/v2/things")).send().unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
    assert_eq!(gw.counts(), after);
    let log = proxy.stop().1;
    gw.assert_clean(&log);
}

#[test]
fn an_alias_passes_over_a_provider_out_for_the_day_without_sending_to_it() {
    let _machine = loaded();
    let gw = Gateway::new(
        vec![
            Spec::new(GEMINI, "gem", Flavor::Gemini).keys(vec![Behavior::DailyExhausted; 3]),
            Spec::new(GROQ, "groq", Flavor::Openai).models(&["llama-3.1-8b-instant"]),
        ],
        "[alias fast]\nmodels = gem/gemini-2.5-flash, groq/llama-3.1-8b-instant\n",
    );
    let proxy = gw.serve(&[]);
    let url = proxy.url.clone();
    // The first call learns that every Gemini key is out for the day.
    let (status, by, body) = chat(&url, "fast", "first");
    assert_eq!(status, 200, "{body}");
    assert_eq!(by, "groq-test/llama-3.1-8b-instant");
    let gemini_before = gw.provider(GEMINI).stats().requests;
    for i in 0..20 {
        let (status, by, body) = chat(&url, "fast", &format!("call {i}"));
        assert_eq!(status, 200, "{body}");
        assert_eq!(by, "groq-test/llama-3.1-8b-instant");
        // The model name in the body was rewritten for the provider.
        assert_eq!(body["model"], "llama-3.1-8b-instant");
    }
    assert_eq!(
        gw.provider(GEMINI).stats().requests,
        gemini_before,
        "a pool known to be out got requests"
    );
    let metrics = client()
        .get(format!("{url}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let served: u64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("jongler_requests_total")
                && l.contains("connector=\"groq-test\"")
                && l.contains("model=\"llama-3.1-8b-instant\"")
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(served, 21, "{metrics}");
    let log = proxy.stop().1;
    gw.assert_clean(&log);
    assert!(
        log.contains("served=groq-test/llama-3.1-8b-instant alias=fast"),
        "{log}"
    );
}

#[test]
fn an_alias_whose_providers_are_all_out_answers_429_with_the_soonest_return() {
    let _machine = loaded();
    let gw = Gateway::new(
        vec![
            Spec::new(GEMINI, "gem", Flavor::Gemini).keys(vec![Behavior::DailyExhausted; 2]),
            Spec::new(GROQ, "groq", Flavor::Openai)
                .models(&["llama-3.1-8b-instant"])
                .keys(vec![Behavior::Invalid; 2]),
        ],
        // The provider whose keys are bad first: the answer is the other's
        // (back at a known time), and so is the blame.
        "[alias fast]\nmodels = groq/llama-3.1-8b-instant, gem/gemini-2.5-flash\n",
    );
    let proxy = gw.serve(&["--wait", "5"]);
    let url = proxy.url.clone();
    let (status, _, body) = chat(&url, "fast", "first");
    assert_eq!(status, 429, "{body}");
    // Known out: the next one sends nothing, and says when to come back.
    let before = gw.counts();
    let response = client()
        .post(format!("{url}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(
            (json!({"model": "fast", "messages": [{"role": "user", "content": "x"}]})).to_string(),
        )
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 60, "retry-after {retry}");
    assert_eq!(response.headers()["x-should-retry"], "false");
    // Nothing served it.
    assert!(!response.headers().contains_key("x-jongler-served-by"));
    assert_eq!(gw.counts(), before);
    let log = proxy.stop().1;
    gw.assert_clean(&log);
    let last = log
        .lines()
        .rfind(|l| l.contains("POST /v1/chat/completions"))
        .unwrap();
    assert!(
        last.contains(" 429 ") && last.contains("served=gemini-test/gemini-2.5-flash"),
        "{last}"
    );
}

#[test]
fn an_alias_adds_both_providers_capacity_up_without_429s() {
    let _machine = loaded();
    let per = Duration::from_secs(1);
    let gw = Gateway::new(
        vec![
            Spec::new(GEMINI, "gem", Flavor::Gemini).rate(5, per),
            Spec::new(GROQ, "groq", Flavor::Openai)
                .models(&["llama-3.1-8b-instant"])
                .rate(5, per),
        ],
        "[limits gemini-test]\n* = 5/1s\n[limits groq-test]\n* = 5/1s\n\
         [alias fast]\nmodels = gem/gemini-2.5-flash, groq/llama-3.1-8b-instant\n",
    );
    let proxy = gw.serve(&[]);
    let url = proxy.url.clone();
    let served = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..8 {
            let (url, served) = (&url, &served);
            s.spawn(move || {
                for i in 0..10 {
                    let (status, by, body) = chat(url, "fast", &format!("t{t} call {i}"));
                    served.lock().unwrap().push((status, by, body));
                }
            });
        }
    });
    let served = served.into_inner().unwrap();
    let failed: Vec<_> = served.iter().filter(|(s, ..)| *s != 200).collect();
    assert!(failed.is_empty(), "{failed:?}");
    let on = |name: &str| {
        served
            .iter()
            .filter(|(_, by, _)| by.starts_with(name))
            .count()
    };
    let (gemini, groq) = (on(GEMINI), on(GROQ));
    assert_eq!(gemini + groq, 80);
    // Both pools did their share: neither waited while the other had room.
    assert!(gemini >= 30 && groq >= 30, "gemini {gemini}, groq {groq}");
    for p in &gw.providers {
        let stats = p.emulator.stats();
        let limited = stats.by_status.get(&429).copied().unwrap_or(0);
        assert!(limited <= 1, "{}: {limited} answered 429", p.name);
        assert_eq!(
            stats.overlaps, 0,
            "{}: a key was used twice at once",
            p.name
        );
    }
    proxy.stop();
}

#[test]
fn aliases_change_with_the_key_file_and_a_bad_edit_is_refused() {
    let _machine = loaded();
    let gw = Gateway::new(
        vec![
            Spec::new(GEMINI, "gem", Flavor::Gemini),
            Spec::new(GROQ, "groq", Flavor::Openai).models(&["llama-3.1-8b-instant"]),
        ],
        "[alias fast]\nmodels = gem/gemini-2.5-flash\n",
    );
    let proxy = gw.serve(&[]);
    let url = proxy.url.clone();
    assert_eq!(chat(&url, "fast", "a").1, "gemini-test/gemini-2.5-flash");
    let text = std::fs::read_to_string(gw.ini()).unwrap();
    let save = |text: &str| {
        let tmp = gw.ini().with_extension("tmp-save");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, gw.ini()).unwrap();
    };
    save(&text.replace(
        "models = gem/gemini-2.5-flash",
        "models = groq/llama-3.1-8b-instant",
    ));
    proxy.wait_log("aliases reloaded");
    assert_eq!(chat(&url, "fast", "b").1, "groq-test/llama-3.1-8b-instant");
    // An edit that doesn't parse: refused, the aliases in use stay.
    save(&text.replace("models = gem/gemini-2.5-flash", "models = gemini-2.5-flash"));
    let refused = proxy.wait_log("refused");
    assert!(
        refused.contains("line 8") && refused.contains("connector/model"),
        "{refused}"
    );
    assert_eq!(chat(&url, "fast", "c").1, "groq-test/llama-3.1-8b-instant");
    // An entry naming a connector this serve doesn't serve (the key file
    // may be another serve's too): left out, said so; the alias with it.
    save(&text.replace("models = gem/gemini-2.5-flash", "models = mistral/small"));
    let left_out = proxy.wait_log("left out");
    assert!(left_out.contains("mistral/small"), "{left_out}");
    assert_eq!(chat(&url, "fast", "d").0, 404);
    proxy.stop();
}

#[test]
fn serve_all_serves_every_connector_with_keys_and_bad_aliases_are_named() {
    let gw = three_providers("");
    let proxy = gw.serve(&["--all"]);
    let first = proxy.log();
    for name in [GEMINI, GROQ, ANTHROPIC] {
        assert!(first.contains(&format!("`{name}`")), "{first}");
    }
    proxy.stop();
    // An alias entry that isn't connector/model: exit 2 naming the file and line.
    let text = std::fs::read_to_string(gw.ini()).unwrap();
    std::fs::write(
        gw.ini(),
        format!("{text}[alias fast]\nmodels = gem/gemini-2.5-flash, mistral-small\n"),
    )
    .unwrap();
    let out = gw
        .cmd()
        .args(["serve", GEMINI, GROQ, "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("[alias fast]") && err.contains("line") && err.contains("mistral-small"),
        "{err}"
    );
    // A connector named twice.
    std::fs::write(gw.ini(), text).unwrap();
    let out = gw
        .cmd()
        .args(["serve", GEMINI, GEMINI, "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn sdks_stream_through_an_alias_plain_and_through_the_responses_bridge() {
    // Alone: the streams are read as they come.
    let _alone = quiet();
    let gw = Gateway::new(
        vec![
            Spec::new(GEMINI, "gem", Flavor::Gemini).keys(vec![Behavior::DailyExhausted; 2]),
            Spec::new(GROQ, "groq", Flavor::Openai).models(&["llama-3.1-8b-instant"]),
        ],
        "[alias fast]\nmodels = gem/gemini-2.5-flash, groq/llama-3.1-8b-instant\n",
    );
    let proxy = gw.serve(&[]);
    let served_by = "groq-test/llama-3.1-8b-instant";
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/clients.py");
    let python_out = std::process::Command::new(python())
        .arg(script)
        .args(["alias", &proxy.url, "any-token", "fast", served_by])
        .env("NO_PROXY", "*")
        .output()
        .unwrap();
    assert!(
        python_out.status.success(),
        "openai-python:\n{}\n{}",
        stdout(&python_out),
        stderr(&python_out)
    );
    let node_out = std::process::Command::new("node")
        .arg(node_clients().join("alias.mjs"))
        .args([proxy.url.as_str(), "any-token", "fast", served_by])
        .env("NO_PROXY", "*")
        .output()
        .unwrap();
    let results = stdout(&node_out);
    let checks: Vec<&str> = results
        .lines()
        .filter(|l| l.starts_with("RESULT "))
        .collect();
    assert_eq!(checks.len(), 9, "{results}\n{}", stderr(&node_out));
    let failed: Vec<&&str> = checks
        .iter()
        .filter(|l| l.split(' ').nth(3) != Some("ok"))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    // Every call through the alias went to the second provider: nothing
    // more to the first once it was known out.
    let gemini = gw.provider(GEMINI).stats();
    assert_eq!(
        gemini.by_status.get(&429),
        Some(&2),
        "{gemini:?}\n{}",
        proxy.log()
    );
    let log = proxy.stop().1;
    gw.assert_clean(&log);
}

#[test]
fn one_connector_with_an_alias_chains_its_own_models_and_passes_the_rest_as_before() {
    let _machine = loaded();
    let gw = Gateway::new(
        vec![Spec::new(GEMINI, "gem", Flavor::Gemini).keys(vec![Behavior::Valid; 2])],
        "[alias smart]\nmodels = gem/gemini-2.5-pro, gem/gemini-2.5-flash\n",
    );
    let proxy = gw.serve(&["--wait", "3"]);
    let url = proxy.url.clone();
    // An alias: a model chain within one provider.
    let (status, by, body) = chat(&url, "smart", "chained");
    assert_eq!(status, 200, "{body}");
    assert_eq!(by, "gemini-test/gemini-2.5-pro");
    // Any other model goes as it came, as without aliases: no header, and
    // the API's own answer for a model it doesn't have.
    let (status, by, body) = chat(&url, "gemini-2.5-flash", "plain");
    assert_eq!((status, by.as_str()), (200, ""), "{body}");
    let (status, _, body) = chat(&url, "no-such-model", "x");
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], 404, "Gemini's own 404 shape: {body}");
    proxy.stop();
}
