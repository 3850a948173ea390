//! `track2pipelines merge --out DIR`: checks that every shard of a job wrote its manifest
//! (`manifest-<K>-of-<N>.json`) and that all of them ran the same job (same N, inputs, split
//! and options), then sums them into the job's `manifest.json`: every input's counts over the
//! shards that read part of it, every shard's part files (by path) and error file, and the
//! totals. A missing shard (one that failed or has not finished) is named and nothing is
//! written; so is a shard whose manifest does not add up or whose files are not as it lists
//! them ([`super::verify`]).

use super::ShardInfo;
use crate::error::{Error, Result};
use crate::output::scope::{parse_shard_manifest_name, shard_manifest_name};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The validated flags of `merge` (built by `src/cli/shard.rs`).
#[derive(Debug, Clone)]
pub struct MergeConfig {
    /// `--out`: the directory (a `file://` URL already made a path) or object-store URL the
    /// shards wrote to.
    pub out: PathBuf,
    /// `--shards`: the job's shard count, 1 to [`crate::config::MAX_SHARDS`] (default: the N of the
    /// shard manifests found).
    pub shards: Option<u32>,
    /// The command line, for the merged manifest.
    pub command_line: Vec<String>,
}

/// A merge that cannot be done: exit status 1.
fn failed(msg: String) -> Error {
    Error::Failed(msg)
}

/// Reads the shard manifests found at an object-store `--out`.
fn remote_manifests(url: &str) -> Result<BTreeMap<(u32, u32), Vec<u8>>> {
    use object_store::ObjectStoreExt;
    let remote = crate::store::open(url)?;
    let prefix = (!remote.prefix.as_ref().is_empty()).then_some(&remote.prefix);
    let listed = crate::store::block_on(remote.store.list_with_delimiter(prefix))
        .map_err(|e| Error::Usage(format!("cannot read --out {url}: {e}")))?;
    let mut found = BTreeMap::new();
    for meta in listed.objects {
        let name = meta.location.filename().unwrap_or_default().to_owned();
        if let Some(kn) = parse_shard_manifest_name(&name) {
            let text = crate::store::block_on(async {
                remote.store.get(&meta.location).await?.bytes().await
            })
            .map_err(|e| {
                failed(format!(
                    "cannot read {}: {e}",
                    remote.url_of(&meta.location)
                ))
            })?;
            found.insert(kn, text.to_vec());
        }
    }
    Ok(found)
}

/// Reads the shard manifests found in `dir`: `(K, N) -> text`.
fn shard_manifests(dir: &Path) -> Result<BTreeMap<(u32, u32), Vec<u8>>> {
    if let Some(url) = dir.to_str().filter(|d| crate::store::is_url(d)) {
        return remote_manifests(url);
    }
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::Usage(format!("cannot read --out {}: {e}", dir.display())))?;
    let mut found = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(kn) = parse_shard_manifest_name(&name) {
            let text = std::fs::read(entry.path()).map_err(|e| Error::io(entry.path(), e))?;
            found.insert(kn, text);
        }
    }
    Ok(found)
}

/// Merges the shard manifests `found` into the job's manifest, after checking each of them
/// (and, in a local `dir`, every file they list) with [`super::verify`].
pub fn merge(
    found: &BTreeMap<(u32, u32), Vec<u8>>,
    expect: Option<u32>,
    dir: Option<&Path>,
    command_line: &[String],
) -> Result<Value> {
    let counts: std::collections::BTreeSet<u32> = found.keys().map(|k| k.1).collect();
    let count = match (expect, counts.len()) {
        (Some(n), _) => n,
        (None, 1) => *counts.first().expect("one count"),
        (None, 0) => {
            return Err(failed(
                "no shard manifests (manifest-<K>-of-<N>.json) found: no shard has completed"
                    .into(),
            ));
        }
        (None, _) => {
            return Err(failed(format!(
                "shard manifests of different shard counts are present ({counts:?}); pass --shards N"
            )));
        }
    };
    let missing: Vec<String> = (0..count)
        .filter(|k| !found.contains_key(&(*k, count)))
        .map(|k| format!("{k} ({} is missing)", shard_manifest_name(k, count)))
        .collect();
    if !missing.is_empty() {
        return Err(failed(format!(
            "{} of {count} shards have not completed (failed, or still running): shard {}",
            missing.len(),
            missing.join(", shard ")
        )));
    }
    let mut manifests = Vec::new();
    for k in 0..count {
        let name = shard_manifest_name(k, count);
        let value: Value = serde_json::from_slice(&found[&(k, count)])
            .map_err(|e| failed(format!("{name} is not a manifest: {e}")))?;
        let info: ShardInfo = serde_json::from_value(value["shard"].clone())
            .map_err(|e| failed(format!("{name} has no valid shard section: {e}")))?;
        if info.index != k || info.count != count {
            return Err(failed(format!(
                "{name} says it is shard {} of {}",
                info.index, info.count
            )));
        }
        super::verify::shard_manifest(dir, &name, &value)?;
        manifests.push((name, value, info));
    }
    let (first_name, first, first_info) = &manifests[0];
    for (name, value, info) in &manifests[1..] {
        let same = |key: &str| value[key] == first[key];
        let why = if info.job_inputs != first_info.job_inputs {
            Some("its inputs differ")
        } else if info.options_xxh3 != first_info.options_xxh3 || !same("now") {
            Some("its options differ")
        } else if info.split_bytes != first_info.split_bytes {
            Some("its --split-bytes differs")
        } else if !same("version") {
            Some("it was written by another version")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(failed(format!(
                "{name} is not of the same job as {first_name}: {why}"
            )));
        }
    }
    // Inputs: each shard's entries follow its ranges, which name the job input they read.
    let mut inputs: Vec<Value> = first_info
        .job_inputs
        .iter()
        .map(|i| serde_json::json!({ "source": i.source }))
        .collect();
    let (mut files, mut error_files) = (Vec::new(), Vec::new());
    let mut totals = Value::Object(Map::new());
    for (name, value, info) in &manifests {
        let entries = value["inputs"].as_array().cloned().unwrap_or_default();
        if entries.len() != info.ranges.len() {
            return Err(failed(format!(
                "{name}: its inputs do not match its ranges"
            )));
        }
        for (entry, range) in entries.iter().zip(&info.ranges) {
            let slot = inputs
                .get_mut(range.input)
                .ok_or_else(|| failed(format!("{name}: a range names no input of the job")))?;
            add(slot, entry);
        }
        files.extend(value["files"].as_array().cloned().unwrap_or_default());
        if !value["errors"].is_null() {
            error_files.push(value["errors"].clone());
        }
        add(&mut totals, &value["totals"]);
    }
    files.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    let times = |key: &'static str| manifests.iter().filter_map(move |m| m.1[key].as_str());
    Ok(serde_json::json!({
        "tool": first["tool"],
        "version": first["version"],
        "command_line": command_line,
        "started_at": times("started_at").min(),
        "finished_at": times("finished_at").max(),
        "now": first["now"],
        "shards": count,
        "inputs": inputs,
        "files": files,
        "error_files": error_files,
        "totals": totals,
    }))
}

/// Adds `from` into `into`: numbers summed, flags or-ed, objects merged key by key; other
/// values (names) are kept from the first.
fn add(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(k) {
                    Some(slot) => add(slot, v),
                    None => {
                        a.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Number(a), Value::Number(b)) => {
            if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
                *a = (x + y).into();
            }
        }
        (Value::Bool(a), Value::Bool(b)) => *a |= *b,
        _ => {}
    }
}

/// Puts the job's manifest at an object-store `--out`.
fn put_remote(url: &str, text: Vec<u8>) -> Result<()> {
    use object_store::ObjectStoreExt;
    let remote = crate::store::open(url)?;
    let key = remote.key("manifest.json");
    crate::store::block_on(remote.store.put(&key, text.into()))
        .map(drop)
        .map_err(|e| failed(format!("cannot write {}: {e}", remote.url_of(&key))))
}

/// Runs `merge`: writes the merged manifest and returns the summary line for stderr.
pub fn run(args: &MergeConfig) -> Result<String> {
    let remote = args.out.to_str().is_some_and(crate::store::is_url);
    if !remote {
        crate::output::dir::refuse_unfinished(&args.out, true)?;
    }
    let result = shard_manifests(&args.out).and_then(|found| {
        let dir = (!remote).then_some(args.out.as_path());
        let merged = merge(&found, args.shards, dir, &args.command_line)?;
        let mut text = serde_json::to_vec_pretty(&merged).expect("manifest serializes");
        text.push(b'\n');
        match args.out.to_str().filter(|d| crate::store::is_url(d)) {
            Some(url) => put_remote(url, text)?,
            None => crate::output::manifest::write_bytes(&args.out, "manifest.json", &text)?,
        }
        Ok(merged)
    });
    result.map(|m| {
        format!(
            "track2pipelines: merged {} shards: {} records, {} calls, {} rejected\n",
            m["shards"], m["totals"]["records"], m["totals"]["calls"], m["totals"]["rejected"]
        )
    })
}
