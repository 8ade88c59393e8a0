//! One call from the command line: what reaches stdout, stderr and the exit
//! code, and what each kind of answer does to the key that got it.

mod common;
use common::*;
use jongler::emulator::Behavior;
use std::time::{Duration, Instant};

#[test]
fn success_prints_only_the_body_and_sends_the_key_in_a_header() {
    let env = Env::builder().keys(2).build();
    let out = env.generate("hello there", &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let body: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is the JSON body alone");
    assert_eq!(
        body["candidates"][0]["content"]["parts"][0]["text"],
        "echo: hello there"
    );
    assert_eq!(stderr(&out), "", "nothing on stderr at the default level");
    let stats = env.emulator.stats();
    assert_eq!(stats.requests, 1);
    assert_eq!(stats.key_in_url, 0);
    assert_eq!(stats.no_key, 0);
}

#[test]
fn pretty_indents_and_include_adds_status_line_and_headers() {
    let env = Env::builder().keys(1).build();
    let out = env.generate("x", &["--pretty"]);
    assert_eq!(code(&out), 0);
    assert!(
        stdout(&out).starts_with("{\n  \"candidates\""),
        "{}",
        stdout(&out)
    );
    let out = env.generate("x", &["-i"]);
    let text = stdout(&out);
    assert!(text.starts_with("HTTP/1.1 200 OK\n"), "{text}");
    assert!(text.contains("\ncontent-type: application/json"), "{text}");
    assert!(text.contains("\n\n{\"candidates\""), "{text}");
}

#[test]
fn body_comes_from_stdin_or_a_file() {
    let env = Env::builder().keys(1).build();
    let mut child = env
        .cmd()
        .args([CONN, "POST", GENERATE, "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(prompt("from stdin").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("echo: from stdin"));

    let file = env.dir.path().join("body.json");
    std::fs::write(&file, prompt("from a file")).unwrap();
    let out = env.run(&[CONN, "POST", GENERATE, &format!("@{}", file.display())]);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("echo: from a file"));
}

#[test]
fn get_lists_models() {
    let env = Env::builder().keys(1).build();
    let out = env.run(&[CONN, "get", "/v1beta/models"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("models/gemini-2.5-flash"));
}

#[test]
fn requests_spread_over_the_keys() {
    let env = Env::builder().keys(4).build();
    for i in 0..8 {
        assert_eq!(code(&env.generate(&format!("n{i}"), &[])), 0);
    }
    let stats = env.emulator.stats();
    assert_eq!(stats.by_key.len(), 4, "{:?}", stats.by_key);
    assert!(
        stats.by_key.values().all(|&n| n == 2),
        "round robin: {:?}",
        stats.by_key
    );
}

#[test]
fn per_minute_429_locks_the_key_down_for_retry_delay_and_retries_on_another() {
    let env = Env::builder()
        .keys(2)
        .rate(1, Duration::from_secs(30))
        .build();
    assert_eq!(code(&env.generate("one", &[])), 0);
    let before = jiff::Timestamp::now();
    // The cursor sends this to key2 first; make key1 the one that 429s by using key2 up too.
    assert_eq!(code(&env.generate("two", &[])), 0);
    let out = env.generate("three", &["--wait", "0"]);
    assert_eq!(code(&out), 3, "both keys spent: {}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("rate limited until"), "{err}");
    assert!(
        err.contains("no key for `gemini-test`") || err.contains("every key"),
        "{err}"
    );
    for key in ["key1", "key2"] {
        let (state, until, reason) = env.key_state(key);
        assert_eq!(state, "lockdown");
        assert!(reason.as_str().unwrap().contains("PerMinute"), "{reason}");
        let until: jiff::Timestamp = until.as_str().unwrap().parse().unwrap();
        let secs = until.duration_since(before).as_secs_f64();
        assert!((25.0..=31.0).contains(&secs), "retryDelay ~30s, got {secs}");
    }
    assert_eq!(env.emulator.stats().by_status[&429], 2);
}

#[test]
fn a_rate_limited_key_is_skipped_and_the_call_goes_out_on_the_next() {
    let env = Env::builder()
        .key("spent", Behavior::DailyExhausted)
        .keys(1)
        .build();
    let out = env.generate("hi", &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("echo: hi"));
    assert!(
        stderr(&out).contains("key `spent` is rate limited"),
        "{}",
        stderr(&out)
    );
    // A second call does not touch the locked-down key at all.
    assert_eq!(code(&env.generate("again", &[])), 0);
    assert_eq!(env.emulator.stats().by_status[&429], 1);
}

#[test]
fn per_day_429_lasts_until_midnight_pacific_and_fails_at_once_saying_when() {
    let env = Env::builder()
        .key("daily", Behavior::DailyExhausted)
        .build();
    let started = Instant::now();
    let out = env.generate("hi", &[]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "must not wait for midnight"
    );
    let midnight = jongler::daily::next_reset(jiff::Timestamp::now(), "America/Los_Angeles");
    let (state, until, _) = env.key_state("daily");
    assert_eq!(state, "lockdown");
    let until: jiff::Timestamp = until.as_str().unwrap().parse().unwrap();
    assert_eq!(until, midnight);
    // The next call fails at once too, saying when the key comes back.
    let started = Instant::now();
    let out = env.generate("hi", &["--wait", "30"]);
    assert_eq!(code(&out), 3);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        stderr(&out).contains(&format!("{midnight:.0}")),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        env.emulator.stats().requests,
        1,
        "a locked-down key is not tried again"
    );
}

#[test]
fn invalid_and_suspended_keys_are_marked_error_and_never_used_again() {
    let env = Env::builder()
        .key("broken", Behavior::Invalid)
        .key("banned", Behavior::Suspended)
        .keys(1)
        .build();
    let out = env.generate("hi", &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(env.key_state("broken").0, "error");
    let (state, _, reason) = env.key_state("banned");
    assert_eq!(state, "error");
    assert!(
        reason.as_str().unwrap().contains("CONSUMER_SUSPENDED"),
        "{reason}"
    );
    assert!(
        !reason.as_str().unwrap().contains("SECRET"),
        "the 403 message echoes the key: masked"
    );
    for i in 0..3 {
        assert_eq!(code(&env.generate(&format!("{i}"), &[])), 0);
    }
    assert_eq!(
        env.emulator.stats().requests,
        6,
        "3 on the first call, then only the good key"
    );
    // Cleanup brings them back.
    let out = env.run(&["--cleanup", CONN]);
    assert_eq!(code(&out), 0);
    assert!(stderr(&out).contains("2 ERROR"), "{}", stderr(&out));
    assert_eq!(env.key_state("broken").0, "vacant");
}

#[test]
fn an_overloaded_answer_locks_no_key_and_another_key_answers() {
    let env = Env::builder()
        .key("busy", Behavior::Overloaded)
        .keys(1)
        .build();
    let out = env.generate("hi", &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        env.key_state("busy").0,
        "vacant",
        "503 is the model's trouble"
    );
    assert_eq!(env.key_state("key1").0, "vacant");
}

#[test]
fn a_passing_overload_is_waited_out_and_leaves_every_key_vacant() {
    let env = Env::builder().keys(3).build();
    env.emulator.overload(Some(Duration::from_secs(2)));
    let started = Instant::now();
    let out = env.generate("peak hour", &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("echo: peak hour"));
    assert!(started.elapsed() >= Duration::from_secs(2));
    let stats = env.emulator.stats();
    assert!(
        stats.by_status.get(&503).copied().unwrap_or(0) >= 2,
        "{stats:?}"
    );
    assert!(
        stats.requests <= 12,
        "backs off instead of hammering: {stats:?}"
    );
    for i in 1..=3 {
        assert_eq!(env.key_state(&format!("key{i}")).0, "vacant");
    }
    assert!(
        !std::fs::read_dir(env.state())
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".lockdown"))
    );
}

#[test]
fn an_overload_that_outlasts_the_wait_returns_the_503_with_exit_5_never_3() {
    let env = Env::builder().keys(2).build();
    env.emulator.overload(None);
    let started = Instant::now();
    let out = env.generate("never", &["--wait", "3"]);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("overloaded") && stdout(&out).contains("UNAVAILABLE"),
        "the 503 body is on stdout: {}",
        stdout(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(6), "within --wait");
    assert_eq!(env.key_state("key1").0, "vacant");
    assert_eq!(env.key_state("key2").0, "vacant");
    // With no wait at all, the first answer is the last.
    let before = env.emulator.stats().requests;
    let out = env.generate("never", &["--wait", "0"]);
    assert_eq!(code(&out), 5);
    assert_eq!(env.emulator.stats().requests, before + 1);
}

#[test]
fn a_callers_openai_style_body_exits_4_and_marks_no_key() {
    // Gemini's answer says "Invalid" and "token": words must not condemn the key.
    let env = Env::builder().keys(3).build();
    let body = r#"{"contents":[{"parts":[{"text":"hi"}]}],"max_tokens":5}"#;
    let out = env.run(&[CONN, "POST", GENERATE, body]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stdout(&out).contains(r#"Unknown name \"max_tokens\""#),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        env.emulator.stats().requests,
        1,
        "the caller's fault: no retry"
    );
    let markers: Vec<String> = std::fs::read_dir(env.state())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".error") || n.ends_with(".lockdown"))
        .collect();
    assert!(markers.is_empty(), "{markers:?}");
    let out = env.generate("still fine", &[]);
    assert_eq!(code(&out), 0);
}

#[test]
fn an_empty_200_is_asked_again_once_on_another_key() {
    let env = Env::builder().keys(3).build();
    let out = env.run(&[
        CONN,
        "POST",
        "/v1beta/models/gemini-empty:generateContent",
        &prompt("x"),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        env.emulator.stats().requests,
        2,
        "once more on another key, then the answer stands"
    );
    assert!(
        stderr(&out).contains("without a JSON body"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_callers_bad_request_is_returned_as_is_and_never_marks_the_key() {
    let env = Env::builder().keys(2).build();
    let out = env.run(&[CONN, "POST", GENERATE, "{}"]);
    assert_eq!(code(&out), 4);
    assert!(
        stdout(&out).contains("contents is not specified"),
        "the body is printed on 4"
    );
    let out = env.run(&[
        CONN,
        "POST",
        "/v1beta/models/no-such-model:generateContent",
        &prompt("x"),
    ]);
    assert_eq!(code(&out), 4);
    assert!(stdout(&out).contains("NOT_FOUND"));
    assert_eq!(
        env.emulator.stats().requests,
        2,
        "no retries on the caller's own errors"
    );
    // A 500 is the service's trouble: tried again after a pause, within
    // --wait, and in the end returned as it is (exit 5), no key touched.
    let out = env.run(&[
        "--wait",
        "1",
        CONN,
        "POST",
        "/v1beta/models/gemini-fail:generateContent",
        &prompt("x"),
    ]);
    assert_eq!(code(&out), 5);
    assert!(
        stdout(&out).contains("INTERNAL"),
        "the body is printed on 5"
    );
    let tries = env.emulator.stats().requests - 2;
    assert!((2..=5).contains(&tries), "{tries} tries within --wait 1");
    for key in ["key1", "key2"] {
        assert_eq!(env.key_state(key).0, "vacant");
    }
    assert!(!env.state().join(format!("{CONN}_key1.error")).exists());
}

#[test]
fn network_errors_retry_on_another_key_then_exit_1() {
    let env = Env::builder().keys(2).build();
    // Point the connector at a port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    std::fs::write(
        env.connectors().join(format!("{CONN}.json")),
        jongler::emulator::connector_json(CONN, closed),
    )
    .unwrap();
    let out = env.generate("hi", &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("could not connect"), "{err}");
    assert_eq!(err.matches("trying another key").count(), 2, "{err}");
    for key in ["key1", "key2"] {
        assert_eq!(
            env.key_state(key).0,
            "vacant",
            "a network error is not the key's fault"
        );
    }
    // Requests that never left (no connection was made) used no quota.
    for key in env.status()["keys"].as_array().unwrap() {
        assert_eq!(key["requests_today"], 0, "{key}");
    }
}

#[test]
fn a_call_waits_for_a_key_held_by_another_process() {
    let env = Env::builder()
        .keys(1)
        .latency(Duration::from_millis(700))
        .build();
    // Start one holder in the background, then a second call that must wait for it.
    let mut holder = env
        .cmd()
        .args([CONN, "POST", GENERATE, &prompt("holder")])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(env.wait_started("holder", None));
    let out = env.generate("waiter", &["--wait", "0"]);
    assert_eq!(code(&out), 3, "--wait 0 fails at once: {}", stderr(&out));
    assert!(
        stderr(&out).contains("in use by other processes"),
        "{}",
        stderr(&out)
    );
    let waited = Instant::now();
    let out = env.generate("waiter", &["--wait", "20"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("echo: waiter"));
    assert!(
        waited.elapsed() >= Duration::from_millis(300),
        "it waited for the holder"
    );
    assert!(holder.wait().unwrap().success());
    assert_eq!(env.emulator.stats().overlaps, 0);
}

#[test]
fn an_expired_lockdown_ends_by_itself_and_a_guessed_one_is_a_last_resort() {
    let env = Env::builder().keys(2).build();
    std::fs::create_dir_all(env.state()).unwrap();
    // key1: locked down until a time already past (the API said so).
    let past = serde_json::json!({"until": "2020-01-01T00:00:00Z", "reason": "old", "source": "retry-info",
                                  "since": "2019-12-31T23:59:00Z"});
    std::fs::write(
        env.state().join(format!("{CONN}_key1.lockdown")),
        past.to_string(),
    )
    .unwrap();
    // key2: an empty marker as api-jongler leaves them: LOCKDOWN for the default, a guess.
    std::fs::write(env.state().join(format!("{CONN}_key2.lockdown")), "").unwrap();
    assert_eq!(env.key_state("key1").0, "vacant");
    assert_eq!(env.key_state("key2").0, "lockdown");
    let out = env.generate("a", &[]);
    assert_eq!(code(&out), 0);
    assert!(
        !env.state().join(format!("{CONN}_key1.lockdown")).exists(),
        "the expired marker is tidied away"
    );
    // Hold key1 elsewhere: the only other key is in a guessed LOCKDOWN, tried as a last resort.
    use jongler::pool::state::StateStore;
    let store = jongler::pool::files::FileStore::new(env.state(), CONN, &[]);
    let _held = store.try_hold("key1").unwrap().unwrap();
    let out = env.generate("b", &["--wait", "0"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        env.key_state("key2").0,
        "vacant",
        "a success clears the LOCKDOWN"
    );
}

#[test]
fn empty_api_jongler_error_markers_are_honoured() {
    let env = Env::builder().keys(2).build();
    std::fs::create_dir_all(env.state()).unwrap();
    std::fs::write(env.state().join(format!("{CONN}_key1.error")), "").unwrap();
    for i in 0..3 {
        assert_eq!(code(&env.generate(&format!("{i}"), &[])), 0);
    }
    let stats = env.emulator.stats();
    assert_eq!(
        stats.by_key.len(),
        1,
        "key1 is never used: {:?}",
        stats.by_key
    );
    assert_eq!(env.key_state("key1").0, "error");
}

#[test]
fn all_keys_in_error_fails_at_once_with_the_cleanup_command() {
    let env = Env::builder().key("bad1", Behavior::Invalid).build();
    let out = env.generate("x", &[]);
    assert_eq!(code(&out), 3);
    let started = Instant::now();
    let out = env.generate("x", &["--wait", "30"]);
    assert_eq!(code(&out), 3);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "an ERROR key never counts as coming back"
    );
    assert!(
        stderr(&out).contains("jongler --cleanup gemini-test"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn status_lists_every_connector_and_cleanup_all_clears_them() {
    let env = Env::builder()
        .key("bad1", Behavior::Invalid)
        .keys(1)
        .build();
    assert_eq!(code(&env.generate("x", &[])), 0);
    let out = env.run(&["status"]);
    assert_eq!(code(&out), 0);
    let text = stdout(&out);
    assert!(
        text.contains("gemini-test") && text.contains("bad1") && text.contains("error"),
        "{text}"
    );
    let out = env.run(&["status", "--json"]);
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(all[0]["connector"], CONN);
    assert_eq!(all[0]["keys"][0]["state"], "error");
    assert_eq!(all[0]["keys"][1]["state"], "vacant");
    assert!(all[0]["keys"][1]["until"].is_null());
    let out = env.run(&["--cleanup-all"]);
    assert_eq!(code(&out), 0);
    assert_eq!(env.key_state("bad1").0, "vacant");
}

#[test]
fn secrets_stay_out_of_every_output_even_at_trace_level() {
    let env = Env::builder()
        .key("bad1", Behavior::Suspended)
        .key("rl", Behavior::DailyExhausted)
        .keys(1)
        .build();
    let out = env.generate("x", &["--log-level", "trace", "-i"]);
    assert_eq!(code(&out), 0);
    assert!(
        stderr(&out).contains("key `key1`"),
        "keys are named: {}",
        stderr(&out)
    );
    for (_, bytes) in env.state_snapshot() {
        let text = String::from_utf8_lossy(&bytes);
        for (_, value) in &env.keys {
            assert!(
                !text.contains(value.as_str()),
                "a key leaked into the state dir: {text}"
            );
        }
    }
}

#[test]
fn the_same_key_in_the_file_and_the_environment_is_used_once_without_a_warning() {
    let env = Env::builder().keys(2).build();
    let mut connector: serde_json::Value =
        serde_json::from_str(&env.emulator.connector_json(CONN)).unwrap();
    connector["key_env_prefix"] = "TEST_KEY".into();
    std::fs::write(
        env.connectors().join(format!("{CONN}.json")),
        connector.to_string(),
    )
    .unwrap();
    let out = env
        .cmd()
        .env("TEST_KEY_1", key_value("key1"))
        .args([CONN, "POST", GENERATE, &prompt("both")])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "",
        "as README shows it: nothing to warn about"
    );
    // Said at -v; and the same key twice in the file still warns.
    let out = env
        .cmd()
        .env("TEST_KEY_1", key_value("key1"))
        .args([CONN, "POST", GENERATE, &prompt("both"), "-v"])
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("holds the same key as `key1`"),
        "{}",
        stderr(&out)
    );
    std::fs::write(
        env.ini(),
        format!(
            "[{CONN}]\nkey1 = {}\nagain = {}\n",
            key_value("key1"),
            key_value("key1")
        ),
    )
    .unwrap();
    let out = env.generate("twice", &[]);
    assert!(
        stderr(&out).contains("`again` holds the same key as `key1`"),
        "{}",
        stderr(&out)
    );
    env.assert_no_secrets(&out);
}

#[test]
fn keys_from_gemini_api_key_n_and_a_user_connector_overriding_a_built_in() {
    let env = Env::builder().keys(2).build();
    let name = "generativelanguage.googleapis.com";
    let mut connector: serde_json::Value =
        serde_json::from_str(&env.emulator.connector_json(name)).unwrap();
    connector["key_env_prefix"] = "GEMINI_API_KEY".into();
    std::fs::write(
        env.connectors().join("gemini-override.json"),
        connector.to_string(),
    )
    .unwrap();
    let out = env
        .cmd()
        .env_remove("APIJONGLER_CONFIG")
        .env("GEMINI_API_KEY_1", key_value("key1"))
        .env("GEMINI_API_KEY_2", key_value("key2"))
        .args([name, "POST", GENERATE, &prompt("env keys")])
        .output()
        .unwrap();
    env.assert_no_secrets(&out);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("echo: env keys"));
    let out = env
        .cmd()
        .env("GEMINI_API_KEY_1", key_value("key1"))
        .args(["status", name, "--json"])
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["keys"][0]["name"], "GEMINI_API_KEY_1");
}

#[test]
fn a_call_waits_out_a_short_retry_delay_and_tries_the_key_again() {
    let env = Env::builder()
        .keys(1)
        .rate(1, Duration::from_millis(1500))
        .build();
    assert_eq!(code(&env.generate("first", &[])), 0);
    let started = Instant::now();
    let out = env.generate("second", &["--wait", "20"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("echo: second"));
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "it waited for the window"
    );
    assert!(
        stderr(&out).contains("is rate limited for `gemini-2.5-flash` until"),
        "{}",
        stderr(&out)
    );
    let stats = env.emulator.stats();
    assert_eq!(
        stats.by_status[&429], 1,
        "exactly one 429: the retry waited for retryDelay"
    );
    assert_eq!(stats.by_status[&200], 2);
}

#[test]
fn redirects_are_returned_not_followed_so_the_key_header_stays_home() {
    // A tiny server that answers every request with a redirect elsewhere.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let env = Env::builder().keys(1).build();
    let target = env.emulator.url();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = conn.read(&mut buf);
        let reply = format!(
            "HTTP/1.1 307 Temporary Redirect\r\nlocation: {target}/v1beta/models\r\ncontent-length: 0\r\n\r\n"
        );
        conn.write_all(reply.as_bytes()).unwrap();
    });
    std::fs::write(
        env.connectors().join(format!("{CONN}.json")),
        jongler::emulator::connector_json(CONN, addr),
    )
    .unwrap();
    let out = env.run(&[CONN, "GET", "/v1beta/models", "-i"]);
    assert_eq!(code(&out), 0, "3xx is success: {}", stderr(&out));
    assert!(stdout(&out).starts_with("HTTP/1.1 307"), "{}", stdout(&out));
    assert_eq!(
        env.emulator.stats().requests,
        0,
        "the redirect was not followed with the key"
    );
}

/// The engine issue: `--cleanup local` also removed `local_b_…` markers.
#[test]
fn cleanup_of_one_connector_leaves_a_connector_whose_name_extends_it() {
    let env = Env::builder().keys(1).build();
    let longer = format!("{CONN}_b");
    let mut connector: serde_json::Value =
        serde_json::from_str(&env.emulator.connector_json(&longer)).unwrap();
    connector["name"] = longer.clone().into();
    std::fs::write(
        env.connectors().join(format!("{longer}.json")),
        connector.to_string(),
    )
    .unwrap();
    std::fs::create_dir_all(env.state()).unwrap();
    for name in [format!("{CONN}_key1.error"), format!("{longer}_key1.error")] {
        std::fs::write(env.state().join(name), "").unwrap();
    }
    let out = env.run(&["--cleanup", CONN]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("1 ERROR"), "{}", stderr(&out));
    assert!(!env.state().join(format!("{CONN}_key1.error")).exists());
    assert!(
        env.state().join(format!("{longer}_key1.error")).exists(),
        "`{longer}`'s marker is not `{CONN}`'s"
    );
    let out = env.run(&["--cleanup-all"]);
    assert_eq!(code(&out), 0);
    assert!(!env.state().join(format!("{longer}_key1.error")).exists());
}

#[test]
fn a_bare_403_key_is_convicted_once_another_key_answers_the_same_request() {
    // Gemini's "reported as leaked": 403 PERMISSION_DENIED with no ErrorInfo.
    let env = Env::builder()
        .key("leaked", Behavior::Leaked)
        .keys(1)
        .build();
    let out = env.generate("hi", &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let (state, _, reason) = env.key_state("leaked");
    assert_eq!(state, "error", "{reason}");
    assert!(
        reason.as_str().unwrap().contains("PERMISSION_DENIED"),
        "{reason}"
    );
    let stats = env.emulator.stats();
    assert_eq!(stats.by_status.get(&403), Some(&1), "{stats:?}");
    assert_eq!(stats.by_status.get(&200), Some(&1), "{stats:?}");
    // Never used again.
    for i in 0..3 {
        assert_eq!(code(&env.generate(&format!("{i}"), &[])), 0);
    }
    assert_eq!(env.emulator.stats().by_status.get(&403), Some(&1));
    env.assert_no_secrets(&out);
}

#[test]
fn two_bare_403s_blame_the_request_return_the_first_answer_and_mark_no_key() {
    let env = Env::builder()
        .key("one", Behavior::Leaked)
        .key("two", Behavior::Leaked)
        .build();
    let out = env.generate("hi", &[]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("PERMISSION_DENIED"),
        "{}",
        stdout(&out)
    );
    assert_eq!(env.emulator.stats().by_status.get(&403), Some(&2));
    for key in ["one", "two"] {
        assert_eq!(env.key_state(key).0, "vacant", "{key}");
    }
}
