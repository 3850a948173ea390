//! `manifest.json`: what the run did, written last (temp name, then rename), so its presence
//! means the run completed. It accounts for every record: `records = converted + rejected` per
//! input and in total.

use super::files::FileRecord;
use crate::error::{Error, Result};
use crate::pipelines::CallType;
use crate::stats::{InputStats, Tally};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;

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
            calls: r.calls,
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
        }
    }
}

/// Writes the manifest under a temporary name in the run's directory and renames it into
/// place: the last file of a run.
pub fn write(dir: &mut super::dir::RunDir, manifest: &Manifest) -> Result<()> {
    let mut text = serde_json::to_vec_pretty(manifest).expect("manifest serializes");
    text.push(b'\n');
    let (mut file, path) = dir.create("manifest.json")?;
    file.write_all(&text).map_err(|e| Error::io(&path, e))?;
    drop(file);
    dir.commit()
}
