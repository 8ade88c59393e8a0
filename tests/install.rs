//! `cargo install --path .`, as README says, gives a working `jongler`.

use std::process::Command;

#[test]
fn cargo_install_gives_a_working_jongler() {
    let root = env!("CARGO_MANIFEST_DIR");
    let dest = tempfile::tempdir().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "install",
            "--path",
            root,
            "--locked",
            "--offline",
            "--debug",
            "--quiet",
            "--root",
        ])
        .arg(dest.path())
        // A target dir of its own: the one `cargo test` uses is locked while tests run.
        .arg("--target-dir")
        .arg(format!("{root}/target/install-check"))
        .status()
        .unwrap();
    assert!(status.success());
    for bin in ["jongler", "jongler-emulator"] {
        let out = Command::new(dest.path().join("bin").join(bin))
            .arg("--version")
            .output()
            .unwrap();
        assert!(out.status.success(), "{bin}");
        assert!(String::from_utf8_lossy(&out.stdout).starts_with(bin));
    }
}
