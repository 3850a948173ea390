//! `send` end to end: the real binary against the Pipelines-compatible test server of
//! `tests/common/pipelines_server.rs` on 127.0.0.1 (a free port per test).
//!
//! What must hold (docs/send.md): every call arrives at least once, byte for byte but for
//! `sentAt` per `--sent-at`; no body over the limits is ever sent; 429 is waited out without
//! using the retry budget; 408/5xx/timeouts/dropped connections are retried; a refused call is
//! isolated by splitting, its neighbours delivered; 401 stops at once; a failed or killed run
//! resumes and sends only what was not acknowledged; a state for other inputs is refused; the
//! key is never written anywhere. Every wait is bounded; signals come from the shell's `kill`.

#[path = "common/pipelines_server.rs"]
mod server;

use serde_json::Value;
use server::{Fault, Server};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tempfile::TempDir;

const KEY: &str = "test-key-Zq9";
const NOW: &str = "2026-01-01T00:00:00Z";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_track2pipelines")
}

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// `send --endpoint URL --state STATE [args]`, quiet, with the key in the environment.
fn send_cmd(srv: &Server, state: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.env("CIO_WRITE_KEY", KEY)
        .env_remove("SOURCE_DATE_EPOCH")
        .args(["send", "--progress", "never", "--endpoint"])
        .arg(srv.url())
        .arg("--state")
        .arg(state)
        .args(["--retry-backoff", "10ms"])
        .args(args);
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .expect("run track2pipelines")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `n` track calls, one a line; call `i` has messageId `m{i}` and a `pad` of `pad` bytes.
fn calls(n: usize, pad: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"type":"track","userId":"u{i}","event":"e","properties":{{"pad":"{}"}},"messageId":"m{i}","timestamp":"2020-01-01T00:00:00.000Z","sentAt":"2020-01-01T00:00:01.000Z"}}"#,
                "x".repeat(pad)
            )
        })
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

fn message_id(call: &str) -> String {
    let v: Value = serde_json::from_str(call).unwrap();
    v["messageId"].as_str().unwrap().to_owned()
}

/// Each messageId the server accepted, with how often.
fn delivered(srv: &Server) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for c in srv.calls() {
        *m.entry(message_id(&c)).or_default() += 1;
    }
    m
}

fn manifest(state: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(state.join("send-manifest.json")).unwrap()).unwrap()
}

fn send_errors(state: &Path) -> Vec<Value> {
    std::fs::read_to_string(state.join("send-errors.ndjson"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Converts the samples with a fixed `--now`; returns the output directory and its calls.
fn converted_samples(tmp: &TempDir) -> (PathBuf, Vec<String>) {
    let out = tmp.path().join("out");
    let mut cmd = Command::new(bin());
    cmd.args([
        "convert",
        "--quiet",
        "--progress",
        "never",
        "--now",
        NOW,
        "--out",
    ])
    .arg(&out);
    for s in [
        "samples/track-2023-08.ndjson",
        "samples/events-2023-10.ndjson.zst",
        "samples/v2-entities-2023-09.ndjson.gz",
    ] {
        cmd.arg(repo(s));
    }
    let o = run(&mut cmd);
    assert!(matches!(code(&o), 0 | 3), "{}", stderr(&o));
    let m: Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let mut lines = Vec::new();
    for f in m["files"].as_array().unwrap() {
        let text = std::fs::read_to_string(out.join(f["path"].as_str().unwrap())).unwrap();
        lines.extend(text.lines().map(str::to_owned));
    }
    (out, lines)
}

/// Waits (at most `limit`) until `cond` holds.
fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

fn kill(child: &Child, sig: &str) {
    let st = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

fn wait_child(mut child: Child, limit: Duration) -> i32 {
    let t0 = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            use std::os::unix::process::ExitStatusExt;
            return st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0));
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            panic!("send did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn samples_are_delivered_byte_for_byte_within_the_limits() {
    let tmp = TempDir::new().unwrap();
    let (out, lines) = converted_samples(&tmp);
    let srv = Server::start(KEY, 0, false);
    let state = tmp.path().join("st");
    let o = run(send_cmd(
        &srv,
        &state,
        &[
            "--sent-at",
            "keep",
            "--max-batch-calls",
            "7",
            "--max-batch-bytes",
            "40000",
        ],
    )
    .arg(&out));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let mut got = srv.calls();
    let mut want = lines.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want, "every call exactly as in the input");
    for s in srv.seen() {
        assert!(s.calls <= 7 && s.bytes <= 40000, "{s:?}");
    }
    assert_eq!(srv.shared.oversized.load(Ordering::SeqCst), 0);
    let m = manifest(&state);
    assert_eq!(m["calls_read"], lines.len());
    assert_eq!(m["calls_acknowledged"], lines.len());
    assert_eq!(m["requests"], srv.seen().len());
    assert_eq!(m["endpoint"], srv.url());
}

#[test]
fn sent_at_modes() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("calls.ndjson");
    let lines = calls(30, 10);
    write_lines(&input, &lines);
    for mode in ["send", "omit"] {
        let srv = Server::start(KEY, 0, false);
        let state = tmp.path().join(format!("st-{mode}"));
        let before = std::time::SystemTime::now();
        let o = run(send_cmd(&srv, &state, &["--sent-at", mode]).arg(&input));
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let mut got = srv.calls();
        got.sort_by_key(|c| message_id(c)[1..].parse::<u32>().unwrap());
        assert_eq!(got.len(), lines.len());
        for (g, w) in got.iter().zip(&lines) {
            let old = r#","sentAt":"2020-01-01T00:00:01.000Z""#;
            if mode == "omit" {
                assert_eq!(g, &w.replace(old, ""));
            } else {
                let v: Value = serde_json::from_str(g).unwrap();
                let sent = v["sentAt"].as_str().unwrap();
                assert_eq!(sent.len(), 24);
                assert_eq!(g, &w.replace(old, &format!(r#","sentAt":"{sent}""#)));
                let secs = jiff::Timestamp::from_str_strict(sent).as_second();
                let t0 = before
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs() as i64;
                assert!(secs >= t0 - 1 && secs <= t0 + 120, "{sent}");
            }
        }
    }
}

trait Strict {
    fn from_str_strict(s: &str) -> jiff::Timestamp;
}
impl Strict for jiff::Timestamp {
    fn from_str_strict(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }
}

#[test]
fn invalid_and_oversized_calls_go_to_send_errors() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("calls.ndjson");
    let mut lines = calls(20, 10);
    lines.insert(3, "not json".into());
    lines.insert(7, r#"{"type":"person","id":1}"#.into());
    lines.insert(9, calls(1, 40_000).remove(0).replace("\"m0\"", "\"big\""));
    write_lines(&input, &lines);
    let srv = Server::start(KEY, 0, false);
    let state = tmp.path().join("st");
    let o = run(send_cmd(&srv, &state, &["--sent-at", "keep"]).arg(&input));
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert_eq!(srv.calls().len(), 20);
    assert_eq!(srv.shared.oversized.load(Ordering::SeqCst), 0);
    let errs = send_errors(&state);
    let codes: Vec<(&str, u64)> = errs
        .iter()
        .map(|e| (e["code"].as_str().unwrap(), e["line"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("invalid_call", 4),
            ("invalid_call", 8),
            ("call_too_large", 10)
        ]
    );
    assert_eq!(errs[0]["raw"], "not json");
    let m = manifest(&state);
    assert_eq!(m["calls_read"], 23);
    assert_eq!(m["calls_acknowledged"], 20);
    assert_eq!(m["calls_invalid"]["invalid_call"], 2);
    assert_eq!(m["calls_invalid"]["call_too_large"], 1);
}

#[test]
fn retry_after_is_honoured_without_using_retries() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("calls.ndjson");
    write_lines(&input, &calls(40, 10));
    let srv = Server::start(KEY, 0, false);
    let date = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(2));
    srv.push_faults([Fault::RetryAfter("1".into()), Fault::RetryAfter(date)]);
    let state = tmp.path().join("st");
    let o = run(send_cmd(
        &srv,
        &state,
        &[
            "--max-retries",
            "0",
            "--max-batch-calls",
            "10",
            "--concurrency",
            "1",
        ],
    )
    .arg(&input));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(delivered(&srv).len(), 40);
    let seen = srv.seen();
    assert_eq!(seen[0].status, 429);
    assert_eq!(seen[1].status, 429);
    // The next request waited out the first Retry-After (a lower bound: a slow machine only
    // makes the gap longer).
    assert!(seen[1].at.duration_since(seen[0].at) >= Duration::from_millis(900));
    let m = manifest(&state);
    assert_eq!(m["http_429"], 2);
    assert_eq!(m["retries"], serde_json::json!({}));
}

#[test]
fn server_errors_timeouts_and_dropped_connections_are_retried() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("calls.ndjson");
    write_lines(&input, &calls(60, 10));
    let srv = Server::start(KEY, 0, false);
    srv.push_faults([
        Fault::Status(500),
        Fault::Status(502),
        Fault::Status(503),
        Fault::Status(408),
        Fault::Drop,
        Fault::Slow(Duration::from_secs(3)),
    ]);
    let state = tmp.path().join("st");
    let o = run(send_cmd(
        &srv,
        &state,
        &[
            "--max-batch-calls",
            "10",
            "--concurrency",
            "2",
            "--request-timeout",
            "1s",
        ],
    )
    .arg(&input));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let d = delivered(&srv);
    assert_eq!(d.len(), 60);
    let m = manifest(&state);
    assert_eq!(m["retries"]["http_5xx"], 3);
    assert_eq!(m["retries"]["http_408"], 1);
    // At least the slow answer timed out (a very slow machine may add more).
    assert!(m["retries"]["timeout"].as_u64().unwrap() >= 1);
    assert!(m["retries"]["connection"].as_u64().unwrap() >= 1);
    assert_eq!(m["calls_acknowledged"], 60);
}

#[test]
fn mixed_faults_deliver_every_call_and_never_an_oversized_body() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("calls.ndjson");
    // Calls of about 3 KB: 160 per 500 KB body, so the byte limit decides.
    write_lines(&input, &calls(800, 3000));
    let srv = Server::start(KEY, 0, false);
    *srv.shared.chaos.lock().unwrap() = Some((
        3,
        vec![
            Fault::Status(503),
            Fault::RetryAfter("0".into()),
            Fault::Drop,
            Fault::Status(500),
        ],
    ));
    let state = tmp.path().join("st");
    let o = run(send_cmd(&srv, &state, &["--max-retries", "20"]).arg(&input));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(delivered(&srv).len(), 800);
    assert_eq!(srv.shared.oversized.load(Ordering::SeqCst), 0);
    assert!(srv.seen().iter().all(|s| s.bytes <= server::MAX_BODY));
    assert!(srv.seen().iter().any(|s| s.bytes > 400_000), "full batches");
}

#[test]
fn a_refused_call_is_isolated_and_its_neighbours_delivered() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("calls.ndjson");
    let mut lines = calls(50, 10);
    lines[37] = lines[37].replace("\"e\"", "\"POISON\"");
    write_lines(&input, &lines);
    let srv = Server::start(KEY, 0, false);
    *srv.shared.refuse_marker.lock().unwrap() = Some("POISON".into());
    let state = tmp.path().join("st");
    let o = run(send_cmd(&srv, &state, &["--sent-at", "keep"]).arg(&input));
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let d = delivered(&srv);
    assert_eq!(d.len(), 49);
    assert!(!d.contains_key("m37"));
    let errs = send_errors(&state);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0]["code"], "refused_by_server");
    assert_eq!(errs[0]["status"], 400);
    assert_eq!(errs[0]["line"], 38);
    assert_eq!(errs[0]["raw"], lines[37]);
    assert!(errs[0]["answer"].as_str().unwrap().contains("invalid"));
    let m = manifest(&state);
    assert_eq!(m["calls_refused"]["refused_by_server"], 1);
    assert_eq!(m["calls_acknowledged"], 49);
}

#[test]
fn unauthorized_stops_at_once() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("calls.ndjson");
    write_lines(&input, &calls(100, 10));
    for (conc, max) in [("1", 1u64), ("16", 16)] {
        let srv = Server::start("another-key", 0, false);
        let state = tmp.path().join(format!("st{conc}"));
        let o = run(send_cmd(
            &srv,
            &state,
            &["--max-batch-calls", "5", "--concurrency", conc],
        )
        .arg(&input));
        assert_eq!(code(&o), 1, "{}", stderr(&o));
        assert!(
            stderr(&o).contains("refused the write key"),
            "{}",
            stderr(&o)
        );
        let n = srv.shared.requests.load(Ordering::SeqCst);
        assert!(n >= 1 && n <= max, "{n} requests");
        assert!(!state.join("send-manifest.json").exists());
    }
}

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
    kill(&child, "-KILL");
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
    for (sig, status) in [("-INT", 130), ("-TERM", 143)] {
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
        kill(&child, sig);
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
fn limit_sends_only_the_first_calls() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("calls.ndjson");
    write_lines(&input, &calls(100, 10));
    let srv = Server::start(KEY, 0, false);
    let state = tmp.path().join("st");
    let o = run(send_cmd(&srv, &state, &["--limit", "25", "--max-batch-calls", "10"]).arg(&input));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let d = delivered(&srv);
    let want: BTreeSet<String> = (0..25).map(|i| format!("m{i}")).collect();
    assert_eq!(d.keys().cloned().collect::<BTreeSet<_>>(), want);
    assert_eq!(manifest(&state)["calls_read"], 25);
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

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
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
fn recent_calls_are_warned_about_skipped_or_refused() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("calls.ndjson");
    let now = jiff::Timestamp::now().to_string();
    let mut lines = calls(10, 1);
    lines[2] = lines[2].replace("2020-01-01T00:00:00.000Z", &now);
    write_lines(&input, &lines);
    let srv = Server::start(KEY, 0, false);
    let o = run(send_cmd(&srv, &tmp.path().join("a"), &["--recent", "fail"]).arg(&input));
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("1 call is less than 72 hours old"),
        "{}",
        stderr(&o)
    );
    assert_eq!(srv.shared.requests.load(Ordering::SeqCst), 0);
    let o = run(send_cmd(&srv, &tmp.path().join("b"), &["--recent", "skip"]).arg(&input));
    assert_eq!(code(&o), 3);
    assert_eq!(delivered(&srv).len(), 9);
    assert_eq!(send_errors(&tmp.path().join("b"))[0]["code"], "recent_call");
    let o = run(send_cmd(&srv, &tmp.path().join("c"), &[]).arg(&input));
    assert_eq!(code(&o), 0);
    assert!(stderr(&o).contains("72 hours"));
    assert!(delivered(&srv).contains_key("m2"));
}

#[test]
fn the_rate_is_never_exceeded() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("calls.ndjson");
    write_lines(&input, &calls(75, 1));
    let srv = Server::start(KEY, 0, false);
    let o = run(send_cmd(
        &srv,
        &tmp.path().join("st"),
        &["--rate", "20", "--max-batch-calls", "1"],
    )
    .arg(&input));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let at: Vec<Instant> = srv.seen().iter().map(|s| s.at).collect();
    assert_eq!(at.len(), 75);
    // An upper bound: evenly spaced at 50 ms, any 1-s window holds at most 21 requests and
    // any 3-s window 61 (arrival jitter can only spread them).
    for (w, max) in [
        (Duration::from_secs(1), 21 + 1),
        (Duration::from_secs(3), 61 + 1),
    ] {
        for (i, t) in at.iter().enumerate() {
            let n = at[i..]
                .iter()
                .take_while(|u| u.duration_since(*t) < w)
                .count();
            assert!(n <= max, "{n} requests within {w:?}");
        }
    }
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
