//! The completion scripts and man page committed in `completions/` match what the binary
//! generates now. Regenerate with `JONGLER_UPDATE_GENERATED=1 cargo test --test generated`.

use std::path::Path;

const SHELLS: &[(&str, &str)] = &[
    ("bash", "jongler.bash"),
    ("zsh", "_jongler"),
    ("fish", "jongler.fish"),
    ("powershell", "_jongler.ps1"),
    ("elvish", "jongler.elv"),
];

#[test]
fn committed_completions_are_current() {
    let update = std::env::var_os("JONGLER_UPDATE_GENERATED").is_some();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    let mut stale = Vec::new();
    for (shell, file) in SHELLS {
        // Hermetic: the connectors offered are the built-ins alone.
        let home = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_jongler"))
            .env_clear()
            .env("HOME", home.path())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        assert!(!out.stdout.is_empty());
        let path = dir.join(file);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &out.stdout).unwrap();
        } else if std::fs::read(&path).ok().as_deref() != Some(out.stdout.as_slice()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stale: {stale:?}; run `JONGLER_UPDATE_GENERATED=1 cargo test --test generated` and commit"
    );
}

#[test]
fn committed_man_pages_are_current() {
    // jongler.1 and a page per subcommand (jongler-serve.1 …), as the main
    // page's SUBCOMMANDS section refers to them.
    let fresh = tempfile::tempdir().unwrap();
    clap_mangen::generate_to(
        <jongler::cli::Cli as clap::CommandFactory>::command(),
        fresh.path(),
    )
    .unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    let update = std::env::var_os("JONGLER_UPDATE_GENERATED").is_some();
    let mut pages: Vec<_> = std::fs::read_dir(fresh.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    pages.sort();
    assert!(pages.contains(&"jongler-serve.1".to_string()), "{pages:?}");
    let mut stale = Vec::new();
    for page in &pages {
        let text = std::fs::read(fresh.path().join(page)).unwrap();
        let path = dir.join(page);
        if update {
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read(&path).ok() != Some(text) {
            stale.push(page.clone());
        }
    }
    // No committed page the binary no longer makes.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".1") && !pages.contains(&name) {
            if update {
                std::fs::remove_file(dir.join(&name)).unwrap();
            } else {
                stale.push(name);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "stale man pages {stale:?}; run `JONGLER_UPDATE_GENERATED=1 cargo test --test generated` and commit"
    );
    let main = std::fs::read_to_string(dir.join("jongler.1")).unwrap();
    assert!(main.contains("cleanup\\-all"), "flags are in the man page");
    // Every page the main one names exists.
    for sub in ["status", "check", "serve", "batch", "demo", "completions"] {
        assert!(
            dir.join(format!("jongler-{sub}.1")).exists(),
            "jongler-{sub}.1"
        );
    }
}

#[test]
fn completions_offer_the_subcommands_and_flags() {
    let bash = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("completions/jongler.bash"),
    )
    .unwrap();
    for word in [
        "status",
        "completions",
        "--cleanup-all",
        "--state-dir",
        "--pretty",
        // Connector names, where a connector goes.
        "generativelanguage.googleapis.com",
        "api.openai.com",
    ] {
        assert!(bash.contains(word), "{word}");
    }
}
