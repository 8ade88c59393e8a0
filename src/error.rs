//! The few typed errors callers branch on, and the exit-code table.
//!
//! Everything else travels as `anyhow::Error` with context; [`exit_code_of`]
//! looks for one of these in the chain to pick the process exit code.

use std::fmt;

/// The process exit codes, the one table shared by `--help`, README and `main`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// The request succeeded (HTTP 2xx or 3xx), or the command did its job.
    Success = 0,
    /// A runtime or network failure.
    Runtime = 1,
    /// A usage or configuration error: nothing was sent.
    Usage = 2,
    /// No key became available within `--wait`.
    NoKey = 3,
    /// The API answered 4xx (the body is still printed).
    ClientError = 4,
    /// The API answered 5xx (the body is still printed).
    ServerError = 5,
    /// Interrupted by Ctrl-C (128 + SIGINT).
    Interrupted = 130,
}

impl ExitCode {
    /// The exit code for an HTTP status the API answered with.
    pub fn for_status(status: u16) -> ExitCode {
        match status {
            400..=499 => ExitCode::ClientError,
            500..=599 => ExitCode::ServerError,
            _ => ExitCode::Success,
        }
    }

    /// The code for a number [`ExitCode::code`] gave (anything else: 1).
    pub fn from_code(code: u8) -> ExitCode {
        match code {
            0 => ExitCode::Success,
            2 => ExitCode::Usage,
            3 => ExitCode::NoKey,
            4 => ExitCode::ClientError,
            5 => ExitCode::ServerError,
            130 => ExitCode::Interrupted,
            _ => ExitCode::Runtime,
        }
    }

    /// The numeric code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// The help text's table of exit codes.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
    0  success (HTTP 2xx/3xx)
    1  runtime or network failure
    2  usage or configuration error
    3  no key available within --wait
    4  HTTP 4xx (body still printed)
    5  HTTP 5xx (body still printed)
  130  interrupted (Ctrl-C)";

/// Errors whose kind decides the exit code.
#[derive(Debug)]
pub enum Error {
    /// Bad command line, configuration, connector or state dir (exit 2).
    Usage(String),
    /// The shared state store can't be reached or refused a step (exit 1):
    /// nothing was sent without a lease.
    Unavailable(String),
    /// The caller went away before its request was sent (a proxy's client
    /// hung up): nothing was sent (exit 1).
    Gone,
    /// No key could be had within the wait (exit 3).
    NoKey {
        /// What happened, for people.
        message: String,
        /// When a key comes back, if known (a proxy's `Retry-After`).
        retry_at: Option<jiff::Timestamp>,
        /// Whether keys were held by other calls when the wait ran out: one
        /// may come free any moment (else what is left is out: tried, in
        /// ERROR, or back only at `retry_at`).
        busy: bool,
    },
}

impl Error {
    /// The exit code this error maps to.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) => ExitCode::Usage,
            Error::Unavailable(_) | Error::Gone => ExitCode::Runtime,
            Error::NoKey { .. } => ExitCode::NoKey,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(message) | Error::Unavailable(message) | Error::NoKey { message, .. } => {
                f.write_str(message)
            }
            Error::Gone => f.write_str("the caller went away before its request was sent"),
        }
    }
}

impl std::error::Error for Error {}

/// Shorthand for a usage/configuration error as an `anyhow::Error`.
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    Error::Usage(msg.into()).into()
}

/// The exit code for an error: the first typed [`Error`] in its chain, else 1.
pub fn exit_code_of(err: &anyhow::Error) -> ExitCode {
    err.chain()
        .find_map(|cause| cause.downcast_ref::<Error>())
        .map_or(ExitCode::Runtime, Error::exit_code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn statuses_map_to_their_exit_codes() {
        assert_eq!(ExitCode::for_status(200).code(), 0);
        assert_eq!(ExitCode::for_status(304).code(), 0);
        assert_eq!(ExitCode::for_status(404).code(), 4);
        assert_eq!(ExitCode::for_status(429).code(), 4);
        assert_eq!(ExitCode::for_status(503).code(), 5);
    }

    #[test]
    fn typed_errors_are_found_under_context() {
        let err = Err::<(), _>(usage("bad"))
            .context("while loading")
            .unwrap_err();
        assert_eq!(exit_code_of(&err), ExitCode::Usage);
        let err = anyhow::anyhow!("io").context("x");
        assert_eq!(exit_code_of(&err), ExitCode::Runtime);
        let err: anyhow::Error = Error::NoKey {
            message: "none".into(),
            retry_at: None,
            busy: false,
        }
        .into();
        assert_eq!(exit_code_of(&err).code(), 3);
    }
}
