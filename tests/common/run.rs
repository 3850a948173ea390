//! Running the built binary and reading back what it wrote, the way a user's scripts would:
//! the scaffolding every integration test that starts `track2pipelines` shares (the binary,
//! the usual `convert` flags, part files plain or compressed, the manifest, error files,
//! every file below a directory, signals, and a skip that shows in the test output).

use super::NOW;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test; `T2P_BIN` runs the tests against another build (an older one, to
/// see each test fail on the defect it covers).
pub fn bin() -> PathBuf {
    std::env::var_os("T2P_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_track2pipelines")))
}

/// The binary, without the variables that would change a run from outside the test (the
/// reproducible-build time, the fault hook, the schedulers' shard indexes).
pub fn t2p() -> Command {
    let mut cmd = Command::new(bin());
    cmd.env_remove("SOURCE_DATE_EPOCH")
        .env_remove("TRACK2PIPELINES_FAULT")
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("AWS_BATCH_JOB_ARRAY_INDEX");
    cmd
}

/// The flags of a quiet, reproducible convert: `convert --now NOW --progress never --quiet`.
pub const CONVERT: [&str; 6] = ["convert", "--now", NOW, "--progress", "never", "--quiet"];

/// `convert --now NOW --progress never --quiet --out OUT [opts] INPUTS`.
pub fn convert_cmd(out: &Path, opts: &[&str], inputs: &[&Path]) -> Command {
    let mut cmd = t2p();
    cmd.args(CONVERT)
        .arg("--out")
        .arg(out)
        .args(opts)
        .args(inputs);
    cmd
}

/// Runs `cmd` to its end with no standard input.
pub fn output(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .expect("run track2pipelines")
}

/// Runs `cmd` to its end with `bytes` as its standard input.
pub fn output_with_stdin(cmd: Command, bytes: &[u8]) -> Output {
    assert_cmd::Command::from_std(cmd)
        .write_stdin(bytes.to_vec())
        .output()
        .expect("run track2pipelines")
}

/// The exit status; a run ended by a signal fails the test.
pub fn code(o: &Output) -> i32 {
    o.status
        .code()
        .unwrap_or_else(|| panic!("killed: {:?}", o.status))
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Sends `sig` (a name `kill` knows: INT, TERM, KILL) to a child.
pub fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args(["-s", sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -s {sig} failed");
}

/// Runs `cmd` to its end; returns its exit status (-1 when a signal ended it) and stderr.
pub fn finished(cmd: &mut Command) -> (i32, String) {
    let o = output(cmd);
    (o.status.code().unwrap_or(-1), stderr(&o))
}

/// Waits for a child at most `limit`; kills it and fails the test if it takes longer.
pub fn wait_exit(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Writes `bytes` at `path`, creating its directory; returns the path.
pub fn write_file(path: &Path, bytes: &[u8]) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
    path.to_path_buf()
}

/// `bytes` as one gzip member (level 6).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// `bytes` as one zstd frame (level 3).
pub fn zstd_frame(bytes: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(bytes, 3).unwrap()
}

// ------------------------------------------------------------------------------------------
// Reading what a run wrote

/// Decompresses by magic bytes (zstd frames or gzip members, all of them), else returns as is.
pub fn decompress(bytes: &[u8]) -> Vec<u8> {
    match bytes {
        [0x28, 0xb5, 0x2f, 0xfd, ..] => zstd::stream::decode_all(bytes).unwrap(),
        [0x1f, 0x8b, ..] => {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(bytes)
                .read_to_end(&mut out)
                .unwrap();
            out
        }
        _ => bytes.to_vec(),
    }
}

/// The lines of an output file, which is UTF-8 and ends with a newline unless empty.
pub fn lines_of(bytes: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(bytes).expect("output is UTF-8");
    if !text.is_empty() {
        assert!(text.ends_with('\n'), "output files end with a newline");
    }
    text.lines().map(str::to_owned).collect()
}

/// A JSON file (a manifest, a summary).
pub fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{} is JSON: {e}", path.display()))
}

/// `manifest.json` of the output directory `out`.
pub fn manifest(out: &Path) -> Value {
    read_json(&out.join("manifest.json"))
}

/// The entries of an NDJSON file (an error file), one a line.
pub fn json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).expect("error entries are JSON"))
        .collect()
}

/// The text of each part file `out`'s manifest lists, in the manifest's order.
pub fn manifest_parts(out: &Path) -> Vec<(String, String)> {
    manifest(out)["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let rel = f["path"].as_str().unwrap().to_owned();
            let text = std::fs::read_to_string(out.join(&rel)).unwrap();
            (rel, text)
        })
        .collect()
}

/// Every call of the part files `out`'s manifest lists, in the manifest's order.
pub fn manifest_calls(out: &Path) -> Vec<String> {
    manifest_parts(out)
        .iter()
        .flat_map(|(_, text)| text.lines().map(str::to_owned))
        .collect()
}

/// One entry below a directory walked by [`entries_below`].
pub struct Entry {
    /// Its path relative to the directory walked, `/`-separated.
    pub rel: String,
    /// Its full path.
    pub path: PathBuf,
    /// Its own type: a symbolic link is a link, never followed.
    pub kind: std::fs::FileType,
}

/// Every entry below `dir` (hidden ones too), each directory before what it holds: the one
/// directory walker of the tests. With `strict`, an entry that cannot be read fails the test;
/// without (a run may be changing the tree meanwhile), it is left out, and so is a `dir` that
/// does not exist.
pub fn entries_below(dir: &Path, strict: bool) -> Vec<Entry> {
    fn walk(root: &Path, dir: &Path, strict: bool, out: &mut Vec<Entry>) {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if strict => panic!("cannot read {}: {e}", dir.display()),
            Err(_) => return,
        };
        for entry in entries {
            let read = entry.and_then(|e| Ok((e.path(), e.file_type()?)));
            let (path, kind) = match read {
                Ok(read) => read,
                Err(e) if strict => panic!("cannot read an entry of {}: {e}", dir.display()),
                Err(_) => continue,
            };
            let rel = path.strip_prefix(root).unwrap().to_string_lossy();
            let rel = rel.replace('\\', "/");
            out.push(Entry {
                rel,
                path: path.clone(),
                kind,
            });
            if kind.is_dir() {
                walk(root, &path, strict, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, strict, &mut out);
    out
}

/// Every file below `dir` (hidden ones too), by `/`-separated relative path.
pub fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    entries_below(dir, true)
        .into_iter()
        .filter(|e| !e.kind.is_dir())
        .map(|e| (e.rel, std::fs::read(&e.path).unwrap()))
        .collect()
}

/// Part files' bytes concatenated per partition directory, in name order (shard, then number).
pub fn partitions(all: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    let mut out: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (path, bytes) in all {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        if name.starts_with("part-") {
            out.entry(dir.to_owned()).or_default().extend(bytes);
        }
    }
    out
}

/// Error entries as (source, offset, code, raw), in file order over the error files given.
pub fn error_keys(texts: &[&[u8]]) -> Vec<(String, u64, String, String)> {
    texts
        .iter()
        .flat_map(|t| t.split(|b| *b == b'\n'))
        .filter(|l| !l.is_empty())
        .map(|l| {
            let v: Value = serde_json::from_slice(l).unwrap();
            (
                v["source"].as_str().unwrap().to_owned(),
                v["offset"].as_u64().unwrap(),
                v["code"].as_str().unwrap().to_owned(),
                v["raw"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

// ------------------------------------------------------------------------------------------
// Skips

/// Says that `test` did not run and why, as a line the test output shows: libtest captures
/// `println!` and `eprintln!` but not writes to the process's stderr handle. With
/// `T2P_NO_SKIP` set (a machine that must run every test), the test fails instead.
pub fn skip(test: &str, why: &str) {
    assert!(
        std::env::var_os("T2P_NO_SKIP").is_none(),
        "{test} did not run (T2P_NO_SKIP is set): {why}"
    );
    let mut err = std::io::stderr();
    let _ = writeln!(err, "skipped: {test}: {why}");
    let _ = err.flush();
}
