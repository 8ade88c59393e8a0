//! `jongler demo`: no config, no keys, no network, every request delivered.

mod common;

use std::process::Command;

fn demo(args: &[&str]) -> std::process::Output {
    let home = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_jongler"))
        .env_clear()
        .env("HOME", home.path())
        .env("NO_COLOR", "1")
        .arg("demo")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn demo_delivers_every_request_through_lockdowns_and_a_bad_key() {
    let out = demo(&["--requests", "24", "--workers", "4", "--keys", "3"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("delivered 24/24"), "{stdout}");
    assert!(
        stdout.contains("keys marked ERROR: 1 (demo-key-3)"),
        "{stdout}"
    );
    let absorbed: u64 = stdout
        .split("429s absorbed: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(absorbed > 0, "the quotas bite: {stdout}");
    // Without a terminal: plain lines, each key's states as they change.
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
    for line in [
        "demo-key-1   locked",
        "demo-key-1   lockdown",
        "demo-key-3   error: API_KEY_INVALID",
        "delivered 24/24",
    ] {
        assert!(stderr.contains(line), "{line}: {stderr}");
    }
    // Each LOCKDOWN is said once: never more lockdown lines than 429s.
    let lockdown_lines = stderr.lines().filter(|l| l.contains(" lockdown ")).count();
    assert!(
        lockdown_lines as u64 <= absorbed,
        "{lockdown_lines} lockdown lines for {absorbed} 429s: {stderr}"
    );
}

#[test]
fn demo_refuses_a_pool_without_a_working_key() {
    let out = demo(&["--keys", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--keys"));
}

/// In a terminal (here a pseudo-terminal made by `script`), the live table
/// redraws in place and every line fits in 80 columns.
#[test]
fn the_live_table_fits_80_columns() {
    assert!(
        Command::new("script").arg("--version").output().is_ok(),
        "this test needs `script` (util-linux; Debian's bsdutils, which .ci/run installs where missing)"
    );
    let home = tempfile::tempdir().unwrap();
    let cmd = format!(
        "{} demo --requests 16 --workers 4 --keys 4 --color always",
        env!("CARGO_BIN_EXE_jongler")
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("HOME", home.path())
        .env("COLUMNS", "80")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\u{1b}[7A") || text.contains("\u{1b}[6A"),
        "the table redraws in place"
    );
    assert!(text.contains("delivered 16/16"), "{text}");
    // Strip escape sequences, then measure every line.
    let mut plain = String::new();
    let mut in_escape = false;
    for c in text.chars() {
        match (in_escape, c) {
            (false, '\u{1b}') => in_escape = true,
            (true, c) if c.is_ascii_alphabetic() => in_escape = false,
            (true, _) => {}
            (false, c) => plain.push(c),
        }
    }
    for line in plain.split(['\n', '\r']) {
        assert!(
            line.chars().count() <= 80,
            "{} columns: {line:?}",
            line.chars().count()
        );
    }
    assert!(
        plain.contains("VACANT") || plain.contains("LOCKED"),
        "{plain}"
    );
}

/// A pool taller than the terminal: the table keeps to the screen (a taller
/// one would leave a copy of itself in the scrollback at every redraw), and
/// a key in use says nothing of its quota.
#[cfg(target_os = "linux")]
#[test]
fn the_live_table_keeps_to_a_24_row_terminal() {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jongler"));
    cmd.env_clear()
        .env("HOME", home.path())
        .env("NO_COLOR", "1")
        .args(["demo", "--requests", "40", "--workers", "6", "--keys", "26"])
        .stdout(std::process::Stdio::null());
    let (status, drawn) = common::on_terminal(cmd, false);
    assert_eq!(status, 0, "{drawn}");
    // Each redraw moves the cursor up over the last frame: never more than
    // the screen holds.
    let ups: Vec<usize> = drawn
        .match_indices("\u{1b}[")
        .filter_map(|(i, m)| {
            let rest = &drawn[i + m.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            (rest[digits.len()..].starts_with('A')).then(|| digits.parse().ok())?
        })
        .collect();
    assert!(!ups.is_empty(), "the table was not redrawn: {drawn:?}");
    assert!(ups.iter().all(|n| *n <= 23), "frames of {ups:?} lines");
    assert!(drawn.contains("more keys ("), "{drawn}");
    assert!(!drawn.contains("room in 0.0s"), "{drawn}");
}
