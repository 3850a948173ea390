//! Shared helpers of the integration tests: the conformance cases, an exact JSON comparator
//! and, in [`run`], running the binary and reading what it wrote. Nothing here imports the
//! crate under test.

pub mod output;
pub mod run;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::path::PathBuf;

pub const NOW: &str = "2026-01-01T00:00:00Z";
pub const NOW_MS: i64 = 1_767_225_600_000;

pub fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

#[derive(Debug, serde::Deserialize)]
pub struct Case {
    pub name: String,
    pub input: String,
    #[serde(default)]
    pub expect: Vec<String>,
    pub reject: Option<String>,
    #[serde(default)]
    pub reject_items: Vec<ItemReject>,
}

#[derive(Debug, serde::Deserialize)]
pub struct ItemReject {
    pub item: u32,
    pub code: String,
}

pub fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(repo_file("tests/conformance/cases.ndjson")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// JSON text in a canonical form that keeps key order and number text, with strings decoded
/// and re-encoded and whitespace dropped: two texts are "the same JSON" per the conformance
/// rules exactly when their canonical forms are equal.
pub fn canon(text: &str) -> String {
    let raw: &RawValue = serde_json::from_str(text).expect("valid JSON");
    let mut out = String::new();
    canon_into(raw, &mut out);
    out
}

/// An object's members in their order, duplicates kept, keys decoded.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Members<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct InOrder<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for InOrder<'a> {
            type Value = Members<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'a>, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(InOrder(std::marker::PhantomData))
    }
}

/// Parses with serde_json itself (not the converter's scanner), so the comparator does not
/// depend on the code it checks. A string holding a lone surrogate escape is no valid text and
/// fails the comparison.
fn canon_into(raw: &RawValue, out: &mut String) {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'{') => {
            let Members(members) = serde_json::from_str(text).unwrap();
            out.push('{');
            for (i, (k, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(&k).unwrap());
                out.push(':');
                canon_into(v, out);
            }
            out.push('}');
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(text).unwrap();
            out.push('[');
            for (i, v) in items.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canon_into(v, out);
            }
            out.push(']');
        }
        Some(b'"') => {
            let s: String = serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("string {text} does not decode: {e}"));
            out.push_str(&serde_json::to_string(&s).unwrap());
        }
        _ => out.push_str(text),
    }
}

/// Checks `actual` calls against a case's expected calls; `<derived>` messageIds must be ULIDs
/// whose time is the call's timestamp. Returns the messageIds seen, for stability checks.
pub fn check_calls(case: &Case, actual: &[String]) -> Vec<String> {
    assert_eq!(
        actual.len(),
        case.expect.len(),
        "case {:?}: expected {} calls, got {}:\n{}",
        case.name,
        case.expect.len(),
        actual.len(),
        actual.join("\n")
    );
    let mut ids = Vec::new();
    for (got, want) in actual.iter().zip(&case.expect) {
        let got_v: serde_json::Value = serde_json::from_str(got).expect("call is JSON");
        let id = got_v["messageId"].as_str().expect("messageId").to_owned();
        let mut want_text = want.clone();
        if want.contains("\"messageId\":\"<derived>\"") {
            let ulid = ulid::Ulid::from_string(&id).unwrap_or_else(|e| {
                panic!("case {:?}: messageId {id} is not a ULID: {e}", case.name)
            });
            let ts = got_v["timestamp"]
                .as_str()
                .unwrap()
                .parse::<jiff::Timestamp>()
                .unwrap()
                .as_millisecond();
            assert_eq!(
                ulid.timestamp_ms() as i64,
                ts,
                "case {:?}: ULID time",
                case.name
            );
            want_text = want.replace(
                "\"messageId\":\"<derived>\"",
                &format!("\"messageId\":\"{id}\""),
            );
        }
        assert_eq!(canon(got), canon(&want_text), "case {:?}", case.name);
        ids.push(id);
    }
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        ids.len(),
        "case {:?}: messageIds must be distinct",
        case.name
    );
    ids
}
