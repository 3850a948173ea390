//! The validated configuration of a run: everything [`crate::cli`] parsed and checked before
//! any work starts.

use crate::output::dir::Target;
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
    pub shard: Option<crate::shard::Shard>,
    /// `--split-bytes`: plain NDJSON inputs larger than this may be cut between shards.
    pub split_bytes: u64,
}
