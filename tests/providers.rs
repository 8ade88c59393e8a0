//! Providers beyond Gemini: the built-in connectors, and pacing from the
//! rate-limit headers of OpenAI- and Anthropic-style answers (the emulator
//! playing each API on loopback).

mod common;

use common::{CONN, Env, code, stderr, stdout};
use jongler::emulator::Flavor;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const BUILT_INS: &[(&str, &str, &str)] = &[
    // (connector, env variable, header the key must arrive in)
    ("api.openai.com", "OPENAI_API_KEY", "authorization"),
    ("api.anthropic.com", "ANTHROPIC_API_KEY", "x-api-key"),
    ("api.groq.com", "GROQ_API_KEY", "authorization"),
    ("openrouter.ai", "OPENROUTER_API_KEY", "authorization"),
    ("api.mistral.ai", "MISTRAL_API_KEY", "authorization"),
    ("api.cerebras.ai", "CEREBRAS_API_KEY", "authorization"),
    ("api.deepseek.com", "DEEPSEEK_API_KEY", "authorization"),
    ("router.huggingface.co", "HF_TOKEN", "authorization"),
];

fn chat_body(text: &str, anthropic: bool) -> String {
    let mut body = json!({"model": "model-small", "messages": [{"role": "user", "content": text}]});
    if anthropic {
        body["max_tokens"] = 64.into();
    }
    body.to_string()
}

#[test]
fn every_built_in_connector_sends_its_key_in_its_own_header_never_the_url() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for &(name, var, header) in BUILT_INS {
        let anthropic = name == "api.anthropic.com";
        let env = Env::builder()
            .key("k1", jongler::emulator::Behavior::Valid)
            .flavor(if anthropic {
                Flavor::Anthropic
            } else {
                Flavor::Openai
            })
            .build();
        // The shipped file, pointed at the emulator: same name, so it stands
        // in for the built-in.
        let mut connector: Value = serde_json::from_str(
            &std::fs::read_to_string(root.join("connectors").join(format!("{name}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(connector["name"], name);
        assert_eq!(connector["key_env_prefix"], var);
        assert!(connector["limits_note"].as_str().unwrap().contains("http"));
        connector["host"] = env.emulator.addr().ip().to_string().into();
        connector["port"] = env.emulator.addr().port().into();
        connector["protocol"] = "http".into();
        std::fs::write(
            env.connectors().join(format!("{name}.json")),
            connector.to_string(),
        )
        .unwrap();
        let endpoint = if anthropic {
            "/v1/messages".to_string()
        } else {
            format!(
                "{}/chat/completions",
                connector["openai_base_path"].as_str().unwrap()
            )
        };
        let out = env
            .cmd()
            .env(var, common::key_value("k1"))
            .args([name, "POST", &endpoint, &chat_body("hello", anthropic)])
            .output()
            .unwrap();
        env.assert_no_secrets(&out);
        assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
        assert!(stdout(&out).contains("echo: hello"), "{name}");
        let stats = env.emulator.stats();
        assert_eq!(
            stats.key_headers.keys().collect::<Vec<_>>(),
            [header],
            "{name}: the key came in {:?}",
            stats.key_headers
        );
        assert_eq!(stats.key_in_url, 0, "{name}");
        if anthropic {
            assert!(stats.header_names.contains("anthropic-version"));
        }
        // Its check endpoint costs nothing and proves the key.
        let out = env
            .cmd()
            .env(var, common::key_value("k1"))
            .args(["check", name])
            .output()
            .unwrap();
        if name != "api.deepseek.com" && name != "openrouter.ai" {
            // (The emulator has no /user/balance nor /api/v1/key.)
            assert_eq!(code(&out), 0, "{name} check: {}", stderr(&out));
        }
    }
}

/// `n` calls from `procs` processes at a time; returns the wall time.
fn calls(env: &Env, n: usize, procs: usize, anthropic: bool) -> Duration {
    let endpoint = if anthropic {
        "/v1/messages"
    } else {
        "/v1/chat/completions"
    };
    let started = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..procs {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    let text = format!("call {i}");
                    let out = env
                        .cmd()
                        .args([
                            CONN,
                            "POST",
                            endpoint,
                            &chat_body(&text, anthropic),
                            "--wait",
                            "60",
                        ])
                        .output()
                        .unwrap();
                    assert_eq!(code(&out), 0, "{}", stderr(&out));
                    assert!(stdout(&out).contains(&format!("echo: {text}")));
                }
            });
        }
    });
    started.elapsed()
}

fn paced_by_headers(flavor: Flavor) {
    let anthropic = flavor == Flavor::Anthropic;
    // 4 keys, each a bucket of 3 refilling 3 a second: 12/s, nothing declared.
    let env = Env::builder()
        .keys(4)
        .flavor(flavor)
        .rate(3, Duration::from_secs(1))
        .build();
    let n = 60;
    let wall = calls(&env, n, 8, anthropic);
    let stats = env.emulator.stats();
    let r429 = stats.by_status.get(&429).copied().unwrap_or(0);
    println!(
        "{flavor:?}: {n} calls in {wall:.1?} (ideal {:.1} s from the first burst on), {r429} answered 429",
        (n - 12) as f64 / 12.0
    );
    assert_eq!(stats.by_status.get(&200).copied(), Some(n as u64));
    // Without the headers every key would hit the bucket's floor once or
    // more; with them, at most a stray one.
    assert!(r429 <= 1, "{r429} 429s: {:?}", stats.by_status);
    assert_eq!(stats.overlaps, 0);
    // `status` shows what was learned, and where from.
    let status = env.status();
    let usage = &status["keys"][0]["usage"];
    assert!(
        usage
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["source"] == "learned from headers"
                && u["limit"] == "3 requests (model-small)"),
        "{status}"
    );
}

#[test]
fn processes_pace_on_openai_rate_limit_headers_without_429s() {
    paced_by_headers(Flavor::Openai);
}

#[test]
fn processes_pace_on_anthropic_rate_limit_headers_without_429s() {
    paced_by_headers(Flavor::Anthropic);
}

#[test]
fn a_429_without_retry_after_waits_as_long_as_its_headers_say() {
    // One key, a bucket of 2 refilling 2 every 2 s; another tool drains it
    // behind jongler's back (its own state dir).
    let env = Env::builder()
        .keys(1)
        .flavor(Flavor::Openai)
        .rate(2, Duration::from_secs(2))
        .build();
    let other_state = env.dir.path().join("other-tool");
    for i in 0..2 {
        let out = env
            .cmd()
            .env("JONGLER_STATE_DIR", &other_state)
            .args([
                CONN,
                "POST",
                "/v1/chat/completions",
                &chat_body(&format!("drain {i}"), false),
            ])
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    let started = Instant::now();
    let out = env
        .cmd()
        .args([
            CONN,
            "POST",
            "/v1/chat/completions",
            &chat_body("mine", false),
            "--wait",
            "20",
            "-v",
        ])
        .output()
        .unwrap();
    let took = started.elapsed();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let stats = env.emulator.stats();
    assert_eq!(
        stats.by_status.get(&429).copied(),
        Some(1),
        "{:?}",
        stats.by_status
    );
    // OpenAI's 429 has no retry-after: the wait comes from the reset header
    // (about 1 s for one request), not the connector's 60 s default.
    assert!(took < Duration::from_secs(10), "waited {took:?}");
    assert!(stdout(&out).contains("echo: mine"));
}
