//! `jongler._native`: the jongler library as a Python extension module.
//!
//! The Python package (`python/jongler/`) re-exports what is here and adds
//! the api-jongler-compatible `APIJongler`, the asyncio wrapper and the
//! exception classes. Every call into the library lets go of the GIL, so
//! many Python threads share one `Jongler` and its pool: a key released in
//! this process goes straight to the thread that has waited longest.

use pyo3::prelude::*;

mod answer;
mod client;
mod command;
mod errors;
mod settings;

/// The jongler library: a pool of API keys shared safely by every process.
#[pymodule]
mod _native {
    #[pymodule_export]
    use super::answer::{KeyState, Response, Stream};
    #[pymodule_export]
    use super::client::Jongler;
    #[pymodule_export]
    use super::command::{cleanup_all, run_cli};

    #[pymodule_init]
    fn init(m: &pyo3::Bound<'_, pyo3::types::PyModule>) -> pyo3::PyResult<()> {
        use pyo3::types::PyModuleMethods;
        m.add("__version__", env!("CARGO_PKG_VERSION"))
    }
}

/// Whether jongler's log goes to Python's `logging` (set by the first
/// `Jongler`), or the `jongler` command has installed its own stderr logger
/// (a process has one logger for good).
pub(crate) mod log_owner {
    use std::sync::Mutex;

    /// Who took the process's logger.
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub enum Owner {
        /// Nobody yet.
        Nobody,
        /// The library, to Python's `logging`.
        Python,
        /// The command (its stderr logger, as the binary's).
        Command,
    }

    static OWNER: Mutex<Owner> = Mutex::new(Owner::Nobody);

    /// Sends jongler's log records to Python's `logging` (loggers named
    /// `jongler.…`), unless the command took the logger first.
    pub fn to_python(py: pyo3::Python<'_>) -> pyo3::PyResult<()> {
        let mut owner = OWNER.lock().unwrap_or_else(|e| e.into_inner());
        if *owner != Owner::Nobody {
            return Ok(());
        }
        // Only jongler's own records: the HTTP stack's could carry headers.
        let logger = pyo3_log::Logger::new(py, pyo3_log::Caching::LoggersAndLevels)?
            .filter(log::LevelFilter::Off)
            .filter_target("jongler".to_string(), log::LevelFilter::Debug);
        if logger.install().is_ok() {
            *owner = Owner::Python;
        }
        Ok(())
    }

    /// Claims the logger for the command; who had it when it was refused.
    pub fn for_command() -> Result<(), Owner> {
        let mut owner = OWNER.lock().unwrap_or_else(|e| e.into_inner());
        match *owner {
            Owner::Nobody => {
                *owner = Owner::Command;
                Ok(())
            }
            other => Err(other),
        }
    }
}
