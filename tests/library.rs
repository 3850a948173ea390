//! The library without flags: a [`Config`] built in code refuses what the command line
//! refuses, and [`job::execute`] runs it to the files a `convert` writes. (That it has the
//! command line's defaults is checked where the flags are, in `src/cli/defaults.rs`.)

use std::path::Path;
use tempfile::TempDir;
use track2pipelines::config::{Compression, Config, PartitionBy};
use track2pipelines::job;
use track2pipelines::pipeline::Live;

const NOW_MS: i64 = 1_767_225_600_000;

fn input(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("in.ndjson");
    let lines = [
        r#"{"type":"person","identifiers":{"id":"42"},"action":"event","name":"purchase","timestamp":1700000000}"#,
        r#"{"type":"person","identifiers":{"id":"43"},"action":"identify","attributes":{"plan":"pro"},"timestamp":1700000001}"#,
        "not json",
    ];
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[test]
fn a_built_config_refuses_what_the_flags_refuse() {
    let d = TempDir::new().unwrap();
    let input = input(d.path());
    let out = d.path().join("out");
    let refused = [
        Config::convert(&out, [&input]).compress_level(3).build(),
        Config::convert(&out, [&input])
            .compress(Compression::Zstd)
            .compress_level(23)
            .build(),
        Config::convert(&out, [&input]).threads(0).build(),
        Config::convert(&out, [&input])
            .partition_by(vec![PartitionBy::Bucket(0)])
            .build(),
        Config::convert(&out, [&input])
            .partition_by(vec![PartitionBy::Date, PartitionBy::Date])
            .build(),
        Config::convert(&out, [&input]).max_open_files(1).build(),
        Config::convert(&out, [d.path().join("missing.ndjson")]).build(),
        Config::convert(d.path(), [&input]).build(),
        Config::convert(&out, [&input])
            .errors_file(d.path().join("e"))
            .build(),
    ];
    for (i, r) in refused.into_iter().enumerate() {
        let err = r.expect_err(&format!("case {i} is refused"));
        assert_eq!(err.exit_code(), 2, "case {i}: {err}");
    }
    // `--out` inside an input directory: the run's own files are not read.
    let cfg = Config::convert(d.path().join("out"), [d.path()])
        .build()
        .unwrap();
    assert_eq!(
        cfg.exclude.as_deref(),
        Some(d.path().canonicalize().unwrap().join("out").as_path())
    );
}

#[test]
fn a_built_config_runs_a_convert() {
    let d = TempDir::new().unwrap();
    let input = input(d.path());
    let out = d.path().join("out");
    let cfg = Config::convert(&out, [&input])
        .now_ms(NOW_MS)
        .threads(1)
        .build()
        .unwrap();
    let result = job::execute(&cfg, &Live::default()).unwrap();
    assert_eq!(
        (
            result.total.converted,
            result.total.rejected,
            result.exit_code()
        ),
        (2, 1, 3)
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["totals"]["calls"], 2);
    assert_eq!(manifest["now"], "2026-01-01T00:00:00.000Z");
    let errors = std::fs::read_to_string(out.join("errors.ndjson")).unwrap();
    assert!(errors.contains(r#""code":"invalid_json""#), "{errors}");
    let track = std::fs::read_to_string(out.join("type=track/part-0000-00000.ndjson")).unwrap();
    assert!(
        track.starts_with(r#"{"type":"track","userId":"42","event":"purchase""#),
        "{track}"
    );
}
