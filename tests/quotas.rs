//! Quota-aware scheduling shared by every process: declared limits pace
//! requests, 429 bodies are learned from, per-day quotas lock one model,
//! groups share a bucket, the fallback chain, `check`, and no lost updates.

mod common;
use common::*;
use jongler::emulator::Behavior;
use serde_json::json;
use std::time::{Duration, Instant};

fn usage_total(env: &Env) -> u64 {
    use jongler::pool::state::{BucketId, StateStore};
    let store = jongler::pool::files::FileStore::new(env.state(), CONN, &[]);
    env.keys
        .iter()
        .map(|(name, _)| store.usage(&BucketId::Key(name.clone())))
        .flat_map(|u| u.buckets.into_values())
        .map(|b| b.day.requests.get("*").copied().unwrap_or(0))
        .sum()
}

#[test]
fn declared_limits_pace_requests_instead_of_collecting_429s() {
    let env = Env::builder()
        .keys(1)
        .rate(2, Duration::from_secs(1))
        .connector_field("limits", json!([{"requests": 2, "per": "1s"}]))
        .build();
    let started = Instant::now();
    for i in 0..6 {
        let out = env.generate(&format!("{i}"), &[]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "6 requests at 2/s take 2 s at least"
    );
    assert_eq!(
        env.emulator.stats().by_status.get(&429),
        None,
        "no 429 was needed"
    );
    let status = env.status();
    let usage = &status["keys"][0]["usage"][0];
    assert_eq!(usage["limit"], "2 requests/1s");
    assert_eq!(usage["learned"], false);
}

#[test]
fn a_429_teaches_the_limit_and_its_window() {
    let env = Env::builder()
        .keys(1)
        .rate(2, Duration::from_secs(1))
        .build();
    for i in 0..5 {
        let out = env.generate(&format!("{i}"), &[]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    let stats = env.emulator.stats();
    assert_eq!(
        stats.by_status[&429], 1,
        "one 429 to learn from, then paced: {:?}",
        stats.by_status
    );
    let status = env.status();
    let usage = &status["keys"][0]["usage"][0];
    assert_eq!(usage["learned"], true, "{status}");
    // The emulator says "PerMinute" but frees the window after 1 s: measured, not assumed.
    assert_eq!(
        usage["limit"], "2 requests/1s (gemini-2.5-flash)",
        "{status}"
    );
}

#[test]
fn a_per_day_429_locks_only_that_model_on_the_key() {
    let env = Env::builder().keys(1).exhausted("gemini-2.5-flash").build();
    let started = Instant::now();
    let out = env.generate("x", &["--wait", "30"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no waiting for midnight"
    );
    assert!(
        stderr(&out).contains("daily quotas reset then"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&[
        CONN,
        "POST",
        "/v1beta/models/gemini-2.5-flash-lite:generateContent",
        &prompt("lite"),
    ]);
    assert_eq!(
        code(&out),
        0,
        "the same key still serves another model: {}",
        stderr(&out)
    );
    let (state, until, reason) = env.key_state("key1");
    assert_eq!(state, "lockdown");
    assert!(
        reason
            .as_str()
            .unwrap()
            .starts_with("gemini-2.5-flash only"),
        "{reason}"
    );
    let midnight = jongler::daily::next_reset(jiff::Timestamp::now(), "America/Los_Angeles");
    assert_eq!(
        until.as_str().unwrap().parse::<jiff::Timestamp>().unwrap(),
        midnight
    );
    // --cleanup clears model lockdowns (and learned limits) too.
    let out = env.run(&["--cleanup", CONN]);
    assert!(stderr(&out).contains("1 LOCKDOWN"), "{}", stderr(&out));
    assert_eq!(env.key_state("key1").0, "vacant");
}

#[test]
fn the_fallback_chain_takes_over_when_every_key_is_out_for_the_day() {
    let env = Env::builder().keys(2).exhausted("gemini-2.5-flash").build();
    let out = env.generate("hi", &["--fallback-model", "gemini-2.5-flash-lite"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["modelVersion"], "gemini-2.5-flash-lite");
    assert!(
        stderr(&out).contains("every key is out of its daily quota for `gemini-2.5-flash`; falling back to `gemini-2.5-flash-lite`"),
        "{}",
        stderr(&out)
    );
    // The chain can live in the connector too; the next call falls back without asking flash again.
    let env2 = Env::builder()
        .keys(1)
        .exhausted("gemini-2.5-flash")
        .connector_field(
            "fallback_models",
            json!(["gemini-2.5-flash", "gemini-2.5-flash-lite"]),
        )
        .build();
    assert_eq!(code(&env2.generate("a", &[])), 0);
    assert_eq!(code(&env2.generate("b", &[])), 0);
    assert_eq!(
        env2.emulator.stats().by_status[&429],
        1,
        "flash was asked once, then skipped"
    );
}

#[test]
fn grouped_keys_share_one_bucket() {
    let env = Env::builder()
        .keys(3)
        .connector_field("limits", json!([{"requests": 2, "per": "30s"}]))
        .ini(&format!("[groups {CONN}]\nproject-a = key1, key2\n"))
        .build();
    let ok = (0..4)
        .map(|i| code(&env.generate(&format!("{i}"), &["--wait", "0"])))
        .collect::<Vec<_>>();
    assert_eq!(ok, [0, 0, 0, 0], "2 for the group, 2 for key3");
    let out = env.generate("5th", &["--wait", "0"]);
    assert_eq!(
        code(&out),
        3,
        "key1 and key2 share 2/30s; key3 has its own: {}",
        stderr(&out)
    );
    let status = env.status();
    assert_eq!(status["keys"][0]["group"], "project-a");
    assert_eq!(
        status["keys"][1]["usage"][0]["used"], 2,
        "key2 sees the group's count: {status}"
    );
    assert_eq!(status["keys"][2]["usage"][0]["used"], 2);
    // One line a key, with the limit closest to full …
    let table = stdout(&env.run(&["status", CONN]));
    assert!(table.contains("30s 2/2"), "{table}");
    assert!(table.contains("(group project-a)"), "{table}");
    // … and every limit with -v.
    let table = stdout(&env.run(&["status", CONN, "-v"]));
    assert!(
        table.contains("2 requests/30s: 2 used, 0 left, frees at"),
        "{table}"
    );
}

#[test]
fn a_429_on_one_key_locks_down_its_whole_group() {
    let env = Env::builder()
        .keys(3)
        .rate(1, Duration::from_secs(30))
        .ini(&format!("[groups {CONN}]\nproject-a = key1, key2\n"))
        .build();
    // key1 and key2 answer once each (the emulator counts per key), key3 once.
    for i in 0..3 {
        assert_eq!(code(&env.generate(&format!("{i}"), &["--wait", "0"])), 0);
    }
    // key1 429s: its group is locked down, so key2 is not tried; key3 429s too.
    let out = env.generate("more", &["--wait", "0"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let stats = env.emulator.stats();
    let key2 = key_value("key2");
    assert_eq!(
        stats.by_key[&key2], 1,
        "key2 was skipped with its group: {:?}",
        stats.by_key_status
    );
    assert_eq!(env.key_state("key2").0, "lockdown");
}

#[test]
fn no_update_is_lost_when_many_processes_record_at_once() {
    let env = Env::builder().keys(2).build();
    let children: Vec<_> = (0..8)
        .map(|p| {
            let script = (0..10)
                .map(|i| {
                    format!(
                        "\"$0\" {CONN} POST {GENERATE} '{}' >/dev/null || exit 1",
                        prompt(&format!("{p}-{i}"))
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            std::process::Command::new("sh")
                .arg("-c")
                .arg(script)
                .arg(env!("CARGO_BIN_EXE_jongler"))
                .envs(
                    env.cmd()
                        .get_envs()
                        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
                )
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    assert_eq!(env.emulator.stats().by_status[&200], 80);
    assert_eq!(usage_total(&env), 80, "every send was recorded");
}

#[test]
fn check_marks_bad_keys_and_clears_keys_that_work_again() {
    let env = Env::builder()
        .keys(1)
        .key("broken", Behavior::Invalid)
        .keys(0)
        .build();
    std::fs::create_dir_all(env.state()).unwrap();
    std::fs::write(env.state().join(format!("{CONN}_key1.error")), "").unwrap();
    let out = env.run(&["check", CONN]);
    assert_eq!(code(&out), 1, "not every key works");
    let text = stdout(&out);
    assert!(
        text.contains("key1    ok            works again: ERROR cleared"),
        "{text}"
    );
    assert!(
        text.contains("broken  bad") && text.contains("API_KEY_INVALID"),
        "{text}"
    );
    assert_eq!(env.key_state("key1").0, "vacant");
    assert_eq!(env.key_state("broken").0, "error");
    let out = env.run(&["check", CONN, "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report[1]["health"], "bad");
    // The stats prove each check went out: two per run.
    assert_eq!(env.emulator.stats().requests, 4);
}

#[cfg(target_os = "linux")]
#[test]
fn a_call_waiting_for_quota_room_sleeps_and_says_so_once() {
    let _alone = quiet();
    let env = Env::builder()
        .keys(1)
        .connector_field("limits", json!([{"requests": 2, "per": "6s"}]))
        .build();
    assert_a_wait_for_room_sleeps(&env, &[]);
    assert_eq!(env.emulator.stats().by_status.get(&429), None);
}

#[test]
fn check_of_a_big_pool_counts_outcomes_and_lists_only_the_keys_not_ok() {
    let env = Env::builder()
        .keys(43)
        .key("broken", Behavior::Invalid)
        .key("gone", Behavior::Suspended)
        .latency(Duration::from_millis(50))
        .build();
    let out = env.run(&["check", CONN]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "45 keys checked: 43 ok, 2 bad", "{text}");
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[1].starts_with("broken") && lines[2].starts_with("gone"),
        "{text}"
    );
    // Every key checked, each once, and the bad ones marked.
    assert_eq!(env.emulator.stats().requests, 45);
    assert_eq!(
        env.emulator.stats().overlaps,
        0,
        "one request a key at a time"
    );
    assert_eq!(env.key_state("gone").0, "error");
    // -v and --json give every key, in the pool's order.
    let out = env.run(&["check", CONN, "-v"]);
    assert_eq!(stdout(&out).lines().count(), 45);
    let out = env.run(&["check", CONN, "--json", "--concurrency", "3"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = report
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    let mut want: Vec<String> = (1..=43).map(|i| format!("key{i}")).collect();
    want.extend(["broken".into(), "gone".into()]);
    assert_eq!(names, want);
    env.assert_no_secrets(&out);
    let out = env.run(&["check", CONN, "--concurrency", "0"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

#[test]
fn check_takes_a_key_in_use_after_the_others_or_reports_it_busy() {
    let env = Env::builder()
        .keys(3)
        .latency(Duration::from_secs(3))
        .build();
    let mut call = env
        .cmd()
        .args([CONN, "POST", GENERATE, &prompt("holding")])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(env.wait_started("holding", Some(&mut call)));
    // The call goes on for its 3 s; the checks are answered at once.
    env.emulator.set_latency(Duration::ZERO);
    // Without waiting, the key in use is reported busy …
    let out = env.run(&["check", CONN, "--json", "--wait", "0"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let busy: Vec<&serde_json::Value> = report
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["health"] == "busy")
        .collect();
    assert_eq!(busy.len(), 1, "{report}");
    // … and with --wait it is checked once the call lets it go.
    let out = env.run(&["check", CONN, "--json", "--wait", "10"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(call.wait().unwrap().success());
    assert_eq!(env.emulator.stats().overlaps, 0);
}
