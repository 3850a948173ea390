//! `send` end to end, state and resume: a failed, killed or interrupted run resumed by the same
//! command; a state directory for other inputs refused; `--restart`; `--dry-run`; the key kept
//! out of every file and output; checksums of a convert output; `--from track`. The real binary
//! runs against the test server of `tests/common/pipelines_server.rs` on 127.0.0.1; every wait
//! is bounded; signals come from the shell's `kill`.

use crate::helpers::*;
use crate::server::{Fault, Server};
use serde_json::Value;
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tempfile::TempDir;

#[test]
fn retries_exhausted_then_the_next_run_sends_only_the_rest() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("calls.ndjson");
    write_lines(&input, &calls(100, 10));
    let srv = Server::start(KEY, 0, false);
    let state = tmp.path().join("st");
    // Two batches go through, then every request meets 503.
    srv.push_faults([Fault::Pass, Fault::Pass]);
    srv.push_faults(std::iter::repeat_n(Fault::Status(503), 60));
    let args = [
        "--max-batch-calls",
        "10",
        "--concurrency",
        "1",
        "--max-retries",
        "2",
    ];
    let o = run(send_cmd(&srv, &state, &args).arg(&input));
    let rc = code(&o);
    assert!(
        stderr(&o).contains("failed after every retry"),
        "{}",
        stderr(&o)
    );
    assert_eq!(rc, 1);
    let first = delivered(&srv);
    assert_eq!(first.len(), 20);
    assert!(!state.join("send-manifest.json").exists());
    srv.shared.faults.lock().unwrap().clear();
    let o = run(send_cmd(&srv, &state, &args).arg(&input));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let d = delivered(&srv);
    assert_eq!(d.len(), 100);
    assert!(d.values().all(|n| *n == 1), "no acknowledged call resent");
    let m = manifest(&state);
    assert_eq!(m["calls_acknowledged"], 100);
    assert_eq!(m["calls_acknowledged_earlier"], first.len());
}

#[test]
fn sigkill_mid_send_then_the_same_command_delivers_the_rest() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("calls.ndjson");
    write_lines(&input, &calls(2000, 10));
    let srv = Server::start(KEY, 0, false);
    let state = tmp.path().join("st");
    let args = [
        "--max-batch-calls",
        "10",
        "--concurrency",
        "4",
        "--rate",
        "100",
    ];
    let child = send_cmd(&srv, &state, &args)
        .arg(&input)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(30), || srv
        .shared
        .requests
        .load(Ordering::SeqCst)
        >= 30));
    signal(&child, "KILL");
    assert_eq!(wait_child(child, Duration::from_secs(10)), 137);
    let first = srv.calls().len();
    let o = run(send_cmd(&srv, &state, &args).arg(&input));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let d = delivered(&srv);
    assert_eq!(d.len(), 2000, "every call delivered");
    let resent: usize = d.values().map(|n| n - 1).sum();
    // At most the batches in flight at the kill (4 of 10 calls) come again.
    assert!(resent <= 40, "{resent} calls resent");
    assert!(first > 0);
}

#[test]
fn sigint_and_sigterm_let_in_flight_settle_and_resume() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("calls.ndjson");
    write_lines(&input, &calls(2000, 10));
    for (sig, status) in [("INT", 130), ("TERM", 143)] {
        let srv = Server::start(KEY, 0, false);
        let state = tmp.path().join(format!("st{sig}"));
        let args = [
            "--max-batch-calls",
            "10",
            "--concurrency",
            "4",
            "--rate",
            "100",
        ];
        let child = send_cmd(&srv, &state, &args)
            .arg(&input)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        assert!(wait_for(Duration::from_secs(30), || {
            srv.shared.requests.load(Ordering::SeqCst) >= 20
        }));
        signal(&child, sig);
        assert_eq!(wait_child(child, Duration::from_secs(30)), status);
        assert!(!state.join("send-manifest.json").exists());
        let o = run(send_cmd(&srv, &state, &args).arg(&input));
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let d = delivered(&srv);
        assert_eq!(d.len(), 2000);
        assert!(
            d.values().all(|n| *n == 1),
            "in-flight batches were recorded, none resent"
        );
    }
}

#[test]
fn a_state_for_other_inputs_is_refused_unless_restart() {
    let tmp = TempDir::new().unwrap();
    let a = tmp.path().join("a.ndjson");
    let b = tmp.path().join("b.ndjson");
    write_lines(&a, &calls(10, 1));
    write_lines(&b, &calls(12, 1));
    let srv = Server::start(KEY, 0, false);
    let state = tmp.path().join("st");
    std::fs::create_dir(&state).unwrap();
    std::fs::write(state.join("notes.txt"), "mine").unwrap();
    assert_eq!(code(&run(send_cmd(&srv, &state, &[]).arg(&a))), 0);
    let o = run(send_cmd(&srv, &state, &[]).arg(&b));
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("other inputs or options"),
        "{}",
        stderr(&o)
    );
    let o = run(send_cmd(&srv, &state, &["--max-batch-calls", "3"]).arg(&a));
    assert_eq!(code(&o), 2, "other batch options");
    // The same command again: everything is done already, nothing is sent.
    let before = srv.shared.requests.load(Ordering::SeqCst);
    assert_eq!(code(&run(send_cmd(&srv, &state, &[]).arg(&a))), 0);
    assert_eq!(srv.shared.requests.load(Ordering::SeqCst), before);
    let o = run(send_cmd(&srv, &state, &["--restart"]).arg(&b));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(manifest(&state)["calls_acknowledged"], 12);
    assert_eq!(
        std::fs::read_to_string(state.join("notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn dry_run_sends_nothing_and_its_bodies_hold_every_call() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("calls.ndjson");
    let lines = calls(95, 10);
    write_lines(&input, &lines);
    let srv = Server::start(KEY, 0, false);
    let state = tmp.path().join("st");
    let summary = tmp.path().join("summary.json");
    let mut cmd = send_cmd(
        &srv,
        &state,
        &[
            "--dry-run",
            "--sent-at",
            "keep",
            "--max-batch-calls",
            "10",
            "--summary-json",
        ],
    );
    cmd.arg(&summary).arg(&input).env_remove("CIO_WRITE_KEY");
    let o = run(&mut cmd);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(srv.shared.requests.load(Ordering::SeqCst), 0);
    let mut got = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(state.join("dry-run"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 10);
    assert!(files[0].ends_with("batch-000000.json"));
    for f in files {
        let v: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        for c in v["batch"].as_array().unwrap() {
            got.push(serde_json::to_string(c).unwrap());
        }
    }
    let want: Vec<String> = lines
        .iter()
        .map(|l| serde_json::to_string(&serde_json::from_str::<Value>(l).unwrap()).unwrap())
        .collect();
    assert_eq!(got, want);
    let s: Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(s["plan"]["calls"], 95);
    assert_eq!(s["plan"]["requests"], 10);
}

#[test]
fn no_key_is_a_usage_error_and_the_key_is_written_nowhere() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("calls.ndjson");
    let mut lines = calls(30, 10);
    lines[5] = lines[5].replace("\"e\"", "\"POISON\"");
    lines.push("garbage".into());
    write_lines(&input, &lines);
    let srv = Server::start(KEY, 0, false);
    let state = tmp.path().join("st");
    let mut cmd = send_cmd(&srv, &state, &[]);
    cmd.arg(&input).env_remove("CIO_WRITE_KEY");
    let o = run(&mut cmd);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("CIO_WRITE_KEY"));
    assert_eq!(srv.shared.requests.load(Ordering::SeqCst), 0);
    // A key from a file, a refused call, an invalid line, a summary: the key shows nowhere.
    *srv.shared.refuse_marker.lock().unwrap() = Some("POISON".into());
    let key_file = tmp.path().join("key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    let summary = tmp.path().join("summary.json");
    let mut cmd = send_cmd(&srv, &state, &["--write-key-file"]);
    cmd.arg(&key_file)
        .arg("--summary-json")
        .arg(&summary)
        .arg(&input)
        .env_remove("CIO_WRITE_KEY");
    let o = run(&mut cmd);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:"));
    let mut texts = vec![
        o.stdout.clone(),
        o.stderr.clone(),
        std::fs::read(&summary).unwrap(),
    ];
    for e in walk(&state) {
        texts.push(std::fs::read(e).unwrap());
    }
    for t in texts {
        let t = String::from_utf8_lossy(&t);
        assert!(!t.contains(KEY) && !t.contains(&b64));
    }
    // A wrong key: the 401 message names no key either.
    let srv2 = Server::start("other", 0, false);
    let o = run(send_cmd(&srv2, &tmp.path().join("st2"), &[]).arg(&input));
    assert_eq!(code(&o), 1);
    assert!(!stderr(&o).contains(KEY));
}

#[test]
fn a_bad_checksum_or_missing_part_exits_2_before_any_request() {
    let tmp = TempDir::new().unwrap();
    let (out, _) = converted_samples(&tmp);
    let srv = Server::start(KEY, 0, false);
    let m: Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let part = out.join(m["files"][1]["path"].as_str().unwrap());
    let mut bytes = std::fs::read(&part).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&part, &bytes).unwrap();
    let o = run(send_cmd(&srv, &tmp.path().join("st"), &[]).arg(&out));
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("checksum"), "{}", stderr(&o));
    std::fs::remove_file(&part).unwrap();
    let o = run(send_cmd(&srv, &tmp.path().join("st"), &[]).arg(&out));
    assert_eq!(code(&o), 2);
    assert_eq!(srv.shared.requests.load(Ordering::SeqCst), 0);
}

#[test]
fn from_track_delivers_exactly_the_calls_convert_writes() {
    let tmp = TempDir::new().unwrap();
    let (out, lines) = converted_samples(&tmp);
    let srv = Server::start(KEY, 0, false);
    let state = tmp.path().join("st");
    let mut cmd = send_cmd(
        &srv,
        &state,
        &["--from", "track", "--now", NOW, "--sent-at", "keep"],
    );
    for s in [
        "samples/track-2023-08.ndjson",
        "samples/events-2023-10.ndjson.zst",
        "samples/v2-entities-2023-09.ndjson.gz",
    ] {
        cmd.arg(repo(s));
    }
    let o = run(&mut cmd);
    assert_eq!(
        code(&o),
        3,
        "the samples hold rejected records: {}",
        stderr(&o)
    );
    let mut got = srv.calls();
    let mut want = lines;
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(
        std::fs::read(state.join("errors.ndjson")).unwrap(),
        std::fs::read(out.join("errors.ndjson")).unwrap()
    );
    let m = manifest(&state);
    assert!(m["conversion"]["rejected"].as_u64().unwrap() > 0);
}

#[test]
fn from_track_resumes_with_the_recorded_reference_time() {
    let tmp = TempDir::new().unwrap();
    let srv = Server::start(KEY, 0, false);
    let state = tmp.path().join("st");
    let input = repo("samples/track-2023-08.ndjson");
    // No --now: the clock is the reference time, recorded in the ledger for the resume.
    let o = run(send_cmd(&srv, &state, &["--from", "track"]).arg(&input));
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let requests = srv.shared.requests.load(Ordering::SeqCst);
    assert!(requests > 0);
    let first = manifest(&state);
    assert_eq!(first["conversion"]["reused"], false);
    let o = run(send_cmd(&srv, &state, &["--from", "track"]).arg(&input));
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert_eq!(srv.shared.requests.load(Ordering::SeqCst), requests);
    let second = manifest(&state);
    assert_eq!(second["conversion"]["reused"], true);
    assert_eq!(second["calls_acknowledged"], first["calls_acknowledged"]);
    assert_eq!(
        second["calls_acknowledged_earlier"],
        first["calls_acknowledged"]
    );
}

/// A symbolic link planted at each temporary name of the state (and at a name the state would
/// write) is refused, naming it, and the file it points to is left as it was.
#[test]
fn links_where_the_state_writes_are_refused_and_their_targets_kept() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("calls.ndjson");
    write_lines(&input, &calls(5, 1));
    let victim = tmp.path().join("victim.txt");
    let srv = Server::start(KEY, 0, false);
    for (i, name) in [
        ".send-manifest.json.partial",
        ".send-errors.ndjson.partial",
        ".errors.ndjson.partial",
        ".send.journal",
        "dry-run",
    ]
    .into_iter()
    .enumerate()
    {
        std::fs::write(&victim, "the user's file").unwrap();
        let state = tmp.path().join(format!("st{i}"));
        std::fs::create_dir(&state).unwrap();
        std::os::unix::fs::symlink(&victim, state.join(name)).unwrap();
        let mut cmd = if name == ".errors.ndjson.partial" {
            let mut c = send_cmd(&srv, &state, &["--from", "track", "--now", NOW]);
            c.arg(repo("samples/track-2023-08.ndjson"));
            c
        } else {
            let mut c = send_cmd(&srv, &state, &[]);
            c.arg(&input);
            c
        };
        let o = run(&mut cmd);
        assert_eq!(code(&o), 2, "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains(name), "{name}: {}", stderr(&o));
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "the user's file",
            "{name}"
        );
        assert_eq!(srv.calls().len(), 0, "{name}: nothing is sent");
    }
}

/// `--restart` removes what earlier sends wrote (the state's journal lists it), never a file
/// by its name alone.
#[test]
fn restart_removes_only_files_earlier_sends_wrote() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("calls.ndjson");
    write_lines(&input, &calls(5, 1));
    let srv = Server::start(KEY, 0, false);
    let state = tmp.path().join("st");
    std::fs::create_dir_all(state.join("dry-run")).unwrap();
    std::fs::write(state.join("send-errors.ndjson"), "my notes\n").unwrap();
    std::fs::write(state.join("dry-run/batch-000000.json"), "my body").unwrap();
    let o = run(send_cmd(&srv, &state, &["--restart"]).arg(&input));
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("send-errors.ndjson"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(state.join("send-errors.ndjson")).unwrap(),
        "my notes\n"
    );
    assert_eq!(
        std::fs::read_to_string(state.join("dry-run/batch-000000.json")).unwrap(),
        "my body"
    );
    // With the user's file moved away, sends write and --restart removes their own files.
    std::fs::rename(state.join("send-errors.ndjson"), tmp.path().join("moved")).unwrap();
    let o = run(send_cmd(&srv, &state, &[]).arg(&input));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = run(send_cmd(&srv, &state, &["--restart"]).arg(&input));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(state.join("dry-run/batch-000000.json")).unwrap(),
        "my body"
    );
}

/// `send --from track --state DIR` where DIR is an earlier convert output: its files are not
/// the send's, so the run is refused before anything changes.
#[test]
fn from_track_never_touches_a_convert_output_it_did_not_write() {
    let tmp = TempDir::new().unwrap();
    let (out, _) = converted_samples(&tmp);
    let before: Vec<(std::path::PathBuf, Vec<u8>)> = walk(&out)
        .into_iter()
        .map(|p| (p.clone(), std::fs::read(&p).unwrap_or_default()))
        .collect();
    assert!(out.join("errors.ndjson").exists());
    let srv = Server::start(KEY, 0, false);
    let mut cmd = send_cmd(&srv, &out, &["--from", "track", "--now", NOW]);
    cmd.arg(repo("samples/track-2023-08.ndjson"));
    let o = run(&mut cmd);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("errors.ndjson"), "{}", stderr(&o));
    for (p, bytes) in before {
        assert_eq!(
            std::fs::read(&p).unwrap_or_default(),
            bytes,
            "{}",
            p.display()
        );
    }
    assert_eq!(srv.calls().len(), 0);
}

/// `send --summary-json` is written as convert's is: through a temporary name created
/// exclusively, so a link planted there is refused and its target kept; without one, the
/// summary is in place and no temporary file is left.
#[test]
fn the_summary_is_never_written_through_a_planted_link() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("calls.ndjson");
    write_lines(&input, &calls(5, 1));
    let victim = tmp.path().join("outside-victim");
    std::fs::write(&victim, b"the user's file").unwrap();
    let named = tmp.path().join("summary.json");
    std::os::unix::fs::symlink(&victim, tmp.path().join(".summary.json.partial")).unwrap();
    let srv = Server::start(KEY, 0, false);
    let args = ["--summary-json", named.to_str().unwrap()];
    let o = run(send_cmd(&srv, &tmp.path().join("st1"), &args).arg(&input));
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains(".partial"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&victim).unwrap(), b"the user's file");
    assert!(!named.exists());
    std::fs::remove_file(tmp.path().join(".summary.json.partial")).unwrap();
    let o = run(send_cmd(&srv, &tmp.path().join("st2"), &args).arg(&input));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let s: Value = serde_json::from_slice(&std::fs::read(&named).unwrap()).unwrap();
    assert_eq!(s["calls_acknowledged"], 5, "{s}");
    assert!(!tmp.path().join(".summary.json.partial").exists());
}
