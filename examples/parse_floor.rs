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
//!
//! With `--write OUT`, it is also a floor for writing: each parsed line is copied into its
//! block's output buffer, and the blocks are put back in input order and written to the one file
//! `OUT` (created or truncated) with an xxh3-128 checksum of its bytes, as the converter's
//! writer does. That is the least any conversion has to do: read, parse, copy out and write
//! every byte once. (The converter writes about 1.25 bytes per byte read, and maps each record.)

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::sync::mpsc;
use std::time::Instant;

use rayon::iter::{ParallelBridge, ParallelIterator};
use track2pipelines::json::RawMap;
use xxhash_rust::xxh3::Xxh3;

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

/// Parses every line of `data` (whole lines; the last may lack its newline); with `out`, copies
/// each parsed line there, newline-terminated.
fn parse_block(data: &[u8], mut out: Option<&mut Vec<u8>>) -> Tally {
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
                if let Some(out) = out.as_deref_mut() {
                    out.extend_from_slice(line);
                    out.push(b'\n');
                }
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
    write: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut file = None;
    let mut threads = 1usize;
    let mut block_mib = 2usize;
    let mut write = None;
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
            "--write" => write = Some(it.next().ok_or("--write needs a file")?),
            "-h" | "--help" => {
                return Err(
                    "usage: parse_floor FILE [--threads N] [--block-mib M] [--write OUT]  \
                     (plain NDJSON)"
                        .into(),
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
        write,
    })
}

/// The parse-only floor: every block parsed, nothing written.
fn parse_file(file: File, args: &Args) -> io::Result<(u64, Tally)> {
    if args.threads == 1 {
        let mut tally = Tally::default();
        let bytes = for_each_block(file, args.block, |data| {
            tally = tally.add(parse_block(&data, None));
            true
        })?;
        return Ok((bytes, tally));
    }
    let pool = pool(args.threads);
    // A reader thread feeds a bounded channel; the pool's workers parse blocks as they come.
    let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(args.threads * 2);
    let block = args.block;
    let reader =
        std::thread::spawn(move || for_each_block(file, block, |data| tx.send(data).is_ok()));
    let tally = pool.install(|| {
        rx.into_iter()
            .par_bridge()
            .map(|data| parse_block(&data, None))
            .reduce(Tally::default, Tally::add)
    });
    Ok((reader.join().expect("reader thread")?, tally))
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
}

/// The file `--write` writes: a 256 KiB write buffer, as each of the converter's files has, and
/// the checksum of every byte.
struct Sink {
    w: BufWriter<File>,
    hash: Xxh3,
}

impl Sink {
    fn put(&mut self, data: &[u8]) -> io::Result<()> {
        self.hash.update(data);
        self.w.write_all(data)
    }
}

/// The write floor: blocks parsed and copied out on the workers, written in input order on
/// this thread. Returns the bytes read and the tally (or the read error), the write's tally
/// part, and the checksum.
fn write_file(file: File, args: &Args, out: File) -> (io::Result<(u64, Tally)>, Tally, u128) {
    let mut sink = Sink {
        w: BufWriter::with_capacity(256 << 10, out),
        hash: Xxh3::new(),
    };
    let fail = |e: io::Error| -> ! {
        eprintln!("parse_floor: writing: {e}");
        std::process::exit(1)
    };
    if args.threads == 1 {
        let mut tally = Tally::default();
        let mut buf = Vec::new();
        let bytes = for_each_block(file, args.block, |data| {
            tally = tally.add(parse_block(&data, Some(&mut buf)));
            sink.put(&buf).unwrap_or_else(|e| fail(e));
            buf.clear();
            true
        });
        sink.w.flush().unwrap_or_else(|e| fail(e));
        return (
            bytes.map(|b| (b, tally)),
            Tally::default(),
            sink.hash.digest128(),
        );
    }
    let (tx, rx) = mpsc::sync_channel::<(usize, Vec<u8>)>(args.threads * 2);
    let (done_tx, done_rx) = mpsc::sync_channel::<(usize, Tally, Vec<u8>)>(args.threads * 2);
    // One token per block read and not yet written, as the converter bounds its pieces: a
    // slow block holds the reader back instead of letting the others pile up behind it.
    let in_flight = 2 * args.threads + 2;
    let (token_tx, token_rx) = mpsc::sync_channel::<()>(in_flight);
    let block = args.block;
    let reader = std::thread::spawn(move || {
        let mut seq = 0;
        for_each_block(file, block, |data| {
            seq += 1;
            token_tx.send(()).is_ok() && tx.send((seq - 1, data)).is_ok()
        })
    });
    let threads = args.threads;
    let workers = std::thread::spawn(move || {
        pool(threads).install(|| {
            rx.into_iter().par_bridge().for_each(|(seq, data)| {
                let mut buf = Vec::with_capacity(data.len());
                let t = parse_block(&data, Some(&mut buf));
                let _ = done_tx.send((seq, t, buf));
            })
        })
    });
    // Results come in any order; they are written in input order.
    let (mut next, mut waiting, mut tally) = (0, BTreeMap::new(), Tally::default());
    for (seq, t, buf) in done_rx {
        tally = tally.add(t);
        waiting.insert(seq, buf);
        while let Some(buf) = waiting.remove(&next) {
            sink.put(&buf).unwrap_or_else(|e| fail(e));
            next += 1;
            let _ = token_rx.recv();
        }
    }
    sink.w.flush().unwrap_or_else(|e| fail(e));
    workers.join().expect("worker threads");
    let bytes = reader.join().expect("reader thread");
    (
        bytes.map(|b| (b, Tally::default())),
        tally,
        sink.hash.digest128(),
    )
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
    let (bytes, tally, checksum) = match &args.write {
        None => (parse_file(file, &args), Tally::default(), None),
        Some(out) => match File::create(out) {
            Ok(out) => {
                let (bytes, tally, sum) = write_file(file, &args, out);
                (bytes, tally, Some(sum))
            }
            Err(e) => {
                eprintln!("parse_floor: {out}: {e}");
                std::process::exit(1);
            }
        },
    };
    let (bytes, tally) = match bytes {
        Ok((b, t)) => (Ok(b), t.add(tally)),
        Err(e) => (Err(e), tally),
    };
    let bytes = match bytes {
        Ok(b) => b,
        Err(e) => {
            eprintln!("parse_floor: {}: {e}", args.file);
            std::process::exit(1);
        }
    };
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    if let (Some(out), Some(sum)) = (&args.write, checksum) {
        eprintln!("parse_floor: wrote {out}, xxh3-128 {sum:032x}");
    }
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
