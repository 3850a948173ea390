//! Inputs and `--out` in object storage, against a real S3-compatible server on 127.0.0.1:
//! moto's server mode, which these tests start and stop themselves (`moto_server`, or
//! `python3 -m moto.server`; `.ci/run` installs it). A test that cannot start it fails.
//! The objects are checked with the object_store crate's own S3 client. `send` reads from the
//! bucket and delivers to the Pipelines-compatible test server on 127.0.0.1.

use crate::common::run::{files, finished, partitions, t2p};
use crate::inputs::{LAYOUT, inputs};
use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A moto server on a free loopback port, stopped when dropped.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    fn start() -> Moto {
        Moto::start_with(&[])
    }

    /// Starts the server with extra environment variables (moto's settings).
    fn start_with(env: &[(&str, &str)]) -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let args = ["-H", "127.0.0.1", "-p", &port.to_string()];
        let spawn = |program: &str, pre: &[&str]| {
            std::process::Command::new(program)
                .args(pre)
                .args(args)
                .envs(env.iter().copied())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
        };
        let child = spawn("moto_server", &[])
            .or_else(|_| spawn("python3", &["-m", "moto.server"]))
            .expect("cannot start moto's S3 server: install it with pip install 'moto[server]'");
        let mut moto = Moto { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto's S3 server exited at start ({status}): is moto[server] installed?");
            }
            assert!(
                Instant::now() < deadline,
                "moto's S3 server did not start in 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a bucket (a plain unsigned PUT, which moto accepts).
    fn bucket(&self, name: &str) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            s,
            "PUT /{name} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut reply = String::new();
        let _ = s.read_to_string(&mut reply);
        assert!(
            reply.starts_with("HTTP/1.1 200"),
            "create bucket {name}: {reply}"
        );
    }

    /// Puts an object under a raw key (`a//b`, `..`: keys S3 allows and the object_store
    /// client cannot name), with a plain unsigned PUT.
    fn put_raw(&self, bucket: &str, key: &str, body: &[u8]) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            s,
            "PUT /{bucket}/{key} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.port,
            body.len()
        )
        .unwrap();
        s.write_all(body).unwrap();
        let mut reply = String::new();
        let _ = s.read_to_string(&mut reply);
        assert!(reply.starts_with("HTTP/1.1 200"), "put {key}: {reply}");
    }

    fn client(&self, bucket: &str) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .build()
            .unwrap()
    }

    /// The tool, pointed at this server.
    fn t2p(&self) -> Command {
        let mut cmd = t2p();
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("AWS_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", self.endpoint())
            .env("AWS_ALLOW_HTTP", "true");
        cmd
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Every object below `prefix`, by key relative to it.
fn objects(s3: &AmazonS3, prefix: &str) -> BTreeMap<String, Vec<u8>> {
    let prefix = Key::from(prefix);
    block(async {
        let metas: Vec<_> = s3.list(Some(&prefix)).try_collect().await.unwrap();
        let mut out = BTreeMap::new();
        for m in metas {
            let bytes = s3.get(&m.location).await.unwrap().bytes().await.unwrap();
            let rel: Vec<_> = m.location.prefix_match(&prefix).unwrap().collect();
            let rel: Vec<&str> = rel.iter().map(|p| p.as_ref()).collect();
            out.insert(rel.join("/"), bytes.to_vec());
        }
        out
    })
}

fn put(s3: &AmazonS3, key: &str, bytes: Vec<u8>) {
    block(s3.put(&Key::from(key), bytes.into())).unwrap();
}

/// Error entries as (file name of the source, offset, code, raw).
fn error_keys(texts: &[&[u8]]) -> Vec<(String, u64, String, String)> {
    let mut keys = crate::common::run::error_keys(texts);
    for (source, ..) in &mut keys {
        *source = source.rsplit('/').next().unwrap().to_owned();
    }
    keys
}

fn convert(moto: &Moto, out: &str, extra: &[&str], input: &str) -> (i32, String) {
    finished(
        moto.t2p()
            .args(["convert", "--out", out])
            .args(LAYOUT)
            .args(extra)
            .arg(input),
    )
}

fn without_times(mut v: Value) -> Value {
    v["started_at"] = Value::Null;
    v["finished_at"] = Value::Null;
    v["command_line"] = Value::Null;
    v
}

#[test]
fn s3_runs_and_shards_write_what_a_local_run_writes() {
    let moto = Moto::start();
    moto.bucket("arch");
    let s3 = moto.client("arch");
    let tmp = tempfile::tempdir().unwrap();
    let local_in = inputs(tmp.path());
    for (name, bytes) in files(&local_in) {
        put(&s3, &format!("in/{name}"), bytes);
    }
    // A hidden object is skipped, as a hidden file is.
    put(&s3, "in/.tmp/junk.ndjson", b"{not json\n".to_vec());

    let local_out = tmp.path().join("local");
    let o = moto
        .t2p()
        .args(["convert", "--out"])
        .arg(&local_out)
        .args(LAYOUT)
        .arg(&local_in)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let local = files(&local_out);
    let local_manifest: Value = serde_json::from_slice(&local["manifest.json"]).unwrap();
    let local_errors = error_keys(&[&local["errors.ndjson"]]);

    // One run, S3 to S3: the same part files, byte for byte, under the same names.
    let (code, err) = convert(&moto, "s3://arch/single", &[], "s3://arch/in/");
    assert_eq!(code, 3, "{err}");
    let single = objects(&s3, "single");
    for (path, bytes) in &local {
        if path.contains("part-") {
            assert_eq!(single.get(path), Some(bytes), "{path}");
        }
    }
    assert_eq!(
        single.keys().filter(|k| k.contains("part-")).count(),
        local.keys().filter(|k| k.contains("part-")).count()
    );
    assert_eq!(error_keys(&[&single["errors.ndjson"]]), local_errors);
    let m: Value = serde_json::from_slice(&single["manifest.json"]).unwrap();
    assert_eq!(m["totals"], local_manifest["totals"]);
    assert_eq!(
        m["files"], local_manifest["files"],
        "same sizes and checksums"
    );
    assert_eq!(m["inputs"][0]["source"], "s3://arch/in/a.ndjson");
    assert!(
        !single.keys().any(|k| k.contains("lock")),
        "the lock is gone"
    );

    // Again without --overwrite: refused. With it: only the manifest's keys go.
    let (code, err) = convert(&moto, "s3://arch/single", &[], "s3://arch/in/");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--overwrite"), "{err}");
    put(&s3, "single/notes.txt", b"mine".to_vec());
    let (code, err) = convert(&moto, "s3://arch/single", &["--overwrite"], "s3://arch/in/");
    assert_eq!(code, 3, "{err}");
    let again = objects(&s3, "single");
    assert_eq!(again["notes.txt"], b"mine");
    for (k, v) in &single {
        if k != "manifest.json" {
            assert_eq!(again.get(k), Some(v), "{k}");
        }
    }

    // A held lock: exit 2 at once, nothing written.
    put(&s3, "held/.track2pipelines.lock", b"x".to_vec());
    let (code, err) = convert(&moto, "s3://arch/held", &[], "s3://arch/in/");
    assert_eq!(code, 2);
    assert!(err.contains("another run holds it"), "{err}");
    assert_eq!(objects(&s3, "held").len(), 1);

    // 1 to 4 shards one after another, S3 to S3, then merge.
    for n in 1..=4u32 {
        let out = format!("s3://arch/job{n}");
        for k in 0..n {
            let (code, err) = convert(
                &moto,
                &out,
                &["--shard", &format!("{k}/{n}")],
                "s3://arch/in",
            );
            assert!(code == 0 || code == 3, "shard {k}/{n}: {err}");
        }
        let job = objects(&s3, &format!("job{n}"));
        assert_eq!(
            partitions(&job),
            partitions(&local),
            "{n} shards' part files"
        );
        let errs: Vec<&[u8]> = (0..n)
            .map(|k| job[&format!("errors-{k:04}.ndjson")].as_slice())
            .collect();
        assert_eq!(error_keys(&errs), local_errors, "{n} shards' error entries");
        let o = moto.t2p().args(["merge", "--out", &out]).output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let merged: Value =
            serde_json::from_slice(&objects(&s3, &format!("job{n}"))["manifest.json"]).unwrap();
        assert_eq!(merged["totals"], local_manifest["totals"], "{n} shards");
        assert_eq!(merged["shards"], n);
    }
    let job = objects(&s3, "job3");
    // A shard run twice leaves the same objects.
    let (code, err) = convert(&moto, "s3://arch/job3", &["--shard", "1/3"], "s3://arch/in");
    assert!(code == 0 || code == 3, "{err}");
    let rerun = objects(&s3, "job3");
    assert_eq!(
        rerun.keys().collect::<Vec<_>>(),
        job.keys().collect::<Vec<_>>()
    );
    for (k, v) in &job {
        if k.starts_with("manifest-") {
            let a: Value = serde_json::from_slice(v).unwrap();
            let b: Value = serde_json::from_slice(&rerun[k]).unwrap();
            assert_eq!(without_times(a), without_times(b), "{k}");
        } else {
            assert_eq!(&rerun[k], v, "{k}");
        }
    }
    let o = moto
        .t2p()
        .args(["merge", "--out", "s3://arch/job3"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let merged: Value = serde_json::from_slice(&objects(&s3, "job3")["manifest.json"]).unwrap();
    assert_eq!(merged["totals"], local_manifest["totals"]);

    // A missing shard: merge names it and exits 1.
    block(s3.delete(&Key::from("job3/manifest-0002-of-0003.json"))).unwrap();
    let o = moto
        .t2p()
        .args(["merge", "--out", "s3://arch/job3"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("shard 2 (manifest-0002-of-0003.json is missing)"),
        "{stderr}"
    );
}

#[test]
fn s3_failures_are_clear_and_leave_no_manifest() {
    let moto = Moto::start();
    moto.bucket("real");
    let s3 = moto.client("real");
    put(&s3, "in/a.ndjson", crate::inputs::records(50, 1));
    let cases: [(&str, &str, &str); 4] = [
        ("s3://nobucket/in/", "s3://real/out1", "nobucket"),
        (
            "s3://real/in/missing.ndjson",
            "s3://real/out2",
            "no object there",
        ),
        ("s3://real/nothing/", "s3://real/out3", "no object there"),
        ("s3://real/in/", "s3://nobucket/out", "nobucket"),
    ];
    for (input, out, says) in cases {
        let (code, err) = convert(&moto, out, &[], input);
        assert!(code == 1 || code == 2, "{input} -> {out}: exit {code}");
        assert!(err.contains(says), "{input} -> {out}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let left = objects(&s3, "");
    assert!(
        left.keys().all(|k| k.starts_with("in/")),
        "nothing written: {:?}",
        left.keys()
    );

    // Inputs are never outputs: an input at --out is refused; --out inside an input prefix is
    // skipped by the listing.
    let (code, err) = convert(&moto, "s3://real/in", &[], "s3://real/in/");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("inputs are never outputs"), "{err}");
    let mut totals = Vec::new();
    for _ in 0..2 {
        let (code, err) = convert(
            &moto,
            "s3://real/in/converted",
            &["--overwrite"],
            "s3://real/in/",
        );
        assert!(code == 0 || code == 3, "{err}");
        let m: Value =
            serde_json::from_slice(&objects(&s3, "in/converted")["manifest.json"]).unwrap();
        assert_eq!(m["inputs"].as_array().unwrap().len(), 1, "{m}");
        totals.push(m["totals"].clone());
    }
    assert_eq!(
        totals[0], totals[1],
        "the second run did not read the first one's output"
    );
}

#[test]
fn s3_wrong_credentials_are_refused_before_anything_is_written() {
    // After its first request, this server checks access keys: ours is unknown to it.
    let moto = Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "1")]);
    moto.bucket("locked");
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("a.ndjson");
    std::fs::write(&input, crate::inputs::records(20, 1)).unwrap();
    let (code, err) = convert(&moto, "s3://locked/out", &[], input.to_str().unwrap());
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("cannot write to --out s3://locked/out"),
        "{err}"
    );
    assert!(err.contains("InvalidAccessKeyId"), "{err}");
    let local_out = tmp.path().join("out");
    let (code, err) = convert(&moto, local_out.to_str().unwrap(), &[], "s3://locked/in/");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot read input s3://locked/in/"), "{err}");
    assert!(!local_out.exists(), "nothing written");
}

/// SIGTERM while an S3 run uploads its part files (hundreds of them, one PUT each): the run
/// stops (exit 143), deletes what it had uploaded, and puts no manifest.
#[test]
fn s3_sigterm_during_the_uploads_stops_and_removes_what_it_uploaded() {
    let moto = Moto::start();
    moto.bucket("term");
    let s3 = moto.client("term");
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("a.ndjson");
    std::fs::write(&input, crate::inputs::records(20_000, 3)).unwrap();
    let mut child = moto
        .t2p()
        .args(["convert", "--quiet", "--now", "2024-01-01T00:00:00Z"])
        .args(["--partition-by", "type,bucket:64", "--out", "s3://term/out"])
        .arg(&input)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut uploading = false;
    while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
        if objects(&s3, "out").keys().any(|k| k.contains("part-")) {
            uploading = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(uploading, "the run ended before its uploads were seen");
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut status = None;
    while Instant::now() < deadline {
        if let Some(s) = child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = status.expect("the run stopped");
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(143), "{err}");
    let left = objects(&s3, "out");
    assert!(
        left.is_empty(),
        "what the run uploaded is removed: {:?}",
        left.keys()
    );
}

/// A `..` key below an S3 `--out` (legal in S3, not addressable by the object-store client)
/// does not block `--overwrite`: the earlier run's manifest says what is ours. An input prefix
/// holding a key with an empty segment is refused with a message that says why.
#[test]
fn s3_keys_the_client_cannot_name_are_handled() {
    let moto = Moto::start();
    moto.bucket("odd");
    let s3 = moto.client("odd");
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("a.ndjson");
    std::fs::write(&input, crate::inputs::records(50, 4)).unwrap();
    let (code, err) = convert(&moto, "s3://odd/out", &[], input.to_str().unwrap());
    assert!(code == 0 || code == 3, "{err}");
    let first = objects(&s3, "out");
    moto.put_raw("odd", "out/../mine.txt", b"the user's");
    let (code, err) = convert(&moto, "s3://odd/out", &[], input.to_str().unwrap());
    assert_eq!(code, 2, "without --overwrite: {err}");
    assert!(err.contains("--overwrite"), "{err}");
    let (code, err) = convert(
        &moto,
        "s3://odd/out",
        &["--overwrite"],
        input.to_str().unwrap(),
    );
    assert!(code == 0 || code == 3, "{err}");
    // The listing fails on the `..` key, so each key of the first run is read by name.
    for (key, bytes) in &first {
        let got = block(async {
            s3.get(&Key::from(format!("out/{key}")))
                .await?
                .bytes()
                .await
        })
        .unwrap_or_else(|e| panic!("{key}: {e}"));
        if key != "manifest.json" {
            assert!(got[..] == bytes[..], "{key} rewritten with the same bytes");
        }
    }

    moto.put_raw("odd", "in/a.ndjson", &crate::inputs::records(5, 5));
    moto.put_raw("odd", "in//b.ndjson", &crate::inputs::records(5, 6));
    let local = tmp.path().join("out");
    let (code, err) = convert(&moto, local.to_str().unwrap(), &[], "s3://odd/in/");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("empty"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

const SEND_KEY: &str = "s3-send-key";

/// `send --endpoint SRV --state STATE --concurrency 1 --sent-at keep [args] INPUT`, against moto.
fn send(
    moto: &Moto,
    srv: &crate::server::Server,
    state: &std::path::Path,
    args: &[&str],
    input: &str,
) -> (i32, String) {
    finished(
        moto.t2p()
            .env("CIO_WRITE_KEY", SEND_KEY)
            .args(["send", "--progress", "never", "--quiet", "--endpoint"])
            .arg(srv.url())
            .arg("--state")
            .arg(state)
            .args([
                "--concurrency",
                "1",
                "--sent-at",
                "keep",
                "--retry-backoff",
                "10ms",
            ])
            .args(args)
            .arg(input),
    )
}

#[test]
fn send_reads_a_convert_output_and_ndjson_objects_from_a_bucket() {
    let moto = Moto::start();
    moto.bucket("backfill");
    let s3 = moto.client("backfill");
    let tmp = tempfile::tempdir().unwrap();
    let local_in = inputs(tmp.path());
    let flat = [
        "--quiet",
        "--now",
        crate::inputs::NOW,
        "--partition-by",
        "none",
        "--max-file-records",
        "40",
    ];
    // The reference: the same conversion on a local disk, its calls in manifest order.
    let local_out = tmp.path().join("local");
    let (code, err) = finished(
        moto.t2p()
            .args(["convert", "--out"])
            .arg(&local_out)
            .args(flat)
            .arg(&local_in),
    );
    assert_eq!(code, 3, "{err}");
    let want = crate::common::run::manifest_calls(&local_out);
    assert!(want.len() > 100, "{}", want.len());
    let (code, err) = finished(
        moto.t2p()
            .args(["convert", "--out", "s3://backfill/out/"])
            .args(flat)
            .arg(&local_in),
    );
    assert_eq!(code, 3, "{err}");

    // The whole output, from the bucket: every call, in order.
    let srv = crate::server::Server::start(SEND_KEY, 0, false);
    let (code, err) = send(
        &moto,
        &srv,
        &tmp.path().join("st"),
        &[],
        "s3://backfill/out/",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(srv.calls(), want);
    let m: Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("st/send-manifest.json")).unwrap())
            .unwrap();
    assert!(
        m["inputs"][0]["source"]
            .as_str()
            .unwrap()
            .starts_with("s3://backfill/out/part-"),
        "{}",
        m["inputs"]
    );

    // Two shards, each with its own state: every call once in all, each share in order.
    let srv = crate::server::Server::start(SEND_KEY, 0, false);
    let mut shares = Vec::new();
    for k in 0..2 {
        let state = tmp.path().join(format!("st-{k}"));
        let shard = format!("{k}/2");
        let (code, err) = send(
            &moto,
            &srv,
            &state,
            &["--shard", &shard],
            "s3://backfill/out/",
        );
        assert_eq!(code, 0, "{err}");
        shares.push(srv.calls().len());
    }
    assert!(shares[0] > 0 && shares[1] > shares[0], "{shares:?}");
    assert_eq!(srv.calls(), want, "shard 0's share, then shard 1's");

    // Pipelines NDJSON objects under a prefix (no manifest): sent as files are.
    put(
        &s3,
        "nd/b.ndjson",
        format!("{}\n", want[1..3].join("\n")).into_bytes(),
    );
    put(&s3, "nd/a.ndjson", format!("{}\n", want[0]).into_bytes());
    let srv = crate::server::Server::start(SEND_KEY, 0, false);
    let (code, err) = send(
        &moto,
        &srv,
        &tmp.path().join("st-nd"),
        &[],
        "s3://backfill/nd/",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(srv.calls(), want[..3]);
    // --shard wants a convert output, in a bucket as on a disk.
    let (code, err) = send(
        &moto,
        &srv,
        &tmp.path().join("st-x"),
        &["--shard", "0/2"],
        "s3://backfill/nd/",
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not one"), "{err}");

    // A convert still running there (or killed): its lock object, no manifest. Refused.
    put(&s3, "half/.track2pipelines.lock", b"x".to_vec());
    put(
        &s3,
        "half/part-0000-00000.ndjson",
        format!("{}\n", want[0]).into_bytes(),
    );
    let srv = crate::server::Server::start(SEND_KEY, 0, false);
    let (code, err) = send(
        &moto,
        &srv,
        &tmp.path().join("st-half"),
        &[],
        "s3://backfill/half/",
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no manifest.json"), "{err}");
    assert!(srv.seen().is_empty());

    // A part object that changed since the manifest: exit 2, no request.
    let part = objects(&s3, "out")
        .into_keys()
        .find(|k| k.starts_with("part-"))
        .unwrap();
    put(&s3, &format!("out/{part}"), b"{}\n".to_vec());
    let srv = crate::server::Server::start(SEND_KEY, 0, false);
    let (code, err) = send(
        &moto,
        &srv,
        &tmp.path().join("st-bad"),
        &[],
        "s3://backfill/out/",
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("checksum"), "{err}");
    assert!(srv.seen().is_empty());
}
