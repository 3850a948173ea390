//! `track2pipelines plan --shards N INPUT...`: prints how `--shard K/N` splits the inputs, as a
//! JSON array with one element per shard (for a scheduler's fan-out, such as Argo `withParam`).

use super::{RangeEntry, extents, range_entries, split};
use crate::cli::shard::PlanArgs;
use crate::error::{Error, Result};
use serde::Serialize;

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
pub fn plan(args: &PlanArgs) -> Result<Vec<PlanShard>> {
    if args.shards == 0 || args.shards > super::MAX_SHARDS {
        return Err(Error::Usage(format!(
            "--shards is 1 to {}",
            super::MAX_SHARDS
        )));
    }
    for input in &args.inputs {
        if input.is_dir() {
            crate::output::dir::refuse_unfinished(input, false)?;
        }
    }
    let sources = crate::input::discover(&args.inputs, args.input_format.format(), None)?.sources;
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
pub fn run(args: &PlanArgs) -> Result<String> {
    plan(args).map(|p| serde_json::to_string_pretty(&p).expect("plan serializes"))
}
