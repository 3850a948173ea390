//! `send` end to end, delivery and faults: the real binary against the Pipelines-compatible
//! test server of `tests/common/pipelines_server.rs` on 127.0.0.1 (a free port per test).
//!
//! What must hold (docs/send.md): every call arrives, byte for byte but for `sentAt` per
//! `--sent-at`; no body over the limits is ever sent; invalid and oversized lines go to
//! `send-errors.ndjson`; 429 is waited out without using the retry budget; 408, 5xx, timeouts
//! and dropped connections are retried; a refused call is isolated by splitting, its neighbours
//! delivered; 401 stops at once; the rate is never exceeded; `--limit`; recent calls. Every wait
//! is bounded. Resume and state are in `tests/send_state.rs`.

use crate::helpers::*;
use crate::server::{Fault, Server};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tempfile::TempDir;

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
    // Two 429s in a row are within --max-retries 2 (the bound of waits on 429); no retry of
    // the budget is used.
    let o = run(send_cmd(
        &srv,
        &state,
        &[
            "--max-retries",
            "2",
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
    assert!(
        srv.seen()
            .iter()
            .all(|s| s.bytes <= crate::server::MAX_BODY)
    );
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
    // A lower bound, loose enough for a busy machine: 74 gaps of 50 ms take 3.7 s; a sender
    // that stalls or keeps a fifth of the rate takes over 18 s.
    let span = at[74].duration_since(at[0]);
    assert!(
        span < Duration::from_secs(18),
        "75 calls took {span:?} at --rate 20"
    );
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
