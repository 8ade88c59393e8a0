//! `jongler serve`: real clients (reqwest here; Python's google-genai and
//! openai packages from a virtual environment) through the proxy to the
//! emulator, plain and streaming; tokens; shutdown; the proxy and CLI
//! processes sharing one pool.
#![allow(clippy::disallowed_methods)] // the venv lock below

mod common;
use common::*;
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = PROXY_TOKEN;

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn assert_clean_log(env: &Env, log: &str) {
    assert!(
        !log.contains(TOKEN),
        "the client's token is in the log:\n{log}"
    );
    for (_, value) in &env.keys {
        assert!(
            !log.contains(value.as_str()),
            "a key value is in the log:\n{log}"
        );
    }
}

#[test]
fn tokens_are_checked_and_never_sent_upstream() {
    let env = Env::builder().keys(2).build();
    let proxy = Proxy::start(&env, &[]);
    let url = format!("{}{GENERATE}", proxy.url);
    let c = client();
    let post = |req: reqwest::blocking::RequestBuilder| req.body(prompt("hi")).send().unwrap();
    let none = post(c.post(&url));
    assert_eq!(none.status(), 401);
    let body: serde_json::Value = serde_json::from_str(&none.text().unwrap()).unwrap();
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
    assert_eq!(
        post(c.post(&url).header("x-goog-api-key", "wrong")).status(),
        401
    );
    assert_eq!(
        post(c.post(&url).header("x-goog-api-key", TOKEN)).status(),
        200
    );
    assert_eq!(post(c.post(&url).bearer_auth(TOKEN)).status(), 200);
    assert_eq!(
        post(c.post(format!("{url}?key={TOKEN}&alt=json"))).status(),
        200
    );
    let stats = env.emulator.stats();
    assert_eq!(stats.requests, 3, "refused requests never went upstream");
    assert_eq!(stats.key_in_url, 0, "the client's ?key= was stripped");
    assert!(
        stats
            .by_key
            .keys()
            .all(|k| env.keys.iter().any(|(_, v)| v == k)),
        "only pool keys upstream: {:?}",
        stats.by_key
    );
    assert_eq!(
        c.get(format!("{}/healthz", proxy.url))
            .send()
            .unwrap()
            .text()
            .unwrap(),
        "ok\n"
    );
    let status = c
        .get(format!("{}/status", proxy.url))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    let status: serde_json::Value = serde_json::from_str(&status.text().unwrap()).unwrap();
    assert_eq!(status["connector"], CONN);
    assert_eq!(status["keys"].as_array().unwrap().len(), 2);
    let page = c
        .get(format!("{}/status?key={TOKEN}&format=html", proxy.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("<main id=\"main\">")
            && page.contains("key1")
            && page.contains("setInterval"),
        "{page}"
    );
    assert_eq!(
        c.get(format!("{}/status", proxy.url))
            .send()
            .unwrap()
            .status(),
        401
    );
    let (ok, log) = proxy.stop();
    assert!(ok, "{log}");
    assert!(
        log.contains("POST /v1beta/models/gemini-2.5-flash:generateContent 200 key=key"),
        "{log}"
    );
    assert!(
        log.contains("401 key=- 0ms (wrong or missing token)") || log.contains("401 key=-"),
        "{log}"
    );
    assert_clean_log(&env, &log);
}

#[test]
fn streams_are_relayed_as_they_arrive() {
    let env = Env::builder().keys(1).build();
    let proxy = Proxy::start(&env, &[]);
    let started = Instant::now();
    let mut response = client()
        .post(format!(
            "{}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            proxy.url
        ))
        .header("x-goog-api-key", TOKEN)
        .body(prompt("one two three four five six"))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut first = [0u8; 16];
    response.read_exact(&mut first).unwrap();
    let first_byte = started.elapsed();
    let mut rest = String::new();
    response.read_to_string(&mut rest).unwrap();
    let whole = started.elapsed();
    assert!(String::from_utf8_lossy(&first).starts_with("data: "));
    assert_eq!(
        rest.matches("data: ").count(),
        2,
        "three events in all: {rest}"
    );
    // The emulator spaces its three events 150 ms apart: the first arrived long before the last.
    assert!(
        whole - first_byte >= Duration::from_millis(250),
        "first byte {first_byte:?}, whole {whole:?}"
    );
    let (ok, log) = proxy.stop();
    assert!(ok && log.contains("(stream)"), "{log}");
}

/// The Python SDKs, in a virtual environment made (once) under target/.
fn run_python(mode: &str, url: &str, token: &str) -> std::process::Output {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/clients.py");
    std::process::Command::new(python())
        .arg(script)
        .args([mode, url, token])
        .env("NO_PROXY", "*")
        .output()
        .unwrap()
}

#[test]
fn google_genai_and_openai_sdks_work_through_the_proxy() {
    let _machine = loaded();
    let env = Env::builder().keys(2).build();
    let proxy = Proxy::start(&env, &[]);
    for mode in ["genai", "openai"] {
        let out = run_python(mode, &proxy.url, TOKEN);
        assert!(
            out.status.success(),
            "{mode}:\n{}\n{}",
            stdout(&out),
            stderr(&out)
        );
        assert!(
            stdout(&out).contains("stream ok: 3 chunks"),
            "{}",
            stdout(&out)
        );
    }
    let out = run_python("wrong-token", &proxy.url, "not-the-token");
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("refused ok: 401"));
    let stats = env.emulator.stats();
    assert_eq!(stats.overlaps, 0);
    assert!(!stats.by_key.contains_key(TOKEN) && !stats.by_key.contains_key("not-the-token"));
    assert_eq!(stats.key_in_url, 0);
    let (ok, log) = proxy.stop();
    assert!(ok, "{log}");
    assert!(log.contains("POST /v1/chat/completions 200"), "{log}");
    assert_clean_log(&env, &log);
}

#[test]
fn the_responses_api_and_legacy_completions_are_bridged_onto_chat_completions() {
    let _machine = loaded();
    let env = Env::builder().keys(2).build();
    let proxy = Proxy::start(&env, &[]);
    let out = run_python("responses", &proxy.url, TOKEN);
    assert!(
        out.status.success(),
        "responses:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    // Four answered calls went upstream; the refused one spent no key.
    let stats = env.emulator.stats();
    assert_eq!(stats.requests, 4, "{:?}", stats.by_status);
    let (ok, log) = proxy.stop();
    assert!(ok, "{log}");
    assert!(log.contains("POST /v1/responses 200"), "{log}");
    assert_clean_log(&env, &log);
}

#[test]
fn anthropic_and_openai_sdks_reach_their_own_apis_through_the_proxy() {
    let _machine = loaded();
    for (flavor, mode, header) in [
        (
            jongler::emulator::Flavor::Anthropic,
            "anthropic",
            "x-api-key",
        ),
        (
            jongler::emulator::Flavor::Openai,
            "openai-native",
            "authorization",
        ),
    ] {
        let env = Env::builder().keys(2).flavor(flavor).build();
        let proxy = Proxy::start(&env, &[]);
        let out = run_python(mode, &proxy.url, TOKEN);
        assert!(
            out.status.success(),
            "{mode}:\n{}\n{}",
            stdout(&out),
            stderr(&out)
        );
        let stats = env.emulator.stats();
        // A pool key, in the API's own header; the client's token stays here.
        assert_eq!(stats.by_status.get(&200), Some(&1), "{:?}", stats.by_status);
        assert_eq!(stats.key_headers.keys().collect::<Vec<_>>(), [header]);
        assert!(
            stats
                .by_key
                .keys()
                .all(|k| env.keys.iter().any(|(_, v)| v == k))
        );
        assert!(!stats.by_key.contains_key(TOKEN));
        let (ok, log) = proxy.stop();
        assert!(ok, "{log}");
        assert_clean_log(&env, &log);
    }
}

#[test]
fn proxy_clients_and_cli_processes_share_one_pool() {
    let _machine = loaded();
    let env = Arc::new(
        Env::builder()
            .keys(3)
            .latency(Duration::from_millis(40))
            .build(),
    );
    let proxy = Proxy::start(&env, &[]);
    let url = format!("{}{GENERATE}", proxy.url);
    let proxied: Vec<_> = (0..4)
        .map(|t| {
            let url = url.clone();
            std::thread::spawn(move || {
                let c = client();
                for i in 0..8 {
                    let text = format!("proxy {t}-{i}");
                    let r = c
                        .post(&url)
                        .bearer_auth(TOKEN)
                        .body(prompt(&text))
                        .send()
                        .unwrap();
                    assert_eq!(r.status(), 200);
                    assert!(r.text().unwrap().contains(&format!("echo: {text}")));
                }
            })
        })
        .collect();
    let cli: Vec<_> = (0..4)
        .map(|t| {
            let env = env.clone();
            std::thread::spawn(move || {
                for i in 0..8 {
                    let text = format!("cli {t}-{i}");
                    let out = env.generate(&text, &[]);
                    assert_eq!(code(&out), 0, "{}", stderr(&out));
                    assert!(stdout(&out).contains(&format!("echo: {text}")));
                }
            })
        })
        .collect();
    for t in proxied.into_iter().chain(cli) {
        t.join().unwrap();
    }
    let stats = env.emulator.stats();
    assert_eq!(stats.by_status[&200], 64, "every call delivered");
    assert_eq!(stats.overlaps, 0, "no key in use twice at once");
    let (ok, log) = proxy.stop();
    assert!(ok, "{log}");
    for key in env.status()["keys"].as_array().unwrap() {
        assert_eq!(key["state"], "vacant", "{key}");
    }
}

#[test]
fn shutdown_finishes_requests_in_flight_and_releases_every_key() {
    let env = Env::builder()
        .keys(1)
        .latency(Duration::from_millis(800))
        .build();
    let proxy = Proxy::start(&env, &[]);
    let url = format!("{}{GENERATE}", proxy.url);
    let inflight = std::thread::spawn(move || {
        client()
            .post(&url)
            .bearer_auth(TOKEN)
            .body(prompt("last"))
            .send()
            .unwrap()
            .status()
    });
    assert!(env.wait_started("last", None));
    assert_eq!(env.key_state("key1").0, "locked");
    let (ok, log) = proxy.stop();
    assert!(ok, "{log}");
    assert_eq!(
        inflight.join().unwrap(),
        200,
        "the request in flight was finished"
    );
    assert!(log.contains("stopped; every held key is released"), "{log}");
    assert_eq!(env.key_state("key1").0, "vacant");
}

#[test]
fn listening_beyond_loopback_needs_a_token() {
    let env = Env::builder().keys(1).build();
    let out = env.run(&["serve", CONN, "--listen", "0.0.0.0:0"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("without a token"), "{}", stderr(&out));
}

#[test]
fn the_proxy_retries_on_another_key_and_says_503_when_none_is_left() {
    let env = Env::builder()
        .key("broken", jongler::emulator::Behavior::Invalid)
        .key("spent", jongler::emulator::Behavior::DailyExhausted)
        .keys(1)
        .build();
    let proxy = Proxy::start(&env, &["--wait", "0"]);
    let url = format!(
        "{}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        proxy.url
    );
    let c = client();
    let r = c
        .post(&url)
        .bearer_auth(TOKEN)
        .body(prompt("retried"))
        .send()
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "bad and spent keys were skipped before the first byte"
    );
    assert_eq!(
        r.text().unwrap().matches("data: ").count(),
        3,
        "the whole stream came through"
    );
    assert_eq!(env.key_state("broken").0, "error");
    assert_eq!(env.key_state("spent").0, "lockdown");
    // Hold the one good key: nothing is left within --wait 0.
    use jongler::pool::state::StateStore;
    let store = jongler::pool::files::FileStore::new(env.state(), CONN, &[]);
    let held = store.try_hold("key1").unwrap().unwrap();
    let r = c
        .post(format!("{}{GENERATE}", proxy.url))
        .bearer_auth(TOKEN)
        .body(prompt("none"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(
        r.headers().get("retry-after"),
        None,
        "a held key has no known return time"
    );
    let body: serde_json::Value = serde_json::from_str(&r.text().unwrap()).unwrap();
    assert_eq!(body["error"]["status"], "UNAVAILABLE");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no key"),
        "{body}"
    );
    drop(held);
    let (ok, log) = proxy.stop();
    assert!(ok, "{log}");
    assert_clean_log(&env, &log);
}

#[test]
fn a_versionless_path_gets_the_connectors_version_and_unknown_openai_routes_cost_no_key() {
    let env = Env::builder().keys(1).build();
    let proxy = Proxy::start(&env, &[]);
    let r = client()
        .post(format!(
            "{}/models/gemini-2.5-flash:generateContent",
            proxy.url
        ))
        .header("x-goog-api-key", TOKEN)
        .body(prompt("versionless"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().unwrap().contains("echo: versionless"));
    for path in ["/v1/files", "/v1/assistants", "/v1/fine_tuning/jobs"] {
        let r = client()
            .post(format!("{}{path}", proxy.url))
            .bearer_auth(TOKEN)
            .body("{}")
            .send()
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let body: serde_json::Value = serde_json::from_str(&r.text().unwrap()).unwrap();
        assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    }
    // Only the versionless request went upstream.
    assert_eq!(env.emulator.stats().requests, 1);
}

/// Regression: the 429 "every key is out" on `/v1/responses` came back in
/// Google's shape when the connector has the Responses API natively (as the
/// built-in OpenAI connector does): the route was worked out twice, once
/// without the connector's native routes. Bridged or native, an OpenAI
/// route gets OpenAI's shape.
#[test]
fn every_key_out_on_the_responses_route_is_openais_429_bridged_or_native() {
    for native in [true, false] {
        let mut builder = Env::builder().keys(1).exhausted("gemini-2.5-flash");
        if native {
            builder =
                builder.connector_field("openai_native_routes", serde_json::json!(["/responses"]));
        }
        let env = builder.build();
        let proxy = Proxy::start(&env, &[]);
        let r = client()
            .post(format!("{}/v1/responses", proxy.url))
            .bearer_auth(TOKEN)
            .body(r#"{"model": "gemini-2.5-flash", "input": "x"}"#)
            .send()
            .unwrap();
        assert_eq!(r.status(), 429, "native {native}");
        let body: serde_json::Value = serde_json::from_str(&r.text().unwrap()).unwrap();
        assert_eq!(
            body["error"]["code"], "rate_limit_exceeded",
            "native {native}: {body}"
        );
        assert_eq!(body["error"]["type"], "requests", "native {native}: {body}");
        assert!(
            body["error"].get("status").is_none(),
            "native {native}: {body}"
        );
        // The one 429 that taught the pool the day's quota is out.
        assert_eq!(env.emulator.stats().by_status.get(&429), Some(&1));
    }
}

#[test]
fn every_key_out_is_the_apis_own_429_with_when_and_no_retry_for_hours() {
    let env = Env::builder().keys(1).exhausted("gemini-2.5-flash").build();
    let proxy = Proxy::start(&env, &[]);
    // The OpenAI route: OpenAI's 429 shape.
    let r = client()
        .post(format!("{}/v1/chat/completions", proxy.url))
        .bearer_auth(TOKEN)
        .body(r#"{"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}]}"#)
        .send()
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["x-should-retry"], "false");
    assert!(r.headers().contains_key("retry-after"));
    let body: serde_json::Value = serde_json::from_str(&r.text().unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded", "{body}");
    // The native route: Gemini's RESOURCE_EXHAUSTED.
    let r = client()
        .post(format!("{}{GENERATE}", proxy.url))
        .bearer_auth(TOKEN)
        .body(prompt("x"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["x-should-retry"], "false");
    let retry_after: f64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&r.text().unwrap()).unwrap();
    assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED", "{body}");
    let midnight = jongler::daily::next_reset(jiff::Timestamp::now(), "America/Los_Angeles");
    let expected = midnight
        .duration_since(jiff::Timestamp::now())
        .as_secs_f64();
    assert!(
        (retry_after - expected).abs() < 5.0,
        "Retry-After {retry_after}, midnight Pacific in {expected}"
    );
    let (ok, log) = proxy.stop();
    assert!(ok, "{log}");
}

#[test]
fn large_bodies_pass_through() {
    let env = Env::builder().keys(1).build();
    let proxy = Proxy::start(&env, &[]);
    // Bigger than axum's default 2 MB limit, as an inline image would be.
    let text = "x".repeat(5 * 1024 * 1024);
    let r = client()
        .post(format!("{}{GENERATE}", proxy.url))
        .bearer_auth(TOKEN)
        .body(prompt(&text))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().unwrap().len() > 5 * 1024 * 1024);
    let (ok, log) = proxy.stop();
    assert!(ok, "{log}");
}

#[test]
fn a_sigkilled_proxy_strands_no_key() {
    let env = Env::builder()
        .keys(1)
        .latency(Duration::from_secs(3))
        .build();
    let mut proxy = Proxy::start(&env, &[]);
    let url = format!("{}{GENERATE}", proxy.url);
    let inflight = std::thread::spawn(move || {
        client()
            .post(&url)
            .bearer_auth(TOKEN)
            .body(prompt("cut"))
            .send()
            .is_err()
    });
    assert!(env.wait_started("cut", None));
    assert_eq!(env.key_state("key1").0, "locked");
    proxy.child.kill().unwrap(); // SIGKILL: no graceful anything
    proxy.child.wait().unwrap();
    assert!(
        inflight.join().unwrap(),
        "the client saw the connection drop"
    );
    env.emulator.set_latency(Duration::ZERO);
    let out = env.generate("after", &["--wait", "0"]);
    assert_eq!(code(&out), 0, "the key is free at once: {}", stderr(&out));
}

/// The engine issue: in one process a released key is handed straight to
/// the request waiting for it, not found by a later poll.
#[test]
fn a_freed_key_reaches_a_waiting_request_within_5ms() {
    let _machine = quiet();
    let env = Arc::new(
        Env::builder()
            .keys(1)
            .latency(Duration::from_millis(200))
            .build(),
    );
    let proxy = Arc::new(Proxy::start(&env, &[]));
    let post = |proxy: &Proxy, text: &str| {
        let r = client()
            .post(format!("{}{GENERATE}", proxy.url))
            .bearer_auth(TOKEN)
            .body(prompt(text))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{text}");
    };
    let mut gaps = Vec::new();
    for round in 0..5 {
        let (first, second) = (format!("first {round}"), format!("second {round}"));
        let (p, f) = (proxy.clone(), first.clone());
        let a = std::thread::spawn(move || post(&p, &f));
        assert!(env.wait_started(&first, None));
        let (p, s) = (proxy.clone(), second.clone());
        let b = std::thread::spawn(move || post(&p, &s));
        a.join().unwrap();
        b.join().unwrap();
        let (_, first_done) = env.emulator.times(&first).unwrap();
        let (second_arrived, _) = env.emulator.times(&second).unwrap();
        gaps.push(second_arrived.duration_since(first_done.unwrap()));
    }
    gaps.sort();
    eprintln!("hand-off gaps: {gaps:?}");
    assert!(
        gaps[gaps.len() / 2] < Duration::from_millis(5),
        "median hand-off {:?} (all: {gaps:?})",
        gaps[gaps.len() / 2]
    );
    assert_eq!(env.emulator.stats().overlaps, 0);
}

/// Peak RSS of a process, in MB.
fn peak_rss_mb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb / 1024
}

/// The hostile-clients issue: the token was checked only after the body was
/// read, so 32 uploads of 60 MB without a token took serve to 1.2 GB.
#[test]
fn uploads_without_the_token_are_refused_before_their_body_is_read() {
    use std::io::{Read, Write};
    let env = Env::builder().keys(1).build();
    let proxy = Proxy::start(&env, &[]);
    let addr = proxy.url.trim_start_matches("http://").to_string();
    let body_len = 60 * 1024 * 1024;
    let uploads: Vec<_> = (0..32)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut conn = std::net::TcpStream::connect(&addr).unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                write!(
                    conn,
                    "POST {GENERATE} HTTP/1.1\r\nHost: {addr}\r\nx-goog-api-key: wrong\r\n\
                     content-type: application/json\r\ncontent-length: {body_len}\r\n\r\n"
                )
                .unwrap();
                // Push the body until the server stops taking it.
                let chunk = vec![b' '; 1024 * 1024];
                let mut sent = 0;
                while sent < body_len && conn.write_all(&chunk).is_ok() {
                    sent += chunk.len();
                }
                let mut answer = String::new();
                let _ = conn.read_to_string(&mut answer);
                (sent, answer)
            })
        })
        .collect();
    for upload in uploads {
        let (sent, answer) = upload.join().unwrap();
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer:.200}");
        assert!(
            sent < body_len,
            "the connection was closed before the whole body was sent"
        );
    }
    let peak = peak_rss_mb(proxy.child.id());
    eprintln!("serve's peak RSS through 32 x 60 MB unauthenticated uploads: {peak} MB");
    assert!(peak < 200, "peak RSS {peak} MB");
    assert_eq!(env.emulator.stats().requests, 0);
}

#[test]
fn only_the_headers_the_api_needs_go_upstream() {
    let env = Env::builder().keys(1).build();
    let proxy = Proxy::start(&env, &[]);
    let r = client()
        .post(format!("{}{GENERATE}", proxy.url))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .header("x-goog-api-client", "genai-py/1.0")
        .header("x-forwarded-for", "10.0.0.1")
        .header("x-forwarded-host", "example.com")
        .header("x-forwarded-proto", "https")
        .header("forwarded", "for=10.0.0.1")
        .header("x-real-ip", "10.0.0.1")
        .header("cookie", "session=secret")
        .header("via", "1.1 proxy")
        .header("x-goog-user-project", "someone-elses-project")
        .header("x-http-method-override", "DELETE")
        .header("x-custom-hop", "1")
        .header("connection", "x-custom-hop")
        .body(prompt("headers"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = env.emulator.stats().header_names;
    for dropped in [
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "forwarded",
        "x-real-ip",
        "cookie",
        "via",
        "x-goog-user-project",
        "x-http-method-override",
        "x-custom-hop",
    ] {
        assert!(
            !seen.contains(dropped),
            "{dropped} reached the API: {seen:?}"
        );
    }
    assert!(seen.contains("x-goog-api-client") && seen.contains("content-type"));
}

#[test]
fn without_a_token_only_requests_naming_this_address_are_served() {
    use std::io::{Read, Write};
    let env = Env::builder().keys(1).build();
    let proxy = Proxy::with(&env, &[]);
    let addr = proxy.url.trim_start_matches("http://").to_string();
    let port = addr.rsplit(':').next().unwrap().to_string();
    let send = |extra: &str, host: &str| {
        let mut conn = std::net::TcpStream::connect(&addr).unwrap();
        let body = prompt("no token");
        write!(
            conn,
            "POST {GENERATE} HTTP/1.1\r\nHost: {host}\r\n{extra}content-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        answer
    };
    let local = format!("localhost:{port}");
    let answer = send("", &local);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:.300}");
    assert!(send("", &addr).starts_with("HTTP/1.1 200"));
    let before = env.emulator.stats().requests;
    for (extra, host) in [
        ("", "attacker.example".to_string()),
        ("", format!("attacker.example:{port}")),
        ("origin: http://attacker.example\r\n", local.clone()),
        ("origin: null\r\n", local.clone()),
    ] {
        let answer = send(extra, &host);
        assert!(
            answer.starts_with("HTTP/1.1 403"),
            "{extra}{host}: {answer:.200}"
        );
    }
    assert!(send(&format!("origin: http://{local}\r\n"), &local).starts_with("HTTP/1.1 200"));
    assert_eq!(
        env.emulator.stats().requests,
        before + 1,
        "no 403 spent a key"
    );
}

#[test]
fn the_token_can_come_from_a_file() {
    let env = Env::builder().keys(1).build();
    let file = env.dir.path().join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let proxy = Proxy::with(&env, &["--token-file", file.to_str().unwrap()]);
    let url = proxy.url.clone();
    let ok = client()
        .post(format!("{url}{GENERATE}"))
        .bearer_auth(TOKEN)
        .body(prompt("file"))
        .send()
        .unwrap();
    assert_eq!(ok.status(), 200);
    let wrong = client()
        .post(format!("{url}{GENERATE}"))
        .bearer_auth(format!("{TOKEN}x"))
        .body(prompt("file"))
        .send()
        .unwrap();
    assert_eq!(wrong.status(), 401);
    drop(proxy);
    std::fs::write(&file, "\n").unwrap();
    let out = env
        .cmd()
        .args(["serve", CONN, "--token-file"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("is empty"), "{}", stderr(&out));
}

/// The hostile-clients issue: only 4xx answers were masked; a key echoed in
/// a streamed 2xx answer reached the client whole.
#[test]
fn a_key_echoed_in_a_streamed_answer_arrives_masked() {
    let env = Env::builder().keys(1).build();
    let proxy = Proxy::start(&env, &[]);
    let (_, key) = &env.keys[0];
    for path in [
        "/v1beta/models/gemini-echo-key:streamGenerateContent?alt=sse",
        "/v1beta/models/gemini-echo-key:generateContent",
    ] {
        let r = client()
            .post(format!("{}{path}", proxy.url))
            .bearer_auth(TOKEN)
            .body(prompt("echo"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        let length = r.content_length();
        let body = r.text().unwrap();
        assert!(!body.contains(key.as_str()), "{path}: {body}");
        assert!(
            body.contains(&key[key.len() - 4..]) && body.contains("*****"),
            "{path}: the mask keeps the last 4 characters: {body}"
        );
        if let Some(length) = length {
            assert_eq!(length as usize, body.len(), "the length still holds");
        }
    }
}

/// The hostile-clients issue: the token estimate parsed a whole body into a
/// tree — 3 GB for one 67 MB `[0,0,…]`, 10 GB for four.
#[test]
fn huge_bodies_cost_about_their_size_and_no_more_are_buffered_than_the_cap() {
    let _machine = loaded();
    use std::io::{Read, Write};
    let env = Env::builder().keys(4).build();
    let proxy = Proxy::start(&env, &[]);
    let addr = proxy.url.trim_start_matches("http://").to_string();
    let mut body = String::with_capacity(64 * 1024 * 1024);
    body.push('[');
    while body.len() < 64 * 1024 * 1024 - 3 {
        body.push_str("0,");
    }
    body.push_str("0]");
    let body = Arc::new(body);
    let uploads: Vec<_> = (0..4)
        .map(|_| {
            let (addr, body) = (addr.clone(), body.clone());
            std::thread::spawn(move || {
                let mut conn = std::net::TcpStream::connect(&addr).unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                write!(
                    conn,
                    "POST {GENERATE} HTTP/1.1\r\nHost: {addr}\r\nx-goog-api-key: {TOKEN}\r\n\
                     content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                )
                .unwrap();
                let _ = conn.write_all(body.as_bytes());
                let mut answer = String::new();
                let _ = conn.read_to_string(&mut answer);
                answer.lines().next().unwrap_or("").to_string()
            })
        })
        .collect();
    let statuses: Vec<String> = uploads.into_iter().map(|u| u.join().unwrap()).collect();
    for status in &statuses {
        assert!(
            status.starts_with("HTTP/1.1 400") || status.starts_with("HTTP/1.1 503"),
            "{statuses:?}"
        );
    }
    assert!(
        statuses.iter().any(|s| s.contains("400")),
        "some went through: {statuses:?}"
    );
    let peak = peak_rss_mb(proxy.child.id());
    eprintln!("serve's peak RSS through four 64 MiB bodies: {peak} MB ({statuses:?})");
    assert!(peak < 200, "peak RSS {peak} MB");
}

/// The hostile-clients issue: four clients that read a little of a large
/// stream and then stopped held all four keys for as long as they liked.
#[test]
fn a_client_that_stops_reading_a_stream_loses_it_and_frees_its_key() {
    use std::io::{Read, Write};
    let env = Env::builder().keys(1).build();
    let proxy = Proxy::start(&env, &["--stall-timeout", "1"]);
    let addr = proxy.url.trim_start_matches("http://").to_string();
    let mut staller = std::net::TcpStream::connect(&addr).unwrap();
    let body = prompt("stall");
    write!(
        staller,
        "POST /v1beta/models/gemini-big-stream:streamGenerateContent?alt=sse HTTP/1.1\r\n\
         Host: {addr}\r\nx-goog-api-key: {TOKEN}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut first = [0u8; 200];
    staller.read_exact(&mut first).unwrap();
    assert!(String::from_utf8_lossy(&first).starts_with("HTTP/1.1 200"));
    // ... and reads nothing more, holding the connection open.
    let stalled = Instant::now();
    assert_eq!(env.key_state("key1").0, "locked");
    let mut freed = None;
    while stalled.elapsed() < Duration::from_secs(10) {
        if env.key_state("key1").0 == "vacant" {
            freed = Some(stalled.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let freed = freed.expect("the key is freed while the client still holds its connection");
    assert!(freed < Duration::from_secs(4), "freed after {freed:?}");
    let r = client()
        .post(format!("{}{GENERATE}", proxy.url))
        .bearer_auth(TOKEN)
        .body(prompt("next"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "the one key serves others again");
    drop(staller);
    let log = proxy.log();
    assert!(
        log.contains(" 499 ") && log.contains("client stalled"),
        "{log}"
    );
}

/// The hostile-clients issue: a client that left while its request waited
/// for a key still cost a full upstream request.
#[test]
fn a_request_abandoned_before_its_key_is_taken_sends_nothing() {
    use std::io::Write;
    let env = Arc::new(
        Env::builder()
            .keys(1)
            .latency(Duration::from_millis(1500))
            .build(),
    );
    let proxy = Arc::new(Proxy::start(&env, &[]));
    let p = proxy.clone();
    let first = std::thread::spawn(move || {
        client()
            .post(format!("{}{GENERATE}", p.url))
            .bearer_auth(TOKEN)
            .body(prompt("first"))
            .send()
            .unwrap()
            .status()
    });
    assert!(env.wait_started("first", None));
    let addr = proxy.url.trim_start_matches("http://").to_string();
    let mut quitter = std::net::TcpStream::connect(&addr).unwrap();
    let body = prompt("abandoned");
    write!(
        quitter,
        "POST {GENERATE} HTTP/1.1\r\nHost: {addr}\r\nx-goog-api-key: {TOKEN}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(quitter); // gone while its request waits for the one key
    assert_eq!(first.join().unwrap(), 200);
    std::thread::sleep(Duration::from_millis(500));
    let stats = env.emulator.stats();
    assert!(
        !stats.started.contains("abandoned"),
        "an abandoned request was sent: {stats:?}"
    );
    assert_eq!(stats.requests, 1);
    let log = proxy.log();
    assert!(
        log.contains("went away before its request was sent"),
        "{log}"
    );
    assert_eq!(env.key_state("key1").0, "vacant");
}

/// The hostile-clients issue: headers sent a byte a second, and idle
/// connections, were waited for forever.
#[test]
fn slow_headers_and_idle_connections_are_cut_off_by_the_header_timeout() {
    use std::io::{Read, Write};
    let env = Env::builder().keys(1).build();
    let proxy = Proxy::start(&env, &["--header-timeout", "2"]);
    let addr = proxy.url.trim_start_matches("http://").to_string();
    let opened = Instant::now();
    let idle: Vec<std::net::TcpStream> = (0..400)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    let mut slow = std::net::TcpStream::connect(&addr).unwrap();
    let line = format!("POST {GENERATE} HTTP/1.1\r\nHost: {addr}\r\n");
    let mut cut = None;
    for byte in line.bytes().cycle().take(40) {
        if slow.write_all(&[byte]).is_err() {
            cut = Some(opened.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
        slow.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 256];
        let closed = slow.read(&mut buf).is_ok();
        slow.set_nonblocking(false).unwrap();
        if closed {
            cut = Some(opened.elapsed());
            break;
        }
    }
    let cut = cut.expect("a header trickling in was cut off");
    assert!(cut < Duration::from_secs(5), "after {cut:?}");
    for mut conn in idle {
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 16];
        // Closed by the server: a read returns at once (EOF or reset), no timeout.
        let read = conn.read(&mut buf);
        assert!(
            !matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut),
            "an idle connection is still open: {read:?}"
        );
    }
    assert!(opened.elapsed() < Duration::from_secs(8));
    // And the server still serves.
    let r = client()
        .post(format!("{}{GENERATE}", proxy.url))
        .bearer_auth(TOKEN)
        .body(prompt("after"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// The hostile-clients issue: SIGTERM waited 44 s for one slow uploader.
#[test]
fn sigterm_with_a_slow_uploader_exits_within_the_shutdown_bound() {
    use std::io::Write;
    let env = Env::builder().keys(1).build();
    let mut proxy = Proxy::start(&env, &["--shutdown-timeout", "2"]);
    let addr = proxy.url.trim_start_matches("http://").to_string();
    let mut slow = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        slow,
        "POST {GENERATE} HTTP/1.1\r\nHost: {addr}\r\nx-goog-api-key: {TOKEN}\r\n\
         content-type: application/json\r\ncontent-length: 100000\r\n\r\n{{"
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let signalled = Instant::now();
    unsafe { libc::kill(proxy.child.id() as i32, libc::SIGTERM) };
    let status = proxy.child.wait().unwrap();
    let took = signalled.elapsed();
    assert!(took < Duration::from_secs(5), "exited after {took:?}");
    assert!(status.success(), "{status:?}");
    std::thread::sleep(Duration::from_millis(200)); // the log's last lines
    assert!(proxy.log().contains("closing them"), "{}", proxy.log());
    drop(slow);
}

/// Scrapes `/metrics` and parses it as Prometheus text.
fn scrape(url: &str, token: Option<&str>) -> (u16, Vec<prometheus_parse::Sample>) {
    let mut request = client().get(format!("{url}/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    let text = response.text().unwrap();
    if status != 200 {
        return (status, Vec::new());
    }
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
    (status, scrape.samples)
}

fn value(sample: &prometheus_parse::Sample) -> f64 {
    match &sample.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => *v,
        _ => 0.0,
    }
}

fn sum(samples: &[prometheus_parse::Sample], name: &str, label: Option<(&str, &str)>) -> f64 {
    samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
        .map(value)
        .sum()
}

#[test]
fn metrics_count_what_the_emulator_saw_and_need_the_token() {
    // Three keys, one request a key per 30 s: the fourth and later requests
    // meet 429s (learned, absorbed) and then no key.
    let env = Env::builder()
        .keys(3)
        .rate(1, Duration::from_secs(30))
        .build();
    let proxy = Proxy::start(&env, &["--wait", "1"]);
    let c = client();
    for i in 0..6 {
        let _ = c
            .post(format!("{}{GENERATE}", proxy.url))
            .header("x-goog-api-key", TOKEN)
            .body(prompt(&format!("metrics {i}")))
            .send()
            .unwrap();
    }
    let (status, _) = scrape(&proxy.url, None);
    assert_eq!(status, 401, "/metrics needs the token");
    let (status, samples) = scrape(&proxy.url, Some(TOKEN));
    assert_eq!(status, 200);
    let stats = env.emulator.stats();
    let upstream_200 = stats.by_status.get(&200).copied().unwrap_or(0) as f64;
    let upstream_429 = stats.by_status.get(&429).copied().unwrap_or(0) as f64;
    assert!(upstream_200 >= 3.0 && upstream_429 >= 1.0, "{stats:?}");
    assert_eq!(
        sum(
            &samples,
            "jongler_requests_total",
            Some(("status_class", "2xx"))
        ),
        upstream_200
    );
    assert_eq!(sum(&samples, "jongler_requests_total", None), 6.0);
    assert_eq!(
        sum(&samples, "jongler_rate_limited_total", None),
        upstream_429
    );
    // Per key, as the emulator counted them.
    for (name, key_value) in &env.keys {
        let ok = stats
            .by_key_status
            .get(key_value)
            .and_then(|m| m.get(&200))
            .copied()
            .unwrap_or(0) as f64;
        let counted: f64 = samples
            .iter()
            .filter(|s| s.metric == "jongler_requests_total")
            .filter(|s| {
                s.labels.get("key") == Some(name.as_str())
                    && s.labels.get("status_class") == Some("2xx")
            })
            .map(value)
            .sum();
        assert_eq!(counted, ok, "key {name}");
    }
    assert_eq!(sum(&samples, "jongler_keys", None), 3.0);
    assert_eq!(sum(&samples, "jongler_in_flight", None), 0.0);
    assert!(
        samples
            .iter()
            .any(|s| s.metric == "jongler_upstream_seconds_count" && value(s) >= upstream_200)
    );
    assert!(
        samples
            .iter()
            .any(|s| s.metric == "jongler_key_wait_seconds_count")
    );
    drop(proxy);

    // --metrics-public: /metrics without the token, nothing else.
    let proxy = Proxy::start(&env, &["--metrics-public"]);
    assert_eq!(scrape(&proxy.url, None).0, 200);
    let status = client()
        .get(format!("{}/status", proxy.url))
        .send()
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 401);
    // The favicon needs no token either (no 401 noise from browsers).
    let icon = client()
        .get(format!("{}/favicon.ico", proxy.url))
        .send()
        .unwrap();
    assert_eq!(icon.status().as_u16(), 200);
}

/// The last 3,000 characters of a process's stderr.
fn tail(out: &std::process::Output) -> String {
    let text = stderr(out);
    let chars: Vec<char> = text.chars().collect();
    chars[chars.len().saturating_sub(3000)..].iter().collect()
}

/// `RESULT client check outcome detail` lines → (client, check, outcome, detail).
fn results(out: &std::process::Output) -> Vec<(String, String, String, String)> {
    stdout(out)
        .lines()
        .filter_map(|l| l.strip_prefix("RESULT "))
        .map(|l| {
            let mut parts = l.splitn(4, ' ');
            let mut next = || parts.next().unwrap_or("").to_string();
            (next(), next(), next(), next())
        })
        .collect()
}

#[test]
fn the_client_matrix_python_and_javascript_sdks_work_unchanged() {
    // Alone: its stream checks time the chunks, and a client starved of CPU
    // by a neighbour (the 64 MB uploads) reads them all at once.
    let _alone = quiet();
    let env = Env::builder().keys(3).exhausted("gemini-2.5-pro").build();
    let proxy = Proxy::start(&env, &["--wait", "5"]);
    let matrix = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/matrix.py");
    let python_out = std::process::Command::new(python())
        .arg(&matrix)
        .args([&proxy.url, TOKEN, "google-genai", "openai"])
        .env("NO_PROXY", "*")
        .output()
        .unwrap();
    let litellm_out =
        std::process::Command::new(python_env("pyenv-litellm", "requirements-litellm.txt"))
            .arg(&matrix)
            .args([&proxy.url, TOKEN, "litellm"])
            .env("NO_PROXY", "*")
            // Its price list from the package, not the network.
            .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            .output()
            .unwrap();
    let node_dir = node_clients();
    let node_out = std::process::Command::new("node")
        .arg(node_dir.join("matrix.mjs"))
        .args([&proxy.url, TOKEN])
        .env("NO_PROXY", "*")
        .output()
        .unwrap();
    let mut all = results(&python_out);
    all.extend(results(&litellm_out));
    all.extend(results(&node_out));
    let checks = [
        "generate",
        "stream",
        "count-tokens",
        "models",
        "embedding",
        "responses",
        "wrong-token",
        "out-for-the-day",
    ];
    let mut clients: Vec<String> = Vec::new();
    for (client, ..) in &all {
        if !clients.contains(client) {
            clients.push(client.clone());
        }
    }
    let mut table = format!(
        "| client | {} |\n|---|{}\n",
        checks.join(" | "),
        "---|".repeat(checks.len())
    );
    for client in &clients {
        let cells: Vec<&str> = checks
            .iter()
            .map(|check| {
                all.iter()
                    .find(|(c, k, ..)| c == client && k == check)
                    .map_or("–", |(_, _, outcome, _)| match outcome.as_str() {
                        "ok" => "ok",
                        "n/a" => "n/a",
                        _ => "FAIL",
                    })
            })
            .collect();
        table.push_str(&format!("| {client} | {} |\n", cells.join(" | ")));
    }
    println!("{table}");
    let failures: Vec<String> = all
        .iter()
        .filter(|(_, _, outcome, _)| outcome != "ok" && outcome != "n/a")
        .map(|(c, k, _, d)| format!("{c} {k}: {d}"))
        .collect();
    assert!(
        failures.is_empty() && clients.len() == 7,
        "{table}\n{}\n--- python stderr\n{}\n--- litellm stderr\n{}\n--- node stderr\n{}",
        failures.join("\n"),
        tail(&python_out),
        tail(&litellm_out),
        tail(&node_out)
    );
    // No client's 404 cost a key: everything upstream was a real route.
    let stats = env.emulator.stats();
    assert_eq!(stats.by_status.get(&404), None, "{:?}", stats.by_status);
    let (ok, log) = proxy.stop();
    assert!(ok, "{log}");
    assert_clean_log(&env, &log);
}
