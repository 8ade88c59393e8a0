//! `serve` as an always-on gateway: the key file, connector and clients
//! change under a running `serve` (real files, real edits, the emulator's
//! per-key counts); named clients with their own tokens, caps and limits.
#![allow(clippy::disallowed_methods)] // reqwest as the clients

mod common;
use common::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Writes `text` to `path` as an editor that saves safely does: a temp file
/// beside it, renamed over it.
fn save(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("ini.tmp-save");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn ini_of(names: impl Iterator<Item = String>) -> String {
    let mut ini = format!("[{CONN}]\n");
    for name in names {
        ini.push_str(&format!("{name} = {}\n", key_value(&name)));
    }
    ini
}

/// Waits for a log line containing `text` after the first `after` lines.
fn wait_log(proxy: &Proxy, after: usize, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = proxy.log.lock().unwrap()[after..].join("\n");
        if let Some(line) = log.lines().find(|l| l.contains(text)) {
            return line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no log line with {text:?} in:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn log_len(proxy: &Proxy) -> usize {
    proxy.log.lock().unwrap().len()
}

fn counts_of(env: &Env, names: &[String]) -> Vec<u64> {
    let stats = env.emulator.stats();
    names
        .iter()
        .map(|n| stats.by_key.get(&key_value(n)).copied().unwrap_or(0))
        .collect()
}

/// 64 keep-alive clients send without pause while the key file is edited
/// under `serve`: 8 keys added, 4 removed, a broken edit between two good
/// ones. Not one request fails; after the reload the removed keys get
/// nothing new and the added ones get their share.
#[test]
fn keys_added_and_removed_under_load_apply_without_a_failed_request() {
    let _machine = quiet();
    let env = Env::builder()
        .keys(16)
        // Slow enough that 56 of the 64 clients are always waiting for a
        // key: the reload finds calls waiting in the old pool.
        .latency(Duration::from_millis(100))
        .build();
    let first: Vec<String> = (1..=8).map(|i| format!("key{i}")).collect();
    save(&env.ini(), &ini_of(first.iter().cloned()));
    let proxy = Proxy::start(&env, &[]);
    let url = format!("{}{GENERATE}", proxy.url);
    let stop = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..64)
        .map(|t| {
            let (url, stop, failed, sent) =
                (url.clone(), stop.clone(), failed.clone(), sent.clone());
            std::thread::spawn(move || {
                let c = client();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let text = format!("c{t}-{i}");
                    let r = c
                        .post(&url)
                        .bearer_auth(PROXY_TOKEN)
                        .body(prompt(&text))
                        .send();
                    match r.map(|r| (r.status(), r.text().unwrap_or_default())) {
                        Ok((status, body)) if status == 200 && body.contains(&text) => {}
                        Ok((status, body)) => {
                            eprintln!("failed: {status} {body}");
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            eprintln!("failed: {e}");
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    sent.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));

    // A broken edit: refused, with the file and line; the old keys serve on.
    let mark = log_len(&proxy);
    std::fs::write(
        env.ini(),
        format!("{}[limits {CONN}\n", ini_of(first.iter().cloned())),
    )
    .unwrap();
    let refused = wait_log(&proxy, mark, "refused");
    assert!(
        refused.contains(&env.ini().display().to_string()) && refused.contains("line 10"),
        "the refusal names the file and line: {refused}"
    );
    std::thread::sleep(Duration::from_millis(500));

    // The good edit: key1-4 out, key9-16 in.
    let removed: Vec<String> = (1..=4).map(|i| format!("key{i}")).collect();
    let added: Vec<String> = (9..=16).map(|i| format!("key{i}")).collect();
    let mark = log_len(&proxy);
    save(&env.ini(), &ini_of((5..=16).map(|i| format!("key{i}"))));
    let line = wait_log(&proxy, mark, "reloaded");
    assert!(
        line.contains("+8 keys") && line.contains("-4 keys"),
        "the reload says what changed: {line}"
    );
    // Calls that had their key before the reload finish on it (one answer
    // takes 100 ms); calls waiting then go to the new pool.
    std::thread::sleep(Duration::from_millis(250));
    let removed_then = counts_of(&env, &removed);
    let added_then = counts_of(&env, &added);
    std::thread::sleep(Duration::from_millis(2000));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let removed_now = counts_of(&env, &removed);
    let added_now = counts_of(&env, &added);
    assert_eq!(failed.load(Ordering::Relaxed), 0, "{}", proxy.log());
    assert_eq!(
        removed_then, removed_now,
        "removed keys got requests after the reload"
    );
    for (name, (then, now)) in added.iter().zip(added_then.iter().zip(&added_now)) {
        assert!(
            now > then,
            "added key {name} got no requests: {then} → {now}"
        );
    }
    let stats = env.emulator.stats();
    assert_eq!(stats.overlaps, 0, "no key in use twice at once");
    assert!(sent.load(Ordering::Relaxed) > 150, "the load ran");
    let (ok, log) = proxy.stop();
    assert!(ok, "{log}");
    for (_, value) in &env.keys {
        assert!(!log.contains(value.as_str()), "a key value is in the log");
    }
}

/// SIGHUP reloads too; a pool emptied by an edit is refused.
#[test]
fn sighup_reloads_and_an_empty_pool_is_refused() {
    let env = Env::builder().keys(3).build();
    save(&env.ini(), &ini_of(["key1".to_string()].into_iter()));
    let proxy = Proxy::start(&env, &[]);
    let status = |p: &Proxy| -> serde_json::Value {
        let r = client()
            .get(format!("{}/status", p.url))
            .bearer_auth(PROXY_TOKEN)
            .send()
            .unwrap();
        serde_json::from_str(&r.text().unwrap()).unwrap()
    };
    assert_eq!(status(&proxy)["keys"].as_array().unwrap().len(), 1);
    // An edit nobody is told of (the watch is bypassed by writing in place
    // and signalling at once: whichever comes first reloads).
    let mark = log_len(&proxy);
    save(&env.ini(), &ini_of((1..=3).map(|i| format!("key{i}"))));
    unsafe { libc::kill(proxy.child.id() as i32, libc::SIGHUP) };
    wait_log(&proxy, mark, "reloaded");
    assert_eq!(status(&proxy)["keys"].as_array().unwrap().len(), 3);
    let mark = log_len(&proxy);
    save(&env.ini(), &format!("[{CONN}]\n"));
    let refused = wait_log(&proxy, mark, "refused");
    assert!(refused.contains("no keys"), "{refused}");
    assert_eq!(status(&proxy)["keys"].as_array().unwrap().len(), 3);
    let r = client()
        .post(format!("{}{GENERATE}", proxy.url))
        .bearer_auth(PROXY_TOKEN)
        .body(prompt("still here"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let (ok, log) = proxy.stop();
    assert!(ok, "{log}");
}

fn metric_sum(text: &str, name: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The most intervals that overlap at any moment.
fn most_at_once(mut spans: Vec<(Instant, Instant)>) -> usize {
    let mut edges: Vec<(Instant, i32)> = Vec::new();
    for (a, b) in spans.drain(..) {
        edges.push((a, 1));
        edges.push((b, -1));
    }
    // Ends before starts at the same instant.
    edges.sort_by_key(|&(t, d)| (t, d));
    let (mut now, mut most) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        most = most.max(now);
    }
    most as usize
}

/// Two clients with their own tokens: each one's requests are counted as
/// its own in `/metrics` and `/status`; one capped at 2 in flight never has
/// more at the upstream; one over its limit gets 429 with Retry-After; a
/// client removed from the file gets 401 at its next request.
#[test]
fn named_clients_are_counted_capped_limited_and_revoked() {
    let env = Env::builder()
        .keys(4)
        .latency(Duration::from_millis(60))
        .build();
    let clients = env.dir.path().join("clients.ini");
    let beta_digest = "sha256:".to_string() + &sha256_hex("beta-token-4567");
    let text = format!(
        "# who may use serve\n[client alpha]\ntoken = alpha-token-0123\n\n[client beta]\ntoken = {beta_digest}\nmax_in_flight = 2\npriority = low\n\n[client gamma]\ntoken = gamma-token-89ab\nlimits = 3/1h\n"
    );
    std::fs::write(&clients, &text).unwrap();
    let proxy = Proxy::with(&env, &["--clients", clients.to_str().unwrap()]);
    let url = format!("{}{GENERATE}", proxy.url);
    let send = |token: &str, text: &str| {
        let r = client()
            .post(&url)
            .bearer_auth(token)
            .body(prompt(text))
            .send()
            .unwrap();
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        (r.status().as_u16(), retry, r.text().unwrap())
    };
    for i in 0..10 {
        assert_eq!(send("alpha-token-0123", &format!("alpha {i}")).0, 200);
    }
    let beta: Vec<_> = (0..6)
        .map(|t| {
            let url = url.clone();
            std::thread::spawn(move || {
                for i in 0..2 {
                    let r = client()
                        .post(&url)
                        .header("x-goog-api-key", "beta-token-4567")
                        .body(prompt(&format!("beta {t}-{i}")))
                        .send()
                        .unwrap();
                    assert_eq!(r.status(), 200);
                }
            })
        })
        .collect();
    for t in beta {
        t.join().unwrap();
    }
    let spans: Vec<(Instant, Instant)> = (0..6)
        .flat_map(|t| (0..2).map(move |i| format!("beta {t}-{i}")))
        .map(|text| {
            let (start, end) = env.emulator.times(&text).expect("beta's request arrived");
            (start, end.expect("and was answered"))
        })
        .collect();
    assert_eq!(
        most_at_once(spans),
        2,
        "beta, capped at 2 in flight, had 2 at most (and used both)"
    );

    // gamma: 3 an hour.
    for i in 0..3 {
        assert_eq!(send("gamma-token-89ab", &format!("gamma {i}")).0, 200);
    }
    let (status, retry, body) = send("gamma-token-89ab", "gamma over");
    assert_eq!(status, 429, "{body}");
    assert!(
        body.contains("gamma") && body.contains("3 requests/1h"),
        "{body}"
    );
    let retry: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((3000..=3600).contains(&retry), "{retry}");
    assert!(
        env.emulator.times("gamma over").is_none(),
        "nothing sent upstream"
    );

    let metrics = client()
        .get(format!("{}/metrics", proxy.url))
        .bearer_auth("alpha-token-0123")
        .send()
        .unwrap()
        .text()
        .unwrap();
    let count = |who: &str| {
        metric_sum(
            &metrics,
            "jongler_requests_total",
            &format!("client=\"{who}\""),
        )
    };
    assert_eq!(count("alpha"), 10.0, "{metrics}");
    assert_eq!(count("beta"), 12.0, "{metrics}");
    assert_eq!(count("gamma"), 4.0, "{metrics}");
    assert_eq!(env.emulator.stats().requests, 25, "what the upstream saw");
    let status: serde_json::Value = serde_json::from_str(
        &client()
            .get(format!("{}/status", proxy.url))
            .bearer_auth("alpha-token-0123")
            .send()
            .unwrap()
            .text()
            .unwrap(),
    )
    .unwrap();
    let of = |who: &str| {
        status["clients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == who)
            .unwrap_or_else(|| panic!("no {who} in {status}"))
            .clone()
    };
    assert_eq!(of("alpha")["requests"], 10);
    assert_eq!(of("beta")["ok"], 12);
    assert_eq!(of("beta")["max_in_flight"], 2);
    assert_eq!(of("gamma")["throttled"], 1);

    // alpha is removed: its next request is refused.
    let mark = log_len(&proxy);
    save(
        &clients,
        &text.replace("[client alpha]\ntoken = alpha-token-0123\n", ""),
    );
    let line = wait_log(&proxy, mark, "clients reloaded");
    assert!(line.contains("-1 client(s) (alpha)"), "{line}");
    assert_eq!(send("alpha-token-0123", "alpha gone").0, 401);
    assert_eq!(
        send("gamma-token-89ab", "gamma still over").0,
        429,
        "gamma's window survives the reload"
    );
    let (ok, log) = proxy.stop();
    assert!(ok, "{log}");
    for token in ["alpha-token-0123", "beta-token-4567", "gamma-token-89ab"] {
        assert!(!log.contains(token), "a client's token is in the log");
    }
    assert!(
        log.contains("client=beta"),
        "the access log names the client"
    );
}

fn sha256_hex(text: &str) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(text.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

/// Sends `n` requests one after another through `proxy`; their latencies,
/// sorted.
fn interactive(proxy: &Proxy, n: usize, tag: &str) -> Vec<Duration> {
    let c = client();
    let url = format!("{}{GENERATE}", proxy.url);
    let mut took: Vec<Duration> = (0..n)
        .map(|i| {
            let text = format!("{tag} {i}");
            let start = Instant::now();
            let r = c
                .post(&url)
                .bearer_auth(PROXY_TOKEN)
                .body(prompt(&text))
                .send()
                .unwrap();
            assert_eq!(r.status(), 200);
            assert!(r.text().unwrap().contains(&text));
            start.elapsed()
        })
        .collect();
    took.sort();
    took
}

fn at(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

/// A 400-line `batch` (8 workers) in its own process, timed.
fn run_batch(env: &Env, extra: &[&str], lines: usize) -> Duration {
    let input = env.dir.path().join("in.txt");
    let out = env.dir.path().join("out.jsonl");
    let _ = std::fs::remove_file(&out);
    let text: String = (0..lines).map(|i| format!("batch line {i}\n")).collect();
    std::fs::write(&input, text).unwrap();
    let start = Instant::now();
    let status = env
        .cmd()
        .args(["batch", CONN, "POST", GENERATE, "--in"])
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .args([
            "--template",
            r#"{"contents":[{"parts":[{"text":"{{text}}"}]}]}"#,
        ])
        .args(["--concurrency", "8", "--progress-every", "0"])
        .args(extra)
        .status()
        .unwrap();
    assert!(status.success());
    let took = start.elapsed();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap().lines().count(),
        lines
    );
    took
}

/// Interactive requests through `serve` beside a `batch` saturating the
/// pool (8 keys, 500 ms answers): batch work is low priority, so each
/// interactive request gets the next key freed, in whichever process.
fn interactive_beside_batch(state: &[&str]) -> (Duration, Duration, Duration, Duration, f64) {
    let env = Env::builder()
        .keys(8)
        .latency(Duration::from_millis(500))
        .build();
    let mut args = vec!["--token", PROXY_TOKEN];
    args.extend_from_slice(state);
    let proxy = Proxy::with(&env, &args);
    let idle = interactive(&proxy, 20, "idle");
    let alone = run_batch(&env, state, 400);
    let batch = {
        let env = &env;
        std::thread::scope(|s| {
            let batch = s.spawn(move || run_batch(env, state, 400));
            // Once the batch holds the pool.
            std::thread::sleep(Duration::from_millis(1500));
            let busy = interactive(&proxy, 20, "busy");
            (batch.join().unwrap(), busy)
        })
    };
    let (beside, busy) = batch;
    let stats = env.emulator.stats();
    assert_eq!(stats.overlaps, 0, "no key in use twice at once");
    let (ok, log) = proxy.stop();
    assert!(ok, "{log}");
    (
        at(&idle, 0.5),
        at(&busy, 0.5),
        at(&idle, 0.9),
        at(&busy, 0.9),
        beside.as_secs_f64() / alone.as_secs_f64(),
    )
}

fn assert_interactive_goes_first(state: &[&str]) {
    let (idle_median, busy_median, idle_p90, busy_p90, batch_ratio) =
        interactive_beside_batch(state);
    let median = busy_median.as_secs_f64() / idle_median.as_secs_f64();
    let p90 = busy_p90.as_secs_f64() / idle_p90.as_secs_f64();
    eprintln!(
        "interactive beside batch{state:?}: median {median:.2}x, p90 {p90:.2}x of idle; batch {batch_ratio:.3}x of alone"
    );
    assert!(
        median <= 1.2,
        "median {median:.2}x of idle ({busy_median:?} vs {idle_median:?})"
    );
    assert!(
        p90 <= 1.4,
        "p90 {p90:.2}x of idle ({busy_p90:?} vs {idle_p90:?})"
    );
    assert!(
        batch_ratio <= 1.1,
        "the batch took {batch_ratio:.3}x its time alone"
    );
}

#[test]
fn interactive_requests_go_before_a_batch_across_processes() {
    let _machine = quiet();
    assert_interactive_goes_first(&[]);
}

#[test]
fn interactive_requests_go_before_a_batch_across_processes_on_redis() {
    let _machine = quiet();
    let redis = Redis::start();
    let url = redis.url();
    assert_interactive_goes_first(&["--state", &url]);
}

/// Starts `jongler <conn> POST <generate> <prompt text>` in the background.
fn call_in_background(env: &Env, text: &str, extra: &[&str]) -> std::process::Child {
    env.cmd()
        .args([CONN, "POST", GENERATE, &prompt(text)])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// When each call's request reached the upstream.
fn arrivals(env: &Env, texts: &[&str]) -> Vec<Instant> {
    texts
        .iter()
        .map(|t| {
            env.emulator
                .times(t)
                .unwrap_or_else(|| panic!("{t} never arrived"))
                .0
        })
        .collect()
}

/// One key, held; CLI processes line up for it: a higher priority first,
/// then in arrival order; a process killed while it waits leaves the line.
fn the_line_orders_processes(state: &[&str]) {
    let env = Env::builder()
        .keys(1)
        .latency(Duration::from_millis(400))
        .build();
    let mut extra = vec!["--wait", "60s"];
    extra.extend_from_slice(state);
    let with = |more: &[&str]| -> Vec<String> {
        extra.iter().chain(more).map(|s| s.to_string()).collect()
    };
    let spawn = |text: &str, more: &[&str]| {
        let args = with(more);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        call_in_background(&env, text, &args)
    };
    let mut holder = spawn("holder", &[]);
    assert!(env.wait_started("holder", Some(&mut holder)));
    let mut children = vec![holder];
    // Lined up while the key is held, 60 ms apart.
    for (text, priority) in [
        ("low 1", "low"),
        ("normal 1", "normal"),
        ("doomed", "high"),
        ("low 2", "low"),
        ("normal 2", "normal"),
        ("high 1", "high"),
    ] {
        children.push(spawn(text, &["--priority", priority]));
        std::thread::sleep(Duration::from_millis(60));
    }
    // "doomed" dies while it waits, at the head of the line.
    let doomed = &mut children[3];
    unsafe { libc::kill(doomed.id() as i32, libc::SIGKILL) };
    doomed.wait().unwrap();
    for child in &mut children {
        child.wait().unwrap();
    }
    let order = ["holder", "high 1", "normal 1", "normal 2", "low 1", "low 2"];
    let at = arrivals(&env, &order);
    for (pair, names) in at.windows(2).zip(order.windows(2)) {
        assert!(pair[0] < pair[1], "{} went before {}", names[1], names[0]);
    }
    assert!(
        env.emulator.times("doomed").is_none(),
        "a killed call sent nothing"
    );
    assert_eq!(env.emulator.stats().overlaps, 0);
}

#[test]
fn waiting_processes_take_the_key_by_priority_then_arrival() {
    the_line_orders_processes(&[]);
}

#[test]
fn waiting_processes_take_the_key_by_priority_then_arrival_on_redis() {
    let redis = Redis::start();
    let url = redis.url();
    the_line_orders_processes(&["--state", &url, "--lease-ttl", "1s"]);
}

/// The usage history counts each client's and key's requests, survives a
/// restart of `serve` and adds up across it; `status` shows it.
fn history_survives_a_restart(state: &[&str]) {
    let env = Env::builder().keys(3).build();
    let clients = env.dir.path().join("clients.ini");
    std::fs::write(
        &clients,
        "[client alpha]\ntoken = alpha-token-0123\n[client beta]\ntoken = beta-token-4567\n",
    )
    .unwrap();
    let mut args = vec!["--clients", clients.to_str().unwrap()];
    args.extend_from_slice(state);
    let run = |alpha: usize, beta: usize| {
        let proxy = Proxy::with(&env, &args);
        for (token, n) in [("alpha-token-0123", alpha), ("beta-token-4567", beta)] {
            for i in 0..n {
                let r = client()
                    .post(format!("{}{GENERATE}", proxy.url))
                    .bearer_auth(token)
                    .body(prompt(&format!("{token} {i}")))
                    .send()
                    .unwrap();
                assert_eq!(r.status(), 200);
            }
        }
        let (ok, log) = proxy.stop();
        assert!(ok, "{log}");
    };
    run(5, 3);
    run(2, 0);
    let mut status_args = vec!["status", CONN, "--json", "--history"];
    status_args.extend_from_slice(state);
    let out = env.run(&status_args);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let days = status["history"].as_array().expect("a history");
    assert_eq!(days.len(), 1, "{status}");
    let today = &days[0];
    assert_eq!(today["clients"]["alpha"]["requests"], 7, "{today}");
    assert_eq!(today["clients"]["beta"]["requests"], 3, "{today}");
    assert_eq!(today["total"]["requests"], 10, "{today}");
    let per_key: u64 = today["keys"]
        .as_object()
        .unwrap()
        .values()
        .map(|k| k["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(
        per_key,
        env.emulator.stats().requests,
        "the keys' counts are the upstream's"
    );
    assert!(today["total"]["tokens"].as_u64().unwrap() > 0);
    assert!(
        today["clients"]["alpha"]["tokens"].as_u64().unwrap() > 0,
        "{today}"
    );
    let mut text_args = vec!["status", CONN, "--history"];
    text_args.extend_from_slice(state);
    let text = stdout(&env.run(&text_args));
    assert!(
        text.contains("client alpha") && text.contains(today["date"].as_str().unwrap()),
        "{text}"
    );
}

#[test]
fn history_survives_a_restart_on_files() {
    history_survives_a_restart(&[]);
}

#[test]
fn history_survives_a_restart_on_redis() {
    let redis = Redis::start();
    let url = redis.url();
    history_survives_a_restart(&["--state", &url]);
}

/// `jongler keys import` and `keys remove` beside a running `serve`: it
/// picks the change up without a restart.
#[test]
fn serve_picks_up_keys_imported_and_removed_from_the_command_line() {
    let env = Env::builder().keys(6).build();
    save(&env.ini(), &ini_of((1..=2).map(|i| format!("key{i}"))));
    let proxy = Proxy::start(&env, &[]);
    let names = |p: &Proxy| -> Vec<String> {
        let r = client()
            .get(format!("{}/status", p.url))
            .bearer_auth(PROXY_TOKEN)
            .send()
            .unwrap();
        let status: serde_json::Value = serde_json::from_str(&r.text().unwrap()).unwrap();
        status["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&proxy).len(), 2);
    let new_keys = env.dir.path().join("new-keys.txt");
    let values: String = (3..=6)
        .map(|i| format!("{}\n", key_value(&format!("key{i}"))))
        .collect();
    std::fs::write(&new_keys, values).unwrap();
    let mark = log_len(&proxy);
    let out = env.run(&["keys", "import", CONN, new_keys.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let line = wait_log(&proxy, mark, "reloaded");
    assert!(line.contains("+4 keys"), "{line}");
    assert_eq!(names(&proxy).len(), 6);
    // Every key, the imported ones too, answers through serve.
    for i in 0..12 {
        let r = client()
            .post(format!("{}{GENERATE}", proxy.url))
            .bearer_auth(PROXY_TOKEN)
            .body(prompt(&format!("after import {i}")))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    assert_eq!(env.emulator.stats().by_key.len(), 6, "every key was used");
    let mark = log_len(&proxy);
    let out = env.run(&["keys", "remove", CONN, "key1"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let line = wait_log(&proxy, mark, "reloaded");
    assert!(line.contains("-1 key (key1)"), "{line}");
    assert!(!names(&proxy).contains(&"key1".to_string()));
    let (ok, log) = proxy.stop();
    assert!(ok, "{log}");
    for (_, value) in &env.keys {
        assert!(!log.contains(value.as_str()), "a key value is in the log");
    }
}

/// A limit added to the key file under a running `serve` paces the next
/// requests (the sends before it count in its window); the reload says
/// which limits changed.
#[test]
fn a_changed_limit_applies_to_the_next_request() {
    let env = Env::builder().keys(1).build();
    let proxy = Proxy::start(&env, &["--wait", "0"]);
    let send = |text: &str| {
        client()
            .post(format!("{}{GENERATE}", proxy.url))
            .bearer_auth(PROXY_TOKEN)
            .body(prompt(text))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    for i in 0..3 {
        assert_eq!(send(&format!("before {i}")), 200);
    }
    let mark = log_len(&proxy);
    save(
        &env.ini(),
        &format!(
            "{}[limits {CONN}]\ngemini-2.5-flash = 4/1h\n",
            ini_of(["key1".to_string()].into_iter())
        ),
    );
    let line = wait_log(&proxy, mark, "reloaded");
    assert!(
        line.contains("limits changed for gemini-2.5-flash"),
        "{line}"
    );
    assert_eq!(send("after 1"), 200);
    assert_eq!(send("after 2"), 429, "the new limit holds at once");
    assert_eq!(
        env.emulator.stats().requests,
        4,
        "nothing sent past the limit"
    );
    let (ok, log) = proxy.stop();
    assert!(ok, "{log}");
}

/// A waiting call whose process is stopped (^Z) stays first in the line, but
/// holds the others back only for a while: they take the free key after it.
#[test]
fn a_stopped_waiter_does_not_hold_the_line_for_good() {
    let env = Env::builder()
        .keys(1)
        .latency(Duration::from_millis(1500))
        .build();
    let mut holder = call_in_background(&env, "holder", &[]);
    assert!(env.wait_started("holder", Some(&mut holder)));
    let mut stopped = call_in_background(&env, "stopped", &["--wait", "60s"]);
    std::thread::sleep(Duration::from_millis(300));
    unsafe { libc::kill(stopped.id() as i32, libc::SIGSTOP) };
    let started = Instant::now();
    let out = env.generate("behind it", &["--wait", "20s"]);
    let took = started.elapsed();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        took < Duration::from_secs(8),
        "waited {took:?} behind a stopped call"
    );
    unsafe { libc::kill(stopped.id() as i32, libc::SIGKILL) };
    stopped.wait().unwrap();
    holder.wait().unwrap();
    assert!(env.emulator.times("stopped").is_none());
    assert_eq!(env.emulator.stats().overlaps, 0);
}
