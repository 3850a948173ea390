//! `send` against servers that answer like the real API and what stands in front of it
//! (docs/send.md, "What counts as acknowledged"): strict mode, redirects, answers cut off, an
//! endpoint that refuses everything, endless 429s, pages that echo the key, alias calls. The
//! real binary runs against the test server of `tests/common/pipelines_server.rs` on
//! 127.0.0.1; every run is bounded in time, every request loop in count.

use crate::helpers::*;
use crate::server::{Fault, Server};
use base64::Engine;
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tempfile::TempDir;

/// Runs `cmd` to its end, at most `limit`; its status and stderr.
fn bounded(cmd: &mut std::process::Command, limit: Duration) -> (i32, String) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut err, &mut s).unwrap();
        s
    });
    let status = wait_child(child, limit);
    (status, reader.join().unwrap())
}

fn input_of(tmp: &TempDir, lines: &[String]) -> std::path::PathBuf {
    let input = tmp.path().join("calls.ndjson");
    write_lines(&input, lines);
    input
}

/// Batch lines in the ledger (its first line is the header).
fn ledger_batches(state: &std::path::Path) -> usize {
    std::fs::read_to_string(state.join("ledger.ndjson"))
        .unwrap()
        .lines()
        .count()
        - 1
}

#[test]
fn strict_mode_every_acknowledged_call_was_kept_by_the_server() {
    let tmp = TempDir::new().unwrap();
    let input = input_of(&tmp, &calls(120, 10));
    let srv = Server::start(KEY, 0, false);
    let state = tmp.path().join("st");
    let o = run(send_cmd(&srv, &state, &["--max-batch-calls", "25"]).arg(&input));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // Without the header the server would have answered 200 and kept nothing.
    assert_eq!(srv.shared.permissive.load(Ordering::SeqCst), 0);
    let m = manifest(&state);
    assert_eq!(m["calls_acknowledged"], 120);
    assert_eq!(srv.shared.accepted.load(Ordering::SeqCst), 120);
    assert_eq!(delivered(&srv).len(), 120);
    // In strict mode a wrong key is refused, not swallowed.
    let other = Server::start("another-key", 0, false);
    let o = run(send_cmd(&other, &tmp.path().join("st2"), &[]).arg(&input));
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_eq!(other.shared.accepted.load(Ordering::SeqCst), 0);
}

#[test]
fn redirects_are_never_followed_and_the_batch_stays_pending() {
    let tmp = TempDir::new().unwrap();
    let input = input_of(&tmp, &calls(30, 10));
    for status in [302u16, 307] {
        let elsewhere = Server::start(KEY, 0, false);
        let srv = Server::start(KEY, 0, false);
        let location = format!("{}/batch", elsewhere.url());
        *srv.shared.redirect.lock().unwrap() = Some((status, location.clone()));
        let state = tmp.path().join(format!("st{status}"));
        let args = ["--max-batch-calls", "10", "--concurrency", "1"];
        let o = run(send_cmd(&srv, &state, &args).arg(&input));
        assert_eq!(code(&o), 1, "{}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(&format!("HTTP {status}")), "{err}");
        assert!(err.contains(&location), "{err}");
        assert_eq!(elsewhere.shared.requests.load(Ordering::SeqCst), 0);
        assert_eq!(srv.shared.requests.load(Ordering::SeqCst), 1);
        assert_eq!(ledger_batches(&state), 0, "nothing acknowledged");
        // The endpoint fixed, the same command sends everything.
        *srv.shared.redirect.lock().unwrap() = None;
        let o = run(send_cmd(&srv, &state, &args).arg(&input));
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert_eq!(delivered(&srv).len(), 30);
    }
}

#[test]
fn a_success_cut_off_before_its_end_is_retried() {
    let tmp = TempDir::new().unwrap();
    let input = input_of(&tmp, &calls(60, 10));
    let srv = Server::start(KEY, 0, false);
    // The server keeps nothing of a cut-off answer's request: only a retry delivers it.
    srv.push_faults([Fault::CutOff, Fault::Pass, Fault::CutOff, Fault::CutOff]);
    let state = tmp.path().join("st");
    let args = ["--max-batch-calls", "10", "--concurrency", "2"];
    let o = run(send_cmd(&srv, &state, &args).arg(&input));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let d = delivered(&srv);
    assert_eq!(d.len(), 60, "every call recorded by the server");
    let m = manifest(&state);
    assert_eq!(m["calls_acknowledged"], 60);
    assert!(m["retries"]["connection"].as_u64().unwrap() >= 3);
}

#[test]
fn an_endpoint_refusing_everything_stops_and_keeps_the_calls_pending() {
    let tmp = TempDir::new().unwrap();
    let input = input_of(&tmp, &calls(200, 10));
    let args = ["--max-batch-calls", "10", "--concurrency", "4"];
    for status in [404u16, 400, 405] {
        let srv = Server::start(KEY, 0, false);
        *srv.shared.refuse_all.lock().unwrap() = Some(status);
        let state = tmp.path().join(format!("st{status}"));
        let n = stops_refusing_then_resumes(&srv, &state, &args, &input, 200);
        assert!(n <= 6 + 4, "{n} requests");
    }
    // A base URL without its /v1: 404 to everything.
    let srv = Server::start(KEY, 0, false);
    let mut cmd = t2p();
    cmd.env("CIO_WRITE_KEY", KEY)
        .args(["send", "--progress", "never", "--retry-backoff", "10ms"])
        .arg("--endpoint")
        .arg(format!("http://{}", srv.addr))
        .arg("--state")
        .arg(tmp.path().join("nov1"))
        .args(args)
        .arg(&input);
    let (status, err) = bounded(&mut cmd, Duration::from_secs(60));
    assert_eq!(status, 1, "{err}");
    assert!(err.contains("HTTP 404"), "{err}");
    assert!(srv.shared.requests.load(Ordering::SeqCst) <= 10);
}

#[test]
fn retry_refused_sends_the_refused_calls_again_and_only_them() {
    let tmp = TempDir::new().unwrap();
    let mut lines = calls(50, 10);
    for i in [7, 37] {
        lines[i] = lines[i].replace("\"e\"", "\"POISON\"");
    }
    let input = input_of(&tmp, &lines);
    let srv = Server::start(KEY, 0, false);
    *srv.shared.refuse_marker.lock().unwrap() = Some("POISON".into());
    let state = tmp.path().join("st");
    let args = ["--max-batch-calls", "20", "--sent-at", "keep"];
    let o = run(send_cmd(&srv, &state, &args).arg(&input));
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert_eq!(send_errors(&state).len(), 2);
    // Without the flag a rerun has nothing to send.
    let before = srv.shared.requests.load(Ordering::SeqCst);
    let o = run(send_cmd(&srv, &state, &args).arg(&input));
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert_eq!(srv.shared.requests.load(Ordering::SeqCst), before);
    // The server now takes them: --retry-refused sends those two calls and nothing else.
    *srv.shared.refuse_marker.lock().unwrap() = None;
    let mut with = args.to_vec();
    with.push("--retry-refused");
    let o = run(send_cmd(&srv, &state, &with).arg(&input));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let d = delivered(&srv);
    assert_eq!(d.len(), 50);
    assert!(d.values().all(|n| *n == 1), "{d:?}");
    assert!(send_errors(&state).is_empty());
    let m = manifest(&state);
    assert_eq!(m["calls_acknowledged"], 50);
    assert_eq!(m["calls_read"], 50);
    assert_eq!(
        m["calls_refused"]["refused_by_server"]
            .as_u64()
            .unwrap_or(0),
        0
    );
    // Accounting holds on a plain rerun.
    let o = run(send_cmd(&srv, &state, &args).arg(&input));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(manifest(&state)["calls_acknowledged"], 50);
}

#[test]
fn endless_429s_are_bounded() {
    let tmp = TempDir::new().unwrap();
    let input = input_of(&tmp, &calls(20, 10));
    for retry_after in [None, Some("0")] {
        let srv = Server::start(KEY, 0, false);
        *srv.shared.rate_limit_all.lock().unwrap() = Some(retry_after.map(str::to_owned));
        let state = tmp.path().join(format!("st{}", retry_after.is_some()));
        let args = ["--max-retries", "3", "--concurrency", "1", "--rate", "0"];
        let (status, err) = bounded(
            send_cmd(&srv, &state, &args).arg(&input),
            Duration::from_secs(60),
        );
        assert_eq!(status, 1, "{err}");
        assert!(err.contains("429"), "{err}");
        // The first answer and three waits: four requests, however fast the machine.
        assert_eq!(srv.shared.requests.load(Ordering::SeqCst), 4);
        assert_eq!(ledger_batches(&state), 0);
    }
}

#[test]
fn an_answer_echoing_the_key_is_stored_redacted() {
    let tmp = TempDir::new().unwrap();
    let mut lines = calls(30, 10);
    lines[12] = lines[12].replace("\"e\"", "\"POISON\"");
    let input = input_of(&tmp, &lines);
    let srv = Server::start(KEY, 0, false);
    *srv.shared.refuse_marker.lock().unwrap() = Some("POISON".into());
    srv.shared.echo_headers.store(true, Ordering::SeqCst);
    let state = tmp.path().join("st");
    let summary = tmp.path().join("summary.json");
    let mut cmd = send_cmd(&srv, &state, &["--summary-json"]);
    cmd.arg(&summary).arg(&input);
    let o = run(&mut cmd);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let errs = send_errors(&state);
    assert_eq!(errs.len(), 1);
    let answer = errs[0]["answer"].as_str().unwrap();
    assert!(answer.contains("Request blocked"), "{answer}");
    assert!(answer.contains("[redacted]"), "{answer}");
    let b64 = base64::engine::general_purpose::STANDARD;
    let forms = [
        KEY.to_owned(),
        b64.encode(format!("{KEY}:")),
        b64.encode(KEY),
    ];
    let mut files = walk(&state);
    files.push(summary);
    for f in files {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        for form in &forms {
            assert!(
                !text.contains(form.as_str()),
                "{} holds {form}",
                f.display()
            );
        }
    }
    for form in &forms {
        assert!(!stderr(&o).contains(form.as_str()));
    }
}

#[test]
fn alias_calls_go_to_their_own_endpoint_in_order() {
    let tmp = TempDir::new().unwrap();
    let mut lines = calls(6, 1);
    let alias = |i: usize| {
        format!(
            r#"{{"type":"alias","userId":"u{i}","previousId":"anon{i}","messageId":"a{i}","timestamp":"2020-01-01T00:00:00.000Z"}}"#
        )
    };
    lines.insert(3, alias(1));
    lines.insert(4, alias(2));
    lines.push(alias(3));
    let input = input_of(&tmp, &lines);
    let srv = Server::start(KEY, 0, false);
    let state = tmp.path().join("st");
    let args = ["--concurrency", "1", "--sent-at", "keep"];
    let o = run(send_cmd(&srv, &state, &args).arg(&input));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // In input order: the batch before an alias is sent before it.
    assert_eq!(srv.calls(), lines);
    let paths: Vec<(String, usize)> = srv.seen().into_iter().map(|s| (s.path, s.calls)).collect();
    let want = [
        ("/v1/batch", 3),
        ("/v1/alias", 1),
        ("/v1/alias", 1),
        ("/v1/batch", 3),
        ("/v1/alias", 1),
    ];
    let want: Vec<(String, usize)> = want.iter().map(|(p, n)| (p.to_string(), *n)).collect();
    assert_eq!(paths, want);
    assert_eq!(manifest(&state)["calls_acknowledged"], 9);
}

/// An object's own group call (no `userId`, no `anonymousId`: the batch schema's group calls
/// need one) goes alone to `/group`; a group call of a person goes in a batch. End to end from
/// a Track archive, against the strict server, which refuses a user-less group in a batch.
#[test]
fn an_objects_group_call_goes_to_the_group_endpoint() {
    let tmp = TempDir::new().unwrap();
    let object = r#"{"type":"object","identifiers":{"object_type_id":"2","object_id":"course-9"},"action":"identify","attributes":{"title":"Intro"},"timestamp":1700000000}"#;
    let member = r#"{"type":"object","identifiers":{"object_type_id":"2","object_id":"course-9"},"action":"add_relationships","cio_relationships":[{"identifiers":{"id":"42"}}],"timestamp":1700000001}"#;
    let person = r#"{"type":"person","identifiers":{"id":"42"},"action":"identify","attributes":{"plan":"pro"},"timestamp":1699999999}"#;
    let input = tmp.path().join("track.ndjson");
    std::fs::write(&input, format!("{person}\n{object}\n{member}\n")).unwrap();
    let srv = Server::start(KEY, 0, false);
    let state = tmp.path().join("st");
    let args = ["--concurrency", "1", "--from", "track"];
    let o = run(send_cmd(&srv, &state, &args).arg(&input));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let paths: Vec<(String, usize)> = srv.seen().into_iter().map(|s| (s.path, s.calls)).collect();
    let want: Vec<(String, usize)> = [("/v1/batch", 1), ("/v1/group", 1), ("/v1/batch", 1)]
        .iter()
        .map(|(p, n)| (p.to_string(), *n))
        .collect();
    assert_eq!(paths, want);
    let calls = srv.calls();
    assert_eq!(calls.len(), 3);
    assert!(calls[1].contains(r#""groupId":"course-9""#) && !calls[1].contains("userId"));
    assert!(calls[2].contains(r#""userId":"42""#), "{}", calls[2]);
    assert_eq!(manifest(&state)["calls_acknowledged"], 3);
}

#[test]
fn an_endpoint_with_user_information_is_refused() {
    let tmp = TempDir::new().unwrap();
    let input = input_of(&tmp, &calls(3, 1));
    let srv = Server::start(KEY, 0, false);
    let state = tmp.path().join("st");
    let o = run(t2p()
        .env("CIO_WRITE_KEY", KEY)
        .args(["send", "--progress", "never", "--endpoint"])
        .arg(format!("http://user:{KEY}@{}/v1", srv.addr))
        .arg("--state")
        .arg(&state)
        .arg(&input));
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(!stderr(&o).contains(KEY), "{}", stderr(&o));
    assert_eq!(srv.shared.requests.load(Ordering::SeqCst), 0);
    if state.exists() {
        for f in walk(&state) {
            let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
            assert!(!text.contains(KEY), "{}", f.display());
        }
    }
}

#[test]
fn a_success_that_is_not_the_apis_answer_is_no_acknowledgement() {
    let tmp = TempDir::new().unwrap();
    let input = input_of(&tmp, &calls(30, 10));
    let args = ["--max-batch-calls", "10", "--concurrency", "1"];
    // A firewall's or a captive portal's page (one naming the key), and JSON answers that
    // say the calls failed: the API's own success is an empty object.
    let pages = [
        "<html><body><h1>Access granted</h1></body></html>",
        "<html><body>Welcome, test-key-Zq9</body></html>",
        r#"{"meta":{"errors":["the write key is not valid"]}}"#,
        r#"{"success":false}"#,
    ];
    for (i, page) in pages.into_iter().enumerate() {
        let srv = Server::start(KEY, 0, false);
        *srv.shared.answer_all.lock().unwrap() = Some((200, page.to_owned()));
        let state = tmp.path().join(format!("st{i}"));
        let o = run(send_cmd(&srv, &state, &args).arg(&input));
        assert_eq!(code(&o), 1, "{page}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("HTTP 200") && err.contains("not the Pipelines API's"),
            "{err}"
        );
        assert!(!err.contains(KEY), "{err}");
        assert_eq!(srv.shared.requests.load(Ordering::SeqCst), 1);
        assert_eq!(ledger_batches(&state), 0, "nothing acknowledged");
        // The endpoint fixed, the same command sends everything.
        *srv.shared.answer_all.lock().unwrap() = None;
        let o = run(send_cmd(&srv, &state, &args).arg(&input));
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert_eq!(delivered(&srv).len(), 30);
        assert_eq!(manifest(&state)["calls_acknowledged"], 30);
    }
}

#[test]
fn a_key_echoed_where_the_stored_answer_is_cut_is_still_redacted() {
    let tmp = TempDir::new().unwrap();
    let mut lines = calls(30, 10);
    lines[12] = lines[12].replace("\"e\"", "\"POISON\"");
    let input = input_of(&tmp, &lines);
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:"));
    // The first 4 KiB of an answer are stored: the cut falls inside the key, then inside
    // its Basic-auth form.
    let cuts = [
        (4096 - 5, &KEY[..5]),
        (4096 - KEY.len() - 7 - 8, &token[..8]),
    ];
    for (i, (pad, piece)) in cuts.into_iter().enumerate() {
        let srv = Server::start(KEY, 0, false);
        *srv.shared.refuse_marker.lock().unwrap() = Some("POISON".into());
        *srv.shared.echo_at.lock().unwrap() = Some(pad);
        let state = tmp.path().join(format!("st{i}"));
        let o = run(send_cmd(&srv, &state, &["--concurrency", "1"]).arg(&input));
        assert_eq!(code(&o), 3, "{}", stderr(&o));
        let errs = send_errors(&state);
        assert_eq!(errs.len(), 1);
        let answer = errs[0]["answer"].as_str().unwrap();
        assert!(
            answer.len() <= 4096 && answer.starts_with("zzz"),
            "{answer}"
        );
        assert!(
            !answer.contains(piece),
            "a piece of the key is stored: {piece}"
        );
    }
}

#[test]
fn a_bad_first_call_is_refused_not_taken_for_an_endpoint_refusing_everything() {
    let tmp = TempDir::new().unwrap();
    let mut lines = calls(200, 10);
    lines[0] = lines[0].replace("\"e\"", "\"POISON\"");
    let input = input_of(&tmp, &lines);
    let srv = Server::start(KEY, 0, false);
    *srv.shared.refuse_marker.lock().unwrap() = Some("POISON".into());
    // In a page of a firewall's, not the API's own words (which alone would keep the run
    // going): only the halves sharing the bad call tell it from a refusing endpoint.
    srv.shared.echo_headers.store(true, Ordering::SeqCst);
    // One batch, one request at a time: the halves that hold the bad call are refused one
    // after the other before the first half without it is sent.
    let state = tmp.path().join("st");
    let (exit, err) = bounded(
        send_cmd(&srv, &state, &["--concurrency", "1"]).arg(&input),
        Duration::from_secs(60),
    );
    assert_eq!(exit, 3, "{err}");
    let errs = send_errors(&state);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0]["code"], "refused_by_server");
    assert_eq!(errs[0]["line"], 1);
    assert_eq!(delivered(&srv).len(), 199);
    assert_eq!(manifest(&state)["calls_acknowledged"], 199);
}

#[test]
fn an_endpoint_refusing_everything_one_call_at_a_time_records_no_call_as_refused() {
    let tmp = TempDir::new().unwrap();
    let input = input_of(&tmp, &calls(30, 10));
    // Batches of one call (as alias calls are), one request at a time: each batch is done
    // (its call refused) before the next is sent.
    let args = ["--max-batch-calls", "1", "--concurrency", "1"];
    let srv = Server::start(KEY, 0, false);
    *srv.shared.refuse_all.lock().unwrap() = Some(404);
    stops_refusing_then_resumes(&srv, &tmp.path().join("st"), &args, &input, 30);
}

/// Runs `send` against `srv`, which refuses everything with one status: the run stops (exit 1)
/// naming it, with nothing recorded (no refused call, no batch done); once the server takes
/// calls, the same command delivers all `total` calls. Returns the requests of the first run.
fn stops_refusing_then_resumes(
    srv: &Server,
    state: &std::path::Path,
    args: &[&str],
    input: &std::path::Path,
    total: u64,
) -> u64 {
    let status = srv
        .shared
        .refuse_all
        .lock()
        .unwrap()
        .expect("a refusing server");
    let (exit, err) = bounded(
        send_cmd(srv, state, args).arg(input),
        Duration::from_secs(60),
    );
    assert_eq!(exit, 1, "{err}");
    assert!(err.contains(&format!("HTTP {status}")), "{err}");
    assert!(send_errors(state).is_empty(), "no call recorded as refused");
    assert_eq!(ledger_batches(state), 0);
    let requests = srv.shared.requests.load(Ordering::SeqCst);
    *srv.shared.refuse_all.lock().unwrap() = None;
    let o = run(send_cmd(srv, state, args).arg(input));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(delivered(srv).len() as u64, total);
    assert_eq!(manifest(state)["calls_acknowledged"], total);
    requests
}

#[test]
fn bad_calls_the_api_refuses_in_its_own_words_never_stop_the_run() {
    let tmp = TempDir::new().unwrap();
    let mut lines = calls(40, 10);
    // The first 10 calls are bad: more than the refusals in a row that stop a run.
    for line in &mut lines[..10] {
        *line = line.replace("\"e\"", "\"POISON\"");
    }
    let input = input_of(&tmp, &lines);
    let srv = Server::start(KEY, 0, false);
    *srv.shared.refuse_marker.lock().unwrap() = Some("POISON".into());
    // Batches of one call (as alias calls are), one request at a time: each refusal is a
    // batch of its own, as an endpoint refusing everything would give; but the answer is the
    // API's error object, so the calls are refused and the run goes on.
    let args = ["--max-batch-calls", "1", "--concurrency", "1"];
    let state = tmp.path().join("st");
    let (exit, err) = bounded(
        send_cmd(&srv, &state, &args).arg(&input),
        Duration::from_secs(60),
    );
    assert_eq!(exit, 3, "{err}");
    let errs = send_errors(&state);
    assert_eq!(errs.len(), 10, "{errs:?}");
    for (n, e) in errs.iter().enumerate() {
        assert_eq!(e["code"], "refused_by_server");
        assert_eq!(e["line"], n as u64 + 1);
        assert!(e["answer"].as_str().unwrap().contains("meta"), "{e}");
    }
    assert_eq!(delivered(&srv).len(), 30);
    assert_eq!(manifest(&state)["calls_acknowledged"], 30);
}
