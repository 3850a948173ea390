//! Nothing lost and no crash under bad input: property tests of the library on arbitrary bytes
//! and arbitrary JSON in the known record shapes, limits (deep nesting, huge strings, objects
//! with 100k keys, over-long lines), and property tests of the binary on generated files whose
//! manifest and error file must account for every record. Through the binary too: CSV headers
//! that cannot be read, headers and JSON values 200 000 levels deep, RFC 3339 offsets and
//! years out of bounds, lone surrogate escapes.
//!
//! The invariants (docs/mapping.md): every record is either converted or has exactly one
//! error-file entry (`records = converted + rejected`); every entry carries the record's bytes
//! (`raw`, or `raw_base64` when they are not UTF-8), and for a whole-line reject those bytes
//! are the input line, found again at the entry's `offset`.

use crate::common::output::{RunOut, check_accounting, n};
use crate::common::run::{
    code, convert_cmd, files, json_lines, manifest, manifest_parts, output, stderr, write_file,
};
use base64::Engine;
use proptest::prelude::*;
use serde_json::Value;
use serde_json::value::RawValue;
use std::ffi::OsStr;
use std::path::Path;
use tempfile::TempDir;
use track2pipelines::translate::{Counts, Options, Output, translate_line};

fn opts() -> Options {
    Options::new(crate::common::NOW_MS)
}

/// Translates `line` and checks what must hold for any input; returns the counts and output.
fn translate_checked(opts: &Options, line: &[u8]) -> (Counts, Output) {
    let mut out = Output::default();
    let c = translate_line(opts, line, &mut out);
    assert!(c.records >= 1, "a record counts");
    assert_eq!(c.records, c.converted + c.rejected, "{c:?}");
    assert_eq!(out.rejects.len() as u64, c.rejected, "one entry per reject");
    if c.converted == 0 {
        assert!(out.calls.is_empty(), "a rejected record keeps no calls");
    }
    for r in &out.rejects {
        if r.item.is_some() {
            let raw = r.raw.as_deref().expect("a batch item's entry has its text");
            serde_json::from_str::<&RawValue>(raw).expect("a batch item's text is JSON");
        }
    }
    for i in 0..out.calls.len() {
        let call = out.call_bytes(i);
        let text = std::str::from_utf8(call).expect("calls are UTF-8");
        assert!(text.ends_with('\n') && !text[..text.len() - 1].contains('\n'));
        serde_json::from_str::<&RawValue>(text).expect("a call is JSON");
        if opts.max_call_bytes > 0 {
            assert!(text.len() - 1 <= opts.max_call_bytes, "call over the limit");
        }
    }
    (c, out)
}

fn reject_code(out: &Output) -> &'static str {
    assert_eq!(out.rejects.len(), 1, "one reject");
    out.rejects[0].reject.code.as_str()
}

// ------------------------------------------------------------------------------------------
// The library on arbitrary input

/// Inputs of the conformance suite: real records to mutate.
fn seeds() -> Vec<Vec<u8>> {
    crate::common::cases()
        .into_iter()
        .map(|c| c.input.into_bytes())
        .collect()
}

/// A byte-level mutation of a valid record.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Truncate(usize),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let special = prop_oneof![
        Just(b"\0".to_vec()),
        Just(b"\xff\xfe".to_vec()),
        Just(b"\xed\xa0\x80".to_vec()), // an encoded surrogate: invalid UTF-8
        Just(b"\\u0000".to_vec()),
        Just(b"\\ud800".to_vec()),
        Just(b"\xef\xbb\xbf".to_vec()),
        Just(b"[[[[[[[[".to_vec()),
        Just(b"{\"a\":".to_vec()),
        Just(b"1e999999".to_vec()),
        Just(b"-0".to_vec()),
        Just(b"null".to_vec()),
        Just(b"\"\"".to_vec()),
        Just(b"\r".to_vec()),
        prop::collection::vec(any::<u8>(), 1..8),
    ];
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), special).prop_map(|(i, s)| Mutation::Insert(i, s)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<usize>()).prop_map(|(i, j)| Mutation::Duplicate(i, j)),
    ]
}

fn mutate(mut line: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        if line.is_empty() {
            break;
        }
        let n = line.len();
        match m {
            Mutation::Flip(i, b) => line[i % n] ^= b | 1,
            Mutation::Insert(i, s) => {
                let at = i % (n + 1);
                line.splice(at..at, s.iter().copied());
            }
            Mutation::Truncate(i) => line.truncate(i % n),
            Mutation::Duplicate(i, j) => {
                let (a, b) = (i % n, j % n);
                let piece = line[a.min(b)..a.max(b)].to_vec();
                line.splice(a..a, piece);
            }
        }
    }
    line
}

/// Arbitrary JSON text: scalars of every kind (odd numbers and escapes included), arrays and
/// objects (duplicate and empty keys included), nested a few levels.
fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        Just("0".to_owned()),
        Just("-1".to_owned()),
        Just("1e400".to_owned()),
        Just("12345678901234567890123".to_owned()),
        Just("1700000000.123456".to_owned()),
        Just("253402300800".to_owned()),
        Just(r#""\u0000\ud83d\ude00\"\\""#.to_owned()),
        Just(r#""""#.to_owned()),
        Just(r#""   ""#.to_owned()),
        Just(r#""01HZX3P8M0QK2V7S9T4W6Y1A2B""#.to_owned()),
        Just(r#""2023-08-24T14:15:22Z""#.to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| f.to_string()),
        ".{0,12}".prop_map(|s| serde_json::to_string(&s).unwrap()),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("id".to_owned()),
                        Just("email".to_owned()),
                        Just("cio_id".to_owned()),
                        Just("identifiers".to_owned()),
                        Just("object_id".to_owned()),
                        Just("object_type_id".to_owned()),
                        Just("relationship_attributes".to_owned()),
                        Just("anonymous_id".to_owned()),
                        Just("".to_owned()),
                        "[a-z_]{1,8}",
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|kv| {
                let members: Vec<String> = kv
                    .into_iter()
                    .map(|(k, v)| format!("{}:{v}", serde_json::to_string(&k).unwrap()))
                    .collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

/// A record of a known shape whose fields are arbitrary JSON.
fn shaped_record() -> impl Strategy<Value = String> {
    let ty = prop_oneof![
        Just(r#""person""#.to_owned()),
        Just(r#""object""#.to_owned()),
        Just(r#""group""#.to_owned()),
        Just(r#""delivery""#.to_owned()),
        json_text(),
    ];
    let action = prop_oneof![
        Just(r#""identify""#),
        Just(r#""event""#),
        Just(r#""page""#),
        Just(r#""screen""#),
        Just(r#""delete""#),
        Just(r#""add_relationships""#),
        Just(r#""delete_relationships""#),
        Just(r#""add_device""#),
        Just(r#""delete_device""#),
        Just(r#""merge""#),
        Just(r#""identify_anonymous""#),
    ];
    let path = prop_oneof![
        Just("/api/v1/customers/42"),
        Just("/api/v1/customers/a%40b.c/events"),
        Just("/api/v1/events"),
        Just("/api/v1/customers/cio_1/devices"),
        Just("/api/v1/customers/42/devices/t%2F1"),
        Just("/api/v1/merge_customers"),
        Just("/api/v1/metrics"),
        Just("/push/events"),
        Just("/api/v2/entity"),
        Just("/api/v2/batch"),
        Just("/api/v1/customers//events"),
        Just("/api/v1/customers/%zz"),
    ];
    let method = prop_oneof![Just("PUT"), Just("POST"), Just("DELETE"), Just("get")];
    let v = json_text;
    prop_oneof![
        (ty, action, v(), v(), v(), v(), v(), v()).prop_map(
            |(ty, action, ids, name, attrs, ts, rel, dev)| format!(
                r#"{{"type":{ty},"action":{action},"identifiers":{ids},"name":{name},"attributes":{attrs},"timestamp":{ts},"cio_relationships":{rel},"device":{dev},"primary":{{"id":"1"}},"secondary":{ids}}}"#
            )
        ),
        (method.clone(), path.clone(), v(), v(), v()).prop_map(|(m, p, body, ts, name)| format!(
            r#"{{"method":"{m}","path":"{p}","body":{body},"timestamp":{ts},"name":{name}}}"#
        )),
        (method, path, v(), v(), v(), v()).prop_map(|(m, p, name, data, ts, dev)| {
            let body = format!(
                r#"{{"name":{name},"data":{data},"timestamp":{ts},"device":{dev},"anonymous_id":{name},"id":{ts},"cio_relationships":{data}}}"#
            );
            format!(
                r#"{{"method":"{m}","path":"{p}","body":{}}}"#,
                serde_json::to_string(&body).unwrap()
            )
        }),
        prop::collection::vec(json_text(), 0..4)
            .prop_map(|items| format!(r#"{{"batch":[{}]}}"#, items.join(","))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_and_are_accounted(line in prop::collection::vec(any::<u8>(), 0..512)) {
        translate_checked(&opts(), &line);
    }

    #[test]
    fn mutated_records_never_panic_and_are_accounted(
        seed in any::<prop::sample::Index>(),
        muts in prop::collection::vec(mutation(), 1..5),
        limit in prop_oneof![Just(0usize), Just(300), Just(32768)],
    ) {
        let seeds = seeds();
        let line = mutate(seed.get(&seeds).clone(), &muts);
        let mut o = opts();
        o.max_call_bytes = limit;
        translate_checked(&o, &line);
    }

    #[test]
    fn arbitrary_json_in_known_shapes_never_panics(record in shaped_record()) {
        let (c, _) = translate_checked(&opts(), record.as_bytes());
        // Deterministic: the same bytes give the same result.
        let (again, _) = translate_checked(&opts(), record.as_bytes());
        prop_assert_eq!(c, again);
    }
}

#[test]
fn nul_bytes_and_invalid_utf8_are_rejected_not_crashed() {
    let o = opts();
    for (line, code) in [
        (&b"\0"[..], "invalid_json"),
        (b"{\"type\":\"person\",\0}", "invalid_json"),
        (b"{\"a\":\"\xff\"}", "invalid_utf8"),
        (b"\xef\xbb\xbf{}", "invalid_json"),
        (
            b"{\"type\":\"person\",\"action\":\"event\",\"name\":\"\xed\xa0\x80\"}",
            "invalid_utf8",
        ),
    ] {
        let (_, out) = translate_checked(&o, line);
        assert_eq!(reject_code(&out), code, "{}", String::from_utf8_lossy(line));
    }
    // A NUL escaped in a string is just a character.
    let line =
        br#"{"type":"person","identifiers":{"id":"a\u0000b"},"action":"event","name":"x\u0000"}"#;
    let (c, _) = translate_checked(&o, line);
    assert_eq!(c.converted, 1);
}

// ------------------------------------------------------------------------------------------
// Limits

const DEPTH: usize = 100_000;

fn event_with_attributes(attrs: &str) -> String {
    format!(
        r#"{{"type":"person","identifiers":{{"id":"42"}},"action":"event","name":"big","attributes":{attrs}}}"#
    )
}

#[test]
fn deep_nesting_is_rejected_or_passed_through_without_recursion() {
    let o = opts();
    // Unbalanced and balanced nesting, at the top and inside a record.
    let open = "[".repeat(DEPTH);
    let (_, out) = translate_checked(&o, open.as_bytes());
    assert_eq!(reject_code(&out), "invalid_json");
    let objects = r#"{"a":"#.repeat(DEPTH);
    let (_, out) = translate_checked(&o, objects.as_bytes());
    assert_eq!(reject_code(&out), "invalid_json");
    let balanced = format!("{}{}", "[".repeat(DEPTH), "]".repeat(DEPTH));
    let (_, out) = translate_checked(&o, balanced.as_bytes());
    assert!(matches!(
        reject_code(&out),
        "invalid_json" | "unknown_shape"
    ));
    let deep_attrs = event_with_attributes(&format!(
        r#"{{"a":{}1{}}}"#,
        "[".repeat(DEPTH),
        "]".repeat(DEPTH)
    ));
    let (_, out) = translate_checked(&o, deep_attrs.as_bytes());
    assert!(matches!(
        reject_code(&out),
        "invalid_json" | "call_too_large"
    ));
    // Without the call limit the value is either refused as too deep or copied through.
    let mut unlimited = opts();
    unlimited.max_call_bytes = 0;
    let (c, out) = translate_checked(&unlimited, deep_attrs.as_bytes());
    if c.converted == 1 {
        assert!(out.buf.len() > 2 * DEPTH);
    } else {
        assert_eq!(reject_code(&out), "invalid_json");
    }
}

#[test]
fn a_huge_string_value_is_call_too_large() {
    let big = "x".repeat(3 << 20);
    let line = event_with_attributes(&format!(r#"{{"s":"{big}"}}"#));
    let (_, out) = translate_checked(&opts(), line.as_bytes());
    assert_eq!(reject_code(&out), "call_too_large");
    let mut unlimited = opts();
    unlimited.max_call_bytes = 0;
    let (c, out) = translate_checked(&unlimited, line.as_bytes());
    assert_eq!(c.converted, 1);
    assert!(out.buf.len() > 3 << 20);
}

fn many_keys(n: usize) -> String {
    let members: Vec<String> = (0..n).map(|i| format!(r#""k{i}":{i}"#)).collect();
    format!("{{{}}}", members.join(","))
}

#[test]
fn an_object_with_100k_keys_is_handled() {
    let o = opts();
    // In the attributes: the call is far over 32 KiB.
    let line = event_with_attributes(&many_keys(100_000));
    let (_, out) = translate_checked(&o, line.as_bytes());
    assert_eq!(reject_code(&out), "call_too_large");
    // At the top level, around a valid record: the unknown keys are ignored.
    let line = format!(
        r#"{},"type":"person","identifiers":{{"id":"42"}},"action":"event","name":"x"}}"#,
        many_keys(100_000).trim_end_matches('}')
    );
    let (c, _) = translate_checked(&o, line.as_bytes());
    assert_eq!(c.converted, 1);
    // 100k keys and no shape.
    let (_, out) = translate_checked(&o, many_keys(100_000).as_bytes());
    assert_eq!(reject_code(&out), "unknown_shape");
}

// ------------------------------------------------------------------------------------------
// Through the binary

/// Runs `convert --overwrite --threads 2 [opts] INPUT` into `dir/out`: the run completes,
/// exits 3 exactly when it rejected a record, and its accounting holds ([`check_accounting`]).
fn convert(dir: &Path, input: &Path, opts: &[&str]) -> RunOut {
    let out = dir.join("out");
    let opts = [&["--overwrite", "--threads", "2"][..], opts].concat();
    let o = output(&mut convert_cmd(&out, &opts, &[input]));
    let code = o.status.code().expect("exited");
    assert!(code == 0 || code == 3, "exit {code}: {}", stderr(&o));
    let run = RunOut::load(&out);
    check_accounting(&run);
    let rejected = n(&run.manifest["totals"]["rejected"]);
    assert_eq!(
        code == 3,
        rejected > 0,
        "exit {code} with {rejected} rejected"
    );
    run
}

/// The bytes an entry carries.
fn raw_of(e: &Value) -> Vec<u8> {
    match (e.get("raw"), e.get("raw_base64")) {
        (Some(Value::String(s)), None) => s.as_bytes().to_vec(),
        (None, Some(Value::String(b))) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .expect("raw_base64 is base64"),
        _ => panic!("an entry has raw or raw_base64: {e}"),
    }
}

/// The line at `offset` in `input`, without its line ending.
fn line_at(input: &[u8], offset: usize) -> &[u8] {
    let rest = &input[offset..];
    let mut line = &rest[..memchr_nl(rest)];
    if let Some(l) = line.strip_suffix(b"\r") {
        line = l;
    }
    line
}

fn memchr_nl(b: &[u8]) -> usize {
    b.iter().position(|c| *c == b'\n').unwrap_or(b.len())
}

/// Every entry's bytes checked against the input: its line, its raw bytes (or the head of an
/// over-long line) and, for a batch item, that its raw is JSON.
fn check_entries_against_input(input: &[u8], run: &RunOut, max_line: usize) {
    for e in run.errors.iter().filter(|e| e["code"] != "corrupt_input") {
        let raw = raw_of(e);
        let offset = n(&e["offset"]) as usize;
        let line = line_at(input, offset);
        let newlines = input[..offset].iter().filter(|b| **b == b'\n').count() as u64;
        assert_eq!(n(&e["line"]), newlines + 1, "line of {e}");
        if e.get("item").is_some() {
            serde_json::from_slice::<&RawValue>(&raw).expect("a batch item's raw is JSON");
        } else if e["code"] == "line_too_long" {
            assert_eq!(n(&e["length"]) as usize, line.len(), "{e}");
            assert!(line.len() > max_line);
            assert_eq!(raw, line[..line.len().min(4096)], "head of {e}");
        } else {
            assert_eq!(raw, line, "raw round-trips to the input line: {e}");
        }
    }
}

/// One line of a generated input file.
fn gen_line() -> impl Strategy<Value = Vec<u8>> {
    let seeds = seeds();
    prop_oneof![
        3 => prop::sample::select(seeds.clone()),
        2 => (prop::sample::select(seeds), prop::collection::vec(mutation(), 1..3))
            .prop_map(|(s, m)| mutate(s, &m)),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(|mut b| {
            b.insert(0, b'#');
            b
        }),
        1 => Just(b"   \t".to_vec()),
        1 => Just(Vec::new()),
        1 => prop::collection::vec(json_text(), 1..4)
            .prop_map(|items| format!(r#"{{"batch":[{}]}}"#, items.join(",")).into_bytes()),
        1 => shaped_record().prop_map(String::into_bytes),
        1 => (5000usize..9000).prop_map(|n| {
            let mut b = b"{\"k\":\"".to_vec();
            b.extend(std::iter::repeat_n(b'y', n));
            b.extend_from_slice(b"\"}");
            b
        }),
    ]
}

/// Lines joined with `\n` or `\r\n` (a stray `\n` inside a mutated line starts a new line).
fn gen_file() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec((gen_line(), any::<bool>()), 1..80).prop_map(|lines| {
        let mut out = Vec::new();
        for (line, crlf) in lines {
            out.extend_from_slice(&line);
            out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn the_binary_accounts_for_every_record(input in gen_file(), small_blocks in any::<bool>()) {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("in.ndjson");
        std::fs::write(&path, &input).unwrap();
        let mut opts = vec!["--max-line-bytes", "4KiB"];
        if small_blocks {
            opts.extend(["--block-size", "4KiB"]);
        }
        let run = convert(dir.path(), &path, &opts);
        check_entries_against_input(&input, &run, 4096);
    }
}

/// The limits, end to end: clear rejects, the run completes, every record accounted for.
#[test]
fn limits_through_the_binary() {
    let dir = TempDir::new().unwrap();
    let lines: Vec<Vec<u8>> = vec![
        "[".repeat(DEPTH).into_bytes(),
        event_with_attributes(&format!(
            r#"{{"a":{}1{}}}"#,
            "[".repeat(DEPTH),
            "]".repeat(DEPTH)
        ))
        .into_bytes(),
        event_with_attributes(&format!(r#"{{"s":"{}"}}"#, "x".repeat(3 << 20))).into_bytes(),
        event_with_attributes(&many_keys(100_000)).into_bytes(),
        many_keys(100_000).into_bytes(),
        br#"{"type":"person","identifiers":{"id":"42"},"action":"event","name":"ok"}"#.to_vec(),
    ];
    let mut input = lines.join(&b'\n');
    input.push(b'\n');
    let path = dir.path().join("limits.ndjson");
    std::fs::write(&path, &input).unwrap();

    let run = convert(dir.path(), &path, &[]);
    check_entries_against_input(&input, &run, 16 << 20);
    let codes: Vec<&str> = run
        .errors
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "invalid_json",
            "call_too_large",
            "call_too_large",
            "call_too_large",
            "unknown_shape"
        ]
    );
    assert_eq!(n(&run.manifest["totals"]["converted"]), 1);

    // With a 1 MiB line limit the 3 MB line is cut out as it is read.
    let run = convert(dir.path(), &path, &["--max-line-bytes", "1MiB"]);
    check_entries_against_input(&input, &run, 1 << 20);
    let too_long: Vec<u64> = run
        .errors
        .iter()
        .filter(|e| e["code"] == "line_too_long")
        .map(|e| n(&e["line"]))
        .collect();
    assert_eq!(
        too_long,
        [3, 4, 5],
        "the 3 MB line and the two 100k-key lines (1.4 MB)"
    );
}

// ------------------------------------------------------------------------------------------
// Line endings, BOMs and the limits read the same at any block size; the latest valid time

/// Runs the binary on `input` (named `name`) with `opts`; returns the calls of every part
/// file in path order, and the error entries.
fn calls_and_errors(dir: &Path, name: &str, input: &[u8], opts: &[&str]) -> (String, Vec<Value>) {
    let path = dir.join(name);
    std::fs::write(&path, input).unwrap();
    let run = convert(dir, &path, opts);
    let calls = manifest_parts(&dir.join("out"))
        .into_iter()
        .map(|(_, text)| text)
        .collect();
    (calls, run.errors)
}

#[test]
fn a_csv_file_with_cr_line_endings_loses_no_rows() {
    let dir = TempDir::new().unwrap();
    let csv = b"id,email,plan\r1,a@b.c,pro\r2,c@d.e,free\r";
    let path = dir.path().join("mac.csv");
    std::fs::write(&path, csv).unwrap();
    let run = convert(dir.path(), &path, &[]);
    assert_eq!(n(&run.manifest["totals"]["records"]), 2);
    assert_eq!(n(&run.manifest["totals"]["converted"]), 2);
}

#[test]
fn a_csv_row_starting_with_a_bom_is_read_the_same_at_any_block_size() {
    let dir = TempDir::new().unwrap();
    // The header, then 64 rows of 64 bytes: the first 4 KiB block ends just before the row
    // that starts with a BOM, so a piece starts there.
    let mut csv = b"id,plan\n".to_vec();
    for i in 0..64 {
        let row = format!("u{i:05},{}\n", "p".repeat(64 - 7 - 1));
        assert_eq!(row.len(), 64);
        csv.extend_from_slice(row.as_bytes());
    }
    csv.extend_from_slice("\u{feff}bom-id,pro\n".as_bytes());
    let (big, _) = calls_and_errors(dir.path(), "people.csv", &csv, &[]);
    let (small, _) = calls_and_errors(dir.path(), "people.csv", &csv, &["--block-size", "4KiB"]);
    let last = |calls: &str| calls.lines().last().unwrap().to_owned();
    assert!(last(&big).contains("\"userId\":\"\u{feff}bom-id\""));
    assert_eq!(last(&big), last(&small));
    assert_eq!(big, small);
}

#[test]
fn a_crlf_line_at_the_limit_is_accepted_at_any_block_size() {
    let dir = TempDir::new().unwrap();
    // A first line of 4094 bytes, then a line of exactly 4096 bytes whose \r is the last byte
    // of the second 4 KiB block.
    let record = |id: u8, len: usize| {
        let base = format!(
            r#"{{"type":"person","identifiers":{{"id":"{id}"}},"action":"event","name":""}}"#
        );
        let name = "n".repeat(len - base.len());
        let line = base.replace(r#""name":"""#, &format!(r#""name":"{name}""#));
        assert_eq!(line.len(), len);
        line.into_bytes()
    };
    let mut input = record(1, 4094);
    input.push(b'\n');
    input.extend_from_slice(&record(2, 4096));
    input.extend_from_slice(b"\r\n");
    let opts = ["--max-line-bytes", "4096", "--max-call-bytes", "0"];
    let (_, errors) = calls_and_errors(dir.path(), "at-limit.ndjson", &input, &opts);
    assert!(errors.is_empty(), "default blocks: {errors:?}");
    let small = [&opts[..], &["--block-size", "4096"]].concat();
    let (_, errors) = calls_and_errors(dir.path(), "at-limit.ndjson", &input, &small);
    assert!(errors.is_empty(), "4 KiB blocks: {errors:?}");
}

/// The last millisecond of 9999 is the latest time a record may carry, as milliseconds (a
/// number of 10^11 or more, docs/mapping.md) or as RFC 3339 text; its call's timestamp reads
/// back as that time.
#[test]
fn the_last_day_of_9999_is_a_valid_rfc3339_time() {
    for (ts, want) in [
        ("253402300799999", "9999-12-31T23:59:59.999Z"),
        ("\"9999-12-31T23:59:59.999Z\"", "9999-12-31T23:59:59.999Z"),
        ("\"9999-12-31T23:59:59Z\"", "9999-12-31T23:59:59.000Z"),
    ] {
        let record = format!(
            r#"{{"type":"person","identifiers":{{"id":"1"}},"action":"event","name":"x","timestamp":{ts}}}"#
        );
        let (c, out) = translate_checked(&opts(), record.as_bytes());
        assert_eq!(c.converted, 1, "{ts}: {:?}", out.rejects);
        let call: Value = serde_json::from_slice(out.call_bytes(0)).unwrap();
        assert_eq!(call["timestamp"], want, "{ts}");
    }
}

// ------------------------------------------------------------------------------------------
// Hostile inputs through the binary, one run each

/// `convert --out OUT --now NOW --quiet [args]`, run to its end.
fn convert_args(out: &Path, args: &[&OsStr]) -> std::process::Output {
    convert_cmd(out, &[], &[]).args(args).output().unwrap()
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

// ------------------------------------------------------------------------------------------
// CSV headers that cannot be read are never silent, and never crash; values of any depth;
// timestamps out of bounds and lone surrogates are rejected

#[test]
fn a_csv_header_with_an_unclosed_quote_is_one_csv_invalid_entry() {
    let d = TempDir::new().unwrap();
    let mut text = String::from("id,\"email,name\n");
    for i in 0..1000 {
        text += &format!("u{i},u{i}@x.com,U{i}\n");
    }
    for (name, body) in [
        ("q.csv", text.clone()),
        ("h.csv", text.replace("id,", "method,path,")),
    ] {
        let input = write_file(&d.path().join(name), body.as_bytes());
        let out = d.path().join(format!("out-{name}"));
        let o = convert_args(&out, &[input.as_os_str()]);
        assert_eq!(code(&o), 3, "{name}: {}", stderr(&o));
        let entries = json_lines(&out.join("errors.ndjson"));
        assert_eq!(entries.len(), 1, "{name}: {entries:?}");
        assert_eq!(entries[0]["code"], "csv_invalid");
        assert_eq!(entries[0]["line"], 1);
        assert!(entries[0]["message"].as_str().unwrap().contains("quote"));
        let m = manifest(&out);
        assert_eq!(m["inputs"][0]["incomplete"], true);
        assert_eq!(
            m["totals"]["records"], 0,
            "the header entry is not a record"
        );
    }
}

#[test]
fn a_stray_quote_in_a_large_csv_header_is_reported() {
    let d = TempDir::new().unwrap();
    // Over 640 KB of "header": reported, no crash.
    let mut big = String::from("id,\"name\n");
    while big.len() < 700_000 {
        big += "u1,a.b.c.d.e.f.g.h\n";
    }
    let input = write_file(&d.path().join("big.csv"), big.as_bytes());
    let out = d.path().join("out-big");
    let o = convert_args(&out, &[input.as_os_str()]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert_eq!(
        json_lines(&out.join("errors.ndjson"))[0]["code"],
        "csv_invalid"
    );
}

#[test]
fn a_deep_csv_header_does_not_crash() {
    let d = TempDir::new().unwrap();
    let deep = format!("id,{}a\nu1,x\n", "a.".repeat(10_000));
    let input = write_file(&d.path().join("d.csv"), deep.as_bytes());
    let out = d.path().join("out");
    let o = convert_args(&out, &[input.as_os_str()]);
    assert!(matches!(code(&o), 0 | 3), "{}", stderr(&o));
    assert_eq!(manifest(&out)["totals"]["records"], 1);
}

/// The lines of every part file below `out`.
fn part_lines(out: &Path) -> Vec<String> {
    files(out)
        .into_iter()
        .filter(|(name, _)| name.rsplit('/').next().unwrap().starts_with("part-"))
        .flat_map(|(_, bytes)| {
            let text = String::from_utf8(bytes).unwrap();
            text.lines().map(str::to_owned).collect::<Vec<_>>()
        })
        .collect()
}

/// Walks `text` from `at` through `levels` objects of one member `"a"` each, down to the
/// value `leaf`, and back out: the byte after the last `}`, or `None` if the text is not so.
fn nested(text: &str, mut at: usize, levels: usize, leaf: &str) -> Option<usize> {
    for _ in 0..levels {
        at += text.get(at..)?.strip_prefix(r#"{"a":"#).map(|_| 5)?;
    }
    at += text.get(at..)?.strip_prefix(leaf).map(|_| leaf.len())?;
    for _ in 0..levels {
        at += text.get(at..)?.strip_prefix('}').map(|_| 1)?;
    }
    Some(at)
}

#[test]
fn a_header_200_000_levels_deep_nests_the_record_to_its_last_key() {
    // A header of about 400 KB, under the default --max-line-bytes; the identify it makes is
    // larger than the default --max-call-bytes, so that limit is lifted here.
    let levels = 200_000;
    let d = TempDir::new().unwrap();
    let deep = format!("id,{}a\nu1,x\n", "a.".repeat(levels - 1));
    let input = write_file(&d.path().join("d.csv"), deep.as_bytes());
    let out = d.path().join("out");
    let o = convert_args(&out, &[os("--max-call-bytes"), os("0"), input.as_os_str()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let m = manifest(&out);
    assert_eq!(m["totals"]["records"], 1);
    assert_eq!(m["totals"]["converted"], 1);
    let lines = part_lines(&out);
    assert_eq!(lines.len(), 1);
    let line = &lines[0];
    assert!(
        line.starts_with(r#"{"type":"identify","userId":"u1","#),
        "{}",
        &line[..80]
    );
    // The traits hold `a` inside `a` ... to the last key, whose value is the cell.
    let traits = line.find(r#""traits":"#).expect("traits") + r#""traits":"#.len();
    let end = nested(line, traits, levels, r#""x""#).expect("the traits nest to the last key");
    assert!(matches!(&line[end..end + 1], "," | "}"), "{}", &line[end..]);
    assert_eq!(line.matches(r#"{"a":"#).count(), levels);
}

#[test]
fn deep_json_in_a_cell_or_a_record_does_not_crash() {
    let levels = 200_000;
    let value = format!("{}1{}", r#"{"a":"#.repeat(levels), "}".repeat(levels));
    let d = TempDir::new().unwrap();
    let csv = format!("id,deep:json\nu1,\"{}\"\n", value.replace('"', "\"\""));
    let ndjson = format!(
        "{{\"type\":\"person\",\"action\":\"identify\",\"identifiers\":{{\"id\":\"u2\"}},\
         \"attributes\":{{\"deep\":{value}}}}}\n"
    );
    let a = write_file(&d.path().join("c.csv"), csv.as_bytes());
    let b = write_file(&d.path().join("n.ndjson"), ndjson.as_bytes());
    let out = d.path().join("out");
    let o = convert_args(
        &out,
        &[
            os("--max-call-bytes"),
            os("0"),
            a.as_os_str(),
            b.as_os_str(),
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(manifest(&out)["totals"]["converted"], 2);
    let lines = part_lines(&out);
    assert_eq!(lines.len(), 2);
    for line in &lines {
        let at = line.find(r#""deep":"#).expect("deep") + r#""deep":"#.len();
        assert!(nested(line, at, levels, "1").is_some(), "{}", &line[..80]);
    }
}

/// The calls or the reject code of one record.
fn one(record: &str) -> Result<Vec<Value>, String> {
    let d = TempDir::new().unwrap();
    let input = write_file(&d.path().join("r.ndjson"), format!("{record}\n").as_bytes());
    let out = d.path().join("out");
    let o = convert_args(&out, &[os("--partition-by"), os("none"), input.as_os_str()]);
    match code(&o) {
        0 => Ok(std::fs::read_to_string(out.join("part-0000-00000.ndjson"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()),
        3 => Err(json_lines(&out.join("errors.ndjson"))[0]["code"]
            .as_str()
            .unwrap()
            .to_owned()
            + ": "
            + json_lines(&out.join("errors.ndjson"))[0]["message"]
                .as_str()
                .unwrap()),
        c => panic!("exit {c}: {}", stderr(&o)),
    }
}

#[test]
fn rfc3339_offsets_and_years_out_of_bounds_are_invalid_timestamps() {
    let rec = |ts: &str| {
        format!(
            r#"{{"type":"person","identifiers":{{"id":"1"}},"action":"event","name":"x","timestamp":"{ts}"}}"#
        )
    };
    for bad in [
        "2023-08-24T14:15:22+25:00",
        "2023-08-24T14:15:22-24:00",
        "+002023-08-24T14:15:22Z",
        "2023-08-24T14:15:22+23:60",
    ] {
        let got = one(&rec(bad));
        assert!(
            got.as_ref()
                .is_err_and(|e| e.starts_with("invalid_timestamp")),
            "{bad}: {got:?}"
        );
    }
    for good in [
        "2023-08-24T14:15:22+23:59",
        "2023-08-24T14:15:22-05:00",
        "2023-08-24T14:15:22.123Z",
    ] {
        assert!(one(&rec(good)).is_ok(), "{good}");
    }
}

#[test]
fn a_lone_surrogate_escape_rejects_the_record() {
    for (rec, name) in [
        (
            r#"{"type":"person","identifiers":{"id":"1"},"action":"identify","attributes":{"n":"\ud800"}}"#,
            "\\ud800",
        ),
        (
            r#"{"type":"person","identifiers":{"id":"1"},"action":"identify","attributes":{"n":"a\udc00"}}"#,
            "\\udc00",
        ),
        (
            r#"{"method":"PUT","path":"/api/v1/customers/1","body":"{\"n\":\"\\ud83d\"}"}"#,
            "\\ud83d",
        ),
    ] {
        let got = one(rec);
        let err = got.expect_err(rec);
        assert!(err.starts_with("invalid_json"), "{err}");
        assert!(err.contains(name), "the message names the escape: {err}");
    }
    // A whole pair is fine, and so is an escaped backslash before a `u`.
    let ok = one(r#"{"type":"person","identifiers":{"id":"1"},"action":"identify","attributes":{"n":"\ud83d\ude00","p":"\\ud800"}}"#).unwrap();
    assert_eq!(ok[0]["traits"]["n"], "\u{1f600}");
}
