//! `manifest.json`: what the run did, written last (temp name, then rename), so its presence
//! means the run completed. It accounts for every record: `records = converted + rejected` per
//! input and in total. This module owns the manifest's one type, [`Manifest`]: a run's own, a
//! shard's (`manifest-<K>-of-<N>.json`, with its `shard` section) and the job's that `merge`
//! sums from them (with `shards` and `error_files`) are all written by [`text`] and read by
//! [`read`].

use super::files::FileRecord;
use crate::calls::CallType;
use crate::error::{Error, Result};
use crate::stats::{InputStats, Tally};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The name every manifest gives as its `tool`.
pub const TOOL: &str = "track2pipelines";

/// A manifest, as written (fields in this order) and as read back. Fields an older manifest
/// may lack are defaulted; fields this version does not know are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub tool: String,
    pub version: String,
    #[serde(default)]
    pub command_line: Vec<String>,
    #[serde(default)]
    pub started_at: String,
    #[serde(default)]
    pub finished_at: String,
    #[serde(default)]
    pub now: String,
    /// A merged manifest: the job's shard count (docs/scale-out.md, "merge").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<u32>,
    #[serde(default)]
    pub inputs: Vec<InputEntry>,
    pub files: Vec<FileEntry>,
    /// `errors` (a run's error file, null when it rejected nothing) or, merged,
    /// `error_files` (every shard's).
    #[serde(flatten)]
    pub errors: ErrorFiles,
    pub totals: Totals,
    /// A shard's run: which shard of which job (docs/scale-out.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
}

/// The error files a manifest lists: a run's one (or none), or a merged job's, one per shard
/// that rejected something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorFiles {
    #[serde(rename = "errors")]
    Run(Option<ErrorsEntry>),
    #[serde(rename = "error_files")]
    Merged(Vec<ErrorsEntry>),
}

impl Default for ErrorFiles {
    fn default() -> Self {
        ErrorFiles::Run(None)
    }
}

impl ErrorFiles {
    /// Every error file listed.
    pub fn iter(&self) -> impl Iterator<Item = &ErrorsEntry> {
        let (one, many) = match self {
            ErrorFiles::Run(one) => (one.as_ref(), &[][..]),
            ErrorFiles::Merged(many) => (None, &many[..]),
        };
        one.into_iter().chain(many)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputEntry {
    pub source: String,
    /// The path is not UTF-8; `source` shows it with U+FFFD for the bytes that are not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub source_not_utf8: bool,
    #[serde(default)]
    pub bytes_read: u64,
    #[serde(default)]
    pub bytes_decompressed: u64,
    #[serde(default)]
    pub records: u64,
    #[serde(default)]
    pub blank_lines: u64,
    #[serde(default)]
    pub converted: u64,
    #[serde(default)]
    pub rejected: u64,
    #[serde(default)]
    pub incomplete: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub calls: u64,
    #[serde(default)]
    pub bytes: u64,
    #[serde(default)]
    pub first_timestamp: Option<String>,
    #[serde(default)]
    pub last_timestamp: Option<String>,
    #[serde(default)]
    pub calls_by_type: BTreeMap<String, u64>,
    pub checksum_xxh3_128: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorsEntry {
    pub path: String,
    pub entries: u64,
    #[serde(default)]
    pub bytes: u64,
    pub checksum_xxh3_128: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub records: u64,
    #[serde(default)]
    pub blank_lines: u64,
    pub converted: u64,
    pub rejected: u64,
    pub calls: u64,
    #[serde(default)]
    pub calls_by_type: BTreeMap<String, u64>,
    /// Calls with no time of their own, stamped with the run's reference time (`now`).
    #[serde(default)]
    pub calls_stamped_now: u64,
    #[serde(default)]
    pub rejects: BTreeMap<String, u64>,
    /// Calls the selection left out (docs/transforms.md), in all and by cause.
    #[serde(default)]
    pub calls_filtered: u64,
    #[serde(default)]
    pub calls_filtered_by_cause: BTreeMap<String, u64>,
}

pub fn ts(ms: i64) -> String {
    String::from_utf8_lossy(&crate::time::format(ms)).into_owned()
}

pub fn by_type(counts: &[u64; CallType::ALL.len()]) -> BTreeMap<String, u64> {
    CallType::ALL
        .iter()
        .zip(counts)
        .filter(|(_, n)| **n > 0)
        .map(|(t, n)| (t.as_str().to_owned(), *n))
        .collect()
}

/// Adds each count of `from` into `into`, key by key.
fn add_counts(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, n) in from {
        *into.entry(k.clone()).or_default() += n;
    }
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

    /// Adds another share's counts of the same input (`merge`): numbers summed, flags or-ed,
    /// the name kept.
    pub fn add(&mut self, o: &InputEntry) {
        self.source_not_utf8 |= o.source_not_utf8;
        self.bytes_read += o.bytes_read;
        self.bytes_decompressed += o.bytes_decompressed;
        self.records += o.records;
        self.blank_lines += o.blank_lines;
        self.converted += o.converted;
        self.rejected += o.rejected;
        self.incomplete |= o.incomplete;
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
            calls_stamped_now: t.calls_stamped_now,
            rejects: t
                .rejects_by_code()
                .map(|(c, n)| (c.as_str().to_owned(), n))
                .collect(),
            calls_filtered: t.total_filtered(),
            calls_filtered_by_cause: t
                .filtered_by_cause()
                .map(|(c, n)| (c.as_str().to_owned(), n))
                .collect(),
        }
    }

    /// Adds another shard's totals (`merge`): every count summed, key by key.
    pub fn add(&mut self, o: &Totals) {
        self.records += o.records;
        self.blank_lines += o.blank_lines;
        self.converted += o.converted;
        self.rejected += o.rejected;
        self.calls += o.calls;
        add_counts(&mut self.calls_by_type, &o.calls_by_type);
        self.calls_stamped_now += o.calls_stamped_now;
        add_counts(&mut self.rejects, &o.rejects);
        self.calls_filtered += o.calls_filtered;
        add_counts(
            &mut self.calls_filtered_by_cause,
            &o.calls_filtered_by_cause,
        );
    }
}

/// Reads a manifest's text.
pub fn read(text: &[u8]) -> serde_json::Result<Manifest> {
    serde_json::from_slice(text)
}

/// The manifest's text: pretty JSON and a newline. A run's or a shard's has its keys in the
/// order of [`Manifest`]; a merged one (with `shards`) has every object's keys in alphabetical
/// order, as `merge` has always written it.
pub fn text(manifest: &Manifest) -> Vec<u8> {
    let mut text = if manifest.shards.is_some() {
        let sorted = serde_json::to_value(manifest).expect("manifest serializes");
        serde_json::to_vec_pretty(&sorted)
    } else {
        serde_json::to_vec_pretty(manifest)
    }
    .expect("manifest serializes");
    text.push(b'\n');
    text
}

/// Writes a manifest's text under a temporary name in `dir` and renames it into place as
/// `name` (`merge`'s manifest; a run's own goes through its file set).
pub fn write_bytes(dir: &Path, name: &str, text: &[u8]) -> Result<()> {
    let path = dir.join(name);
    let tmp = crate::target::temp_of(&path);
    crate::target::write_temp(&tmp, text)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Shard};

    /// Track records of several kinds, with rejects and blank lines.
    fn archive(n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..n {
            let ts = 1_700_000_000 + i;
            let line = match i % 5 {
                0 => format!(
                    r#"{{"type":"person","identifiers":{{"id":"{i}"}},"action":"event","name":"e{i}","timestamp":{ts}}}"#
                ),
                1 => format!(
                    r#"{{"type":"person","identifiers":{{"id":"{i}"}},"action":"identify","attributes":{{"n":{i}}}}}"#
                ),
                2 => format!("{{\"broken\": {i}"),
                3 => String::new(),
                _ => format!(
                    r#"{{"type":"person","identifiers":{{"id":"{i}"}},"action":"page","name":"/p{i}","timestamp":{ts}}}"#
                ),
            };
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
        out
    }

    /// Runs `convert` in-process (`--now 2026-01-01T00:00:00Z --max-file-records 30`, and
    /// `--shard K/N --split-bytes 4KiB` when given a shard) of `input` into `out`.
    fn convert(out: &Path, shard: Option<Shard>, input: &str) {
        let mut b = Config::convert(out, [input])
            .now_ms(1_767_225_600_000)
            .max_file_records(30);
        if let Some(s) = shard {
            b = b.shard(s).split_bytes(4096);
        }
        let cfg = b.build().expect("a valid configuration");
        crate::job::execute(&cfg, &crate::pipeline::Live::default()).expect("convert runs");
    }

    /// Reading a manifest and writing it again gives back its bytes.
    fn round_trips(path: &Path) -> Manifest {
        let text = std::fs::read(path).unwrap();
        let m = read(&text).unwrap();
        let again = super::text(&m);
        assert_eq!(
            String::from_utf8_lossy(&again),
            String::from_utf8_lossy(&text),
            "{}",
            path.display()
        );
        m
    }

    /// A run's manifest, each shard's and the merged one are read and written back byte for
    /// byte, with their error files and shard sections.
    #[test]
    fn manifests_written_by_convert_and_merge_round_trip_byte_for_byte() {
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join("in.ndjson");
        std::fs::write(&input, archive(400)).unwrap();
        let input = input.to_str().unwrap();
        let one = tmp.path().join("one");
        convert(&one, None, input);
        let m = round_trips(&one.join("manifest.json"));
        assert!(matches!(m.errors, ErrorFiles::Run(Some(_))));
        assert!(m.files.len() > 2 && m.totals.rejected > 0 && m.shard.is_none());

        let out = tmp.path().join("shards");
        let mut found = BTreeMap::new();
        for k in 0..2u32 {
            convert(&out, Some(Shard { index: k, count: 2 }), input);
            let name = crate::output::scope::shard_manifest_name(k, 2);
            let m = round_trips(&out.join(&name));
            assert_eq!(m.shard.as_ref().map(|s| s.index), Some(k));
            found.insert((k, 2), std::fs::read(out.join(&name)).unwrap());
        }
        let merged = crate::shard::merge::merge(&found, None, Some(&out), &[]).unwrap();
        std::fs::write(out.join("manifest.json"), super::text(&merged)).unwrap();
        let m = round_trips(&out.join("manifest.json"));
        assert_eq!(m.shards, Some(2));
        assert!(matches!(&m.errors, ErrorFiles::Merged(e) if e.len() == 2));
        let one = read(&std::fs::read(one.join("manifest.json")).unwrap()).unwrap();
        assert_eq!((m.totals, m.inputs), (one.totals, one.inputs));
    }
}
