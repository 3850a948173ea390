//! The validated configuration of a run: everything [`crate::cli`] parsed and checked before
//! any work starts.

use crate::error::{Error, Result};
use crate::target::Target;
use crate::translate::Options;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Convert,
    Check,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    Ndjson,
    Csv,
    Auto,
}

/// The CSV layouts, defined with the mapping that reads them (the mapping knows no
/// configuration).
pub use crate::csv::CsvLayout;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Zstd,
    Gzip,
}

impl Compression {
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
    Type,
    Date,
    Hour,
    Bucket(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Auto,
    Always,
    Never,
}

/// Where the calls and files go (`convert` only).
#[derive(Debug, Clone)]
pub struct OutputConfig {
    pub dir: PathBuf,
    pub partition_by: Vec<PartitionBy>,
    pub compress: Compression,
    pub compress_level: i32,
    pub max_file_bytes: u64,
    pub max_file_records: u64,
    pub overwrite: bool,
    /// `--max-open-files`.
    pub max_open_files: usize,
    /// Unfinished compressed frames kept in memory for closed files, in all.
    pub idle_frame_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub command: Command,
    /// Inputs as given (`-` for stdin).
    pub inputs: Vec<PathBuf>,
    /// A directory discovery skips: `--out`, when it lies inside an input directory.
    pub exclude: Option<PathBuf>,
    pub input_format: InputFormat,
    pub csv_layout: CsvLayout,
    pub threads: usize,
    pub translate: Options,
    pub max_line_bytes: u64,
    pub progress: Progress,
    pub quiet: bool,
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

/// Largest shard count: `K` is written in four digits in file names.
pub const MAX_SHARDS: u32 = 10_000;

/// This process's share: shard `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
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
