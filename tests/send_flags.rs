//! `send`'s flags (and the shard count of `plan` and `merge`), end to end: the values `send`
//! refuses before anything is sent (limits above the API's, an endpoint holding a secret,
//! conversion options without `--from track`, a summary file on an input), and a `--help` that
//! describes every option under its heading (docs/send.md, "Options"). Every refusal runs the
//! real binary against the test server of `tests/common/pipelines_server.rs` on 127.0.0.1 and
//! proves that it received no request and that the state directory was not made.

use crate::helpers::*;
use crate::server::Server;
use std::path::Path;
use std::sync::atomic::Ordering;
use tempfile::TempDir;

/// Runs `send` with `args` on ten calls; asserts exit 2, no request and no state directory,
/// and returns stderr.
fn refused(tmp: &TempDir, args: &[&str]) -> String {
    let input = tmp.path().join("calls.ndjson");
    write_lines(&input, &calls(10, 5));
    let srv = Server::start(KEY, 0, false);
    let state = tmp.path().join("st-refused");
    let o = run(send_cmd(&srv, &state, args).arg(&input));
    let err = stderr(&o);
    assert_eq!(code(&o), 2, "{args:?}: {err}");
    assert_eq!(srv.shared.requests.load(Ordering::SeqCst), 0, "{args:?}");
    assert!(!state.exists(), "{args:?}: the state directory was made");
    err
}

/// Runs `send` with `args` on ten calls; asserts that all ten were delivered.
fn accepted(tmp: &TempDir, args: &[&str]) {
    let input = tmp.path().join("calls.ndjson");
    write_lines(&input, &calls(10, 5));
    let srv = Server::start(KEY, 0, false);
    let state = tmp.path().join(format!("st-{}", args.join("-")));
    let o = run(send_cmd(&srv, &state, args).arg(&input));
    assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
    assert_eq!(delivered(&srv).len(), 10, "{args:?}");
}

#[test]
fn limits_the_api_would_drop_silently_are_refused() {
    let tmp = TempDir::new().unwrap();
    for (args, limit) in [
        (["--max-batch-bytes", "500001"], "500000"),
        (["--max-batch-bytes", "5000000"], "500000"),
        (["--max-batch-bytes", "0"], "500000"),
        (["--max-call-bytes", "32769"], "32768"),
        (["--max-call-bytes", "100000"], "32768"),
        (["--max-call-bytes", "0"], "32768"),
    ] {
        let err = refused(&tmp, &args);
        assert!(err.contains(args[0]), "{args:?}: {err}");
        assert!(
            err.contains(limit) && err.contains("Pipelines API"),
            "{args:?}: the message names the API's limit: {err}"
        );
    }
    let err = refused(&tmp, &["--max-batch-calls", "0"]);
    assert!(err.contains("--max-batch-calls"), "{err}");
    // The API's own limits are accepted.
    accepted(
        &tmp,
        &["--max-batch-bytes", "500000", "--max-call-bytes", "32768"],
    );
}

#[test]
fn limits_are_refused_in_a_dry_run_too() {
    let tmp = TempDir::new().unwrap();
    let err = refused(&tmp, &["--dry-run", "--max-batch-bytes", "600000"]);
    assert!(err.contains("500000"), "{err}");
}

#[test]
fn an_endpoint_with_user_information_is_refused_without_echoing_it() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("calls.ndjson");
    write_lines(&input, &calls(10, 5));
    let srv = Server::start(KEY, 0, false);
    for (n, endpoint) in [
        format!("http://user:S3cretKey@{}/v1", srv.addr),
        format!("http://S3cretKey@{}/v1", srv.addr),
        "http://user:S3cretKey@".to_owned(),
    ]
    .iter()
    .enumerate()
    {
        let state = tmp.path().join(format!("st{n}"));
        let o = run(t2p()
            .env("CIO_WRITE_KEY", KEY)
            .args(["send", "--progress", "never", "--endpoint", endpoint])
            .arg("--state")
            .arg(&state)
            .arg(&input));
        let err = stderr(&o);
        assert_eq!(code(&o), 2, "{endpoint}: {err}");
        assert!(err.contains("user information"), "{err}");
        assert!(!err.contains("S3cretKey"), "the secret is echoed: {err}");
        assert!(!String::from_utf8_lossy(&o.stdout).contains("S3cretKey"));
        assert!(!state.exists(), "the state directory was made");
    }
    assert_eq!(srv.shared.requests.load(Ordering::SeqCst), 0);
}

#[test]
fn an_endpoint_with_a_query_or_a_fragment_is_refused() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("calls.ndjson");
    write_lines(&input, &calls(10, 5));
    let srv = Server::start(KEY, 0, false);
    // `/batch` would land in the query or the fragment, and the calls on the base's own path.
    for (n, suffix) in ["?token=abc", "#part", "?"].iter().enumerate() {
        let state = tmp.path().join(format!("st{n}"));
        let endpoint = format!("{}{suffix}", srv.url());
        let o = run(t2p()
            .env("CIO_WRITE_KEY", KEY)
            .args(["send", "--progress", "never", "--endpoint", &endpoint])
            .arg("--state")
            .arg(&state)
            .arg(&input));
        let err = stderr(&o);
        assert_eq!(code(&o), 2, "{endpoint}: {err}");
        assert!(err.contains("query or a fragment"), "{err}");
        assert!(!err.contains("token=abc"), "{err}");
        assert!(!state.exists(), "the state directory was made");
    }
    assert_eq!(srv.shared.requests.load(Ordering::SeqCst), 0);
}

/// Every option `send --help` lists under the conversion heading, each with a value that is
/// valid for it.
const CONVERSION_OPTIONS: [&[&str]; 9] = [
    &["--email-trait"],
    &["--now", "2026-01-01T00:00:00Z"],
    &["--message-ids", "random"],
    // The default value, given: still a conversion option given without a conversion.
    &["--message-ids", "derived"],
    &["--csv-layout", "http"],
    &["--input-format", "ndjson"],
    &["--integrations", "{}"],
    &["--max-line-bytes", "1MiB"],
    &["--threads", "2"],
];

#[test]
fn conversion_options_without_from_track_are_refused() {
    let tmp = TempDir::new().unwrap();
    for args in CONVERSION_OPTIONS {
        let err = refused(&tmp, args);
        assert!(
            err.contains(&format!("{} needs --from track", args[0])),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn conversion_options_with_from_track_are_taken() {
    let tmp = TempDir::new().unwrap();
    let srv = Server::start(KEY, 0, false);
    let state = tmp.path().join("st");
    let mut args = vec!["--from", "track"];
    // Each once (--message-ids twice would be a clap error).
    for a in CONVERSION_OPTIONS
        .iter()
        .filter(|a| a.get(1) != Some(&"derived"))
    {
        args.extend_from_slice(a);
    }
    let o = run(send_cmd(&srv, &state, &args).arg(repo("samples/track-2023-08.ndjson")));
    assert_eq!(code(&o), 3, "the sample holds rejects: {}", stderr(&o));
    let calls = srv.calls();
    assert!(!calls.is_empty());
    // --integrations {} reached the conversion.
    assert!(calls.iter().all(|c| c.contains(r#""integrations":{}"#)));
}

/// The options of a `--help` text, each with the lines that describe it; fails the test when
/// an option has none.
fn described_options(help: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = help.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let indent = line.len() - t.len();
        if !(t.starts_with("--") || t.starts_with("-h") || t.starts_with("-q")) || indent > 6 {
            continue;
        }
        let name = t
            .split([' ', ','])
            .find(|w| w.starts_with("--"))
            .unwrap()
            .to_owned();
        // Short help puts the description on the option's line, after two spaces; long help
        // on the lines below, indented.
        let same_line = t.split_once("  ").map(|(_, d)| d.trim());
        let description: Vec<&str> = same_line
            .into_iter()
            .chain(lines[i + 1..].iter().copied())
            .take_while(|l| {
                same_line.is_some_and(|d| d == *l)
                    || l.starts_with(&" ".repeat(indent + 4))
                    || l.trim().is_empty()
            })
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
            .collect();
        let text = description.join(" ");
        assert!(
            text.split_whitespace().count() >= 2
                && !text.starts_with('[')
                && !text.starts_with("Possible values"),
            "{name} has no description in --help"
        );
        out.push((name, text));
    }
    out
}

/// The options under `heading` in a `--help` text.
fn under<'a>(help: &'a str, heading: &str) -> Vec<&'a str> {
    let mut lines = help.lines().skip_while(|l| *l != format!("{heading}:"));
    assert!(lines.next().is_some(), "no heading {heading:?} in --help");
    lines
        .take_while(|l| l.is_empty() || l.starts_with(' '))
        .filter_map(|l| {
            let t = l.trim_start();
            (l.len() - t.len() <= 6 && t.starts_with("--")).then(|| t.split(' ').next().unwrap())
        })
        .collect()
}

fn help_of(command: &str) -> String {
    let o = run(t2p().args([command, "--help"]));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn send_help_describes_every_option_under_its_heading() {
    let help = help_of("send");
    let options = described_options(&help);
    assert!(options.len() >= 30, "{help}");
    for heading in [
        "State and resume",
        "Delivery",
        "Limits",
        "Conversion (with --from track)",
        "Output",
        "Progress",
    ] {
        assert!(!under(&help, heading).is_empty(), "{heading}: {help}");
    }
    let conversion = under(&help, "Conversion (with --from track)");
    for option in CONVERSION_OPTIONS.iter().map(|a| a[0]).chain(["--from"]) {
        assert!(conversion.contains(&option), "{option} in {conversion:?}");
    }
    for option in ["--max-batch-bytes", "--max-call-bytes", "--max-batch-calls"] {
        assert!(under(&help, "Limits").contains(&option), "{option}");
    }
    // --sent-at says what each value does and why `send` is the default.
    let sent_at = &options.iter().find(|(n, _)| n == "--sent-at").unwrap().1;
    for words in [
        "send:",
        "keep:",
        "omit:",
        "clock skew",
        "default",
        "[default: send]",
    ] {
        assert!(
            sent_at.contains(words),
            "--sent-at lacks {words:?}: {sent_at}"
        );
    }
    // The limits say what the API takes.
    let batch = &options
        .iter()
        .find(|(n, _)| n == "--max-batch-bytes")
        .unwrap()
        .1;
    assert!(batch.contains("500000 at most"), "{batch}");
}

#[test]
fn every_command_describes_every_option() {
    for command in ["convert", "check", "plan", "merge", "send"] {
        let help = help_of(command);
        let options = described_options(&help);
        assert!(options.len() >= 2, "{command}: {help}");
    }
    let plan = help_of("plan");
    assert!(
        described_options(&plan)
            .iter()
            .any(|(n, _)| n == "--input-format"),
        "{plan}"
    );
}

#[test]
fn a_state_made_before_is_untouched_by_a_refusal() {
    // A refusal happens before the state is opened: an existing state keeps its files.
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("calls.ndjson");
    write_lines(&input, &calls(10, 5));
    let srv = Server::start(KEY, 0, false);
    let state = tmp.path().join("st");
    let o = run(send_cmd(&srv, &state, &[]).arg(&input));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let before = snapshot(&state);
    let requests = srv.shared.requests.load(Ordering::SeqCst);
    let o = run(send_cmd(&srv, &state, &["--restart", "--max-call-bytes", "0"]).arg(&input));
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert_eq!(snapshot(&state), before, "--restart ran before the refusal");
    assert_eq!(srv.shared.requests.load(Ordering::SeqCst), requests);
}

#[test]
fn a_summary_json_on_an_input_is_refused() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("calls.ndjson");
    write_lines(&input, &calls(10, 5));
    let before = std::fs::read(&input).unwrap();
    let srv = Server::start(KEY, 0, false);
    let state = tmp.path().join("st");
    let summary = input.to_str().unwrap();
    let o = run(send_cmd(&srv, &state, &["--summary-json", summary]).arg(&input));
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--summary-json"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(&input).unwrap(),
        before,
        "the input was overwritten"
    );
    assert_eq!(srv.shared.requests.load(Ordering::SeqCst), 0);
}

fn snapshot(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = walk(dir)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn plan_and_merge_refuse_a_shard_count_of_zero() {
    // merge --shards 0 panicked (an index out of bounds) before its flags were validated.
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("calls.ndjson");
    write_lines(&input, &calls(3, 5));
    for args in [
        vec![
            "merge",
            "--shards",
            "0",
            "--out",
            tmp.path().to_str().unwrap(),
        ],
        vec!["plan", "--shards", "0", input.to_str().unwrap()],
        vec![
            "merge",
            "--shards",
            "10001",
            "--out",
            tmp.path().to_str().unwrap(),
        ],
    ] {
        let o = run(t2p().args(&args));
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("--shards is 1 to 10000"),
            "{}",
            stderr(&o)
        );
    }
}
