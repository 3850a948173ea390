//! One source opened for the reader thread: the input stages chained (a shard's byte range or
//! the whole stream, decompression, a CSV file's header and plan) into the framer, and the
//! [`Decoder`] every piece of that source is read with. A source that cannot be opened is one
//! `corrupt_input` (or `csv_invalid`) piece, not a failed run.

use super::worker::{Conversion, Decoder};
use crate::csv::{self, CsvScan};
use crate::input::Range;
use crate::input::{self, Cuts, Format, Framer, Piece, Position, Source};
use crate::reject::Code;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

/// The pieces of one source: framed, or the one `corrupt_input` piece of a source that could
/// not be opened.
pub(super) enum Pieces {
    Framed(Framer<Box<dyn std::io::Read + Send>>),
    Failed(Option<Piece>),
}

impl Pieces {
    /// A source that could not be opened (or read from `at`).
    pub(super) fn failed(code: Code, message: String, at: Position) -> Pieces {
        Pieces::Failed(Some(Piece::Corrupt { code, at, message }))
    }

    /// Decompressed bytes read from the source so far.
    pub(super) fn position(&self) -> u64 {
        match self {
            Pieces::Framed(f) => f.position(),
            Pieces::Failed(_) => 0,
        }
    }

    /// The line the next piece would start at.
    pub(super) fn line(&self) -> Option<u64> {
        match self {
            Pieces::Framed(f) => f.at().line,
            Pieces::Failed(_) => Some(1),
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
pub(super) fn open_pieces(
    source: &Source,
    range: Range,
    counter: &Arc<AtomicU64>,
    worker: &Conversion,
    block: usize,
    max_line: u64,
) -> (Pieces, Decoder, u64) {
    if !range.is_whole() {
        return match input::range::open_lines(source, range, Arc::clone(counter)) {
            Ok((reader, first)) => {
                let at = Position::range_start(first);
                let framer = Framer::with_cuts(reader, block, max_line, Cuts::Lines, at)
                    .recycling(Arc::clone(&worker.pool));
                (Pieces::Framed(framer), Decoder::Ndjson, first)
            }
            Err(e) => (
                Pieces::failed(
                    Code::CorruptInput,
                    e.to_string(),
                    Position::range_start(range.start),
                ),
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
    worker: &Conversion,
    block: usize,
    max_line: u64,
) -> (Pieces, Decoder) {
    let mut reader = match input::open(source, Arc::clone(counter)) {
        Ok(r) => r,
        Err(e) => {
            return (
                Pieces::failed(Code::CorruptInput, e.to_string(), Position::START),
                Decoder::Ndjson,
            );
        }
    };
    match source.format {
        Format::Ndjson => (
            Pieces::Framed(
                Framer::new(reader, block, max_line).recycling(Arc::clone(&worker.pool)),
            ),
            Decoder::Ndjson,
        ),
        Format::Csv { delimiter } => {
            match csv::read_header(&mut reader, delimiter, max_line, worker.csv_layout) {
                Ok(csv::Header {
                    plan,
                    consumed,
                    lines,
                }) => {
                    let cuts = Cuts::Csv(CsvScan::new(delimiter));
                    let at = Position::new(lines, consumed);
                    let framer = Framer::with_cuts(reader, block, max_line, cuts, at)
                        .recycling(Arc::clone(&worker.pool));
                    let decoder = Decoder::Csv {
                        plan: Arc::new(plan),
                        delimiter,
                    };
                    (Pieces::Framed(framer), decoder)
                }
                Err(e) => {
                    let code = match e {
                        csv::HeaderProblem::Io(_) => Code::CorruptInput,
                        _ => Code::CsvInvalid,
                    };
                    (
                        Pieces::failed(code, e.to_string(), Position::START),
                        Decoder::Ndjson,
                    )
                }
            }
        }
    }
}
