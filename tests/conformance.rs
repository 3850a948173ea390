//! Every conformance case, run through the library and through the built binary.

use crate::common::run::{convert_cmd, output};
use crate::common::{Case, NOW_MS, cases, check_calls};
use track2pipelines::translate::{Options, Output, translate_line};

fn run_library(case: &Case) -> (Vec<String>, Vec<(Option<u32>, String)>) {
    let opts = Options::new(NOW_MS);
    let mut out = Output::default();
    let counts = translate_line(&opts, case.input.as_bytes(), &mut out);
    assert_eq!(counts.records, counts.converted + counts.rejected);
    let calls = (0..out.calls.len())
        .map(|i| {
            let b = out.call_bytes(i);
            assert_eq!(b.last(), Some(&b'\n'));
            String::from_utf8(b[..b.len() - 1].to_vec()).unwrap()
        })
        .collect();
    let rejects = out
        .rejects
        .iter()
        .map(|r| (r.item, r.reject.code.as_str().to_owned()))
        .collect();
    (calls, rejects)
}

#[test]
fn every_case_through_the_library() {
    let cases = cases();
    assert!(cases.len() >= 60, "the conformance file looks truncated");
    let mut failures = Vec::new();
    for case in &cases {
        let result = std::panic::catch_unwind(|| {
            let (calls, rejects) = run_library(case);
            let ids = check_calls(case, &calls);
            let (again, _) = run_library(case);
            assert_eq!(
                ids,
                check_calls(case, &again),
                "case {:?}: ids must be stable",
                case.name
            );
            match &case.reject {
                Some(code) => {
                    assert_eq!(rejects, vec![(None, code.clone())], "case {:?}", case.name)
                }
                None => {
                    let want: Vec<_> = case
                        .reject_items
                        .iter()
                        .map(|r| (Some(r.item), r.code.clone()))
                        .collect();
                    assert_eq!(rejects, want, "case {:?}", case.name);
                }
            }
        });
        if let Err(e) = result {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{}: {msg}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Runs one case as its own input file through the binary, the way the conformance README
/// says; returns the calls written and the error-file entries.
fn run_binary(case: &Case) -> (Vec<String>, Vec<serde_json::Value>) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("case.ndjson");
    std::fs::write(&input, format!("{}\n", case.input)).unwrap();
    let out = dir.path().join("out");
    let status = output(&mut convert_cmd(
        &out,
        &["--partition-by", "none"],
        &[&input],
    ));
    let code = status.status.code();
    assert!(
        code == Some(0) || code == Some(3),
        "case {:?}: exit {code:?}: {}",
        case.name,
        String::from_utf8_lossy(&status.stderr)
    );
    let read_lines = |p: &std::path::Path| -> Vec<String> {
        std::fs::read_to_string(p)
            .map(|t| t.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let calls = read_lines(&out.join("part-0000-00000.ndjson"));
    let errors = read_lines(&out.join("errors.ndjson"))
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        out.join("manifest.json").exists(),
        "case {:?}: no manifest",
        case.name
    );
    (calls, errors)
}

#[test]
fn every_case_through_the_binary() {
    for case in &cases() {
        let (calls, errors) = run_binary(case);
        let ids = check_calls(case, &calls);
        let (again, _) = run_binary(case);
        assert_eq!(
            ids,
            check_calls(case, &again),
            "case {:?}: ids must be stable",
            case.name
        );
        for e in &errors {
            assert_eq!(e["line"], 1, "case {:?}", case.name);
            assert_eq!(e["offset"], 0, "case {:?}", case.name);
            assert_eq!(
                e["raw"].as_str().map(|r| case.input.contains(r)),
                Some(true),
                "case {:?}",
                case.name
            );
        }
        let got: Vec<(Option<u64>, String)> = errors
            .iter()
            .map(|e| (e["item"].as_u64(), e["code"].as_str().unwrap().to_owned()))
            .collect();
        let want: Vec<(Option<u64>, String)> = match &case.reject {
            Some(code) => vec![(None, code.clone())],
            None => case
                .reject_items
                .iter()
                .map(|r| (Some(u64::from(r.item)), r.code.clone()))
                .collect(),
        };
        assert_eq!(got, want, "case {:?}", case.name);
    }
}

/// The comparator is as strict as the conformance rules: key order and number text count,
/// string escapes and whitespace do not.
#[test]
fn canon_keeps_key_order_and_number_text_and_decodes_strings() {
    use crate::common::canon;
    assert_eq!(
        canon(r#"{ "a": "\u00e9\n", "b": [1, 2.50] }"#),
        canon("{\"a\":\"é\\n\",\"b\":[1,2.50]}")
    );
    assert_ne!(canon(r#"{"a":1,"b":2}"#), canon(r#"{"b":2,"a":1}"#));
    assert_ne!(canon(r#"{"a":2.50}"#), canon(r#"{"a":2.5}"#));
    assert_ne!(canon(r#"{"a":1,"a":1}"#), canon(r#"{"a":1}"#));
    assert_eq!(canon(r#"{"\u0061":"x"}"#), canon(r#"{"a":"x"}"#));
}
