//! What `merge` checks before it trusts a shard's manifest (docs/scale-out.md, "merge"), and
//! the freshness of a merged `manifest.json` that `send` checks before reading it.
//!
//! Each shard manifest's counts must add up (its part files' calls to its totals, its inputs'
//! records to its totals), and every file it lists must be there, as a plain file (no link),
//! with the listed size and xxh3-128 checksum; an uncompressed part file must hold as many
//! lines as the calls listed for it. A merged manifest is stale when one of its shard
//! manifests is missing or finished after it.

use crate::error::{Error, Result};
use crate::output::manifest::{self, Manifest};
use crate::output::scope::shard_manifest_name;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

fn failed(msg: String) -> Error {
    Error::Failed(msg)
}

/// Checks the counts of the shard manifest `name` and, in a local `dir`, every file it lists.
pub fn shard_manifest(dir: Option<&Path>, name: &str, m: &Manifest) -> Result<()> {
    counts_add_up(name, m)?;
    let Some(dir) = dir else {
        return Ok(());
    };
    let parts = m.files.iter().map(|f| Listed {
        path: &f.path,
        bytes: f.bytes,
        checksum: &f.checksum_xxh3_128,
        lines: f.calls,
    });
    let errors = m.errors.iter().map(|e| Listed {
        path: &e.path,
        bytes: e.bytes,
        checksum: &e.checksum_xxh3_128,
        lines: e.entries,
    });
    for listed in parts.chain(errors) {
        file_matches(dir, name, &listed)?;
    }
    Ok(())
}

/// The sums a shard manifest states must agree with its parts.
fn counts_add_up(name: &str, m: &Manifest) -> Result<()> {
    let totals = &m.totals;
    let calls: u64 = m.files.iter().map(|f| f.calls).sum();
    let mismatch = |what: &str, listed: u64, summed: u64| {
        failed(format!(
            "{name}: its totals say {listed} {what}, its {} add up to {summed}; the manifest was \
             changed after the run: run that shard again",
            if what == "calls" { "files" } else { "inputs" }
        ))
    };
    if calls != totals.calls {
        return Err(mismatch("calls", totals.calls, calls));
    }
    for f in &m.files {
        let by_type: u64 = f.calls_by_type.values().sum();
        if by_type != f.calls {
            return Err(failed(format!(
                "{name}: {} lists {} calls but {by_type} by type; the manifest was changed",
                f.path, f.calls
            )));
        }
    }
    let sums = [
        (
            "records",
            totals.records,
            m.inputs.iter().map(|i| i.records).sum(),
        ),
        (
            "converted",
            totals.converted,
            m.inputs.iter().map(|i| i.converted).sum(),
        ),
        (
            "rejected",
            totals.rejected,
            m.inputs.iter().map(|i| i.rejected).sum(),
        ),
    ];
    for (key, listed, summed) in sums {
        if summed != listed {
            return Err(mismatch(key, listed, summed));
        }
    }
    Ok(())
}

/// A file as a manifest lists it: a part file (`lines` its calls) or an error file (`lines`
/// its entries).
struct Listed<'a> {
    path: &'a str,
    bytes: u64,
    checksum: &'a str,
    lines: u64,
}

/// One listed file: there, a plain file, of the listed size and checksum (and, uncompressed,
/// of the listed number of lines).
fn file_matches(dir: &Path, name: &str, entry: &Listed) -> Result<()> {
    let rel = entry.path;
    if rel.is_empty()
        || rel
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(failed(format!(
            "{name} lists a file path that is not ours: {rel:?}"
        )));
    }
    let path = dir.join(rel);
    let bad = |why: String| {
        failed(format!(
            "{name} lists {rel}, which {why}: run that shard again, then merge"
        ))
    };
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| bad(format!("cannot be read ({e})")))?;
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let (mut bytes, mut lines) = (0u64, 0u64);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(&path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        bytes += n as u64;
        lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
    }
    if entry.bytes != bytes {
        return Err(bad(format!("holds {bytes} bytes, not {}", entry.bytes)));
    }
    let sum = format!("{:032x}", h.digest128());
    if entry.checksum != sum {
        return Err(bad("does not match its checksum (it was changed)".into()));
    }
    if rel.ends_with(".ndjson") && entry.lines != lines {
        return Err(bad(format!(
            "holds {lines} lines, not the {} listed",
            entry.lines
        )));
    }
    Ok(())
}

/// Refuses (exit 2) a merged `manifest.json` in `dir` that is stale: one of its shard
/// manifests is missing, or finished after the merge.
pub fn merged_is_fresh(dir: &Path, merged: &Manifest) -> Result<()> {
    let Some(count) = merged.shards else {
        return Ok(()); // a single run's manifest
    };
    for k in 0..count {
        let name = shard_manifest_name(k, count);
        let stale = |why: &str| {
            Error::Usage(format!(
                "{} is stale: {name} {why}; run track2pipelines merge --out {} again",
                dir.join("manifest.json").display(),
                dir.display()
            ))
        };
        let text = std::fs::read(dir.join(&name)).map_err(|_| stale("is missing"))?;
        let shard = manifest::read(&text).map_err(|_| stale("is not readable"))?;
        if shard.finished_at > merged.finished_at {
            return Err(stale("was written after it (the shard ran again)"));
        }
    }
    Ok(())
}
