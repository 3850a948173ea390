//! The flags of `plan` and `merge`, and their validation into the `PlanConfig` and
//! `MergeConfig` the commands take (the commands are in [`crate::shard`]).

use super::{FormatArg, defaults, parse_size};
use crate::config::MAX_SHARDS;
use crate::error::{Error, Result};
use crate::shard::merge::MergeConfig;
use crate::shard::plan::PlanConfig;
use clap::Args;
use std::path::PathBuf;

/// Flags of `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Number of shards (1 to 10000).
    #[arg(long, value_name = "N")]
    pub shards: u32,
    /// Plain NDJSON inputs larger than this may be cut between shards (as for convert).
    #[arg(long, default_value = defaults::SPLIT_BYTES, value_parser = parse_size, value_name = "BYTES")]
    pub split_bytes: u64,
    /// Input format, as convert is given it: it decides which files are CSV, and CSV files
    /// are never cut.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto, value_name = "FORMAT")]
    pub input_format: FormatArg,
    /// Input files or directories, as convert is given them.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
}

/// Flags of `merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The output directory (or object-store URL) the shards wrote to.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The job's shard count (default: the N of the shard manifests found).
    #[arg(long, value_name = "N")]
    pub shards: Option<u32>,
}

/// `--shards N`: 1 to [`MAX_SHARDS`].
fn shard_count(n: u32) -> Result<u32> {
    if n == 0 || n > MAX_SHARDS {
        return Err(Error::Usage(format!("--shards is 1 to {MAX_SHARDS}")));
    }
    Ok(n)
}

impl PlanArgs {
    /// The validated configuration of `plan`.
    pub(crate) fn into_config(self) -> Result<PlanConfig> {
        Ok(PlanConfig {
            shards: shard_count(self.shards)?,
            split_bytes: self.split_bytes,
            input_format: self.input_format.format(),
            inputs: self.inputs,
        })
    }
}

impl MergeArgs {
    /// The validated configuration of `merge`: a `file://` `--out` becomes a path.
    pub(crate) fn into_config(self, command_line: Vec<String>) -> Result<MergeConfig> {
        let out = match self.out.to_str().and_then(crate::store::file_url_path) {
            Some(path) => path?,
            None => self.out,
        };
        Ok(MergeConfig {
            out,
            shards: self.shards.map(shard_count).transpose()?,
            command_line,
        })
    }
}
