//! The state dir tells the truth at a glance: a listing alone gives every
//! key's state, as README's table says — `.lock` while a process holds the
//! key (or its holder died and nobody has looked since), `.lockdown` for a
//! key or some of its models set aside, `.error` for a bad key, nothing for
//! a VACANT one.

mod common;
use common::*;
use jongler::emulator::Behavior;
use std::collections::BTreeSet;
use std::process::{Child, Stdio};
use std::time::Duration;

/// The marker files of one key in the state dir, by extension.
fn markers(env: &Env, key: &str) -> BTreeSet<String> {
    let prefix = format!("{CONN}_{key}.");
    std::fs::read_dir(env.state())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_prefix(&prefix).map(str::to_string))
        .collect()
}

fn ini(env: &Env, keys: &[&str]) {
    let lines: String = keys
        .iter()
        .map(|k| format!("{k} = {}\n", key_value(k)))
        .collect();
    std::fs::write(env.ini(), format!("[{CONN}]\n{lines}")).unwrap();
}

fn call(env: &Env, text: &str) -> Child {
    env.cmd()
        .args([CONN, "POST", GENERATE, &prompt(text), "--wait", "30"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The key whose `.lock` names `pid`.
fn held_by(env: &Env, keys: &[&str], pid: u32) -> String {
    keys.iter()
        .find(|k| {
            std::fs::read_to_string(env.state().join(format!("{CONN}_{k}.lock")))
                .is_ok_and(|t| t.starts_with(&format!("pid {pid} since")))
        })
        .unwrap_or_else(|| panic!("no .lock names pid {pid}"))
        .to_string()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_listing_of_the_state_dir_gives_every_keys_state() {
    let env = Env::builder()
        .key("bad", Behavior::Invalid)
        .key("limited", Behavior::Exhausted)
        .key("model", Behavior::DailyExhausted)
        .key("live", Behavior::Valid)
        .key("killed", Behavior::Valid)
        .key("idle", Behavior::Valid)
        .latency(Duration::from_secs(4))
        .build();

    // ERROR, and a LOCKDOWN of the whole key (a 429 naming no quota).
    ini(&env, &["bad", "limited"]);
    let out = env.generate("bad and limited", &["--wait", "0"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    // A LOCKDOWN of one model (a per-day quota of that model ran out).
    ini(&env, &["bad", "limited", "model"]);
    let out = env.generate("for one model", &["--wait", "0"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));

    // One call holds a key; another is SIGKILLed while it holds one.
    let valid = ["live", "killed", "idle"];
    ini(&env, &["bad", "limited", "model", "live", "killed", "idle"]);
    let mut live = call(&env, "live call");
    assert!(env.wait_started("live call", Some(&mut live)));
    let mut killed = call(&env, "killed call");
    assert!(env.wait_started("killed call", Some(&mut killed)));
    let live_key = held_by(&env, &valid, live.id());
    let killed_key = held_by(&env, &valid, killed.id());
    killed.kill().unwrap();
    killed.wait().unwrap();
    let idle_key = valid
        .iter()
        .find(|k| **k != live_key && **k != killed_key)
        .unwrap()
        .to_string();

    // The listing alone.
    assert_eq!(markers(&env, "bad"), set(&["error"]));
    assert_eq!(markers(&env, "limited"), set(&["lockdown"]));
    assert_eq!(markers(&env, "model"), set(&["lockdown"]));
    assert_eq!(markers(&env, &live_key), set(&["lock"]));
    assert_eq!(
        markers(&env, &killed_key),
        set(&["lock"]),
        "until the next look"
    );
    assert!(markers(&env, &idle_key).is_empty(), "VACANT: no marker");
    // The markers say what README says they say.
    let read = |key: &str, ext: &str| -> serde_json::Value {
        let text =
            std::fs::read_to_string(env.state().join(format!("{CONN}_{key}.{ext}"))).unwrap();
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
    };
    assert!(
        read("limited", "lockdown").get("models").is_none(),
        "the whole key"
    );
    assert_eq!(
        read("model", "lockdown")["models"],
        serde_json::json!(["gemini-2.5-flash"])
    );
    assert!(read("model", "lockdown")["until"].is_string());
    let lock = read(&live_key, "lock");
    assert!(
        lock.as_str()
            .unwrap()
            .starts_with(&format!("pid {} since", live.id())),
        "the current holder: {lock}"
    );

    // `status` agrees, and is the next look that clears the dead holder's lock.
    let state = |key: &str| env.key_state(key).0;
    assert_eq!(state(&live_key), "locked");
    assert_eq!(state(&killed_key), "vacant");
    assert!(markers(&env, &killed_key).is_empty(), "the look removed it");
    assert_eq!(state("bad"), "error");
    assert_eq!(state("limited"), "lockdown");
    assert_eq!(state("model"), "lockdown");

    // Released: nothing left of the hold.
    assert!(live.wait().unwrap().success());
    assert!(
        markers(&env, &live_key).is_empty(),
        "{:?}",
        markers(&env, &live_key)
    );
    env.assert_no_secrets(&out);
}

#[test]
fn a_model_lockdowns_marker_goes_when_the_lockdown_ends() {
    let env = Env::builder()
        .keys(1)
        .rate(1, Duration::from_secs(2))
        .build();
    assert_eq!(code(&env.generate("one", &[])), 0);
    // The second is refused per minute for its model: a marker naming it.
    let out = env.generate("two", &["--wait", "0"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert_eq!(markers(&env, "key1"), set(&["lockdown"]));
    let text = std::fs::read_to_string(env.state().join(format!("{CONN}_key1.lockdown"))).unwrap();
    assert!(text.contains("gemini-2.5-flash"), "{text}");
    // Once it is over, the next call that takes the key tidies it away.
    std::thread::sleep(Duration::from_millis(2200));
    let out = env.generate("three", &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        markers(&env, "key1").is_empty(),
        "{:?}",
        markers(&env, "key1")
    );
}
