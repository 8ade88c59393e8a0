//! `jongler keys`: import, add, remove and list keys in the key file, which
//! keeps everything else byte for byte, is never half written, and never
//! shows a key's value.

mod common;
use common::*;
use std::io::Write;
use std::process::Stdio;

fn new_key(i: usize) -> String {
    format!("AIzaSyIMPORTED-{i:06}-0123456789abcdefSECRET")
}

/// Runs `jongler keys …` with `input` on stdin.
fn keys(env: &Env, args: &[&str], input: &str) -> std::process::Output {
    let mut child = env
        .cmd()
        .arg("keys")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn no_value_in(out: &std::process::Output, values: &[String]) {
    let all = format!("{}{}", stdout(out), stderr(out));
    for v in values {
        assert!(
            !all.contains(v.as_str()),
            "a key's value was printed:\n{all}"
        );
    }
}

#[test]
fn an_import_adds_new_keys_skips_duplicates_and_keeps_the_rest_of_the_file() {
    let env = Env::builder().keys(2).build();
    let original = format!(
        "# my keys, with a comment\n[{CONN}]\nkey1 = {}\n; another comment\nkey2 = {}\n\n[other]\nk = v\n",
        key_value("key1"),
        key_value("key2")
    );
    std::fs::write(env.ini(), &original).unwrap();
    #[cfg(unix)]
    std::fs::set_permissions(
        env.ini(),
        std::os::unix::fs::PermissionsExt::from_mode(0o640),
    )
    .unwrap();
    // 1,000 lines: blank and comment lines (10 each), one new key given ten
    // times, key1 (already in the pool) ten times, and 960 new keys.
    let mut lines = Vec::new();
    let mut values = Vec::new();
    for i in 0..1000 {
        match i % 100 {
            0 => lines.push(String::new()),
            1 => lines.push("# a comment".into()),
            50 => lines.push(new_key(0)),
            97 => lines.push(key_value("key1")),
            _ => {
                lines.push(new_key(i));
                values.push(new_key(i));
            }
        }
    }
    let out = keys(&env, &["import", CONN, "-"], &lines.join("\n"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    no_value_in(&out, &values);
    env.assert_no_secrets(&out);
    let err = stderr(&out);
    let text = std::fs::read_to_string(env.ini()).unwrap();
    // Everything that was there is still there, in order, byte for byte:
    // the new lines are all the change, at the end of the section.
    let without_new: String = text
        .split_inclusive('\n')
        .filter(|l| !l.starts_with("import-"))
        .collect();
    assert_eq!(without_new, original);
    assert!(text.ends_with("\n\n[other]\nk = v\n"), "{text}");
    // Counts: 961 new (960 and the one given ten times), 19 already in the
    // pool (nine repeats of that one, ten of key1), 20 blank or comment.
    assert_eq!(text.matches("import-").count(), 961, "{err}");
    assert!(
        err.contains(&format!(
            "imported 961 key(s) into [{CONN}] of {} (import-0001 … import-0961); 19 already in the pool; 20 blank or comment line(s) skipped",
            env.ini().display()
        )),
        "{err}"
    );
    assert!(err.contains("is `key1` already"), "{err}");
    // Names are unique, and the pool uses the new keys.
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once(" = ").map(|(n, _)| n))
        .collect();
    let unique: std::collections::HashSet<&&str> = names.iter().collect();
    assert_eq!(unique.len(), names.len());
    #[cfg(unix)]
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(env.ini()).unwrap().permissions()
        ) & 0o777,
        0o640,
        "the file's mode is kept"
    );
    // Importing the same file again adds nothing and changes nothing.
    let out = keys(&env, &["import", CONN, "-"], &lines.join("\n"));
    assert_eq!(code(&out), 0);
    assert_eq!(std::fs::read_to_string(env.ini()).unwrap(), text);
    // The listing shows names and states, never values.
    let out = keys(&env, &["list", CONN], "");
    assert_eq!(
        stdout(&out).lines().count(),
        2 + 961,
        "key1, key2 and the new ones"
    );
    assert!(
        stdout(&out).contains("import-0001  vacant"),
        "{}",
        stdout(&out)
    );
    no_value_in(&out, &values);
}

#[test]
fn two_imports_at_once_lose_nothing() {
    let env = Env::builder().keys(1).build();
    let batch = |from: usize| -> String {
        (from..from + 300)
            .map(new_key)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let spawn = |input: String| {
        let env = &env;
        let mut child = env
            .cmd()
            .args(["keys", "import", CONN, "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
        child
    };
    let a = spawn(batch(0));
    let b = spawn(batch(10_000));
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    let text = std::fs::read_to_string(env.ini()).unwrap();
    for i in (0..300).chain(10_000..10_300) {
        assert!(text.contains(&new_key(i)), "key {i} was lost");
    }
    assert_eq!(text.matches("import-").count(), 600);
}

#[test]
fn remove_takes_keys_out_with_their_marks_and_add_reads_the_value_from_stdin() {
    let env = Env::builder().keys(3).build();
    std::fs::create_dir_all(env.state()).unwrap();
    std::fs::write(env.state().join(format!("{CONN}_key2.error")), "").unwrap();
    std::fs::write(env.state().join(format!("{CONN}_key3.lockdown")), "").unwrap();
    let out = keys(&env, &["remove", CONN, "key2", "key3"], "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("removed 2 key(s)") && stderr(&out).contains("and 2 mark(s)"));
    let text = std::fs::read_to_string(env.ini()).unwrap();
    assert!(text.contains("key1 = ") && !text.contains("key2 =") && !text.contains("key3 ="));
    assert!(!env.state().join(format!("{CONN}_key2.error")).exists());
    assert!(!env.state().join(format!("{CONN}_key3.lockdown")).exists());
    // A name that isn't there: nothing removed.
    let out = keys(&env, &["remove", CONN, "key1", "nope"], "");
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("no key named `nope`"),
        "{}",
        stderr(&out)
    );
    assert!(
        std::fs::read_to_string(env.ini())
            .unwrap()
            .contains("key1 = ")
    );
    // Add: the value from stdin, never the command line; a duplicate is
    // named by the key it duplicates.
    let out = keys(&env, &["add", CONN, "fresh"], &format!("{}\n", new_key(1)));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = keys(&env, &["add", CONN, "again"], &new_key(1));
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("as `fresh`"), "{}", stderr(&out));
    no_value_in(&out, &[new_key(1)]);
    let out = keys(&env, &["add", CONN, "empty"], "");
    assert_eq!(code(&out), 2);
    // The pool uses the added key.
    let out = env.generate("after the edits", &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // A mistyped connector is refused before anything changes.
    let before = std::fs::read_to_string(env.ini()).unwrap();
    let out = keys(&env, &["import", "no-such-connector", "-"], &new_key(5));
    assert_eq!(code(&out), 2);
    assert_eq!(std::fs::read_to_string(env.ini()).unwrap(), before);
}

#[test]
fn a_sigkilled_import_leaves_the_old_file_or_the_new_one() {
    let env = Env::builder().keys(1).build();
    let input: String = (0..60_000).map(|i| new_key(i) + "\n").collect();
    let path = env.dir.path().join("many.txt");
    std::fs::write(&path, &input).unwrap();
    let original = std::fs::read_to_string(env.ini()).unwrap();
    for (round, delay_ms) in [5u64, 40, 120, 250].into_iter().enumerate() {
        let before = std::fs::read_to_string(env.ini()).unwrap();
        let mut child = env
            .cmd()
            .args(["keys", "import", CONN, path.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let after = std::fs::read_to_string(env.ini()).unwrap();
        let complete = after.matches("import-").count();
        assert!(
            after == before || (after.starts_with(&original) && complete == 60_000),
            "round {round}: a half-written key file ({complete} imported keys)"
        );
        // It reads back either way.
        let out = env.run(&["keys", "list", CONN]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
}
