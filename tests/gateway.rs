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
