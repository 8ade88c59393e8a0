//! The CLI speaks in one voice: every diagnostic `jongler: …`, durations as
//! limits are written, "did you mean", refusals before anything is sent,
//! Ctrl-C and the terminal's last line.

mod common;

use common::{CONN, Env, GENERATE, code, prompt, stderr, stdout};
use std::time::Duration;

#[test]
fn parse_errors_speak_as_jongler_and_exit_2() {
    let env = Env::builder().keys(1).build();
    for (args, says) in [
        (vec!["--wait", "10x"], "is not a duration"),
        (vec!["--wait", "-1"], "is not a duration ≥ 0"),
        (vec!["--timeout", "soon"], "is not a duration"),
        (vec!["--bogus"], "unexpected argument '--bogus'"),
    ] {
        let mut all = vec![CONN, "POST", GENERATE];
        all.extend(&args);
        let out = env.run(&all);
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "{args:?}: {err}");
        assert!(err.starts_with("jongler: error: "), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // A subcommand's errors too.
    let out = env.run(&["status", "--bogus"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).starts_with("jongler: error: "),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.emulator.stats().requests, 0);
}

#[test]
fn durations_are_written_as_limits_are() {
    let env = Env::builder().keys(1).build();
    let out = env.generate("hi", &["--wait", "500ms", "--timeout", "2m"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = env.generate("hi", &["--wait", "1.5", "--timeout", "1h 30m"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // JONGLER_WAIT takes the same forms.
    let out = env
        .cmd()
        .env("JONGLER_WAIT", "2s")
        .args([CONN, "POST", GENERATE, &prompt("env")])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn an_unknown_connector_gets_a_suggestion_and_swapped_arguments_are_named() {
    let env = Env::builder().keys(1).build();
    let out = env.run(&["opena", "POST", "/v1/models"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("did you mean `api.openai.com`?"),
        "{}",
        stderr(&out)
    );
    // A short name is the connector's other name.
    let out = env.run(&["openai", "POST", "/v1/models"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("no keys for `api.openai.com`"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["gemini-tset", "POST", GENERATE]);
    assert!(
        stderr(&out).contains(&format!("did you mean `{CONN}`?")),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["POST", CONN, GENERATE]);
    let err = stderr(&out);
    assert_eq!(code(&out), 2, "{err}");
    assert!(
        err.contains("`POST` is an HTTP method, not a connector")
            && err.contains(&format!("jongler {CONN} POST {GENERATE}")),
        "{err}"
    );
    assert_eq!(env.emulator.stats().requests, 0);
}

#[test]
fn a_post_without_a_body_is_refused_unless_asked_for() {
    let env = Env::builder().keys(1).build();
    let out = env.run(&[CONN, "POST", GENERATE]);
    let err = stderr(&out);
    assert_eq!(code(&out), 2, "{err}");
    assert!(
        err.contains("without a body") && err.contains("--allow-empty-body"),
        "{err}"
    );
    assert_eq!(env.emulator.stats().requests, 0);
    assert!(env.state_snapshot().is_empty(), "state was touched");
    // GET needs none; --allow-empty-body sends one (Gemini answers 400).
    let out = env.run(&[CONN, "GET", "/v1beta/models"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = env.run(&[CONN, "POST", GENERATE, "--allow-empty-body"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert_eq!(env.emulator.stats().requests, 2);
}

#[test]
fn ctrl_c_during_a_call_says_the_key_was_released_and_exits_130() {
    let env = Env::builder()
        .keys(1)
        .latency(Duration::from_secs(3))
        .build();
    let child = env
        .cmd()
        .args([CONN, "POST", GENERATE, &prompt("slow")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(env.wait_started("slow", None));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 130, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("jongler: interrupted; the key was released"),
        "{}",
        stderr(&out)
    );
    let (state, _, _) = env.key_state("key1");
    assert_eq!(state, "vacant");
}

#[test]
fn a_wait_for_a_key_held_elsewhere_is_said_once_and_ctrl_c_then_says_nothing_was_sent() {
    let env = Env::builder()
        .keys(1)
        .latency(Duration::from_secs(3))
        .build();
    let holder = env
        .cmd()
        .args([CONN, "POST", GENERATE, &prompt("holding")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(env.wait_started("holding", None));
    let waiter = env
        .cmd()
        .args([
            CONN,
            "POST",
            GENERATE,
            &prompt("waiting"),
            "-v",
            "--wait",
            "30",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    unsafe { libc::kill(waiter.id() as i32, libc::SIGINT) };
    let out = waiter.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(code(&out), 130, "{err}");
    assert_eq!(
        err.matches("in use elsewhere").count(),
        1,
        "-v says once what it waits for: {err}"
    );
    assert!(
        err.contains("jongler: interrupted while waiting for a key; nothing was sent"),
        "{err}"
    );
    assert!(!err.contains("the key was released"), "{err}");
    let holder = holder.wait_with_output().unwrap();
    assert_eq!(code(&holder), 0);
    assert_eq!(env.emulator.stats().requests, 1, "the waiter sent nothing");
}

#[cfg(target_os = "linux")]
#[test]
fn a_body_ends_with_a_newline_at_a_terminal_and_byte_for_byte_in_a_pipe() {
    let env = Env::builder().keys(1).build();
    let mut cmd = env.cmd();
    cmd.args([CONN, "POST", GENERATE, &prompt("tty")]);
    let (status, drawn) = common::on_terminal(cmd, true);
    assert_eq!(status, 0, "{drawn}");
    assert!(drawn.ends_with("}\r\n"), "{drawn:?}");
    let out = env.generate("pipe", &[]);
    assert!(stdout(&out).ends_with('}'), "{:?}", stdout(&out));
}

#[test]
fn status_is_a_summary_and_one_line_a_key_and_folds_a_big_pool() {
    let env = Env::builder()
        .key("bad", jongler::emulator::Behavior::Invalid)
        .keys(2)
        .connector_field("limits", serde_json::json!([{"requests": 10, "per": "1m"}]))
        .build();
    for text in ["one", "two"] {
        assert_eq!(code(&env.generate(text, &[])), 0);
    }
    let out = env.run(&["status", CONN]);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].starts_with(&format!(
            "{CONN}: 3 keys: 2 vacant, 1 error · today 2 requests, 0 rate limits absorbed"
        )),
        "{text}"
    );
    assert!(
        lines[1].contains("bad")
            && lines[1].contains("error")
            && lines[1].contains(&format!("`jongler --cleanup {CONN}`")),
        "{text}"
    );
    assert!(
        lines[2].contains("1m 1/10") && lines[3].contains("1m 1/10"),
        "{text}"
    );
    let json = env.status();
    assert_eq!(json["keys"][1]["requests_today"], 1);
    assert_eq!(json["keys"][1]["rate_limited_today"], 0);

    // A big pool: VACANT keys with room fold into one line; -v lists them.
    let big = Env::builder().keys(200).build();
    let text = stdout(&big.run(&["status", CONN]));
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.contains("200 vacant with room (key1 … key200; -v lists them)"),
        "{text}"
    );
    let text = stdout(&big.run(&["status", CONN, "-v"]));
    assert_eq!(text.lines().count(), 201);
}

#[test]
fn a_connector_that_extends_a_built_in_inherits_what_it_leaves_out() {
    let env = Env::builder().keys(1).build();
    let addr = env.emulator.addr();
    // A local Gemini stand-in in four fields.
    std::fs::write(
        env.connectors().join("gemini-local.json"),
        format!(
            r#"{{"name": "gemini-local", "extends": "generativelanguage.googleapis.com",
                 "host": "{}", "port": {}, "protocol": "http"}}"#,
            addr.ip(),
            addr.port()
        ),
    )
    .unwrap();
    // Its keys come from GEMINI_API_KEY, the built-in's prefix.
    let out = env
        .cmd()
        .env("GEMINI_API_KEY", common::key_value("key1"))
        .args(["gemini-local", "POST", GENERATE, &prompt("local")])
        .output()
        .unwrap();
    env.assert_no_secrets(&out);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("echo: local"));
    let stats = env.emulator.stats();
    assert_eq!(
        stats.key_headers.keys().collect::<Vec<_>>(),
        ["x-goog-api-key"]
    );
    // The built-in's limits came along.
    let out = env
        .cmd()
        .env("GEMINI_API_KEY", common::key_value("key1"))
        .args(["status", "gemini-local", "--json"])
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let usage = status["keys"][0]["usage"].as_array().unwrap();
    assert!(
        usage
            .iter()
            .any(|u| u["limit"] == "10 requests/1m (gemini-2.5-flash)" && u["used"] == 1),
        "{status}"
    );

    // A circle, and an unknown base, are errors naming the file.
    std::fs::write(
        env.connectors().join("a.json"),
        r#"{"name": "a", "extends": "b"}"#,
    )
    .unwrap();
    std::fs::write(
        env.connectors().join("b.json"),
        r#"{"name": "b", "extends": "a"}"#,
    )
    .unwrap();
    let out = env.run(&["a", "GET", "/"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("goes round in a circle"),
        "{}",
        stderr(&out)
    );
    std::fs::write(
        env.connectors().join("b.json"),
        r#"{"name": "b", "extends": "api.openai.cm"}"#,
    )
    .unwrap();
    std::fs::remove_file(env.connectors().join("a.json")).unwrap();
    let out = env.run(&["b", "GET", "/"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("b.json extends `api.openai.cm`")
            && stderr(&out).contains("did you mean `api.openai.com`?"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_file(env.connectors().join("b.json")).unwrap();

    // Replacing a built-in without `extends` says what it leaves out.
    std::fs::write(
        env.connectors().join("openai.json"),
        format!(
            r#"{{"name": "api.openai.com", "host": "{}", "port": {}, "protocol": "http"}}"#,
            addr.ip(),
            addr.port()
        ),
    )
    .unwrap();
    let out = env.run(&["api.openai.com", "GET", "/v1/models"]);
    assert!(
        stderr(&out).contains("replaces the built-in `api.openai.com` and leaves out api_key_header, key_env_prefix, openai_base_path, rate_limit_headers"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_mistyped_command_gets_a_suggestion_and_bare_jongler_speaks_as_jongler() {
    let env = Env::builder().keys(1).build();
    for (typo, meant) in [("statsu", "status"), ("chekc", "check"), ("serv", "serve")] {
        let out = env.run(&[typo]);
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "{err}");
        assert!(err.starts_with("jongler: error: "), "{err}");
        assert!(
            err.contains(&format!("did you mean `jongler {meant}`")),
            "{typo}: {err}"
        );
    }
    let out = env.run(&[]);
    let err = stderr(&out);
    assert_eq!(code(&out), 2, "{err}");
    assert!(
        err.starts_with("jongler: error: missing <CONNECTOR>"),
        "{err}"
    );
    // A connector given alone is still a missing method and endpoint.
    let out = env.run(&[CONN]);
    assert!(
        stderr(&out).starts_with("jongler: error: missing <METHOD> <ENDPOINT>"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.emulator.stats().requests, 0);
}

#[test]
fn cleanup_of_a_mistyped_connector_says_so_instead_of_cleaning_nothing() {
    let env = Env::builder().keys(1).build();
    let typo = format!("{}x", &CONN[..CONN.len() - 1]);
    let out = env.run(&["--cleanup", &typo]);
    let err = stderr(&out);
    assert_eq!(code(&out), 2, "{err}");
    assert!(
        err.contains(&format!("unknown connector `{typo}`")),
        "{err}"
    );
    assert!(err.contains(&format!("did you mean `{CONN}`")), "{err}");
    assert!(err.contains("nothing under that name"), "{err}");
    // The real name cleans (nothing to clean is fine for a known connector).
    let out = env.run(&["--cleanup", CONN]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // A connector no longer defined, with state left behind, still cleans.
    std::fs::create_dir_all(env.state()).unwrap();
    std::fs::write(env.state().join("retired_key1.error"), b"").unwrap();
    let out = env.run(&["--cleanup", "retired"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!env.state().join("retired_key1.error").exists());
}
