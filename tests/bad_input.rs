//! Each bad input gets a clear message, the right exit code, no panic, no
//! request sent and no state changed.

mod common;
use common::*;
use jongler::emulator::Behavior;
use std::process::Output;

/// Runs `args` with a prepared state dir and checks the invariants every bad
/// input shares; returns stderr.
fn refused(env: &Env, args: &[&str], want_code: i32) -> String {
    std::fs::create_dir_all(env.state()).unwrap();
    std::fs::write(env.state().join(format!("{CONN}_key1.error")), "").unwrap();
    let before = env.state_snapshot();
    let requests = env.emulator.stats().requests;
    let out: Output = env.run(args);
    let err = stderr(&out);
    assert_eq!(code(&out), want_code, "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.stdout.is_empty(), "nothing on stdout: {}", stdout(&out));
    assert_eq!(env.emulator.stats().requests, requests, "nothing was sent");
    assert_eq!(env.state_snapshot(), before, "the state dir is unchanged");
    err
}

fn env() -> Env {
    Env::builder().keys(2).build()
}

#[test]
fn unknown_connector() {
    let env = env();
    let err = refused(&env, &["no.such.api", "POST", GENERATE, "{}"], 2);
    assert!(err.contains("unknown connector `no.such.api`"), "{err}");
    assert!(err.contains("gemini-test"), "lists the known ones: {err}");
}

#[test]
fn missing_config_file() {
    let env = env();
    let missing = env.dir.path().join("nope.ini");
    let err = refused(
        &env,
        &[
            "--config",
            missing.to_str().unwrap(),
            CONN,
            "POST",
            GENERATE,
            "{}",
        ],
        2,
    );
    assert!(
        err.contains("nope.ini") && err.contains("does not exist"),
        "{err}"
    );
    // What to write, not a file only a checkout has.
    assert!(
        !err.contains("APIJongler.ini.example") && err.contains("`name = key` lines"),
        "{err}"
    );
}

#[test]
fn a_connector_file_whose_name_differs_is_named_as_the_reason() {
    let env = env();
    let mut other: serde_json::Value =
        serde_json::from_str(&env.emulator.connector_json("mismatch")).unwrap();
    other["name"] = "mismatch".into();
    std::fs::write(env.connectors().join("othername.json"), other.to_string()).unwrap();
    let err = refused(&env, &["othername", "POST", GENERATE, "{}"], 2);
    assert!(err.contains("othername.json defines `mismatch`"), "{err}");
    assert!(!err.contains("add othername.json"), "{err}");
}

#[test]
fn missing_section() {
    let env = env();
    std::fs::write(env.ini(), "[other]\nk = v\n").unwrap();
    let err = refused(&env, &[CONN, "POST", GENERATE, "{}"], 2);
    assert!(
        err.contains("no [gemini-test] section") && err.contains("keys.ini"),
        "{err}"
    );
}

#[test]
fn garbled_ini() {
    let env = env();
    std::fs::write(env.ini(), "[gemini-test\nkey1 = x\n").unwrap();
    let err = refused(&env, &[CONN, "POST", GENERATE, "{}"], 2);
    assert!(
        err.contains("keys.ini") && err.contains("not valid INI"),
        "{err}"
    );
}

#[test]
fn ini_errors_name_the_line_that_is_wrong() {
    let env = env();
    let secret = "AIzaSyNOT-TO-BE-SHOWN-0123456789abcdef";
    for (text, line, says) in [
        // A header without its ']' (rust-ini read on to the end).
        ("[gemini-test\nkey1 = x\n".to_string(), 1, "closing ']'"),
        (
            format!("# keys\n\n[other]\nk = v\n[gemini-test\nkey1 = {secret}\n"),
            5,
            "closing ']'",
        ),
        // Keys before any header; a line without '=' is never shown.
        (
            format!("gemini-test\nkey1 = {secret}\n"),
            1,
            "neither a [section] header nor a `name = key` line",
        ),
        (
            "key1 = x\n[gemini-test]\nkey2 = y\n".to_string(),
            1,
            "outside any [section]",
        ),
    ] {
        std::fs::write(env.ini(), &text).unwrap();
        let err = refused(&env, &[CONN, "POST", GENERATE, "{}"], 2);
        assert!(err.contains(&format!("line {line}:")), "{text:?}: {err}");
        assert!(err.contains(says), "{text:?}: {err}");
        assert!(!err.contains(secret) && !err.contains("\\n"), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
}

#[test]
fn malformed_connector_json_names_the_file() {
    let env = env();
    std::fs::write(
        env.connectors().join("broken.json"),
        "{\"name\": \"broken\", ",
    )
    .unwrap();
    let err = refused(&env, &[CONN, "POST", GENERATE, "{}"], 2);
    assert!(err.contains("broken.json"), "{err}");
}

#[test]
fn invalid_method() {
    let env = env();
    let err = refused(&env, &[CONN, "FETCH", GENERATE, "{}"], 2);
    assert!(err.contains("invalid method `FETCH`"), "{err}");
}

#[test]
fn hostile_key_names() {
    let env = env();
    for name in ["../../escape", ".hidden", "a/b", "sp ace"] {
        std::fs::write(
            env.ini(),
            format!("[{CONN}]\n{name} = AIzaSyTEST-x-0123456789abcdefSECRET\n"),
        )
        .unwrap();
        let err = refused(&env, &[CONN, "POST", GENERATE, "{}"], 2);
        assert!(
            err.contains("can't be used") && err.contains(&format!("[{CONN}]")),
            "{err}"
        );
    }
    assert!(!env.dir.path().join("escape.lock").exists());
}

#[test]
fn state_dir_that_is_a_file_or_cannot_be_created() {
    let env = env();
    let file = env.dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let err = refused(
        &env,
        &[
            "--state-dir",
            file.to_str().unwrap(),
            CONN,
            "POST",
            GENERATE,
            "{}",
        ],
        2,
    );
    assert!(
        err.contains("not a directory") && err.contains("a-file"),
        "{err}"
    );
    let under = file.join("state");
    let err = refused(
        &env,
        &[
            "--state-dir",
            under.to_str().unwrap(),
            CONN,
            "POST",
            GENERATE,
            "{}",
        ],
        2,
    );
    assert!(
        err.contains("state dir") && err.contains("a-file/state") && err.contains("--state-dir"),
        "{err}"
    );
    // /proc is read-only even for root.
    let err = refused(
        &env,
        &[
            "--state-dir",
            "/proc/jongler-state",
            CONN,
            "POST",
            GENERATE,
            "{}",
        ],
        2,
    );
    assert!(err.contains("/proc/jongler-state"), "{err}");
}

#[test]
fn unreadable_state_dir() {
    let env = env();
    // Permission bits do not stop root; only test them as another user.
    if unsafe { libc::geteuid() } == 0 {
        let err = refused(
            &env,
            &[
                "--state-dir",
                "/proc/self/fd/0/x",
                CONN,
                "POST",
                GENERATE,
                "{}",
            ],
            2,
        );
        assert!(err.contains("state dir"), "{err}");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let locked = env.dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let err = refused(
        &env,
        &[
            "--state-dir",
            locked.to_str().unwrap(),
            CONN,
            "POST",
            GENERATE,
            "{}",
        ],
        2,
    );
    assert!(err.contains("locked"), "{err}");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn non_json_body_with_pretty() {
    let env = env();
    let err = refused(
        &env,
        &[CONN, "POST", GENERATE, "not json at all", "--pretty"],
        2,
    );
    assert!(err.contains("not valid JSON"), "{err}");
}

#[test]
fn endpoint_without_a_slash_and_missing_arguments() {
    let env = env();
    let err = refused(&env, &[CONN, "POST", "v1beta/models"], 2);
    assert!(err.contains("must start with '/'"), "{err}");
    let err = refused(&env, &[CONN], 2);
    assert!(err.contains("<METHOD> <ENDPOINT>"), "{err}");
    let err = refused(&env, &[], 2);
    assert!(err.contains("<CONNECTOR>"), "{err}");
    let err = refused(&env, &[CONN, "POST", GENERATE, "@/no/such/file.json"], 2);
    assert!(err.contains("/no/such/file.json"), "{err}");
    let err = refused(&env, &[CONN, "GET", "/v1beta/models", "--wait=-1"], 2);
    assert!(err.contains("--wait"), "{err}");
    let err = refused(
        &env,
        &[CONN, "GET", "/v1beta/models", "--proxy", "::not a url::"],
        2,
    );
    assert!(err.contains("proxy"), "{err}");
}

#[test]
fn bad_key_behaviour_does_not_count_as_bad_input() {
    // The control: the same setup with good input does send and change state.
    let env = Env::builder().key("key1", Behavior::Valid).build();
    let out = env.generate("fine", &[]);
    assert_eq!(code(&out), 0);
    assert_eq!(env.emulator.stats().requests, 1);
}

#[test]
fn bad_input_does_not_even_create_the_state_dir() {
    let env = env();
    assert!(!env.state().exists());
    for args in [
        vec![CONN, "FETCH", GENERATE],
        vec![CONN, "POST", "no-slash"],
        vec![CONN, "POST", GENERATE, "{not json"],
    ] {
        let out = env.run(&args);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(!env.state().exists(), "{args:?} created the state dir");
    }
    assert_eq!(env.emulator.stats().requests, 0);
}
