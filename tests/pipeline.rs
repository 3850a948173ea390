//! The batch tool end to end: runs the built binary on generated inputs and reads back what it
//! wrote (part files, errors.ndjson, manifest.json), the way a user's scripts would.
//!
//! Covered: determinism across threads, block sizes and compression; compressed inputs;
//! partition layouts, rotation and shards; the manifest's accounting and checksums; refusal
//! and `--overwrite`; NDJSON framing and reject positions; stdin; damaged inputs; reading
//! compressed output with the standard tools; `check`; exit statuses.

use crate::common::NOW;
use crate::common::output::*;
use crate::common::run::entries_below;
use crate::common::run::{CONVERT, convert_cmd, gzip, output, output_with_stdin, t2p, zstd_frame};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

// ------------------------------------------------------------------------------------------
// Running the binary

/// Runs `convert --out OUT [opts] INPUTS` with a fixed `--now`; returns the exit status.
fn convert(out: &Path, opts: &[&str], inputs: &[&Path]) -> i32 {
    let o = output(&mut convert_cmd(out, opts, inputs));
    let code = o.status.code().expect("exited normally");
    assert!(
        code == 0 || code == 3 || code == 2,
        "convert {opts:?} {inputs:?}: exit {code}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    code
}

/// Like [`convert`], but the run must complete (exit 0 or 3); returns what it wrote.
fn converted(out: &Path, opts: &[&str], inputs: &[&Path]) -> RunOut {
    let code = convert(out, opts, inputs);
    assert!(code == 0 || code == 3, "convert {opts:?}: exit {code}");
    RunOut::load(out)
}

// ------------------------------------------------------------------------------------------
// Reading what a run wrote (the rest is in common/output.rs)

/// Every directory below `dir`, relative.
fn dirs_below(dir: &Path) -> BTreeSet<String> {
    let all = entries_below(dir, true).into_iter();
    all.filter(|e| e.kind.is_dir()).map(|e| e.rel).collect()
}

/// Is `sub` a subsequence of `all` (the calls of one file appear in input order)?
fn is_subsequence(sub: &[String], all: &[String]) -> bool {
    let mut it = all.iter();
    sub.iter().all(|s| it.any(|a| a == s))
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

// ------------------------------------------------------------------------------------------
// Inputs

struct Inputs {
    dir: TempDir,
}

impl Inputs {
    fn new() -> Inputs {
        Inputs {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// A fresh, not yet existing output directory.
    fn out(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join("out").join(name);
        assert!(!p.exists());
        p
    }
}

fn v1_delete(who: &str) -> String {
    format!(r#"{{"method":"DELETE","path":"/api/v1/customers/{who}"}}"#)
}

fn v1_event(who: &str, name: &str, ts: u64) -> String {
    format!(
        r#"{{"method":"POST","path":"/api/v1/customers/{who}/events","received_at":{ts},"body":{{"name":"{name}","data":{{"n":1}}}}}}"#
    )
}

/// A few thousand varied lines: every conformance input (v1 and v2 calls, batches, rejects),
/// repeated with other people and call times, plus blank lines, invalid JSON (some long),
/// invalid UTF-8, unknown shapes, CRLF lines, calls over 2000 bytes and one over 32 KB.
fn mixed_input(n: usize) -> Vec<u8> {
    let inputs: Vec<String> = crate::common::cases()
        .into_iter()
        .map(|c| c.input)
        .collect();
    let mut out = Vec::new();
    for i in 0..n {
        let ts = 1_692_886_522 + i as u64 * 97;
        let mut s = inputs[i % inputs.len()]
            .replace("customer-id", &format!("customer-{}", i % 37))
            .replace("/customers/42", &format!("/customers/u{}", i % 41));
        if let Ok(map) = serde_json::from_str::<serde_json::Map<String, Value>>(&s) {
            let has = |k: &str| map.contains_key(k);
            if has("method") && !has("timestamp") && !has("received_at") && !has("sent_at") {
                s = format!(r#"{{"received_at":{ts},{}"#, &s[1..]);
            } else if has("action") && !has("timestamp") {
                s = format!(r#"{{"timestamp":{ts},{}"#, &s[1..]);
            }
        }
        out.extend_from_slice(s.as_bytes());
        out.push(b'\n');
        if i % 13 == 0 {
            out.push(b'\n');
        }
        if i % 17 == 0 {
            out.extend_from_slice(b" \t\n");
        }
        if i % 11 == 0 {
            let pad = "p".repeat(1500 + i % 300);
            out.extend_from_slice(
                format!(r#"{{"method":"POST","path":"/api/v1/customers/x/events","body":{{"name":"{pad}"#)
                    .as_bytes(),
            );
            out.push(b'\n');
        }
        if i % 23 == 0 {
            out.extend_from_slice(format!("\u{FFFD} bad {i} ").as_bytes());
            out.extend_from_slice(b"\xff\xfe\n");
        }
        if i % 29 == 0 {
            out.extend_from_slice(format!(r#"{{"seq":{i}}}"#).as_bytes());
            out.push(b'\n');
        }
        if i % 31 == 0 {
            out.extend_from_slice(v1_delete(&format!("crlf-{i}")).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if i % 97 == 0 {
            let blob = "b".repeat(3000);
            out.extend_from_slice(
                format!(r#"{{"method":"POST","path":"/api/v1/customers/big-{i}/events","received_at":{ts},"body":{{"name":"big","data":{{"blob":"{blob}"}}}}}}"#)
                    .as_bytes(),
            );
            out.push(b'\n');
        }
        if i % 1000 == 500 {
            let blob = "x".repeat(40_000);
            out.extend_from_slice(
                format!(r#"{{"method":"POST","path":"/api/v1/customers/huge/events","body":{{"name":"huge","data":{{"blob":"{blob}"}}}}}}"#)
                    .as_bytes(),
            );
            out.push(b'\n');
        }
    }
    out
}

/// Counts of non-blank lines: the records of an NDJSON input without batches.
fn nonblank_lines(bytes: &[u8]) -> u64 {
    bytes
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.iter().all(|b| *b == b' ' || *b == b'\t'))
        .count() as u64
}

// ------------------------------------------------------------------------------------------
// Accounting: what every completed run must satisfy
// ------------------------------------------------------------------------------------------
// 1. Determinism

/// Runs `opts` with every (threads, block size) combination given and checks that every file
/// is byte-identical to the first run's, and the manifest too (but for times and command line).
fn assert_deterministic(
    ins: &Inputs,
    tag: &str,
    input: &Path,
    opts: &[&str],
    combos: &[(&str, &str)],
) {
    let mut first: Option<(RunOut, String)> = None;
    for (i, (threads, block)) in combos.iter().enumerate() {
        let out = ins.out(&format!("{tag}-{i}"));
        let mut args = opts.to_vec();
        args.extend(["--threads", threads]);
        if !block.is_empty() {
            args.extend(["--block-size", block]);
        }
        let run = converted(&out, &args, &[input]);
        let label = format!("{opts:?} --threads {threads} --block-size {block:?}");
        match &first {
            None => {
                check_accounting(&run);
                first = Some((run, label));
            }
            Some((base, base_label)) => {
                let names = |r: &RunOut| r.files.keys().cloned().collect::<Vec<_>>();
                assert_eq!(
                    names(&run),
                    names(base),
                    "{label} vs {base_label}: file names"
                );
                for (path, bytes) in &run.files {
                    if path != "manifest.json" {
                        assert!(
                            *bytes == base.files[path],
                            "{label} vs {base_label}: {path} differs"
                        );
                    }
                }
                assert_eq!(
                    run.stable_manifest(),
                    base.stable_manifest(),
                    "{label} vs {base_label}: manifest"
                );
            }
        }
    }
}

const ALL_COMBOS: [(&str, &str); 9] = [
    ("1", ""),
    ("1", "4KiB"),
    ("1", "64KiB"),
    ("2", ""),
    ("2", "4KiB"),
    ("2", "64KiB"),
    ("8", ""),
    ("8", "4KiB"),
    ("8", "64KiB"),
];

/// Every thread count and every block size at least once.
const SOME_COMBOS: [(&str, &str); 4] = [("1", ""), ("2", "4KiB"), ("8", "64KiB"), ("8", "4KiB")];

#[test]
fn output_is_the_same_whatever_threads_and_block_size() {
    let ins = Inputs::new();
    let input = ins.write("mixed.ndjson", &mixed_input(3000));
    assert_deterministic(&ins, "plain", &input, &[], &ALL_COMBOS);
}

#[test]
fn zstd_output_is_the_same_whatever_threads_and_block_size() {
    let ins = Inputs::new();
    let input = ins.write("mixed.ndjson", &mixed_input(3000));
    // One partition, so the part file (like the error file) spans several compressed frames.
    let opts = ["--compress", "zstd", "--partition-by", "none"];
    assert_deterministic(&ins, "zstd", &input, &opts, &ALL_COMBOS);
}

#[test]
fn gzip_output_is_the_same_whatever_threads_and_block_size() {
    let ins = Inputs::new();
    let input = ins.write("mixed.ndjson", &mixed_input(3000));
    let opts = ["--compress", "gzip", "--partition-by", "none"];
    assert_deterministic(&ins, "gzip", &input, &opts, &SOME_COMBOS);
}

#[test]
fn partitioned_output_is_the_same_whatever_threads_and_block_size() {
    let ins = Inputs::new();
    let input = ins.write("mixed.ndjson", &mixed_input(3000));
    let opts = ["--partition-by", "date,type,bucket:7"];
    assert_deterministic(&ins, "parts", &input, &opts, &SOME_COMBOS);
    let opts = ["--partition-by", "date,type,bucket:7", "--compress", "zstd"];
    assert_deterministic(&ins, "parts-zstd", &input, &opts, &SOME_COMBOS[..3]);
}

// ------------------------------------------------------------------------------------------
// 2. Compressed inputs

#[test]
fn compressed_inputs_give_the_same_calls() {
    let ins = Inputs::new();
    let plain = mixed_input(1200);
    // Members and frames split mid-line: the decompressed stream is what counts.
    let cut = plain.len() / 2 + 7;
    let mut gz = gzip(&plain[..cut]);
    gz.extend(gzip(&plain[cut..]));
    let mut zst = Vec::new();
    for part in [
        &plain[..cut / 3],
        &plain[cut / 3..cut + 11],
        &plain[cut + 11..],
    ] {
        zst.extend(zstd_frame(part));
    }
    // Compression is detected from the first bytes, not the name.
    let files = [
        ins.write("plain.ndjson", &plain),
        ins.write("members.data", &gz),
        ins.write("frames.ndjson.gz", &zst),
    ];
    let sizes = [plain.len(), gz.len(), zst.len()];
    let mut runs = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let run = converted(
            &ins.out(&format!("r{i}")),
            &["--partition-by", "none"],
            &[f],
        );
        check_accounting(&run);
        let src = f.to_str().unwrap();
        let input = run.input(src);
        assert_eq!(
            n(&input["bytes_read"]),
            sizes[i] as u64,
            "{src}: bytes_read"
        );
        assert_eq!(
            n(&input["bytes_decompressed"]),
            plain.len() as u64,
            "{src}: bytes_decompressed"
        );
        runs.push(run);
    }
    let base = &runs[0];
    assert!(
        base.calls.clone().len() > 900,
        "{}",
        base.calls.clone().len()
    );
    for (run, f) in runs.iter().zip(&files).skip(1) {
        assert!(
            run.files["part-0000-00000.ndjson"] == base.files["part-0000-00000.ndjson"],
            "{f:?}: calls differ from the plain input's"
        );
        let strip = |r: &RunOut| {
            r.errors
                .clone()
                .into_iter()
                .map(|mut e| {
                    e.as_object_mut().unwrap().remove("source");
                    e
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(run), strip(base), "{f:?}: error entries");
        let counts = |r: &RunOut| r.manifest["totals"].clone();
        assert_eq!(counts(run), counts(base), "{f:?}: totals");
    }
}

#[test]
fn directories_are_read_in_path_order_without_hidden_files() {
    let ins = Inputs::new();
    let a = format!("{}\n", v1_delete("a"));
    let b = format!("{}\n", v1_delete("b"));
    let c = format!("{}\n", v1_delete("c"));
    ins.write("in/b/z.ndjson", b.as_bytes());
    ins.write("in/a.ndjson.zst", &zstd_frame(a.as_bytes()));
    ins.write("in/c.gz", &gzip(c.as_bytes()));
    ins.write("in/.hidden.ndjson", v1_delete("hidden").as_bytes());
    ins.write("in/.git/x.ndjson", v1_delete("hidden2").as_bytes());
    let dir = ins.dir.path().join("in");
    let run = converted(&ins.out("o"), &["--partition-by", "none"], &[&dir]);
    check_accounting(&run);
    let users: Vec<String> = run
        .calls
        .clone()
        .iter()
        .map(|c| json(c)["userId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(users, ["a", "b", "c"]);
    let sources: Vec<String> = run.manifest["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["source"].as_str().unwrap().to_owned())
        .collect();
    let d = dir.to_str().unwrap();
    assert_eq!(
        sources,
        [
            format!("{d}/a.ndjson.zst"),
            format!("{d}/b/z.ndjson"),
            format!("{d}/c.gz")
        ]
    );
}

// ------------------------------------------------------------------------------------------
// 3. Partitions, rotation, shards

/// The directory a call belongs in under `--partition-by mode` (docs/mapping.md).
fn partition_dir(mode: &str, call: &Value) -> String {
    let text = |k: &str| call[k].as_str().unwrap().to_owned();
    mode.split(',')
        .map(|key| match key {
            "type" => format!("type={}", text("type")),
            "date" => format!("date={}", &text("timestamp")[..10]),
            "hour" => format!("hour={}", &text("timestamp")[..13]),
            _ => {
                let modulo: u64 = key.strip_prefix("bucket:").unwrap().parse().unwrap();
                let value = ["userId", "anonymousId", "groupId"]
                    .iter()
                    .find_map(|k| call[*k].as_str())
                    .unwrap_or("");
                let bucket = xxhash_rust::xxh3::xxh3_64(value.as_bytes()) % modulo;
                let width = (modulo - 1).to_string().len().max(3);
                format!("bucket={bucket:0width$}")
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn partition_modes_put_each_call_in_its_directory() {
    let ins = Inputs::new();
    let input = ins.write("mixed.ndjson", &mixed_input(1500));
    let flat = converted(&ins.out("none"), &["--partition-by", "none"], &[&input]);
    check_accounting(&flat);
    let all = flat.calls.clone();
    assert_eq!(
        flat.parts()
            .iter()
            .map(|(p, _)| p.as_str())
            .collect::<Vec<_>>(),
        ["part-0000-00000.ndjson"]
    );
    assert_eq!(
        all.len() as u64,
        n(&flat.manifest["totals"]["calls"]),
        "one file holds every call"
    );

    let modes = [
        "type",
        "date",
        "hour",
        "bucket:7",
        "date,type",
        "type,hour",
        "bucket:1234,type",
    ];
    for mode in modes {
        let run = converted(
            &ins.out(&mode.replace([',', ':'], "_")),
            &["--partition-by", mode],
            &[&input],
        );
        check_accounting(&run);
        let parts = run.parts();
        assert!(parts.len() > 1, "{mode}: several partitions");
        let mut dirs = BTreeSet::new();
        for (path, calls) in &parts {
            let (dir, name) = path.rsplit_once('/').unwrap();
            assert_eq!(name, "part-0000-00000.ndjson", "{mode}: {path}");
            assert!(
                dirs.insert(dir.to_owned()),
                "{mode}: one file per partition"
            );
            for c in calls {
                assert_eq!(
                    partition_dir(mode, &json(c)),
                    dir,
                    "{mode}: call in {path}: {c}"
                );
            }
            assert!(
                is_subsequence(calls, &all),
                "{mode}: {path} keeps input order"
            );
        }
        assert_eq!(
            sorted(run.calls.clone()),
            sorted(all.clone()),
            "{mode}: same calls"
        );
        if mode.starts_with("bucket:7") {
            assert!(dirs.iter().all(|d| d.len() == "bucket=000".len()));
        }
    }
    // Default: by type.
    let default = converted(&ins.out("default"), &[], &[&input]);
    assert!(default.parts().iter().all(|(p, _)| p.starts_with("type=")));
}

/// Rotated runs: file names count up from 00000 within each partition, and the files of a
/// partition, concatenated, are the unrotated file.
fn check_rotation(rotated: &RunOut, whole: &RunOut, shard: &str) -> Vec<(String, Vec<String>)> {
    let parts = rotated.parts();
    let mut by_dir: BTreeMap<String, Vec<(String, Vec<String>)>> = BTreeMap::new();
    for (path, calls) in parts.iter().cloned() {
        let dir = path.rsplit_once('/').map_or("", |(d, _)| d).to_owned();
        by_dir.entry(dir).or_default().push((path, calls));
    }
    let whole_parts: BTreeMap<String, Vec<String>> = whole
        .parts()
        .into_iter()
        .map(|(p, c)| (p.rsplit_once('/').map_or("", |(d, _)| d).to_owned(), c))
        .collect();
    assert_eq!(
        by_dir.keys().collect::<Vec<_>>(),
        whole_parts.keys().collect::<Vec<_>>()
    );
    for (dir, files) in &by_dir {
        for (i, (path, _)) in files.iter().enumerate() {
            assert_eq!(
                file_name(path),
                format!("part-{shard}-{i:05}.ndjson"),
                "files of {dir:?} are numbered from 00000"
            );
        }
        let joined: Vec<String> = files.iter().flat_map(|(_, c)| c.clone()).collect();
        assert_eq!(&joined, &whole_parts[dir], "{dir:?}: rotated files joined");
    }
    parts
}

#[test]
fn rotation_by_records_bytes_and_shards() {
    let ins = Inputs::new();
    let input = ins.write("mixed.ndjson", &mixed_input(700));
    let whole = converted(&ins.out("whole"), &["--partition-by", "none"], &[&input]);
    let whole_typed = converted(&ins.out("whole-typed"), &[], &[&input]);

    // --max-file-records
    let run = converted(
        &ins.out("records"),
        &["--partition-by", "none", "--max-file-records", "10"],
        &[&input],
    );
    check_accounting(&run);
    let parts = check_rotation(&run, &whole, "0000");
    assert!(parts.len() > 20);
    let (last, full) = parts.split_last().unwrap();
    assert!(
        full.iter().all(|(_, c)| c.len() == 10),
        "files are filled to 10 calls"
    );
    assert!((1..=10).contains(&last.1.len()));
    let joined: Vec<u8> = run
        .files
        .iter()
        .filter(|(p, _)| is_part(p))
        .flat_map(|(_, b)| b.clone())
        .collect();
    assert!(
        joined == whole.files["part-0000-00000.ndjson"],
        "concatenated rotated files are the unrotated file, byte for byte"
    );

    // --max-file-records within partitions
    let run = converted(
        &ins.out("records-typed"),
        &["--max-file-records", "10"],
        &[&input],
    );
    check_accounting(&run);
    for (path, calls) in check_rotation(&run, &whole_typed, "0000") {
        assert!((1..=10).contains(&calls.len()), "{path}");
    }

    // --max-file-bytes: within the limit, except a call larger than it, alone in its file.
    let limit = 2000;
    let run = converted(
        &ins.out("bytes"),
        &["--partition-by", "none", "--max-file-bytes", "2000"],
        &[&input],
    );
    check_accounting(&run);
    let parts = check_rotation(&run, &whole, "0000");
    let mut big_alone = 0;
    for (i, (path, calls)) in parts.iter().enumerate() {
        let size = run.files[path].len();
        if size > limit {
            assert_eq!(calls.len(), 1, "{path}: over the limit only with one call");
            big_alone += 1;
        }
        if let Some((_, next)) = parts.get(i + 1) {
            assert!(
                size + next[0].len() + 1 > limit,
                "{path}: rotated only when the next call would not fit"
            );
        }
    }
    assert!(big_alone > 0, "the input has calls over 2000 bytes");

    // Rotation with compression: the limit is on uncompressed bytes.
    let run = converted(
        &ins.out("bytes-zstd"),
        &[
            "--partition-by",
            "none",
            "--max-file-bytes",
            "2000",
            "--compress",
            "zstd",
        ],
        &[&input],
    );
    check_accounting(&run);
    let rotated: Vec<Vec<String>> = run.parts().into_iter().map(|(_, c)| c).collect();
    let plain: Vec<Vec<String>> = parts.into_iter().map(|(_, c)| c).collect();
    assert_eq!(rotated, plain, "same rotation compressed or not");

    // Shards' part names (part-<K>-...) are checked in tests/shards.rs.
}

// ------------------------------------------------------------------------------------------
// 4. Accounting over several inputs and layouts

#[test]
fn manifest_accounts_for_every_record() {
    let ins = Inputs::new();
    let mixed = mixed_input(1000);
    let a = ins.write("a.ndjson", &mixed);
    let b = ins.write("b.ndjson.zst", &zstd_frame(&mixed_input(300)));
    let batches = ins.write(
        "batches.ndjson",
        br#"{"batch":[{"type":"person","identifiers":{"id":"1"},"action":"identify"},{"type":"person","action":"identify"},{"type":"nope"}]}
{"batch":[]}
{"batch":[{"type":"person","identifiers":{"id":"2"},"action":"event","name":"x","timestamp":1700000000}]}
"#,
    );
    let good = ins.write(
        "good.ndjson",
        format!(
            "{}\n{}\n",
            v1_delete("g1"),
            v1_event("g2", "e", 1_700_000_000)
        )
        .as_bytes(),
    );
    let runs: Vec<(&str, Vec<&str>, Vec<&Path>)> = vec![
        ("default", vec![], vec![&a]),
        (
            "several",
            vec!["--partition-by", "date,type"],
            vec![&a, &b, &batches, &good],
        ),
        (
            "rotated-zstd",
            vec![
                "--compress",
                "zstd",
                "--max-file-records",
                "50",
                "--partition-by",
                "hour",
            ],
            vec![&a, &b],
        ),
        (
            "gzip",
            vec!["--compress", "gzip", "--partition-by", "bucket:3"],
            vec![&b, &batches],
        ),
        ("good", vec![], vec![&good]),
    ];
    for (tag, opts, inputs) in runs {
        let run = converted(&ins.out(tag), &opts, &inputs);
        check_accounting(&run);
        // Records: one per batch element; an empty batch is one rejected record
        // (docs/mapping.md).
        if inputs.contains(&batches.as_path()) {
            let i = run.input(batches.to_str().unwrap());
            assert_eq!(
                (n(&i["records"]), n(&i["converted"]), n(&i["rejected"])),
                (5, 2, 3)
            );
            let errors = run.errors.clone();
            let entries: Vec<(u64, Option<u64>, &str, &str)> = errors
                .iter()
                .filter(|e| e["source"] == batches.to_str().unwrap())
                .map(|e| {
                    (
                        n(&e["line"]),
                        e["item"].as_u64(),
                        e["code"].as_str().unwrap(),
                        e["raw"].as_str().unwrap(),
                    )
                })
                .collect();
            assert_eq!(
                entries,
                [
                    (
                        1,
                        Some(1),
                        "missing_identifier",
                        r#"{"type":"person","action":"identify"}"#
                    ),
                    (1, Some(2), "unknown_shape", r#"{"type":"nope"}"#),
                    (2, None, "missing_field", r#"{"batch":[]}"#),
                ]
            );
        }
    }
}

// ------------------------------------------------------------------------------------------
// 5. Refusal and --overwrite

#[test]
fn a_second_run_into_the_same_out_is_refused_and_changes_nothing() {
    let ins = Inputs::new();
    let input = ins.write("mixed.ndjson", &mixed_input(300));
    let out = ins.out("o");
    converted(&out, &[], &[&input]);
    let before = snapshot(&out);
    let dirs_before = dirs_below(&out);
    assert_eq!(convert(&out, &[], &[&input]), 2);
    assert_eq!(
        convert(
            &out,
            &["--partition-by", "none", "--compress", "zstd"],
            &[&input]
        ),
        2
    );
    assert!(snapshot(&out) == before, "a refused run changes nothing");
    assert_eq!(dirs_below(&out), dirs_before);

    // A file the run must write (the manifest, the error file) that no run of ours wrote is
    // left alone: the run is refused before it changes anything.
    for leftover in ["manifest.json", "errors.ndjson"] {
        let out = ins.out(&format!("left-{leftover}"));
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join(leftover), b"old").unwrap();
        let o = output(&mut convert_cmd(&out, &[], &[&input]));
        assert_eq!(o.status.code(), Some(2), "{leftover}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(leftover), "the file is named: {err}");
        assert_eq!(
            snapshot(&out).keys().collect::<Vec<_>>(),
            vec![leftover],
            "{leftover}: nothing written"
        );
        assert_eq!(std::fs::read(out.join(leftover)).unwrap(), b"old");
    }
    // A hand-made part file that the run does not need to write is not in the way: it stays.
    let out = ins.out("left-part");
    std::fs::create_dir_all(out.join("x/y")).unwrap();
    std::fs::write(out.join("x/y/part-0003-00001.ndjson.gz"), b"old").unwrap();
    // (Not read back with the run's files: this one is not a part file of the run.)
    let code = convert(&out, &[], &[&input]);
    assert!(code == 0 || code == 3, "exit {code}");
    assert_eq!(
        std::fs::read(out.join("x/y/part-0003-00001.ndjson.gz")).unwrap(),
        b"old"
    );
}

#[test]
fn overwrite_replaces_the_earlier_run() {
    let ins = Inputs::new();
    let input = ins.write("mixed.ndjson", &mixed_input(300));
    let out = ins.out("o");
    converted(
        &out,
        &["--partition-by", "date,type", "--compress", "gzip"],
        &[&input],
    );
    std::fs::write(out.join("notes.txt"), b"mine").unwrap();
    std::fs::write(out.join("date=2023-08-24").join("keep.txt"), b"mine too").unwrap();
    std::fs::create_dir_all(out.join("empty/nested")).unwrap();
    let run = converted(&out, &["--overwrite", "--partition-by", "type"], &[&input]);
    check_accounting(&run);
    let fresh = converted(&ins.out("fresh"), &["--partition-by", "type"], &[&input]);
    let mut expected: BTreeSet<String> = fresh.files.keys().cloned().collect();
    expected.insert("notes.txt".into());
    expected.insert("date=2023-08-24/keep.txt".into());
    assert_eq!(
        run.files.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "old part files and error file are gone, unrelated files kept"
    );
    assert_eq!(run.files["notes.txt"], b"mine");
    let old_dirs: Vec<String> = dirs_below(&out)
        .into_iter()
        .filter(|d| d.starts_with("date=") && d != "date=2023-08-24")
        .collect();
    assert!(
        out.join("empty/nested").is_dir(),
        "an unrelated empty directory is kept"
    );
    assert!(
        old_dirs.is_empty(),
        "empty old partition directories are removed: {old_dirs:?}"
    );
    for (path, bytes) in &fresh.files {
        if path != "manifest.json" {
            assert!(run.files[path] == *bytes, "{path}");
        }
    }
}

#[test]
fn an_out_with_only_unrelated_files_is_accepted() {
    let ins = Inputs::new();
    let input = ins.write("mixed.ndjson", &mixed_input(100));
    let out = ins.out("o");
    std::fs::create_dir_all(out.join("docs")).unwrap();
    std::fs::write(out.join("README.txt"), b"hello").unwrap();
    std::fs::write(out.join("docs/part.txt"), b"not a part file").unwrap();
    std::fs::write(out.join("errors.txt"), b"not the error file").unwrap();
    let run = converted(&out, &[], &[&input]);
    check_accounting(&run);
    assert_eq!(run.files["README.txt"], b"hello");
    assert_eq!(run.files["docs/part.txt"], b"not a part file");
    assert_eq!(run.files["errors.txt"], b"not the error file");
}

// ------------------------------------------------------------------------------------------
// 6. Framing

/// The lines of `bytes` with their 1-based number and offset (after a BOM), line endings cut.
fn physical_lines(bytes: &[u8]) -> Vec<(u64, u64, Vec<u8>)> {
    let (body, start) = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
        Some(b) => (b, 3),
        None => (bytes, 0),
    };
    let mut out = Vec::new();
    let mut offset = start;
    for (i, chunk) in body.split_inclusive(|b| *b == b'\n').enumerate() {
        let mut line = chunk.strip_suffix(b"\n").unwrap_or(chunk);
        line = line.strip_suffix(b"\r").unwrap_or(line);
        out.push((i as u64 + 1, offset, line.to_vec()));
        offset += chunk.len() as u64;
    }
    out
}

#[test]
fn framing_bom_crlf_blank_lines_and_a_last_line_without_newline() {
    let ins = Inputs::new();
    let mut text = b"\xEF\xBB\xBF".to_vec();
    text.extend(br#"{"method":"GET","path":"/api/v1/nothing"}"#);
    text.extend(b"\r\n");
    text.extend(v1_event("a", "one", 1_700_000_000).as_bytes());
    text.extend(b"\r\n\r\n   \t \n\n");
    text.extend(b"{not json\r\n");
    text.extend(v1_delete("b").as_bytes());
    text.extend(b"\n\t\r\n");
    text.extend(v1_delete("last").as_bytes());
    let input = ins.write("framing.ndjson", &text);
    let bad_at = text.windows(9).position(|w| w == b"{not json").unwrap() as u64;
    assert!(physical_lines(&text).contains(&(6, bad_at, b"{not json".to_vec())));
    for block in ["", "4KiB"] {
        let mut opts = vec!["--partition-by", "none"];
        if !block.is_empty() {
            opts.extend(["--block-size", block]);
        }
        let run = converted(&ins.out(&format!("o{block}")), &opts, &[&input]);
        check_accounting(&run);
        let i = run.input(input.to_str().unwrap());
        assert_eq!(
            (
                n(&i["records"]),
                n(&i["blank_lines"]),
                n(&i["converted"]),
                n(&i["rejected"])
            ),
            (5, 4, 3, 2)
        );
        assert_eq!(n(&i["bytes_decompressed"]), text.len() as u64);
        let errors = run.errors.clone();
        let pos: Vec<(u64, u64, &str, &str)> = errors
            .iter()
            .map(|e| {
                (
                    n(&e["line"]),
                    n(&e["offset"]),
                    e["code"].as_str().unwrap(),
                    e["raw"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            pos,
            [
                (
                    1,
                    3,
                    "unknown_call",
                    r#"{"method":"GET","path":"/api/v1/nothing"}"#
                ),
                (6, bad_at, "invalid_json", "{not json"),
            ]
        );
        let users: Vec<String> = run
            .calls
            .clone()
            .iter()
            .map(|c| json(c)["userId"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            users,
            ["a", "b", "last"],
            "the last line, without newline, is a record"
        );
    }
}

#[test]
fn over_long_lines_are_rejected_with_their_length_and_the_run_goes_on() {
    let ins = Inputs::new();
    let mut lines: Vec<Vec<u8>> = Vec::new();
    lines.push(v1_delete("first").into_bytes());
    // Longer than the limit but short enough to arrive in one chunk, then longer than a 4 KiB
    // block (cut out while reading), then two in a row, then one at the very end.
    let long = |tag: &str, len: usize| {
        let mut l = format!(r#"{{"{tag}":""#).into_bytes();
        l.resize(len - 2, b'z');
        l.extend(b"\"}");
        l
    };
    lines.push(long("a", 1500));
    lines.push(v1_delete("second").into_bytes());
    lines.push(long("b", 10_000));
    lines.push(v1_delete("third").into_bytes());
    lines.push(v1_delete("fourth").into_bytes());
    lines.push(long("c", 9000));
    lines.push(long("d", 20_000));
    lines.push(v1_delete("fifth").into_bytes());
    lines.push(b"{\"short\":1}".to_vec());
    let mut text = lines.join(&b'\n');
    text.push(b'\n');
    let input = ins.write("long.ndjson", &text);
    let expected: Vec<(u64, u64, &[u8])> = physical_lines(&text)
        .iter()
        .filter(|(_, _, l)| l.len() > 1000)
        .map(|(no, off, l)| (*no, *off, &text[*off as usize..*off as usize + l.len()]))
        .collect();
    assert_eq!(expected.len(), 4);
    let mut first: Option<RunOut> = None;
    for block in ["", "4KiB", "64KiB"] {
        let mut opts = vec!["--partition-by", "none", "--max-line-bytes", "1000"];
        if !block.is_empty() {
            opts.extend(["--block-size", block]);
        }
        let run = converted(&ins.out(&format!("o{block}")), &opts, &[&input]);
        check_accounting(&run);
        let errors = run.errors.clone();
        let long_ones: Vec<&Value> = errors
            .iter()
            .filter(|e| e["code"] == "line_too_long")
            .collect();
        assert_eq!(long_ones.len(), 4, "block {block:?}");
        for (e, (line, offset, bytes)) in long_ones.iter().zip(&expected) {
            assert_eq!(n(&e["line"]), *line, "block {block:?}: {e}");
            assert_eq!(n(&e["offset"]), *offset, "block {block:?}: line {line}");
            assert_eq!(
                n(&e["length"]),
                bytes.len() as u64,
                "block {block:?}: line {line}"
            );
            let raw = e["raw"].as_str().unwrap().as_bytes();
            assert!(raw.len() <= 4096, "raw holds at most 4096 bytes");
            assert_eq!(raw, &bytes[..raw.len()], "raw is the line's beginning");
            assert_eq!(raw.len(), bytes.len().min(4096));
        }
        // Everything else converted, or rejected for what it is.
        let users: Vec<String> = run
            .calls
            .clone()
            .iter()
            .map(|c| json(c)["userId"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            users,
            ["first", "second", "third", "fourth", "fifth"],
            "block {block:?}"
        );
        let other: Vec<(u64, &str)> = errors
            .iter()
            .filter(|e| e["code"] != "line_too_long")
            .map(|e| (n(&e["line"]), e["code"].as_str().unwrap()))
            .collect();
        assert_eq!(other, [(10, "unknown_shape")], "block {block:?}");
        match &first {
            None => first = Some(run),
            Some(f) => assert!(f.errors_bytes() == run.errors_bytes(), "block {block:?}"),
        }
    }
}

#[test]
fn reject_positions_are_right_across_chunk_boundaries() {
    let ins = Inputs::new();
    let mut text = Vec::new();
    let mut bad = BTreeSet::new();
    for i in 0..3000usize {
        match i % 7 {
            0 => {
                let raw = format!(r#"{{"bad":{i},"pad":"{}"}}"#, "q".repeat(i % 50));
                bad.insert(raw.clone());
                text.extend(raw.as_bytes());
            }
            3 if i % 2 == 0 => text.extend(b"  "),
            5 => {
                let raw = format!("nope {i}");
                bad.insert(raw.clone());
                text.extend(raw.as_bytes());
            }
            _ => text.extend(
                v1_event(
                    &format!("p{i}"),
                    &"e".repeat(i % 40 + 1),
                    1_700_000_000 + i as u64,
                )
                .as_bytes(),
            ),
        }
        text.extend(if i % 3 == 0 { &b"\r\n"[..] } else { &b"\n"[..] });
    }
    let input = ins.write("positions.ndjson", &text);
    let expected: Vec<(u64, u64, String)> = physical_lines(&text)
        .into_iter()
        .map(|(no, off, l)| (no, off, String::from_utf8(l).unwrap()))
        .filter(|(_, _, l)| bad.contains(l))
        .collect();
    assert_eq!(expected.len(), bad.len());
    for block in ["4KiB", "64KiB", ""] {
        let mut opts = vec!["--partition-by", "none", "--threads", "2"];
        if !block.is_empty() {
            opts.extend(["--block-size", block]);
        }
        let run = converted(&ins.out(&format!("o{block}")), &opts, &[&input]);
        check_accounting(&run);
        let got: Vec<(u64, u64, String)> = run
            .errors
            .clone()
            .iter()
            .map(|e| {
                (
                    n(&e["line"]),
                    n(&e["offset"]),
                    e["raw"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(got, expected, "block {block:?}");
        let i = run.input(input.to_str().unwrap());
        assert_eq!(n(&i["records"]), nonblank_lines(&text));
    }
}

// ------------------------------------------------------------------------------------------
// 7. Standard input

#[test]
fn stdin_is_read_as_source_dash() {
    let ins = Inputs::new();
    let mixed = mixed_input(400);
    let file = ins.write("mixed.ndjson", &mixed);
    let from_file = converted(&ins.out("file"), &[], &[&file]);
    let out = ins.out("stdin");
    let mut cmd = t2p();
    cmd.args(CONVERT).arg("--out").arg(&out).arg("-");
    let o = output_with_stdin(cmd, &zstd_frame(&mixed));
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let run = RunOut::load(&out);
    check_accounting(&run);
    assert_eq!(run.manifest["inputs"].as_array().unwrap().len(), 1);
    let i = run.input("-");
    assert_eq!(n(&i["bytes_decompressed"]), mixed.len() as u64);
    let errors = run.errors.clone();
    assert!(!errors.is_empty());
    assert!(errors.iter().all(|e| e["source"] == "-"));
    for (path, bytes) in &from_file.files {
        if is_part(path) {
            assert!(
                run.files[path] == *bytes,
                "{path}: same calls as from the file"
            );
        }
    }
    let strip = |r: &RunOut| {
        r.errors
            .clone()
            .into_iter()
            .map(|mut e| {
                e.as_object_mut().unwrap().remove("source");
                e
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&run), strip(&from_file));
}

// ------------------------------------------------------------------------------------------
// 8. Damaged input

/// A truncated compressed input between two good ones: exit 3, one `corrupt_input` entry for
/// it, marked incomplete, the other inputs fully converted, and its records decoded before the
/// damage converted.
fn check_truncated_input(name: &str, compress: fn(&[u8]) -> Vec<u8>) {
    let ins = Inputs::new();
    let first = mixed_input(300);
    let damaged = mixed_input(2000);
    let last = format!("{}\n{}\n", v1_delete("after-1"), v1_delete("after-2"));
    let packed = compress(&damaged);
    let f1 = ins.write("1.ndjson", &first);
    let f2 = ins.write(name, &packed[..packed.len() / 2]);
    let f3 = ins.write("3.ndjson.gz", &gzip(last.as_bytes()));
    let out = ins.out("o");
    assert_eq!(
        convert(&out, &["--partition-by", "none"], &[&f1, &f2, &f3]),
        3
    );
    let run = RunOut::load(&out);
    check_accounting(&run);
    let s2 = f2.to_str().unwrap();
    let errors = run.errors.clone();
    let corrupt: Vec<&Value> = errors
        .iter()
        .filter(|e| e["code"] == "corrupt_input")
        .collect();
    assert_eq!(corrupt.len(), 1);
    assert_eq!(corrupt[0]["source"], s2);
    let stopped = n(&corrupt[0]["offset"]) as usize;
    assert!(
        stopped > 0 && stopped < damaged.len(),
        "decoding stopped inside: {stopped}"
    );
    assert_eq!(n(&run.input(s2)["bytes_decompressed"]), stopped as u64);
    assert_eq!(run.input(s2)["incomplete"], true);
    for f in [&f1, &f3] {
        let i = run.input(f.to_str().unwrap());
        assert_eq!(i["incomplete"], false);
    }
    let alone = converted(&ins.out("first-alone"), &[], &[&f1]);
    let counts = |i: &Value| ["records", "blank_lines", "converted", "rejected"].map(|k| n(&i[k]));
    assert_eq!(
        counts(run.input(f1.to_str().unwrap())),
        counts(alone.input(f1.to_str().unwrap())),
        "every record of the first input"
    );
    assert_eq!(n(&run.input(f3.to_str().unwrap())["converted"]), 2);

    // The calls: all of the first and last inputs, and those of every record decoded before
    // the damage (a partial last line, if any, is whatever it converts to on its own).
    let decoded = &damaged[..stopped];
    let whole_lines = decoded
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    let pieces = [
        ins.write("expect/1.ndjson", &first),
        ins.write("expect/2.ndjson", &decoded[..whole_lines]),
        ins.write("expect/2-tail.ndjson", &decoded[whole_lines..]),
        ins.write("expect/3.ndjson", last.as_bytes()),
    ];
    let mut expected = Vec::new();
    for (i, p) in pieces.iter().enumerate() {
        let r = converted(
            &ins.out(&format!("expect-{i}")),
            &["--partition-by", "none"],
            &[p],
        );
        expected.extend(r.calls.clone());
    }
    let before = converted(&ins.out("before"), &[], &[&pieces[1]]);
    assert!(
        n(&before.manifest["totals"]["converted"]) > 100,
        "records before the damage"
    );
    assert_eq!(run.calls.clone(), expected);
    assert!(
        n(&run.input(s2)["converted"]) >= n(&before.manifest["totals"]["converted"]),
        "records decoded before the damage are converted"
    );
}

#[test]
fn a_truncated_zstd_input_is_reported_and_the_others_convert() {
    check_truncated_input("2.ndjson.zst", zstd_frame);
}

#[test]
fn a_truncated_gzip_input_is_reported_and_the_others_convert() {
    check_truncated_input("2.ndjson.gz", gzip);
}

// ------------------------------------------------------------------------------------------
// 9. Compressed output, read with the standard tools

fn tool_decompress(tool: &str, path: &Path) -> Vec<u8> {
    let o = std::process::Command::new(tool)
        .arg("-dc")
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{tool} -dc` (install {tool}): {e}"));
    assert!(
        o.status.success(),
        "{tool} -dc {path:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

#[test]
fn compressed_output_reads_back_with_zstd_and_gzip() {
    let ins = Inputs::new();
    let input = ins.write("mixed.ndjson", &mixed_input(3000));
    let opts = ["--partition-by", "type", "--max-file-records", "700"];
    let plain = converted(&ins.out("plain"), &opts, &[&input]);
    let good = ins.write("good.ndjson", format!("{}\n", v1_delete("x")).as_bytes());
    for (codec, tool, suffix) in [("zstd", "zstd", ".zst"), ("gzip", "gzip", ".gz")] {
        // No rejects: the error file is empty, and still a valid compressed file.
        let out = ins.out(&format!("good-{codec}"));
        assert_eq!(convert(&out, &["--compress", codec], &[&good]), 0);
        let errors = out.join(format!("errors.ndjson{suffix}"));
        assert!(tool_decompress(tool, &errors).is_empty());
        check_accounting(&RunOut::load(&out));

        let out = ins.out(codec);
        let mut args = opts.to_vec();
        args.extend(["--compress", codec]);
        let run = converted(&out, &args, &[&input]);
        check_accounting(&run);
        let mut names = BTreeSet::new();
        for path in run.files.keys().filter(|p| *p != "manifest.json") {
            let base = path
                .strip_suffix(suffix)
                .unwrap_or_else(|| panic!("{path} ends in {suffix}"));
            names.insert(base.to_owned());
            let back = tool_decompress(tool, &out.join(path));
            assert!(
                back == plain.files[base],
                "{tool} -dc {path} is the uncompressed run's {base}"
            );
        }
        let plain_names: BTreeSet<String> = plain
            .files
            .keys()
            .filter(|p| *p != "manifest.json")
            .cloned()
            .collect();
        assert_eq!(names, plain_names);
        // The manifest describes the same calls.
        let summary = |r: &RunOut| {
            r.manifest["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| {
                    (
                        f["path"]
                            .as_str()
                            .unwrap()
                            .trim_end_matches(suffix)
                            .to_owned(),
                        f["calls"].clone(),
                        f["first_timestamp"].clone(),
                        f["last_timestamp"].clone(),
                        f["calls_by_type"].clone(),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(summary(&run), summary(&plain));
        assert_eq!(run.manifest["totals"], plain.manifest["totals"]);
    }
}

// ------------------------------------------------------------------------------------------
// 10. check

#[test]
fn check_counts_like_convert_and_writes_only_what_it_is_asked_to() {
    let ins = Inputs::new();
    let input = ins.write("mixed.ndjson", &mixed_input(800));
    let good = ins.write("good.ndjson", format!("{}\n", v1_delete("x")).as_bytes());
    let run = converted(&ins.out("convert"), &[], &[&input]);
    let work = tempfile::tempdir().unwrap();
    let check = |args: &[&str], inputs: &[&Path]| -> i32 {
        let o = t2p()
            .current_dir(work.path())
            .args(["check", "--now", NOW, "--progress", "never"])
            .args(args)
            .args(inputs)
            .output()
            .unwrap();
        o.status.code().unwrap()
    };
    let inputs_before = snapshot(ins.dir.path());
    assert_eq!(check(&[], &[&input]), 3);
    assert_eq!(check(&["--quiet"], &[&good]), 0);
    assert!(
        snapshot(work.path()).is_empty(),
        "check writes nothing by default"
    );
    assert!(
        snapshot(ins.dir.path()) == inputs_before,
        "nor beside its inputs"
    );

    let errors = work.path().join("rejects.ndjson");
    let summary = work.path().join("summary.json");
    let code = check(
        &[
            "--threads",
            "2",
            "--block-size",
            "4KiB",
            "--errors",
            errors.to_str().unwrap(),
            "--summary-json",
            summary.to_str().unwrap(),
        ],
        &[&input],
    );
    assert_eq!(code, 3);
    assert_eq!(
        snapshot(work.path()).keys().collect::<Vec<_>>(),
        ["rejects.ndjson", "summary.json"]
    );
    assert!(
        std::fs::read(&errors).unwrap() == run.errors_bytes(),
        "same entries as convert"
    );
    let s: Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    let t = &run.manifest["totals"];
    for key in [
        "records",
        "converted",
        "rejected",
        "blank_lines",
        "calls",
        "calls_by_type",
        "rejects",
    ] {
        assert_eq!(s[key], t[key], "summary {key}");
    }
    assert_eq!(s["exit_code"], 3);
}

// ------------------------------------------------------------------------------------------
// 11. Exit statuses

#[test]
fn exit_statuses() {
    let ins = Inputs::new();
    let good = ins.write(
        "good.ndjson",
        format!("{}\n{}\n", v1_delete("x"), v1_event("y", "e", 1)).as_bytes(),
    );
    let mixed = ins.write("mixed.ndjson", &mixed_input(60));
    assert_eq!(convert(&ins.out("good"), &[], &[&good]), 0);
    assert_eq!(convert(&ins.out("mixed"), &[], &[&good, &mixed]), 3);

    // Usage errors: exit 2, nothing written (not even the --out directory).
    let missing = ins.dir.path().join("missing.ndjson");
    let bad: Vec<(&str, Vec<&str>, Vec<&Path>)> = vec![
        ("missing input", vec![], vec![&good, &missing]),
        ("unknown flag", vec!["--colour"], vec![&good]),
        ("bad --compress", vec!["--compress", "brotli"], vec![&good]),
        (
            "bad --partition-by",
            vec!["--partition-by", "colour"],
            vec![&good],
        ),
        (
            "repeated --partition-by key",
            vec!["--partition-by", "type,type"],
            vec![&good],
        ),
        ("--threads 0", vec!["--threads", "0"], vec![&good]),
        (
            "--block-size too small",
            vec!["--block-size", "1KiB"],
            vec![&good],
        ),
        ("bad --now", vec!["--now", "yesterday"], vec![&good]),
        (
            "bad --integrations",
            vec!["--integrations", "[1]"],
            vec![&good],
        ),
        (
            "bad --compress-level",
            vec!["--compress", "zstd", "--compress-level", "99"],
            vec![&good],
        ),
    ];
    for (i, (what, opts, inputs)) in bad.into_iter().enumerate() {
        let out = ins.out(&format!("bad{i}"));
        assert_eq!(convert(&out, &opts, &inputs), 2, "{what}");
        assert!(!out.exists(), "{what}: nothing written");
    }
    let o = t2p()
        .args(["convert", "--now", NOW])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "convert without --out");
    let o = t2p()
        .args(["check", "--now", NOW])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "check of a missing input");

    // A refused --out.
    let out = ins.out("twice");
    assert_eq!(convert(&out, &[], &[&good]), 0);
    assert_eq!(convert(&out, &[], &[&good]), 2);
    assert_eq!(convert(&out, &["--overwrite"], &[&good]), 0);
}

// ------------------------------------------------------------------------------------------
// Over-long lines: the same rejects, lengths, offsets and counts at any block size

/// Runs `text` with `--max-line-bytes 1000` and a 4 KiB and the default block size; returns
/// both runs.
fn long_line_runs(ins: &Inputs, text: &[u8], extra: &[&str]) -> [RunOut; 2] {
    let input = ins.write("in.ndjson", text);
    ["4KiB", "2MiB"].map(|block| {
        let mut opts = vec!["--partition-by", "none", "--max-line-bytes", "1000"];
        opts.extend(["--block-size", block]);
        opts.extend(extra);
        converted(&ins.out(block), &opts, &[&input])
    })
}

#[test]
fn over_long_crlf_line_length_does_not_depend_on_block_size() {
    let ins = Inputs::new();
    let mut text = format!("{}\r\n", v1_delete("a")).into_bytes();
    text.extend(b"{\"x\":\"");
    text.extend(vec![b'z'; 9992]);
    text.extend(b"\"}\r\n");
    text.extend(format!("{}\r\n", v1_delete("b")).as_bytes());
    let runs = long_line_runs(&ins, &text, &[]);
    for run in &runs {
        let e = &run.errors.clone()[0];
        assert_eq!(e["code"], "line_too_long");
        assert_eq!(
            n(&e["length"]),
            10_000,
            "the line ending is not part of the line"
        );
    }
    assert!(runs[0].errors_bytes() == runs[1].errors_bytes());
}

#[test]
fn bytes_decompressed_counts_an_over_long_last_line() {
    let ins = Inputs::new();
    let mut text = format!("{}\n", v1_delete("a")).into_bytes();
    text.extend(vec![b'z'; 10_000]);
    text.push(b'\n');
    for run in long_line_runs(&ins, &text, &[]) {
        let i = &run.manifest["inputs"][0];
        assert_eq!(n(&i["bytes_decompressed"]), text.len() as u64);
    }
}

#[test]
fn an_over_long_blank_line_is_treated_the_same_whatever_block_size() {
    let ins = Inputs::new();
    let mut text = format!("{}\n", v1_delete("a")).into_bytes();
    text.extend(vec![b' '; 10_000]);
    text.push(b'\n');
    text.extend(format!("{}\n", v1_delete("b")).as_bytes());
    let [small, big] = long_line_runs(&ins, &text, &[]);
    // What each run must give (docs/mapping.md §14, over-long lines win over blank lines): the
    // spaces are line 2, rejected as `line_too_long` with their full length, not skipped as
    // blank; the lines around it become one call each.
    let second = (v1_delete("a").len() + 1) as u64;
    for run in [&small, &big] {
        let errors = run.errors.clone();
        assert_eq!(errors.len(), 1, "{errors:?}");
        let e = &errors[0];
        assert_eq!(e["code"], "line_too_long", "{e}");
        assert_eq!((n(&e["line"]), n(&e["offset"])), (2, second), "{e}");
        assert_eq!(n(&e["length"]), 10_000, "{e}");
        assert_eq!(
            e["raw"].as_str().unwrap(),
            " ".repeat(4096),
            "the first 4096 bytes"
        );
        let calls = run.calls.clone();
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert!(calls[0].contains(r#""userId":"a""#), "{}", calls[0]);
        assert!(calls[1].contains(r#""userId":"b""#), "{}", calls[1]);
        let t = &run.manifest["totals"];
        assert_eq!(
            [
                t["blank_lines"].clone(),
                t["rejected"].clone(),
                t["converted"].clone()
            ],
            [0, 1, 2].map(Value::from),
            "{t}"
        );
    }
    assert!(small.errors_bytes() == big.errors_bytes());
    assert_eq!(small.stable_manifest(), big.stable_manifest());
}

#[test]
fn damage_inside_an_over_long_line_is_reported_where_decoding_stopped() {
    let ins = Inputs::new();
    let mut text = Vec::new();
    for i in 0..100 {
        text.extend(format!("{}\n", v1_delete(&format!("p{i}"))).as_bytes());
    }
    let long_at = text.len() as u64;
    // Hardly compressible, so that half the compressed file holds part of this line.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    text.extend(b"{\"x\":\"");
    for _ in 0..600_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        text.push(b'a' + (x % 26) as u8);
    }
    text.extend(b"\"}\n");
    text.extend(format!("{}\n", v1_delete("after")).as_bytes());
    let zst = zstd_frame(&text);
    let input = ins.write("in.ndjson.zst", &zst[..zst.len() * 2 / 3]);
    for block in ["4KiB", "2MiB"] {
        let run = converted(
            &ins.out(block),
            &[
                "--partition-by",
                "none",
                "--max-line-bytes",
                "1000",
                "--block-size",
                block,
            ],
            &[&input],
        );
        let errors = run.errors.clone();
        let long = errors
            .iter()
            .find(|e| e["code"] == "line_too_long")
            .unwrap();
        assert_eq!(n(&long["offset"]), long_at);
        let corrupt = errors
            .iter()
            .find(|e| e["code"] == "corrupt_input")
            .unwrap();
        let stopped = n(&corrupt["offset"]);
        assert_eq!(
            stopped,
            long_at + n(&long["length"]),
            "block {block}: decoding stopped after the bytes read"
        );
        assert!(stopped > long_at + 4096);
        assert_eq!(n(&run.manifest["inputs"][0]["bytes_decompressed"]), stopped);
    }
}
