//! End-to-end throughput on an in-memory corpus of ~8 MiB (bytes of input per second).
//!
//! ```text
//! cargo bench --bench end_to_end
//! # on a real generated corpus instead of the samples drawn with the generator's mix:
//! cargo run --release --example gen_corpus -- --size-mb 8 --seed 1 --out /tmp/c8.ndjson
//! cargo run --release --example gen_corpus -- --size-mb 8 --seed 1 --format csv --out /tmp/c8.csv
//! T2P_BENCH_CORPUS=/tmp/c8.ndjson T2P_BENCH_CSV=/tmp/c8.csv cargo bench --bench end_to_end
//! ```
//!
//! Groups:
//! - `in_memory/threads=1`, `in_memory/threads=2`: framing (`Framer` over a `&[u8]`), line
//!   splitting, `translate_line` and the split of the calls into per-type buffers (the
//!   `--partition-by type` work of a worker), with no files; 2 threads: the pieces translated
//!   on a rayon pool and collected in input order.
//! - `pipeline/<input> threads=N`: the library's whole `convert --partition-by type` run
//!   (`pipeline::run`: reader thread, workers, part files written to a temporary directory,
//!   checksums), on the NDJSON corpus with 1 and 2 threads, the same corpus zstd-compressed,
//!   and the CSV HTTP-calls corpus.

mod common;

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rayon::prelude::*;
use track2pipelines::config::{Config, PartitionBy};
use track2pipelines::input::{Framer, Piece};
use track2pipelines::job;
use track2pipelines::pipeline::Live;
use track2pipelines::translate::{Options, Output, translate_line};

const BLOCK: usize = 2 << 20;
const MAX_LINE: u64 = 16 << 20;

/// What a worker produces for one piece: per-partition call buffers.
#[derive(Default)]
struct Parts {
    /// One buffer per call type (what `--partition-by type` splits by).
    parts: Vec<(usize, Vec<u8>)>,
    records: u64,
    rejected: u64,
}

/// Translates the lines of one piece and splits the calls by partition, as a worker does.
fn process(opts: &Options, data: &[u8]) -> Parts {
    let mut out = Output {
        buf: Vec::with_capacity(data.len() + data.len() / 4),
        ..Output::default()
    };
    let mut r = Parts::default();
    let mut start = 0;
    while start < data.len() {
        let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |p| start + p + 1);
        let line = &data[start..end];
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        start = end;
        if line.iter().all(|b| *b == b' ' || *b == b'\t') {
            continue;
        }
        let counts = translate_line(opts, line, &mut out);
        r.records += counts.records;
        r.rejected += counts.rejected;
        out.rejects.clear();
    }
    let mut from = 0;
    for c in &out.calls {
        let key = c.kind.index();
        let idx = match r.parts.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                r.parts.push((key, Vec::new()));
                r.parts.len() - 1
            }
        };
        r.parts[idx].1.extend_from_slice(&out.buf[from..c.end]);
        from = c.end;
    }
    r
}

fn pieces(corpus: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    Framer::new(corpus, BLOCK, MAX_LINE).filter_map(|p| match p {
        Piece::Records { data, .. } => Some(data),
        _ => None,
    })
}

fn in_memory(c: &mut Criterion) {
    let (corpus, from) = common::ndjson_corpus();
    eprintln!(
        "end_to_end: NDJSON corpus of {} bytes, {from}",
        corpus.len()
    );
    let opts = common::options();
    let mut group = c.benchmark_group("in_memory");
    group.throughput(Throughput::Bytes(corpus.len() as u64));
    group.bench_function("threads=1", |b| {
        b.iter(|| {
            let mut bytes = 0usize;
            for data in pieces(&corpus) {
                let parts = process(&opts, &data);
                bytes += parts.parts.iter().map(|(_, d)| d.len()).sum::<usize>();
            }
            black_box(bytes)
        })
    });
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("thread pool");
    group.bench_function("threads=2", |b| {
        b.iter(|| {
            let results: Vec<Parts> = pool.install(|| {
                pieces(&corpus)
                    .collect::<Vec<_>>()
                    .into_par_iter()
                    .map(|data| process(&opts, &data))
                    .collect()
            });
            black_box(results.iter().map(|p| p.parts.len()).sum::<usize>())
        })
    });
    group.finish();
}

/// One `convert --partition-by type --overwrite --now 2026-01-01T00:00:00Z --threads N` run of
/// the library, output under `out`.
fn convert(input: &Path, out: &Path, threads: usize) {
    let cfg = Config::convert(out, [input])
        .partition_by(vec![PartitionBy::Type])
        .overwrite(true)
        .now_ms(1_767_225_600_000)
        .threads(threads)
        .build()
        .expect("valid config");
    let result = job::execute(&cfg, &Live::default()).expect("run succeeds");
    black_box(result.total.records);
}

fn whole_pipeline(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (corpus, _) = common::ndjson_corpus();
    let (csv, _) = common::csv_corpus();
    let ndjson_path = dir.path().join("corpus.ndjson");
    let zst_path = dir.path().join("corpus.ndjson.zst");
    let csv_path = dir.path().join("corpus.csv");
    std::fs::write(&ndjson_path, &corpus).expect("write corpus");
    std::fs::write(&zst_path, zstd::encode_all(&corpus[..], 3).expect("zstd")).expect("write");
    std::fs::write(&csv_path, &csv).expect("write csv corpus");
    let out = dir.path().join("out");

    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Bytes(corpus.len() as u64));
    for threads in [1, 2] {
        group.bench_function(format!("ndjson threads={threads}"), |b| {
            b.iter(|| convert(&ndjson_path, &out, threads))
        });
    }
    group.bench_function("ndjson.zst threads=2", |b| {
        b.iter(|| convert(&zst_path, &out, 2))
    });
    group.throughput(Throughput::Bytes(csv.len() as u64));
    group.bench_function("csv_http threads=2", |b| {
        b.iter(|| convert(&csv_path, &out, 2))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = in_memory, whole_pipeline
}
criterion_main!(benches);
