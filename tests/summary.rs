//! The end-of-run summary on stderr: counts read as words ("1 record", "2 records").

mod common;

use common::run::t2p;
use std::path::Path;

fn summary(args: &[&str], input: &Path) -> String {
    let o = t2p()
        .args(args)
        .args(["--now", "2026-01-01T00:00:00Z", "--progress", "never"])
        .arg(input)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    String::from_utf8(o.stderr).unwrap()
}

#[test]
fn one_record_one_input_one_part_file_are_singular() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("one.ndjson");
    std::fs::write(
        &input,
        "{\"method\":\"DELETE\",\"path\":\"/api/v1/customers/42\"}\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let text = summary(&["convert", "--out", out.to_str().unwrap()], &input);
    assert!(
        text.starts_with("track2pipelines convert: 1 record from 1 input in "),
        "{text}"
    );
    assert!(text.contains("  wrote 1 part file under "), "{text}");

    std::fs::write(
        &input,
        "{\"method\":\"DELETE\",\"path\":\"/api/v1/customers/42\"}\n\
         {\"method\":\"DELETE\",\"path\":\"/api/v1/customers/43\"}\n",
    )
    .unwrap();
    let text = summary(&["check"], &input);
    assert!(
        text.starts_with("track2pipelines check: 2 records from 1 input in "),
        "{text}"
    );
}
