//! The inputs the shard tests share: a plain NDJSON file large enough to be cut, a .zst, a .gz,
//! a CSV and a small plain file, with records of every kind (calls, rejects, blank lines).

use std::io::Write;
use std::path::{Path, PathBuf};

pub const NOW: &str = "2026-01-01T00:00:00Z";

/// The convert flags of the shard runs: a fixed `--now`, partitions by type, part files of 40
/// calls, inputs cut at 8 KiB, 4 KiB blocks, two threads, quiet.
pub const LAYOUT: [&str; 13] = [
    "--quiet",
    "--now",
    NOW,
    "--partition-by",
    "type",
    "--max-file-records",
    "40",
    "--split-bytes",
    "8KiB",
    "--block-size",
    "4KiB",
    "--threads",
    "2",
];

/// Lines of every kind: calls of several types, rejects, blank lines, a `\r\n` ending.
pub fn records(n: usize, seed: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let id = seed * 100_000 + i;
        let ts = 1_700_000_000 + id as u64;
        let line = match i % 9 {
            0 => format!(
                r#"{{"type":"person","identifiers":{{"id":"{id}"}},"action":"event","name":"e{i}","timestamp":{ts}}}"#
            ),
            1 => format!(
                r#"{{"type":"person","identifiers":{{"id":"{id}"}},"action":"identify","attributes":{{"n":{i}}},"timestamp":{ts}}}"#
            ),
            2 => format!(r#"{{"type":"person","action":"event","name":"x{i}"}}"#),
            3 => format!("{{\"broken\": {i}"),
            4 => "   ".to_owned(),
            5 => format!(
                r#"{{"type":"person","identifiers":{{"id":"{id}"}},"action":"page","name":"/p{i}","timestamp":{ts}}}"#
            ),
            6 => format!(
                r#"{{"batch":[{{"type":"person","identifiers":{{"id":"{id}"}},"action":"identify"}},{{"type":"nope"}}]}}"#
            ),
            7 => format!(
                r#"{{"type":"person","identifiers":{{"email":"u{id}@example.com"}},"action":"event","name":"m","timestamp":{ts}}}"#
            ),
            _ => format!(
                r#"{{"method":"POST","path":"/api/v1/customers/{id}/events","body":{{"name":"v1","timestamp":{ts}}}}}"#
            ),
        };
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(if i % 13 == 0 { b"\r\n" } else { b"\n" });
    }
    out
}

/// The inputs directory: a.ndjson (cut), b.ndjson.zst, c.ndjson.gz, d.csv, e.ndjson (small).
pub fn inputs(root: &Path) -> PathBuf {
    let dir = root.join("in");
    std::fs::create_dir_all(&dir).unwrap();
    let mut big = b"\xEF\xBB\xBF".to_vec();
    big.extend(records(600, 1));
    std::fs::write(dir.join("a.ndjson"), big).unwrap();
    let zst = zstd::encode_all(&records(120, 2)[..], 3).unwrap();
    std::fs::write(dir.join("b.ndjson.zst"), zst).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&records(120, 3)).unwrap();
    std::fs::write(dir.join("c.ndjson.gz"), gz.finish().unwrap()).unwrap();
    let mut csv = b"id,email,plan\n".to_vec();
    for i in 0..150 {
        if i % 10 == 3 {
            csv.extend(b",,none\n");
        } else {
            csv.extend(format!("{i},p{i}@example.com,\"pro, yearly\"\n").as_bytes());
        }
    }
    std::fs::write(dir.join("d.csv"), csv).unwrap();
    std::fs::write(dir.join("e.ndjson"), records(30, 5)).unwrap();
    dir
}
