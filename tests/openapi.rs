//! Every Pipelines call must validate against the request-body schema of its endpoint in
//! Customer.io's Pipelines OpenAPI file (`tests/reference/customer-io-pipelines-api-openapi.json`,
//! OpenAPI 3.1, whose schemas are JSON Schema 2020-12). The call's `type` picks the endpoint
//! (`/identify`, `/track`, `/page`, `/screen`, `/group`, `/alias`); the schema used is
//! `paths./<type>.post.requestBody.content.application/json.schema`, compiled together with the
//! document's `components` so that its `#/components/...` references resolve in-document (no
//! network, no file outside the repository). `format` is validated (`date-time` for `timestamp`
//! and `sentAt`).
//!
//! # How `oneOf` is read
//!
//! Taken literally, `oneOf` demands that *exactly one* branch match. The branches in this document
//! are not written to be mutually exclusive, so a literal reading rejects calls the API plainly
//! accepts:
//!
//! - `identify`, `page`, `screen` (and `user`): a `userId` branch and an `anonymousId` branch, each
//!   requiring only its own id and neither forbidding the other. A call carrying both (a v1
//!   identify whose body has `anonymous_id`, docs/mapping.md) matches both.
//! - `group`: two branches (`userId` / `anonymousId`) that require *nothing*, so every group call
//!   matches both and a literal `oneOf` rejects every group call there is.
//! - `all_common_fields.context` (and `context`): `context_non_mobile` vs `context_mobile`, two
//!   open objects with no `required`, so any `context` object (ours is `{"journeys":…}`) matches
//!   both and a literal `oneOf` rejects every call that has a `context` at all.
//! - `track`: the generic branch (itself a `oneOf` of `userId` / `anonymousId` / `groupId`
//!   variants, which overlap the same way) accepts any event name, and so overlaps each of the nine
//!   event-specific branches (`Device Created or Updated`, `Device Deleted`, `User Deleted`,
//!   `Relationship Deleted`, `Object Deleted`, `User Suppressed`, `User Unsuppressed`,
//!   `Report Delivery Event`, `Report Content Event`): a `User Deleted` call with a `userId`
//!   matches both the generic branch and `delete_person`.
//!
//! The rule applied (by rewriting the loaded schema JSON before compiling it, see [`read_one_of`]):
//!
//! 1. Every `oneOf` is read as `anyOf`: at least one branch must match. That is what the document
//!    means by listing alternatives ("userId or anonymousId", "mobile or non-mobile context").
//! 2. A `oneOf` some of whose branches pin `event` to a single name (`"enum": ["User Deleted"]`)
//!    is read as *discriminated by `event`*: the call must match one of the other (open) branches,
//!    and when its `event` is one of the pinned names it must also match that pinned branch. Under
//!    rule 1 alone the generic track branch would accept every event name, and the event-specific
//!    schemas (integer `objectTypeId`, required `objectId`, the `metric` enum, device `token`, …)
//!    would never be checked; and those schemas are clearly refinements of a track call, not
//!    standalone alternatives (they declare no `type`, `timestamp`, `integrations`, …). Only the
//!    `track` schema has such branches.
//!
//! Nothing else is changed: no constraint is dropped or loosened beyond the `oneOf` reading.
//! Unknown keywords (`x-scalar-ignore`, `x-additionalPropertiesName`, `example`) are annotations.
//! Note what the schemas leave open, so that a pass here is not over-read: no schema has
//! `additionalProperties: false`, so `context.journeys` is allowed without being described; and
//! the `group` schema requires neither `groupId` nor a user/anonymous id.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, ValidationError, Validator};
use serde_json::{Map, Value, json};

const OPENAPI: &str = "tests/reference/customer-io-pipelines-api-openapi.json";
const CASES: &str = "tests/conformance/cases.ndjson";
const CALL_TYPES: [&str; 6] = ["identify", "track", "page", "screen", "group", "alias"];
/// Stands in for the `"<derived>"` messageId placeholder of the conformance expectations.
const SAMPLE_ULID: &str = "01ARZ3NDEKTSV4RRFFQ69G5FAV";

fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn load_openapi() -> Value {
    let path = repo_path(OPENAPI);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// Follows an in-document reference such as `#/components/schemas/track`.
fn resolve_ref<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

/// The single event name a `oneOf` branch pins (`properties.event.enum == [name]` or
/// `properties.event.const == name`), looking through one `$ref`.
fn pinned_event(doc: &Value, branch: &Value) -> Option<String> {
    let branch = match branch.get("$ref").and_then(Value::as_str) {
        Some(reference) => resolve_ref(doc, reference)?,
        None => branch,
    };
    let event = branch.get("properties")?.get("event")?;
    if let Some(name) = event.get("const").and_then(Value::as_str) {
        return Some(name.to_owned());
    }
    match event.get("enum")?.as_array()?.as_slice() {
        [Value::String(name)] => Some(name.clone()),
        _ => None,
    }
}

/// Rewrites every `oneOf` under `node` by the rule in the module comment: plain `anyOf`, or, when
/// some branches pin `event`, `anyOf` over the open branches plus one `if event == name then
/// <pinned branch>` per pinned branch. `doc` is the original document, used to look through
/// `$ref`s when classifying branches.
fn read_one_of(node: &mut Value, doc: &Value) {
    match node {
        Value::Object(map) => {
            if let Some(Value::Array(branches)) = map.remove("oneOf") {
                let (pinned, open): (Vec<_>, Vec<_>) = branches
                    .into_iter()
                    .map(|branch| (pinned_event(doc, &branch), branch))
                    .partition(|(name, _)| name.is_some());
                if pinned.is_empty() || open.is_empty() {
                    let all = pinned.into_iter().chain(open).map(|(_, b)| b).collect();
                    map.insert("anyOf".into(), Value::Array(all));
                } else {
                    let mut all_of = vec![json!({
                        "anyOf": open.into_iter().map(|(_, b)| b).collect::<Vec<_>>()
                    })];
                    for (name, branch) in pinned {
                        all_of.push(json!({
                            "if": {"required": ["event"], "properties": {"event": {"const": name}}},
                            "then": branch,
                        }));
                    }
                    match map.get_mut("allOf") {
                        Some(Value::Array(existing)) => existing.extend(all_of),
                        _ => {
                            map.insert("allOf".into(), Value::Array(all_of));
                        }
                    }
                }
            }
            for (key, value) in map.iter_mut() {
                // Literal data, not schemas: leave them alone.
                if !matches!(
                    key.as_str(),
                    "enum" | "const" | "default" | "example" | "examples"
                ) {
                    read_one_of(value, doc);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| read_one_of(item, doc)),
        _ => {}
    }
}

fn count_key(node: &Value, key: &str) -> usize {
    match node {
        Value::Object(map) => {
            usize::from(map.contains_key(key))
                + map.values().map(|v| count_key(v, key)).sum::<usize>()
        }
        Value::Array(items) => items.iter().map(|v| count_key(v, key)).sum(),
        _ => 0,
    }
}

/// One compiled validator per endpoint (call type), and one for an element of a `/batch`
/// body (`components.schemas.batch.properties.batch.items`, whose `anyOf` lists identify,
/// track, page, screen and group, but not alias).
struct Endpoints {
    validators: Vec<(&'static str, Validator)>,
    batch_item: Validator,
}

impl Endpoints {
    fn load() -> Self {
        let doc = load_openapi();
        let mut components = doc
            .get("components")
            .cloned()
            .expect("the OpenAPI document has components");
        read_one_of(&mut components, &doc);
        assert_eq!(
            count_key(&components, "oneOf"),
            0,
            "every oneOf was rewritten"
        );
        let validators = CALL_TYPES
            .iter()
            .map(|&call_type| {
                let pointer = format!(
                    "/paths/~1{call_type}/post/requestBody/content/application~1json/schema"
                );
                let mut body_schema = doc
                    .pointer(&pointer)
                    .cloned()
                    .unwrap_or_else(|| panic!("the OpenAPI document has {pointer}"));
                read_one_of(&mut body_schema, &doc);
                // A root schema embedding the document's components, so that
                // `#/components/...` resolves within this one resource.
                let root = json!({
                    "$schema": "https://json-schema.org/draft/2020-12/schema",
                    "components": components,
                    "allOf": [body_schema],
                });
                let validator = jsonschema::options()
                    .with_draft(Draft::Draft202012)
                    .should_validate_formats(true)
                    .offline()
                    .build(&root)
                    .unwrap_or_else(|e| panic!("compiling the /{call_type} schema: {e}"));
                (call_type, validator)
            })
            .collect();
        let items = components
            .pointer("/schemas/batch/properties/batch/items")
            .cloned()
            .expect("the batch schema describes its items");
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": components,
            "allOf": [items],
        });
        let batch_item = jsonschema::options()
            .with_draft(Draft::Draft202012)
            .should_validate_formats(true)
            .offline()
            .build(&root)
            .unwrap_or_else(|e| panic!("compiling the batch item schema: {e}"));
        Endpoints {
            validators,
            batch_item,
        }
    }

    /// Validates one call as an element of a `/batch` body; `Err` holds a readable report.
    fn check_batch_item(&self, call: &Value) -> Result<(), String> {
        let errors: Vec<_> = self.batch_item.iter_errors(call).collect();
        if errors.is_empty() {
            return Ok(());
        }
        let mut report = String::from("invalid as an element of a /batch body:\n");
        for error in &errors {
            describe(error, 1, &mut report);
        }
        Err(report)
    }

    /// Validates one call against its endpoint; `Err` holds a readable report.
    fn check(&self, call: &Value) -> Result<(), String> {
        let Some(call_type) = call.get("type").and_then(Value::as_str) else {
            return Err("the call has no string `type`".into());
        };
        let Some((_, validator)) = self.validators.iter().find(|(t, _)| *t == call_type) else {
            return Err(format!("`type` {call_type:?} is no Pipelines endpoint"));
        };
        let errors: Vec<_> = validator.iter_errors(call).collect();
        if errors.is_empty() {
            return Ok(());
        }
        let mut report = format!("invalid against the /{call_type} request-body schema:\n");
        for error in &errors {
            describe(error, 1, &mut report);
        }
        Err(report)
    }
}

/// Writes an error and, for `anyOf` failures, why each branch failed.
fn describe(error: &ValidationError<'_>, depth: usize, out: &mut String) {
    let indent = "  ".repeat(depth);
    let _ = writeln!(
        out,
        "{indent}at {:?} (schema {}): {error}",
        error.instance_path().as_str(),
        error.schema_path().as_str()
    );
    if let ValidationErrorKind::AnyOf { context } = error.kind() {
        for (i, branch) in context.iter().enumerate() {
            let _ = writeln!(out, "{indent}  branch {i}:");
            for sub in branch {
                describe(sub, depth + 2, out);
            }
        }
    }
}

struct Case {
    name: String,
    input: String,
    expect: Vec<String>,
}

fn load_cases() -> Vec<Case> {
    let path = repo_path(CASES);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            let case: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), n + 1));
            let field = |key: &str| {
                case.get(key)
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| panic!("{}:{}: no string `{key}`", path.display(), n + 1))
                    .to_owned()
            };
            let expect = match case.get("expect") {
                None => Vec::new(),
                Some(Value::Array(calls)) => calls
                    .iter()
                    .map(|c| c.as_str().expect("expect holds strings").to_owned())
                    .collect(),
                Some(other) => panic!("{}:{}: `expect` is {other}", path.display(), n + 1),
            };
            Case {
                name: field("name"),
                input: field("input"),
                expect,
            }
        })
        .collect()
}

fn parse_call(text: &str) -> Value {
    let mut call: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("call is not JSON ({e}): {text}"));
    if let Some(id) = call.get_mut("messageId")
        && id == "<derived>"
    {
        *id = Value::String(SAMPLE_ULID.into());
    }
    call
}

#[test]
fn expected_calls_validate() {
    let endpoints = Endpoints::load();
    let cases = load_cases();
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut types = BTreeSet::new();
    for case in &cases {
        for text in &case.expect {
            let call = parse_call(text);
            if let Some(t) = call.get("type").and_then(Value::as_str) {
                types.insert(t.to_owned());
            }
            checked += 1;
            if let Err(report) = endpoints.check(&call) {
                failures.push(format!("case {:?}\n  call: {text}\n{report}", case.name));
            }
        }
    }
    assert!(checked > 0, "no expected calls in {CASES}");
    eprintln!("validated {checked} expected calls of types {types:?}");
    assert!(
        failures.is_empty(),
        "{} of {checked} expected calls fail their endpoint schema:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every `part-*.ndjson` file below `dir` (hidden temporary files skipped).
fn part_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            part_files(&path, found);
        } else if name.starts_with("part-") && name.ends_with(".ndjson") {
            found.push(path);
        }
    }
}

/// Inputs beyond the conformance cases, for [`binary_output_validates`].
const EXTRA_INPUTS: [&str; 4] = [
    r#"{"method":"POST","path":"/api/v1/forms/f1/submit","sent_at":1700000000,"body":{"data":{"email":"a@b.co","name":"Ada"}}}"#,
    r#"{"method":"POST","path":"/api/v1/forms/f1/submit","body":{"data":{"id":42,"plan":"pro"}}}"#,
    r#"{"type":"person","identifiers":{"id":"1","email":"a@b.co"},"action":"identify","attributes":{"plan":"p"}}"#,
    r#"{"method":"PUT","path":"/api/v1/customers/a%40b.co","body":{"plan":"p"}}"#,
];

#[test]
fn binary_output_validates() {
    let endpoints = Endpoints::load();
    let cases = load_cases();
    let tmp = tempfile::tempdir().expect("temp dir");
    let input = tmp.path().join("cases-input.ndjson");
    let mut lines = String::new();
    for case in &cases {
        lines.push_str(&case.input);
        lines.push('\n');
    }
    // Calls no case holds: form submissions, and identifies that `--email-trait` (given below)
    // changes.
    for extra in EXTRA_INPUTS {
        lines.push_str(extra);
        lines.push('\n');
    }
    std::fs::write(&input, lines).expect("writing the input file");
    let out = tmp.path().join("out");

    let output = crate::common::run::t2p()
        .arg("convert")
        .arg("--out")
        .arg(&out)
        .args(["--partition-by", "none"])
        .args(["--now", "2026-01-01T00:00:00Z"])
        .args(["--progress", "never"])
        .arg("--email-trait")
        .arg(&input)
        .output()
        .expect("running track2pipelines");
    let code = output.status.code();
    assert!(
        matches!(code, Some(0 | 3)),
        "convert exited with {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    assert!(
        out.is_dir(),
        "convert exited with {:?} but wrote no {}\nstderr:\n{}",
        output.status,
        out.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let mut files = Vec::new();
    part_files(&out, &mut files);
    let mut failures = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        for (n, line) in text.lines().enumerate() {
            let call: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}:{}: not JSON ({e}): {line}", file.display(), n + 1));
            checked += 1;
            if let Err(report) = endpoints.check(&call) {
                failures.push(format!(
                    "{}:{}\n  call: {line}\n{report}",
                    file.display(),
                    n + 1
                ));
            }
        }
    }
    assert!(
        checked > 0,
        "no calls read from part files under {} (files: {files:?})",
        out.display()
    );
    assert!(
        failures.is_empty(),
        "{} of {checked} output calls fail their endpoint schema:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A valid call of each type, to derive invalid ones from.
fn valid_calls() -> Map<String, Value> {
    let common = |mut call: Value| {
        let obj = call.as_object_mut().expect("object");
        obj.insert(
            "context".into(),
            json!({"journeys": {"identifiers": {"id": "42"}}}),
        );
        obj.insert("integrations".into(), json!({"All": true}));
        obj.insert("messageId".into(), json!(SAMPLE_ULID));
        obj.insert("timestamp".into(), json!("2026-01-01T00:00:00.000Z"));
        obj.insert("sentAt".into(), json!("2026-01-01T00:00:00.000Z"));
        call
    };
    let mut calls = Map::new();
    for (name, call) in [
        (
            "identify",
            json!({"type": "identify", "userId": "42", "traits": {"plan": "pro"}}),
        ),
        (
            "track",
            json!({"type": "track", "userId": "42", "event": "Clicked", "properties": {}}),
        ),
        (
            "relationship_deleted",
            json!({"type": "track", "userId": "42", "event": "Relationship Deleted",
                   "properties": {"objectId": "acme", "objectTypeId": 1}}),
        ),
        (
            "report_delivery_event",
            json!({"type": "track", "anonymousId": "RPI1", "event": "Report Delivery Event",
                   "properties": {"deliveryId": "RPI1", "metric": "opened"}}),
        ),
        (
            "page",
            json!({"type": "page", "anonymousId": "a1", "name": "Home", "properties": {}}),
        ),
        (
            "screen",
            json!({"type": "screen", "userId": "42", "name": "Home", "properties": {}}),
        ),
        (
            "group",
            json!({"type": "group", "userId": "42", "groupId": "acme",
                   "traits": {"object_type_id": "1"}}),
        ),
        (
            "alias",
            json!({"type": "alias", "userId": "42", "previousId": "41"}),
        ),
    ] {
        calls.insert(name.into(), common(call));
    }
    calls
}

#[test]
fn validator_is_not_vacuous() {
    let endpoints = Endpoints::load();
    let valid = valid_calls();
    for (name, call) in &valid {
        if let Err(report) = endpoints.check(call) {
            panic!("the valid {name} call is rejected: {call}\n{report}");
        }
    }

    let edit = |base: &str, f: &dyn Fn(&mut Map<String, Value>)| {
        let mut call = valid[base].clone();
        f(call.as_object_mut().expect("object"));
        call
    };
    let invalid = [
        (
            "track without event",
            edit("track", &|c| {
                c.remove("event");
            }),
        ),
        (
            "track with neither userId, anonymousId nor groupId",
            edit("track", &|c| {
                c.remove("userId");
            }),
        ),
        (
            "identify with neither userId nor anonymousId",
            edit("identify", &|c| {
                c.remove("userId");
            }),
        ),
        (
            "identify with a number userId",
            edit("identify", &|c| {
                c.insert("userId".into(), json!(42));
            }),
        ),
        (
            "page with neither userId nor anonymousId",
            edit("page", &|c| {
                c.remove("anonymousId");
            }),
        ),
        (
            "screen with a number name",
            edit("screen", &|c| {
                c.insert("name".into(), json!(7));
            }),
        ),
        (
            "alias without previousId",
            edit("alias", &|c| {
                c.remove("previousId");
            }),
        ),
        (
            "group with a number object_type_id trait",
            edit("group", &|c| {
                c.insert("traits".into(), json!({"object_type_id": 1}));
            }),
        ),
        (
            "timestamp that is not an RFC 3339 date-time",
            edit("track", &|c| {
                c.insert("timestamp".into(), json!("2026-01-01 00:00"));
            }),
        ),
        (
            "integrations value that is not a boolean",
            edit("track", &|c| {
                c.insert("integrations".into(), json!({"All": "yes"}));
            }),
        ),
        // The event-specific track schemas are binding (rule 2 of the module comment).
        (
            "Relationship Deleted with a string objectTypeId",
            edit("relationship_deleted", &|c| {
                c.insert(
                    "properties".into(),
                    json!({"objectId": "acme", "objectTypeId": "1"}),
                );
            }),
        ),
        (
            "Relationship Deleted without objectId",
            edit("relationship_deleted", &|c| {
                c.insert("properties".into(), json!({"objectTypeId": 1}));
            }),
        ),
        (
            "Report Delivery Event with a metric outside the enum",
            edit("report_delivery_event", &|c| {
                c.insert(
                    "properties".into(),
                    json!({"deliveryId": "RPI1", "metric": "exploded"}),
                );
            }),
        ),
        (
            "Device Deleted without context.device",
            edit("track", &|c| {
                c.insert("event".into(), json!("Device Deleted"));
            }),
        ),
        (
            "User Deleted with only an anonymousId",
            edit("track", &|c| {
                c.remove("userId");
                c.insert("anonymousId".into(), json!("a1"));
                c.insert("event".into(), json!("User Deleted"));
            }),
        ),
    ];
    let mut wrongly_accepted = Vec::new();
    for (what, call) in &invalid {
        if endpoints.check(call).is_ok() {
            wrongly_accepted.push(format!("{what}: {call}"));
        }
    }
    assert!(
        wrongly_accepted.is_empty(),
        "the schema accepted invalid calls:\n{}",
        wrongly_accepted.join("\n")
    );
}

/// Runs `convert` with `flags` on `inputs` into `out`; exit 0 or 3 (some records rejected).
fn convert_into(out: &Path, flags: &[&str], inputs: &[PathBuf]) {
    let output = crate::common::run::t2p()
        .args([
            "convert",
            "--now",
            "2026-01-01T00:00:00Z",
            "--progress",
            "never",
            "-q",
        ])
        .args(["--partition-by", "none", "--out"])
        .arg(out)
        .args(flags)
        .args(inputs)
        .output()
        .expect("running track2pipelines");
    assert!(
        matches!(output.status.code(), Some(0 | 3)),
        "convert {inputs:?} exited with {:?}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every call convert writes, from every corpus the project has (the samples, NDJSON and CSV;
/// the conformance cases and the extra inputs above, with `--email-trait`; the shard tests'
/// generated inputs), is a Pipelines call as `send` checks it
/// (`track2pipelines::calls::shape::check_text`), and validates against the reference schema
/// of what `send` posts it in: an element of a `/batch` body, except `alias` calls, which the
/// batch schema does not list, and the `group` call of an object with no relationship (no
/// `userId` or `anonymousId`), which the batch schema's group items refuse: both are checked
/// against their own endpoint's schema (docs/mapping.md, "Calls and the batch schema").
#[test]
fn every_written_call_passes_the_send_check_and_the_batch_schema() {
    let endpoints = Endpoints::load();
    let tmp = tempfile::tempdir().expect("temp dir");
    let cases = tmp.path().join("cases.ndjson");
    let mut lines = String::new();
    for case in load_cases() {
        lines.push_str(&case.input);
        lines.push('\n');
    }
    for extra in EXTRA_INPUTS {
        lines.push_str(extra);
        lines.push('\n');
    }
    std::fs::write(&cases, lines).expect("writing the cases");
    let outs = [
        tmp.path().join("samples"),
        tmp.path().join("cases"),
        tmp.path().join("shards"),
    ];
    convert_into(&outs[0], &[], &[repo_path("samples")]);
    convert_into(&outs[1], &["--email-trait"], &[cases]);
    convert_into(&outs[2], &[], &[crate::inputs::inputs(tmp.path())]);
    let mut failures = Vec::new();
    let mut checked = BTreeSet::new();
    let mut count = 0;
    for out in &outs {
        let mut files = Vec::new();
        part_files(out, &mut files);
        assert!(!files.is_empty(), "no part files under {}", out.display());
        for file in &files {
            let text = std::fs::read_to_string(file).expect("reading a part file");
            for (n, line) in text.lines().enumerate() {
                count += 1;
                let call: Value = serde_json::from_str(line).expect("a call is JSON");
                let ty = call["type"].as_str().unwrap_or("").to_owned();
                checked.insert(ty.clone());
                let at = format!("{}:{}\n  call: {line}", file.display(), n + 1);
                if let Err(e) = track2pipelines::calls::shape::check_text(line) {
                    failures.push(format!("{at}\n  send's check: {e}"));
                }
                // Calls the batch schema does not take, posted to their own endpoint.
                let userless_group = ty == "group"
                    && call.get("userId").is_none()
                    && call.get("anonymousId").is_none();
                let schema = if ty == "alias" || userless_group {
                    endpoints.check(&call)
                } else {
                    endpoints.check_batch_item(&call)
                };
                if let Err(report) = schema {
                    failures.push(format!("{at}\n{report}"));
                }
            }
        }
    }
    assert_eq!(
        checked.iter().map(String::as_str).collect::<Vec<_>>(),
        ["alias", "group", "identify", "page", "screen", "track"],
        "every call type is written by some corpus"
    );
    assert!(
        failures.is_empty(),
        "{} of {count} written calls fail:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The batch item schema is not vacuous: a group call without a user, a track call without
/// an event and an alias call are not elements of a `/batch` body.
#[test]
fn batch_item_schema_refuses_what_it_should() {
    let endpoints = Endpoints::load();
    let calls = valid_calls();
    for (ty, call) in &calls {
        if ty != "alias" {
            assert_eq!(endpoints.check_batch_item(call), Ok(()), "{ty}: {call}");
        }
    }
    let mut group = calls["group"].clone();
    group.as_object_mut().unwrap().remove("userId");
    group.as_object_mut().unwrap().remove("anonymousId");
    assert!(endpoints.check_batch_item(&group).is_err(), "{group}");
    let mut track = calls["track"].clone();
    track.as_object_mut().unwrap().remove("event");
    assert!(endpoints.check_batch_item(&track).is_err(), "{track}");
    assert!(endpoints.check_batch_item(&calls["alias"]).is_err());
}
