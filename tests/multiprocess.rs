//! Many `jongler` processes over few keys, some of them SIGKILLed mid-request:
//! no key is ever used twice at once, no key is stranded, every survivor gets
//! its own answer.

mod common;
use common::*;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn a_sigkilled_holders_key_is_free_again_at_once() {
    let _machine = loaded();
    let env = Env::builder()
        .keys(1)
        .latency(Duration::from_secs(3))
        .build();
    let mut holder = env
        .cmd()
        .args([CONN, "POST", GENERATE, &prompt("doomed")])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    assert!(env.wait_started("doomed", Some(&mut holder)));
    assert_eq!(env.key_state("key1").0, "locked");
    holder.kill().unwrap(); // SIGKILL
    holder.wait().unwrap();
    // The dead holder's .lock file is still there, but nobody holds it.
    assert!(env.state().join(format!("{CONN}_key1.lock")).exists());
    assert_eq!(env.key_state("key1").0, "vacant");
    env.emulator.set_latency(Duration::ZERO);
    let started = Instant::now();
    let out = env.generate("next", &["--wait", "0"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(stdout(&out).contains("echo: next"));
}

/// The engine issue: a process waiting for a key hears of its release (no
/// polling), so it gets the key within 20 ms.
#[test]
fn a_waiting_process_gets_a_key_released_by_another_within_20ms() {
    let _machine = quiet();
    use jongler::pool::state::StateStore;
    let env = Env::builder().keys(1).build();
    std::fs::create_dir_all(env.state()).unwrap();
    let store = jongler::pool::files::FileStore::new(env.state(), CONN, &[]);
    let mut gaps = Vec::new();
    for round in 0..5 {
        let hold = store.try_hold("key1").unwrap().unwrap();
        let text = format!("waiter {round}");
        let child = env
            .cmd()
            .args([CONN, "POST", GENERATE, &prompt(&text), "--wait", "30"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Long enough to be waiting; far shorter than the 250 ms fallback poll
        // would make a release found by polling look instant.
        std::thread::sleep(Duration::from_millis(600));
        assert!(env.emulator.times(&text).is_none(), "it waited");
        let released = Instant::now();
        drop(hold);
        let out = child.wait_with_output().unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let (arrived, _) = env.emulator.times(&text).unwrap();
        gaps.push(arrived.duration_since(released));
    }
    gaps.sort();
    eprintln!("release-to-request gaps: {gaps:?}");
    assert!(
        gaps[gaps.len() / 2] < Duration::from_millis(20),
        "median {:?} (all: {gaps:?})",
        gaps[gaps.len() / 2]
    );
    assert!(
        gaps[gaps.len() - 1] < Duration::from_millis(200),
        "{gaps:?}"
    );
}

/// The acceptance run: 320 calls from 32 processes at a time over 8
/// keys, every 10th SIGKILLed while its request is in flight.
#[test]
fn calls_from_32_processes_over_8_keys_with_10_percent_sigkilled() {
    let _machine = loaded();
    const SLOTS: usize = 32;
    const PER_SLOT: usize = 10;
    let env = Arc::new(
        Env::builder()
            .keys(8)
            .latency(Duration::from_millis(60))
            .build(),
    );
    let started = Instant::now();
    let command_env = env.clone();
    let stress = sigkill_stress(&env, SLOTS, PER_SLOT, move |_| command_env.cmd());
    let (delivered, killed) = (stress.delivered, stress.killed.len());
    let elapsed = started.elapsed();
    let stats = env.emulator.stats();
    eprintln!(
        "delivered {delivered}, killed {killed}, {} upstream requests, {elapsed:?}",
        stats.requests
    );
    assert_eq!(delivered + killed, SLOTS * PER_SLOT);
    assert_eq!(killed, 32);
    stress.assert_no_double_booking(&env);
    // Killed calls never get an answer: the server drops them with the connection.
    assert_eq!(
        stats.by_status.get(&200).copied().unwrap_or(0) as usize,
        delivered
    );
    assert_eq!(
        stats.requests as usize,
        SLOTS * PER_SLOT,
        "no call needed a retry"
    );
    assert_eq!(
        stats.by_key.len(),
        8,
        "every key was used: {:?}",
        stats.by_key
    );
    let status = env.status();
    for key in status["keys"].as_array().unwrap() {
        assert_eq!(
            key["state"], "vacant",
            "no key is LOCKED (or anything else) afterwards: {key}"
        );
    }
}

/// The control for the test above: the emulator's overlap count does see
/// double-booking when processes do not share a state dir.
#[test]
fn overlaps_are_detected_when_processes_do_not_share_state() {
    let _machine = loaded();
    let env = Arc::new(
        Env::builder()
            .keys(2)
            .latency(Duration::from_millis(150))
            .build(),
    );
    let children: Vec<_> = (0..8)
        .map(|i| {
            env.cmd()
                .env(
                    "JONGLER_STATE_DIR",
                    env.dir.path().join(format!("state-{i}")),
                )
                .args([CONN, "POST", GENERATE, &prompt(&format!("p{i}"))])
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    assert!(
        env.emulator.stats().overlaps > 0,
        "8 unshared processes over 2 keys must collide"
    );
}
