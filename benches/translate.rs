//! Parse + translate + serialize throughput per call family (bytes of input records per second).
//!
//! ```text
//! cargo bench --bench translate                 # all groups
//! cargo bench --bench translate -- v1_event     # one family
//! ```
//!
//! Groups:
//! - `translate/<family>`: `translate_line` over the family's sample records (real
//!   `gen_corpus` records, see `benches/data/`), one `Output` reused as the pipeline does per
//!   chunk: parse, map, derived messageIds, serialization of every call.
//! - `parse_only/<family>`: UTF-8 check + `RawMap::parse` of the same records (the top-level
//!   parse `translate` starts with, by the `jsonscan` scanner); the gap between the two is the
//!   mapping and serialization.
//! - `parse_serde_json/<family>`: the same parse by serde_json alone (the scanner's fallback),
//!   to show what the scanner buys.
//! - `csv_http/rows`: the CSV HTTP-calls layout: the rows read by `csvrows`, the JSON record each
//!   row stands for (`HeaderPlan::row_deferred`), then `translate_deferred`, as the pipeline's CSV
//!   path does.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use track2pipelines::config::CsvLayout;
use track2pipelines::csv::HeaderPlan;
use track2pipelines::csv::Rows;
use track2pipelines::json::RawMap;
use track2pipelines::translate::{Output, translate_deferred, translate_line, translate_record};

fn families(c: &mut Criterion) {
    let opts = common::options();
    let mut group = c.benchmark_group("translate");
    for (name, data, _) in common::FAMILIES {
        let lines = common::lines(data);
        let bytes: usize = lines.iter().map(|l| l.len()).sum();
        // Check once that the samples still do what their name says.
        let mut out = Output::default();
        let mut converted = 0;
        for line in &lines {
            converted += translate_line(&opts, line, &mut out).converted;
        }
        let rejected = out.rejects.len();
        if *name == "malformed" {
            assert_eq!(converted, 0, "{name}: malformed samples converted");
        } else {
            assert_eq!(rejected, 0, "{name}: samples rejected: {:?}", out.rejects);
        }
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function(*name, |b| {
            b.iter(|| {
                out.clear();
                for line in &lines {
                    black_box(translate_line(&opts, black_box(line), &mut out));
                }
                black_box(out.buf.len())
            })
        });
    }
    group.finish();

    for (label, serde_only) in [("parse_only", false), ("parse_serde_json", true)] {
        let mut group = c.benchmark_group(label);
        for (name, data, _) in common::FAMILIES {
            let lines = common::lines(data);
            let bytes: usize = lines.iter().map(|l| l.len()).sum();
            group.throughput(Throughput::Bytes(bytes as u64));
            group.bench_function(*name, |b| {
                b.iter(|| {
                    let mut members = 0;
                    for line in &lines {
                        let Ok(text) = std::str::from_utf8(black_box(line)) else {
                            continue;
                        };
                        let map = if serde_only {
                            serde_json::from_str::<RawMap>(text)
                        } else {
                            RawMap::parse(text)
                        };
                        members += map.map_or(0, |m| m.entries.len());
                    }
                    black_box(members)
                })
            });
        }
        group.finish();
    }
}

/// The cells of a CSV header.
fn header_fields(header: &[u8]) -> Vec<String> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(header);
    let mut rec = csv::StringRecord::new();
    rdr.read_record(&mut rec).expect("header row");
    rec.iter().map(str::to_owned).collect()
}

fn csv_http(c: &mut Criterion) {
    let opts = common::options();
    let data = common::HTTP_CSV;
    let header_end = memchr::memchr(b'\n', data).expect("header") + 1;
    let (header, rows) = data.split_at(header_end);
    let plan = HeaderPlan::new(&header_fields(&header[..header_end - 1]), CsvLayout::Http);
    let columns = plan.columns();
    let mut out = Output::default();
    let mut json = Vec::with_capacity(4096);
    let (mut cells, mut ends, mut deferred) = (Vec::new(), Vec::new(), Vec::new());
    let mut group = c.benchmark_group("csv_http");
    group.throughput(Throughput::Bytes(rows.len() as u64));
    group.bench_function("rows", |b| {
        b.iter(|| {
            out.clear();
            let mut rows_of = Rows::new(black_box(rows), b',');
            let mut converted = 0u64;
            while let Some(row) = rows_of.next_row(&mut cells, &mut ends) {
                if ends.len() != columns {
                    continue;
                }
                // As the pipeline does: the row's cells as text, then its JSON record.
                let mut texts = Vec::with_capacity(ends.len());
                let mut from = 0;
                for &end in &ends {
                    texts.push(std::str::from_utf8(&cells[from..end]).unwrap_or(""));
                    from = end;
                }
                let raw = &rows[row.start..row.end];
                if plan.row_deferred(&texts, &mut json, &mut deferred).is_ok() {
                    let counts = match translate_deferred(&opts, &json, &deferred, raw, &mut out) {
                        Some(counts) => counts,
                        None if plan.row(&texts, &mut json).is_ok() => {
                            translate_record(&opts, &json, raw, &mut out)
                        }
                        None => continue,
                    };
                    converted += counts.converted;
                }
            }
            black_box((converted, out.buf.len()))
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = families, csv_http
}
criterion_main!(benches);
