//! The validated configuration of one `send`: what the command line's flags became once every
//! value was checked (the flags and their checks are in `src/cli/send.rs`). Nothing here reads
//! the flags again; [`super::run`] takes a [`SendConfig`] as it is.

use super::call::SentAt;
use crate::config::{Config, Progress, Shard};
use std::path::PathBuf;
use std::time::Duration;

/// The API's limit on one request body, `{"batch":[…]}` included (docs/send.md: the API answers
/// 200 to a larger body and drops it).
pub const API_MAX_BATCH_BYTES: u64 = 500_000;

pub use crate::calls::API_MAX_CALL_BYTES;

/// The write key: kept in memory only, never printed (its `Debug` shows `[redacted]`).
#[derive(Clone)]
pub struct WriteKey(String);

impl WriteKey {
    /// A key as read from `CIO_WRITE_KEY` or `--write-key-file`, already trimmed and checked.
    pub fn new(key: String) -> WriteKey {
        WriteKey(key)
    }

    /// The key itself, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for WriteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// `--recent`: what happens to calls less than 72 hours old.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recent {
    /// Send them, with a warning.
    Allow,
    /// Leave them out (they go to `send-errors.ndjson`).
    Skip,
    /// Send nothing when there are any.
    Fail,
}

/// `--from track`: the Track archives are converted first, by the same configuration `convert`
/// builds from the same flags (into `DIR/converted/`).
#[derive(Debug, Clone)]
pub struct TrackConversion {
    /// The conversion's configuration: inputs, mapping options, output `DIR/converted/`.
    pub config: Config,
    /// `--now` was given: a resumed send does not reuse the reference time it recorded.
    pub now_given: bool,
}

/// The validated options of one send.
#[derive(Debug, Clone)]
pub struct SendConfig {
    /// The inputs as given (convert output directories, Pipelines NDJSON, `-`); with
    /// `--from track` the Track archives (also in [`TrackConversion::config`]).
    pub inputs: Vec<PathBuf>,
    /// `--state DIR`.
    pub state: PathBuf,
    /// `--restart`: remove the state's files of earlier sends first.
    pub restart: bool,
    /// `--retry-refused`: send again the calls earlier runs recorded as refused by the server.
    pub retry_refused: bool,
    /// `--since`, `--until`, `--types`, `--events`, `--exclude-events`, `--transform`
    /// (docs/transforms.md), compiled; with `--from track` the conversion applies it.
    pub select: Option<std::sync::Arc<crate::select::Selection>>,
    /// The base URL (`--endpoint`, else the region's), without a trailing `/` and without user
    /// information.
    pub endpoint: String,
    /// The write key (none only with `--dry-run`).
    pub key: Option<WriteKey>,
    /// `--rate`: requests per second at most; 0 is no limit.
    pub rate: f64,
    /// `--concurrency`: requests in flight at most.
    pub concurrency: usize,
    /// `--max-retries`.
    pub max_retries: u32,
    /// `--request-timeout`.
    pub request_timeout: Duration,
    /// Backoff before the first retry.
    pub retry_backoff: Duration,
    /// `--sent-at`.
    pub sent_at: SentAt,
    /// `--recent`.
    pub recent: Recent,
    /// `--limit`: send only the first N calls.
    pub limit: Option<u64>,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--shard K/N`: send only this share of the part files.
    pub shard: Option<Shard>,
    /// `--max-batch-bytes`, 1 to [`API_MAX_BATCH_BYTES`].
    pub max_batch_bytes: usize,
    /// `--max-batch-calls`, at least 1.
    pub max_batch_calls: usize,
    /// `--max-call-bytes`, 1 to [`API_MAX_CALL_BYTES`].
    pub max_call_bytes: usize,
    /// `--from track`.
    pub from_track: Option<TrackConversion>,
    /// `--progress` (`Never` with `--quiet`).
    pub progress: Progress,
    /// `--progress-interval`: off a terminal, one plain progress line at most this often.
    pub progress_interval: std::time::Duration,
    /// `--quiet`: no progress bar and no summary.
    pub quiet: bool,
    /// `--summary-json`.
    pub summary_json: Option<crate::target::Target>,
    /// The command line, for the manifest.
    pub command_line: Vec<String>,
}
