//! One pool for many machines: key state in Redis. "Machines" are groups of
//! processes that share nothing but the Redis URL (their own HOME, config
//! copy and state dir). Each test starts its own `redis-server`.

#![allow(clippy::disallowed_methods)] // a test client for serve

mod common;
use common::*;
use jongler::emulator::Behavior;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A `jongler` of "machine" `m`: its own HOME, INI copy and (unused) state dir.
fn machine(env: &Env, redis: &Redis, m: usize) -> std::process::Command {
    machine_at(env, &redis.url(), m)
}

/// [`machine`], reaching Redis at `url` (through a relay, say).
fn machine_at(env: &Env, url: &str, m: usize) -> std::process::Command {
    let home = env.dir.path().join(format!("machine-{m}"));
    std::fs::create_dir_all(home.join("connectors")).unwrap();
    let ini = home.join("keys.ini");
    if !ini.exists() {
        // Connectors first, the key file last and whole (renamed into place):
        // a process started for this machine meanwhile finds either nothing
        // (and copies too) or everything.
        let tmp = home.join(format!(".copy.{:?}", std::thread::current().id()));
        for entry in std::fs::read_dir(env.connectors()).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), &tmp).unwrap();
            std::fs::rename(&tmp, home.join("connectors").join(entry.file_name())).unwrap();
        }
        std::fs::copy(env.ini(), &tmp).unwrap();
        std::fs::rename(&tmp, &ini).unwrap();
    }
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_jongler"));
    cmd.env_clear()
        .env("HOME", &home)
        .env("NO_COLOR", "1")
        .env("APIJONGLER_CONFIG", &ini)
        .env("JONGLER_STATE_DIR", home.join("state"))
        .env("JONGLER_CONNECTORS_DIR", home.join("connectors"))
        .env("JONGLER_STATE", url)
        .stdin(Stdio::null());
    cmd
}

fn run(mut cmd: std::process::Command, args: &[&str]) -> std::process::Output {
    cmd.args(args).output().unwrap()
}

/// Starts a generate call for `text` on `cmd`'s machine, its output piped.
fn call(mut cmd: std::process::Command, text: &str, extra: &[&str]) -> std::process::Child {
    cmd.args([CONN, "POST", GENERATE, &prompt(text)])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn marks_made_on_one_machine_are_seen_on_another_and_cleaned_from_a_third() {
    let env = Env::builder()
        .keys(2)
        .key("broken", Behavior::Invalid)
        .build();
    let redis = Redis::start();
    for i in 0..4 {
        let out = run(
            machine(&env, &redis, 0),
            &[CONN, "POST", GENERATE, &prompt(&format!("a{i}"))],
        );
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        env.assert_no_secrets(&out);
    }
    let out = run(machine(&env, &redis, 1), &["status", CONN, "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let broken = status["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "broken")
        .unwrap();
    assert_eq!(broken["state"], "error", "{status}");
    assert!(
        !env.state().exists() && !env.dir.path().join("machine-0/state").exists(),
        "nothing in any state dir"
    );
    let stored = redis.keys("*");
    assert!(
        stored
            .iter()
            .all(|k| k.starts_with("jongler:{gemini-test}:")),
        "{stored:?}"
    );
    for (_, value) in &env.keys {
        assert!(
            !stored.iter().any(|k| k.contains(value.as_str())),
            "a key's value is in Redis"
        );
    }
    let out = run(machine(&env, &redis, 2), &["--cleanup", CONN]);
    assert!(stderr(&out).contains("1 ERROR"), "{}", stderr(&out));
    assert!(redis.keys("*:error:*").is_empty());
    // The bad key was used once only, by the first machine.
    assert_eq!(env.emulator.stats().by_status[&400], 1);
    // `check` from a fourth finds it bad again; `--cleanup-all` from a fifth clears it.
    let out = run(machine(&env, &redis, 3), &["check", CONN]);
    assert_eq!(code(&out), 1, "a bad key fails the check: {}", stderr(&out));
    assert!(stdout(&out).contains("bad"), "{}", stdout(&out));
    assert_eq!(redis.keys("*:error:*").len(), 1);
    let out = run(machine(&env, &redis, 4), &["--cleanup-all"]);
    assert!(stderr(&out).contains("1 ERROR"), "{}", stderr(&out));
    assert!(redis.keys("*:error:*").is_empty());
}

#[test]
fn a_live_holder_keeps_its_key_past_the_lease_ttl_by_renewing_it() {
    let env = Env::builder()
        .keys(1)
        .latency(Duration::from_millis(2500))
        .build();
    let redis = Redis::start();
    let holder = machine(&env, &redis, 0)
        .args(["--lease-ttl", "1", CONN, "POST", GENERATE, &prompt("long")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(env.wait_started("long", None));
    std::thread::sleep(Duration::from_millis(1600));
    let out = run(
        machine(&env, &redis, 1),
        &[
            "--lease-ttl",
            "1",
            CONN,
            "POST",
            GENERATE,
            &prompt("intruder"),
            "--wait",
            "0",
        ],
    );
    assert_eq!(code(&out), 3, "the key is still held: {}", stderr(&out));
    let out = holder.wait_with_output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!stderr(&out).contains("ran out"), "{}", stderr(&out));
    assert_eq!(env.emulator.stats().overlaps, 0);
}

#[test]
fn a_sigkilled_holders_key_comes_free_when_its_lease_runs_out() {
    let env = Env::builder()
        .keys(1)
        .latency(Duration::from_secs(5))
        .build();
    let redis = Redis::start();
    let mut holder = machine(&env, &redis, 0)
        .args([
            "--lease-ttl",
            "1",
            CONN,
            "POST",
            GENERATE,
            &prompt("doomed"),
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    assert!(env.wait_started("doomed", Some(&mut holder)));
    let out = run(machine(&env, &redis, 1), &["status", CONN]);
    assert!(stdout(&out).contains("locked"), "{}", stdout(&out));
    holder.kill().unwrap();
    holder.wait().unwrap();
    env.emulator.set_latency(Duration::ZERO);
    let killed = Instant::now();
    let out = run(
        machine(&env, &redis, 1),
        &[CONN, "POST", GENERATE, &prompt("next"), "--wait", "10"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let waited = killed.elapsed();
    assert!(
        waited < Duration::from_millis(2500),
        "free once the 1 s lease ran out: {waited:?}"
    );
    assert!(redis.keys("*:lease:*").is_empty(), "no lease is left");
}

/// The Redis issue's acceptance run: four "machines", 320 calls from 32
/// processes at a time over 8 keys, every tenth SIGKILLed mid-request.
#[test]
fn four_machines_share_one_pool_with_10_percent_sigkilled() {
    const SLOTS: usize = 32;
    const PER_SLOT: usize = 10;
    let env = Arc::new(
        Env::builder()
            .keys(8)
            .latency(Duration::from_millis(60))
            .build(),
    );
    let redis = Arc::new(Redis::start());
    let (command_env, command_redis) = (env.clone(), redis.clone());
    let stress = sigkill_stress(&env, SLOTS, PER_SLOT, move |slot| {
        let mut cmd = machine(&command_env, &command_redis, slot % 4);
        cmd.args(["--lease-ttl", "2"]);
        cmd
    });
    assert_eq!(stress.delivered, 288);
    assert_eq!(stress.killed.len(), 32);
    stress.assert_no_double_booking(&env);
    let stats = env.emulator.stats();
    assert_eq!(stats.by_key.len(), 8, "every key was used");
    std::thread::sleep(Duration::from_millis(2100));
    assert!(
        redis.keys("*:lease:*").is_empty(),
        "no lease is left once the TTL has passed"
    );
}

#[test]
fn redis_killed_mid_run_fails_closed_and_calls_work_again_once_it_is_back() {
    let env = Arc::new(
        Env::builder()
            .keys(4)
            .latency(Duration::from_millis(300))
            .build(),
    );
    let mut redis = Redis::start_settled();
    let url = redis.url();
    // Eight calls in flight or waiting when Redis dies.
    let children: Vec<_> = (0..8)
        .map(|i| {
            let text = format!("in flight {i}");
            let child = call(machine(&env, &redis, i % 2), &text, &["--wait", "5"]);
            (text, child)
        })
        .collect();
    assert!(env.wait_started("in flight 0", None) || env.wait_started("in flight 4", None));
    redis.kill();
    for (text, child) in children {
        let out = child.wait_with_output().unwrap();
        match code(&out) {
            0 => assert!(stdout(&out).contains(&format!("echo: {text}"))),
            1 => {
                let err = stderr(&out);
                assert!(
                    err.contains(&url) && err.contains("no request is sent without a lease"),
                    "{err}"
                );
                // If it failed, it was before its request went out or after.
                env.assert_no_secrets(&out);
            }
            other => panic!("{text}: exit {other}: {}", stderr(&out)),
        }
    }
    // While Redis is away: exit 1 with a clear message, nothing sent.
    let before = env.emulator.stats().requests;
    let out = run(
        machine(&env, &redis, 0),
        &[CONN, "POST", GENERATE, &prompt("away")],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("check that Redis is running"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        env.emulator.stats().requests,
        before,
        "no request without a lease"
    );
    let redis = redis.restart();
    env.emulator.set_latency(Duration::ZERO);
    let out = run(
        machine(&env, &redis, 1),
        &[CONN, "POST", GENERATE, &prompt("back")],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn serve_answers_503_while_redis_is_away_and_recovers_by_itself() {
    use std::io::BufRead;
    let env = Env::builder().keys(2).build();
    let redis = Redis::start();
    let mut serve = machine(&env, &redis, 0)
        .args(["serve", CONN, "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(serve.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_string();
    std::thread::spawn(move || for _ in lines {});
    let client = reqwest::blocking::Client::new();
    let post = |text: &str| {
        client
            .post(format!("{url}{GENERATE}"))
            .body(prompt(text))
            .send()
            .unwrap()
    };
    assert_eq!(post("one").status(), 200);
    let mut redis = redis;
    redis.kill();
    let before = env.emulator.stats().requests;
    let r = post("away");
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = serde_json::from_slice(&r.bytes().unwrap()).unwrap();
    assert_eq!(body["error"]["status"], "UNAVAILABLE", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("check that Redis is running"),
        "{body}"
    );
    assert_eq!(env.emulator.stats().requests, before);
    let _redis = redis.restart();
    assert_eq!(post("back").status(), 200, "no restart of serve needed");
    unsafe { libc::kill(serve.id() as i32, libc::SIGTERM) };
    assert!(serve.wait().unwrap().success());
}

#[test]
fn the_demo_runs_on_redis_and_leaves_no_marks() {
    let env = Env::builder().keys(1).build();
    let redis = Redis::start();
    let out = run(
        machine(&env, &redis, 0),
        &["demo", "--requests", "12", "--workers", "3", "--keys", "3"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("delivered 12/12"), "{}", stdout(&out));
    let left: Vec<String> = redis
        .keys("*")
        .into_iter()
        .filter(|k| k.contains(":lease:") || k.contains(":error:") || k.contains(":lockdown:"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_refused_password_is_named_without_the_password_and_nothing_is_sent() {
    let env = Env::builder().keys(1).build();
    let mut redis = Redis::start();
    redis.kill();
    let port = redis.port;
    let dir = tempfile::tempdir().unwrap();
    let mut guarded = std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--appendonly", "no", "--requirepass", "right-password"])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(10));
    }
    for (url, hint) in [
        (
            format!("redis://:wrong-password@127.0.0.1:{port}"),
            "check the user and password",
        ),
        (format!("redis://127.0.0.1:{port}"), "wants a password"),
    ] {
        let out = run(
            machine(&env, &redis, 0),
            &["--state", &url, CONN, "POST", GENERATE, &prompt("x")],
        );
        assert_eq!(code(&out), 1, "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(hint) && !err.contains("wrong-password"),
            "{err}"
        );
    }
    let out = run(
        machine(&env, &redis, 0),
        &[
            "--state",
            &format!("redis://:right-password@127.0.0.1:{port}"),
            CONN,
            "POST",
            GENERATE,
            &prompt("y"),
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        env.emulator.stats().requests,
        1,
        "only the call with a lease went out"
    );
    let _ = guarded.kill();
    let _ = guarded.wait();
}

#[cfg(target_os = "linux")]
#[test]
fn a_call_waiting_for_quota_room_on_redis_sleeps() {
    let _alone = quiet();
    let env = Env::builder()
        .keys(1)
        .connector_field("limits", serde_json::json!([{"requests": 2, "per": "6s"}]))
        .build();
    let redis = Redis::start_settled();
    assert_a_wait_for_room_sleeps(&env, &[("JONGLER_STATE", redis.url())]);
    assert!(redis.keys("*usage*").len() == 1, "the usage lives in Redis");
}

/// 24 calls from 24 processes over 16 keys, the upstream answering in 1.5 s:
/// while 16 hold keys and 8 wait, Redis loses everything (`lose`), and 8
/// more calls come at once. No key
/// is handed out again until every lease that may still be live has run
/// out: 0 double-booked; each call delivers its own answer or exits 1
/// naming the store; calls work afterwards, nothing restarted by hand.
fn no_double_booking_when_redis_loses_its_state(lose: impl FnOnce(Redis) -> Redis) {
    let env = Arc::new(
        Env::builder()
            .keys(16)
            .latency(Duration::from_millis(1500))
            .build(),
    );
    let redis = Redis::start_settled();
    let url = redis.url();
    let children: Vec<_> = (0..24)
        .map(|i| {
            let text = format!("call {i}");
            let child = call(machine(&env, &redis, i % 3), &text, &["--wait", "30"]);
            (text, child)
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while env.emulator.stats().in_flight < 16 {
        assert!(
            Instant::now() < deadline,
            "16 calls never held keys at once"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let redis = lose(redis);
    // Calls that come while the holders' requests are still in flight.
    let late: Vec<_> = (0..8)
        .map(|i| {
            let text = format!("late {i}");
            let child = call(machine(&env, &redis, i % 3), &text, &["--wait", "30"]);
            (text, child)
        })
        .collect();
    let (mut delivered, mut failed) = (0, 0);
    for (text, child) in children.into_iter().chain(late) {
        let out = child.wait_with_output().unwrap();
        env.assert_no_secrets(&out);
        match code(&out) {
            0 => {
                assert!(stdout(&out).contains(&format!("echo: {text}")), "{text}");
                delivered += 1;
            }
            1 => {
                assert!(stderr(&out).contains(&url), "{text}: {}", stderr(&out));
                failed += 1;
            }
            other => panic!("{text}: exit {other}: {}", stderr(&out)),
        }
    }
    let stats = env.emulator.stats();
    assert_eq!(
        stats.overlaps, 0,
        "double-booked: {:?}",
        stats.overlap_pairs
    );
    assert!(
        delivered >= 16,
        "the 16 in flight delivered: {delivered} delivered, {failed} failed"
    );
    env.emulator.set_latency(Duration::ZERO);
    let out = run(
        machine(&env, &redis, 1),
        &[CONN, "POST", GENERATE, &prompt("after")],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn redis_restarted_empty_double_books_nothing() {
    no_double_booking_when_redis_loses_its_state(|redis| redis.restart());
}

#[test]
fn redis_flushed_double_books_nothing() {
    no_double_booking_when_redis_loses_its_state(|redis| {
        assert_eq!(redis.command(&["FLUSHALL"]), "+OK");
        redis
    });
}

/// Machine A reaches Redis through a relay that stalls (forwards nothing,
/// closes nothing) while four of its calls hold keys, the upstream taking
/// 6 s; machine B keeps working. A can't renew its leases, so it stops its
/// requests before they could run out (exit 1, naming the lost hold, within
/// --timeout); B takes those keys once the leases run out: 0 double-booked.
/// Healed, both machines work.
#[test]
fn a_machine_cut_off_from_redis_stops_its_requests_before_its_leases_run_out() {
    let env = Arc::new(
        Env::builder()
            .keys(8)
            .latency(Duration::from_secs(6))
            .build(),
    );
    let redis = Redis::start_settled();
    let relay = Relay::start(redis.port);
    let spawn = |url: &str, m: usize, text: &str| {
        call(machine_at(&env, url, m), text, &["--timeout", "20"])
    };
    let a: Vec<_> = (0..4)
        .map(|i| spawn(&relay.url(), 0, &format!("a {i}")))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while env.emulator.stats().in_flight < 4 {
        assert!(Instant::now() < deadline, "A's calls never went out");
        std::thread::sleep(Duration::from_millis(5));
    }
    relay.stall();
    let stalled = Instant::now();
    let b: Vec<_> = (0..8)
        .map(|i| spawn(&redis.url(), 1, &format!("b {i}")))
        .collect();
    for child in a {
        let out = child.wait_with_output().unwrap();
        env.assert_no_secrets(&out);
        assert_eq!(code(&out), 1, "{}", stderr(&out));
        assert!(stderr(&out).contains("was lost"), "{}", stderr(&out));
    }
    assert!(
        stalled.elapsed() < Duration::from_secs(20),
        "A's calls ended within --timeout"
    );
    for (i, child) in b.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert!(stdout(&out).contains(&format!("echo: b {i}")));
    }
    let stats = env.emulator.stats();
    assert_eq!(
        stats.overlaps, 0,
        "double-booked: {:?}",
        stats.overlap_pairs
    );
    relay.heal();
    env.emulator.set_latency(Duration::ZERO);
    for (url, m) in [(relay.url(), 0), (redis.url(), 1)] {
        let out = run(
            machine_at(&env, &url, m),
            &[CONN, "POST", GENERATE, &prompt("healed")],
        );
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
}

/// Redis Sentinel: a master, a replica, three sentinels. Two machines —
/// `serve` with four clients, and CLI calls — work through
/// `redis+sentinel://`; the master is SIGKILLed under that load. The
/// sentinels promote the replica; both machines follow without a restart and
/// work again within the failover plus the fence (lease TTL + 1 s); 0
/// double-booked.
#[test]
fn sentinel_failover_is_followed_without_double_booking() {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};
    let _alone = quiet();
    let env = Arc::new(
        Env::builder()
            .keys(8)
            .latency(Duration::from_millis(300))
            .build(),
    );
    let mut set = Sentinels::start();
    let url = set.url();
    let proxy = Proxy::with(
        &env,
        &["--token", PROXY_TOKEN, "--state", &url, "--lease-ttl", "2s"],
    );
    let stop = Arc::new(AtomicBool::new(false));
    // (when it ended, whether it delivered), per machine.
    let served: Arc<Mutex<Vec<(Instant, bool)>>> = Arc::default();
    let called: Arc<Mutex<Vec<(Instant, bool)>>> = Arc::default();
    let mut load = Vec::new();
    for t in 0..4 {
        let (stop, served, target) = (
            stop.clone(),
            served.clone(),
            format!("{}{GENERATE}", proxy.url),
        );
        load.push(std::thread::spawn(move || {
            let client = reqwest::blocking::Client::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let text = format!("serve {t}-{i}");
                let ok = client
                    .post(&target)
                    .bearer_auth(PROXY_TOKEN)
                    .body(prompt(&text))
                    .send()
                    .is_ok_and(|r| r.status() == 200 && r.text().is_ok_and(|b| b.contains(&text)));
                served.lock().unwrap().push((Instant::now(), ok));
                if !ok {
                    std::thread::sleep(Duration::from_millis(100));
                }
                i += 1;
            }
        }));
    }
    for t in 0..2 {
        let (stop, called, env, url) = (stop.clone(), called.clone(), env.clone(), url.clone());
        load.push(std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let text = format!("cli {t}-{i}");
                let out = machine_at(&env, &url, 1)
                    .args([CONN, "POST", GENERATE, &prompt(&text), "--lease-ttl", "2s"])
                    .output()
                    .unwrap();
                let ok = code(&out) == 0 && stdout(&out).contains(&text);
                if !ok {
                    assert_eq!(code(&out), 1, "{}", stderr(&out));
                }
                called.lock().unwrap().push((Instant::now(), ok));
                i += 1;
            }
        }));
    }
    // Working on the first master (past the fence a new server puts up).
    let deadline = Instant::now() + Duration::from_secs(30);
    while served.lock().unwrap().iter().filter(|(_, ok)| *ok).count() < 8
        || called.lock().unwrap().iter().filter(|(_, ok)| *ok).count() < 2
    {
        assert!(Instant::now() < deadline, "no work before the failover");
        std::thread::sleep(Duration::from_millis(50));
    }
    set.master.kill();
    let killed = Instant::now();
    let promoted_in = set.wait_promoted(Duration::from_secs(30));
    let recovered = |log: &Mutex<Vec<(Instant, bool)>>| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some((t, _)) = log
                .lock()
                .unwrap()
                .iter()
                .find(|(t, ok)| *ok && *t > killed + promoted_in)
            {
                return *t - killed;
            }
            assert!(
                Instant::now() < deadline,
                "never worked again after the failover"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let (serve_back, cli_back) = (recovered(&served), recovered(&called));
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.join().unwrap();
    }
    eprintln!(
        "failover: promoted {promoted_in:?} after the kill; serve worked again after {serve_back:?}, the CLI after {cli_back:?}"
    );
    // The failover, the fence (2 s lease + 1 s) and a call's own time.
    let bound = promoted_in + Duration::from_secs(3) + Duration::from_secs(3);
    assert!(
        serve_back <= bound && cli_back <= bound,
        "{serve_back:?} / {cli_back:?} > {bound:?}"
    );
    let stats = env.emulator.stats();
    assert_eq!(
        stats.overlaps, 0,
        "double-booked: {:?}",
        stats.overlap_pairs
    );
    let (ok, log) = proxy.stop();
    assert!(ok, "{log}");
}
