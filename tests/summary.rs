//! The end-of-run summary on stderr: counts read as words ("1 record", "2 records").

use crate::common::run::t2p;
use serde_json::Value;
use std::path::Path;

fn summary(args: &[&str], input: &Path) -> String {
    let o = t2p()
        .args(args)
        .args(["--now", "2026-01-01T00:00:00Z", "--progress", "never"])
        .arg(input)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    String::from_utf8(o.stderr).unwrap()
}

#[test]
fn one_record_one_input_one_part_file_are_singular() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("one.ndjson");
    std::fs::write(
        &input,
        "{\"method\":\"DELETE\",\"path\":\"/api/v1/customers/42\"}\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let text = summary(&["convert", "--out", out.to_str().unwrap()], &input);
    assert!(
        text.starts_with("track2pipelines convert: 1 record from 1 input in "),
        "{text}"
    );
    assert!(text.contains("  wrote 1 part file under "), "{text}");

    std::fs::write(
        &input,
        "{\"method\":\"DELETE\",\"path\":\"/api/v1/customers/42\"}\n\
         {\"method\":\"DELETE\",\"path\":\"/api/v1/customers/43\"}\n",
    )
    .unwrap();
    let text = summary(&["check"], &input);
    assert!(
        text.starts_with("track2pipelines check: 2 records from 1 input in "),
        "{text}"
    );
}

/// Hand-written Track lines whose call times and logged statuses are known: which calls carry
/// no time of their own, and which calls failed at the time.
const TIMED: &str = concat!(
    // 1. identify, no time anywhere: stamped.
    r#"{"method":"PUT","path":"/api/v1/customers/1","body":{"plan":"p"}}"#,
    "\n",
    // 2. identify, the envelope's time.
    r#"{"method":"PUT","path":"/api/v1/customers/2","timestamp":1700000000,"body":{}}"#,
    "\n",
    // 3. event with its own time; a 2xx status.
    r#"{"method":"POST","path":"/api/v1/customers/3/events","status":200,"body":{"name":"E","timestamp":1700000000}}"#,
    "\n",
    // 4. event, no time: stamped.
    r#"{"method":"POST","path":"/api/v1/customers/4/events","body":{"name":"E"}}"#,
    "\n",
    // 5. a batch of two: the first has no time (stamped), the second its own.
    r#"{"batch":[{"type":"person","identifiers":{"id":"5"},"action":"identify","attributes":{}},{"type":"person","identifiers":{"id":"6"},"action":"event","name":"X","timestamp":1700000000}]}"#,
    "\n",
    // 6. failed at the time (500), no time of its own.
    r#"{"method":"POST","path":"/api/v1/customers/7/events","status":500,"body":{"name":"E"}}"#,
    "\n",
    // 7. a logged /api/v2/batch call that failed (a numeric string): one reject.
    r#"{"method":"POST","path":"/api/v2/batch","status_code":"429","timestamp":1700000000,"body":{"batch":[{"type":"person","identifiers":{"id":"8"},"action":"identify"},{"type":"person","identifiers":{"id":"9"},"action":"identify"}]}}"#,
    "\n",
);

/// Runs `convert` on [`TIMED`] with `extra` flags: (exit status, stderr, summary JSON,
/// manifest, error-file codes).
fn convert_timed(extra: &[&str]) -> (i32, String, Value, Value, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("timed.ndjson");
    std::fs::write(&input, TIMED).unwrap();
    let out = dir.path().join("out");
    let json = dir.path().join("summary.json");
    let o = t2p()
        .args([
            "convert",
            "--now",
            "2026-01-01T00:00:00Z",
            "--progress",
            "never",
        ])
        .arg("--out")
        .arg(&out)
        .arg("--summary-json")
        .arg(&json)
        .args(extra)
        .arg(&input)
        .output()
        .unwrap();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let summary: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let codes = std::fs::read_to_string(out.join("errors.ndjson"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["code"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let stderr = String::from_utf8(o.stderr).unwrap();
    (o.status.code().unwrap(), stderr, summary, manifest, codes)
}

#[test]
fn calls_stamped_with_the_clock_are_counted_and_warned_about() {
    let (code, stderr, summary, manifest, codes) = convert_timed(&[]);
    assert_eq!(code, 3, "{stderr}");
    assert_eq!(summary["records"], 8);
    assert_eq!(summary["converted"], 6);
    assert_eq!(summary["rejected"], 2);
    assert_eq!(summary["calls_stamped_now"], 3, "{summary}");
    assert_eq!(manifest["totals"]["calls_stamped_now"], 3);
    assert_eq!(codes, ["original_call_failed", "original_call_failed"]);
    assert!(
        stderr.contains("  stamped with the run's clock 3\n"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "warning: 3 calls had no time of their own and were stamped with the run's clock \
             (2026-01-01T00:00:00.000Z)"
        ),
        "{stderr}"
    );

    // The warning stays with --quiet; nothing is said when no call was stamped.
    let (_, quiet, ..) = convert_timed(&["--quiet"]);
    assert!(quiet.contains("warning: 3 calls had no time"), "{quiet}");
    let (_, none, summary, ..) = convert_timed(&["--missing-time", "reject"]);
    assert!(!none.contains("warning"), "{none}");
    assert_eq!(summary["calls_stamped_now"], 0);
}

#[test]
fn missing_time_reject_rejects_each_record_without_a_time() {
    let (code, stderr, summary, manifest, codes) = convert_timed(&["--missing-time", "reject"]);
    assert_eq!(code, 3, "{stderr}");
    assert_eq!(summary["records"], 8);
    assert_eq!(summary["converted"], 3);
    assert_eq!(summary["rejected"], 5);
    assert_eq!(summary["calls"], 3);
    assert_eq!(summary["rejects"]["missing_timestamp"], 3, "{summary}");
    assert_eq!(manifest["totals"]["rejects"]["missing_timestamp"], 3);
    // Record 6 failed at the time: that is looked at first.
    assert_eq!(
        codes,
        [
            "missing_timestamp",
            "missing_timestamp",
            "missing_timestamp",
            "original_call_failed",
            "original_call_failed"
        ]
    );
}

#[test]
fn keep_failed_calls_converts_calls_that_failed_at_the_time() {
    let (code, stderr, summary, _, codes) = convert_timed(&["--keep-failed-calls"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["records"], 9);
    assert_eq!(summary["converted"], 9);
    assert_eq!(summary["calls_stamped_now"], 4);
    assert!(codes.is_empty(), "{codes:?}");
}

#[test]
fn check_and_send_from_track_take_the_same_flags() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("timed.ndjson");
    std::fs::write(&input, TIMED).unwrap();
    let json = dir.path().join("summary.json");
    let o = t2p()
        .args([
            "check",
            "--now",
            "2026-01-01T00:00:00Z",
            "--progress",
            "never",
            "-q",
        ])
        .args(["--missing-time", "reject", "--keep-failed-calls"])
        .arg("--summary-json")
        .arg(&json)
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    let summary: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(summary["rejects"]["missing_timestamp"], 4, "{summary}");
    assert_eq!(summary["rejects"]["original_call_failed"], Value::Null);

    // send --from track: the failed calls are not planned (a dry run sends nothing).
    let state = dir.path().join("state");
    let o = t2p()
        .args([
            "send",
            "--from",
            "track",
            "--dry-run",
            "--progress",
            "never",
        ])
        .args([
            "--now",
            "2026-01-01T00:00:00Z",
            "--endpoint",
            "http://127.0.0.1:9/v1",
        ])
        .env("CIO_WRITE_KEY", "k")
        .arg("--state")
        .arg(&state)
        .arg(&input)
        .output()
        .unwrap();
    let errors = std::fs::read_to_string(state.join("errors.ndjson")).unwrap_or_default();
    // Records 1, 4 and the first of 5 have no time: stamped, and warned about.
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("warning: 3 calls had no time"), "{stderr}");
    assert_eq!(
        errors.matches("\"original_call_failed\"").count(),
        2,
        "{o:?}\n{errors}"
    );
}

#[test]
fn merged_manifests_sum_calls_stamped_now() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.ndjson"), dir.path().join("b.ndjson"));
    // a: two stamped calls; b: one stamped, one with its own time.
    std::fs::write(
        &a,
        "{\"method\":\"PUT\",\"path\":\"/api/v1/customers/1\",\"body\":{}}\n\
         {\"method\":\"PUT\",\"path\":\"/api/v1/customers/2\",\"body\":{}}\n",
    )
    .unwrap();
    std::fs::write(
        &b,
        "{\"method\":\"PUT\",\"path\":\"/api/v1/customers/3\",\"body\":{}}\n\
         {\"method\":\"PUT\",\"path\":\"/api/v1/customers/4\",\"sent_at\":1700000000,\"body\":{}}\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    for k in ["0/2", "1/2"] {
        let o = t2p()
            .args([
                "convert",
                "--now",
                "2026-01-01T00:00:00Z",
                "--progress",
                "never",
                "-q",
            ])
            .args(["--shard", k, "--out"])
            .arg(&out)
            .args([&a, &b])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{o:?}");
    }
    let o = t2p().arg("merge").arg("--out").arg(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let merged: Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(merged["totals"]["calls_stamped_now"], 3, "{merged}");
}
