//! `track2pipelines merge --out DIR`: checks that every shard of a job wrote its manifest
//! (`manifest-<K>-of-<N>.json`) and that all of them ran the same job (same N, inputs, split
//! and options), then sums them into the job's `manifest.json`: every input's counts over the
//! shards that read part of it, every shard's part files (by path) and error file, and the
//! totals. A missing shard (one that failed or has not finished) is named and nothing is
//! written; so is a shard whose manifest does not add up or whose files are not as it lists
//! them ([`super::verify`]).

use super::ShardInfo;
use crate::error::{Error, Result};
use crate::output::manifest::{self, ErrorFiles, InputEntry, Manifest, Totals};
use crate::output::scope::{parse_shard_manifest_name, shard_manifest_name};
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
) -> Result<Manifest> {
    let count = shard_count(found, expect)?;
    let manifests = read_all(found, count, dir)?;
    same_job(&manifests)?;
    sum(&manifests, count, command_line)
}

/// The job's shard count: `--shards`, else the one count the shard manifests found agree on.
/// Every shard of it must have its manifest.
fn shard_count(found: &BTreeMap<(u32, u32), Vec<u8>>, expect: Option<u32>) -> Result<u32> {
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
    Ok(count)
}

/// One shard's manifest, read and checked.
struct ShardManifest {
    name: String,
    manifest: Manifest,
    info: ShardInfo,
}

/// Reads every shard's manifest, checks that it is the shard its name says, and verifies it.
fn read_all(
    found: &BTreeMap<(u32, u32), Vec<u8>>,
    count: u32,
    dir: Option<&Path>,
) -> Result<Vec<ShardManifest>> {
    let mut manifests = Vec::new();
    for k in 0..count {
        let name = shard_manifest_name(k, count);
        let manifest = manifest::read(&found[&(k, count)])
            .map_err(|e| failed(format!("{name} is not a manifest: {e}")))?;
        let info = manifest
            .shard
            .clone()
            .ok_or_else(|| failed(format!("{name} has no valid shard section: it has none")))?;
        if info.index != k || info.count != count {
            return Err(failed(format!(
                "{name} says it is shard {} of {}",
                info.index, info.count
            )));
        }
        super::verify::shard_manifest(dir, &name, &manifest)?;
        manifests.push(ShardManifest {
            name,
            manifest,
            info,
        });
    }
    Ok(manifests)
}

/// Every shard ran the same job: same inputs, options, reference time, split and version.
fn same_job(manifests: &[ShardManifest]) -> Result<()> {
    let first = &manifests[0];
    for m in &manifests[1..] {
        let (a, b) = (&m.info, &first.info);
        let why = if a.job_inputs != b.job_inputs {
            Some("its inputs differ")
        } else if a.options_xxh3 != b.options_xxh3 || m.manifest.now != first.manifest.now {
            Some("its options differ")
        } else if a.split_bytes != b.split_bytes {
            Some("its --split-bytes differs")
        } else if m.manifest.version != first.manifest.version {
            Some("it was written by another version")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(failed(format!(
                "{} is not of the same job as {}: {why}",
                m.name, first.name
            )));
        }
    }
    Ok(())
}

/// The job's manifest: each input's counts summed over the shards that read part of it (a
/// shard's input entries follow its ranges, which name the job input they read), every part
/// file (sorted by path) and error file, the totals summed.
fn sum(manifests: &[ShardManifest], count: u32, command_line: &[String]) -> Result<Manifest> {
    let first = &manifests[0];
    let mut inputs: Vec<InputEntry> = (first.info.job_inputs.iter())
        .map(|i| InputEntry {
            source: i.source.clone(),
            ..InputEntry::default()
        })
        .collect();
    let (mut files, mut error_files) = (Vec::new(), Vec::new());
    let mut totals = Totals::default();
    for ShardManifest {
        name,
        manifest: m,
        info,
    } in manifests
    {
        if m.inputs.len() != info.ranges.len() {
            return Err(failed(format!(
                "{name}: its inputs do not match its ranges"
            )));
        }
        for (entry, range) in m.inputs.iter().zip(&info.ranges) {
            let slot = inputs
                .get_mut(range.input)
                .ok_or_else(|| failed(format!("{name}: a range names no input of the job")))?;
            slot.add(entry);
        }
        files.extend(m.files.iter().cloned());
        error_files.extend(m.errors.iter().cloned());
        totals.add(&m.totals);
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let all = || manifests.iter().map(|m| &m.manifest);
    Ok(Manifest {
        tool: first.manifest.tool.clone(),
        version: first.manifest.version.clone(),
        command_line: command_line.to_vec(),
        started_at: all()
            .map(|m| &m.started_at)
            .min()
            .cloned()
            .unwrap_or_default(),
        finished_at: all()
            .map(|m| &m.finished_at)
            .max()
            .cloned()
            .unwrap_or_default(),
        now: first.manifest.now.clone(),
        shards: Some(count),
        inputs,
        files,
        errors: ErrorFiles::Merged(error_files),
        totals,
        shard: None,
    })
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
        let text = manifest::text(&merged);
        match args.out.to_str().filter(|d| crate::store::is_url(d)) {
            Some(url) => put_remote(url, text)?,
            None => manifest::write_bytes(&args.out, "manifest.json", &text)?,
        }
        Ok(merged)
    });
    result.map(|m| {
        format!(
            "track2pipelines: merged {} shards: {} records, {} calls, {} rejected\n",
            m.shards.unwrap_or_default(),
            m.totals.records,
            m.totals.calls,
            m.totals.rejected
        )
    })
}
