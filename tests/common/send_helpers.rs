//! Helpers shared by the `send` integration tests (`tests/send.rs`, `tests/send_state.rs`):
//! running the binary against the test server, generating calls, reading the state.

pub use crate::common::NOW;
pub use crate::common::repo_file as repo;
pub use crate::common::run::{code, output as run, signal, stderr, t2p};
use crate::common::run::{convert_cmd, manifest_calls, wait_exit};
use crate::server::Server;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use tempfile::TempDir;

pub const KEY: &str = "test-key-Zq9";

/// `send --endpoint URL --state STATE [args]`, quiet, with the key in the environment.
pub fn send_cmd(srv: &Server, state: &Path, args: &[&str]) -> Command {
    let mut cmd = t2p();
    cmd.env("CIO_WRITE_KEY", KEY)
        .args(["send", "--progress", "never", "--endpoint"])
        .arg(srv.url())
        .arg("--state")
        .arg(state)
        .args(["--retry-backoff", "10ms"])
        .args(args);
    cmd
}

/// `n` track calls, one a line; call `i` has messageId `m{i}` and a `pad` of `pad` bytes.
pub fn calls(n: usize, pad: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"type":"track","userId":"u{i}","event":"e","properties":{{"pad":"{}"}},"messageId":"m{i}","timestamp":"2020-01-01T00:00:00.000Z","sentAt":"2020-01-01T00:00:01.000Z"}}"#,
                "x".repeat(pad)
            )
        })
        .collect()
}

pub fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

pub fn message_id(call: &str) -> String {
    let v: Value = serde_json::from_str(call).unwrap();
    v["messageId"].as_str().unwrap().to_owned()
}

/// Each messageId the server accepted, with how often.
pub fn delivered(srv: &Server) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for c in srv.calls() {
        *m.entry(message_id(&c)).or_default() += 1;
    }
    m
}

pub fn manifest(state: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(state.join("send-manifest.json")).unwrap()).unwrap()
}

pub fn send_errors(state: &Path) -> Vec<Value> {
    std::fs::read_to_string(state.join("send-errors.ndjson"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Converts the samples with a fixed `--now` and `--partition-by none` (the layout `send`
/// delivers in order), rotated into part files of 40 calls; returns the output directory and
/// its calls.
pub fn converted_samples(tmp: &TempDir) -> (PathBuf, Vec<String>) {
    let out = tmp.path().join("out");
    let samples = [
        "samples/track-2023-08.ndjson",
        "samples/events-2023-10.ndjson.zst",
        "samples/v2-entities-2023-09.ndjson.gz",
    ]
    .map(repo);
    let inputs: Vec<&Path> = samples.iter().map(PathBuf::as_path).collect();
    let o = run(&mut convert_cmd(
        &out,
        &["--partition-by", "none", "--max-file-records", "40"],
        &inputs,
    ));
    assert!(matches!(code(&o), 0 | 3), "{}", stderr(&o));
    let lines = manifest_calls(&out);
    (out, lines)
}

/// Waits (at most `limit`) until `cond` holds.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// The child's exit status, 128 + the signal when one ended it; kills it and fails the test
/// after `limit`.
pub fn wait_child(mut child: Child, limit: Duration) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    let st = wait_exit(&mut child, limit, "send");
    st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0))
}

/// Every file below `dir` (hidden ones too), by path.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let all = crate::common::run::entries_below(dir, true).into_iter();
    all.filter(|e| !e.kind.is_dir()).map(|e| e.path).collect()
}

pub trait Strict {
    fn from_str_strict(s: &str) -> jiff::Timestamp;
}
impl Strict for jiff::Timestamp {
    fn from_str_strict(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }
}
