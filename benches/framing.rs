//! Framing throughput: `input::Framer` cutting an in-memory stream (a `&[u8]` reader) into
//! pieces of whole records, as the pipeline's reader thread does.
//!
//! ```text
//! cargo bench --bench framing
//! T2P_BENCH_CORPUS=corpus.ndjson T2P_BENCH_CSV=corpus.csv cargo bench --bench framing
//! ```
//!
//! Groups (bytes of input per second):
//! - `framing_ndjson/block=<size>`: pieces cut at the last newline of each block (memrchr), the
//!   piece's lines counted (memchr), at the pipeline's default block (2 MiB) and a small one.
//! - `framing_ndjson/lines`: the pieces, then every line located as `process_lines` does.
//! - `framing_csv/scan`: the quote-aware CSV scanner (`Cuts::Csv`) after the header.
//! - `framing_csv/scan+rows`: the same pieces read into rows and cells by `csvrows`, as the CSV
//!   workers do before building each row's JSON.
//! - `framing_csv/scan+csv_crate`: the same with `csv::Reader` (what the workers used before),
//!   for comparison.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use track2pipelines::csv::{CsvScan, Rows, read_csv_header};
use track2pipelines::input::{Cuts, Framer, Piece, Position};

const MAX_LINE: u64 = 16 << 20;

/// Total bytes of the Lines pieces (keeps the work observable).
fn frame(data: &[u8], block: usize) -> (usize, u64) {
    let mut bytes = 0;
    let mut last_line = 0;
    for piece in Framer::new(data, block, MAX_LINE) {
        if let Piece::Records { data, at } = piece {
            bytes += data.len();
            last_line = at.line.unwrap_or(0);
        }
    }
    (bytes, last_line)
}

fn ndjson(c: &mut Criterion) {
    let (corpus, from) = common::ndjson_corpus();
    eprintln!("framing: NDJSON corpus of {} bytes, {from}", corpus.len());
    let mut group = c.benchmark_group("framing_ndjson");
    group.throughput(Throughput::Bytes(corpus.len() as u64));
    for (name, block) in [("block=256KiB", 256 << 10), ("block=2MiB", 2 << 20)] {
        group.bench_function(name, |b| b.iter(|| black_box(frame(&corpus, block))));
    }
    group.bench_function("lines", |b| {
        b.iter(|| {
            let mut lines = 0u64;
            let mut longest = 0usize;
            for piece in Framer::new(&corpus[..], 2 << 20, MAX_LINE) {
                if let Piece::Records { data, .. } = piece {
                    let mut start = 0;
                    while start < data.len() {
                        let end = memchr::memchr(b'\n', &data[start..])
                            .map_or(data.len(), |p| start + p + 1);
                        let line = &data[start..end];
                        let line = line.strip_suffix(b"\n").unwrap_or(line);
                        let line = line.strip_suffix(b"\r").unwrap_or(line);
                        longest = longest.max(line.len());
                        lines += 1;
                        start = end;
                    }
                }
            }
            black_box((lines, longest))
        })
    });
    group.finish();
}

/// A CSV stream framed past its header, as the pipeline opens a CSV input.
fn csv_pieces(data: &[u8]) -> Framer<&[u8]> {
    let mut reader = data;
    let (_, consumed, lines) = read_csv_header(&mut reader, b',', u64::MAX).expect("header");
    let cuts = Cuts::Csv(CsvScan::new(b','));
    Framer::with_cuts(
        reader,
        2 << 20,
        MAX_LINE,
        cuts,
        Position::new(lines, consumed),
    )
}

fn csv(c: &mut Criterion) {
    let (corpus, from) = common::csv_corpus();
    eprintln!("framing: CSV corpus of {} bytes, {from}", corpus.len());
    let mut group = c.benchmark_group("framing_csv");
    group.throughput(Throughput::Bytes(corpus.len() as u64));
    group.bench_function("scan", |b| {
        b.iter(|| {
            let mut bytes = 0;
            for piece in csv_pieces(&corpus) {
                if let Piece::Records { data, .. } = piece {
                    bytes += data.len();
                }
            }
            black_box(bytes)
        })
    });
    group.bench_function("scan+rows", |b| {
        let (mut cells, mut ends) = (Vec::new(), Vec::new());
        b.iter(|| {
            let (mut rows, mut fields) = (0u64, 0usize);
            for piece in csv_pieces(&corpus) {
                if let Piece::Records { data, .. } = piece {
                    let mut reader = Rows::new(&data, b',');
                    while reader.next_row(&mut cells, &mut ends).is_some() {
                        rows += 1;
                        fields += ends.len();
                    }
                }
            }
            black_box((rows, fields))
        })
    });
    group.bench_function("scan+csv_crate", |b| {
        b.iter(|| {
            let mut rows = 0u64;
            let mut fields = 0usize;
            let mut rec = csv::ByteRecord::new();
            for piece in csv_pieces(&corpus) {
                if let Piece::Records { data, .. } = piece {
                    let mut rdr = csv::ReaderBuilder::new()
                        .has_headers(false)
                        .flexible(true)
                        .from_reader(&data[..]);
                    while rdr.read_byte_record(&mut rec).unwrap_or(false) {
                        rows += 1;
                        fields += rec.len();
                    }
                }
            }
            black_box((rows, fields))
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = ndjson, csv
}
criterion_main!(benches);
