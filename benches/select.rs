//! The cost of choosing and reshaping the calls (docs/transforms.md), single-threaded, on the
//! in-memory NDJSON corpus of `end_to_end` (bytes of input per second):
//!
//! - `select/plain`: the mapping alone (`translate_line` on every line);
//! - `select/filters`: the same with `--since`, `--until`, `--types` and `--exclude-events`
//!   set so that every call is still kept (the cost of the checks, not the savings of writing
//!   fewer calls);
//! - `select/filters_dropping`: `--types track,identify` and `--exclude-events 'Device*'`,
//!   which leave calls out;
//! - `select/transform_identity`: the program `.`, the fixed cost of `--transform` (each call
//!   read into jq values, written back and checked again);
//! - `select/transform`: a program of a few lines (rename an event, add a property, drop one)
//!   run on every call.
//!
//! ```text
//! cargo bench --bench select
//! T2P_BENCH_CORPUS=/tmp/c8.ndjson cargo bench --bench select
//! ```

mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;
use track2pipelines::select::{Selection, Transform, parse_globs, parse_types};
use track2pipelines::translate::{Options, Output, translate_line};

/// The transform measured: a few lines, as the cookbook's recipes are.
const PROGRAM: &str = r#"
if .type == "track" and .event == "Signed Up" then .event = "Signup Completed" else . end
| if .type == "track" then .properties += {import_source: "archive"} else . end
| if (.traits | type) == "object" then .traits |= del(.phone) else . end
"#;

fn run(opts: &Options, lines: &[&[u8]], out: &mut Output) -> usize {
    let mut bytes = 0;
    for line in lines {
        translate_line(opts, line, out);
        bytes += out.buf.len();
        out.clear();
    }
    bytes
}

fn with(selection: Selection) -> Options {
    let mut opts = common::options();
    opts.select = Some(Arc::new(selection));
    opts
}

fn select(c: &mut Criterion) {
    let (corpus, from) = common::ndjson_corpus();
    eprintln!("select: NDJSON corpus of {} bytes, {from}", corpus.len());
    let lines = common::lines(&corpus);
    let all_types = parse_types("identify,track,page,screen,group,alias").unwrap();
    let cases = [
        ("plain", common::options()),
        (
            "filters",
            with(Selection {
                since: Some(0),
                until: Some(253_402_300_799_999),
                types: Some(all_types),
                exclude_events: parse_globs("--exclude-events", "No such event *,Nothing?")
                    .unwrap(),
                ..Selection::default()
            }),
        ),
        (
            "filters_dropping",
            with(Selection {
                types: Some(parse_types("track,identify").unwrap()),
                exclude_events: parse_globs("--exclude-events", "Device*").unwrap(),
                ..Selection::default()
            }),
        ),
        (
            "transform_identity",
            with(Selection {
                transform: Some(Transform::compile("identity.jq", ".").unwrap()),
                ..Selection::default()
            }),
        ),
        (
            "transform",
            with(Selection {
                transform: Some(Transform::compile("bench.jq", PROGRAM).unwrap()),
                ..Selection::default()
            }),
        ),
    ];
    let mut group = c.benchmark_group("select");
    group.throughput(Throughput::Bytes(corpus.len() as u64));
    group.measurement_time(Duration::from_secs(8));
    group.sample_size(10);
    for (name, opts) in &cases {
        let mut out = Output::default();
        group.bench_function(*name, |b| b.iter(|| black_box(run(opts, &lines, &mut out))));
    }
    group.finish();
}

criterion_group!(benches, select);
criterion_main!(benches);
