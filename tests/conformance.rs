//! Every conformance case, run through the library and through the built binary.

mod common;

use common::{Case, NOW_MS, cases, check_calls};
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
