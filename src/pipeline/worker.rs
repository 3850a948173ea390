//! The workers' job: one piece of one input in, and out its calls (serialized, split into
//! per-partition buffers), its error-file lines and its counters. No threads here: the
//! [`crate::pipeline`] runs many of these at once and puts their results back in order.

use crate::bufpool::BufPool;
use crate::config::{CsvLayout, PartitionBy};
use crate::csv::{HeaderPlan, Rows, row_record};
use crate::input::{self, Piece, Position};
use crate::output::errors;
use crate::output::files::{CallInfo, PartBuf};
use crate::output::partition::{PartKey, Partitioner};
use crate::reject::Code;
use crate::stats::Tally;
use crate::translate::{self, Counts, Output};
use std::sync::Arc;

/// How a piece's bytes become records.
#[derive(Debug, Clone)]
pub enum Decoder {
    /// NDJSON lines, one record each.
    Ndjson,
    /// CSV rows of a file whose header made `plan`.
    Csv {
        /// How the file's columns make records.
        plan: Arc<HeaderPlan>,
        /// The cell separator.
        delimiter: u8,
    },
}

/// What every worker needs, shared by all of them.
#[derive(Debug)]
pub struct Conversion {
    /// The mapping's settings.
    pub opts: translate::Options,
    /// Which part file each call goes to.
    pub(crate) partitioner: Partitioner,
    /// `--max-line-bytes`: longer records are rejected (`line_too_long`).
    pub max_line_bytes: u64,
    /// `convert` keeps the calls; `check` only counts them.
    pub write_calls: bool,
    /// `--csv-layout`, for the plan made from each CSV file's header.
    pub csv_layout: CsvLayout,
    /// Buffers of finished chunks, for the next ones.
    pub(crate) pool: Arc<BufPool>,
}

/// What one piece produced.
#[derive(Debug, Default)]
pub struct PieceResult {
    /// Index of the input the piece came from.
    pub input: usize,
    /// The calls, one buffer per partition.
    pub parts: Vec<PartBuf>,
    /// Error-file lines.
    pub errors: Vec<u8>,
    /// The piece's record, reject and call counts.
    pub tally: Tally,
    /// The input's stream broke in this piece (`corrupt_input`).
    pub incomplete: bool,
}

/// Where a record stands: its source and its position there.
#[derive(Debug, Clone, Copy)]
struct At<'a> {
    source: &'a str,
    pos: Position,
}

impl<'a> At<'a> {
    /// An error-file entry of `code` here: no batch item, raw text or length unless the caller
    /// sets them.
    fn entry<'e>(&self, code: Code, message: &'e str) -> errors::Entry<'e>
    where
        'a: 'e,
    {
        errors::Entry {
            source: self.source,
            at: self.pos,
            item: None,
            code,
            message,
            raw: None,
            length: None,
        }
    }
}

impl PieceResult {
    /// Writes one error-file entry and counts it under its code.
    fn book(&mut self, entry: &errors::Entry) {
        self.tally.rejects[entry.code.index()] += 1;
        errors::write(&mut self.errors, entry);
    }
}

impl Conversion {
    /// The settings every worker shares: the mapping's `opts`, the `--partition-by` levels,
    /// the record size limit, whether calls are kept (`convert`) or only counted (`check`),
    /// the CSV layout, and how many piece buffers are kept for reuse.
    pub fn new(
        opts: translate::Options,
        partition_by: Vec<PartitionBy>,
        max_line_bytes: u64,
        write_calls: bool,
        csv_layout: CsvLayout,
        buffers: usize,
    ) -> Conversion {
        Conversion {
            opts,
            partitioner: Partitioner::new(partition_by),
            max_line_bytes,
            write_calls,
            csv_layout,
            pool: Arc::new(BufPool::new(buffers)),
        }
    }

    /// Translates one piece of input `input` (named `source`).
    pub fn process(
        &self,
        input: usize,
        source: &str,
        decoder: &Decoder,
        piece: Piece,
    ) -> PieceResult {
        let mut r = PieceResult {
            input,
            ..PieceResult::default()
        };
        let at = |pos| At { source, pos };
        match piece {
            Piece::Records { data, at: pos } => {
                let at = at(pos);
                let out = match decoder {
                    Decoder::Ndjson => self.lines(at, &data, &mut r),
                    Decoder::Csv { plan, delimiter } => {
                        self.csv_rows(at, plan, *delimiter, &data, &mut r)
                    }
                };
                self.pool.give(data);
                for (n, f) in r.tally.filtered.iter_mut().zip(out.filtered) {
                    *n += f;
                }
                if self.write_calls {
                    self.partition(out, &mut r);
                } else {
                    self.pool.give(out.buf);
                }
            }
            Piece::TooLong {
                head,
                length,
                at: pos,
            } => self.too_long(at(pos), &head, length, &mut r),
            Piece::Corrupt {
                code,
                at: pos,
                message,
            } => {
                r.incomplete = true;
                r.book(&at(pos).entry(code, &message));
            }
        }
        r
    }

    fn output(&self, capacity: usize) -> Output {
        Output {
            buf: self.pool.take(if self.write_calls { capacity } else { 0 }),
            ..Output::default()
        }
    }

    /// NDJSON: one record per line; blank lines counted, over-long ones rejected.
    fn lines(&self, at: At, data: &[u8], r: &mut PieceResult) -> Output {
        let mut out = self.output(data.len() + data.len() / 4);
        let mut here = at;
        let mut start = 0;
        while start < data.len() {
            let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |p| start + p + 1);
            let mut line = &data[start..end];
            if let Some(l) = line.strip_suffix(b"\n") {
                line = l;
            }
            if let Some(l) = line.strip_suffix(b"\r") {
                line = l;
            }
            // Length first: an over-long line is rejected whatever it holds, as it is when the
            // framer cuts it out while reading.
            if line.len() as u64 > self.max_line_bytes {
                self.too_long(here, line, line.len() as u64, r);
            } else if is_blank(line) {
                r.tally.blank_lines += 1;
            } else {
                let counts = translate::translate_line(&self.opts, line, &mut out);
                self.settle(here, line, counts, &mut out, r);
            }
            here.pos.advance(1, (end - start) as u64);
            start = end;
        }
        out
    }

    /// CSV: each row becomes the JSON record its layout says, then is translated like an NDJSON
    /// record (derived messageIds from the row's own bytes).
    fn csv_rows(
        &self,
        at: At,
        plan: &HeaderPlan,
        delimiter: u8,
        data: &[u8],
        r: &mut PieceResult,
    ) -> Output {
        let mut out = self.output(data.len() + data.len() / 2);
        let mut rows = Rows::new(data, delimiter);
        let (mut cells, mut ends) = (Vec::with_capacity(4096), Vec::with_capacity(64));
        let mut json = Vec::with_capacity(4096);
        let mut deferred = Vec::new();
        while let Some(row) = rows.next_row(&mut cells, &mut ends) {
            let here = At {
                pos: at.pos.ahead(row.line, row.start as u64),
                ..at
            };
            // Without its line end; a row with an unclosed quote runs to the end of the input,
            // line ends included, as the framer counts it when it cuts an over-long row.
            let raw = &data[row.start..row.end];
            if raw.len() as u64 > self.max_line_bytes {
                self.too_long(here, raw, raw.len() as u64, r);
                continue;
            }
            let counts = match row_record(plan, &cells, &ends, &mut json, &mut deferred) {
                Ok(texts) => {
                    match translate::translate_deferred(&self.opts, &json, &deferred, raw, &mut out)
                    {
                        Some(counts) => counts,
                        // A JSON cell is not one valid value: the checked record says which.
                        None => match plan.row(&texts, &mut json) {
                            Ok(()) => translate::translate_record(&self.opts, &json, raw, &mut out),
                            Err(reject) => translate::reject_whole(&mut out, reject),
                        },
                    }
                }
                Err(reject) => translate::reject_whole(&mut out, reject),
            };
            self.settle(here, raw, counts, &mut out, r);
        }
        out
    }

    /// Books one record's outcome: its counts, its error entries, and (for `check`) drops its
    /// calls.
    fn settle(&self, at: At, raw: &[u8], counts: Counts, out: &mut Output, r: &mut PieceResult) {
        r.tally.records += counts.records;
        r.tally.converted += counts.converted;
        r.tally.rejected += counts.rejected;
        for rej in out.rejects.drain(..) {
            r.book(&errors::Entry {
                item: rej.item,
                raw: Some(rej.raw.as_deref().map_or(raw, str::as_bytes)),
                ..at.entry(rej.reject.code, &rej.reject.message)
            });
        }
        if !self.write_calls {
            // `check`: the calls were serialized (for the size limit) but are not kept.
            for c in out.calls.drain(..) {
                r.tally.calls[c.kind.index()] += 1;
                r.tally.calls_stamped_now += u64::from(c.stamped_now);
            }
            out.buf.clear();
        }
    }

    /// Rejects an over-long record (`line_too_long`), keeping its first [`input::HEAD_BYTES`].
    fn too_long(&self, at: At, bytes: &[u8], length: u64, r: &mut PieceResult) {
        let head = &bytes[..bytes.len().min(input::HEAD_BYTES)];
        let message = format!(
            "the record is {length} bytes, over the {}-byte limit (--max-line-bytes); its first {} \
             bytes are kept here",
            self.max_line_bytes,
            head.len()
        );
        r.tally.records += 1;
        r.tally.rejected += 1;
        r.book(&errors::Entry {
            raw: Some(head),
            length: Some(length),
            ..at.entry(Code::LineTooLong, &message)
        });
    }

    /// Splits a chunk's calls into per-partition buffers.
    fn partition(&self, out: Output, r: &mut PieceResult) {
        for c in &out.calls {
            r.tally.calls[c.kind.index()] += 1;
            r.tally.calls_stamped_now += u64::from(c.stamped_now);
        }
        if out.calls.is_empty() {
            self.pool.give(out.buf);
            return;
        }
        if self.partitioner.is_single() {
            let calls = out
                .calls
                .iter()
                .map(|c| CallInfo {
                    end: c.end as u32,
                    timestamp: c.timestamp,
                    kind: c.kind,
                })
                .collect();
            r.parts.push(PartBuf {
                key: PartKey::default(),
                data: out.buf,
                calls,
            });
            return;
        }
        // Sizes first, so each partition buffer is taken from the pool at its exact size.
        let mut part_of = Vec::with_capacity(out.calls.len());
        let mut start = 0;
        let mut sizes: Vec<(usize, usize)> = Vec::new();
        for c in &out.calls {
            let key = self.partitioner.key(c);
            let i = match r.parts.iter().position(|p| p.key == key) {
                Some(i) => i,
                None => {
                    r.parts.push(PartBuf {
                        key,
                        ..PartBuf::default()
                    });
                    sizes.push((0, 0));
                    r.parts.len() - 1
                }
            };
            sizes[i].0 += c.end - start;
            sizes[i].1 += 1;
            part_of.push(i);
            start = c.end;
        }
        for (part, &(bytes, calls)) in r.parts.iter_mut().zip(&sizes) {
            part.data = self.pool.take(bytes);
            part.calls = Vec::with_capacity(calls);
        }
        let mut start = 0;
        for (c, &i) in out.calls.iter().zip(&part_of) {
            let part = &mut r.parts[i];
            part.data.extend_from_slice(&out.buf[start..c.end]);
            part.calls.push(CallInfo {
                end: part.data.len() as u32,
                timestamp: c.timestamp,
                kind: c.kind,
            });
            start = c.end;
        }
        self.pool.give(out.buf);
    }
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| *b == b' ' || *b == b'\t')
}
