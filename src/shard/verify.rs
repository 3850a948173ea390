//! What `merge` checks before it trusts a shard's manifest (docs/scale-out.md, "merge"), and
//! the freshness of a merged `manifest.json` that `send` checks before reading it.
//!
//! Each shard manifest's counts must add up (its part files' calls to its totals, its inputs'
//! records to its totals), and every file it lists must be there, as a plain file (no link),
//! with the listed size and xxh3-128 checksum; an uncompressed part file must hold as many
//! lines as the calls listed for it. A merged manifest is stale when one of its shard
//! manifests is missing or finished after it.

use crate::error::{Error, Result};
use crate::output::scope::shard_manifest_name;
use serde_json::Value;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

fn failed(msg: String) -> Error {
    Error::Failed(msg)
}

/// Checks the counts of the shard manifest `name` (`value`) and, in a local `dir`, every file
/// it lists.
pub fn shard_manifest(dir: Option<&Path>, name: &str, value: &Value) -> Result<()> {
    counts_add_up(name, value)?;
    let Some(dir) = dir else {
        return Ok(());
    };
    let files = value["files"].as_array().into_iter().flatten();
    for entry in files.chain(value.get("errors").filter(|e| !e.is_null())) {
        file_matches(dir, name, entry)?;
    }
    Ok(())
}

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// The sums a shard manifest states must agree with its parts.
fn counts_add_up(name: &str, value: &Value) -> Result<()> {
    let totals = &value["totals"];
    let files = value["files"].as_array().cloned().unwrap_or_default();
    let calls: u64 = files.iter().map(|f| num(&f["calls"])).sum();
    let mismatch = |what: &str, listed: u64, summed: u64| {
        failed(format!(
            "{name}: its totals say {listed} {what}, its {} add up to {summed}; the manifest was \
             changed after the run: run that shard again",
            if what == "calls" { "files" } else { "inputs" }
        ))
    };
    if calls != num(&totals["calls"]) {
        return Err(mismatch("calls", num(&totals["calls"]), calls));
    }
    for f in &files {
        let by_type: u64 = f["calls_by_type"]
            .as_object()
            .map_or(num(&f["calls"]), |m| m.values().map(num).sum());
        if by_type != num(&f["calls"]) {
            return Err(failed(format!(
                "{name}: {} lists {} calls but {by_type} by type; the manifest was changed",
                f["path"].as_str().unwrap_or("?"),
                num(&f["calls"])
            )));
        }
    }
    let inputs = value["inputs"].as_array().cloned().unwrap_or_default();
    for key in ["records", "converted", "rejected"] {
        let summed: u64 = inputs.iter().map(|i| num(&i[key])).sum();
        if summed != num(&totals[key]) {
            return Err(mismatch(key, num(&totals[key]), summed));
        }
    }
    Ok(())
}

/// One listed file: there, a plain file, of the listed size and checksum (and, uncompressed,
/// of the listed number of lines).
fn file_matches(dir: &Path, name: &str, entry: &Value) -> Result<()> {
    let rel = entry["path"].as_str().unwrap_or_default();
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
    if let Some(size) = entry["bytes"].as_u64()
        && size != bytes
    {
        return Err(bad(format!("holds {bytes} bytes, not {size}")));
    }
    let sum = format!("{:032x}", h.digest128());
    if entry["checksum_xxh3_128"].as_str() != Some(sum.as_str()) {
        return Err(bad("does not match its checksum (it was changed)".into()));
    }
    let counted = entry
        .get("calls")
        .or_else(|| entry.get("entries"))
        .and_then(Value::as_u64);
    if rel.ends_with(".ndjson")
        && let Some(listed) = counted
        && listed != lines
    {
        return Err(bad(format!("holds {lines} lines, not the {listed} listed")));
    }
    Ok(())
}

/// Refuses (exit 2) a merged `manifest.json` in `dir` that is stale: one of its shard
/// manifests is missing, or finished after the merge.
pub fn merged_is_fresh(dir: &Path, merged: &Value) -> Result<()> {
    let Some(count) = merged["shards"].as_u64() else {
        return Ok(()); // a single run's manifest
    };
    let merged_at = merged["finished_at"].as_str().unwrap_or_default();
    for k in 0..count as u32 {
        let name = shard_manifest_name(k, count as u32);
        let stale = |why: &str| {
            Error::Usage(format!(
                "{} is stale: {name} {why}; run track2pipelines merge --out {} again",
                dir.join("manifest.json").display(),
                dir.display()
            ))
        };
        let text = std::fs::read(dir.join(&name)).map_err(|_| stale("is missing"))?;
        let shard: Value = serde_json::from_slice(&text).map_err(|_| stale("is not readable"))?;
        if shard["finished_at"].as_str().unwrap_or_default() > merged_at {
            return Err(stale("was written after it (the shard ran again)"));
        }
    }
    Ok(())
}
