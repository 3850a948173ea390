//! The engine of a `convert` or `check` run: the reader thread, the worker pool and the
//! writer, and the channels between them, over the inputs [`crate::job`] has chosen. Its
//! threads are the conversion's; the crate's other threads are the progress display
//! (`report`), the object-storage runtime (`store`), and `send`'s reader, HTTP runtime and
//! ledger writer.
//!
//! The reader thread (`reader`) opens the inputs one after another (`open`: the input stages
//! and, for CSV, the header and plan), frames them into numbered pieces of whole records, and
//! hands each piece to the rayon pool; at most `2 × threads + 2` pieces are in flight at once,
//! which bounds memory whatever the input size. Workers ([`worker`]) parse, translate and
//! serialize a whole piece into per-partition buffers, error-file lines and counters. The
//! writer (the calling thread) puts results back in input order and is the only one that
//! touches the files, so the output is the same whatever the thread count or block size. A
//! stop requested through [`Live::cancel`] ends the run between pieces.

mod open;
mod reader;
pub mod worker;

use crate::bufpool::BufPool;
use crate::cancel::Cancel;
use crate::config::{Command, Config};
use crate::error::{Error, Result};
use crate::input::{Range, Source};
pub use crate::output::files::FileRecord;
use crate::output::files::FileSet;
use crate::pipeline::worker::{Conversion, PieceResult};
pub use crate::stats::{InputStats, Tally};
use reader::{Reading, panic_text};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};

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
    pub(crate) shard: Option<crate::output::manifest::ShardInfo>,
}

impl RunResult {
    /// An empty result with one entry per source, in order.
    fn for_sources(sources: &[Source]) -> RunResult {
        RunResult {
            inputs: sources
                .iter()
                .map(|s| InputStats {
                    source: s.name.to_string(),
                    lossy: s.lossy,
                    ..InputStats::default()
                })
                .collect(),
            ..RunResult::default()
        }
    }

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

/// What a run reads, worked out by [`crate::job`] before any thread starts: the sources in
/// reading order, each one's byte range (whole, or a shard's part of a cut file), the shard's
/// place in the job, and the directory entries that are not files.
#[derive(Debug, Default)]
pub(crate) struct Inputs {
    /// The sources, in the order they are read.
    pub sources: Vec<Source>,
    /// Each source's range, in the same order.
    pub ranges: Vec<Range>,
    /// A shard's run: its place in the job, for the manifest.
    pub shard: Option<crate::output::manifest::ShardInfo>,
    /// Entries of input directories that are not files (FIFOs, sockets), not read.
    pub skipped: Vec<String>,
}

/// Runs `convert` or `check` over `inputs`: starts the reader thread and the worker pool, and
/// writes on the calling thread into `files` (see `crate::output::open_files`), finished but
/// not committed: the caller commits or rolls them back and takes their records. `live` is
/// updated as the run goes.
pub(crate) fn run(
    cfg: &Config,
    inputs: Inputs,
    live: &Live,
    files: Option<&mut FileSet>,
) -> Result<RunResult> {
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(cfg.threads)
            .thread_name(|i| format!("t2p-worker-{i}"))
            .build()
            .map_err(|e| Error::Usage(format!("cannot start {} threads: {e}", cfg.threads)))?,
    );
    let worker = Arc::new(Conversion::new(
        cfg.translate.clone(),
        cfg.output
            .as_ref()
            .map(|o| o.partition_by.clone())
            .unwrap_or_default(),
        cfg.max_line_bytes,
        cfg.command == Command::Convert,
        cfg.csv_layout,
        8 * cfg.threads + 32,
    ));
    let mut files = files;
    let mut result = write_loop(
        cfg,
        (&inputs.sources, &inputs.ranges),
        &worker,
        &pool,
        files.as_deref_mut(),
        live,
    )?;
    if let Some(f) = files {
        // The last frames are compressed on the worker pool.
        f.finish(&pool)?;
    }
    result.skipped = inputs.skipped;
    result.shard = inputs.shard;
    Ok(result)
}

/// Starts the reader thread, and writes on this one: results are applied in input order as
/// they arrive, whatever order the workers finish in.
fn write_loop(
    cfg: &Config,
    (sources, ranges): (&[Source], &[Range]),
    worker: &Arc<Conversion>,
    pool: &Arc<rayon::ThreadPool>,
    files: Option<&mut FileSet>,
    live: &Live,
) -> Result<RunResult> {
    let in_flight = 2 * cfg.threads + 2;
    let (tx, rx) = mpsc::channel::<Msg>();
    let (token_tx, token_rx) = mpsc::sync_channel::<()>(in_flight);
    let reading = Reading {
        sources: sources.to_vec(),
        ranges: ranges.to_vec(),
        worker: Arc::clone(worker),
        pool: Arc::clone(pool),
        tx,
        tokens: token_tx,
        bytes_read: Arc::clone(&live.bytes_read),
        cancel: live.cancel.clone(),
        block: cfg.block_bytes,
        max_line: cfg.max_line_bytes,
    };
    let reader = reading.spawn()?;
    let mut writer = Writer {
        cfg,
        result: RunResult::for_sources(sources),
        files,
        live,
        pool,
        buffers: &worker.pool,
    };
    let outcome = writer.receive(&rx, &token_rx);
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
        return Err(Error::Interrupted(live.cancel.signal()));
    }
    Ok(writer.result)
}

/// The writer's side of the run: the results so far and the files they go to.
struct Writer<'a, 'f> {
    cfg: &'a Config,
    result: RunResult,
    files: Option<&'f mut FileSet>,
    live: &'a Live,
    /// The pool the files' compression is flushed on.
    pool: &'a rayon::ThreadPool,
    /// Where the pieces' buffers go back once written.
    buffers: &'a BufPool,
}

impl Writer<'_, '_> {
    /// Receives every message, holding those that arrive early until their turn; returns when
    /// the reader and every worker are done, or at the first failure or stop request.
    fn receive(&mut self, rx: &mpsc::Receiver<Msg>, tokens: &mpsc::Receiver<()>) -> Result<()> {
        let mut pending: BTreeMap<u64, Body> = BTreeMap::new();
        let mut next = 0u64;
        let interrupted = |live: &Live| Error::Interrupted(live.cancel.signal());
        loop {
            let msg = match rx.recv_timeout(std::time::Duration::from_millis(100)) {
                Ok(msg) => msg,
                Err(mpsc::RecvTimeoutError::Timeout) if self.live.cancel.is_requested() => {
                    return Err(interrupted(self.live));
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
                self.take(body, tokens)?;
            }
            if self.live.cancel.is_requested() {
                return Err(interrupted(self.live));
            }
        }
    }

    /// Applies the next message in input order: a piece's results, or an input's end.
    fn take(&mut self, body: Body, tokens: &mpsc::Receiver<()>) -> Result<()> {
        match body {
            Body::Chunk(chunk) => {
                // One piece fewer in flight: the reader may frame another.
                let _ = tokens.try_recv();
                apply(
                    &mut self.result,
                    *chunk,
                    self.files.as_deref_mut(),
                    self.live,
                    self.buffers,
                )?;
                if let Some(f) = self.files.as_deref_mut()
                    && f.wants_flush(self.cfg.threads)
                {
                    f.flush(self.pool)?;
                }
            }
            Body::Panicked(_) => unreachable!("handled on arrival"),
            Body::End {
                input,
                read,
                decompressed,
            } => {
                let s = &mut self.result.inputs[input];
                s.bytes_read = read;
                s.bytes_decompressed = decompressed;
            }
        }
        Ok(())
    }
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
