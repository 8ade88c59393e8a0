//! Runs README.md's examples as written, against the emulator: every ```sh
//! block (the set-up blocks are ```console; CI and tests/demo.rs run those),
//! with the ```ini block as the user's key file and the built-in Gemini
//! connector overridden by a user connector pointing at the emulator.

use jongler::emulator::{Emulator, EmulatorConfig};
use std::path::Path;
use std::process::Command;

fn blocks(readme: &str, lang: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match &mut current {
            None if line.trim_start() == format!("```{lang}") => current = Some(String::new()),
            Some(block) if line.trim_start() == "```" => {
                out.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    out
}

#[test]
fn readme_examples_run_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let ini = blocks(&readme, "ini").concat();
    assert!(
        ini.contains("[generativelanguage.googleapis.com]"),
        "a key file example"
    );
    let scripts = blocks(&readme, "sh");
    assert!(
        scripts.len() >= 4,
        "README shows its commands in ```sh blocks"
    );

    let emulator = Emulator::start(EmulatorConfig {
        accept_unknown: true,
        ..EmulatorConfig::with_keys(&[])
    })
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join(".config/jongler");
    std::fs::create_dir_all(config.join("connectors")).unwrap();
    std::fs::write(config.join("APIJongler.ini"), &ini).unwrap();
    let mut gemini: serde_json::Value =
        serde_json::from_str(&emulator.connector_json("generativelanguage.googleapis.com"))
            .unwrap();
    gemini["key_env_prefix"] = "GEMINI_API_KEY".into();
    std::fs::write(config.join("connectors/gemini.json"), gemini.to_string()).unwrap();

    let bin = Path::new(env!("CARGO_BIN_EXE_jongler")).parent().unwrap();
    for (i, script) in scripts.iter().enumerate() {
        let out = Command::new("bash")
            .args(["-euo", "pipefail", "-c", script])
            .current_dir(home.path())
            .env_clear()
            .env(
                "PATH",
                format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
            )
            .env("HOME", home.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "README block {i} failed:\n{script}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        );
        assert!(
            !stdout.is_empty() || !stderr.is_empty() || script.contains("> "),
            "block {i} printed nothing"
        );
        for secret in [
            "AIza...first",
            "AIza...second",
            "AIza...third",
            "AIza...fourth",
        ] {
            assert!(
                !stdout.contains(secret) && !stderr.contains(secret),
                "block {i} leaked a key"
            );
        }
    }
    let stats = emulator.stats();
    assert!(
        stats.by_status.get(&200).copied().unwrap_or(0) >= 4,
        "{stats:?}"
    );
    assert_eq!(stats.key_in_url, 0);
    assert!(
        stats.by_key.contains_key("AIza...first"),
        "the INI keys were used: {:?}",
        stats.by_key.keys()
    );
    assert!(home.path().join("jongler.bash").exists());
}

#[test]
fn readme_shows_a_newcomer_what_they_need_where_they_look() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let at = |heading: &str| {
        readme
            .find(heading)
            .unwrap_or_else(|| panic!("README has no {heading:?}"))
    };
    // Trying it without keys comes right after setting up.
    assert!(at("## Set up") < at("## Try it without keys"));
    assert!(at("## Try it without keys") < at("## Use it with Gemini"));
    // How man finds the pages, and the shape of status --json.
    assert!(readme.contains("MANPATH"));
    assert!(readme.contains("`jongler status <CONNECTOR> --json` is one object"));
    // The state dir's table: each marker and the state it means.
    for row in [
        "| none | VACANT |",
        "| `.lock` | LOCKED",
        "| `.lockdown` | LOCKDOWN",
        "| `.error` | ERROR",
    ] {
        assert!(readme.contains(row), "{row}");
    }
}
