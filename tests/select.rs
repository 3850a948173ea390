//! Choosing and reshaping the calls (docs/transforms.md), end to end through the binary: each
//! filter against the same filter computed here, with serde_json, over the unfiltered output;
//! transforms that drop, change and split calls; invalid results, runtime and compile errors;
//! `send` with a selection against the test server; a resume with another selection refused;
//! and every recipe of the cookbook run on its example.

use crate::common::repo_file;
use crate::common::run::{code, convert_cmd, json_lines, manifest, manifest_calls, output, stderr};
use crate::server::Server;
use serde_json::Value;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

fn samples() -> Vec<PathBuf> {
    [
        "samples/track-2023-08.ndjson",
        "samples/events-2023-10.ndjson.zst",
        "samples/v2-entities-2023-09.ndjson.gz",
    ]
    .map(repo_file)
    .to_vec()
}

/// Converts the samples with `opts` (two threads, small blocks: many pieces) into `dir`;
/// returns the calls in manifest order and the manifest.
fn convert(dir: &Path, opts: &[&str]) -> (Vec<String>, Value) {
    let inputs = samples();
    let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let mut all = vec!["--threads", "2", "--block-size", "4KiB"];
    all.extend_from_slice(opts);
    let o = output(&mut convert_cmd(dir, &all, &inputs));
    assert!(matches!(code(&o), 0 | 3), "{}", stderr(&o));
    (manifest_calls(dir), manifest(dir))
}

fn parse(call: &str) -> Value {
    serde_json::from_str(call).unwrap()
}

/// Glob matching written independently of the tool's (recursive, on bytes of ASCII names).
fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        Some((b'?', rest)) => !s.is_empty() && glob(rest, &s[1..]),
        Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

fn event_matches(call: &Value, patterns: &[&str]) -> bool {
    let event = call["event"].as_str().unwrap_or("");
    patterns
        .iter()
        .any(|p| glob(p.as_bytes(), event.as_bytes()))
}

#[test]
fn each_filter_keeps_exactly_what_an_independent_filter_keeps() {
    let tmp = TempDir::new().unwrap();
    let (all, m0) = convert(&tmp.path().join("all"), &[]);
    assert_eq!(m0["totals"]["calls_filtered"], 0);
    let mid = "2023-08-23T10:00:00.000Z";
    type Keep = Box<dyn Fn(&Value) -> bool>;
    let is_track = |c: &Value| c["type"] == "track";
    let cases: Vec<(Vec<&str>, &str, Keep)> = vec![
        (
            vec!["--since", mid],
            "since",
            Box::new(move |c| c["timestamp"].as_str().unwrap() >= mid),
        ),
        (
            vec!["--until", mid],
            "until",
            Box::new(move |c| c["timestamp"].as_str().unwrap() < mid),
        ),
        (
            vec!["--types", "identify,group"],
            "types",
            Box::new(|c| c["type"] == "identify" || c["type"] == "group"),
        ),
        (
            vec!["--events", "*Deleted,Report ?e*"],
            "events",
            Box::new(move |c| !is_track(c) || event_matches(c, &["*Deleted", "Report ?e*"])),
        ),
        (
            vec!["--exclude-events", "User *,Order Completed"],
            "events",
            Box::new(move |c| !is_track(c) || !event_matches(c, &["User *", "Order Completed"])),
        ),
    ];
    for (i, (opts, cause, keep)) in cases.iter().enumerate() {
        let (got, m) = convert(&tmp.path().join(format!("f{i}")), opts);
        let want: Vec<String> = all.iter().filter(|c| keep(&parse(c))).cloned().collect();
        assert!(
            !want.is_empty() && want.len() < all.len(),
            "{opts:?} selects a proper part"
        );
        assert_eq!(
            got, want,
            "{opts:?}: the same calls, byte for byte, in the same order"
        );
        let dropped = (all.len() - want.len()) as u64;
        assert_eq!(m["totals"]["calls_filtered"], dropped, "{opts:?}");
        assert_eq!(
            m["totals"]["calls_filtered_by_cause"][cause], dropped,
            "{opts:?}"
        );
        // The record accounting does not change.
        for k in ["records", "converted", "rejected"] {
            assert_eq!(m["totals"][k], m0["totals"][k], "{opts:?} {k}");
        }
    }
}

#[test]
fn filters_combine_and_count_each_call_under_its_first_cause() {
    let tmp = TempDir::new().unwrap();
    let (all, _) = convert(&tmp.path().join("all"), &[]);
    let (since, until) = ("2023-08-10T00:00:00Z", "2023-10-01T00:00:00Z");
    let summary = tmp.path().join("summary.json");
    let s = summary.to_str().unwrap();
    let opts = [
        "--since",
        since,
        "--until",
        until,
        "--types",
        "track,identify",
        "--exclude-events",
        "Device*",
        "--summary-json",
        s,
    ];
    let (got, m) = convert(&tmp.path().join("f"), &opts);
    let (since_ms, until_ms) = ("2023-08-10T00:00:00.000Z", "2023-10-01T00:00:00.000Z");
    let mut causes = [0u64; 4];
    let mut want = Vec::new();
    for c in &all {
        let v = parse(c);
        let t = v["timestamp"].as_str().unwrap();
        let cause = if t < since_ms {
            Some(0)
        } else if t >= until_ms {
            Some(1)
        } else if v["type"] != "track" && v["type"] != "identify" {
            Some(2)
        } else if v["type"] == "track" && event_matches(&v, &["Device*"]) {
            Some(3)
        } else {
            None
        };
        match cause {
            Some(i) => causes[i] += 1,
            None => want.push(c.clone()),
        }
    }
    assert_eq!(got, want);
    let j: Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    for (i, name) in ["since", "until", "types", "events"].iter().enumerate() {
        let n = m["totals"]["calls_filtered_by_cause"][name]
            .as_u64()
            .unwrap_or(0);
        assert_eq!(n, causes[i], "{name}");
        assert_eq!(
            j["calls_filtered_by_cause"][name].as_u64().unwrap_or(0),
            causes[i]
        );
    }
    assert_eq!(j["calls_filtered"], causes.iter().sum::<u64>());
}

fn program(tmp: &TempDir, name: &str, text: &str) -> PathBuf {
    let p = tmp.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const DROP_CHANGE_SPLIT: &str = r#"
# pages go; track events are upper-cased; an identify also becomes a track call.
if .type == "page" then empty
elif .type == "track" then .event |= ascii_upcase | .properties.upper = true
elif .type == "identify" then ., {type: "track", userId, anonymousId, event: "Identified",
  messageId: (.messageId + "-i"), timestamp}
else . end
"#;

#[test]
fn a_transform_drops_changes_and_splits_calls_the_same_on_any_thread_count() {
    let tmp = TempDir::new().unwrap();
    let (all, m0) = convert(&tmp.path().join("all"), &[]);
    let jq = program(&tmp, "t.jq", DROP_CHANGE_SPLIT);
    let jq = jq.to_str().unwrap();
    let (got, m) = convert(&tmp.path().join("t"), &["--transform", jq]);
    // The same program computed here on the unfiltered calls.
    let mut want: Vec<Value> = Vec::new();
    let mut pages = 0;
    for c in &all {
        let mut v = parse(c);
        match v["type"].as_str().unwrap() {
            "page" => pages += 1,
            "track" => {
                let e = v["event"].as_str().unwrap().to_ascii_uppercase();
                v["event"] = e.into();
                v["properties"]["upper"] = true.into();
                want.push(v);
            }
            "identify" => {
                let mut extra = serde_json::json!({"type": "track", "event": "Identified",
                    "messageId": format!("{}-i", v["messageId"].as_str().unwrap()),
                    "timestamp": v["timestamp"]});
                for k in ["userId", "anonymousId"] {
                    extra[k] = v.get(k).cloned().unwrap_or(Value::Null);
                }
                want.push(v);
                want.push(extra);
            }
            _ => want.push(v),
        }
    }
    let mut got_v: Vec<Value> = got.iter().map(|c| parse(c)).collect();
    let key = |v: &Value| (v["messageId"].as_str().unwrap().to_owned(), v.to_string());
    got_v.sort_by_key(key);
    want.sort_by_key(key);
    assert_eq!(got_v, want);
    assert!(pages > 0);
    assert_eq!(m["totals"]["calls_filtered_by_cause"]["transform"], pages);
    assert_eq!(m["totals"]["converted"], m0["totals"]["converted"]);
    // Keys keep jq's order: the new call's keys in the order the program built them.
    let extra = got
        .iter()
        .find(|c| c.contains(r#""event":"Identified""#))
        .unwrap();
    assert!(extra.starts_with(r#"{"type":"track","userId":"#), "{extra}");
    // One thread or two: byte-identical part files.
    let one = tmp.path().join("one");
    let inputs = samples();
    let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let o = output(&mut convert_cmd(
        &one,
        &["--threads", "1", "--transform", jq],
        &inputs,
    ));
    assert!(matches!(code(&o), 0 | 3), "{}", stderr(&o));
    assert_eq!(manifest_calls(&one), got);
}

#[test]
fn the_program_dot_gives_back_every_call() {
    let tmp = TempDir::new().unwrap();
    let (plain, m0) = convert(&tmp.path().join("plain"), &[]);
    let dot = program(&tmp, "dot.jq", ".");
    let (same, m) = convert(
        &tmp.path().join("dot"),
        &["--transform", dot.to_str().unwrap()],
    );
    assert!(plain.len() > 100);
    assert_eq!(same.len(), plain.len());
    for (a, b) in same.iter().zip(&plain) {
        // The same JSON, in the same order; the same bytes unless the call spelled a
        // character with an escape the writer does not make (\u00e9, \/).
        assert_eq!(parse(a), parse(b));
        if !b.contains("\\u") && !b.contains("\\/") {
            assert_eq!(a, b);
        }
    }
    assert_eq!(m["totals"]["calls"], m0["totals"]["calls"]);
    assert_eq!(m["totals"]["rejected"], m0["totals"]["rejected"]);
}

fn errors_of(dir: &Path) -> Vec<Value> {
    json_lines(&dir.join("errors.ndjson"))
}

#[test]
fn an_invalid_result_and_a_runtime_error_are_error_entries_with_the_call_as_raw() {
    let tmp = TempDir::new().unwrap();
    let (all, m0) = convert(&tmp.path().join("all"), &[]);
    let bad = program(
        &tmp,
        "bad.jq",
        "if .type == \"alias\" then del(.previousId)\nelif .type == \"screen\" then error(\"no screens here\")\nelse . end\n",
    );
    let dir = tmp.path().join("bad");
    let (got, m) = convert(&dir, &["--transform", bad.to_str().unwrap()]);
    let count = |t: &str| all.iter().filter(|c| parse(c)["type"] == t).count() as u64;
    assert_eq!(m["totals"]["rejects"]["transform_invalid"], count("alias"));
    assert_eq!(m["totals"]["rejects"]["transform_error"], count("screen"));
    assert!(
        got.iter()
            .all(|c| !c.contains(r#""type":"alias""#) && !c.contains(r#""type":"screen""#))
    );
    let entries = errors_of(&dir);
    let invalid: Vec<&Value> = entries
        .iter()
        .filter(|e| e["code"] == "transform_invalid")
        .collect();
    assert_eq!(invalid.len() as u64, count("alias"));
    for e in &invalid {
        let raw = e["raw"].as_str().unwrap();
        assert!(
            all.iter().any(|c| c == raw),
            "raw is the call before the transform: {raw}"
        );
        assert!(e["message"].as_str().unwrap().contains("previousId"), "{e}");
    }
    let runtime = entries
        .iter()
        .find(|e| e["code"] == "transform_error")
        .unwrap();
    assert!(
        runtime["message"]
            .as_str()
            .unwrap()
            .contains("no screens here")
    );
    assert!(all.iter().any(|c| c == runtime["raw"].as_str().unwrap()));
    // Nothing lost: rejected records are counted as such.
    let rejected = m["totals"]["rejected"].as_u64().unwrap();
    assert!(rejected > m0["totals"]["rejected"].as_u64().unwrap());
}

#[test]
fn a_call_nested_too_deep_for_jq_values_is_a_transform_error_not_a_crash() {
    let tmp = TempDir::new().unwrap();
    let mut deep = String::from("1");
    for _ in 0..1000 {
        deep = format!(r#"{{"a":{deep}}}"#);
    }
    let input = tmp.path().join("deep.ndjson");
    let shallow = r#"{"type":"person","identifiers":{"id":"2"},"action":"event","name":"ok","timestamp":1700000000}"#;
    std::fs::write(
        &input,
        format!(
            "{{\"type\":\"person\",\"identifiers\":{{\"id\":\"1\"}},\"action\":\"event\",\"name\":\"x\",\"timestamp\":1700000000,\"attributes\":{{\"deep\":{deep}}}}}\n{shallow}\n"
        ),
    )
    .unwrap();
    let dot = program(&tmp, "dot.jq", ".");
    let dir = tmp.path().join("out");
    let o = output(&mut convert_cmd(
        &dir,
        &["--transform", dot.to_str().unwrap()],
        &[input.as_path()],
    ));
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let entries = errors_of(&dir);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["code"], "transform_error");
    assert_eq!(entries[0]["line"], 1);
    assert!(
        entries[0]["message"]
            .as_str()
            .unwrap()
            .contains("nested too deep")
    );
    let calls = manifest_calls(&dir);
    assert_eq!(calls.len(), 1);
    assert!(calls[0].contains(r#""userId":"2""#), "{}", calls[0]);
}

#[test]
fn a_program_that_does_not_compile_exits_2_before_anything_is_written() {
    let tmp = TempDir::new().unwrap();
    let jq = program(&tmp, "broken.jq", ".event = \"x\"\n| if .type then\n");
    let out = tmp.path().join("out");
    let inputs = samples();
    let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let o = output(&mut convert_cmd(
        &out,
        &["--transform", jq.to_str().unwrap()],
        &inputs,
    ));
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("broken.jq:") && err.contains("does not compile"),
        "{err}"
    );
    assert!(!out.exists(), "nothing written");
    let undefined = program(&tmp, "undef.jq", "no_such_filter(1)");
    let o = output(&mut convert_cmd(
        &out,
        &["--transform", undefined.to_str().unwrap()],
        &inputs,
    ));
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("undef.jq:1:1: undefined filter"),
        "{}",
        stderr(&o)
    );
    let o = output(&mut convert_cmd(
        &out,
        &["--types", "track,purchase"],
        &inputs,
    ));
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("purchase"));
    assert!(!out.exists());
}

#[test]
fn send_with_filters_and_a_transform_delivers_exactly_the_selection() {
    let tmp = TempDir::new().unwrap();
    let (out, lines) = crate::helpers::converted_samples(&tmp);
    let srv = Server::start(crate::helpers::KEY, 0, false);
    let state = tmp.path().join("st");
    let jq = program(&tmp, "t.jq", ".properties.sent_by = \"replay\"");
    let o = output(
        crate::helpers::send_cmd(
            &srv,
            &state,
            &[
                "--sent-at",
                "keep",
                "--types",
                "track",
                "--exclude-events",
                "*Deleted",
                "--transform",
                jq.to_str().unwrap(),
            ],
        )
        .arg(&out),
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let mut want: Vec<Value> = lines
        .iter()
        .map(|c| parse(c))
        .filter(|v| v["type"] == "track" && !event_matches(v, &["*Deleted"]))
        .map(|mut v| {
            v["properties"]["sent_by"] = "replay".into();
            v
        })
        .collect();
    let mut got: Vec<Value> = srv.calls().iter().map(|c| parse(c)).collect();
    let key = |v: &Value| v["messageId"].as_str().unwrap().to_owned();
    got.sort_by_key(key);
    want.sort_by_key(key);
    assert_eq!(got, want);
    let m = crate::helpers::manifest(&state);
    assert_eq!(m["calls_acknowledged"], want.len());
    assert_eq!(m["calls_filtered"], (lines.len() - want.len()) as u64);
    assert_eq!(m["calls_unacknowledged"], 0);
}

#[test]
fn a_state_made_with_another_selection_is_refused_unless_restart() {
    let tmp = TempDir::new().unwrap();
    let (out, lines) = crate::helpers::converted_samples(&tmp);
    let srv = Server::start(crate::helpers::KEY, 0, false);
    let state = tmp.path().join("st");
    let send = |args: &[&str]| output(crate::helpers::send_cmd(&srv, &state, args).arg(&out));
    let o = send(&["--types", "identify"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let identifies = lines
        .iter()
        .filter(|c| parse(c)["type"] == "identify")
        .count();
    assert_eq!(srv.calls().len(), identifies);
    let o = send(&["--types", "identify,track"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--restart"), "{}", stderr(&o));
    assert_eq!(
        srv.calls().len(),
        identifies,
        "nothing sent on a refused resume"
    );
    // The same selection resumes (nothing left to send).
    let o = send(&["--types", "identify"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(srv.calls().len(), identifies);
    let o = send(&["--types", "identify,track", "--restart"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn send_from_track_applies_the_selection_in_its_conversion() {
    let tmp = TempDir::new().unwrap();
    let srv = Server::start(crate::helpers::KEY, 0, false);
    let state = tmp.path().join("st");
    let input = repo_file("samples/track-2023-08.ndjson");
    let from_track = |types| {
        [
            "--from",
            "track",
            "--now",
            crate::common::NOW,
            "--types",
            types,
        ]
    };
    let o = output(crate::helpers::send_cmd(&srv, &state, &from_track("alias,group")).arg(&input));
    // 3: the sample holds records the mapping rejects.
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let all = {
        let dir = tmp.path().join("all");
        let o = output(&mut convert_cmd(&dir, &[], &[&input]));
        assert!(matches!(code(&o), 0 | 3));
        manifest_calls(&dir)
    };
    let want = all
        .iter()
        .filter(|c| matches!(parse(c)["type"].as_str(), Some("alias" | "group")))
        .count();
    assert!(want > 0);
    assert_eq!(srv.calls().len(), want);
    let m = crate::helpers::manifest(&state);
    assert_eq!(m["calls_filtered"], (all.len() - want) as u64);
    // Another selection: the conversion is not reused, the state refused.
    let o = output(crate::helpers::send_cmd(&srv, &state, &from_track("alias")).arg(&input));
    assert_eq!(code(&o), 2, "{}", stderr(&o));
}

/// Sends `input` through `recipe` to the test server (`--sent-at keep`); returns the calls as
/// the server received them, in order (one batch), and the run's exit status.
/// The calls the test server kept, and the run's exit status (its stderr printed when it is
/// not 0).
fn send_through(tmp: &TempDir, recipe: &Path, input: &Path, extra: &[&str]) -> (Vec<String>, i32) {
    let srv = Server::start(crate::helpers::KEY, 0, false);
    let state = tmp.path().join(format!(
        "st-{}",
        recipe.file_stem().unwrap().to_string_lossy()
    ));
    // One request in flight: the calls arrive in input order (an alias call goes alone to
    // /alias, and with more requests in flight it could overtake the batch before it).
    let mut args = vec![
        "--transform",
        recipe.to_str().unwrap(),
        "--concurrency",
        "1",
    ];
    args.extend_from_slice(extra);
    let o = output(crate::helpers::send_cmd(&srv, &state, &args).arg(input));
    if code(&o) != 0 {
        eprintln!("{}", String::from_utf8_lossy(&o.stderr));
    }
    (srv.calls(), code(&o))
}

#[test]
fn every_cookbook_recipe_turns_its_example_into_the_documented_calls() {
    let tmp = TempDir::new().unwrap();
    let dir = repo_file("docs/transforms");
    let mut recipes: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jq"))
        .collect();
    recipes.sort();
    let mut tested = 0;
    for recipe in &recipes {
        let stem = recipe.file_stem().unwrap().to_string_lossy().into_owned();
        let input = dir.join(format!("{stem}.in.ndjson"));
        if stem == "segment-archive" {
            continue; // tested on its archive file below
        }
        let want = std::fs::read_to_string(dir.join(format!("{stem}.out.ndjson"))).unwrap();
        let want: Vec<String> = want.lines().map(crate::common::canon).collect();
        let (got, status) = send_through(&tmp, recipe, &input, &["--sent-at", "keep"]);
        assert_eq!(status, 0, "{stem}");
        let got: Vec<String> = got.iter().map(|c| crate::common::canon(c)).collect();
        assert_eq!(
            got, want,
            "{stem}: the calls of {stem}.out.ndjson, keys in their order"
        );
        tested += 1;
    }
    assert_eq!(tested, 7, "every recipe has its example");
}

#[test]
fn a_segment_storage_archive_becomes_calls_send_delivers() {
    let tmp = TempDir::new().unwrap();
    let recipe = repo_file("docs/transforms/segment-archive.jq");
    let archive = repo_file("tests/segment/archive.ndjson.gz");
    let (got, status) = send_through(&tmp, &recipe, &archive, &[]);
    assert_eq!(status, 0);
    let calls: Vec<Value> = got.iter().map(|c| parse(c)).collect();
    let types: Vec<&str> = calls.iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "identify", "track", "page", "screen", "group", "alias", "track"
        ]
    );
    for (c, text) in calls.iter().zip(&got) {
        for gone in [
            "projectId",
            "writeKey",
            "_metadata",
            "receivedAt",
            "originalTimestamp",
            "version",
            "channel",
            "rudderId",
            "request_ip",
        ] {
            assert!(c.get(gone).is_none(), "{gone} left in {text}");
        }
        assert!(
            !text.contains("archive-writekey"),
            "the archive's key is never sent"
        );
        assert!(
            c.as_object().unwrap().values().all(|v| !v.is_null()),
            "{text}"
        );
        assert!(
            c["messageId"].is_string() && c["timestamp"].is_string(),
            "{text}"
        );
        assert!(c["sentAt"].is_string(), "send sets sentAt: {text}");
    }
    // The call's own time is kept; a call without one takes the archive's original time.
    assert_eq!(calls[1]["timestamp"], "2015-12-12T19:11:01.249Z");
    assert_eq!(calls[5]["timestamp"], "2015-02-23T22:31:00.000Z");
    assert_eq!(
        calls[3]["anonymousId"],
        "3a12eab0-bca7-11e4-8dfc-aa07a5b093db"
    );
    assert!(
        calls[1].get("integrations").is_none(),
        "an empty integrations is dropped"
    );
    // Without the recipe the same archive would carry the storage fields (and the key) out.
    let plain = tmp.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let srv = Server::start(crate::helpers::KEY, 0, false);
    let o = output(crate::helpers::send_cmd(&srv, &plain.join("st"), &[]).arg(&archive));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let sent = srv.calls();
    assert!(!sent.is_empty(), "{}", stderr(&o));
    assert_eq!(sent.len(), 7, "{}", stderr(&o));
    assert!(
        sent.iter().all(|c| c.contains("\"receivedAt\"")),
        "{sent:?}"
    );
    assert_eq!(
        sent.iter()
            .filter(|c| c.contains("archive-writekey"))
            .count(),
        6
    );
}
