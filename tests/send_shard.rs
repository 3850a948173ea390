//! `send --shard K/N` (docs/send.md, "Sending from many machines"): the real binary against the
//! Pipelines-compatible test server on 127.0.0.1.
//!
//! What must hold: N shards, each with its own state, deliver every call of a convert output
//! exactly once in all; each shard sends whole part files only, in contiguous groups of the
//! manifest's order, and the groups are disjoint and cover every file; `auto/N` takes K from
//! the scheduler's variable; a merged manifest is sharded like a single one; `--shard` on any
//! other input exits 2; a state made for another shard exits 2 unless `--restart`.

use crate::common::run::{convert_cmd, manifest_parts};
use crate::helpers::*;
use crate::server::Server;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// One part file of a convert output: its manifest path, size and calls (lines).
#[derive(Debug, Clone)]
struct Part {
    path: String,
    size: u64,
    calls: Vec<String>,
}

/// `n` Track records: events and identifies, all years old (no recent-call warning).
fn track_records(n: usize) -> String {
    let mut text = String::new();
    for i in 0..n {
        let ts = 1_600_000_000 + i as u64;
        if i % 3 == 0 {
            text.push_str(&format!(
                r#"{{"type":"person","identifiers":{{"id":"u{i}"}},"action":"identify","attributes":{{"plan":"p{i}","pad":"{}"}},"timestamp":{ts}}}"#,
                "y".repeat(i % 50)
            ));
        } else {
            text.push_str(&format!(
                r#"{{"type":"person","identifiers":{{"id":"u{i}"}},"action":"event","name":"e{i}","attributes":{{"pad":"{}"}},"timestamp":{ts}}}"#,
                "x".repeat(i % 70)
            ));
        }
        text.push('\n');
    }
    text
}

/// Converts `input` into `out` with `--partition-by none` (the layout `send` delivers in
/// order) in part files of at most 64 KiB (`extra` added).
fn convert(input: &Path, out: &Path, extra: &[&str]) {
    let opts = [
        &["--max-file-bytes", "64KiB", "--partition-by", "none"][..],
        extra,
    ]
    .concat();
    let o = run(&mut convert_cmd(out, &opts, &[input]));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// The part files `dir`'s manifest lists, in its order.
fn parts(dir: &Path) -> Vec<Part> {
    manifest_parts(dir)
        .into_iter()
        .map(|(path, text)| Part {
            size: text.len() as u64,
            calls: text.lines().map(str::to_owned).collect(),
            path,
        })
        .collect()
}

/// A generated input converted into several part files; returns the output and its parts.
fn setup(tmp: &TempDir) -> (PathBuf, Vec<Part>) {
    let input = tmp.path().join("track.ndjson");
    std::fs::write(&input, track_records(3000)).unwrap();
    let out = tmp.path().join("out");
    convert(&input, &out, &[]);
    let p = parts(&out);
    assert!(p.len() >= 6, "several part files: {}", p.len());
    (out, p)
}

/// `send --shard SHARD --sent-at keep` of `inputs` into `srv` with state `state`.
fn send_shard(srv: &Server, state: &Path, shard: &str, inputs: &[&Path]) -> std::process::Output {
    let mut cmd = send_cmd(srv, state, &["--sent-at", "keep", "--shard", shard]);
    cmd.env_remove("JOB_COMPLETION_INDEX")
        .env_remove("AWS_BATCH_JOB_ARRAY_INDEX")
        .args(inputs);
    run(&mut cmd)
}

/// The part files (manifest paths) a shard's send-manifest lists as its inputs.
fn shard_inputs(state: &Path, out: &Path) -> Vec<String> {
    manifest(state)["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let s = i["source"].as_str().unwrap();
            Path::new(s)
                .strip_prefix(out)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Sends `out` as N shards into one server and checks the shares; returns each shard's files.
fn send_all_shards(
    tmp: &TempDir,
    out: &Path,
    all: &[Part],
    n: usize,
    tag: &str,
) -> Vec<Vec<String>> {
    let srv = Server::start(KEY, 0, false);
    let mut shares = Vec::new();
    let mut seen = 0;
    for k in 0..n {
        let state = tmp.path().join(format!("st-{tag}-{k}"));
        let o = send_shard(&srv, &state, &format!("{k}/{n}"), &[out]);
        assert_eq!(code(&o), 0, "shard {k}: {}", stderr(&o));
        let files = shard_inputs(&state, out);
        // What this shard delivered is exactly the calls of its files, whole.
        let got = srv.calls()[seen..].to_vec();
        seen += got.len();
        let want: Vec<String> = all
            .iter()
            .filter(|p| files.contains(&p.path))
            .flat_map(|p| p.calls.clone())
            .collect();
        assert_eq!(sorted(got), sorted(want), "shard {k} sends whole files");
        let m = manifest(&state);
        assert_eq!(m["shard"]["index"], k);
        assert_eq!(m["shard"]["count"], n);
        assert_eq!(m["calls_read"], m["calls_acknowledged"]);
        shares.push(files);
    }
    // Every call of the output delivered exactly once in all.
    let mut want: BTreeMap<String, usize> = BTreeMap::new();
    for p in all {
        for c in &p.calls {
            *want.entry(message_id(c)).or_default() += 1;
        }
    }
    assert!(want.values().all(|&c| c == 1), "messageIds are unique");
    assert_eq!(delivered(&srv), want, "every call exactly once");
    // The shares, concatenated in shard order, are the manifest's list: disjoint, covering,
    // contiguous.
    let order: Vec<String> = all.iter().map(|p| p.path.clone()).collect();
    assert_eq!(shares.concat(), order);
    // Nearly equal bytes: no share exceeds its part of the total by more than one file.
    let total: u64 = all.iter().map(|p| p.size).sum();
    let biggest = all.iter().map(|p| p.size).max().unwrap();
    for s in &shares {
        let bytes: u64 = all
            .iter()
            .filter(|p| s.contains(&p.path))
            .map(|p| p.size)
            .sum();
        assert!(bytes <= total / n as u64 + biggest, "{bytes} of {total}");
    }
    shares
}

#[test]
fn shards_deliver_every_call_once_in_whole_files() {
    let tmp = TempDir::new().unwrap();
    let (out, all) = setup(&tmp);
    let shares = send_all_shards(&tmp, &out, &all, 3, "a");
    assert!(shares.iter().all(|s| !s.is_empty()), "{shares:?}");
}

#[test]
fn more_shards_than_files_leaves_some_empty() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("track.ndjson");
    std::fs::write(&input, track_records(30)).unwrap();
    let out = tmp.path().join("out");
    convert(&input, &out, &[]);
    let all = parts(&out);
    assert_eq!(all.len(), 1);
    let shares = send_all_shards(&tmp, &out, &all, 3, "b");
    assert_eq!(shares.iter().filter(|s| s.is_empty()).count(), 2);
}

#[test]
fn auto_takes_the_index_from_the_environment() {
    let tmp = TempDir::new().unwrap();
    let (out, all) = setup(&tmp);
    let srv = Server::start(KEY, 0, false);
    let explicit = tmp.path().join("st-explicit");
    let o = send_shard(&srv, &explicit, "1/3", &[&out]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let want = shard_inputs(&explicit, &out);

    let srv = Server::start(KEY, 0, false);
    let state = tmp.path().join("st-auto");
    let o = run(
        send_cmd(&srv, &state, &["--sent-at", "keep", "--shard", "auto/3"])
            .env_remove("AWS_BATCH_JOB_ARRAY_INDEX")
            .env("JOB_COMPLETION_INDEX", "1")
            .arg(&out),
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(manifest(&state)["shard"]["index"], 1);
    assert_eq!(shard_inputs(&state, &out), want);
    let calls: Vec<String> = all
        .iter()
        .filter(|p| want.contains(&p.path))
        .flat_map(|p| p.calls.clone())
        .collect();
    assert!(!calls.is_empty());
    assert_eq!(sorted(srv.calls()), sorted(calls));

    // auto without either variable: exit 2, nothing sent.
    let srv = Server::start(KEY, 0, false);
    let o = send_shard(&srv, &tmp.path().join("st-none"), "auto/3", &[&out]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("JOB_COMPLETION_INDEX"),
        "{}",
        stderr(&o)
    );
    assert!(srv.calls().is_empty());
}

#[test]
fn a_merged_output_is_sharded_like_a_single_one() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("track.ndjson");
    std::fs::write(&input, track_records(3000)).unwrap();
    let out = tmp.path().join("merged");
    for k in 0..2 {
        convert(&input, &out, &["--shard", &format!("{k}/2")]);
    }
    let o = run(t2p().args(["merge", "--out"]).arg(&out));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let all = parts(&out);
    assert!(all.len() >= 6, "{}", all.len());
    send_all_shards(&tmp, &out, &all, 3, "m");
}

#[test]
fn shard_refuses_other_inputs() {
    let tmp = TempDir::new().unwrap();
    let (out, _) = setup(&tmp);
    let plain = tmp.path().join("calls.ndjson");
    write_lines(&plain, &calls(10, 10));
    let srv = Server::start(KEY, 0, false);
    // A plain NDJSON file, alone or beside a convert output; a directory without a manifest.
    let dir = tmp.path().join("plain-dir");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(&plain, dir.join("a.ndjson")).unwrap();
    for (i, inputs) in [vec![plain.as_path()], vec![&out, &plain], vec![&dir]]
        .iter()
        .enumerate()
    {
        let o = send_shard(&srv, &tmp.path().join(format!("st-{i}")), "0/3", inputs);
        assert_eq!(code(&o), 2, "{}", stderr(&o));
        assert!(
            stderr(&o).contains("--shard") && stderr(&o).contains("convert output"),
            "{}",
            stderr(&o)
        );
    }
    // --from track with --shard.
    let o = run(
        send_cmd(&srv, &tmp.path().join("st-t"), &["--from", "track"])
            .args(["--shard", "0/2"])
            .arg(tmp.path().join("track.ndjson")),
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(srv.calls().is_empty(), "nothing was sent");
}

#[test]
fn a_state_of_another_shard_is_refused() {
    let tmp = TempDir::new().unwrap();
    let (out, _) = setup(&tmp);
    let srv = Server::start(KEY, 0, false);
    let state = tmp.path().join("st");
    let o = send_shard(&srv, &state, "0/3", &[&out]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let sent = srv.calls().len();
    let ledger = std::fs::read(state.join("ledger.ndjson")).unwrap();

    let o = send_shard(&srv, &state, "1/3", &[&out]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--shard 0/3"), "{}", stderr(&o));
    assert_eq!(srv.calls().len(), sent, "nothing more was sent");
    assert_eq!(std::fs::read(state.join("ledger.ndjson")).unwrap(), ledger);

    // Nor may the state be used without --shard.
    let o = run(send_cmd(&srv, &state, &["--sent-at", "keep"]).arg(&out));
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert_eq!(srv.calls().len(), sent);

    // The same shard resumes (nothing left to send); --restart starts over as shard 1.
    let o = send_shard(&srv, &state, "0/3", &[&out]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        srv.calls().len(),
        sent,
        "a complete shard sends nothing again"
    );
    let mut cmd = send_cmd(
        &srv,
        &state,
        &["--sent-at", "keep", "--shard", "1/3", "--restart"],
    );
    let o = run(cmd.arg(&out));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(manifest(&state)["shard"]["index"], 1);
    assert!(srv.calls().len() > sent);
}
