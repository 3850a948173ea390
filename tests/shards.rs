//! Shards (`--shard K/N`, `plan`, `merge`; docs/scale-out.md) on local files: N shards together
//! write exactly what one run writes, whatever N, with a cut plain file, a .zst, a .gz and a CSV
//! among the inputs.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

use crate::common::run::{
    code, error_keys, files, finished, output, read_json as manifest, stderr, t2p,
};
use crate::inputs::{LAYOUT, NOW, inputs};

fn convert(out: &Path, extra: &[&str], input: &Path) -> (i32, String) {
    finished(
        t2p()
            .arg("convert")
            .arg("--out")
            .arg(out)
            .args(LAYOUT)
            .args(extra)
            .arg(input),
    )
}

/// `merge --out OUT`, run to its end.
fn merge(out: &Path) -> std::process::Output {
    output(t2p().arg("merge").arg("--out").arg(out))
}

/// `merge --out OUT`, which must succeed.
fn merged(out: &Path) {
    let o = merge(out);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// Part files' text concatenated per partition directory, in name order (shard, then number).
fn partitions(all: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, String> {
    crate::common::run::partitions(all)
        .into_iter()
        .map(|(dir, bytes)| (dir, String::from_utf8(bytes).unwrap()))
        .collect()
}

/// Asserts equal partitions, naming the first line that differs.
fn same_parts(got: &BTreeMap<String, String>, want: &BTreeMap<String, String>, n: u32) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (key, text) in want {
        let (a, b): (Vec<&str>, Vec<&str>) = (got[key].lines().collect(), text.lines().collect());
        if let Some(i) = (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i)) {
            panic!(
                "{n} shards, {key}: line {i} of {} / {}:\n got {:?}\nwant {:?}",
                a.len(),
                b.len(),
                a.get(i),
                b.get(i)
            );
        }
    }
}

#[test]
fn shards_together_write_what_one_run_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let input = inputs(tmp.path());
    let single = tmp.path().join("single");
    let (code, err) = convert(&single, &[], &input);
    assert_eq!(code, 3, "{err}");
    let one = files(&single);
    let one_parts = partitions(&one);
    assert!(
        one_parts.len() >= 3,
        "several partitions: {:?}",
        one_parts.keys()
    );
    let one_errors = error_keys(&[&one["errors.ndjson"]]);
    assert!(one_errors.len() > 100);
    let one_manifest = manifest(&single.join("manifest.json"));

    for n in 1..=4u32 {
        let out = tmp.path().join(format!("shards-{n}"));
        for k in 0..n {
            let (code, err) = convert(&out, &["--shard", &format!("{k}/{n}")], &input);
            assert!(code == 0 || code == 3, "shard {k}/{n}: {code} {err}");
        }
        let all = files(&out);
        same_parts(&partitions(&all), &one_parts, n);
        let errs: Vec<&[u8]> = (0..n)
            .map(|k| all[&format!("errors-{k:04}.ndjson")].as_slice())
            .collect();
        assert_eq!(error_keys(&errs), one_errors, "{n} shards: error entries");
        assert!(!all.contains_key("manifest.json"));
        merged(&out);
        let merged = manifest(&out.join("manifest.json"));
        assert_eq!(
            merged["totals"], one_manifest["totals"],
            "{n} shards: totals"
        );
        assert_eq!(
            merged["inputs"], one_manifest["inputs"],
            "{n} shards: inputs"
        );
        assert_eq!(merged["shards"], n);
        let listed: usize = merged["files"].as_array().unwrap().len();
        let on_disk = all.keys().filter(|p| p.contains("part-")).count();
        assert_eq!(listed, on_disk);
        if n > 1 {
            // A shard that starts inside a.ndjson does not know its line numbers.
            let first_of_1 = all["errors-0001.ndjson"]
                .split(|b| *b == b'\n')
                .next()
                .unwrap();
            let v: Value = serde_json::from_slice(first_of_1).unwrap();
            assert_eq!(
                v["source"].as_str().unwrap(),
                input.join("a.ndjson").to_str().unwrap()
            );
            assert!(v.get("line").is_none(), "{v}");
        }
    }
}

#[test]
fn merge_names_a_missing_shard_and_a_rerun_replaces_only_its_files() {
    let tmp = tempfile::tempdir().unwrap();
    let input = inputs(tmp.path());
    let out = tmp.path().join("out");
    for k in [0, 2] {
        let (code, err) = convert(&out, &["--shard", &format!("{k}/3")], &input);
        assert!(code == 0 || code == 3, "{err}");
    }
    let o = merge(&out);
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("shard 1 (manifest-0001-of-0003.json is missing)"),
        "{stderr}"
    );
    assert!(!out.join("manifest.json").exists());

    let (code, err) = convert(&out, &["--shard", "1/3"], &input);
    assert!(code == 0 || code == 3, "{err}");
    let before = files(&out);
    // A user's file in --out is no business of a shard.
    std::fs::write(out.join("notes.txt"), b"mine").unwrap();
    let (code, err) = convert(&out, &["--shard", "1/3"], &input);
    assert!(code == 0 || code == 3, "rerun without --overwrite: {err}");
    let after = files(&out);
    assert_eq!(after["notes.txt"], b"mine");
    for (path, bytes) in &before {
        if path.starts_with("manifest-") {
            let (mut a, mut b) = (
                manifest(&out.join(path)),
                serde_json::from_slice::<Value>(bytes).unwrap(),
            );
            for m in [&mut a, &mut b] {
                m["started_at"] = Value::Null;
                m["finished_at"] = Value::Null;
            }
            assert_eq!(a, b, "{path}");
        } else {
            assert_eq!(&after[path], bytes, "{path} after a rerun");
        }
    }
    assert_eq!(after.len(), before.len() + 1);
    merged(&out);
}

#[test]
fn shard_auto_takes_the_index_from_the_scheduler() {
    let tmp = tempfile::tempdir().unwrap();
    let input = inputs(tmp.path());
    for (var, k) in [
        ("JOB_COMPLETION_INDEX", 1),
        ("AWS_BATCH_JOB_ARRAY_INDEX", 0),
    ] {
        let out = tmp.path().join(var);
        let o = t2p()
            .env(var, k.to_string())
            .args([
                "convert", "--quiet", "--shard", "auto/2", "--now", NOW, "--out",
            ])
            .arg(&out)
            .arg(&input)
            .output()
            .unwrap();
        assert!(matches!(o.status.code(), Some(0 | 3)), "{var}");
        assert!(
            out.join(format!("manifest-{k:04}-of-0002.json")).exists(),
            "{var}"
        );
        assert!(out.join(format!("errors-{k:04}.ndjson")).exists(), "{var}");
    }
    let out = tmp.path().join("neither");
    let o = t2p()
        .args(["convert", "--quiet", "--shard", "auto/2", "--out"])
        .arg(&out)
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("JOB_COMPLETION_INDEX"), "{stderr}");
    assert!(!out.exists());
    let o = t2p()
        .env("JOB_COMPLETION_INDEX", "2")
        .args(["convert", "--quiet", "--shard", "auto/2", "--out"])
        .arg(&out)
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "index past the count");
}

#[test]
fn plan_covers_every_input_byte_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let input = inputs(tmp.path());
    let sizes: BTreeMap<String, u64> = std::fs::read_dir(&input)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.to_string_lossy().into_owned(),
                std::fs::metadata(&p).unwrap().len(),
            )
        })
        .collect();
    for n in [1u32, 2, 3, 4, 7, 50] {
        let o = t2p()
            .args(["plan", "--split-bytes", "8KiB", "--shards", &n.to_string()])
            .arg(&input)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0));
        let plan: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(plan.len(), n as usize);
        let mut seen: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
        for (k, shard) in plan.iter().enumerate() {
            assert_eq!(shard["arg"], format!("{k}/{n}"));
            for r in shard["ranges"].as_array().unwrap() {
                seen.entry(r["source"].as_str().unwrap().to_owned())
                    .or_default()
                    .push((r["start"].as_u64().unwrap(), r["end"].as_u64().unwrap()));
            }
        }
        assert_eq!(
            seen.keys().collect::<Vec<_>>(),
            sizes.keys().collect::<Vec<_>>()
        );
        for (source, ranges) in &seen {
            let mut at = 0;
            for (a, b) in ranges {
                assert_eq!(*a, at, "{n} shards, {source}: {ranges:?}");
                assert!(b > a || sizes[source] == 0);
                at = *b;
            }
            assert_eq!(at, sizes[source], "{n} shards, {source}");
            if !source.ends_with("a.ndjson") {
                assert_eq!(ranges.len(), 1, "{source} is never cut");
            }
        }
        if n > 1 {
            assert!(seen[&input.join("a.ndjson").to_string_lossy().into_owned()].len() > 1);
        }
    }
}

/// `merge` checks what each shard manifest lists: counts that do not add up, a part file
/// edited or deleted, are refused (exit 1, naming it); a merged manifest older than a shard's
/// rerun is refused by `send` (exit 2), which says to merge again.
#[test]
fn merge_checks_every_listed_file_and_send_refuses_a_stale_merge() {
    let tmp = tempfile::tempdir().unwrap();
    let input = inputs(tmp.path());
    let out = tmp.path().join("out");
    // A flat layout, which send delivers (partitioned outputs are refused for their order).
    let flat: Vec<&str> = LAYOUT
        .iter()
        .map(|a| if *a == "type" { "none" } else { a })
        .collect();
    let convert_shard = |shard: &str| {
        finished(
            t2p()
                .arg("convert")
                .arg("--out")
                .arg(&out)
                .args(&flat)
                .args(["--shard", shard])
                .arg(&input),
        )
    };
    for k in 0..2 {
        let (code, err) = convert_shard(&format!("{k}/2"));
        assert!(code == 0 || code == 3, "{err}");
    }
    merged(&out);
    let m0 = out.join("manifest-0000-of-0002.json");
    let original = std::fs::read(&m0).unwrap();
    let expect_refused = |what: &str, needle: &str| {
        let o = merge(&out);
        assert_eq!(code(&o), 1, "{what}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{what}: {}", stderr(&o));
    };
    // Totals that do not add up to the files.
    let mut v: Value = serde_json::from_slice(&original).unwrap();
    v["totals"]["calls"] = (v["totals"]["calls"].as_u64().unwrap() + 5).into();
    std::fs::write(&m0, serde_json::to_vec(&v).unwrap()).unwrap();
    expect_refused("tampered totals", "manifest-0000-of-0002.json");
    // A file's count raised with the totals: the file's lines say otherwise.
    let mut v: Value = serde_json::from_slice(&original).unwrap();
    let part = v["files"][0]["path"].as_str().unwrap().to_owned();
    let ty = v["files"][0]["calls_by_type"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    let bump = |slot: &mut Value| *slot = (slot.as_u64().unwrap() + 1).into();
    bump(&mut v["files"][0]["calls"]);
    bump(&mut v["files"][0]["calls_by_type"][&ty]);
    bump(&mut v["totals"]["calls"]);
    std::fs::write(&m0, serde_json::to_vec(&v).unwrap()).unwrap();
    expect_refused("tampered counts", &part);
    std::fs::write(&m0, &original).unwrap();
    // A part file edited (same size), then deleted.
    let part_path = out.join(&part);
    let bytes = std::fs::read(&part_path).unwrap();
    let mut edited = bytes.clone();
    let at = edited.iter().position(|b| b.is_ascii_digit()).unwrap();
    edited[at] = if edited[at] == b'1' { b'2' } else { b'1' };
    std::fs::write(&part_path, &edited).unwrap();
    expect_refused("edited part", "checksum");
    std::fs::remove_file(&part_path).unwrap();
    expect_refused("deleted part", &part);
    std::fs::write(&part_path, &bytes).unwrap();
    merged(&out);
    // A shard run again after the merge: the merged manifest is stale for send.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let (code1, err) = convert_shard("1/2");
    assert!(code1 == 0 || code1 == 3, "{err}");
    let send = |state: &str| {
        output(
            t2p()
                .args(["send", "--dry-run", "--quiet", "--state"])
                .arg(tmp.path().join(state))
                .arg(&out)
                .env_remove("CIO_WRITE_KEY"),
        )
    };
    let o = send("st1");
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("stale") && stderr(&o).contains("merge"),
        "{}",
        stderr(&o)
    );
    merged(&out);
    let o = send("st2");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}
