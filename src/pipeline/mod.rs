//! The batch run, and the only module that knows about threads and channels.
//!
//! A reader thread opens the inputs one after another, frames them into numbered pieces of
//! whole records, and hands each piece to the rayon pool; at most `2 × threads + 2` pieces are
//! in flight at once, which bounds memory whatever the input size. Workers ([`crate::pipeline::worker`])
//! parse, translate and serialize a whole piece into per-partition buffers, error-file lines
//! and counters. The
//! writer (the calling thread) puts results back in input order and is the only one that
//! touches the files, so the output is the same whatever the thread count or block size.

mod open;
pub mod worker;

use crate::bufpool::BufPool;
use crate::cancel::Cancel;
use crate::config::{Command, Config};
use crate::error::{Error, Result};
use crate::input::{self, Piece, Source};
use crate::output::files::{FileRecord, FileSet};
use crate::output::partition::Partitioner;
use crate::pipeline::worker::{Conversion, Decoder, PieceResult};
use crate::reject::Code;
use crate::shard::Range;
use crate::stats::{InputStats, Tally};
use open::open_pieces;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Instant;

/// What a run did.
#[derive(Debug, Default)]
pub struct RunResult {
    /// Each input's counts and byte sizes, in input order.
    pub inputs: Vec<InputStats>,
    /// The counts of the whole run.
    pub total: Tally,
    /// The part files written, sorted by path (`convert` only).
    pub parts: Vec<FileRecord>,
    /// The error file, when one was written.
    pub errors: Option<FileRecord>,
    /// Wall time of the run.
    pub elapsed: std::time::Duration,
    /// Inputs not read to their end (a damaged stream, or a CSV header that cannot be read).
    pub incomplete_inputs: u64,
    /// Entries of input directories that are not files (FIFOs, sockets), not read.
    pub skipped: Vec<String>,
    /// A shard's run: its place in the job, for the manifest.
    pub shard: Option<crate::shard::ShardInfo>,
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

/// The shared state of a running job: the live counters the progress display reads, and the
/// token that stops the run (a signal, or a library user, requests it).
#[derive(Debug, Default)]
pub struct Live {
    /// Requested: stop reading, clean up, write no manifest.
    pub cancel: Cancel,
    /// Total size of the inputs, when known (0 otherwise).
    pub total_bytes: AtomicU64,
    /// Bytes read from the inputs (compressed bytes for compressed inputs).
    pub bytes_read: Arc<AtomicU64>,
    /// Records read so far (a batch counts one per element).
    pub records: AtomicU64,
    /// Records rejected so far.
    pub rejected: AtomicU64,
    /// Calls made so far.
    pub calls: AtomicU64,
}

enum Body {
    Chunk(Box<PieceResult>),
    /// A reader or worker thread panicked: the run fails.
    Panicked(String),
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

/// Runs `convert` or `check` as configured, writing into `files` (see
/// `crate::output::open_files`), which the caller commits or rolls back. `live` is updated as
/// the run goes.
pub fn run(cfg: &Config, live: &Live, files: Option<&mut FileSet>) -> Result<RunResult> {
    let started = Instant::now();
    let found = input::discover(&cfg.inputs, cfg.input_format, cfg.exclude.as_deref())?;
    let mut sources = found.sources;
    if let Some(url) = cfg.output.as_ref().and_then(|o| o.dir.to_str()) {
        let inputs: Vec<String> = cfg
            .inputs
            .iter()
            .map(|i| i.to_string_lossy().into_owned())
            .collect();
        crate::store::keep_out_of_inputs(url, &inputs, &mut sources)?;
    }
    let (sources, ranges, shard) = crate::shard::take_share(cfg, sources)?;
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
    let worker = Arc::new(Conversion {
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
    let mut files = files;
    let mut result = write_loop(
        cfg,
        (&sources, &ranges),
        &worker,
        &pool,
        files.as_deref_mut(),
        live,
    )?;
    if let Some(f) = files {
        f.finish(&pool)?;
        result.parts = std::mem::take(&mut f.parts);
        result.errors = f.errors_record.take();
    }
    result.skipped = found.skipped;
    result.shard = shard;
    result.elapsed = started.elapsed();
    Ok(result)
}

fn write_loop(
    cfg: &Config,
    (sources, ranges): (&[Source], &[Range]),
    worker: &Arc<Conversion>,
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
                lossy: s.lossy,
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
        let cancel = live.cancel.clone();
        let (block, max_line) = (cfg.block_bytes, cfg.max_line_bytes);
        std::thread::Builder::new()
            .name("t2p-reader".into())
            .spawn(move || {
                let failed = tx.clone();
                let reading = Reading {
                    worker: &worker,
                    pool: &pool,
                    tx,
                    tokens: token_tx,
                    bytes_read,
                    cancel,
                    block,
                    max_line,
                };
                let run = std::panic::AssertUnwindSafe(|| reading.read_all(&sources, &ranges));
                if let Err(panic) = std::panic::catch_unwind(run) {
                    let body = Body::Panicked(format!("the reader {}", panic_text(&panic)));
                    let _ = failed.send(Msg { seq: 0, body });
                }
            })
            .map_err(|e| Error::Usage(format!("cannot start the reader thread: {e}")))?
    };
    let mut pending: BTreeMap<u64, Body> = BTreeMap::new();
    let mut next = 0u64;
    let interrupted = || Error::Interrupted(live.cancel.signal());
    let outcome = (|| -> Result<()> {
        loop {
            let msg = match rx.recv_timeout(std::time::Duration::from_millis(100)) {
                Ok(msg) => msg,
                Err(mpsc::RecvTimeoutError::Timeout) if live.cancel.is_requested() => {
                    return Err(interrupted());
                }
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
            };
            if let Body::Panicked(what) = msg.body {
                return Err(Error::Internal(what));
            }
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
                    Body::Panicked(_) => unreachable!("handled on arrival"),
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
            if live.cancel.is_requested() {
                return Err(interrupted());
            }
        }
    })();
    // Dropping the receivers stops the reader if it is still going.
    drop(rx);
    drop(token_rx);
    outcome?;
    // Every sender is gone, so the reader has finished.
    if let Err(panic) = reader.join() {
        return Err(Error::Internal(format!(
            "the reader {}",
            panic_text(&panic)
        )));
    }
    if live.cancel.is_requested() {
        return Err(interrupted());
    }
    Ok(result)
}

/// Adds one chunk's results to the run, in order.
fn apply(
    result: &mut RunResult,
    mut chunk: PieceResult,
    files: Option<&mut FileSet>,
    live: &Live,
    pool: &BufPool,
) -> Result<()> {
    assert!(
        !crate::error::fault("panic-writer"),
        "injected writer panic"
    );
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

/// What a panic carried, for the error message.
fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into());
    format!("thread panicked: {what}")
}

/// The reader thread's share of the run.
struct Reading<'a> {
    worker: &'a Arc<Conversion>,
    pool: &'a rayon::ThreadPool,
    tx: mpsc::Sender<Msg>,
    /// One token per piece in flight: the bound on memory.
    tokens: mpsc::SyncSender<()>,
    bytes_read: Arc<AtomicU64>,
    cancel: Cancel,
    block: usize,
    max_line: u64,
}

impl Reading<'_> {
    /// Frames every input (its range, for a shard) and hands the pieces to the pool.
    fn read_all(&self, sources: &[Source], ranges: &[Range]) {
        let mut seq = 0u64;
        for (i, (source, range)) in sources.iter().zip(ranges).enumerate() {
            if self.cancel.is_requested() || self.read_one(i, source, *range, &mut seq).is_none() {
                return;
            }
        }
    }

    /// Hands a piece of input `i` to a worker; None when the run is stopping.
    fn spawn(
        &self,
        i: usize,
        source: &Source,
        decoder: &Decoder,
        (piece, lines_known): (Piece, bool),
        seq: &mut u64,
    ) -> Option<()> {
        self.tokens.send(()).ok()?;
        let (tx, worker, name) = (
            self.tx.clone(),
            Arc::clone(self.worker),
            Arc::clone(&source.name),
        );
        let decoder = decoder.clone();
        let s = *seq;
        *seq += 1;
        self.pool.spawn(move || {
            let work = std::panic::AssertUnwindSafe(|| {
                assert!(
                    !crate::error::fault("panic-worker"),
                    "injected worker panic"
                );
                worker.process(i, &name, &decoder, piece, lines_known)
            });
            let body = match std::panic::catch_unwind(work) {
                Ok(chunk) => Body::Chunk(Box::new(chunk)),
                Err(panic) => Body::Panicked(format!("a worker {}", panic_text(&panic))),
            };
            let _ = tx.send(Msg { seq: s, body });
        });
        Some(())
    }

    /// Reads one input (or a shard's range of it) to its end; None when the run is stopping.
    fn read_one(&self, i: usize, source: &Source, range: Range, seq: &mut u64) -> Option<()> {
        assert!(
            !crate::error::fault("panic-reader"),
            "injected reader panic"
        );
        let own = Arc::new(AtomicU64::new(0));
        let (mut pieces, decoder, first) =
            open_pieces(source, range, &own, self.worker, self.block, self.max_line);
        // Inside a range that starts within the file, line numbers are not known.
        let lines_known = first == 0;
        let mut last_seen = 0;
        let mut broken = false;
        for piece in pieces.by_ref() {
            if self.cancel.is_requested() {
                return None;
            }
            let now = own.load(Ordering::Relaxed);
            self.bytes_read
                .fetch_add(now - last_seen, Ordering::Relaxed);
            last_seen = now;
            broken |= matches!(piece, Piece::Corrupt { .. });
            self.spawn(i, source, &decoder, (piece, lines_known), seq)?;
        }
        let mut read = own.load(Ordering::Relaxed);
        let mut decompressed = pieces.position();
        self.bytes_read
            .fetch_add(read.saturating_sub(last_seen), Ordering::Relaxed);
        if !range.is_whole() {
            // Part of a plain file: its own lines' bytes (the shards' counts add up to the file).
            decompressed -= first.min(decompressed);
            read = decompressed;
        }
        // The size at the start of the run is what the input holds: ending before it means
        // the file was cut short while being read (docs/mapping.md §13).
        let short = range.is_whole() && !broken;
        if let Some(size) = source.size.filter(|&size| short && read < size) {
            let piece = Piece::Corrupt {
                code: Code::CorruptInput,
                line: pieces.line(),
                offset: decompressed,
                message: format!(
                    "input changed while being read: it ended after {read} of the {size} bytes it had when the run started"
                ),
            };
            self.spawn(i, source, &Decoder::Ndjson, (piece, lines_known), seq)?;
        }
        let end = Msg {
            seq: *seq,
            body: Body::End {
                input: i,
                read,
                decompressed,
            },
        };
        *seq += 1;
        self.tx.send(end).ok()
    }
}
