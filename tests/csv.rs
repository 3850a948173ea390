//! CSV input end to end (docs/mapping.md): runs the built binary on CSV files in
//! temporary directories and reads back the part files, `errors.ndjson` and `manifest.json`.
//!
//! Covered: the four layouts with exact calls; each layout against the same records written as
//! NDJSON; CSV quoting (newlines, doubled quotes, delimiters, also inside JSON cells), CRLF, a
//! BOM; every CSV reject (ragged rows, bad typed cells, invalid JSON, invalid UTF-8) and
//! headers that fit no layout; `--csv-layout`, `--input-format csv`, compressed CSV and TSV;
//! reject positions (`line` where a record starts, `offset`, `raw`) and byte-identical output
//! whatever the block size or thread count; the manifest's accounting.
//!
//! Calls are compared exactly with `crate::common::canon` (key order and number text matter);
//! `"messageId":"<derived>"` in an expected call stands for a derived ULID whose time is the
//! call's timestamp. Where the rules are silent, the test asserts the current behaviour and says
//! so in a `// decision:` comment.

use crate::common::output::{RunOut, check_accounting};
use crate::common::run::{convert_cmd, gzip, output, output_with_stdin, stderr, zstd_frame};
use crate::common::{Case, canon, check_calls};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// `--now`, as the calls write it.
const NOW: &str = "2026-01-01T00:00:00.000Z";
/// A dedupe ULID carried by the input.
const ULID_A: &str = "01HEWHMWG0WXWCBYB6WK952SWA";
const ULID_B: &str = "01HF26R5Q00432CF1XMWCEJZ05";
/// Stands for a derived messageId in an expected call.
const DERIVED: &str = "<derived>";

// ------------------------------------------------------------------------------------------
// Building inputs

/// A CSV text and where each of its rows (the header first) starts.
struct CsvText {
    bytes: Vec<u8>,
    /// (1-based line, byte offset) of each row's first byte.
    starts: Vec<(u64, u64)>,
}

/// Joins `rows` (the header first), each ended by `eol`, after a UTF-8 BOM if `bom`. In a row,
/// `\u{1}` stands for the byte 0xFF (invalid UTF-8).
fn csv_text(rows: &[&str], eol: &str, bom: bool) -> CsvText {
    let mut bytes = Vec::new();
    if bom {
        bytes.extend_from_slice(b"\xEF\xBB\xBF");
    }
    let mut starts = Vec::new();
    let mut line = 1;
    for row in rows {
        starts.push((line, bytes.len() as u64));
        bytes.extend(row.bytes().map(|b| if b == 1 { 0xFF } else { b }));
        bytes.extend_from_slice(eol.as_bytes());
        line += (row.matches('\n').count() + eol.matches('\n').count()) as u64;
    }
    CsvText { bytes, starts }
}

/// `rows` joined with `\n`, each ended by one.
fn lf(rows: &[&str]) -> Vec<u8> {
    csv_text(rows, "\n", false).bytes
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

// ------------------------------------------------------------------------------------------
// Running the binary

/// Runs `convert --partition-by none --now NOW [extra] INPUTS` into a fresh directory under
/// `dir`, with `stdin` as standard input when given, and checks the exit status and the
/// manifest's accounting.
fn convert_with(dir: &Path, extra: &[&str], inputs: &[&Path], stdin: Option<&[u8]>) -> RunOut {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let out = dir.join(format!("out-{}", RUNS.fetch_add(1, Ordering::Relaxed)));
    let mut cmd = convert_cmd(
        &out,
        &[&["--partition-by", "none"][..], extra].concat(),
        inputs,
    );
    let o = match stdin {
        Some(bytes) => output_with_stdin(cmd, bytes),
        None => output(&mut cmd),
    };
    let code = o.status.code().expect("exited normally");
    assert!(
        code == 0 || code == 3,
        "convert {extra:?} {inputs:?}: exit {code}: {}",
        stderr(&o)
    );
    let run = RunOut::load(&out);
    check_accounting(&run);
    let rejected = run.manifest["totals"]["rejected"].as_u64().unwrap();
    assert_eq!(code, if rejected > 0 { 3 } else { 0 }, "exit status");
    run
}

fn convert(dir: &Path, extra: &[&str], inputs: &[&Path]) -> RunOut {
    convert_with(dir, extra, inputs, None)
}

/// The manifest entry of input `i`: (records, converted, rejected).
fn input_counts(run: &RunOut, i: usize) -> (u64, u64, u64) {
    let e = &run.manifest["inputs"][i];
    let n = |k: &str| e[k].as_u64().unwrap();
    (n("records"), n("converted"), n("rejected"))
}

// ------------------------------------------------------------------------------------------
// Checking calls and errors

/// An expected call from its head (every key up to and including `context`) and its
/// messageId, `timestamp` and `sentAt`.
fn call(head: &str, id: &str, timestamp: &str, sent_at: &str) -> String {
    format!(
        r#"{head},"integrations":{{"All":true}},"messageId":"{id}","timestamp":"{timestamp}","sentAt":"{sent_at}"}}"#
    )
}

/// The identify a people-layout row of person `id` with `traits` makes (derived messageId).
fn identify(id: &str, traits: &str) -> String {
    call(
        &format!(
            r#"{{"type":"identify","userId":"{id}","traits":{traits},"context":{{"journeys":{{"identifiers":{{"id":"{id}"}}}}}}"#
        ),
        DERIVED,
        NOW,
        NOW,
    )
}

/// Checks calls against expected ones exactly (see the module docs); returns the messageIds.
fn expect_calls(label: &str, got: &[String], want: &[String]) -> Vec<String> {
    let case = Case {
        name: label.to_owned(),
        input: String::new(),
        expect: want.to_vec(),
        reject: None,
        reject_items: Vec::new(),
    };
    check_calls(&case, got)
}

/// A call's text without its messageId member.
fn without_message_id(call: &str) -> String {
    const KEY: &str = r#","messageId":""#;
    let start = call.find(KEY).expect("a messageId");
    let rest = &call[start + KEY.len()..];
    let end = rest.find('"').unwrap();
    canon(&format!("{}{}", &call[..start], &rest[end + 1..]))
}

fn message_id(call: &str) -> String {
    let v: Value = serde_json::from_str(call).unwrap();
    v["messageId"].as_str().unwrap().to_owned()
}

/// Asserts that the CSV calls and the NDJSON calls are the same, messageIds aside, and that
/// the messageIds are the same exactly for the calls at `same_ids`: those whose input carried a
/// ULID, and v2 batch items (whose ids hash the element's JSON, not the row).
fn same_calls(label: &str, csv: &[String], ndjson: &[String], same_ids: &[usize]) {
    assert_eq!(
        csv.len(),
        ndjson.len(),
        "{label}: CSV calls\n{}\nNDJSON calls\n{}",
        csv.join("\n"),
        ndjson.join("\n")
    );
    for (i, (c, n)) in csv.iter().zip(ndjson).enumerate() {
        assert_eq!(without_message_id(c), without_message_id(n), "{label}");
        let (ic, inn) = (message_id(c), message_id(n));
        if same_ids.contains(&i) {
            assert_eq!(ic, inn, "{label}: call {i}");
        } else {
            // Derived ids hash the record's own bytes: a CSV row is not its NDJSON twin.
            assert_ne!(
                ic, inn,
                "{label}: call {i}: derived ids hash the row's bytes"
            );
        }
    }
}

/// An error entry's (line, offset, code).
fn pos(e: &Value) -> (u64, u64, &str) {
    (
        e["line"].as_u64().unwrap(),
        e["offset"].as_u64().unwrap(),
        e["code"].as_str().unwrap(),
    )
}

fn message(e: &Value) -> &str {
    e["message"].as_str().unwrap()
}

// ------------------------------------------------------------------------------------------
// The four layouts, with their NDJSON twins

const HTTP_CSV: &[&str] = &[
    "received_at,method,path,status,body",
    r#"2023-11-02T09:00:00Z,PUT,/api/v1/customers/u-4001,200,"{""email"":""grace@example.com"",""title"":""Rear Admiral, USN"",""motto"":""say \""hi\""""}""#,
    concat!(
        r#"2023-11-02T09:05:00Z,post,/api/v1/customers/u-4001/events,200,"{""name"": "" Compiler Run "","#,
        "\n",
        r#"  ""data"": {""language"": ""COBOL"", ""note"": ""a\nb"", ""lines"": 1200.50}}""#
    ),
    "2023-11-03T08:00:00Z,DELETE,/api/v1/customers/u-4002,204,",
    r#"2023-11-03T09:30:00Z,POST,/api/v2/entity,200,"{""type"":""person"",""identifiers"":{""id"":""u-4004""},""action"":""event"",""id"":""01HEWHMWG0WXWCBYB6WK952SWA"",""name"":""Quote Requested"",""attributes"":{""product"":""Widget \""Pro\"", large"",""qty"":3}}""#,
    r#"2023-11-03T10:00:00Z,POST,/api/v2/batch,200,"{""batch"":[{""type"":""person"",""identifiers"":{""id"":""u-4004""},""action"":""identify"",""attributes"":{""plan"":""team""}},{""type"":""person"",""identifiers"":{""email"":""x@example.com""},""action"":""screen"",""name"":""Quotes"",""timestamp"":1699000000}]}""#,
    r#",POST,/v1/merge_customers,200,"{""primary"":{""id"":""u-4001""},""secondary"":{""email"":""g@example.org""}}""#,
];

const HTTP_NDJSON: &[&str] = &[
    r#"{"received_at":"2023-11-02T09:00:00Z","method":"PUT","path":"/api/v1/customers/u-4001","status":"200","body":{"email":"grace@example.com","title":"Rear Admiral, USN","motto":"say \"hi\""}}"#,
    r#"{"received_at":"2023-11-02T09:05:00Z","method":"post","path":"/api/v1/customers/u-4001/events","status":"200","body":{"name":" Compiler Run ","data":{"language":"COBOL","note":"a\nb","lines":1200.50}}}"#,
    r#"{"received_at":"2023-11-03T08:00:00Z","method":"DELETE","path":"/api/v1/customers/u-4002","status":"204"}"#,
    r#"{"received_at":"2023-11-03T09:30:00Z","method":"POST","path":"/api/v2/entity","status":"200","body":{"type":"person","identifiers":{"id":"u-4004"},"action":"event","id":"01HEWHMWG0WXWCBYB6WK952SWA","name":"Quote Requested","attributes":{"product":"Widget \"Pro\", large","qty":3}}}"#,
    r#"{"received_at":"2023-11-03T10:00:00Z","method":"POST","path":"/api/v2/batch","status":"200","body":{"batch":[{"type":"person","identifiers":{"id":"u-4004"},"action":"identify","attributes":{"plan":"team"}},{"type":"person","identifiers":{"email":"x@example.com"},"action":"screen","name":"Quotes","timestamp":1699000000}]}}"#,
    r#"{"method":"POST","path":"/v1/merge_customers","status":"200","body":{"primary":{"id":"u-4001"},"secondary":{"email":"g@example.org"}}}"#,
];

fn http_expected() -> Vec<String> {
    vec![
        call(
            r#"{"type":"identify","userId":"u-4001","traits":{"title":"Rear Admiral, USN","motto":"say \"hi\""},"context":{"journeys":{"identifiers":{"id":"u-4001","email":"grace@example.com"}}}"#,
            DERIVED,
            "2023-11-02T09:00:00.000Z",
            "2023-11-02T09:00:00.000Z",
        ),
        call(
            r#"{"type":"track","userId":"u-4001","event":"Compiler Run","properties":{"language":"COBOL","note":"a\nb","lines":1200.50},"context":{"journeys":{"identifiers":{"id":"u-4001"}}}"#,
            DERIVED,
            "2023-11-02T09:05:00.000Z",
            "2023-11-02T09:05:00.000Z",
        ),
        call(
            r#"{"type":"track","userId":"u-4002","event":"User Deleted","properties":{},"context":{"journeys":{"identifiers":{"id":"u-4002"}}}"#,
            DERIVED,
            "2023-11-03T08:00:00.000Z",
            "2023-11-03T08:00:00.000Z",
        ),
        call(
            r#"{"type":"track","userId":"u-4004","event":"Quote Requested","properties":{"product":"Widget \"Pro\", large","qty":3},"context":{"journeys":{"identifiers":{"id":"u-4004"}}}"#,
            ULID_A,
            "2023-11-03T09:30:00.000Z",
            "2023-11-03T09:30:00.000Z",
        ),
        call(
            r#"{"type":"identify","userId":"u-4004","traits":{"plan":"team"},"context":{"journeys":{"identifiers":{"id":"u-4004"}}}"#,
            DERIVED,
            "2023-11-03T10:00:00.000Z",
            "2023-11-03T10:00:00.000Z",
        ),
        call(
            r#"{"type":"screen","userId":"x@example.com","name":"Quotes","properties":{},"context":{"journeys":{"identifiers":{"email":"x@example.com"}}}"#,
            DERIVED,
            "2023-11-03T08:26:40.000Z",
            "2023-11-03T10:00:00.000Z",
        ),
        call(
            r#"{"type":"alias","userId":"u-4001","previousId":"g@example.org","context":{"journeys":{"identifiers":{"id":"u-4001"}}}"#,
            DERIVED,
            NOW,
            NOW,
        ),
    ]
}

#[test]
fn http_calls_layout() {
    let dir = tempfile::tempdir().unwrap();
    let calls = write(dir.path(), "calls.csv", lf(HTTP_CSV));
    // `url` instead of `path`, and `timestamp` as the call time.
    let by_url = write(
        dir.path(),
        "by-url.csv",
        lf(&[
            "method,url,body,timestamp",
            r#"PUT,https://track.customer.io/api/v1/customers/bob%40example.com?x=1,"{""plan"":""pro""}",1699000000"#,
        ]),
    );
    let run = convert(dir.path(), &[], &[&calls, &by_url]);
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    let mut want = http_expected();
    want.push(call(
        r#"{"type":"identify","userId":"bob@example.com","traits":{"plan":"pro"},"context":{"journeys":{"identifiers":{"email":"bob@example.com"}}}"#,
        DERIVED,
        "2023-11-03T08:26:40.000Z",
        "2023-11-03T08:26:40.000Z",
    ));
    expect_calls("http layout", &run.calls, &want);
    // Six rows, one of them a batch of two: seven records.
    assert_eq!(input_counts(&run, 0), (7, 7, 0));
    assert_eq!(input_counts(&run, 1), (1, 1, 0));
}

const V2_CSV: &[&str] = &[
    "type,action,identifiers.id,identifiers.email,identifiers.object_type_id,identifiers.object_id,name,timestamp,attributes.plan,attributes.seats:number,attributes.trial:bool,attributes.tags:json,attributes.address.city,attributes.address.zip,cio_relationships",
    r#"person,identify,u-5001,ada@example.co.uk,,,,2023-11-06T08:00:00Z,pro,5,false,"[""beta"", ""math""]",London,,"#,
    r#"person,event,u-5001,,,,"Report ""Q4"", shared",1699261200,,,,,,,"#,
    "person,page,,ada@example.co.uk,,,/pricing,1699264800.5,,,,,,,",
    concat!(
        "object,identify,,,1,engines,,2023-11-06T12:00:00+00:00,enterprise,250,,,\"Babbage House\n",
        r#"Marylebone",NW1,"[{""identifiers"":{""id"":""u-5001""},""relationship_attributes"":{""role"":""admin""}}]""#
    ),
    "person,screen,u-5002,,,,Notebook,2023-11-07T07:15:00Z,,,true,,,,",
    "object,delete,,,1,difference-engine,,2023-11-07T10:00:00Z,,,,,,,",
    r#"person,add_relationships,u-5002,,,,,1699279200000,,,,,,,"[{""identifiers"":{""object_type_id"":""1"",""object_id"":""engines""}}]""#,
];

const V2_NDJSON: &[&str] = &[
    r#"{"type":"person","action":"identify","identifiers":{"id":"u-5001","email":"ada@example.co.uk"},"timestamp":"2023-11-06T08:00:00Z","attributes":{"plan":"pro","seats":5,"trial":false,"tags":["beta","math"],"address":{"city":"London"}}}"#,
    r#"{"type":"person","action":"event","identifiers":{"id":"u-5001"},"name":"Report \"Q4\", shared","timestamp":"1699261200"}"#,
    r#"{"type":"person","action":"page","identifiers":{"email":"ada@example.co.uk"},"name":"/pricing","timestamp":"1699264800.5"}"#,
    r#"{"type":"object","action":"identify","identifiers":{"object_type_id":"1","object_id":"engines"},"timestamp":"2023-11-06T12:00:00+00:00","attributes":{"plan":"enterprise","seats":250,"address":{"city":"Babbage House\nMarylebone","zip":"NW1"}},"cio_relationships":[{"identifiers":{"id":"u-5001"},"relationship_attributes":{"role":"admin"}}]}"#,
    r#"{"type":"person","action":"screen","identifiers":{"id":"u-5002"},"name":"Notebook","timestamp":"2023-11-07T07:15:00Z","attributes":{"trial":true}}"#,
    r#"{"type":"object","action":"delete","identifiers":{"object_type_id":"1","object_id":"difference-engine"},"timestamp":"2023-11-07T10:00:00Z"}"#,
    r#"{"type":"person","action":"add_relationships","identifiers":{"id":"u-5002"},"timestamp":"1699279200000","cio_relationships":[{"identifiers":{"object_type_id":"1","object_id":"engines"}}]}"#,
];

fn v2_expected() -> Vec<String> {
    vec![
        call(
            r#"{"type":"identify","userId":"u-5001","traits":{"plan":"pro","seats":5,"trial":false,"tags":["beta","math"],"address":{"city":"London"}},"context":{"journeys":{"identifiers":{"id":"u-5001","email":"ada@example.co.uk"}}}"#,
            DERIVED,
            "2023-11-06T08:00:00.000Z",
            NOW,
        ),
        call(
            r#"{"type":"track","userId":"u-5001","event":"Report \"Q4\", shared","properties":{},"context":{"journeys":{"identifiers":{"id":"u-5001"}}}"#,
            DERIVED,
            "2023-11-06T09:00:00.000Z",
            NOW,
        ),
        call(
            r#"{"type":"page","userId":"ada@example.co.uk","name":"/pricing","properties":{"url":"/pricing"},"context":{"journeys":{"identifiers":{"email":"ada@example.co.uk"}}}"#,
            DERIVED,
            "2023-11-06T10:00:00.500Z",
            NOW,
        ),
        call(
            r#"{"type":"group","userId":"u-5001","groupId":"engines","traits":{"plan":"enterprise","seats":250,"address":{"city":"Babbage House\nMarylebone","zip":"NW1"},"object_type_id":"1","relationshipAttributes":{"role":"admin"}},"context":{"journeys":{"identifiers":{"object_type_id":"1","object_id":"engines","id":"u-5001"}}}"#,
            DERIVED,
            "2023-11-06T12:00:00.000Z",
            NOW,
        ),
        call(
            r#"{"type":"screen","userId":"u-5002","name":"Notebook","properties":{"trial":true},"context":{"journeys":{"identifiers":{"id":"u-5002"}}}"#,
            DERIVED,
            "2023-11-07T07:15:00.000Z",
            NOW,
        ),
        call(
            r#"{"type":"track","anonymousId":"object:1:difference-engine","event":"Object Deleted","properties":{"objectId":"difference-engine","objectTypeId":1},"context":{"journeys":{"identifiers":{"object_type_id":"1","object_id":"difference-engine"}}}"#,
            DERIVED,
            "2023-11-07T10:00:00.000Z",
            NOW,
        ),
        call(
            r#"{"type":"group","userId":"u-5002","groupId":"engines","traits":{"object_type_id":"1"},"context":{"journeys":{"identifiers":{"object_type_id":"1","object_id":"engines","id":"u-5002"}}}"#,
            DERIVED,
            "2023-11-06T14:00:00.000Z",
            NOW,
        ),
    ]
}

/// v2 rows whose always-JSON columns hold whole objects.
const V2_JSON_COLUMNS_CSV: &[&str] = &[
    "type,action,identifiers,attributes,device,primary,secondary,timestamp",
    r#"person,identify,"{""cio_id"":""a3000001""}","{""plan"": ""pro"",  ""n"": 1.50}",,,,1699000000"#,
    r#"person,add_device,"{""id"":""42""}",,"{""token"":""a83b"",""platform"":""ios"",""last_used"":1713484800,""attributes"":{""app_version"":""2.1""}}",,,"#,
    r#"person,merge,,,,"{""id"":""42""}","{""email"":""old@example.com""}","#,
];

const V2_JSON_COLUMNS_NDJSON: &[&str] = &[
    r#"{"type":"person","action":"identify","identifiers":{"cio_id":"a3000001"},"attributes":{"plan":"pro","n":1.50},"timestamp":"1699000000"}"#,
    r#"{"type":"person","action":"add_device","identifiers":{"id":"42"},"device":{"token":"a83b","platform":"ios","last_used":1713484800,"attributes":{"app_version":"2.1"}}}"#,
    r#"{"type":"person","action":"merge","primary":{"id":"42"},"secondary":{"email":"old@example.com"}}"#,
];

fn v2_json_columns_expected() -> Vec<String> {
    vec![
        call(
            r#"{"type":"identify","userId":"cio_a3000001","traits":{"plan":"pro","n":1.50},"context":{"journeys":{"identifiers":{"cio_id":"a3000001"}}}"#,
            DERIVED,
            "2023-11-03T08:26:40.000Z",
            NOW,
        ),
        call(
            r#"{"type":"track","userId":"42","event":"Device Created or Updated","properties":{"app_version":"2.1"},"context":{"device":{"token":"a83b","type":"ios"},"journeys":{"identifiers":{"id":"42"}}}"#,
            DERIVED,
            "2024-04-19T00:00:00.000Z",
            NOW,
        ),
        call(
            r#"{"type":"alias","userId":"42","previousId":"old@example.com","context":{"journeys":{"identifiers":{"id":"42"}}}"#,
            DERIVED,
            NOW,
            NOW,
        ),
    ]
}

#[test]
fn v2_entities_layout() {
    let dir = tempfile::tempdir().unwrap();
    let dotted = write(dir.path(), "entities.csv", lf(V2_CSV));
    let whole = write(dir.path(), "whole.csv", lf(V2_JSON_COLUMNS_CSV));
    let run = convert(dir.path(), &[], &[&dotted, &whole]);
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    let mut want = v2_expected();
    want.extend(v2_json_columns_expected());
    expect_calls("v2 layout", &run.calls, &want);
    assert_eq!(input_counts(&run, 0), (7, 7, 0));
    assert_eq!(input_counts(&run, 1), (3, 3, 0));
}

const PEOPLE_CSV: &[&str] = &[
    "id,email,cio_id,first_name,created_at:number,vip:bool,address.city,notes",
    "u-6001,marie@example.fr,,Marie,1698796800,true,Paris,",
    r#",lise@example.at,,Lise,,,,"Prefers ""Dr. Meitner"", always""#,
    ",,a3000001,Wu,1698807600,false,,\"Office hours:\nTue/Thu\"",
    "u-6004,,,健雄,,,Zürich,",
];

const PEOPLE_NDJSON: &[&str] = &[
    r#"{"type":"person","action":"identify","identifiers":{"id":"u-6001","email":"marie@example.fr"},"attributes":{"first_name":"Marie","created_at":1698796800,"vip":true,"address":{"city":"Paris"}}}"#,
    r#"{"type":"person","action":"identify","identifiers":{"email":"lise@example.at"},"attributes":{"first_name":"Lise","notes":"Prefers \"Dr. Meitner\", always"}}"#,
    r#"{"type":"person","action":"identify","identifiers":{"cio_id":"a3000001"},"attributes":{"first_name":"Wu","created_at":1698807600,"vip":false,"notes":"Office hours:\nTue/Thu"}}"#,
    r#"{"type":"person","action":"identify","identifiers":{"id":"u-6004"},"attributes":{"first_name":"健雄","address":{"city":"Zürich"}}}"#,
];

fn people_expected() -> Vec<String> {
    vec![
        call(
            r#"{"type":"identify","userId":"u-6001","traits":{"first_name":"Marie","created_at":1698796800,"vip":true,"address":{"city":"Paris"}},"context":{"journeys":{"identifiers":{"id":"u-6001","email":"marie@example.fr"}}}"#,
            DERIVED,
            NOW,
            NOW,
        ),
        call(
            r#"{"type":"identify","userId":"lise@example.at","traits":{"first_name":"Lise","notes":"Prefers \"Dr. Meitner\", always"},"context":{"journeys":{"identifiers":{"email":"lise@example.at"}}}"#,
            DERIVED,
            NOW,
            NOW,
        ),
        call(
            r#"{"type":"identify","userId":"cio_a3000001","traits":{"first_name":"Wu","created_at":1698807600,"vip":false,"notes":"Office hours:\nTue/Thu"},"context":{"journeys":{"identifiers":{"cio_id":"a3000001"}}}"#,
            DERIVED,
            NOW,
            NOW,
        ),
        call(
            r#"{"type":"identify","userId":"u-6004","traits":{"first_name":"健雄","address":{"city":"Zürich"}},"context":{"journeys":{"identifiers":{"id":"u-6004"}}}"#,
            DERIVED,
            NOW,
            NOW,
        ),
    ]
}

#[test]
fn people_layout() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = PEOPLE_CSV.to_vec();
    // No identifier at all: the identify has no person.
    rows.push(",,,Nobody,,,,");
    let text = csv_text(&rows, "\n", false);
    let people = write(dir.path(), "people.csv", &text.bytes);
    let run = convert(dir.path(), &[], &[&people]);
    expect_calls("people layout", &run.calls, &people_expected());
    let [e] = run.errors.as_slice() else {
        panic!("one reject expected: {:?}", run.errors)
    };
    let (line, offset) = text.starts[5];
    assert_eq!(pos(e), (line, offset, "missing_identifier"), "{e}");
    assert_eq!(e["raw"], ",,,Nobody,,,,");
    assert_eq!(input_counts(&run, 0), (5, 4, 1));
}

const EVENTS_CSV: &[&str] = &[
    "id,email,cio_id,anonymous_id,name,type,timestamp,event_id,price:number,product.sku,items:json,comment",
    r#"u-7001,,,,Order Completed,event,2023-11-10T12:00:00Z,01HEWHMWG0WXWCBYB6WK952SWA,129.95,SKU-1,"[{""q"": 1}]","#,
    "u-7001,,,,/checkout,page,2023-11-10T12:00:05Z,,,,,",
    r#",tim@example.org,,,  Wishlist Updated  ,,1699618800,,,,,"Added ""Weaving the Web"", 2nd ed.""#,
    ",,,anon-e1f2a3,Viewed Product,,1699620000123,,49.00,,,",
    "u-7002,,,,Product Detail,screen,2023-11-10T14:00:00+01:00,not-a-ulid,,,,",
    ",,c-77,,Logged In,event,,,,,,\"multi\nline, \"\"quoted\"\"\"",
    ",,,anon-9,/home,page,2023-11-11T10:00:00Z,01HF26R5Q00432CF1XMWCEJZ05,,,,",
];

const EVENTS_NDJSON: &[&str] = &[
    r#"{"type":"person","action":"event","identifiers":{"id":"u-7001"},"name":"Order Completed","timestamp":"2023-11-10T12:00:00Z","id":"01HEWHMWG0WXWCBYB6WK952SWA","attributes":{"price":129.95,"product":{"sku":"SKU-1"},"items":[{"q":1}]}}"#,
    r#"{"type":"person","action":"page","identifiers":{"id":"u-7001"},"name":"/checkout","timestamp":"2023-11-10T12:00:05Z"}"#,
    r#"{"type":"person","action":"event","identifiers":{"email":"tim@example.org"},"name":"  Wishlist Updated  ","timestamp":1699618800,"attributes":{"comment":"Added \"Weaving the Web\", 2nd ed."}}"#,
    r#"{"type":"person","action":"event","identifiers":{"anonymous_id":"anon-e1f2a3"},"name":"Viewed Product","timestamp":1699620000123,"attributes":{"price":49.00}}"#,
    r#"{"type":"person","action":"screen","identifiers":{"id":"u-7002"},"name":"Product Detail","timestamp":"2023-11-10T14:00:00+01:00","id":"not-a-ulid"}"#,
    r#"{"type":"person","action":"event","identifiers":{"cio_id":"c-77"},"name":"Logged In","attributes":{"comment":"multi\nline, \"quoted\""}}"#,
    r#"{"type":"person","action":"page","identifiers":{"anonymous_id":"anon-9"},"name":"/home","timestamp":"2023-11-11T10:00:00Z","id":"01HF26R5Q00432CF1XMWCEJZ05"}"#,
];

fn events_expected() -> Vec<String> {
    vec![
        call(
            r#"{"type":"track","userId":"u-7001","event":"Order Completed","properties":{"price":129.95,"product":{"sku":"SKU-1"},"items":[{"q":1}]},"context":{"journeys":{"identifiers":{"id":"u-7001"}}}"#,
            ULID_A,
            "2023-11-10T12:00:00.000Z",
            NOW,
        ),
        call(
            r#"{"type":"page","userId":"u-7001","name":"/checkout","properties":{"url":"/checkout"},"context":{"journeys":{"identifiers":{"id":"u-7001"}}}"#,
            DERIVED,
            "2023-11-10T12:00:05.000Z",
            NOW,
        ),
        call(
            r#"{"type":"track","userId":"tim@example.org","event":"Wishlist Updated","properties":{"comment":"Added \"Weaving the Web\", 2nd ed."},"context":{"journeys":{"identifiers":{"email":"tim@example.org"}}}"#,
            DERIVED,
            "2023-11-10T12:20:00.000Z",
            NOW,
        ),
        call(
            r#"{"type":"track","anonymousId":"anon-e1f2a3","event":"Viewed Product","properties":{"price":49.00},"context":{"journeys":{"identifiers":{"anonymous_id":"anon-e1f2a3"}}}"#,
            DERIVED,
            "2023-11-10T12:40:00.123Z",
            NOW,
        ),
        call(
            r#"{"type":"screen","userId":"u-7002","name":"Product Detail","properties":{},"context":{"journeys":{"identifiers":{"id":"u-7002"}}}"#,
            DERIVED,
            "2023-11-10T13:00:00.000Z",
            NOW,
        ),
        call(
            r#"{"type":"track","userId":"cio_c-77","event":"Logged In","properties":{"comment":"multi\nline, \"quoted\""},"context":{"journeys":{"identifiers":{"cio_id":"c-77"}}}"#,
            DERIVED,
            NOW,
            NOW,
        ),
        call(
            r#"{"type":"page","anonymousId":"anon-9","name":"/home","properties":{"url":"/home"},"context":{"journeys":{"identifiers":{"anonymous_id":"anon-9"}}}"#,
            ULID_B,
            "2023-11-11T10:00:00.000Z",
            NOW,
        ),
    ]
}

#[test]
fn events_layout() {
    let dir = tempfile::tempdir().unwrap();
    let events = write(dir.path(), "events.csv", lf(EVENTS_CSV));
    let run = convert(dir.path(), &[], &[&events]);
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    expect_calls("events layout", &run.calls, &events_expected());
    assert_eq!(input_counts(&run, 0), (7, 7, 0));
}

/// A layout's CSV rows, the same records as NDJSON lines, and the calls whose messageIds the
/// two share.
type Pair<'a> = (&'a str, &'a [&'a str], &'a [&'a str], &'a [usize]);

/// Every layout against the same records written as NDJSON: the same calls, messageIds aside
/// (a derived id hashes the CSV row, not the NDJSON line; a given ULID is kept by both).
#[test]
fn each_layout_gives_the_calls_of_its_ndjson_twin() {
    let dir = tempfile::tempdir().unwrap();
    // Calls 3 (a given ULID), 4 and 5 (batch items) of the HTTP calls; the events with ULIDs.
    let pairs: [Pair; 5] = [
        ("http", HTTP_CSV, HTTP_NDJSON, &[3, 4, 5]),
        ("v2", V2_CSV, V2_NDJSON, &[]),
        (
            "v2-json-columns",
            V2_JSON_COLUMNS_CSV,
            V2_JSON_COLUMNS_NDJSON,
            &[],
        ),
        ("people", PEOPLE_CSV, PEOPLE_NDJSON, &[]),
        ("events", EVENTS_CSV, EVENTS_NDJSON, &[0, 6]),
    ];
    for (name, csv, ndjson, same_ids) in pairs {
        let c = write(dir.path(), &format!("{name}.csv"), lf(csv));
        let n = write(dir.path(), &format!("{name}.ndjson"), lf(ndjson));
        let run = convert(dir.path(), &[], &[&c, &n]);
        assert!(run.errors.is_empty(), "{name}: {:?}", run.errors);
        let half = run.calls.len() / 2;
        let (csv_calls, ndjson_calls) = run.calls.split_at(half);
        same_calls(name, csv_calls, ndjson_calls, same_ids);
        assert_eq!(input_counts(&run, 0), input_counts(&run, 1), "{name}");
    }
}

// ------------------------------------------------------------------------------------------
// CSV syntax

/// Quoted cells holding newlines (LF and CRLF), doubled quotes and delimiters, CRLF line
/// endings, a BOM and a quoted header cell.
#[test]
fn quoting_crlf_and_bom() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        r#""id",email,notes,"odd, name""#,
        r#"1,,"a, ""b"", c","#,
        "2,,\"line 1\r\nline 2\nline 3\",x",
        // decision: a quoted empty cell is an empty cell, so its key is absent.
        r#"3,"",plain,"""#,
        "4,,\"tab\tand \"\"quote\"\" only\",\",\"",
        "5,,ctl \u{2} back\\slash \u{e9},",
    ];
    let text = csv_text(&rows, "\r\n", true);
    let path = write(dir.path(), "crlf.csv", &text.bytes);
    let run = convert(dir.path(), &[], &[&path]);
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    expect_calls(
        "crlf",
        &run.calls,
        &[
            identify("1", r#"{"notes":"a, \"b\", c"}"#),
            identify(
                "2",
                r#"{"notes":"line 1\r\nline 2\nline 3","odd, name":"x"}"#,
            ),
            identify("3", r#"{"notes":"plain"}"#),
            identify(
                "4",
                r#"{"notes":"tab\tand \"quote\" only","odd, name":","}"#,
            ),
            identify("5", r#"{"notes":"ctl \u0002 back\\slash \u00e9"}"#),
        ],
    );
    // The BOM is not part of the first column's name, and counts in the offsets.
    let bom = csv_text(&["id,plan", "1,a,b", "2,c"], "\n", true);
    let bom_path = write(dir.path(), "bom.csv", &bom.bytes);
    let bom_run = convert(dir.path(), &[], &[&bom_path]);
    assert_eq!(bom_run.calls.len(), 1);
    let [e] = bom_run.errors.as_slice() else {
        panic!("{:?}", bom_run.errors)
    };
    assert_eq!(pos(e), (2, 11, "csv_invalid"));
    assert_eq!(bom.starts[1], (2, 11));

    // The same rows with `\n` endings and no BOM give the same calls.
    let plain = write(dir.path(), "lf.csv", csv_text(&rows, "\n", false).bytes);
    let lf_run = convert(dir.path(), &[], &[&plain]);
    assert_eq!(
        run.calls
            .iter()
            .map(|c| without_message_id(c))
            .collect::<Vec<_>>(),
        lf_run
            .calls
            .iter()
            .map(|c| without_message_id(c))
            .collect::<Vec<_>>()
    );
}

/// Rows after CRLF line endings and after blank lines are located at their own first byte,
/// their `raw` is their own bytes, and their derived messageIds are those of the same rows
/// with `\n` endings (a row's bytes do not include its line ending, as for NDJSON).
#[test]
fn crlf_and_blank_lines_keep_row_positions_raw_and_ids() {
    let dir = tempfile::tempdir().unwrap();
    let rows = ["id,plan", "1,a", "2,\"x\r\ny\"", "3,b,extra", "4,c", "5"];
    let crlf = csv_text(&rows, "\r\n", false);
    let lf_text = csv_text(&rows, "\n", false);
    let a = write(dir.path(), "crlf.csv", &crlf.bytes);
    let b = write(dir.path(), "lf.csv", &lf_text.bytes);
    let crlf_run = convert(dir.path(), &[], &[&a]);
    let lf_run = convert(dir.path(), &[], &[&b]);
    assert_eq!(
        crlf_run.calls, lf_run.calls,
        "a row's derived id must not depend on the line endings"
    );
    for (run, text) in [(&crlf_run, &crlf), (&lf_run, &lf_text)] {
        let got: Vec<_> = run
            .errors
            .iter()
            .map(|e| (pos(e), e["raw"].as_str().unwrap()))
            .collect();
        let (l3, o3) = text.starts[3];
        let (l5, o5) = text.starts[5];
        assert_eq!(
            got,
            vec![
                ((l3, o3, "csv_invalid"), "3,b,extra"),
                ((l5, o5, "csv_invalid"), "5")
            ]
        );
    }
    // Blank lines between rows are skipped; the next row keeps its own line and offset.
    let blanks = b"id,plan\n1,a\n\n\n2,b,c\n";
    let c = write(dir.path(), "blanks.csv", blanks);
    let run = convert(dir.path(), &[], &[&c]);
    let [e] = run.errors.as_slice() else {
        panic!("{:?}", run.errors)
    };
    assert_eq!(pos(e), (5, 14, "csv_invalid"));
    assert_eq!(e["raw"], "2,b,c");
}

/// decision: blank lines in a CSV file are skipped; they are not records (docs/mapping.md speaks of
/// NDJSON blank lines only).
#[test]
fn blank_lines_are_not_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "blank.csv", "id,plan\n1,a\n\n\n2,b\n\n");
    let run = convert(dir.path(), &[], &[&path]);
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    assert_eq!(run.calls.len(), 2);
    assert_eq!(input_counts(&run, 0), (2, 2, 0));
}

#[test]
fn tsv_input() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        "id\temail\tnotes\tseats:number",
        "t-1\tt@example.com\ta, b; c\t3",
        "t-2\t\t\"tab\there\nand \"\"there\"\"\"\t",
        "t-3\tonly,two\tcells",
    ];
    let text = csv_text(&rows, "\n", false);
    let path = write(dir.path(), "people.tsv", &text.bytes);
    let run = convert(dir.path(), &[], &[&path]);
    expect_calls(
        "tsv",
        &run.calls,
        &[
            call(
                r#"{"type":"identify","userId":"t-1","traits":{"notes":"a, b; c","seats":3},"context":{"journeys":{"identifiers":{"id":"t-1","email":"t@example.com"}}}"#,
                DERIVED,
                NOW,
                NOW,
            ),
            call(
                r#"{"type":"identify","userId":"t-2","traits":{"notes":"tab\there\nand \"there\""},"context":{"journeys":{"identifiers":{"id":"t-2"}}}"#,
                DERIVED,
                NOW,
                NOW,
            ),
        ],
    );
    let [e] = run.errors.as_slice() else {
        panic!("{:?}", run.errors)
    };
    let (line, offset) = text.starts[3];
    assert_eq!(pos(e), (line, offset, "csv_invalid"));
    assert_eq!(message(e), "the row has 3 cells, the header has 4");
    assert_eq!(e["raw"], rows[3]);
}

// ------------------------------------------------------------------------------------------
// Rejects

/// Every kind of bad row, each rejected with its position and raw text while the rows around
/// it convert; records after multi-line quoted cells keep their physical line.
#[test]
fn bad_rows_are_rejected_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        "id,plan,seats:number,vip:bool,tags:json",
        "1,pro,5,true,[1]",
        "2,pro",
        "3,\"multi\nline\",5,true,[1],extra",
        "4,pro,five,,",
        "5,pro,,yes,",
        "6,pro,,,\"[1,\n\"",
        "7,\u{1}x,,,",
        "8,\"two\nlines\",-1.5e3,false,\"{\"\"a\"\": [true, null]}\"",
        "9,,,,",
        "10,,,,",
    ];
    let text = csv_text(&rows, "\n", false);
    let path = write(dir.path(), "bad.csv", &text.bytes);
    let run = convert(dir.path(), &[], &[&path]);
    expect_calls(
        "bad rows",
        &run.calls,
        &[
            identify("1", r#"{"plan":"pro","seats":5,"vip":true,"tags":[1]}"#),
            identify(
                "8",
                r#"{"plan":"two\nlines","seats":-1.5e3,"vip":false,"tags":{"a":[true,null]}}"#,
            ),
            // Empty cells leave their keys out.
            identify("9", "{}"),
            identify("10", "{}"),
        ],
    );
    let want = [
        (2, "the row has 2 cells, the header has 5"),
        (3, "the row has 6 cells, the header has 5"),
        (4, "seats:number"),
        (5, "vip:bool"),
        (6, "tags:json"),
        (7, "UTF-8"),
    ];
    assert_eq!(run.errors.len(), want.len(), "{:?}", run.errors);
    for (e, (row, msg)) in run.errors.iter().zip(want) {
        let (line, offset) = text.starts[row];
        assert_eq!(pos(e), (line, offset, "csv_invalid"), "row {row}: {e}");
        assert!(message(e).contains(msg), "row {row}: {e}");
        assert_eq!(e["source"], path.to_str().unwrap());
        assert!(e.get("item").is_none());
        if row == 7 {
            // Invalid UTF-8: the raw bytes in base64, no `raw`.
            assert!(e.get("raw").is_none(), "{e}");
            assert_eq!(e["raw_base64"], "Nyz/eCwsLA==");
        } else {
            assert_eq!(e["raw"], rows[row], "row {row}");
        }
    }
    // The line numbers of rows after multi-line cells count the lines inside those cells.
    assert_eq!(
        text.starts.iter().map(|s| s.0).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 6, 7, 8, 10, 11, 13, 14]
    );
    assert_eq!(input_counts(&run, 0), (10, 4, 6));
    assert_eq!(run.manifest["totals"]["rejects"]["csv_invalid"], 6);
}

/// An always-JSON column holding text that is not JSON makes its row `invalid_json` (while a
/// `:json` suffix makes it `csv_invalid`, see above).
#[test]
fn invalid_json_in_an_always_json_column() {
    let dir = tempfile::tempdir().unwrap();
    let http_rows = [
        "method,path,body",
        r##"PUT,/api/v1/customers/1,"{""a"":""x, y""""##,
        r#"PUT,/api/v1/customers/2,"{""a"": ""x, y""}""#,
    ];
    let http = csv_text(&http_rows, "\n", false);
    let v2_rows = [
        "type,action,identifiers,attributes",
        r#"person,identify,"{""id"":""3""}",{oops"#,
        r#"person,identify,id=4,"#,
    ];
    let v2 = csv_text(&v2_rows, "\n", false);
    let a = write(dir.path(), "http.csv", &http.bytes);
    let b = write(dir.path(), "v2.csv", &v2.bytes);
    let run = convert(dir.path(), &[], &[&a, &b]);
    expect_calls(
        "invalid json",
        &run.calls,
        &[call(
            r#"{"type":"identify","userId":"2","traits":{"a":"x, y"},"context":{"journeys":{"identifiers":{"id":"2"}}}"#,
            DERIVED,
            NOW,
            NOW,
        )],
    );
    let got: Vec<_> = run
        .errors
        .iter()
        .map(|e| (pos(e), e["raw"].as_str().unwrap(), message(e)))
        .collect();
    assert_eq!(got.len(), 3, "{got:?}");
    for ((p, raw, msg), (text, rows, row, column)) in got.iter().zip([
        (&http, &http_rows[..], 1, "body"),
        (&v2, &v2_rows[..], 1, "attributes"),
        (&v2, &v2_rows[..], 2, "identifiers"),
    ]) {
        assert_eq!(*p, (text.starts[row].0, text.starts[row].1, "invalid_json"));
        assert_eq!(*raw, rows[row]);
        assert!(msg.contains(column), "{msg}");
    }
}

/// A header that fits no layout: every row is `unknown_shape` with a message naming the
/// columns each layout needs, and the next input still converts.
#[test]
fn header_fitting_no_layout() {
    let dir = tempfile::tempdir().unwrap();
    let odd = write(dir.path(), "odd.csv", "foo,bar.baz\n1,2\n\"3\n\",4\n");
    let people = write(dir.path(), "people.csv", lf(PEOPLE_CSV));
    let run = convert(dir.path(), &[], &[&odd, &people]);
    let got: Vec<_> = run.errors.iter().map(pos).collect();
    assert_eq!(
        got,
        vec![(2, 12, "unknown_shape"), (3, 16, "unknown_shape")]
    );
    for e in &run.errors {
        let m = message(e);
        for col in [
            "method",
            "path",
            "url",
            "type",
            "action",
            "name",
            "id",
            "email",
            "cio_id",
            "anonymous_id",
            "foo, bar.baz",
        ] {
            assert!(m.contains(col), "{col} not in {m}");
        }
    }
    assert_eq!(run.errors[1]["raw"], "\"3\n\",4");
    assert_eq!(input_counts(&run, 0), (2, 0, 2));
    assert_eq!(input_counts(&run, 1), (4, 4, 0));
    expect_calls("after the odd header", &run.calls, &people_expected());
}

/// A header cell may span lines; the last row needs no line ending.
#[test]
fn multi_line_header_and_last_row_without_newline() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "mh.csv", "id,\"long\nname\"\n1\n2,a\n3,b,c");
    let run = convert(dir.path(), &[], &[&path]);
    expect_calls(
        "multi-line header",
        &run.calls,
        &[call(
            r#"{"type":"identify","userId":"2","traits":{"long\nname":"a"},"context":{"journeys":{"identifiers":{"id":"2"}}}"#,
            DERIVED,
            NOW,
            NOW,
        )],
    );
    let got: Vec<_> = run
        .errors
        .iter()
        .map(|e| (pos(e), e["raw"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            ((3, 15, "csv_invalid"), "1"),
            ((5, 21, "csv_invalid"), "3,b,c")
        ]
    );
}

/// docs/mapping.md: with a header that fits no layout, *every* row is `unknown_shape`, ragged ones
/// included.
#[test]
fn header_fitting_no_layout_makes_ragged_rows_unknown_shape_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "odd.csv", "foo,bar\n1,2,3\n4\n5,6\n");
    let run = convert(dir.path(), &[], &[&path]);
    let got: Vec<_> = run.errors.iter().map(pos).collect();
    assert_eq!(
        got,
        vec![
            (2, 8, "unknown_shape"),
            (3, 14, "unknown_shape"),
            (4, 16, "unknown_shape")
        ]
    );
}

/// decision: a header that sets one key twice (`a` and `a.b`) is unusable; every row is
/// `csv_invalid`.
#[test]
fn header_setting_a_key_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "dup.csv", "id,a,a.b\n1,x,y\n");
    let run = convert(dir.path(), &[], &[&path]);
    let [e] = run.errors.as_slice() else {
        panic!("{:?}", run.errors)
    };
    assert_eq!(pos(e), (2, 9, "csv_invalid"));
    assert!(message(e).contains("\"a\""), "{e}");
}

// ------------------------------------------------------------------------------------------
// Options and input forms

#[test]
fn csv_layout_override() {
    let dir = tempfile::tempdir().unwrap();
    // With a `name` column this header is the events layout...
    let path = write(
        dir.path(),
        "people.csv",
        "id,name,email\nu-1,Ada,ada@example.com\n",
    );
    let auto = convert(dir.path(), &[], &[&path]);
    expect_calls(
        "auto",
        &auto.calls,
        &[call(
            r#"{"type":"track","userId":"u-1","event":"Ada","properties":{},"context":{"journeys":{"identifiers":{"id":"u-1","email":"ada@example.com"}}}"#,
            DERIVED,
            NOW,
            NOW,
        )],
    );
    // ...unless `--csv-layout people` says otherwise: `name` is then a trait.
    let forced = convert(dir.path(), &["--csv-layout", "people"], &[&path]);
    expect_calls(
        "forced people",
        &forced.calls,
        &[call(
            r#"{"type":"identify","userId":"u-1","traits":{"name":"Ada"},"context":{"journeys":{"identifiers":{"id":"u-1","email":"ada@example.com"}}}"#,
            DERIVED,
            NOW,
            NOW,
        )],
    );
    // A forced layout applies to headers that would fit no layout too.
    let odd = write(
        dir.path(),
        "odd.csv",
        "verb,path,body\nPUT,/api/v1/customers/7,\n",
    );
    let http = convert(dir.path(), &["--csv-layout", "http"], &[&odd]);
    assert_eq!(http.errors.len(), 1);
    // The forced layout only says how rows become records: without a `method` column a row
    // is no HTTP call (docs/mapping.md).
    assert_eq!(http.errors[0]["code"], "unknown_shape");
}

#[test]
fn input_format_csv_without_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = lf(PEOPLE_CSV);
    let txt = write(dir.path(), "people.txt", &bytes);
    let run = convert(dir.path(), &["--input-format", "csv"], &[&txt]);
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    expect_calls("--input-format csv", &run.calls, &people_expected());
    // Without the flag the file is NDJSON, and not one of its lines is JSON.
    let ndjson = convert(dir.path(), &[], &[&txt]);
    assert!(ndjson.calls.is_empty());
    assert!(ndjson.errors.iter().all(|e| e["code"] == "invalid_json"));
    // Standard input, too.
    let stdin = convert_with(
        dir.path(),
        &["--input-format", "csv"],
        &[Path::new("-")],
        Some(&bytes),
    );
    assert_eq!(stdin.calls, run.calls);
    assert_eq!(stdin.manifest["inputs"][0]["source"], "-");
}

#[test]
fn compressed_csv_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let people = lf(PEOPLE_CSV);
    let events = lf(EVENTS_CSV);
    let plain_people = write(dir.path(), "people.csv", &people);
    let plain_events = write(dir.path(), "events.csv", &events);
    let gz = write(dir.path(), "people.csv.gz", gzip(&people));
    let zst = write(dir.path(), "events.csv.zst", zstd_frame(&events));
    let tsv_gz = write(
        dir.path(),
        "people.tsv.gz",
        gzip(&lf(&PEOPLE_CSV
            .iter()
            .map(|r| r.replace(',', "\t"))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>())),
    );
    let plain = convert(dir.path(), &[], &[&plain_people, &plain_events]);
    let packed = convert(dir.path(), &[], &[&gz, &zst]);
    // The calls of compressed CSV are those of the plain files, messageIds included: a derived
    // id hashes the decompressed row.
    assert!(
        packed.part_bytes() == plain.part_bytes(),
        "compressed inputs give other calls"
    );
    assert!(packed.errors.is_empty(), "{:?}", packed.errors);
    for i in 0..2 {
        let p = &packed.manifest["inputs"][i];
        assert_eq!(
            p["bytes_decompressed"].as_u64().unwrap(),
            [people.len(), events.len()][i] as u64
        );
        assert!(p["bytes_read"].as_u64().unwrap() < p["bytes_decompressed"].as_u64().unwrap());
    }
    // `.tsv.gz` is tab-separated (the quoted comma in a PEOPLE_CSV cell became a tab).
    let tsv = convert(dir.path(), &[], &[&tsv_gz]);
    assert!(tsv.errors.is_empty(), "{:?}", tsv.errors);
    let want: Vec<String> = people_expected()
        .iter()
        .map(|c| c.replace(", always", "\\t always"))
        .collect();
    expect_calls("tsv.gz", &tsv.calls, &want);
}

/// Every shipped sample converts, and its manifest accounts for every row.
#[test]
fn samples_convert_and_account() {
    let dir = tempfile::tempdir().unwrap();
    let samples = crate::common::repo_file("samples/csv");
    let run = convert(dir.path(), &[], &[&samples]);
    let inputs = run.manifest["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 4);
    for (i, input) in inputs.iter().enumerate() {
        let (records, converted, _) = input_counts(&run, i);
        assert!(records > 0 && converted > 0, "{input}");
    }
}

// ------------------------------------------------------------------------------------------
// Positions and block sizes

/// A few thousand rows with multi-line quoted cells (some longer than a 4 KiB block, so
/// records span block boundaries) and rejected rows spread through them.
struct Big {
    text: CsvText,
    /// Index (in rows) of each rejected row and its raw text.
    rejected: Vec<(usize, String)>,
    /// The `note` property of each converted row, in order.
    notes: Vec<String>,
}

fn big_csv() -> Big {
    let mut rows = vec!["id,name,timestamp,note,n:number".to_owned()];
    let (mut rejected, mut notes) = (Vec::new(), Vec::new());
    for i in 0..3000usize {
        let note = match i % 13 {
            0 => format!("line one {i}\nline \"two\", three\r\nline 4"),
            3 => "ab\n".repeat(1 + (i * 37) % 2500),
            7 => format!("x,{i}"),
            _ => format!("plain {i}"),
        };
        let quoted = format!("\"{}\"", note.replace('"', "\"\""));
        let (n, extra) = match i {
            _ if i % 97 == 5 => ("bad", ""),
            _ if i % 211 == 7 => ("1", ",extra"),
            _ => ("1.50", ""),
        };
        let row = format!(
            "u{i},Event {i},{},{quoted},{n}{extra}",
            1_700_000_000 + i as u64
        );
        if n == "bad" || !extra.is_empty() {
            rejected.push((rows.len(), row.clone()));
        } else {
            notes.push(note);
        }
        rows.push(row);
    }
    let refs: Vec<&str> = rows.iter().map(String::as_str).collect();
    Big {
        text: csv_text(&refs, "\n", false),
        rejected,
        notes,
    }
}

#[test]
fn output_does_not_depend_on_block_size_or_threads() {
    let dir = tempfile::tempdir().unwrap();
    let big = big_csv();
    assert!(big.text.bytes.len() > 100 * 4096, "spans many blocks");
    let path = write(dir.path(), "big.csv", &big.text.bytes);
    let default = convert(dir.path(), &[], &[&path]);
    let small = convert(dir.path(), &["--block-size", "4KiB"], &[&path]);
    let one = convert(
        dir.path(),
        &["--block-size", "4KiB", "--threads", "1"],
        &[&path],
    );
    let one_default = convert(dir.path(), &["--threads", "1"], &[&path]);
    for (label, run) in [
        ("4KiB", &small),
        ("4KiB, 1 thread", &one),
        ("1 thread", &one_default),
    ] {
        assert!(
            run.part_bytes() == default.part_bytes(),
            "{label}: calls differ"
        );
        assert!(
            run.errors_bytes() == default.errors_bytes(),
            "{label}: errors differ"
        );
    }
    // Every record whole: each note as written, however many blocks it spans.
    assert_eq!(default.calls.len(), big.notes.len());
    for (c, note) in default.calls.iter().zip(&big.notes) {
        let v: Value = serde_json::from_str(c).unwrap();
        assert_eq!(v["properties"]["note"].as_str(), Some(note.as_str()));
    }
    // Every reject where its record starts.
    assert_eq!(small.errors.len(), big.rejected.len());
    for (e, (row, raw)) in small.errors.iter().zip(&big.rejected) {
        let (line, offset) = big.text.starts[*row];
        assert_eq!(
            (e["line"].as_u64(), e["offset"].as_u64()),
            (Some(line), Some(offset)),
            "row {row}"
        );
        assert_eq!(e["raw"].as_str(), Some(raw.as_str()), "row {row}");
    }
    assert_eq!(
        input_counts(&small, 0),
        (3000, big.notes.len() as u64, big.rejected.len() as u64)
    );
}

/// A CSV record longer than `--max-line-bytes` is rejected as `line_too_long`, whatever the
/// block size (docs/mapping.md: output does not depend on the chunk size).
#[test]
fn max_line_bytes_applies_to_csv_records_at_any_block_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = vec!["id,note".to_owned()];
    for i in 0..200 {
        rows.push(if i % 50 == 10 {
            format!("u{i},\"{}\"", "abc\n".repeat(3000))
        } else {
            format!("u{i},n{i}")
        });
    }
    let refs: Vec<&str> = rows.iter().map(String::as_str).collect();
    let text = csv_text(&refs, "\n", false);
    let path = write(dir.path(), "long.csv", &text.bytes);
    let opts = ["--max-line-bytes", "5000"];
    let default = convert(dir.path(), &opts, &[&path]);
    let small = convert(
        dir.path(),
        &[opts[0], opts[1], "--block-size", "4KiB"],
        &[&path],
    );
    assert!(small.part_bytes() == default.part_bytes(), "calls differ");
    assert!(
        small.errors_bytes() == default.errors_bytes(),
        "errors differ"
    );
    let got: Vec<_> = default.errors.iter().map(pos).collect();
    let want: Vec<_> = [11, 61, 111, 161]
        .iter()
        .map(|&r| (text.starts[r].0, text.starts[r].1, "line_too_long"))
        .collect();
    assert_eq!(got, want);
}

/// A bare `\r` (not before `\n`) inside an unquoted cell must not make the records depend on
/// the block size.
#[test]
fn bare_carriage_returns_do_not_depend_on_block_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("id,note\n");
    for i in 0..20_000 {
        text.push_str(&format!("u{i},a\r\"b\nc\"\n"));
    }
    let path = write(dir.path(), "cr.csv", text);
    let default = convert(dir.path(), &[], &[&path]);
    let small = convert(dir.path(), &["--block-size", "4KiB"], &[&path]);
    assert_eq!(
        input_counts(&small, 0),
        input_counts(&default, 0),
        "records differ by block size"
    );
    assert!(
        small.errors_bytes() == default.errors_bytes(),
        "errors differ"
    );
    assert!(small.part_bytes() == default.part_bytes(), "calls differ");
}

/// A row whose quote never closes runs to the end of the file, its line ends included: it
/// converts with them, and its `line_too_long` entry (raw head, `length`) is the same whether
/// the framer cuts it out while reading (small blocks) or the row reader meets it.
#[test]
fn unclosed_quote_runs_to_the_end_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let short = write(
        dir.path(),
        "open.csv",
        "id,email\n1,a@example.com\n2,\"never closed\nstill inside\n\n",
    );
    let run = convert(dir.path(), &[], &[&short]);
    assert!(run.errors.is_empty());
    assert!(
        run.calls[1].contains(r#""email":"never closed\nstill inside\n\n""#),
        "{}",
        run.calls[1]
    );
    // The quote may end the file on a `\n` or on a `\r`: both are inside it.
    for end in ["\n\n", "\r"] {
        let row = format!("2,\"{}{end}", "x".repeat(10_000));
        let long = write(
            dir.path(),
            "long.csv",
            format!("id,email\n1,a@example.com\n{row}"),
        );
        let mut seen = Vec::new();
        for block in ["4KiB", "2MiB"] {
            let run = convert(
                dir.path(),
                &["--max-line-bytes", "100", "--block-size", block],
                &[&long],
            );
            let e = &run.errors[0];
            assert_eq!(pos(e), (3, 25, "line_too_long"), "block {block}");
            let length = e["length"].as_u64();
            assert_eq!(length, Some(row.len() as u64), "block {block}, end {end:?}");
            seen.push(run.errors_bytes());
        }
        assert_eq!(seen[0], seen[1], "the error file depends on the block size");
    }
}

/// A JSON column must hold exactly one JSON value: text that would close the value and add
/// members of its own to the record (or leave it open) is `invalid_json` for that column, never
/// a call built from the smuggled members. (JSON columns are checked through the record's own
/// parse, which must find one value exactly where the cell was written.)
#[test]
fn a_json_cell_cannot_add_members_to_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        "body,method,path",
        r#""{""email"":""a@example.com""},""path"":""/api/v1/customers/666""",PUT,/api/v1/customers/1"#,
        r#""{""email"":""b@example.com""}   ",PUT,/api/v1/customers/2"#,
        r#""{""email"":""c@example.com""",PUT,/api/v1/customers/3"#,
        r#""1,""method"":""DELETE""",PUT,/api/v1/customers/4"#,
    ];
    let text = csv_text(&rows, "\n", false);
    let path = write(dir.path(), "smuggle.csv", &text.bytes);
    let run = convert(dir.path(), &[], &[&path]);
    // Only the row whose body is one object (with spaces after it) converts.
    assert_eq!(run.calls.len(), 1, "{:?}", run.calls);
    assert!(run.calls[0].contains(r#""userId":"2""#), "{}", run.calls[0]);
    let got: Vec<_> = run
        .errors
        .iter()
        .map(|e| (pos(e).2, e["raw"].as_str().unwrap(), message(e)))
        .collect();
    assert_eq!(got.len(), 3, "{got:?}");
    for ((code, raw, msg), row) in got.iter().zip([1, 3, 4]) {
        assert_eq!((*code, *raw), ("invalid_json", rows[row]));
        assert!(msg.contains("column body"), "{msg}");
    }
}

// ------------------------------------------------------------------------------------------
// A JSON column and dotted columns of the same key

/// A JSON column (`attributes`) and dotted columns below it (`attributes.plan:number`) combine:
/// the cell's object first, then each dotted column's key set inside it, in header order. A key
/// the cell already holds, or a path through one of its values that is not an object, makes
/// that row `csv_invalid`; the other rows convert.
#[test]
fn a_json_column_and_dotted_columns_of_the_same_key_combine() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        "type,action,identifiers.id,attributes.plan:number,attributes,attributes.address.city",
        r#"person,identify,1,5,"{""name"":""Ada"",""address"":{""zip"":""75001""},""n"":1.50}",Paris"#,
        "person,identify,2,3,,",
        r#"person,identify,3,,"{""plan"":1}","#,
        r#"person,identify,4,2,"{""plan"":1}","#,
        r#"person,identify,5,,"{""address"":""Main St""}",Paris"#,
        r#"person,identify,6,2,"[1]","#,
        r#"person,identify,7,,"{""address"":{""city"":""Lyon""}}",Paris"#,
        r#"person,identify,8,2,"{",x"#,
    ];
    let text = csv_text(&rows, "\n", false);
    let path = write(dir.path(), "combine.csv", &text.bytes);
    let run = convert(dir.path(), &[], &[&path]);
    expect_calls(
        "combined columns",
        &run.calls,
        &[
            identify(
                "1",
                r#"{"name":"Ada","address":{"zip":"75001","city":"Paris"},"n":1.50,"plan":5}"#,
            ),
            identify("2", r#"{"plan":3}"#),
            identify("3", r#"{"plan":1}"#),
        ],
    );
    let got: Vec<(u64, &str, &str)> = run
        .errors
        .iter()
        .map(|e| (pos(e).0, pos(e).2, message(e)))
        .collect();
    assert_eq!(
        got,
        [
            (
                5,
                "csv_invalid",
                "column attributes.plan:number sets attributes.plan, which column attributes already holds"
            ),
            (
                6,
                "csv_invalid",
                "column attributes.address.city sets a key inside attributes.address, but column attributes holds a string there, not an object"
            ),
            (
                7,
                "csv_invalid",
                "column attributes.plan:number sets a key inside attributes, but column attributes holds an array there, not an object"
            ),
            (
                8,
                "csv_invalid",
                "column attributes.address.city sets attributes.address.city, which column attributes already holds"
            ),
            // A JSON cell that is not JSON is invalid_json, as in any always-JSON column.
            (
                9,
                "invalid_json",
                "column attributes is not valid JSON: EOF while parsing an object at line 1 column 1"
            ),
        ][..],
        "{:?}",
        run.errors
    );
    assert_eq!(input_counts(&run, 0), (8, 3, 5));
}

/// The same rule in the HTTP-calls layout: `body` and `body.type` make one body.
#[test]
fn a_body_column_and_dotted_body_columns_combine() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "http.csv",
        "method,path,body,body.type\n\
         POST,/api/v1/customers/42/events,\"{\"\"name\"\":\"\"/pricing\"\"}\",page\n\
         POST,/api/v1/customers/42/events,\"{\"\"name\"\":\"\"/a\"\",\"\"type\"\":\"\"page\"\"}\",screen\n",
    );
    let run = convert(dir.path(), &[], &[&path]);
    expect_calls(
        "body columns",
        &run.calls,
        &[call(
            r#"{"type":"page","userId":"42","name":"/pricing","properties":{"url":"/pricing"},"context":{"journeys":{"identifiers":{"id":"42"}}}"#,
            DERIVED,
            NOW,
            NOW,
        )],
    );
    let [e] = run.errors.as_slice() else {
        panic!("{:?}", run.errors)
    };
    assert_eq!(pos(e).0, 3);
    assert_eq!(
        message(e),
        "column body.type sets body.type, which column body already holds"
    );
}
