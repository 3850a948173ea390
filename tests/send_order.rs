//! `send` delivers a backfill in the order of the archive (docs/send.md, "Order"): the real
//! binary against the Pipelines-compatible test server on 127.0.0.1, which records the calls in
//! the order it accepts them.
//!
//! What must hold: with `--concurrency 1` the server receives the calls of a multi-file Track
//! archive in its input order, from a `--partition-by none` output (rotated part files, or
//! convert shards merged) and from `send --from track`; an output partitioned by type or by
//! date is refused before any request (exit 2), naming the layouts that work. With
//! `--concurrency N`, a batch held up (a slow answer, a retry) is overtaken by fewer than N later
//! batches.

use crate::common::run::convert_cmd;
use crate::helpers::*;
use crate::server::Server;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tempfile::TempDir;

/// A person's life in the order a backfill must keep: identified, then events, merged into
/// another person (alias) after both exist, then deleted (a `User Deleted` track). Two files,
/// each record a day after the one before, so a `--partition-by date` or `type` layout
/// reorders them. Returns the files and the expected calls as `type userId event`.
fn archive(dir: &Path) -> (Vec<PathBuf>, Vec<String>) {
    let day = 86_400u64;
    let t0 = 1_600_000_000u64;
    let mut files = Vec::new();
    let mut want = Vec::new();
    let mut n = 0u64;
    for f in 0..2 {
        let mut text = String::new();
        for p in 0..4 {
            let who = format!("u{f}{p}");
            let lines = [
                (
                    format!(
                        r#"{{"type":"person","identifiers":{{"id":"{who}"}},"action":"identify","attributes":{{"plan":"p"}},"timestamp":TS}}"#
                    ),
                    format!("identify {who} -"),
                ),
                (
                    format!(
                        r#"{{"type":"person","identifiers":{{"id":"{who}"}},"action":"event","name":"signed_up","timestamp":TS}}"#
                    ),
                    format!("track {who} signed_up"),
                ),
                (
                    format!(
                        r#"{{"type":"person","identifiers":{{"id":"{who}-old"}},"action":"identify","attributes":{{}},"timestamp":TS}}"#
                    ),
                    format!("identify {who}-old -"),
                ),
                (
                    format!(
                        r#"{{"type":"person","action":"merge","primary":{{"id":"{who}"}},"secondary":{{"id":"{who}-old"}},"timestamp":TS}}"#
                    ),
                    format!("alias {who} -"),
                ),
                (
                    format!(
                        r#"{{"type":"person","identifiers":{{"id":"{who}"}},"action":"delete","timestamp":TS}}"#
                    ),
                    format!("track {who} User Deleted"),
                ),
            ];
            for (line, call) in lines {
                text += &line.replace("TS", &(t0 + n * day).to_string());
                text.push('\n');
                want.push(call);
                n += 1;
            }
        }
        let path = dir.join(format!("track-{f}.ndjson"));
        std::fs::write(&path, text).unwrap();
        files.push(path);
    }
    (files, want)
}

/// A call as `type userId event` (`-` for none).
fn label(call: &str) -> String {
    let v: Value = serde_json::from_str(call).unwrap();
    let s = |k: &str| v[k].as_str().unwrap_or("-").to_owned();
    format!("{} {} {}", s("type"), s("userId"), s("event"))
}

fn received(srv: &Server) -> Vec<String> {
    srv.calls().iter().map(|c| label(c)).collect()
}

fn convert(out: &Path, opts: &[&str], inputs: &[PathBuf]) {
    let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let o = run(&mut convert_cmd(out, opts, &inputs));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// `send --concurrency 1` with small batches (several requests), `extra` added.
fn send_in_order(srv: &Server, state: &Path, extra: &[&str], input: &Path) -> std::process::Output {
    let mut cmd = send_cmd(
        srv,
        state,
        &[&["--concurrency", "1", "--max-batch-calls", "3"][..], extra].concat(),
    );
    run(cmd.arg(input))
}

#[test]
fn a_flat_rotated_output_reaches_the_server_in_archive_order() {
    let tmp = TempDir::new().unwrap();
    let (files, want) = archive(tmp.path());
    let out = tmp.path().join("out");
    convert(
        &out,
        &["--partition-by", "none", "--max-file-records", "4"],
        &files,
    );
    assert!(
        std::fs::read_dir(&out).unwrap().count() > 4,
        "rotated into several part files"
    );
    let srv = Server::start(KEY, 0, false);
    let o = send_in_order(&srv, &tmp.path().join("st"), &[], &out);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(received(&srv), want);
    assert!(
        srv.seen().len() >= 10,
        "several requests: {}",
        srv.seen().len()
    );
}

#[test]
fn merged_convert_shards_reach_the_server_in_archive_order() {
    let tmp = TempDir::new().unwrap();
    let (files, want) = archive(tmp.path());
    let out = tmp.path().join("out");
    for k in 0..2 {
        let shard = format!("{k}/2");
        convert(&out, &["--partition-by", "none", "--shard", &shard], &files);
    }
    let o = run(t2p().args(["merge", "--out"]).arg(&out));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let srv = Server::start(KEY, 0, false);
    let o = send_in_order(&srv, &tmp.path().join("st"), &[], &out);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(received(&srv), want);
}

#[test]
fn send_from_track_reaches_the_server_in_archive_order() {
    let tmp = TempDir::new().unwrap();
    let (files, want) = archive(tmp.path());
    let srv = Server::start(KEY, 0, false);
    let dir = files[0].parent().unwrap().to_path_buf();
    let args = ["--from", "track", "--now", NOW];
    let o = send_in_order(&srv, &tmp.path().join("st"), &args, &dir);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(received(&srv), want);
}

#[test]
fn partitioned_outputs_are_refused_before_any_request() {
    let tmp = TempDir::new().unwrap();
    let (files, _) = archive(tmp.path());
    for (i, by) in ["type", "date", "date,type"].iter().enumerate() {
        let out = tmp.path().join(format!("out-{i}"));
        convert(&out, &["--partition-by", by], &files);
        let srv = Server::start(KEY, 0, false);
        let state = tmp.path().join(format!("st-{i}"));
        let o = send_in_order(&srv, &state, &[], &out);
        let err = stderr(&o);
        assert_eq!(code(&o), 2, "{by}: {err}");
        assert!(err.contains(&format!("--partition-by {by}")), "{err}");
        assert!(err.contains("--partition-by none"), "{err}");
        assert!(err.contains("--from track"), "{err}");
        assert_eq!(srv.seen().len(), 0, "{by}: no request");
        // Sharded too, and nothing written in the state that a later run would trip on.
        let o = run(send_cmd(&srv, &state, &["--shard", "0/2"]).arg(&out));
        assert_eq!(code(&o), 2, "{}", stderr(&o));
        assert_eq!(srv.seen().len(), 0);
    }
}

#[test]
fn an_unfinished_convert_output_is_refused_not_sent_as_ndjson() {
    let tmp = TempDir::new().unwrap();
    let (files, _) = archive(tmp.path());
    let out = tmp.path().join("out");
    convert(&out, &["--partition-by", "none"], &files);
    // What a killed convert leaves: part files and the run journal, no manifest.
    std::fs::remove_file(out.join("manifest.json")).unwrap();
    std::fs::write(out.join(".track2pipelines.journal"), "").unwrap();
    let srv = Server::start(KEY, 0, false);
    let o = send_in_order(&srv, &tmp.path().join("st"), &[], &out);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("no manifest.json"), "{}", stderr(&o));
    assert_eq!(srv.seen().len(), 0);
}

#[test]
fn a_batch_held_up_is_overtaken_by_fewer_than_concurrency_later_batches() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("calls.ndjson");
    write_lines(&input, &calls(200, 10));
    let srv = Server::start(KEY, 0, false);
    // Batch 0 is held until batches 1 to 7 (35 calls) were taken, or for 1 s. With 4 slots
    // only batches 1 to 3 may go ahead of it, so it is answered after the second; a sender
    // that let later batches run ahead would get batch 0 answered after batch 7.
    let hold = (r#""messageId":"m0""#.into(), 35, Duration::from_secs(1));
    *srv.shared.slow_marker.lock().unwrap() = Some(hold);
    let state = tmp.path().join("st");
    let args = ["--concurrency", "4", "--max-batch-calls", "5"];
    let o = run(send_cmd(&srv, &state, &args).arg(&input));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let batches: Vec<usize> = srv
        .calls()
        .iter()
        .map(|c| message_id(c)[1..].parse::<usize>().unwrap() / 5)
        .collect();
    assert_eq!(batches.len(), 200);
    assert_ne!(batches[0], 0, "batch 0 was held up, and overtaken");
    let mut newest = 0;
    for (n, &b) in batches.iter().enumerate() {
        newest = newest.max(b);
        assert!(
            b + 3 >= newest,
            "call {n} of batch {b} arrived after batch {newest}: {batches:?}"
        );
    }
}
