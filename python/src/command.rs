//! The `jongler` command inside Python (the wheel's console script), and
//! the state-wide cleanup api-jongler's `APIJongler.cleanUp()` stands for.

use crate::errors::OrRaise;
use jongler::CleanReport;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

/// Runs the `jongler` command with `argv` (the program's name first) in
/// this process and returns its exit code: the binary's arguments, output
/// and exit codes exactly. The command installs its own stderr logger, so
/// it runs once, in a process that hasn't made a `Jongler` (the console
/// script's).
#[pyfunction]
pub fn run_cli(py: Python<'_>, argv: Vec<OsString>) -> PyResult<u8> {
    if let Err(owner) = crate::log_owner::for_command() {
        let why = match owner {
            crate::log_owner::Owner::Command => "the jongler command already ran in this process",
            _ => "this process sends jongler's log to Python's logging",
        };
        return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
            "run_cli runs the jongler command once, in a process of its own: {why}; run the `jongler` command instead"
        )));
    }
    Ok(py.detach(move || {
        let code = command(&argv);
        // The binary's runtime flushes stdout as it exits; a Python process
        // doesn't flush Rust's.
        let _ = std::io::stdout().flush();
        code
    }))
}

/// What `src/main.rs` does, with clap's parse errors printed as the
/// binary prints them (help and the version on stdout, exit 0; an
/// argument error in jongler's voice, exit 2).
fn command(argv: &[OsString]) -> u8 {
    use clap::error::ErrorKind;
    match jongler::cli::Cli::try_parse_from(argv) {
        Ok(cli) => jongler::app::main(cli).code(),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            let _ = e.print();
            u8::try_from(e.exit_code()).unwrap_or(2)
        }
        Err(e) => {
            let _ = std::io::stderr().write_all(jongler::cli::in_our_voice(&e).as_bytes());
            2
        }
    }
}

/// Removes every connector's LOCKDOWN and ERROR marks and the locks of dead
/// holders (`jongler --cleanup-all`), in the state dir or Redis the options
/// name (else `$JONGLER_STATE`, `$JONGLER_STATE_DIR`, the platform's); what
/// it removed.
#[pyfunction]
#[pyo3(signature = (*, state_dir=None, state=None))]
pub fn cleanup_all(
    py: Python<'_>,
    state_dir: Option<PathBuf>,
    state: Option<String>,
) -> PyResult<Bound<'_, PyDict>> {
    let cleaned = py.detach(|| -> anyhow::Result<CleanReport> {
        let paths = jongler::config::Paths::resolve(None, state_dir.as_deref(), None)?;
        let lease_ttl = jongler::Options::default().lease_ttl;
        jongler::pool::Backend::resolve(state.as_deref(), &paths.state_dir, lease_ttl)?.clean_all()
    });
    report(py, &cleaned.or_raise(py)?)
}

/// A cleanup's report: `{"lockdowns", "errors", "stale_locks", "held"}`.
pub fn report<'py>(py: Python<'py>, report: &CleanReport) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("lockdowns", report.lockdowns)?;
    dict.set_item("errors", report.errors)?;
    dict.set_item("stale_locks", report.stale_locks)?;
    dict.set_item("held", report.held)?;
    Ok(dict)
}
