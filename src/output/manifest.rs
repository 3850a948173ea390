//! `manifest.json`: what the run did, written last (temp name, then rename), so its presence
//! means the run completed. It accounts for every record: `records = converted + rejected` per
//! input and in total.

use super::files::FileRecord;
use crate::calls::CallType;
use crate::error::{Error, Result};
use crate::stats::{InputStats, Tally};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Serialize)]
pub struct Manifest<'a> {
    pub tool: &'static str,
    pub version: &'static str,
    pub command_line: &'a [String],
    pub started_at: String,
    pub finished_at: String,
    pub now: String,
    pub inputs: Vec<InputEntry>,
    pub files: Vec<FileEntry>,
    pub errors: Option<ErrorsEntry>,
    pub totals: Totals,
    /// A shard's run: which shard of which job (docs/scale-out.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
}

#[derive(Serialize)]
pub struct InputEntry {
    pub source: String,
    /// The path is not UTF-8; `source` shows it with U+FFFD for the bytes that are not.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub source_not_utf8: bool,
    pub bytes_read: u64,
    pub bytes_decompressed: u64,
    pub records: u64,
    pub blank_lines: u64,
    pub converted: u64,
    pub rejected: u64,
    pub incomplete: bool,
}

#[derive(Serialize)]
pub struct FileEntry {
    pub path: String,
    pub calls: u64,
    pub bytes: u64,
    pub first_timestamp: Option<String>,
    pub last_timestamp: Option<String>,
    pub calls_by_type: BTreeMap<&'static str, u64>,
    pub checksum_xxh3_128: String,
}

#[derive(Serialize)]
pub struct ErrorsEntry {
    pub path: String,
    pub entries: u64,
    pub bytes: u64,
    pub checksum_xxh3_128: String,
}

#[derive(Serialize)]
pub struct Totals {
    pub records: u64,
    pub blank_lines: u64,
    pub converted: u64,
    pub rejected: u64,
    pub calls: u64,
    pub calls_by_type: BTreeMap<&'static str, u64>,
    pub rejects: BTreeMap<&'static str, u64>,
    /// Calls the selection left out (docs/transforms.md), in all and by cause.
    pub calls_filtered: u64,
    pub calls_filtered_by_cause: BTreeMap<&'static str, u64>,
}

pub fn ts(ms: i64) -> String {
    String::from_utf8_lossy(&crate::time::format(ms)).into_owned()
}

pub fn by_type(counts: &[u64; CallType::ALL.len()]) -> BTreeMap<&'static str, u64> {
    CallType::ALL
        .iter()
        .zip(counts)
        .filter(|(_, n)| **n > 0)
        .map(|(t, n)| (t.as_str(), *n))
        .collect()
}

impl InputEntry {
    pub fn from(s: &InputStats) -> Self {
        InputEntry {
            source: s.source.clone(),
            source_not_utf8: s.lossy,
            bytes_read: s.bytes_read,
            bytes_decompressed: s.bytes_decompressed,
            records: s.tally.records,
            blank_lines: s.tally.blank_lines,
            converted: s.tally.converted,
            rejected: s.tally.rejected,
            incomplete: s.incomplete,
        }
    }
}

impl FileEntry {
    pub fn from(r: &FileRecord) -> Self {
        FileEntry {
            path: r.path.clone(),
            calls: r.lines,
            bytes: r.bytes,
            first_timestamp: r.first_timestamp.map(ts),
            last_timestamp: r.last_timestamp.map(ts),
            calls_by_type: by_type(&r.calls_by_type),
            checksum_xxh3_128: r.checksum.clone(),
        }
    }
}

impl Totals {
    pub fn from(t: &Tally) -> Self {
        Totals {
            records: t.records,
            blank_lines: t.blank_lines,
            converted: t.converted,
            rejected: t.rejected,
            calls: t.total_calls(),
            calls_by_type: by_type(&t.calls),
            rejects: t.rejects_by_code().map(|(c, n)| (c.as_str(), n)).collect(),
            calls_filtered: t.total_filtered(),
            calls_filtered_by_cause: t
                .filtered_by_cause()
                .map(|(c, n)| (c.as_str(), n))
                .collect(),
        }
    }
}

/// The manifest's text.
pub fn text(manifest: &Manifest) -> Vec<u8> {
    let mut text = serde_json::to_vec_pretty(manifest).expect("manifest serializes");
    text.push(b'\n');
    text
}

/// Writes a manifest's text under a temporary name in `dir` and renames it into place as
/// `name` (`merge`'s manifest; a run's own goes through its file set).
pub fn write_bytes(dir: &Path, name: &str, text: &[u8]) -> Result<()> {
    let path = dir.join(name);
    let tmp = crate::target::temp_of(&path);
    std::fs::write(&tmp, text).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(&path, e)
    })?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))
}

/// One input of a job, as every shard's manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobInput {
    pub source: String,
    pub size: u64,
}

/// One input's range in a share, in file offsets (`end` exclusive; inside a cut file, the lines
/// that start in `start..end`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeEntry {
    /// Index of the input in the job's list.
    pub input: usize,
    pub source: String,
    pub start: u64,
    pub end: u64,
}

/// The `shard` section of a shard's manifest: who it is and what job it is part of, for
/// `merge` to check that every shard ran the same job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    pub index: u32,
    pub count: u32,
    pub split_bytes: u64,
    /// xxh3-64 of the options that decide the output's bytes (mapping, layout, limits).
    pub options_xxh3: String,
    /// Every input of the job, in order.
    pub job_inputs: Vec<JobInput>,
    /// This shard's share.
    pub ranges: Vec<RangeEntry>,
}
