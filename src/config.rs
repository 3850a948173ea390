//! The validated configuration of a `convert` or `check` run (and of `send --from track`'s
//! conversion): everything the command line's flags became once `src/cli/` parsed and checked
//! them before any work starts, or what a library user built in code ([`Config::convert`],
//! [`Config::check`]).

mod builder;
pub(crate) mod paths;

pub use builder::{
    ConfigBuilder, DEFAULT_BLOCK_BYTES, DEFAULT_IDLE_FRAME_BYTES, DEFAULT_MAX_FILE_BYTES,
    DEFAULT_MAX_LINE_BYTES, DEFAULT_MAX_OPEN_FILES, DEFAULT_PROGRESS_INTERVAL_SECS,
    DEFAULT_SPLIT_BYTES,
};

use crate::error::{Error, Result};
pub use crate::target::Target;
use crate::translate::Options;
use std::path::PathBuf;

/// The subcommand a [`Config`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `convert`: translate the inputs and write the calls, errors and manifest under `--out`.
    Convert,
    /// `check`: translate the inputs without writing calls: counts and rejects only.
    Check,
}

/// `--input-format`: how inputs are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// One JSON record per line.
    Ndjson,
    /// CSV: a header row, then one record per row.
    Csv,
    /// CSV for names ending `.csv` or `.tsv` (before any compression suffix), else NDJSON.
    Auto,
}

/// The CSV layouts, defined with the mapping that reads them (the mapping knows no
/// configuration).
pub use crate::csv::CsvLayout;

/// `--compress`: how part files and the error file are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain files.
    None,
    /// zstd (`.zst`).
    Zstd,
    /// gzip (`.gz`).
    Gzip,
}

impl Compression {
    /// The file-name suffix of this compression: `""`, `".zst"` or `".gz"`.
    pub fn suffix(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Zstd => ".zst",
            Compression::Gzip => ".gz",
        }
    }
}

/// One level of `--partition-by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionBy {
    /// By call type: `type=track`.
    Type,
    /// By the call's UTC day: `date=2023-08-24`.
    Date,
    /// By the call's UTC hour: `hour=2023-08-24T16`.
    Hour,
    /// By the hash of the call's `userId` (else `anonymousId`, else `groupId`), into this many
    /// buckets: `bucket=007`.
    Bucket(u32),
}

/// `--progress`: when the progress line is drawn on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Only when stderr is a terminal.
    Auto,
    /// Always, even when stderr is not a terminal.
    Always,
    /// Never (also with `--quiet`).
    Never,
}

/// Where the calls and files go (`convert` only).
#[derive(Debug, Clone)]
pub struct OutputConfig {
    /// `--out`: the output directory, or an object-store URL as given.
    pub dir: PathBuf,
    /// `--partition-by`: the partition levels, outermost first; empty for `none`.
    pub partition_by: Vec<PartitionBy>,
    /// `--compress`.
    pub compress: Compression,
    /// `--compress-level`, or the compression's default (zstd 1, gzip 6).
    pub compress_level: i32,
    /// `--max-file-bytes`: a part file ends before it would pass this size (before compression).
    pub max_file_bytes: u64,
    /// `--max-file-records`: a part file ends before it would pass this many calls; 0: no limit.
    pub max_file_records: u64,
    /// `--overwrite`: replace the files of an earlier run in `dir`.
    pub overwrite: bool,
    /// `--max-open-files`.
    pub max_open_files: usize,
    /// Unfinished compressed frames kept in memory for closed files, in all.
    pub idle_frame_bytes: usize,
}

/// The validated configuration of a `convert` or `check` run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The subcommand.
    pub command: Command,
    /// Inputs as given (`-` for stdin).
    pub inputs: Vec<PathBuf>,
    /// A directory discovery skips: `--out`, when it lies inside an input directory.
    pub exclude: Option<PathBuf>,
    /// `--input-format`.
    pub input_format: InputFormat,
    /// `--csv-layout` (`Auto`: detected from each file's header).
    pub csv_layout: CsvLayout,
    /// Worker threads, 1 to 256 (`--threads`, else the cores available).
    pub threads: usize,
    /// The mapping's settings (reference time, integrations, messageIds, call size limit).
    pub translate: Options,
    /// `--max-line-bytes`: longer lines are rejected (`line_too_long`).
    pub max_line_bytes: u64,
    /// `--progress` (`Never` with `--quiet`).
    pub progress: Progress,
    /// `--progress-interval`: off a terminal, one plain progress line at most this often.
    pub progress_interval: std::time::Duration,
    /// `--quiet`: no progress line and no summary.
    pub quiet: bool,
    /// `--summary-json`: where the end-of-run summary is written as JSON.
    pub summary_json: Option<Target>,
    /// `convert`: the output directory and layout.
    pub output: Option<OutputConfig>,
    /// `check --errors FILE`.
    pub errors_file: Option<Target>,
    /// Bytes read from an input at a time.
    pub block_bytes: usize,
    /// The command line, for the manifest.
    pub command_line: Vec<String>,
    /// `--shard K/N`: this process's share of the inputs (docs/scale-out.md).
    pub shard: Option<Shard>,
    /// `--split-bytes`: plain NDJSON inputs larger than this may be cut between shards.
    pub split_bytes: u64,
}

impl Config {
    /// The options that decide which calls a record becomes, by name, for the identities
    /// that are written down and compared later (a send's state, a shard's manifest): explicit
    /// fields and fixed names, so a renamed field or another compiler never changes them. The
    /// reference time is left out (each identity records it on its own).
    pub fn mapping_identity(&self) -> serde_json::Value {
        let t = &self.translate;
        serde_json::json!({
            "input_format": match self.input_format {
                InputFormat::Ndjson => "ndjson",
                InputFormat::Csv => "csv",
                InputFormat::Auto => "auto",
            },
            "csv_layout": match self.csv_layout {
                CsvLayout::Auto => "auto",
                CsvLayout::Http => "http",
                CsvLayout::V2 => "v2",
                CsvLayout::Events => "events",
                CsvLayout::People => "people",
            },
            "max_line_bytes": self.max_line_bytes,
            "max_call_bytes": t.max_call_bytes,
            "integrations": t.integrations,
            "message_ids": match t.message_ids {
                crate::translate::MessageIds::Derived => "derived",
                crate::translate::MessageIds::Random => "random",
            },
            "email_trait": t.email_trait,
            "keep_failed_calls": t.keep_failed_calls,
            "missing_time": match t.missing_time {
                crate::translate::MissingTime::Now => "now",
                crate::translate::MissingTime::Reject => "reject",
            },
        })
    }

    /// The options that decide the output's files (partitions, compression, file sizes), by
    /// name as in [`Config::mapping_identity`]; null for `check`.
    pub fn layout_identity(&self) -> serde_json::Value {
        let Some(o) = &self.output else {
            return serde_json::Value::Null;
        };
        let keys: Vec<String> = o
            .partition_by
            .iter()
            .map(|p| match p {
                PartitionBy::Type => "type".to_owned(),
                PartitionBy::Date => "date".to_owned(),
                PartitionBy::Hour => "hour".to_owned(),
                PartitionBy::Bucket(n) => format!("bucket:{n}"),
            })
            .collect();
        serde_json::json!({
            "partition_by": keys,
            "compress": match o.compress {
                Compression::None => "none",
                Compression::Zstd => "zstd",
                Compression::Gzip => "gzip",
            },
            "compress_level": o.compress_level,
            "max_file_bytes": o.max_file_bytes,
            "max_file_records": o.max_file_records,
        })
    }
}

/// Largest shard count: `K` is written in four digits in file names.
pub const MAX_SHARDS: u32 = 10_000;

/// This process's share: shard `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard's index, 0-based, below `count`.
    pub index: u32,
    /// The number of shards, 1 to [`MAX_SHARDS`].
    pub count: u32,
}

impl Shard {
    /// Parses `K/N` or `auto/N` (K from `JOB_COMPLETION_INDEX`, else
    /// `AWS_BATCH_JOB_ARRAY_INDEX`); `env` looks the variables up.
    pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Shard> {
        let usage = |why: String| Error::Usage(format!("--shard {text:?}: {why}"));
        let (k, n) = text
            .split_once('/')
            .ok_or_else(|| usage("expected K/N or auto/N, as in 3/8".into()))?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| usage(format!("{n:?} is not a shard count")))?;
        if count == 0 || count > MAX_SHARDS {
            return Err(usage(format!("the shard count is 1 to {MAX_SHARDS}")));
        }
        let (index_text, from) = if k.trim() == "auto" {
            ["JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX"]
                .iter()
                .find_map(|var| env(var).map(|v| (v, format!(" (from {var})"))))
                .ok_or_else(|| {
                    usage(
                        "auto needs JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or \
                         AWS_BATCH_JOB_ARRAY_INDEX (AWS Batch array job), and neither is set"
                            .into(),
                    )
                })?
        } else {
            (k.to_owned(), String::new())
        };
        let index: u32 = index_text
            .trim()
            .parse()
            .map_err(|_| usage(format!("{index_text:?}{from} is not a shard index")))?;
        if index >= count {
            return Err(usage(format!(
                "the shard index {index}{from} must be below the count {count}"
            )));
        }
        Ok(Shard { index, count })
    }
}
