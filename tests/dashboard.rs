//! `serve`'s dashboard in a real browser: headless Chromium (Debian's
//! package; `.ci/run` installs it) loads `/status` from a running `serve`
//! of 1,000 keys in mixed states. `JONGLER_UPDATE_SCREENSHOT=1` also writes
//! the screenshot README shows (docs/dashboard.png).

mod common;

use common::{CONN, Env, code, stderr};
use jongler::emulator::Behavior;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const TOKEN: &str = "dashboard-token-0123456789";

fn chromium() -> &'static str {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return name;
        }
    }
    panic!("this test needs Chromium: `apt-get install chromium` (.ci/run does)");
}

/// Runs headless Chromium on `url` with `args`.
fn browse(url: &str, profile: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(chromium())
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .env("NO_PROXY", "*")
        .output()
        .expect("chromium runs")
}

fn attr(html: &str, tag_start: &str, name: &str) -> String {
    let tag = &html[html
        .find(tag_start)
        .unwrap_or_else(|| panic!("no {tag_start}"))..];
    let tag = &tag[..tag.find('>').unwrap()];
    let key = format!("{name}=\"");
    let at = tag
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {tag}"))
        + key.len();
    tag[at..at + tag[at..].find('"').unwrap()].to_string()
}

#[test]
fn the_dashboard_shows_1000_keys_with_error_first_and_totals_that_match_status() {
    let mut builder = Env::builder();
    for i in 1..=1000 {
        let behavior = match i {
            1..=20 => Behavior::Valid,
            21..=40 => Behavior::Invalid,
            // A bare 429 on every call, the model list too (a key out of
            // one model's daily quota still lists the models: `check`
            // wouldn't see it).
            41..=70 => Behavior::Exhausted,
            _ => Behavior::Valid,
        };
        builder = builder.key(&format!("key{i:04}"), behavior);
    }
    let env = builder.build();
    // One check marks the bad keys ERROR and the exhausted ones LOCKDOWN.
    let out = env.run(&["check", CONN, "--wait", "5"]);
    assert_eq!(code(&out), 1, "some keys are bad: {}", stderr(&out));
    // Some traffic, so that usage shows.
    for i in 0..5 {
        assert_eq!(code(&env.generate(&format!("hello {i}"), &[])), 0);
    }
    let status = env.status();
    let keys = status["keys"].as_array().unwrap();
    let count = |s: &str| keys.iter().filter(|k| k["state"] == s).count();
    assert_eq!((count("error"), count("lockdown")), (20, 30));

    let mut serve = env
        .cmd()
        .args(["serve", CONN, "--listen", "127.0.0.1:0", "--token", TOKEN])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first = BufReader::new(serve.stderr.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_string();
    let url = format!("{base}/status?format=html&key={TOKEN}");
    let profile = tempfile::tempdir().unwrap();

    let dom = browse(
        &url,
        profile.path(),
        &["--virtual-time-budget=3000", "--dump-dom"],
    );
    let html = String::from_utf8_lossy(&dom.stdout).into_owned();
    assert!(
        html.contains("<main id=\"main\">"),
        "no page:\n{}",
        stderr(&dom)
    );
    // The header's totals are what `status --json` says.
    assert_eq!(attr(&html, "<header", "data-total"), "1000");
    assert_eq!(attr(&html, "<header", "data-error"), "20");
    assert_eq!(attr(&html, "<header", "data-lockdown"), "30");
    assert_eq!(
        attr(&html, "<header", "data-vacant"),
        count("vacant").to_string()
    );
    assert_eq!(attr(&html, "<header", "data-requests-today"), "5");
    // ERROR keys come first, then those locked down; the command that
    // clears them is on the page.
    let states: Vec<String> = html
        .match_indices("<tr data-state=\"")
        .map(|(i, m)| {
            let rest = &html[i + m.len()..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect();
    assert_eq!(states.len(), 1000, "every key is on the page");
    assert!(
        states[..20].iter().all(|s| s == "error"),
        "{:?}",
        &states[..25]
    );
    assert!(states[20..50].iter().all(|s| s == "lockdown"));
    assert!(html.contains(&format!("jongler --cleanup {CONN}")));
    // The vacant keys with room are folded into one section.
    assert!(html.contains("<details id=\"folded\">"));
    // Loaded (parsed, styled, scripts run) in under a second.
    let loaded: f64 = attr(&html, "<body", "data-loaded-ms").parse().unwrap();
    println!("dashboard of 1,000 keys loaded in {loaded} ms");
    assert!(loaded < 1000.0, "loaded in {loaded} ms");

    // The screenshot README shows, taken the same way.
    let shot = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dashboard.png");
    let out = browse(
        &url,
        profile.path(),
        &[
            "--window-size=1200,800",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    assert!(
        shot.metadata().is_ok_and(|m| m.len() > 10_000),
        "no screenshot: {}",
        stderr(&out)
    );
    if std::env::var_os("JONGLER_UPDATE_SCREENSHOT").is_some() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::copy(&shot, docs.join("dashboard.png")).unwrap();
    }
    // No token in the browser's requests for the icon: no 401 in the log.
    let _ = serve.kill();
    let _ = serve.wait();
}
