//! Framing: a decompressed stream cut into [`Piece`]s of whole records, each knowing its
//! [`Position`] (first line and byte offset). Records end at every newline (NDJSON) or where the CSV scanner says
//! ([`Cuts`]); a record longer than the limit is cut out with its length.

use super::Position;
use crate::csv::CsvScan;
use std::io::{self, Read};

/// Where records end: at every newline (NDJSON), or at newlines outside quoted CSV fields.
#[derive(Debug, Clone, Copy)]
pub enum Cuts {
    /// NDJSON: every newline ends a record.
    Lines,
    /// CSV: the scanner says which newlines end a record.
    Csv(CsvScan),
}

impl Cuts {
    /// First and last record ends in `data`, the next bytes of the stream.
    pub(super) fn scan(&mut self, data: &[u8]) -> (Option<usize>, Option<usize>) {
        match self {
            Cuts::Lines => (memchr::memchr(b'\n', data), memchr::memrchr(b'\n', data)),
            Cuts::Csv(scan) => scan.scan(data),
        }
    }
}

/// A run of the decompressed stream, cut at record ends.
#[derive(Debug)]
pub enum Piece {
    /// Whole records: NDJSON lines, or CSV rows (which may span lines); the last may lack its
    /// newline at the end of the stream.
    Records {
        /// The records' bytes, line ends included.
        data: Vec<u8>,
        /// Where the first record starts.
        at: Position,
    },
    /// A line longer than the limit: its first bytes and its full length (newline excluded).
    TooLong {
        /// Its first bytes, at most [`HEAD_BYTES`].
        head: Vec<u8>,
        /// Its length in bytes, line end excluded.
        length: u64,
        /// Where it starts.
        at: Position,
    },
    /// Decompression or reading failed here (`corrupt_input`), or a CSV header could not be
    /// read (`csv_invalid`); nothing more is read from this source. Not a record.
    Corrupt {
        /// The reject code the failure is reported with.
        code: crate::reject::Code,
        /// Where reading stopped.
        at: Position,
        /// What failed, for the error entry.
        message: String,
    },
}

/// How many bytes of an over-long line the error file keeps.
pub const HEAD_BYTES: usize = 4096;

/// Cuts a stream into [`Piece`]s of about `block` bytes, never holding more than
/// `max_line + block` bytes of one record.
pub struct Framer<R> {
    cuts: Cuts,
    reader: R,
    block: usize,
    max_line: u64,
    carry: Vec<u8>,
    /// Where `carry` starts.
    at: Position,
    started: bool,
    done: bool,
    /// A record end already found in `carry` (after an over-long record).
    pending: Option<usize>,
    /// A read error that came after some bytes, reported on the next read.
    deferred: Option<io::Error>,
    /// Bytes of the decompressed stream read so far, from its very start.
    consumed: u64,
    /// Where new buffers come from, if pieces' buffers are recycled.
    pool: Option<std::sync::Arc<crate::bufpool::BufPool>>,
    queued: Option<Piece>,
}

impl<R: Read> Framer<R> {
    /// An NDJSON framer from the start of `reader`: pieces of about `block` bytes, any line
    /// over `max_line` bytes cut out as a [`Piece::TooLong`].
    pub fn new(reader: R, block: usize, max_line: u64) -> Self {
        Framer::with_cuts(reader, block, max_line, Cuts::Lines, Position::START)
    }

    /// A framer that starts at `at` in a stream (past a CSV header, say).
    pub fn with_cuts(reader: R, block: usize, max_line: u64, cuts: Cuts, at: Position) -> Self {
        Framer {
            cuts,
            reader,
            block,
            max_line,
            carry: Vec::new(),
            at,
            started: at.offset > 0,
            pending: None,
            deferred: None,
            consumed: at.offset,
            pool: None,
            done: false,
            queued: None,
        }
    }

    /// Reads into `carry`; Ok(0) at the end of the stream.
    /// Reads up to one block into `carry` (without zero-filling it first); Ok(0) at the end
    /// of the stream. Bytes read before an error are returned first, the error on the next call.
    fn fill(&mut self) -> io::Result<usize> {
        if let Some(e) = self.deferred.take() {
            return Err(e);
        }
        let old = self.carry.len();
        self.carry.reserve(self.block);
        let res = (&mut self.reader)
            .take(self.block as u64)
            .read_to_end(&mut self.carry);
        let n = self.carry.len() - old;
        self.consumed += n as u64;
        match res {
            Ok(_) => Ok(n),
            Err(e) if n > 0 => {
                self.deferred = Some(e);
                Ok(n)
            }
            Err(e) => Err(e),
        }
    }

    /// Takes `carry[..cut]` as a `Records` piece.
    fn take_lines(&mut self, cut: usize) -> Piece {
        let rest_len = self.carry.len() - cut;
        let mut rest = match &self.pool {
            Some(pool) => pool.take(rest_len + self.block),
            None => Vec::with_capacity(rest_len + self.block),
        };
        rest.extend_from_slice(&self.carry[cut..]);
        let mut data = std::mem::replace(&mut self.carry, rest);
        data.truncate(cut);
        let at = self.at;
        self.at
            .advance(memchr::memchr_iter(b'\n', &data).count() as u64, cut as u64);
        Piece::Records { data, at }
    }

    fn corrupt(&mut self, e: io::Error) -> Option<Piece> {
        self.done = true;
        let tail = std::mem::take(&mut self.carry);
        // Decoding stopped at the end of the partial record held in `tail`.
        let lines = memchr::memchr_iter(b'\n', &tail).count() as u64;
        let corrupt = Piece::Corrupt {
            code: crate::reject::Code::CorruptInput,
            at: self.at.ahead(lines, tail.len() as u64),
            message: format!("input stream damaged or unreadable: {e}"),
        };
        if tail.is_empty() {
            return Some(corrupt);
        }
        self.queued = Some(corrupt);
        Some(Piece::Records {
            data: tail,
            at: self.at,
        })
    }

    /// Skips the rest of an over-long record whose first bytes are `carry`, keeping its first
    /// [`HEAD_BYTES`] and counting its length (line ending excluded, like a line in a piece).
    fn skip_long_line(&mut self) -> Option<Piece> {
        let at = self.at;
        let mut head = Vec::with_capacity(HEAD_BYTES);
        let mut length = 0u64;
        let mut ends_with_cr = false;
        let mut consume = |this: &mut Self, upto: usize| {
            let bytes = &this.carry[..upto];
            let room = HEAD_BYTES - head.len();
            head.extend_from_slice(&bytes[..bytes.len().min(room)]);
            length += bytes.len() as u64;
            if let Some(&last) = bytes.last() {
                ends_with_cr = last == b'\r';
            }
            let lines = memchr::memchr_iter(b'\n', bytes).count() as u64;
            this.at.advance(lines, upto as u64);
        };
        let whole = self.carry.len();
        consume(self, whole);
        self.carry.clear();
        loop {
            match self.fill() {
                Err(e) => {
                    self.queued = self.corrupt(e);
                    break;
                }
                Ok(0) => {
                    self.done = true;
                    break;
                }
                Ok(_) => match self.cuts.scan(&self.carry) {
                    (Some(p), last) => {
                        // The bytes after the record's end were scanned too: remember the last
                        // record end among them so the next piece is cut there.
                        self.pending = last.filter(|&l| l > p).map(|l| l - p - 1);
                        consume(self, p);
                        self.at.advance(u64::from(self.carry[p] == b'\n'), 1);
                        self.carry.drain(..=p);
                        break;
                    }
                    (None, _) => {
                        let whole = self.carry.len();
                        consume(self, whole);
                        self.carry.clear();
                    }
                },
            }
        }
        // An NDJSON line's `\r\n` ends at the `\n`: its `\r` is not part of the line. A CSV
        // record ends at its `\r` already; one that still ends with `\r` is inside a quote that
        // never closes, and keeps it, as the row reader does.
        if ends_with_cr && matches!(self.cuts, Cuts::Lines) {
            length -= 1;
        }
        head.truncate(length.min(HEAD_BYTES as u64) as usize);
        Some(Piece::TooLong { head, length, at })
    }

    /// Takes the buffers of new pieces from `pool` (where their consumers give them back).
    pub fn recycling(mut self, pool: std::sync::Arc<crate::bufpool::BufPool>) -> Self {
        self.pool = Some(pool);
        self
    }

    /// Where the next piece starts.
    pub fn at(&self) -> Position {
        self.at
    }

    /// Bytes of the decompressed stream read so far (all of it, once the pieces ran out).
    pub fn position(&self) -> u64 {
        self.consumed
    }

    /// The next piece, or None once the stream has ended (or after a [`Piece::Corrupt`]).
    pub fn next_piece(&mut self) -> Option<Piece> {
        if let Some(p) = self.queued.take() {
            return Some(p);
        }
        if let Some(last) = self.pending.take() {
            return Some(self.take_lines(last + 1));
        }
        loop {
            if self.done {
                return None;
            }
            let old = self.carry.len();
            match self.fill() {
                Err(e) => return self.corrupt(e),
                Ok(0) => {
                    self.done = true;
                    if self.carry.is_empty() {
                        return None;
                    }
                    let cut = self.carry.len();
                    return Some(self.take_lines(cut));
                }
                Ok(_) => {}
            }
            let mut scan_from = old;
            if !self.started {
                if self.carry.len() < 3 {
                    continue;
                }
                self.started = true;
                scan_from = 0;
                if self.carry.starts_with(b"\xEF\xBB\xBF") {
                    self.carry.drain(..3);
                    self.at.offset = 3;
                }
            }
            match self.cuts.scan(&self.carry[scan_from..]).1 {
                Some(p) => return Some(self.take_lines(scan_from + p + 1)),
                // A `\r` at the end may be the first half of a `\r\n` ending: not counted.
                None if (self.carry.len() - usize::from(self.carry.last() == Some(&b'\r')))
                    as u64
                    > self.max_line =>
                {
                    return self.skip_long_line();
                }
                None => {}
            }
        }
    }
}

impl<R: Read> Iterator for Framer<R> {
    type Item = Piece;
    fn next(&mut self) -> Option<Piece> {
        self.next_piece()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(input: &[u8], block: usize, max: u64) -> Vec<Piece> {
        Framer::new(input, block, max).collect()
    }

    fn lines_of(ps: &[Piece]) -> Vec<(u64, u64, Vec<u8>)> {
        let mut out = Vec::new();
        for p in ps {
            if let Piece::Records { data, at } = p {
                let mut o = at.offset;
                for (l, chunk) in (at.line.unwrap()..).zip(data.split_inclusive(|b| *b == b'\n')) {
                    out.push((l, o, chunk.to_vec()));
                    o += chunk.len() as u64;
                }
            }
        }
        out
    }

    #[test]
    fn positions_survive_any_block_size() {
        let input = b"\xEF\xBB\xBFa\nbb\r\n\nccc";
        let want = lines_of(&pieces(input, 1 << 20, 1 << 20));
        assert_eq!(want[0], (1, 3, b"a\n".to_vec()));
        assert_eq!(want[3], (4, 10, b"ccc".to_vec()));
        for block in 1..8 {
            assert_eq!(
                lines_of(&pieces(input, block, 1 << 20)),
                want,
                "block {block}"
            );
        }
    }

    #[test]
    fn a_range_inside_the_file_has_offsets_but_no_lines() {
        let data = b"a\n".repeat(4000);
        let input = &data[..];
        let start = Position::range_start(10);
        let ps: Vec<Piece> = Framer::with_cuts(input, 64, 1 << 20, Cuts::Lines, start).collect();
        let mut next = 10;
        for p in &ps {
            let Piece::Records { data, at } = p else {
                panic!("{p:?}")
            };
            assert_eq!(
                *at,
                Position {
                    line: None,
                    offset: next
                }
            );
            next += data.len() as u64;
        }
        assert_eq!(next, 8010);
    }

    #[test]
    fn long_lines_are_cut_out_with_their_length() {
        let mut input = b"ok\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 10_000));
        input.extend(b"\nafter\n");
        let ps = pieces(&input, 64, 100);
        let long: Vec<_> = ps
            .iter()
            .filter_map(|p| match p {
                Piece::TooLong { head, length, at } => {
                    Some((head.len(), *length, at.line.unwrap(), at.offset))
                }
                _ => None,
            })
            .collect();
        assert_eq!(long, vec![(HEAD_BYTES, 10_000, 2, 3)]);
        let lines = lines_of(&ps);
        assert_eq!(lines.last().unwrap(), &(3, 10_004, b"after\n".to_vec()));
    }
}
