//! Faults, with the real binary: writes that fail (a file-size limit, a full filesystem),
//! damaged and unreadable inputs, interrupts (SIGINT, SIGTERM, SIGKILL) and closed pipes.
//!
//! What must hold (docs/mapping.md): a failed write ends the run with status 1, a message
//! naming the file and the OS error, no `manifest.json` and none of the run's files left; a
//! damaged input is one `corrupt_input` entry, the run goes on and ends with status 3; an
//! interrupt removes the run's files and exits 128 + signal; after SIGKILL only dot-named temp
//! files can be incomplete and `--overwrite` gives what a clean run gives; a closed stdout or
//! stderr never turns into a panic.
//!
//! Signals and limits come from the shell (`kill`, `ulimit`), so no extra crate is needed.

use crate::common::NOW;
use crate::common::run::{
    CONVERT, bin, convert_cmd, files, signal, skip, stderr, wait_exit, write_file,
};
use crate::common::run::{Entry, entries_below};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// `n` records of the main shapes, every fifth one invalid JSON; about 140 bytes a line.
fn corpus(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * 150);
    for i in 0..n {
        let line = match i % 5 {
            0 => format!(
                r#"{{"type":"person","identifiers":{{"id":"{i}"}},"action":"event","name":"purchase","timestamp":{},"attributes":{{"sku":"sku-{i}","note":"{}"}}}}"#,
                1_700_000_000 + i,
                "x".repeat(i % 60)
            ),
            1 => format!(
                r#"{{"method":"PUT","path":"/api/v1/customers/{i}","body":{{"email":"u{i}@example.com","plan":"pro"}}}}"#
            ),
            2 => format!(
                r#"{{"method":"POST","path":"/api/v1/customers/{i}/events","body":{{"name":"Viewed","data":{{"page":"/p/{i}"}}}},"received_at":"2023-08-24T14:15:22Z"}}"#
            ),
            3 => format!(
                r#"{{"type":"object","identifiers":{{"object_type_id":"1","object_id":"acme-{i}"}},"action":"identify","cio_relationships":[{{"identifiers":{{"id":"{i}"}}}}]}}"#
            ),
            _ => r#"{"type":"person","action":"event""#.to_owned(),
        };
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out
}

/// Every file below `dir` (hidden ones too), by `/`-separated relative path; none when the
/// run removed `dir`.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    if dir.exists() {
        files(dir)
    } else {
        BTreeMap::new()
    }
}

fn is_temp(rel: &str) -> bool {
    rel.rsplit('/').next().unwrap().starts_with('.')
}

/// Polls until `ready` holds for the files below `dir`; false if the child ended first.
fn wait_until(
    child: &mut Child,
    dir: &Path,
    ready: impl Fn(&BTreeMap<String, u64>) -> bool,
) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        let sizes: BTreeMap<String, u64> = snapshot_sizes(dir);
        if ready(&sizes) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

/// Sizes of the files below `dir`, without reading them.
fn snapshot_sizes(dir: &Path) -> BTreeMap<String, u64> {
    let size = |e: Entry| Some((e.rel, std::fs::symlink_metadata(&e.path).ok()?.len()));
    let files = entries_below(dir, false)
        .into_iter()
        .filter(|e| !e.kind.is_dir());
    files.filter_map(size).collect()
}

/// The manifest without what differs between two runs of the same job.
fn stable_manifest(bytes: &[u8]) -> Value {
    let mut m: Value = serde_json::from_slice(bytes).unwrap();
    let obj = m.as_object_mut().unwrap();
    for k in ["started_at", "finished_at", "command_line"] {
        obj.remove(k);
    }
    m
}

/// A failed write: status 1, the file and the OS error named, no manifest, no file left.
fn assert_failed_write(o: &Output, out: &Path, os_error: &str) {
    let left: Vec<String> = snapshot_sizes(out).into_keys().collect();
    assert_failed(o.status.code(), &stderr(o), out, os_error, &left);
}

/// [`assert_failed_write`] from a run's exit status, stderr and the files left below `out`.
fn assert_failed(status: Option<i32>, err: &str, out: &Path, os_error: &str, left: &[String]) {
    assert_eq!(status, Some(1), "exit status; stderr: {err}");
    assert!(err.contains(os_error), "stderr names the OS error: {err}");
    assert!(
        err.contains(&out.display().to_string()),
        "stderr names the file: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        left.is_empty(),
        "a failed run leaves none of its files: {left:?}"
    );
}

// ------------------------------------------------------------------------------------------
// Write failures

/// Under a file-size limit (RLIMIT_FSIZE, `ulimit -f`), a write fails with EFBIG instead of
/// the process being killed by SIGXFSZ; the run fails cleanly.
fn write_past_the_file_size_limit(compress: &str) {
    let dir = TempDir::new().unwrap();
    let input = write_file(&dir.path().join("in.ndjson"), &corpus(20_000));
    let out = dir.path().join("out");
    // dash counts 512-byte blocks, bash 1024: 128 is a limit of 64 or 128 KiB.
    let o = Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -f 128 && exec "$0" "$@""#)
        .arg(bin())
        .args(CONVERT)
        .args(["--threads", "2", "--compress", compress])
        .arg("--out")
        .arg(&out)
        .arg(&input)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap();
    assert!(
        o.status.code().is_some(),
        "killed by a signal ({:?}): SIGXFSZ must be ignored",
        o.status
    );
    assert_failed_write(&o, &out, "File too large");
}

#[test]
fn a_write_past_the_file_size_limit_fails_cleanly() {
    write_past_the_file_size_limit("none");
}

#[test]
fn a_compressed_write_past_the_file_size_limit_fails_cleanly() {
    write_past_the_file_size_limit("zstd");
}

/// Runs its arguments on a 256 KiB tmpfs mounted at `$1`, then reports into the directory
/// `$2`, outside the tmpfs: the run's exit status and stderr, the files left below
/// `$1/out`, and whether 200 KiB fit on the tmpfs afterwards. No `status` file: the mount
/// failed (why in `mount`).
const ON_SMALL_FS: &str = r#"small=$1 report=$2; shift 2
mount -t tmpfs -o size=256k tmpfs "$small" 2>"$report/mount" || exit 0
"$@" 2>"$report/stderr"
echo $? >"$report/status"
if [ -d "$small/out" ]; then find "$small/out" ! -type d >"$report/left"; else : >"$report/left"; fi
head -c 204800 /dev/zero >"$small/probe" 2>"$report/probe" && echo freed >"$report/probe"
umount -l "$small" 2>/dev/null
exit 0"#;

/// What a run on the small tmpfs gave: exit status, stderr, files left, space freed.
struct SmallFsRun {
    status: Option<i32>,
    stderr: String,
    left: Vec<String>,
    probe: String,
}

/// Runs `convert` on a 256 KiB tmpfs: mounted directly where that is permitted, else in a new
/// user and mount namespace (`unshare`, no privilege needed), whose mount only the run sees.
/// The reasons for each failed mount when neither works.
fn on_small_fs(dir: &Path, input: &Path, compress: &str) -> Result<(PathBuf, SmallFsRun), String> {
    let small = dir.join("small");
    let out = small.join("out");
    let mut why = Vec::new();
    let launchers: [&[&str]; 2] = [
        &["sh"],
        &["unshare", "--user", "--map-root-user", "--mount", "sh"],
    ];
    for (i, launcher) in launchers.iter().enumerate() {
        std::fs::create_dir_all(&small).unwrap();
        let report = dir.join(format!("report-{i}"));
        std::fs::create_dir_all(&report).unwrap();
        let o = Command::new(launcher[0])
            .args(&launcher[1..])
            .args(["-c", ON_SMALL_FS, "sh"])
            .arg(&small)
            .arg(&report)
            .arg(bin())
            .args(CONVERT)
            .args(["--threads", "2", "--compress", compress, "--out"])
            .arg(&out)
            .arg(input)
            .env_remove("SOURCE_DATE_EPOCH")
            .env_remove("TRACK2PIPELINES_FAULT")
            .env_remove("JOB_COMPLETION_INDEX")
            .env_remove("AWS_BATCH_JOB_ARRAY_INDEX")
            .stdin(Stdio::null())
            .output();
        let read = |name: &str| std::fs::read_to_string(report.join(name)).unwrap_or_default();
        let Ok(status) = read("status").trim().parse::<i32>() else {
            let tried = match &o {
                Ok(o) => format!(
                    "{} {}",
                    read("mount").trim(),
                    String::from_utf8_lossy(&o.stderr).trim()
                ),
                Err(e) => format!("cannot run {}: {e}", launcher[0]),
            };
            why.push(format!("{}: {}", launcher.join(" "), tried.trim()));
            continue;
        };
        let prefix = format!("{}/", out.display());
        let left = read("left")
            .lines()
            .map(|l| l.strip_prefix(&prefix).unwrap_or(l).to_owned())
            .collect();
        let run = SmallFsRun {
            status: Some(status),
            stderr: read("stderr"),
            left,
            probe: read("probe"),
        };
        return Ok((out, run));
    }
    Err(why.join("; "))
}

/// On a full filesystem (a 256 KiB tmpfs; skipped, saying so in the test output, where
/// neither a mount nor a user namespace is permitted), the run fails cleanly and frees what
/// it wrote.
fn full_filesystem(test: &str, compress: &str) {
    let dir = TempDir::new().unwrap();
    let input = write_file(&dir.path().join("in.ndjson"), &corpus(20_000));
    let (out, run) = match on_small_fs(dir.path(), &input, compress) {
        Ok(run) => run,
        Err(why) => {
            skip(test, &format!("needs a tmpfs mount: {why}"));
            return;
        }
    };
    assert_failed(
        run.status,
        &run.stderr,
        &out,
        "No space left on device",
        &run.left,
    );
    // Everything the run wrote was removed: the space is free again.
    assert_eq!(run.probe.trim(), "freed", "the failed run freed its space");
}

#[test]
fn a_full_filesystem_fails_cleanly() {
    full_filesystem("a_full_filesystem_fails_cleanly", "none");
}

#[test]
fn a_full_filesystem_fails_cleanly_compressed() {
    full_filesystem("a_full_filesystem_fails_cleanly_compressed", "gzip");
}

// ------------------------------------------------------------------------------------------
// Damaged and unreadable inputs

fn compress_with(tool: &str, data: &[u8]) -> Vec<u8> {
    let mut child = Command::new(tool)
        .args(["-q", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("the {tool} command is needed ({e})"));
    let mut stdin = child.stdin.take().unwrap();
    let data = data.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&data).unwrap());
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    feeder.join().unwrap();
    assert!(child.wait().unwrap().success());
    out
}

/// An input compressed with `zstd --long=31` (a 2 GiB window, as zstd writes it from a pipe)
/// is read whole, like the same records uncompressed.
#[test]
fn a_zstd_long_31_input_is_read() {
    let dir = TempDir::new().unwrap();
    let data = corpus(500);
    let mut child = Command::new("zstd")
        .args(["-q", "-c", "--long=31"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the zstd command is needed");
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || stdin.write_all(&data).unwrap());
    let mut long = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut long).unwrap();
    feeder.join().unwrap();
    assert!(child.wait().unwrap().success());
    let zst = write_file(&dir.path().join("long.ndjson.zst"), &long);
    let plain = write_file(&dir.path().join("plain.ndjson"), &corpus(500));
    let run = |input: &Path, out: &str| {
        let o = convert_cmd(&dir.path().join(out), &[], &[input])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
        assert!(!stderr(&o).contains("corrupt"), "{}", stderr(&o));
        let m: Value = serde_json::from_slice(
            &std::fs::read(dir.path().join(out).join("manifest.json")).unwrap(),
        )
        .unwrap();
        m["totals"].clone()
    };
    assert_eq!(run(&zst, "a"), run(&plain, "b"));
}

/// Corrupt gzip and zstd streams (a bad CRC, garbage after a good member, a flipped byte in a
/// zstd block) and an input whose read() fails (`/proc/self/mem`: opening works, reading at
/// offset 0 fails with EIO) among good inputs: one `corrupt_input` entry each, the records
/// decoded before the damage converted, the other inputs whole, status 3.
#[test]
fn damaged_and_unreadable_inputs_are_reported_and_the_run_goes_on() {
    let dir = TempDir::new().unwrap();
    let data = corpus(2_000);
    let lines = data.iter().filter(|b| **b == b'\n').count() as u64;
    let good1 = write_file(&dir.path().join("1-good.ndjson"), &data);

    let mut bad_crc = compress_with("gzip", &data);
    let n = bad_crc.len();
    bad_crc[n - 8] ^= 0xff; // CRC32 of the member
    let bad_crc = write_file(&dir.path().join("2-bad-crc.ndjson.gz"), &bad_crc);

    let mut trailing = compress_with("gzip", &data);
    trailing.extend_from_slice(b"this is not a gzip member\n");
    let trailing = write_file(&dir.path().join("3-trailing.ndjson.gz"), &trailing);

    let mut flipped = compress_with("zstd", &data);
    let mid = flipped.len() / 2;
    for b in &mut flipped[mid..mid + 16] {
        *b ^= 0x5a;
    }
    let flipped = write_file(&dir.path().join("4-flipped.ndjson.zst"), &flipped);

    let unreadable = PathBuf::from("/proc/self/mem");
    let good2 = write_file(&dir.path().join("6-good.ndjson"), &data);

    let out = dir.path().join("out");
    let inputs = [&good1, &bad_crc, &trailing, &flipped, &unreadable, &good2];
    let inputs: Vec<&Path> = inputs.iter().map(|p| p.as_path()).collect();
    let o = convert_cmd(&out, &["--threads", "2"], &inputs)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "stderr: {}", stderr(&o));

    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let errors: Vec<Value> = std::fs::read_to_string(out.join("errors.ndjson"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let entries = manifest["inputs"].as_array().unwrap();
    assert_eq!(entries.len(), inputs.len());
    let n = |v: &Value| v.as_u64().unwrap();
    for (entry, path) in entries.iter().zip(&inputs) {
        let source = path.to_string_lossy();
        assert_eq!(entry["source"], *source);
        assert_eq!(
            n(&entry["records"]),
            n(&entry["converted"]) + n(&entry["rejected"]),
            "{source}: records = converted + rejected"
        );
        let corrupt: Vec<&Value> = errors
            .iter()
            .filter(|e| e["source"] == *source && e["code"] == "corrupt_input")
            .collect();
        let damaged = !source.contains("good");
        assert_eq!(entry["incomplete"], damaged, "{source}: incomplete");
        assert_eq!(
            corrupt.len(),
            usize::from(damaged),
            "{source}: corrupt_input"
        );
        if damaged {
            let message = corrupt[0]["message"].as_str().unwrap();
            assert!(!message.is_empty());
            assert!(
                n(&entry["records"]) <= lines,
                "{source}: more records than lines"
            );
        } else {
            assert_eq!(n(&entry["records"]), lines, "{source}: read whole");
        }
    }
    // The damage sits at the end of the stream for these two: every record came through.
    for (i, what) in [(1, "bad CRC"), (2, "trailing garbage")] {
        assert_eq!(
            n(&entries[i]["records"]),
            lines,
            "{what}: records before the damage"
        );
    }
    let mem = errors
        .iter()
        .find(|e| e["source"] == "/proc/self/mem")
        .unwrap();
    assert_eq!((n(&mem["line"]), n(&mem["offset"])), (1, 0));
    assert!(
        mem["message"].as_str().unwrap().contains("os error"),
        "the read error is named: {mem}"
    );
    // corrupt_input entries are not records; every other entry is one rejected record.
    let corrupt = errors
        .iter()
        .filter(|e| e["code"] == "corrupt_input")
        .count() as u64;
    assert_eq!(corrupt, 4);
    assert_eq!(
        errors.len() as u64 - corrupt,
        n(&manifest["totals"]["rejected"])
    );
}

// ------------------------------------------------------------------------------------------
// Interrupts

/// SIGINT and SIGTERM in the middle of a run: it stops, removes every file it wrote (part
/// files are complete but still under their temp names), writes no manifest, says why and exits
/// with 128 + the signal.
#[test]
fn sigint_and_sigterm_stop_the_run_and_remove_its_files() {
    let dir = TempDir::new().unwrap();
    let input = write_file(&dir.path().join("in.ndjson"), &corpus(250_000));
    for (sig, code) in [("INT", 130), ("TERM", 143)] {
        let out = dir.path().join(format!("out-{sig}"));
        let mut child = convert_cmd(
            &out,
            &["--threads", "1", "--max-file-bytes", "256KiB"],
            &[&input],
        )
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        // Wait until part files were completed (they are renamed together at the end) and
        // more are being written.
        let started = wait_until(&mut child, &out, |files| {
            files.keys().filter(|f| f.contains("part-")).count() >= 3
        });
        assert!(
            started,
            "SIG{sig}: the run ended before it could be interrupted"
        );
        signal(&child, sig);
        let status = wait_exit(&mut child, Duration::from_secs(20), &format!("SIG{sig}"));
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert_eq!(status.code(), Some(code), "SIG{sig}: {err}");
        assert!(err.contains("interrupted"), "SIG{sig}: {err}");
        assert!(!err.contains("panicked"), "SIG{sig}: {err}");
        let left = snapshot_sizes(&out);
        assert!(left.is_empty(), "SIG{sig}: files left behind: {left:?}");
    }
}

/// SIGKILL can't be handled: nothing may stand under a final name (a run renames its files
/// into place only when it completes), and `--overwrite` then removes the killed run's files,
/// found through its journal, and gives exactly what a clean run gives.
#[test]
fn after_sigkill_only_temp_files_are_incomplete_and_overwrite_recovers() {
    let dir = TempDir::new().unwrap();
    let input = write_file(&dir.path().join("in.ndjson"), &corpus(60_000));
    let opts = ["--threads", "1", "--max-file-bytes", "128KiB"];
    let clean_dir = dir.path().join("clean");
    let o = convert_cmd(&clean_dir, &opts, &[&input]).output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let clean = snapshot(&clean_dir);

    let out = dir.path().join("out");
    let mut child = convert_cmd(&out, &opts, &[&input]).spawn().unwrap();
    let started = wait_until(&mut child, &out, |files| {
        files.keys().filter(|f| f.contains("part-")).count() >= 3
    });
    assert!(started, "the run ended before it could be killed");
    signal(&child, "KILL");
    let status = wait_exit(&mut child, Duration::from_secs(20), "SIGKILL");
    assert_eq!(status.code(), None, "killed by the signal");

    let killed = snapshot(&out);
    let finals: Vec<&String> = killed.keys().filter(|f| !is_temp(f)).collect();
    assert!(
        finals.is_empty(),
        "files are renamed into place only when the run completes: {finals:?}"
    );
    assert!(
        killed.keys().filter(|f| f.contains("part-")).count() >= 3,
        "the killed run had written part files under temp names"
    );

    // Refused without --overwrite, then a clean result with it.
    let o = convert_cmd(&out, &opts, &[&input]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = convert_cmd(&out, &[&opts[..], &["--overwrite"]].concat(), &[&input])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let mut again = snapshot(&out);
    let mut clean = clean;
    assert_eq!(
        stable_manifest(&again.remove("manifest.json").unwrap()),
        stable_manifest(&clean.remove("manifest.json").unwrap())
    );
    assert_eq!(
        again.keys().collect::<Vec<_>>(),
        clean.keys().collect::<Vec<_>>(),
        "same files, no temp file left"
    );
    assert!(
        again == clean,
        "--overwrite after a kill gives the clean run's bytes"
    );
}

/// A run reading standard input that is interrupted while no data comes must stop too.
#[test]
fn sigterm_while_waiting_on_stdin_stops_the_run() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out");
    let mut child = Command::new(bin())
        .args(["convert", "--progress", "never", "--quiet", "--out"])
        .arg(&out)
        .arg("-")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&corpus(10)).unwrap();
    let started = wait_until(&mut child, &out, |files| !files.is_empty());
    assert!(started);
    std::thread::sleep(Duration::from_millis(200));
    signal(&child, "TERM");
    let status = wait_exit(&mut child, Duration::from_secs(10), "SIGTERM on idle stdin");
    drop(stdin);
    assert_eq!(status.code(), Some(143));
    assert!(snapshot_sizes(&out).is_empty());
}

// ------------------------------------------------------------------------------------------
// Closed pipes

/// `check … 2>&1 | head -1`, or stderr closed: the summary and progress writes fail, the run
/// still ends with its normal status and no panic.
#[test]
fn a_closed_stderr_ends_quietly() {
    let dir = TempDir::new().unwrap();
    let input = write_file(&dir.path().join("in.ndjson"), &corpus(5_000));
    // The reading end closed before anything is written: every write gets EPIPE.
    for progress in ["never", "always"] {
        let mut child = Command::new(bin())
            .args(["check", "--now", NOW, "--progress", progress])
            .arg(&input)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stderr.take());
        let status = wait_exit(&mut child, Duration::from_secs(30), "check, stderr closed");
        assert_eq!(status.code(), Some(3), "--progress {progress}: {status:?}");
    }
    // `check … 2>&1 | head -1`, as a user would type it.
    let o = Command::new("bash")
        .arg("-c")
        .arg(r#""$0" "$@" 2>&1 | head -1; exit ${PIPESTATUS[0]}"#)
        .arg(bin())
        .args(["check", "--now", NOW, "--progress", "never"])
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let first = String::from_utf8_lossy(&o.stdout);
    assert_eq!(first.lines().count(), 1, "{first}");
    assert!(!first.contains("panicked"), "{first}");
    // stderr closed outright (`2>&-`): writes fail with EBADF.
    let o = Command::new("sh")
        .arg("-c")
        .arg(r#"exec "$0" "$@" 2>&-"#)
        .arg(bin())
        .args(["check", "--now", NOW, "--progress", "always"])
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
}

/// `--help | head -1` and `--version` into a closed pipe: status 0, no panic.
#[test]
fn a_closed_stdout_ends_quietly() {
    for args in [&["--help"][..], &["--version"], &["convert", "--help"]] {
        let mut child = Command::new(bin())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = wait_exit(&mut child, Duration::from_secs(10), "--help");
        assert_eq!(status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// kill -9 at the rename phase of a run with hundreds of part files: a directory the kill left
/// without `manifest.json` is refused by `send`, `plan` and `merge` (exit 2, naming its run
/// journal), never read as if complete; `--overwrite` then gives what a clean run gives. The
/// kill lands when the first part file appears under its final name (the run is renaming);
/// each attempt checks the same on-disk invariant, whatever moment the kill hit.
#[test]
fn sigkill_during_the_renames_leaves_a_directory_nothing_reads() {
    let dir = TempDir::new().unwrap();
    let input = write_file(&dir.path().join("in.ndjson"), &corpus(20_000));
    let opts = ["--partition-by", "type,date,bucket:64", "--threads", "1"];
    let clean_dir = dir.path().join("clean");
    let o = convert_cmd(&clean_dir, &opts, &[&input]).output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let clean = snapshot(&clean_dir);
    let parts = clean.keys().filter(|f| f.contains("part-")).count();
    assert!(parts > 200, "hundreds of part files: {parts}");
    let mut caught_renaming = 0;
    for attempt in 0..6 {
        let out = dir.path().join(format!("out{attempt}"));
        let mut child = convert_cmd(&out, &opts, &[&input]).spawn().unwrap();
        let renaming = wait_until(&mut child, &out, |files| {
            files.keys().any(|f| f.contains("part-") && !is_temp(f))
        });
        if renaming {
            // Not when the run ended first: its process is gone (reaped) already.
            signal(&child, "KILL");
        }
        let _ = wait_exit(&mut child, Duration::from_secs(20), "SIGKILL");
        let killed = snapshot(&out);
        if killed.contains_key("manifest.json") {
            continue; // the kill came after the run completed
        }
        let finals = killed.keys().filter(|f| !is_temp(f)).count();
        if renaming && finals > 0 {
            caught_renaming += 1;
        }
        let state = dir.path().join(format!("st{attempt}"));
        let refusals = [
            Command::new(bin())
                .args(["send", "--dry-run", "--quiet", "--state"])
                .arg(&state)
                .arg(&out)
                .env_remove("CIO_WRITE_KEY")
                .output()
                .unwrap(),
            Command::new(bin())
                .args(["plan", "--shards", "2"])
                .arg(&out)
                .output()
                .unwrap(),
            Command::new(bin())
                .args(["merge", "--out"])
                .arg(&out)
                .output()
                .unwrap(),
        ];
        for o in &refusals {
            assert_eq!(o.status.code(), Some(2), "{}", stderr(o));
            assert!(stderr(o).contains("run journal"), "{}", stderr(o));
        }
        assert!(!state.join("dry-run").exists(), "nothing was planned");
        let o = convert_cmd(&out, &[&opts[..], &["--overwrite"]].concat(), &[&input])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
        let mut again = snapshot(&out);
        let mut clean = clean.clone();
        assert_eq!(
            stable_manifest(&again.remove("manifest.json").unwrap()),
            stable_manifest(&clean.remove("manifest.json").unwrap())
        );
        assert!(
            again == clean,
            "--overwrite after the kill gives the clean bytes"
        );
        if caught_renaming >= 2 {
            break;
        }
    }
    eprintln!("kills that landed among the renames: {caught_renaming}");
}
