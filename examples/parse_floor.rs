//! The parse-only floor for benchmarks: what it costs to read an NDJSON archive and parse every
//! line with the project's own record parser, converting and writing nothing.
//!
//! ```text
//! cargo run --release --example parse_floor -- FILE [--threads N] [--block-mib M]
//! ```
//!
//! The file (plain NDJSON) is read in large blocks; lines are split with memchr (`\r\n` and
//! blank lines handled as the converter does), checked as UTF-8 and parsed with
//! [`RawMap::parse`], the top-level parser `translate` uses. Nested values are not looked at
//! (RawMap keeps them as raw text), so this is a floor for the converter, not for a full JSON
//! parse. With `--threads 1` (default) everything runs on the calling thread; with `N > 1` a
//! reader thread hands blocks to a rayon pool of N workers, as the converter's pipeline does.
//! Prints lines, parse failures, bytes, seconds, MB/s (10^6 bytes) and lines/s on stderr.

use std::fs::File;
use std::io::{self, Read};
use std::sync::mpsc;
use std::time::Instant;

use rayon::iter::{ParallelBridge, ParallelIterator};
use track2pipelines::json::RawMap;

#[derive(Default, Clone, Copy)]
struct Tally {
    lines: u64,
    blank: u64,
    parsed: u64,
    failed: u64,
    /// Members of all parsed top-level objects (keeps the parse from being optimized out).
    members: u64,
}

impl Tally {
    fn add(mut self, o: Tally) -> Tally {
        self.lines += o.lines;
        self.blank += o.blank;
        self.parsed += o.parsed;
        self.failed += o.failed;
        self.members += o.members;
        self
    }
}

/// Parses every line of `data` (whole lines; the last may lack its newline).
fn parse_block(data: &[u8]) -> Tally {
    let mut t = Tally::default();
    let mut start = 0;
    while start < data.len() {
        let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |p| start + p + 1);
        let mut line = &data[start..end];
        start = end;
        if let Some(l) = line.strip_suffix(b"\n") {
            line = l;
        }
        if let Some(l) = line.strip_suffix(b"\r") {
            line = l;
        }
        t.lines += 1;
        if line.iter().all(|b| *b == b' ' || *b == b'\t') {
            t.blank += 1;
            continue;
        }
        match std::str::from_utf8(line).map(RawMap::parse) {
            Ok(Ok(map)) => {
                t.parsed += 1;
                t.members += map.entries.len() as u64;
            }
            _ => t.failed += 1,
        }
    }
    t
}

/// Reads `reader` in blocks of about `block` bytes cut after the last newline, handing each
/// block of whole lines to `f`.
fn for_each_block(
    mut reader: impl Read,
    block: usize,
    mut f: impl FnMut(Vec<u8>) -> bool,
) -> io::Result<u64> {
    let mut carry: Vec<u8> = Vec::with_capacity(block * 2);
    let mut total = 0u64;
    let mut bom_checked = false;
    loop {
        let old = carry.len();
        carry.resize(old + block, 0);
        let n = loop {
            match reader.read(&mut carry[old..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        carry.truncate(old + n);
        total += n as u64;
        if !bom_checked && (carry.len() >= 3 || n == 0) {
            bom_checked = true;
            if carry.starts_with(b"\xEF\xBB\xBF") {
                carry.drain(..3);
            }
        }
        if n == 0 {
            if !carry.is_empty() {
                f(carry);
            }
            return Ok(total);
        }
        if let Some(last) = memchr::memrchr(b'\n', &carry[old..]) {
            let cut = old + last + 1;
            let mut next = Vec::with_capacity(block * 2);
            next.extend_from_slice(&carry[cut..]);
            carry.truncate(cut);
            if !f(std::mem::replace(&mut carry, next)) {
                return Ok(total);
            }
        }
    }
}

struct Args {
    file: String,
    threads: usize,
    block: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut file = None;
    let mut threads = 1usize;
    let mut block_mib = 2usize;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut num = |name: &str| -> Result<usize, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .filter(|&n: &usize| n > 0)
                .ok_or_else(|| format!("{name} needs a positive number"))
        };
        match a.as_str() {
            "--threads" => threads = num("--threads")?,
            "--block-mib" => block_mib = num("--block-mib")?,
            "-h" | "--help" => {
                return Err(
                    "usage: parse_floor FILE [--threads N] [--block-mib M]  (plain NDJSON)".into(),
                );
            }
            _ if file.is_none() && !a.starts_with("--") => file = Some(a),
            _ => return Err(format!("unexpected argument {a:?} (see --help)")),
        }
    }
    Ok(Args {
        file: file.ok_or("a FILE is required (see --help)")?,
        threads,
        block: block_mib << 20,
    })
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("parse_floor: {e}");
            std::process::exit(2);
        }
    };
    let file = match File::open(&args.file) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("parse_floor: {}: {e}", args.file);
            std::process::exit(1);
        }
    };
    let started = Instant::now();
    let (bytes, tally) = if args.threads == 1 {
        let mut tally = Tally::default();
        let bytes = for_each_block(file, args.block, |data| {
            tally = tally.add(parse_block(&data));
            true
        });
        (bytes, tally)
    } else {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(args.threads)
            .build()
            .expect("thread pool");
        // A reader thread feeds a bounded channel; the pool's workers parse blocks as they come.
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(args.threads * 2);
        let block = args.block;
        let reader =
            std::thread::spawn(move || for_each_block(file, block, |data| tx.send(data).is_ok()));
        let tally = pool.install(|| {
            rx.into_iter()
                .par_bridge()
                .map(|data| parse_block(&data))
                .reduce(Tally::default, Tally::add)
        });
        (reader.join().expect("reader thread"), tally)
    };
    let bytes = match bytes {
        Ok(b) => b,
        Err(e) => {
            eprintln!("parse_floor: {}: {e}", args.file);
            std::process::exit(1);
        }
    };
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    eprintln!(
        "parse_floor: threads {}: {} lines ({} parsed, {} not an object or invalid, {} blank), \
         {} members, {} bytes in {:.3} s: {:.1} MB/s, {:.0} lines/s",
        args.threads,
        tally.lines,
        tally.parsed,
        tally.failed,
        tally.blank,
        tally.members,
        bytes,
        secs,
        bytes as f64 / 1e6 / secs,
        tally.lines as f64 / secs
    );
}
