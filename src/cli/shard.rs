//! The flags of `plan` and `merge`, as clap parses them (the commands are in
//! [`crate::shard`]).

use super::{FormatArg, parse_size};
use clap::Args;
use std::path::PathBuf;

/// Flags of `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Number of shards.
    #[arg(long, value_name = "N")]
    pub shards: u32,
    /// Plain NDJSON inputs larger than this may be cut between shards (as for convert).
    #[arg(long, default_value = "256MiB", value_parser = parse_size, value_name = "BYTES")]
    pub split_bytes: u64,
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    pub input_format: FormatArg,
    /// Input files or directories, as convert is given them.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
}

/// Flags of `merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The output directory the shards wrote to.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The job's shard count (default: the N of the shard manifests found).
    #[arg(long, value_name = "N")]
    pub shards: Option<u32>,
}
