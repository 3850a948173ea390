//! Inputs shared by the criterion benches: per-family sample records and in-memory corpora.
//!
//! The samples in `benches/data/` are real `gen_corpus --seed 1` records, picked per family by
//! `benches/data/extract.py` (run it again after changing the generator). The corpora are
//! ~8 MiB: read from `T2P_BENCH_CORPUS` / `T2P_BENCH_CSV` when set (e.g. a file written by
//! `cargo run --release --example gen_corpus -- --size-mb 8 --seed 1 --out FILE`), else built
//! by drawing the samples with the generator's mix of families.
#![allow(dead_code)]

use track2pipelines::translate::Options;

/// The benches allocate as the binary does (src/main.rs): the system allocator would make
/// allocation-heavy work, such as `--transform`, look slower than the tool runs it.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// 2026-01-01T00:00:00Z, the `--now` of the comparison runs.
pub const NOW_MS: i64 = 1_767_225_600_000;

/// Records per family: name, NDJSON lines, and the family's share of a `gen_corpus` archive
/// (lines per 10,000, measured on a seed-1 corpus).
pub const FAMILIES: &[(&str, &[u8], u32)] = &[
    ("v1_event", include_bytes!("../data/v1_event.ndjson"), 3915),
    (
        "v1_identify",
        include_bytes!("../data/v1_identify.ndjson"),
        1936,
    ),
    ("v2_event", include_bytes!("../data/v2_event.ndjson"), 1591),
    (
        "v2_identify",
        include_bytes!("../data/v2_identify.ndjson"),
        971,
    ),
    (
        "object_relationships",
        include_bytes!("../data/object_relationships.ndjson"),
        559,
    ),
    ("other", include_bytes!("../data/other.ndjson"), 625),
    ("batch", include_bytes!("../data/batch.ndjson"), 95),
    ("malformed", include_bytes!("../data/malformed.ndjson"), 50),
];

/// The first 64 KiB of `gen_corpus --seed 1 --format csv` (HTTP-calls layout), header first.
pub const HTTP_CSV: &[u8] = include_bytes!("../data/http_rows.csv");

/// Size of the generated in-memory corpora.
pub const CORPUS_BYTES: usize = 8 << 20;

pub fn options() -> Options {
    Options::new(NOW_MS)
}

/// The lines of an NDJSON buffer, without their line endings.
pub fn lines(data: &[u8]) -> Vec<&[u8]> {
    data.split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
        .collect()
}

/// splitmix64: a deterministic draw without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn read_env(var: &str) -> Option<(Vec<u8>, String)> {
    let path = std::env::var_os(var)?;
    let data =
        std::fs::read(&path).unwrap_or_else(|e| panic!("{var}={}: {e}", path.to_string_lossy()));
    Some((data, path.to_string_lossy().into_owned()))
}

/// An NDJSON corpus of about [`CORPUS_BYTES`], and where it came from.
pub fn ndjson_corpus() -> (Vec<u8>, String) {
    if let Some(found) = read_env("T2P_BENCH_CORPUS") {
        return found;
    }
    let families: Vec<(Vec<&[u8]>, u32)> = FAMILIES
        .iter()
        .map(|(_, data, weight)| (lines(data), *weight))
        .collect();
    let total: u64 = families.iter().map(|(_, w)| u64::from(*w)).sum();
    let mut rng = Rng(1);
    let mut out = Vec::with_capacity(CORPUS_BYTES + 64 * 1024);
    while out.len() < CORPUS_BYTES {
        let mut roll = rng.next() % total;
        let (lines, _) = families
            .iter()
            .find(|(_, w)| {
                let hit = roll < u64::from(*w);
                roll = roll.saturating_sub(u64::from(*w));
                hit
            })
            .expect("weights cover the roll");
        out.extend_from_slice(lines[(rng.next() % lines.len() as u64) as usize]);
        out.push(b'\n');
    }
    (out, "generated from benches/data samples".to_owned())
}

/// A CSV corpus (HTTP-calls layout, header first) of about [`CORPUS_BYTES`].
pub fn csv_corpus() -> (Vec<u8>, String) {
    if let Some(found) = read_env("T2P_BENCH_CSV") {
        return found;
    }
    let header_end = memchr::memchr(b'\n', HTTP_CSV).expect("header line") + 1;
    let (header, rows) = HTTP_CSV.split_at(header_end);
    let mut out = Vec::with_capacity(CORPUS_BYTES + rows.len());
    out.extend_from_slice(header);
    while out.len() < CORPUS_BYTES {
        out.extend_from_slice(rows);
    }
    (out, "benches/data/http_rows.csv repeated".to_owned())
}
