//! Shards: one job over many machines (docs/scale-out.md). This module owns the deterministic
//! split of the input stream into N contiguous pieces of nearly equal bytes (the `--shard K/N`
//! value is read in [`crate::config`]), from the sorted input list and the sizes alone; [`plan`]
//! prints it and [`merge`] sums the shards' manifests into one.
//!
//! The split: the inputs, in the order a single run reads them, form one stream of
//! `total` bytes. Cut `k` (1 ≤ k < N) aims at `total × k / N`. A cut that falls inside a plain
//! NDJSON file larger than `--split-bytes` stays where it is (the reader moves it to the first
//! line start at or after it); any other cut moves to the nearer end of the file it falls in, so
//! compressed files, CSV files and small files are never cut. A record belongs to the shard whose
//! range holds the offset of its first byte, so every record belongs to exactly one shard.

pub mod merge;
pub mod plan;
pub mod verify;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::input::{Format, Source};
use std::io::Read;

pub use crate::input::Range;
pub use crate::output::manifest::{JobInput, RangeEntry, ShardInfo};

/// What the split knows of one input.
#[derive(Debug, Clone)]
pub struct Extent {
    pub name: String,
    pub size: u64,
    /// A plain (uncompressed) NDJSON file: the only kind that may be cut inside.
    pub splittable: bool,
}

/// One shard's share: `(input index, range)` pairs, in input order.
pub type Share = Vec<(usize, Range)>;

/// Splits the inputs among `count` shards (see the module doc). Every shard gets a share,
/// possibly empty; every input byte is in exactly one share.
pub fn split(inputs: &[Extent], count: u32, split_bytes: u64) -> Vec<Share> {
    let n = u64::from(count.max(1));
    let mut starts = Vec::with_capacity(inputs.len());
    let mut total = 0u64;
    for e in inputs {
        starts.push(total);
        total += e.size;
    }
    // Cut points in stream offsets: cuts[k] is where shard k starts; the last ends at the end.
    let mut cuts = vec![0u64];
    for k in 1..n {
        let target = (u128::from(total) * u128::from(k) / u128::from(n)) as u64;
        let holder =
            (0..inputs.len()).find(|&i| starts[i] <= target && target < starts[i] + inputs[i].size);
        let cut = match holder {
            None => target,
            Some(i) => {
                let (s, e) = (starts[i], &inputs[i]);
                if target == s || (e.splittable && e.size > split_bytes) {
                    target
                } else if (target - s) * 2 < e.size {
                    s
                } else {
                    s + e.size
                }
            }
        };
        cuts.push(cut.max(*cuts.last().expect("one cut at least")));
    }
    let mut shares = vec![Share::new(); n as usize];
    for (k, share) in shares.iter_mut().enumerate() {
        let lo = cuts[k];
        let hi = cuts.get(k + 1).copied().unwrap_or(u64::MAX);
        for (i, e) in inputs.iter().enumerate() {
            let (s, z) = (starts[i], e.size);
            if z == 0 || s >= lo && s + z <= hi {
                // Whole inputs (and empty ones) go to the shard holding their first byte.
                if s >= lo && s < hi {
                    share.push((i, Range::WHOLE));
                }
                continue;
            }
            let from = lo.max(s);
            let to = hi.min(s + z);
            if from >= to {
                continue;
            }
            share.push((
                i,
                Range {
                    start: from - s,
                    end: (to < s + z).then_some(to - s),
                },
            ));
        }
    }
    shares
}

/// What the split needs of each source: its size, and whether it is plain NDJSON (found from
/// its first bytes, read only for files large enough to be cut).
pub fn extents(sources: &[Source], split_bytes: u64) -> Result<Vec<Extent>> {
    sources
        .iter()
        .map(|s| {
            let size = s.size.ok_or_else(|| {
                Error::Usage(format!(
                    "--shard needs inputs of known size; {} has none (standard input?)",
                    s.name
                ))
            })?;
            let splittable = s.format == Format::Ndjson && size > split_bytes && is_plain(s)?;
            Ok(Extent {
                name: s.name.to_string(),
                size,
                splittable,
            })
        })
        .collect()
}

/// True when the source does not start with a gzip or zstd signature.
fn is_plain(source: &Source) -> Result<bool> {
    if let Some(object) = &source.object {
        let head = crate::input::remote::first_bytes(object, 4, source.size.unwrap_or(0))
            .map_err(|e| Error::Usage(format!("cannot read input {}: {e}", source.name)))?;
        return Ok(!matches!(
            &head[..],
            [0x1f, 0x8b, ..] | [0x28, 0xb5, 0x2f, 0xfd]
        ));
    }
    let mut magic = [0u8; 4];
    let mut got = 0;
    let mut reader = crate::input::raw::open_raw(source, 0)?;
    while got < magic.len() {
        match reader.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(source.name.as_ref(), e)),
        }
    }
    Ok(!matches!(
        &magic[..got],
        [0x1f, 0x8b, ..] | [0x28, 0xb5, 0x2f, 0xfd]
    ))
}

/// A share as the manifest and `plan` list it: each range in file offsets, named.
pub fn range_entries(share: &[(usize, Range)], extents: &[Extent]) -> Vec<RangeEntry> {
    share
        .iter()
        .map(|(i, r)| RangeEntry {
            input: *i,
            source: extents[*i].name.clone(),
            start: r.start,
            end: r.end.unwrap_or(extents[*i].size),
        })
        .collect()
}

/// A digest of everything in `cfg` that decides the output's bytes; shards of one job agree on
/// it. Paths, thread counts and `--overwrite` are left out. Built from named fields
/// ([`Config::mapping_identity`], [`Config::layout_identity`]), never from `Debug` output, so
/// it stays the same across compilers and refactorings.
pub fn options_digest(cfg: &Config) -> String {
    let text = serde_json::json!({
        "now_ms": cfg.translate.now_ms(),
        "mapping": cfg.mapping_identity(),
        "layout": cfg.layout_identity(),
    })
    .to_string();
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}

/// The sources this run reads, each with its range: all of them whole without `--shard`, else
/// this shard's share, with the manifest's `shard` section.
pub fn take_share(
    cfg: &Config,
    sources: Vec<Source>,
) -> Result<(Vec<Source>, Vec<Range>, Option<ShardInfo>)> {
    let Some(shard) = cfg.shard else {
        let ranges = vec![Range::WHOLE; sources.len()];
        return Ok((sources, ranges, None));
    };
    let extents = extents(&sources, cfg.split_bytes)?;
    let share = split(&extents, shard.count, cfg.split_bytes).swap_remove(shard.index as usize);
    let info = ShardInfo {
        index: shard.index,
        count: shard.count,
        split_bytes: cfg.split_bytes,
        options_xxh3: options_digest(cfg),
        job_inputs: extents
            .iter()
            .map(|e| JobInput {
                source: e.name.clone(),
                size: e.size,
            })
            .collect(),
        ranges: range_entries(&share, &extents),
    };
    let (picked, ranges) = share
        .into_iter()
        .map(|(i, r)| (sources[i].clone(), r))
        .unzip();
    Ok((picked, ranges, Some(info)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Shard;

    fn ext(size: u64, splittable: bool) -> Extent {
        Extent {
            name: String::new(),
            size,
            splittable,
        }
    }

    /// Every byte of every input in exactly one share, in order.
    fn covered(inputs: &[Extent], shares: &[Share]) -> Vec<Vec<(u64, u64)>> {
        let mut per = vec![Vec::new(); inputs.len()];
        for share in shares {
            for (i, r) in share {
                per[*i].push((r.start, r.end.unwrap_or(inputs[*i].size)));
            }
        }
        per
    }

    #[test]
    fn parse_forms() {
        let none = |_: &str| None;
        assert_eq!(
            Shard::parse("2/5", none).unwrap(),
            Shard { index: 2, count: 5 }
        );
        assert!(Shard::parse("5/5", none).is_err());
        assert!(Shard::parse("1/0", none).is_err());
        assert!(Shard::parse("3", none).is_err());
        assert!(Shard::parse("auto/4", none).is_err());
        let k8s = |v: &str| (v == "JOB_COMPLETION_INDEX").then(|| "3".to_owned());
        assert_eq!(Shard::parse("auto/4", k8s).unwrap().index, 3);
        let batch = |v: &str| (v == "AWS_BATCH_JOB_ARRAY_INDEX").then(|| "1".to_owned());
        assert_eq!(Shard::parse("auto/4", batch).unwrap().index, 1);
        let bad = |_: &str| Some("x".to_owned());
        assert!(Shard::parse("auto/4", bad).is_err());
    }

    #[test]
    fn whole_files_go_to_the_nearer_side() {
        let inputs = [ext(100, false), ext(100, false), ext(100, false)];
        let shares = split(&inputs, 2, 1000);
        assert_eq!(shares[0], vec![(0, Range::WHOLE), (1, Range::WHOLE)]);
        assert_eq!(shares[1], vec![(2, Range::WHOLE)]);
        let shares = split(&inputs, 3, 1000);
        assert!(shares.iter().all(|s| s.len() == 1));
    }

    #[test]
    fn big_plain_files_are_cut_inside() {
        let inputs = [ext(10, false), ext(1000, true), ext(0, false)];
        let shares = split(&inputs, 4, 100);
        let per = covered(&inputs, &shares);
        assert_eq!(per[0], vec![(0, 10)]);
        assert_eq!(per[1], vec![(0, 242), (242, 495), (495, 747), (747, 1000)]);
        assert_eq!(shares[3].last(), Some(&(2, Range::WHOLE)));
        // Not over --split-bytes: never cut.
        let shares = split(&inputs, 4, 1000);
        assert_eq!(covered(&inputs, &shares)[1], vec![(0, 1000)]);
    }

    #[test]
    fn more_shards_than_bytes() {
        let inputs = [ext(3, true)];
        let shares = split(&inputs, 8, 0);
        assert_eq!(shares.len(), 8);
        let per = covered(&inputs, &shares);
        let total: u64 = per[0].iter().map(|(a, b)| b - a).sum();
        assert_eq!(total, 3);
        assert!(split(&[], 3, 0).iter().all(Vec::is_empty));
    }
}
