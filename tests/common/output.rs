//! What one `convert` run wrote, read back ([`RunOut`]), and the accounting every completed
//! run must satisfy ([`check_accounting`], docs/mapping.md): the helpers the topics that run
//! `convert` share.

use super::run::{decompress, files, lines_of};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The run's own bookkeeping in `--out` (the lock and the run journal): not output.
pub fn bookkeeping(rel: &str) -> bool {
    [".track2pipelines.lock", ".track2pipelines.journal"].contains(&rel)
}

/// Every file below `dir` (hidden ones too, but for the run's bookkeeping), by `/`-separated
/// relative path.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut all = files(dir);
    all.retain(|rel, _| !bookkeeping(rel));
    all
}

pub fn file_name(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap()
}

pub fn is_part(rel: &str) -> bool {
    file_name(rel).starts_with("part-")
}

pub fn is_errors(rel: &str) -> bool {
    rel.starts_with("errors.ndjson")
}

pub fn json(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

/// What one run wrote.
pub struct RunOut {
    /// Every file in `--out` but the run's bookkeeping, by relative path.
    pub files: BTreeMap<String, Vec<u8>>,
    pub manifest: Value,
    /// Every call, part files taken in path order (decompressed).
    pub calls: Vec<String>,
    /// The error file's entries, in order.
    pub errors: Vec<Value>,
}

impl RunOut {
    pub fn load(dir: &Path) -> RunOut {
        let files = snapshot(dir);
        let manifest = serde_json::from_slice(&files["manifest.json"]).unwrap();
        let mut run = RunOut {
            files,
            manifest,
            calls: Vec::new(),
            errors: Vec::new(),
        };
        run.calls = run.parts().into_iter().flat_map(|(_, c)| c).collect();
        run.errors = lines_of(&run.errors_bytes())
            .iter()
            .map(|l| json(l))
            .collect();
        run
    }

    /// Part files (path, decompressed calls), in path order.
    pub fn parts(&self) -> Vec<(String, Vec<String>)> {
        self.files
            .iter()
            .filter(|(p, _)| is_part(p))
            .map(|(p, b)| (p.clone(), lines_of(&decompress(b))))
            .collect()
    }

    /// The part files' bytes (decompressed), concatenated in path order.
    pub fn part_bytes(&self) -> Vec<u8> {
        let parts = self.files.iter().filter(|(p, _)| is_part(p));
        parts.flat_map(|(_, b)| decompress(b)).collect()
    }

    /// The error file's bytes (decompressed).
    pub fn errors_bytes(&self) -> Vec<u8> {
        let (_, bytes) = self
            .files
            .iter()
            .find(|(p, _)| is_errors(p))
            .expect("an error file");
        decompress(bytes)
    }

    /// The manifest without what changes from run to run.
    pub fn stable_manifest(&self) -> Value {
        let mut m = self.manifest.clone();
        let o = m.as_object_mut().unwrap();
        for key in ["started_at", "finished_at", "command_line"] {
            assert!(o.remove(key).is_some(), "manifest has {key}");
        }
        m
    }

    pub fn input(&self, source: &str) -> &Value {
        self.manifest["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["source"] == source)
            .unwrap_or_else(|| panic!("no input {source} in the manifest"))
    }
}

pub fn xxh3_128_hex(bytes: &[u8]) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(bytes))
}

pub fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("{v} is not a count"))
}

pub fn sum_values(v: &Value) -> u64 {
    v.as_object().unwrap().values().map(n).sum()
}

/// Checks a run's manifest against its files and itself (docs/mapping.md).
pub fn check_accounting(run: &RunOut) {
    let m = &run.manifest;
    let totals = &m["totals"];
    // Files on disk are the files of the manifest, with matching sizes and checksums.
    let listed: BTreeSet<String> = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_owned())
        .collect();
    let on_disk: BTreeSet<String> = run.files.keys().filter(|p| is_part(p)).cloned().collect();
    assert_eq!(listed, on_disk, "manifest files vs part files on disk");
    assert!(
        run.files.keys().all(|p| !file_name(p).starts_with('.')),
        "no temporary files are left: {:?}",
        run.files.keys().collect::<Vec<_>>()
    );
    let mut calls_total = 0;
    let mut by_type_total: BTreeMap<String, u64> = BTreeMap::new();
    for f in m["files"].as_array().unwrap() {
        let path = f["path"].as_str().unwrap();
        let bytes = &run.files[path];
        assert_eq!(n(&f["bytes"]), bytes.len() as u64, "{path}: bytes");
        assert_eq!(
            f["checksum_xxh3_128"].as_str().unwrap(),
            xxh3_128_hex(bytes),
            "{path}: checksum"
        );
        let calls = lines_of(&decompress(bytes));
        assert_eq!(n(&f["calls"]), calls.len() as u64, "{path}: calls");
        calls_total += calls.len() as u64;
        let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
        let mut stamps = Vec::new();
        for c in &calls {
            let v = json(c);
            *by_type
                .entry(v["type"].as_str().unwrap().to_owned())
                .or_default() += 1;
            stamps.push(v["timestamp"].as_str().unwrap().to_owned());
        }
        for (k, v) in &by_type {
            *by_type_total.entry(k.clone()).or_default() += v;
        }
        let listed_types: BTreeMap<String, u64> =
            serde_json::from_value(f["calls_by_type"].clone()).unwrap();
        assert_eq!(listed_types, by_type, "{path}: calls_by_type");
        // Fixed-width UTC timestamps order as text.
        assert_eq!(
            f["first_timestamp"].as_str(),
            stamps.iter().min().map(String::as_str),
            "{path}: first_timestamp is the smallest"
        );
        assert_eq!(
            f["last_timestamp"].as_str(),
            stamps.iter().max().map(String::as_str),
            "{path}: last_timestamp is the largest"
        );
    }
    assert_eq!(n(&totals["calls"]), calls_total, "totals.calls");
    let listed_types: BTreeMap<String, u64> =
        serde_json::from_value(totals["calls_by_type"].clone()).unwrap();
    assert_eq!(listed_types, by_type_total, "totals.calls_by_type");

    // The error file: one entry per reject, by code as the totals say.
    let (epath, ebytes) = run.files.iter().find(|(p, _)| is_errors(p)).unwrap();
    let e = &m["errors"];
    assert_eq!(e["path"].as_str().unwrap(), epath);
    assert_eq!(n(&e["bytes"]), ebytes.len() as u64, "errors: bytes");
    assert_eq!(
        e["checksum_xxh3_128"].as_str().unwrap(),
        xxh3_128_hex(ebytes),
        "errors: checksum"
    );
    let entries = &run.errors;
    assert_eq!(n(&e["entries"]), entries.len() as u64, "errors: entries");
    assert_eq!(sum_values(&totals["rejects"]), entries.len() as u64);
    let mut by_code: BTreeMap<String, u64> = BTreeMap::new();
    for entry in entries {
        *by_code
            .entry(entry["code"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let listed_codes: BTreeMap<String, u64> =
        serde_json::from_value(totals["rejects"].clone()).unwrap();
    assert_eq!(listed_codes, by_code, "totals.rejects");
    let corrupt = by_code.get("corrupt_input").copied().unwrap_or(0);
    assert_eq!(
        n(&totals["rejected"]),
        entries.len() as u64 - corrupt,
        "corrupt_input entries are not records; every other entry is a rejected record"
    );

    // records = converted + rejected, per input and in total.
    let (mut records, mut converted, mut rejected, mut blank) = (0, 0, 0, 0);
    for input in m["inputs"].as_array().unwrap() {
        let src = input["source"].as_str().unwrap();
        assert_eq!(
            n(&input["records"]),
            n(&input["converted"]) + n(&input["rejected"]),
            "input {src}: records = converted + rejected"
        );
        let entries_here = entries
            .iter()
            .filter(|e| e["source"] == src && e["code"] != "corrupt_input")
            .count() as u64;
        assert_eq!(n(&input["rejected"]), entries_here, "input {src}: rejected");
        let corrupt_here = entries
            .iter()
            .filter(|e| e["source"] == src && e["code"] == "corrupt_input")
            .count();
        assert_eq!(
            input["incomplete"].as_bool().unwrap(),
            corrupt_here > 0,
            "input {src}: incomplete"
        );
        records += n(&input["records"]);
        converted += n(&input["converted"]);
        rejected += n(&input["rejected"]);
        blank += n(&input["blank_lines"]);
    }
    assert_eq!(n(&totals["records"]), records);
    assert_eq!(n(&totals["converted"]), converted);
    assert_eq!(n(&totals["rejected"]), rejected);
    assert_eq!(n(&totals["blank_lines"]), blank);
    assert_eq!(records, converted + rejected);
    assert_eq!(m["now"], "2026-01-01T00:00:00.000Z");
}
