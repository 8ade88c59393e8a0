//! The Python package (`pip install .`): the wheel built from this checkout
//! by maturin (from PyPI, in a venv under target/), installed in that venv,
//! then python/tests run by pytest against the real emulator and the real
//! `jongler` command the wheel puts on PATH — api-jongler's README examples
//! with only the import changed, one pool shared by Python threads, command
//! processes and a SIGKILLed process, the Pythonic API and its errors, and
//! the command's output and exit codes beside the binary's.
#![allow(clippy::disallowed_methods)] // the venv lock below

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `target/pyenv-jongler`, with python/tests/requirements.txt (maturin and
/// pytest) installed the first time, or again when the file changes.
fn venv() -> PathBuf {
    common::python_venv(
        "pyenv-jongler",
        &root().join("python/tests/requirements.txt"),
    )
}

/// Builds the wheel from this checkout and installs it into the venv, once
/// per run (and one run at a time: the lock), returning the venv's Python.
/// A failed build fails every test at once, without building again.
fn installed() -> &'static Path {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = PYTHON.get_or_init(|| {
        std::panic::catch_unwind(build_and_install).map_err(|panic| {
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        })
    });
    match built {
        Ok(python) => python,
        Err(why) => panic!("the wheel could not be built and installed: {why}"),
    }
}

fn build_and_install() -> PathBuf {
    std::fs::create_dir_all(root().join("target")).unwrap();
    let lock = std::fs::File::create(root().join("target/pyenv-jongler.lock")).unwrap();
    fs2::FileExt::lock_exclusive(&lock).unwrap();
    let python = venv();
    let wheels = root().join("target/python/wheels");
    let _ = std::fs::remove_dir_all(&wheels);
    let built = Command::new(python.with_file_name("maturin"))
        .args(["build", "--release", "--quiet", "--out"])
        .arg(&wheels)
        .current_dir(root())
        // Where pyproject.toml builds, and where maturin looks for it.
        .env("CARGO_TARGET_DIR", root().join("target/python"))
        .status()
        .unwrap();
    assert!(built.success(), "maturin build failed");
    let wheel = std::fs::read_dir(&wheels)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .expect("maturin built a wheel");
    let ok = Command::new(&python)
        .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
        .args(["--force-reinstall", "--no-deps"])
        .arg(&wheel)
        .status()
        .unwrap()
        .success();
    assert!(ok, "pip install {}", wheel.display());
    python
}

/// Runs `python/tests/<file>` with pytest, one file at a time (they start
/// dozens of processes and threads each).
fn pytest(file: &str) {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let python = installed();
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let out = Command::new(python)
        .args(["-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfE", "-s"])
        .arg(root().join("python/tests").join(file))
        // The installed wheel, not the sources beside the tests.
        .current_dir(root().join("target"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("JONGLER_EMULATOR", env!("CARGO_BIN_EXE_jongler-emulator"))
        .env("JONGLER_BIN", env!("CARGO_BIN_EXE_jongler"))
        .env_remove("JONGLER_STATE")
        .env_remove("JONGLER_WAIT")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}{stderr}");
    assert!(out.status.success(), "pytest {file} failed");
    assert!(stdout.contains(" passed"), "pytest ran no test");
}

#[test]
fn python_package_runs_api_jonglers_readme_examples_with_only_the_import_changed() {
    pytest("test_api_jongler_readme.py");
}

#[test]
fn python_package_shares_one_pool_with_threads_commands_and_a_sigkilled_process() {
    pytest("test_pool_sharing.py");
}

#[test]
fn python_package_pythonic_api_streams_waits_and_raises_typed_errors() {
    pytest("test_api.py");
}

#[test]
fn python_package_command_runs_the_demo_and_exits_as_the_binary() {
    pytest("test_command.py");
}
