//! The flags of `send`, as clap parses them (the command is in [`crate::send`]).

use super::{CommonArgs, parse_size};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// `track2pipelines send [OPTIONS] --state DIR INPUT...`
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The state directory: ledger, send-errors.ndjson, send-manifest.json (resume with the
    /// same command and DIR).
    #[arg(long, value_name = "DIR")]
    pub state: PathBuf,
    /// Base URL of the Pipelines API (http or https), instead of --region's.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// The workspace's region.
    #[arg(long, value_enum, default_value_t = Region::Us)]
    pub region: Region,
    /// Read the write key from this file (else from CIO_WRITE_KEY).
    #[arg(long, value_name = "FILE")]
    pub write_key_file: Option<PathBuf>,
    /// Requests per second at most (0: no limit).
    #[arg(long, default_value_t = 1000.0, value_name = "N")]
    pub rate: f64,
    /// Requests in flight at most (the sender adapts within it).
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub concurrency: usize,
    /// A request body holds at most this many bytes.
    #[arg(long, default_value = "500000", value_parser = parse_size, value_name = "BYTES")]
    pub max_batch_bytes: u64,
    /// A request holds at most this many calls.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub max_batch_calls: usize,
    /// Tries after the first for a batch that meets 408, 5xx, timeouts or connection errors.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub max_retries: u32,
    /// Time allowed for one request, answer included (e.g. 30s, 500ms).
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "TIME")]
    pub request_timeout: Duration,
    /// sentAt: the time each request is first sent, the files' value, or none.
    #[arg(long, value_enum, default_value_t = SentAtArg::Send)]
    pub sent_at: SentAtArg,
    /// Send only the first N calls (a canary).
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// Send nothing: write the request bodies to DIR/dry-run/ and print the plan.
    #[arg(long)]
    pub dry_run: bool,
    /// The inputs are Track archives, converted on the fly as convert would.
    #[arg(long, value_enum, value_name = "KIND")]
    pub from: Option<FromArg>,
    /// Send only share K of N of convert output directories: whole part files, N groups of
    /// nearly equal bytes (K/N, or auto/N: K from JOB_COMPLETION_INDEX or
    /// AWS_BATCH_JOB_ARRAY_INDEX). Give each shard its own --state.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Start over: remove the state's files of earlier sends first.
    #[arg(long)]
    pub restart: bool,
    /// Send again the calls recorded as refused (refused_by_server) in send-errors.ndjson.
    #[arg(long)]
    pub retry_refused: bool,
    /// Calls less than 72 hours old: send them (with a warning), leave them out, or stop.
    #[arg(long, value_enum, default_value_t = RecentArg::Allow)]
    pub recent: RecentArg,
    /// Backoff before the first retry (doubles, up to 30 s; tuning and tests).
    #[arg(long, default_value = "200ms", value_parser = parse_duration, hide = true)]
    pub retry_backoff: Duration,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Region {
    Us,
    Eu,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SentAtArg {
    Send,
    Keep,
    Omit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FromArg {
    Track,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RecentArg {
    Allow,
    Skip,
    Fail,
}

/// A duration: `30s`, `500ms`, `2m`, or plain seconds (`1.5`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 30s or 500ms"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        _ => return Err(format!("unknown unit in {s:?} (use ms, s or m)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
    }
}
