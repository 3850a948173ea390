//! Progress in a log (README, "Watching a run"): with stderr redirected to a file, as under
//! Kubernetes or AWS Batch, `--progress always` prints one plain line (no bar, no control
//! characters) at most every `--progress-interval` seconds for `convert`, `check` and `send`;
//! `--progress auto` prints none. Runs are made slow on purpose: `send` with a low `--rate`
//! against the test server on 127.0.0.1, `convert` and `check` reading a trickling stdin.

use crate::helpers::*;
use crate::server::Server;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tempfile::TempDir;

/// The progress lines of a run's stderr (`prefix` opens each), checked to be plain text.
fn plain_lines(log: &Path, prefix: &str) -> Vec<String> {
    let bytes = std::fs::read(log).unwrap();
    assert!(
        !bytes.iter().any(|b| *b == 0x1b || *b == b'\r'),
        "no escape sequences or carriage returns: {:?}",
        String::from_utf8_lossy(&bytes)
    );
    String::from_utf8(bytes)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

#[test]
fn send_prints_plain_lines_into_a_log() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("calls.ndjson");
    write_lines(&input, &calls(12, 10));
    let srv = Server::start(KEY, 0, false);
    let log = tmp.path().join("stderr.log");
    // 12 requests at 4 per second: about 3 s.
    let mut cmd = t2p();
    cmd.env("CIO_WRITE_KEY", KEY)
        .args(["send", "--endpoint", &srv.url(), "--state"])
        .arg(tmp.path().join("st"))
        .args([
            "--max-batch-calls",
            "1",
            "--rate",
            "4",
            "--concurrency",
            "1",
        ])
        .args(["--progress", "always", "--progress-interval", "1"])
        .arg(&input)
        .stderr(std::fs::File::create(&log).unwrap());
    let o = run(&mut cmd);
    assert_eq!(code(&o), 0, "{}", std::fs::read_to_string(&log).unwrap());
    let lines = plain_lines(&log, "track2pipelines send: ");
    // Progress lines (the summary line says "calls read").
    let progress: Vec<&String> = lines.iter().filter(|l| l.contains("/12 calls")).collect();
    assert!(!progress.is_empty(), "{lines:?}");
    assert_eq!(srv.calls().len(), 12);
}

/// Runs `args` reading stdin that trickles in over about 2.5 s, stderr into `log`.
fn trickle(args: &[&str], log: &Path) -> i32 {
    let mut child = t2p()
        .args(args)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for i in 0..25 {
        let line = format!(
            r#"{{"type":"person","identifiers":{{"id":"u{i}"}},"action":"event","name":"e","timestamp":1600000000}}"#
        );
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(stdin);
    wait_child(child, Duration::from_secs(60))
}

#[test]
fn convert_and_check_print_plain_lines_into_a_log_and_auto_prints_none() {
    let tmp = TempDir::new().unwrap();
    let log = tmp.path().join("convert.log");
    let out = tmp.path().join("out");
    let out_s = out.to_str().unwrap();
    let every = ["--progress", "always", "--progress-interval", "1"];
    let args = [&["convert", "--now", NOW, "--out", out_s][..], &every].concat();
    assert_eq!(trickle(&args, &log), 0);
    // The progress line ends with the rejects; the summary's first line does not.
    let lines = plain_lines(&log, "track2pipelines convert: ");
    assert!(lines.iter().any(|l| l.ends_with(" rejected")), "{lines:?}");

    let log = tmp.path().join("check.log");
    assert_eq!(
        trickle(&[&["check", "--now", NOW][..], &every].concat(), &log),
        0
    );
    let lines = plain_lines(&log, "track2pipelines check: ");
    assert!(lines.iter().any(|l| l.ends_with(" rejected")), "{lines:?}");

    let log = tmp.path().join("auto.log");
    let args = ["check", "--now", NOW, "--progress-interval", "1"];
    assert_eq!(trickle(&args, &log), 0);
    assert_eq!(
        plain_lines(&log, "track2pipelines check: ").len(),
        1,
        "the summary only"
    );
}
