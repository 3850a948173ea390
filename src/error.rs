//! Fatal errors: problems that stop the run (bad usage, an unwritable output, an interrupt).
//! Per-record problems are [`crate::reject::Reject`]s and never stop anything.

use std::path::PathBuf;

/// A problem that stops the run, with the exit status it gives ([`Error::exit_code`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad flags, an unreadable input path, a refused `--out`: exit status 2.
    #[error("{0}")]
    Usage(String),
    /// An I/O failure on a named file: exit status 1.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// Any other failure that stops the run (a storage error, an incomplete job): exit status 1.
    #[error("{0}")]
    Failed(String),
    /// A bug: a thread panicked. Exit status 1, like any failure.
    #[error("internal error: {0}")]
    Internal(String),
    /// SIGINT or SIGTERM: exit status 130 or 143.
    #[error("interrupted by signal {0}")]
    Interrupted(i32),
}

impl Error {
    /// An I/O failure on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// The process exit status for this error: 2 for usage, 1 for failures, 128 + the signal.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => 2,
            Error::Io { .. } | Error::Failed(_) | Error::Internal(_) => 1,
            Error::Interrupted(sig) => 128 + sig,
        }
    }
}

/// A result whose error stops the run.
pub type Result<T> = std::result::Result<T, Error>;

/// A fault the tests inject into a debug build through `TRACK2PIPELINES_FAULT` (the panics
/// and failures no input can cause); always false in a release build.
pub(crate) fn fault(name: &str) -> bool {
    cfg!(debug_assertions) && std::env::var_os("TRACK2PIPELINES_FAULT").is_some_and(|v| v == name)
}
