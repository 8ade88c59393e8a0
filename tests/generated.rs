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
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_jongler"))
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
fn committed_man_page_is_current() {
    let mut page = Vec::new();
    clap_mangen::Man::new(<jongler::cli::Cli as clap::CommandFactory>::command())
        .render(&mut page)
        .unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions/jongler.1");
    if std::env::var_os("JONGLER_UPDATE_GENERATED").is_some() {
        std::fs::write(&path, &page).unwrap();
    }
    assert!(
        std::fs::read(&path).ok().as_deref() == Some(page.as_slice()),
        "completions/jongler.1 is stale; run `JONGLER_UPDATE_GENERATED=1 cargo test --test generated` and commit"
    );
    let text = String::from_utf8(page).unwrap();
    assert!(text.contains("cleanup\\-all"), "flags are in the man page");
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
    ] {
        assert!(bash.contains(word), "{word}");
    }
}
