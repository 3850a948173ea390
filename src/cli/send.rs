//! The flags of `send`, as clap parses them, and their validation into the [`SendConfig`] the
//! command takes (the command is in [`crate::send`]). Every refusal here exits 2 before the
//! state directory is touched or a request is made.

use super::{MappingArgs, ReportArgs, parse_size};
use crate::config::Shard;
use crate::error::{Error, Result};
use crate::send::batch::FRAME_BYTES;
use crate::send::call::SentAt;
use crate::send::config::{API_MAX_BATCH_BYTES, API_MAX_CALL_BYTES};
use crate::send::{Recent, SendConfig, TrackConversion, WriteKey};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `track2pipelines send [OPTIONS] --state DIR INPUT...`
#[derive(Debug, Args)]
pub struct SendArgs {
    /// Convert output directories, files or directories of Pipelines NDJSON (plain, gzip or
    /// zstd), or `-` for stdin; with --from track, Track archives.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,

    /// The state directory: ledger, send-errors.ndjson, send-manifest.json (resume with the
    /// same command and DIR).
    #[arg(long, value_name = "DIR", help_heading = "State and resume")]
    pub state: PathBuf,
    /// Start over: remove the state's files of earlier sends first.
    #[arg(long, help_heading = "State and resume")]
    pub restart: bool,
    /// Send again the calls an earlier run recorded as refused by the server
    /// (refused_by_server in send-errors.ndjson), for example after fixing them upstream.
    #[arg(long, help_heading = "State and resume")]
    pub retry_refused: bool,

    /// Base URL of the Pipelines API (http or https, no user:password@, no ?query or #fragment),
    /// instead of --region's.
    #[arg(long, value_name = "URL", help_heading = "Delivery")]
    pub endpoint: Option<String>,
    /// The workspace's region.
    #[arg(long, value_enum, default_value_t = Region::Us, help_heading = "Delivery")]
    pub region: Region,
    /// Read the write key from this file (else from CIO_WRITE_KEY).
    #[arg(long, value_name = "FILE", help_heading = "Delivery")]
    pub write_key_file: Option<PathBuf>,
    /// Requests per second at most (0: no limit).
    #[arg(
        long,
        default_value_t = 1000.0,
        value_name = "N",
        help_heading = "Delivery"
    )]
    pub rate: f64,
    /// Requests in flight at most, 1 to 1024 (the sender adapts within it).
    #[arg(
        long,
        default_value_t = 16,
        value_name = "N",
        help_heading = "Delivery"
    )]
    pub concurrency: usize,
    /// Tries after the first for a batch that meets 408, 5xx, timeouts or connection errors.
    #[arg(
        long,
        default_value_t = 10,
        value_name = "N",
        help_heading = "Delivery"
    )]
    pub max_retries: u32,
    /// Time allowed for one request, answer included (e.g. 30s, 500ms).
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "TIME",
        help_heading = "Delivery")]
    pub request_timeout: Duration,
    /// What each call's sentAt is: the time its request is first sent (send), the input's
    /// value (keep), or none (omit).
    ///
    /// sentAt tells the server when the call left its sender; a server that corrects for clock
    /// skew compares it with its own clock and shifts the call's timestamp by the difference.
    /// `send` (the default) sets it when the request first goes out, as Customer.io's own
    /// libraries do, so the difference is nil and a backfilled call keeps its historical
    /// timestamp. `keep` sends the
    /// input's sentAt (the time the call was first made, long ago for a backfill); `omit`
    /// drops it.
    #[arg(long, value_enum, default_value_t = SentAtArg::Send, value_name = "WHEN",
        help_heading = "Delivery")]
    pub sent_at: SentAtArg,
    /// Calls less than 72 hours old: send them (with a warning), leave them out, or stop.
    #[arg(long, value_enum, default_value_t = RecentArg::Allow, value_name = "WHAT",
        help_heading = "Delivery")]
    pub recent: RecentArg,
    /// Send only the first N calls (a canary).
    #[arg(long, value_name = "N", help_heading = "Delivery")]
    pub limit: Option<u64>,
    /// Send only share K of N of convert output directories: whole part files, N groups of
    /// nearly equal bytes (K/N, or auto/N: K from JOB_COMPLETION_INDEX or
    /// AWS_BATCH_JOB_ARRAY_INDEX). Give each shard its own --state.
    #[arg(long, value_name = "K/N", help_heading = "Delivery")]
    pub shard: Option<String>,
    /// Send nothing: write the request bodies to DIR/dry-run/ and print the plan.
    #[arg(long, help_heading = "Delivery")]
    pub dry_run: bool,
    /// Backoff before the first retry (doubles, up to 30 s; tuning and tests).
    #[arg(long, default_value = "200ms", value_parser = parse_duration, hide = true)]
    pub retry_backoff: Duration,

    /// A request body holds at most this many bytes, {"batch":[…]} included (the API takes
    /// 500000 at most).
    #[arg(long, default_value_t = API_MAX_BATCH_BYTES, value_parser = parse_size, value_name = "BYTES",
        help_heading = "Limits")]
    pub max_batch_bytes: u64,
    /// A request holds at most this many calls.
    #[arg(
        long,
        default_value_t = 1000,
        value_name = "N",
        help_heading = "Limits"
    )]
    pub max_batch_calls: usize,
    /// A call holds at most this many bytes as sent (the API takes 32768 at most); larger
    /// ones go to send-errors.ndjson (call_too_large), or with --from track are rejected.
    #[arg(long, default_value_t = API_MAX_CALL_BYTES, value_parser = parse_size, value_name = "BYTES",
        help_heading = "Limits")]
    pub max_call_bytes: u64,

    /// The inputs are Track archives, converted first as convert would (into DIR/converted/),
    /// with the options below.
    #[arg(long, value_enum, value_name = "KIND", help_heading = CONVERSION)]
    pub from: Option<FromArg>,
    /// The mapping's options, as for convert; with --from track only.
    #[command(flatten, next_help_heading = CONVERSION)]
    pub mapping: MappingArgs,
    /// Which calls move and how they are reshaped (docs/transforms.md): with or without
    /// --from track.
    #[command(flatten, next_help_heading = "Selection")]
    pub select: super::select::SelectArgs,

    /// The progress line, the summary and where it goes.
    #[command(flatten)]
    pub report: ReportArgs,
}

/// The help heading of the options that need `--from track`.
const CONVERSION: &str = "Conversion (with --from track)";

/// `--region` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Region {
    /// https://cdp.customer.io/v1
    Us,
    /// https://cdp-eu.customer.io/v1
    Eu,
}

/// `--sent-at` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SentAtArg {
    /// The time the call's request is first sent (a retry or a resume keeps it).
    Send,
    /// The input's sentAt, as it is.
    Keep,
    /// No sentAt.
    Omit,
}

/// `--from` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FromArg {
    /// Track API archives (NDJSON or CSV, as convert reads them).
    Track,
}

/// `--recent` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RecentArg {
    /// Send them, with a warning.
    Allow,
    /// Leave them out (they go to send-errors.ndjson).
    Skip,
    /// Send nothing at all when there are any.
    Fail,
}

fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

impl SendArgs {
    /// Validates the flags into the send's configuration. `matches` are the `send`
    /// subcommand's, which say which options the user gave.
    pub(crate) fn into_config(
        self,
        matches: &ArgMatches,
        command_line: Vec<String>,
    ) -> Result<SendConfig> {
        self.check_conversion_options(matches)?;
        let (max_batch_bytes, max_call_bytes) = self.limits()?;
        self.check_pace()?;
        let endpoint = self.endpoint()?;
        let key = self.write_key()?;
        let summary_json = self.check_summary_json()?;
        let shard = self
            .shard
            .as_deref()
            .map(|s| Shard::parse(s, |v| std::env::var(v).ok()))
            .transpose()?;
        if shard.is_some() && self.from.is_some() {
            return Err(usage(
                "--shard sends a share of convert output directories; with --from track, \
                 convert the archives with convert --shard first, merge them, then send the \
                 output with --shard",
            ));
        }
        let select = self.select.selection()?;
        let from_track = match self.from {
            Some(FromArg::Track) => Some(TrackConversion {
                now_given: self.mapping.now.is_some(),
                config: super::track_conversion(
                    self.inputs.clone(),
                    self.mapping.clone(),
                    (self.max_call_bytes, select.clone()),
                    self.state.join(crate::send::state::CONVERTED),
                    command_line.clone(),
                )?,
            }),
            None => None,
        };
        Ok(SendConfig {
            progress: self.report.progress(),
            progress_interval: std::time::Duration::from_secs(self.report.progress_interval),
            quiet: self.report.quiet,
            summary_json,
            inputs: self.inputs,
            state: self.state,
            restart: self.restart,
            retry_refused: self.retry_refused,
            select,
            endpoint,
            key,
            rate: self.rate,
            concurrency: self.concurrency,
            max_retries: self.max_retries,
            request_timeout: self.request_timeout,
            retry_backoff: self.retry_backoff,
            sent_at: match self.sent_at {
                SentAtArg::Send => SentAt::Send,
                SentAtArg::Keep => SentAt::Keep,
                SentAtArg::Omit => SentAt::Omit,
            },
            recent: match self.recent {
                RecentArg::Allow => Recent::Allow,
                RecentArg::Skip => Recent::Skip,
                RecentArg::Fail => Recent::Fail,
            },
            limit: self.limit,
            dry_run: self.dry_run,
            shard,
            max_batch_bytes,
            max_batch_calls: self.max_batch_calls,
            max_call_bytes,
            from_track,
            command_line,
        })
    }

    /// The mapping's options mean something only for a conversion: given without
    /// `--from track` they would be ignored, so they are refused.
    fn check_conversion_options(&self, matches: &ArgMatches) -> Result<()> {
        if self.from.is_some() {
            return Ok(());
        }
        let group = <MappingArgs as Args>::augment_args(clap::Command::new("mapping"));
        let given = group.get_arguments().find(|arg| {
            matches.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine)
        });
        match given {
            Some(arg) => Err(usage(format!(
                "--{} needs --from track: it sets how Track archives are converted, and \
                 without --from track the inputs are sent as they are",
                arg.get_long().unwrap_or(arg.get_id().as_str())
            ))),
            None => Ok(()),
        }
    }

    /// `--max-batch-bytes` and `--max-call-bytes`, within the API's limits (the API answers 200
    /// to a request over them and drops it) and within each other.
    fn limits(&self) -> Result<(usize, usize)> {
        if self.max_batch_bytes == 0 || self.max_batch_bytes > API_MAX_BATCH_BYTES {
            return Err(usage(format!(
                "--max-batch-bytes must be 1 to {API_MAX_BATCH_BYTES}: the Pipelines API takes \
                 request bodies of at most {API_MAX_BATCH_BYTES} bytes (500 KB) and silently \
                 drops larger ones"
            )));
        }
        if self.max_call_bytes == 0 || self.max_call_bytes > API_MAX_CALL_BYTES {
            return Err(usage(format!(
                "--max-call-bytes must be 1 to {API_MAX_CALL_BYTES}: the Pipelines API takes \
                 calls of at most {API_MAX_CALL_BYTES} bytes (32 KB) and silently drops larger \
                 ones"
            )));
        }
        if self.max_batch_calls == 0 {
            return Err(usage(
                "--max-batch-calls must be at least 1: a request holds one call or more",
            ));
        }
        let (batch, call) = (self.max_batch_bytes as usize, self.max_call_bytes as usize);
        if batch < call + FRAME_BYTES {
            return Err(usage(format!(
                "--max-batch-bytes must be at least --max-call-bytes + {FRAME_BYTES} ({})",
                call + FRAME_BYTES
            )));
        }
        Ok((batch, call))
    }

    /// `--rate`, `--concurrency` and `--request-timeout`.
    fn check_pace(&self) -> Result<()> {
        if !(self.rate.is_finite() && self.rate >= 0.0) {
            return Err(usage(
                "--rate must be a number of requests per second, 0 or more",
            ));
        }
        if !(1..=1024).contains(&self.concurrency) {
            return Err(usage("--concurrency must be between 1 and 1024"));
        }
        if self.request_timeout.is_zero() {
            return Err(usage("--request-timeout must be more than 0"));
        }
        Ok(())
    }

    /// The base URL: `--endpoint`, else the region's. User information in it is refused
    /// without echoing it: the key has its own ways in, and would be written with the URL.
    fn endpoint(&self) -> Result<String> {
        let endpoint = match (&self.endpoint, self.region) {
            (Some(e), _) => e.trim_end_matches('/').to_owned(),
            (None, Region::Us) => "https://cdp.customer.io/v1".to_owned(),
            (None, Region::Eu) => "https://cdp-eu.customer.io/v1".to_owned(),
        };
        if has_user_info(&endpoint) {
            return Err(usage(
                "--endpoint holds user information (user:password@): it would be written to \
                 the state and the manifests; give the write key with CIO_WRITE_KEY or \
                 --write-key-file, and the endpoint without it",
            ));
        }
        crate::send::client::batch_url(&endpoint).map_err(Error::Usage)?;
        Ok(endpoint)
    }

    /// The write key, from `--write-key-file` or `CIO_WRITE_KEY` (none only with `--dry-run`).
    fn write_key(&self) -> Result<Option<WriteKey>> {
        let key = match &self.write_key_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    usage(format!(
                        "cannot read --write-key-file {}: {e}",
                        path.display()
                    ))
                })?;
                Some(text.trim().to_owned())
            }
            None => std::env::var("CIO_WRITE_KEY")
                .ok()
                .map(|k| k.trim().to_owned()),
        }
        .filter(|k| !k.is_empty());
        if key.is_none() && !self.dry_run {
            return Err(usage(
                "no write key: set CIO_WRITE_KEY or give --write-key-file FILE",
            ));
        }
        if let Some(k) = &key
            && k.bytes().any(|b| b.is_ascii_control())
        {
            return Err(usage("the write key holds control characters"));
        }
        Ok(key.map(WriteKey::new))
    }

    /// `--summary-json`: its directory exists, and it is neither in the state directory nor an
    /// input (or inside an input directory or a convert output).
    fn check_summary_json(&self) -> Result<Option<crate::target::Target>> {
        let Some(p) = &self.report.summary_json else {
            return Ok(None);
        };
        let dir = p
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !dir.is_dir() {
            return Err(usage(format!(
                "--summary-json {}: its directory does not exist",
                p.display()
            )));
        }
        let abs = |x: &Path| std::fs::canonicalize(x).unwrap_or_else(|_| x.to_path_buf());
        if abs(dir).starts_with(abs(&self.state)) {
            return Err(usage(
                "--summary-json may not lie inside the state directory",
            ));
        }
        // Never an input, nor a file inside an input directory or a convert output.
        let target = crate::target::Target::check(p, "--summary-json")?;
        super::paths::check_paths(&self.inputs, None, &[("--summary-json", &target)])?;
        Ok(Some(target))
    }
}

/// Whether a URL's authority (between `scheme://` and the path) holds `user@` or
/// `user:password@`; read from the text, so an unparsable URL is caught too.
fn has_user_info(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority.contains('@')
}

/// A duration: `30s`, `500ms`, `2m`, or plain seconds (`1.5`).
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
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
    fn user_info_is_found_in_any_url() {
        assert!(has_user_info("http://u:KEY@127.0.0.1:1/v1"));
        assert!(has_user_info("https://KEY@host"));
        assert!(has_user_info("http://u:K@"));
        assert!(!has_user_info("https://cdp.customer.io/v1"));
        assert!(!has_user_info("http://host/v1/a@b"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
    }
}
