//! `track2pipelines plan --shards N INPUT...`: prints how `--shard K/N` splits the inputs, as a
//! JSON array with one element per shard (for a scheduler's fan-out, such as Argo `withParam`).

use super::{RangeEntry, extents, range_entries, split};
use crate::config::InputFormat;
use crate::error::Result;
use serde::Serialize;
use std::path::PathBuf;

/// The validated flags of `plan` (built by `src/cli/shard.rs`).
#[derive(Debug, Clone)]
pub struct PlanConfig {
    /// `--shards`, 1 to [`crate::config::MAX_SHARDS`].
    pub shards: u32,
    /// `--split-bytes`: plain NDJSON inputs larger than this may be cut between shards.
    pub split_bytes: u64,
    /// `--input-format`, as convert is given it.
    pub input_format: InputFormat,
    /// The inputs, as convert is given them.
    pub inputs: Vec<PathBuf>,
}

/// One shard of the plan.
#[derive(Debug, Serialize)]
pub struct PlanShard {
    pub shard: u32,
    pub count: u32,
    /// The `--shard` argument that runs this shard.
    pub arg: String,
    /// Bytes of input in its ranges.
    pub bytes: u64,
    pub ranges: Vec<RangeEntry>,
}

/// Computes the plan.
pub fn plan(args: &PlanConfig) -> Result<Vec<PlanShard>> {
    for input in &args.inputs {
        if input.is_dir() {
            crate::output::dir::refuse_unfinished(input, false)?;
        }
    }
    let sources = crate::input::discover(&args.inputs, args.input_format, None)?.sources;
    let extents = extents(&sources, args.split_bytes)?;
    let shares = split(&extents, args.shards, args.split_bytes);
    Ok(shares
        .into_iter()
        .enumerate()
        .map(|(k, share)| {
            let ranges = range_entries(&share, &extents);
            PlanShard {
                shard: k as u32,
                count: args.shards,
                arg: format!("{k}/{}", args.shards),
                bytes: ranges.iter().map(|r| r.end - r.start).sum(),
                ranges,
            }
        })
        .collect())
}

/// Runs `plan`: the plan as pretty JSON, for stdout.
pub fn run(args: &PlanConfig) -> Result<String> {
    plan(args).map(|p| serde_json::to_string_pretty(&p).expect("plan serializes"))
}
