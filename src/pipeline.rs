//! The batch run, and the only module that knows about threads and channels.
//!
//! A reader thread opens the inputs one after another, frames them into numbered pieces of
//! whole records, and hands each piece to the rayon pool; at most `2 × threads + 2` pieces are
//! in flight at once, which bounds memory whatever the input size. Workers ([`crate::chunk`])
//! parse, translate and serialize a whole piece into per-partition buffers, error-file lines
//! and counters. The
//! writer (the calling thread) puts results back in input order and is the only one that
//! touches the files, so the output is the same whatever the thread count or block size.

use crate::bufpool::BufPool;
use crate::chunk::{ChunkResult, Decoder, Worker};
use crate::config::{Command, Compression, Config};
use crate::error::{Error, Result};
use crate::input::{self, CsvScan, Cuts, Format, Framer, Piece, Source};
use crate::output::files::{FileRecord, FileSet, Layout};
use crate::output::partition::Partitioner;
use crate::output::remote::RemoteOut;
use crate::output::{Scope, manifest, prepare_dir};
use crate::shard::Range;
use crate::stats::{InputStats, Tally};
use crate::translate::csv::{Plan, header_fields};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Instant;

/// Set by a signal handler: stop reading, clean up, write no manifest.
pub static STOP: AtomicBool = AtomicBool::new(false);
/// The signal that set [`STOP`].
pub static STOP_SIGNAL: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// What a run did.
#[derive(Debug, Default)]
pub struct RunResult {
    pub inputs: Vec<InputStats>,
    pub total: Tally,
    pub parts: Vec<FileRecord>,
    pub errors: Option<FileRecord>,
    pub elapsed: std::time::Duration,
    pub incomplete_inputs: u64,
    /// A shard's run: its place in the job, for the manifest.
    pub shard: Option<crate::shard::ShardInfo>,
    /// `--out` in object storage (held, with its lock, until the manifest is put).
    pub remote: Option<Arc<RemoteOut>>,
}

impl RunResult {
    /// Bytes read from the inputs (compressed bytes for compressed inputs).
    pub fn bytes_read(&self) -> u64 {
        self.inputs.iter().map(|i| i.bytes_read).sum()
    }

    /// Bytes of the inputs after decompression.
    pub fn bytes_decompressed(&self) -> u64 {
        self.inputs.iter().map(|i| i.bytes_decompressed).sum()
    }

    /// 0 when every record converted, 3 when some were rejected or an input was damaged.
    pub fn exit_code(&self) -> i32 {
        if self.total.rejected > 0 || self.incomplete_inputs > 0 {
            3
        } else {
            0
        }
    }
}

/// Live counters the progress display reads.
#[derive(Debug, Default)]
pub struct Live {
    /// Total size of the inputs, when known (0 otherwise).
    pub total_bytes: AtomicU64,
    /// Bytes read from the inputs (compressed bytes for compressed inputs).
    pub bytes_read: Arc<AtomicU64>,
    pub records: AtomicU64,
    pub rejected: AtomicU64,
    pub calls: AtomicU64,
}

enum Body {
    Chunk(Box<ChunkResult>),
    /// The end of input `input`: its byte counts.
    End {
        input: usize,
        read: u64,
        decompressed: u64,
    },
}

struct Msg {
    seq: u64,
    body: Body,
}

/// Runs `convert` or `check` as configured. `live` is updated as the run goes.
pub fn run(cfg: &Config, live: &Live) -> Result<RunResult> {
    let started = Instant::now();
    let mut sources = input::discover(&cfg.inputs, cfg.input_format)?;
    if let Some(url) = cfg.output.as_ref().and_then(|o| o.dir.to_str()) {
        crate::store::keep_out_of_inputs(url, &cfg.inputs, &mut sources)?;
    }
    let (sources, ranges, shard) = crate::shard::take_share(cfg, sources)?;
    let scope = cfg.shard.map_or(Scope::All, Scope::Shard);
    if sources.iter().all(|s| s.size.is_some()) {
        // A shard's part of a cut file counts its range only.
        let total = sources
            .iter()
            .zip(&ranges)
            .filter_map(|(s, r)| s.size.map(|z| r.end.unwrap_or(z).min(z) - r.start.min(z)))
            .sum();
        live.total_bytes.store(total, Ordering::Relaxed);
    }
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(cfg.threads)
            .thread_name(|i| format!("t2p-worker-{i}"))
            .build()
            .map_err(|e| Error::Usage(format!("cannot start {} threads: {e}", cfg.threads)))?,
    );
    let mut remote = None;
    let mut files = match (&cfg.output, &cfg.errors_file) {
        (Some(out), _) => {
            let root = match out.dir.to_str().filter(|d| crate::store::is_url(d)) {
                Some(url) => {
                    let to = Arc::new(RemoteOut::open(url, out.overwrite, scope)?);
                    let root = to.staging().to_path_buf();
                    remote = Some(to);
                    root
                }
                None => {
                    prepare_dir(&out.dir, out.overwrite, scope)?;
                    out.dir.clone()
                }
            };
            let set = FileSet::new(
                &root,
                Layout {
                    partitioner: Partitioner::new(out.partition_by.clone()),
                    compress: out.compress,
                    level: out.compress_level,
                    max_bytes: out.max_file_bytes,
                    max_records: out.max_file_records,
                    shard: scope.part_number(),
                },
            );
            let mut set = set.uploading(remote.clone());
            set.open_errors(&scope.errors_name())?;
            Some(set)
        }
        (None, Some(path)) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let name = path
                .file_name()
                .ok_or_else(|| {
                    Error::Usage(format!("--errors {} is not a file name", path.display()))
                })?
                .to_string_lossy()
                .into_owned();
            let mut set = FileSet::new(
                dir,
                Layout {
                    partitioner: Partitioner::new(Vec::new()),
                    compress: Compression::None,
                    level: 0,
                    max_bytes: u64::MAX,
                    max_records: 0,
                    shard: 0,
                },
            );
            set.open_errors(&name)?;
            Some(set)
        }
        (None, None) => None,
    };
    let worker = Arc::new(Worker {
        opts: cfg.translate.clone(),
        partitioner: Partitioner::new(
            cfg.output
                .as_ref()
                .map(|o| o.partition_by.clone())
                .unwrap_or_default(),
        ),
        max_line_bytes: cfg.max_line_bytes,
        write_calls: cfg.command == Command::Convert,
        csv_layout: cfg.csv_layout,
        pool: Arc::new(BufPool::new(8 * cfg.threads + 32)),
    });
    let result = write_loop(cfg, &sources, &ranges, &worker, &pool, files.as_mut(), live);
    let mut result = match result {
        Ok(r) => r,
        Err(e) => {
            if let Some(f) = files.as_mut() {
                f.abort();
            }
            return Err(e);
        }
    };
    if let Some(f) = files.as_mut() {
        if let Err(e) = f.finish(&pool) {
            f.abort();
            return Err(e);
        }
        result.parts = std::mem::take(&mut f.parts);
        result.errors = f.errors_record.take();
    }
    result.shard = shard;
    result.remote = remote;
    result.elapsed = started.elapsed();
    Ok(result)
}

/// Writes the manifest of a completed `convert` run.
pub fn write_manifest(
    cfg: &Config,
    result: &RunResult,
    started_at_ms: i64,
    finished_at_ms: i64,
) -> Result<()> {
    let Some(out) = &cfg.output else {
        return Ok(());
    };
    let m = manifest::Manifest {
        tool: "track2pipelines",
        version: env!("CARGO_PKG_VERSION"),
        command_line: &cfg.command_line,
        started_at: manifest::ts(started_at_ms),
        finished_at: manifest::ts(finished_at_ms),
        now: manifest::ts(cfg.translate.now_ms()),
        inputs: result
            .inputs
            .iter()
            .map(manifest::InputEntry::from)
            .collect(),
        files: result.parts.iter().map(manifest::FileEntry::from).collect(),
        errors: result.errors.as_ref().map(|r| manifest::ErrorsEntry {
            path: r.path.clone(),
            entries: r.calls,
            bytes: r.bytes,
            checksum_xxh3_128: r.checksum.clone(),
        }),
        totals: manifest::Totals::from(&result.total),
        shard: result.shard.clone(),
    };
    let scope = cfg.shard.map_or(Scope::All, Scope::Shard);
    match &result.remote {
        Some(to) => to.put(&scope.manifest_name(), manifest::text(&m)),
        None => manifest::write(&out.dir, &scope.manifest_name(), &m),
    }
}

fn write_loop(
    cfg: &Config,
    sources: &[Source],
    ranges: &[Range],
    worker: &Arc<Worker>,
    pool: &Arc<rayon::ThreadPool>,
    mut files: Option<&mut FileSet>,
    live: &Live,
) -> Result<RunResult> {
    let in_flight = 2 * cfg.threads + 2;
    let (tx, rx) = mpsc::channel::<Msg>();
    let (token_tx, token_rx) = mpsc::sync_channel::<()>(in_flight);
    let mut result = RunResult {
        inputs: sources
            .iter()
            .map(|s| InputStats {
                source: s.name.to_string(),
                ..InputStats::default()
            })
            .collect(),
        ..RunResult::default()
    };
    // The reader runs detached: if a signal comes while it is blocked reading (an idle stdin),
    // the writer still stops, cleans up and returns; the process exit then ends the reader.
    let reader = {
        let sources = sources.to_vec();
        let ranges = ranges.to_vec();
        let worker = Arc::clone(worker);
        let pool = Arc::clone(pool);
        let bytes_read = Arc::clone(&live.bytes_read);
        let (block, max_line) = (cfg.block_bytes, cfg.max_line_bytes);
        std::thread::Builder::new()
            .name("t2p-reader".into())
            .spawn(move || {
                read_all(
                    &sources, &ranges, &worker, &pool, tx, token_tx, bytes_read, block, max_line,
                );
            })
            .map_err(|e| Error::Usage(format!("cannot start the reader thread: {e}")))?
    };
    let mut pending: BTreeMap<u64, Body> = BTreeMap::new();
    let mut next = 0u64;
    let interrupted = || Error::Interrupted(STOP_SIGNAL.load(Ordering::Relaxed));
    let outcome = (|| -> Result<()> {
        loop {
            let msg = match rx.recv_timeout(std::time::Duration::from_millis(100)) {
                Ok(msg) => msg,
                Err(mpsc::RecvTimeoutError::Timeout) if STOP.load(Ordering::Relaxed) => {
                    return Err(interrupted());
                }
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
            };
            pending.insert(msg.seq, msg.body);
            while let Some(body) = pending.remove(&next) {
                next += 1;
                match body {
                    Body::Chunk(chunk) => {
                        let _ = token_rx.try_recv();
                        apply(
                            &mut result,
                            *chunk,
                            files.as_deref_mut(),
                            live,
                            &worker.pool,
                        )?;
                        if let Some(f) = files.as_deref_mut()
                            && f.wants_flush(cfg.threads)
                        {
                            f.flush(pool)?;
                        }
                    }
                    Body::End {
                        input,
                        read,
                        decompressed,
                    } => {
                        let s = &mut result.inputs[input];
                        s.bytes_read = read;
                        s.bytes_decompressed = decompressed;
                    }
                }
            }
            if STOP.load(Ordering::Relaxed) {
                return Err(interrupted());
            }
        }
    })();
    // Dropping the receivers stops the reader if it is still going.
    drop(rx);
    drop(token_rx);
    outcome?;
    // Every sender is gone, so the reader has finished.
    let _ = reader.join();
    if STOP.load(Ordering::Relaxed) {
        return Err(interrupted());
    }
    Ok(result)
}

/// Adds one chunk's results to the run, in order.
fn apply(
    result: &mut RunResult,
    mut chunk: ChunkResult,
    files: Option<&mut FileSet>,
    live: &Live,
    pool: &BufPool,
) -> Result<()> {
    if let Some(f) = files {
        for part in chunk.parts.drain(..) {
            f.append_part(&part)?;
            pool.give(part.data);
        }
        if !chunk.errors.is_empty() {
            f.append_errors(&chunk.errors, chunk.tally.total_entries())?;
        }
    }
    live.records
        .fetch_add(chunk.tally.records, Ordering::Relaxed);
    live.rejected
        .fetch_add(chunk.tally.rejected, Ordering::Relaxed);
    live.calls
        .fetch_add(chunk.tally.total_calls(), Ordering::Relaxed);
    let s = &mut result.inputs[chunk.input];
    s.tally.add(&chunk.tally);
    result.total.add(&chunk.tally);
    if chunk.incomplete && !s.incomplete {
        s.incomplete = true;
        result.incomplete_inputs += 1;
    }
    Ok(())
}

/// The reader thread: frames every input and hands the pieces to the pool.
#[allow(clippy::too_many_arguments)]
fn read_all(
    sources: &[Source],
    ranges: &[Range],
    worker: &Arc<Worker>,
    pool: &rayon::ThreadPool,
    tx: mpsc::Sender<Msg>,
    tokens: mpsc::SyncSender<()>,
    bytes_read: Arc<AtomicU64>,
    block: usize,
    max_line: u64,
) {
    let mut seq = 0u64;
    for (i, source) in sources.iter().enumerate() {
        if STOP.load(Ordering::Relaxed) {
            return;
        }
        let counter = Arc::new(AtomicU64::new(0));
        let progress = ProgressCounter {
            own: Arc::clone(&counter),
            total: Arc::clone(&bytes_read),
        };
        let range = ranges[i];
        let (mut pieces, decoder, first) =
            open_pieces(source, range, &progress.own, worker, block, max_line);
        let mut last_seen = 0;
        for piece in pieces.by_ref() {
            if STOP.load(Ordering::Relaxed) {
                return;
            }
            let now = progress.own.load(Ordering::Relaxed);
            progress.total.fetch_add(now - last_seen, Ordering::Relaxed);
            last_seen = now;
            if tokens.send(()).is_err() {
                return;
            }
            let (tx, worker, name) = (tx.clone(), Arc::clone(worker), Arc::clone(&source.name));
            let decoder = decoder.clone();
            let s = seq;
            seq += 1;
            let lines_known = first == 0;
            pool.spawn(move || {
                let body = Body::Chunk(Box::new(worker.process(
                    i,
                    &name,
                    &decoder,
                    piece,
                    lines_known,
                )));
                let _ = tx.send(Msg { seq: s, body });
            });
        }
        let mut read = progress.own.load(Ordering::Relaxed);
        progress
            .total
            .fetch_add(read.saturating_sub(last_seen), Ordering::Relaxed);
        let mut decompressed = pieces.position();
        if !range.is_whole() {
            // Part of a plain file: its own lines' bytes (the shards' counts add up to the file).
            decompressed -= first.min(decompressed);
            read = decompressed;
        }
        let end = Msg {
            seq,
            body: Body::End {
                input: i,
                read,
                decompressed,
            },
        };
        seq += 1;
        if tx.send(end).is_err() {
            return;
        }
    }
}

/// The pieces of one source: framed, or the one `corrupt_input` piece of a source that could
/// not be opened.
enum Pieces {
    Framed(Framer<Box<dyn std::io::Read + Send>>),
    Failed(Option<Piece>),
}

impl Pieces {
    fn failed(message: String) -> Pieces {
        Pieces::failed_at(message, 0)
    }

    /// A source that could not be opened at `offset`.
    fn failed_at(message: String, offset: u64) -> Pieces {
        Pieces::Failed(Some(Piece::Corrupt {
            line: 1,
            offset,
            message,
        }))
    }

    /// Decompressed bytes read from the source so far.
    fn position(&self) -> u64 {
        match self {
            Pieces::Framed(f) => f.position(),
            Pieces::Failed(_) => 0,
        }
    }
}

impl Iterator for Pieces {
    type Item = Piece;
    fn next(&mut self) -> Option<Piece> {
        match self {
            Pieces::Framed(f) => f.next_piece(),
            Pieces::Failed(p) => p.take(),
        }
    }
}

/// Opens a source and frames it: NDJSON lines, or CSV records after the header (which makes the
/// plan every piece of the file is decoded with). A range that is not the whole source (part of
/// a plain NDJSON file, see [`crate::shard`]) is framed from its first line start, returned too.
fn open_pieces(
    source: &Source,
    range: Range,
    counter: &Arc<AtomicU64>,
    worker: &Worker,
    block: usize,
    max_line: u64,
) -> (Pieces, Decoder, u64) {
    if !range.is_whole() {
        return match input::range::open_lines(source, range, Arc::clone(counter)) {
            Ok((reader, first)) => {
                let framer = Framer::with_cuts(reader, block, max_line, Cuts::Lines, 1, first)
                    .recycling(Arc::clone(&worker.pool));
                (Pieces::Framed(framer), Decoder::Ndjson, first)
            }
            Err(e) => (
                Pieces::failed_at(e.to_string(), range.start),
                Decoder::Ndjson,
                range.start,
            ),
        };
    }
    let (pieces, decoder) = open_whole(source, counter, worker, block, max_line);
    (pieces, decoder, 0)
}

/// [`open_pieces`] for a whole source.
fn open_whole(
    source: &Source,
    counter: &Arc<AtomicU64>,
    worker: &Worker,
    block: usize,
    max_line: u64,
) -> (Pieces, Decoder) {
    let mut reader = match input::open(source, Arc::clone(counter)) {
        Ok(r) => r,
        Err(e) => return (Pieces::failed(e.to_string()), Decoder::Ndjson),
    };
    match source.format {
        Format::Ndjson => (
            Pieces::Framed(
                Framer::new(reader, block, max_line).recycling(Arc::clone(&worker.pool)),
            ),
            Decoder::Ndjson,
        ),
        Format::Csv { delimiter } => match input::read_csv_header(&mut reader, delimiter) {
            Ok((header, consumed, lines)) => {
                let plan = Plan::new(&header_fields(&header, delimiter), worker.csv_layout);
                let cuts = Cuts::Csv(CsvScan::new(delimiter));
                let framer = Framer::with_cuts(reader, block, max_line, cuts, lines, consumed)
                    .recycling(Arc::clone(&worker.pool));
                let decoder = Decoder::Csv {
                    plan: Arc::new(plan),
                    delimiter,
                };
                (Pieces::Framed(framer), decoder)
            }
            Err(e) => (
                Pieces::failed(format!("input stream damaged or unreadable: {e}")),
                Decoder::Ndjson,
            ),
        },
    }
}

struct ProgressCounter {
    own: Arc<AtomicU64>,
    total: Arc<AtomicU64>,
}
