//! The reader thread: opens the inputs one after another ([`super::open`]), frames them into
//! numbered pieces and hands each to a worker on the pool, taking one token per piece so that
//! at most a fixed number are in flight; then tells the writer where each input ended.

use super::open::open_pieces;
use super::worker::{Conversion, Decoder};
use super::{Body, Msg};
use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::input::{Piece, Position, Range, Source};
use crate::reject::Code;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};

/// What a panic carried, for the error message.
pub(super) fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into());
    format!("thread panicked: {what}")
}

/// The reader thread's share of the run.
pub(super) struct Reading {
    /// The inputs, in order, and the range of each this run reads.
    pub(super) sources: Vec<Source>,
    pub(super) ranges: Vec<Range>,
    pub(super) worker: Arc<Conversion>,
    /// The workers.
    pub(super) pool: Arc<rayon::ThreadPool>,
    pub(super) tx: mpsc::Sender<Msg>,
    /// One token per piece in flight: the bound on memory.
    pub(super) tokens: mpsc::SyncSender<()>,
    pub(super) bytes_read: Arc<AtomicU64>,
    pub(super) cancel: Cancel,
    pub(super) block: usize,
    pub(super) max_line: u64,
}

impl Reading {
    /// Starts the reader thread. It runs detached: if a signal comes while it is blocked
    /// reading (an idle stdin), the writer still stops, cleans up and returns; the process
    /// exit then ends the reader. A panic in it reaches the writer as a message.
    pub(super) fn spawn(self) -> Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("t2p-reader".into())
            .spawn(move || {
                let failed = self.tx.clone();
                let run = std::panic::AssertUnwindSafe(|| self.read_all());
                if let Err(panic) = std::panic::catch_unwind(run) {
                    let body = Body::Panicked(format!("the reader {}", panic_text(&panic)));
                    let _ = failed.send(Msg { seq: 0, body });
                }
            })
            .map_err(|e| Error::Usage(format!("cannot start the reader thread: {e}")))
    }

    /// Frames every input (its range, for a shard) and hands the pieces to the pool.
    fn read_all(&self) {
        let mut seq = 0u64;
        for (i, (source, range)) in self.sources.iter().zip(&self.ranges).enumerate() {
            if self.cancel.is_requested() || self.read_one(i, source, *range, &mut seq).is_none() {
                return;
            }
        }
    }

    /// Hands a piece of input `i` to a worker; None when the run is stopping.
    fn hand_on(
        &self,
        i: usize,
        source: &Source,
        decoder: &Decoder,
        piece: Piece,
        seq: &mut u64,
    ) -> Option<()> {
        self.tokens.send(()).ok()?;
        let (tx, worker, name) = (
            self.tx.clone(),
            Arc::clone(&self.worker),
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
                worker.process(i, &name, &decoder, piece)
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
            open_pieces(source, range, &own, &self.worker, self.block, self.max_line);
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
            self.hand_on(i, source, &decoder, piece, seq)?;
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
                at: Position {
                    line: pieces.line(),
                    offset: decompressed,
                },
                message: format!(
                    "input changed while being read: it ended after {read} of the {size} bytes it had when the run started"
                ),
            };
            self.hand_on(i, source, &Decoder::Ndjson, piece, seq)?;
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
