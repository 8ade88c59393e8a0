//! `jongler batch`: real processes against the emulator on loopback.

mod common;

use common::{CONN, Env, GENERATE, code, prompt, stderr};
use jongler::emulator::Behavior;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TEMPLATE: &str = r#"{"contents":[{"parts":[{"text":"{{text}}"}]}]}"#;

fn write_lines(env: &Env, name: &str, lines: &[String]) -> PathBuf {
    let path = env.dir.path().join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn batch(env: &Env, input: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut cmd = env.cmd();
    cmd.args(["batch", CONN, "POST", GENERATE, "--in"])
        .arg(input)
        .arg("--out")
        .arg(out)
        .args(extra);
    cmd
}

/// The answers file: whole lines only, parsed.
fn answers(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

fn echoed(answer: &Value) -> &str {
    answer["body"]["candidates"][0]["content"]["parts"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {answer}"))
}

/// `n` template lines `text i`.
fn text_lines(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("text {i}")).collect()
}

#[test]
fn a_batch_answers_every_line_in_input_order_with_the_keys_it_used() {
    let env = Env::builder()
        .keys(4)
        .latency(Duration::from_millis(10))
        .build();
    let mut lines = Vec::new();
    for i in 1..=40 {
        lines.push(match i % 3 {
            0 => prompt(&format!("plain {i}")),
            1 => serde_json::json!({"id": format!("id-{i}"), "body": serde_json::from_str::<Value>(&prompt(&format!("envelope {i}"))).unwrap()}).to_string(),
            _ => serde_json::json!({"body": serde_json::from_str::<Value>(&prompt(&format!("pro {i}"))).unwrap(),
                                    "endpoint": "/v1beta/models/gemini-2.5-pro:generateContent"}).to_string(),
        });
        if i == 20 {
            lines.push(String::new()); // blank: skipped, its number unused
        }
    }
    let input = write_lines(&env, "in.jsonl", &lines);
    let out_path = env.dir.path().join("out.jsonl");
    let out = batch(&env, &input, &out_path, &[]).output().unwrap();
    env.assert_no_secrets(&out);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("40 of 40 answered"),
        "{}",
        stderr(&out)
    );
    let got = answers(&out_path);
    assert_eq!(got.len(), 40);
    let names: Vec<String> = env.keys.iter().map(|(n, _)| n.clone()).collect();
    for (n, answer) in got.iter().enumerate() {
        // Line numbers: 1..=20, then the blank line 21, then 22..=41.
        let i = n + 1;
        let line = if i <= 20 { i } else { i + 1 };
        assert_eq!(answer["status"], 200, "{answer}");
        assert!(names.contains(&answer["key"].as_str().unwrap().to_string()));
        match i % 3 {
            0 => {
                assert_eq!(answer["id"], line);
                assert_eq!(echoed(answer), format!("echo: plain {i}"));
            }
            1 => {
                assert_eq!(answer["id"], format!("id-{i}"));
                assert_eq!(echoed(answer), format!("echo: envelope {i}"));
            }
            _ => {
                assert_eq!(answer["id"], line);
                assert_eq!(echoed(answer), format!("echo: pro {i}"));
                assert_eq!(answer["body"]["modelVersion"], "gemini-2.5-pro");
            }
        }
    }
    let stats = env.emulator.stats();
    assert_eq!(stats.requests, 40);
    assert_eq!(stats.overlaps, 0, "a key was used twice at once");
    // Every key took part.
    assert_eq!(stats.by_key.len(), 4, "{:?}", stats.by_key.values());
}

#[test]
fn a_template_turns_each_text_line_into_a_request_from_stdin_to_stdout() {
    let env = Env::builder().keys(2).build();
    let text = "first \"quoted\" line\n\nback\\slash and \t tab\n";
    let mut child = env
        .cmd()
        .args(["batch", CONN, "POST", GENERATE, "--in", "-", "--out", "-"])
        .args(["--template", TEMPLATE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    env.assert_no_secrets(&out);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let got: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["id"], 1);
    assert_eq!(echoed(&got[0]), "echo: first \"quoted\" line");
    assert_eq!(got[1]["id"], 3);
    assert_eq!(echoed(&got[1]), "echo: back\\slash and \t tab");
}

#[test]
fn bad_lines_are_each_named_and_nothing_is_sent() {
    let env = Env::builder().keys(2).build();
    let lines = vec![
        prompt("fine"),
        "{not json".to_string(),
        r#"{"id": "a", "body": {}}"#.to_string(),
        r#"{"id": "a", "body": {}}"#.to_string(),
        r#"{"body": {}, "model": "x"}"#.to_string(),
        r#"{"body": {}, "endpoint": "v1/x"}"#.to_string(),
        r#"{"body": {}, "id": [1]}"#.to_string(),
    ];
    let input = write_lines(&env, "in.jsonl", &lines);
    let out_path = env.dir.path().join("out.jsonl");
    let out = batch(&env, &input, &out_path, &[]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(code(&out), 2, "{err}");
    assert!(err.contains("5 bad line(s)"), "{err}");
    assert!(err.contains("nothing was sent"), "{err}");
    assert!(err.contains("line 2: not JSON"), "{err}");
    assert!(
        err.contains(r#"line 4: duplicate id "a" (first on line 3)"#),
        "{err}"
    );
    assert!(err.contains("line 5: unknown field `model`"), "{err}");
    assert!(err.contains("line 6: `endpoint`"), "{err}");
    assert!(err.contains("line 7: `id`"), "{err}");
    assert!(!out_path.exists(), "the answers file was made");
    assert_eq!(env.emulator.stats().requests, 0);
    assert!(env.state_snapshot().is_empty(), "state was touched");

    // A template needs its placeholder, inside a string.
    let input = write_lines(&env, "in.txt", &["hello".to_string()]);
    for (template, says) in [
        (r#"{"contents":[]}"#, "no {{text}}"),
        (r#"{"text": {{text}}}"#, "inside a JSON string"),
    ] {
        let out = batch(&env, &input, &out_path, &["--template", template])
            .output()
            .unwrap();
        assert_eq!(code(&out), 2, "{}", stderr(&out));
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
    }
    // A missing input file, and --in = --out.
    let out = batch(&env, &env.dir.path().join("nope"), &out_path, &[])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("can't read --in"), "{}", stderr(&out));
    let out = batch(&env, &input, &input, &[]).output().unwrap();
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("same file"), "{}", stderr(&out));
    assert_eq!(env.emulator.stats().requests, 0);
}

#[test]
fn sigkill_mid_batch_then_the_same_command_answers_each_id_once_paying_nothing_twice() {
    let env = Env::builder()
        .keys(4)
        .latency(Duration::from_millis(25))
        .build();
    let total = 300;
    let input = write_lines(&env, "in.txt", &text_lines(total));
    let out_path = env.dir.path().join("out.jsonl");
    let mut child = batch(&env, &input, &out_path, &["--template", TEMPLATE])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while answers(&out_path).len() < total * 4 / 10 {
        assert!(Instant::now() < deadline, "no progress");
        assert!(child.try_wait().unwrap().is_none(), "finished too soon");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = answers(&out_path);
    let answered = before.len();
    assert!(answered < total, "nothing was left to do");
    let sent_before = env.emulator.stats().requests;
    assert!(sent_before as usize >= answered);

    let out = batch(&env, &input, &out_path, &["--template", TEMPLATE])
        .output()
        .unwrap();
    env.assert_no_secrets(&out);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("({answered} by an earlier run)")),
        "{}",
        stderr(&out)
    );
    let sent_again = env.emulator.stats().requests - sent_before;
    assert_eq!(
        sent_again as usize,
        total - answered,
        "the rerun sent {sent_again} for {} unanswered ids",
        total - answered
    );
    let all = answers(&out_path);
    assert_eq!(all.len(), total);
    let mut seen = HashMap::new();
    for a in &all {
        let id = a["id"].as_u64().unwrap();
        assert!(seen.insert(id, ()).is_none(), "id {id} twice");
        assert_eq!(echoed(a), format!("echo: text {id}"));
    }
    assert_eq!(seen.len(), total);
    println!("killed after {answered} of {total} answers; the rerun sent {sent_again}");
}

#[test]
fn failed_lines_are_tried_again_by_the_rerun_and_kept_once() {
    let env = Env::builder().keys(2).build();
    let lines = vec![
        prompt("one"),
        serde_json::json!({"id": "missing-model", "body": {"contents": []},
                           "endpoint": "/v1beta/models/no-such-model:generateContent"})
        .to_string(),
        prompt("three"),
    ];
    let input = write_lines(&env, "in.jsonl", &lines);
    let out_path = env.dir.path().join("out.jsonl");
    let out = batch(&env, &input, &out_path, &[]).output().unwrap();
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("1 × exit 4 (HTTP 4xx)"),
        "{}",
        stderr(&out)
    );
    let got = answers(&out_path);
    assert_eq!(got.len(), 3);
    assert_eq!(got[1]["id"], "missing-model");
    assert_eq!(got[1]["exit"], 4);
    assert!(got[1]["status"].as_u64().unwrap() >= 400);
    let sent = env.emulator.stats().requests;

    // Again: only the failed line goes out, and it appears once.
    let out = batch(&env, &input, &out_path, &[]).output().unwrap();
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert_eq!(env.emulator.stats().requests - sent, 1);
    let got = answers(&out_path);
    assert_eq!(got.len(), 3, "{got:?}");
    let ids: Vec<&Value> = got.iter().map(|a| &a["id"]).collect();
    assert_eq!(ids.iter().filter(|i| **i == "missing-model").count(), 1);
}

#[test]
fn a_torn_last_line_is_dropped_and_its_id_sent_again() {
    let env = Env::builder().keys(2).build();
    let input = write_lines(&env, "in.txt", &text_lines(3));
    let out_path = env.dir.path().join("out.jsonl");
    let out = batch(&env, &input, &out_path, &["--template", TEMPLATE])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0);
    // Keep the first answer whole and half of the second.
    let text = std::fs::read_to_string(&out_path).unwrap();
    let mut lines = text.lines();
    let first = lines.next().unwrap();
    let second = lines.next().unwrap();
    std::fs::write(
        &out_path,
        format!("{first}\n{}", &second[..second.len() / 2]),
    )
    .unwrap();
    let sent = env.emulator.stats().requests;
    let out = batch(&env, &input, &out_path, &["--template", TEMPLATE])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(env.emulator.stats().requests - sent, 2);
    let got = answers(&out_path);
    let mut ids: Vec<u64> = got.iter().map(|a| a["id"].as_u64().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, [1, 2, 3]);

    // A file that is not ours is refused, untouched.
    std::fs::write(&out_path, "hello\n").unwrap();
    let out = batch(&env, &input, &out_path, &["--template", TEMPLATE])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("line 1 is not an answer"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), "hello\n");
}

#[test]
fn two_batches_on_one_answers_file_are_refused_and_two_on_one_pool_share_it() {
    let env = Env::builder()
        .keys(3)
        .latency(Duration::from_millis(20))
        .build();
    let a = write_lines(&env, "a.txt", &text_lines(120));
    let b_lines: Vec<String> = (1..=120).map(|i| format!("other {i}")).collect();
    let b = write_lines(&env, "b.txt", &b_lines);
    let out_a = env.dir.path().join("a.jsonl");
    let out_b = env.dir.path().join("b.jsonl");
    let mut first = batch(&env, &a, &out_a, &["--template", TEMPLATE])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut second = batch(&env, &b, &out_b, &["--template", TEMPLATE])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while answers(&out_a).is_empty() {
        std::thread::sleep(Duration::from_millis(2));
    }
    let clash = batch(&env, &a, &out_a, &["--template", TEMPLATE])
        .output()
        .unwrap();
    assert_eq!(code(&clash), 2, "{}", stderr(&clash));
    assert!(
        stderr(&clash).contains("another `jongler batch` is writing"),
        "{}",
        stderr(&clash)
    );
    assert!(first.wait().unwrap().success());
    assert!(second.wait().unwrap().success());
    assert_eq!(answers(&out_a).len(), 120);
    assert_eq!(answers(&out_b).len(), 120);
    let stats = env.emulator.stats();
    assert_eq!(stats.requests, 240);
    assert_eq!(stats.overlaps, 0, "{:?}", stats.overlap_pairs);
}

#[test]
fn without_usable_keys_the_batch_stops_and_says_how_to_resume() {
    let env = Env::builder()
        .key("bad1", Behavior::Invalid)
        .key("bad2", Behavior::Invalid)
        .build();
    let input = write_lines(&env, "in.txt", &text_lines(50));
    let out_path = env.dir.path().join("out.jsonl");
    let out = batch(&env, &input, &out_path, &["--template", TEMPLATE])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(code(&out), 3, "{err}");
    assert!(err.contains("stopped: every key"), "{err}");
    assert!(err.contains("run the same command again"), "{err}");
    // Both keys were found bad on the first lines; the rest were not tried.
    assert!(env.emulator.stats().requests <= 2);
    assert!(answers(&out_path).len() < 50);
}

#[test]
fn ctrl_c_lets_the_requests_in_flight_finish_and_exits_130() {
    let env = Env::builder()
        .keys(2)
        .latency(Duration::from_millis(300))
        .build();
    let input = write_lines(&env, "in.txt", &text_lines(20));
    let out_path = env.dir.path().join("out.jsonl");
    let child = batch(&env, &input, &out_path, &["--template", TEMPLATE])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(env.wait_started("text 1", None));
    std::thread::sleep(Duration::from_millis(50));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(code(&out), 130, "{err}");
    assert!(err.contains("stopping"), "{err}");
    assert!(err.contains("run the same command again"), "{err}");
    // What was in flight when Ctrl-C came was answered and written.
    let got = answers(&out_path);
    assert!(!got.is_empty() && got.len() < 20, "{}", got.len());
    assert_eq!(env.emulator.stats().requests as usize, got.len());
    let out = batch(&env, &input, &out_path, &["--template", TEMPLATE])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(answers(&out_path).len(), 20);
}

/// Terminal text without escape sequences, split where the cursor returns.
fn screen_lines(drawn: &str) -> Vec<String> {
    let mut plain = String::new();
    let mut chars = drawn.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        plain.push(c);
    }
    plain
        .split(['\r', '\n'])
        .map(str::to_string)
        .filter(|l| !l.trim().is_empty())
        .collect()
}

#[cfg(target_os = "linux")]
#[test]
fn at_a_terminal_the_progress_bar_fits_80_columns_and_ends_in_a_summary() {
    let env = Env::builder()
        .keys(3)
        .latency(Duration::from_millis(15))
        .connector_field("limits", serde_json::json!([{"requests": 20, "per": "1s"}]))
        .build();
    let input = write_lines(&env, "in.txt", &text_lines(150));
    let out_path = env.dir.path().join("out.jsonl");
    let (status, drawn) = common::on_terminal(
        batch(&env, &input, &out_path, &["--template", TEMPLATE]),
        false,
    );
    assert_eq!(status, 0, "{drawn}");
    let lines = screen_lines(&drawn);
    let bars: Vec<&String> = lines.iter().filter(|l| l.contains("/150")).collect();
    assert!(bars.len() >= 2, "no progress drawn:\n{drawn:?}");
    for line in lines.iter().filter(|l| !l.starts_with("jongler:")) {
        assert!(
            line.chars().count() <= 80,
            "wider than 80 columns: {line:?}"
        );
    }
    // The bar shows the rate, an ETA from the quotas and the keys' states.
    assert!(
        bars.iter()
            .any(|l| l.contains("/s") && l.contains("eta") && l.contains("keys")),
        "{bars:?}"
    );
    // 3 keys x 20/s: the first 60 go at once, the other 90 take 1.5 s at
    // 60/s: the ideal, said in the summary.
    assert!(
        lines.iter().any(|l| l.contains("150 of 150 answered")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("the quotas allow 1.5s")),
        "{lines:?}"
    );
    assert_eq!(answers(&out_path).len(), 150);
}

#[test]
fn a_daily_limit_is_a_cap_not_a_pace_in_the_summary() {
    // 250 a day per key: three lines are not 3 x 86,400 / 250 s of work.
    let env = Env::builder()
        .keys(2)
        .connector_field(
            "limits",
            serde_json::json!([{"requests": 250, "per": "day"}, {"requests": 10, "per": "1m"}]),
        )
        .build();
    let input = env.dir.path().join("three.txt");
    std::fs::write(&input, "one\ntwo\nthree\n").unwrap();
    let out_path = env.dir.path().join("three.jsonl");
    let out = batch(&env, &input, &out_path, &["--template", TEMPLATE])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(code(&out), 0, "{err}");
    assert!(err.contains("3 of 3 answered"), "{err}");
    // Three requests fit the first minute's 20: no pace to compare with.
    assert!(!err.contains("the quotas allow"), "{err}");
    assert!(!err.contains("0.00x"), "{err}");
}

/// The peak RSS of a child, from the kernel's own accounting.
#[cfg(target_os = "linux")]
fn wait_peak_rss_kib(child: std::process::Child) -> (i32, i64) {
    let (status, usage) = common::wait_rusage(child);
    (status, usage.ru_maxrss)
}

#[cfg(target_os = "linux")]
#[test]
fn a_100000_line_batch_runs_in_flat_memory() {
    let env = Env::builder().keys(4).build();
    let path = env.dir.path().join("big.txt");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for i in 1..=100_000 {
            writeln!(f, "line {i} of a large input file, long enough to count").unwrap();
        }
    }
    let out_path = env.dir.path().join("out.jsonl");
    let started = Instant::now();
    let child = batch(&env, &path, &out_path, &["--template", TEMPLATE])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (status, rss_kib) = wait_peak_rss_kib(child);
    println!(
        "100,000 lines in {:.1?}, peak RSS {:.1} MB",
        started.elapsed(),
        rss_kib as f64 / 1024.0
    );
    assert_eq!(status, 0);
    assert!(
        rss_kib < 50 * 1024,
        "peak RSS {rss_kib} KiB for 100,000 lines"
    );
    let text = std::fs::read_to_string(&out_path).unwrap();
    assert_eq!(text.lines().count(), 100_000);
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["id"], 100_000);
}
