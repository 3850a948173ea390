//! Framing of a decompressed stream into pieces of whole records (`input::Framer`), NDJSON and
//! quote-aware CSV (`csv::CsvScan`, after `csv::read_csv_header`), with tiny blocks, a
//! reader that hands out a few bytes at a time (and `Interrupted` now and then), small
//! `--max-line-bytes`, and optionally a read error part way.
//!
//! Checks: the pieces tile the stream exactly (BOM or header aside): each `Lines` piece is the
//! next bytes of the input, at the right offset and physical line, ending at a record end (or
//! where the stream ends); each `TooLong` covers a record longer than the limit, keeps its
//! first bytes, and is followed by its record end; a read error gives one `Corrupt` piece, last,
//! at the offset where reading stopped; no piece holds more than `max(max_line, block) + block`
//! bytes (plus one: a record's final `\r` is not counted against the limit).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::{self, Read};
use track2pipelines::csv::{CsvScan, read_csv_header};
use track2pipelines::input::{Cuts, Framer, HEAD_BYTES, Piece, Position};

/// Hands out the input a few bytes at a time; fails at `fail_at` if set.
struct Trickle<'a> {
    data: &'a [u8],
    pos: usize,
    step: usize,
    seed: usize,
    fail_at: Option<usize>,
    calls: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.seed & 1 == 1 && self.calls.is_multiple_of(5) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
        }
        let end = self.fail_at.unwrap_or(self.data.len());
        if self.pos >= end {
            return match self.fail_at {
                Some(_) => Err(io::Error::other("injected read error")),
                None => Ok(0),
            };
        }
        self.step = (self.step * 5 + self.seed) % 7;
        let n = (1 + self.step).min(buf.len()).min(end - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn newlines(b: &[u8]) -> u64 {
    b.iter().filter(|&&c| c == b'\n').count() as u64
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (head, input) = data.split_at(4);
    let block = 1 + usize::from(head[0] & 15);
    let csv = head[1] & 1 != 0;
    let delimiter = if head[1] & 2 != 0 { b'\t' } else { b',' };
    let max_line: u64 = match (head[1] >> 2) & 3 {
        0 => 1 << 20,
        1 => 8,
        2 => 64,
        _ => HEAD_BYTES as u64 + 1,
    };
    let fail_at = (head[2] & 1 != 0).then(|| usize::from(head[3]) * input.len() / 255);
    let mut reader = Trickle {
        data: input,
        pos: 0,
        step: usize::from(head[2] >> 1),
        seed: usize::from(head[3]),
        fail_at,
        calls: 0,
    };
    let delivered = fail_at.unwrap_or(input.len());

    // Where records end (just past the newline), scanning the whole stream one byte at a time.
    let (start, pieces, ends): (usize, Vec<Piece>, Vec<bool>) = if csv {
        let Ok((_, consumed, lines)) = read_csv_header(&mut reader, delimiter, u64::MAX) else {
            assert!(fail_at.is_some(), "header read failed without an error");
            return;
        };
        let consumed = consumed as usize;
        assert!(consumed <= delivered);
        assert_eq!(lines, 1 + newlines(&input[..consumed]), "header lines");
        let mut ends = vec![false; input.len() + 1];
        let mut scan = CsvScan::new(delimiter);
        for (i, b) in input.iter().enumerate().skip(consumed) {
            if scan.scan(std::slice::from_ref(b)).0.is_some() {
                ends[i + 1] = true;
            }
        }
        // Scanning in larger runs finds the same ends.
        let mut scan = CsvScan::new(delimiter);
        let mut at = consumed;
        for run in input[consumed..].chunks(block) {
            let (first, last) = scan.scan(run);
            let want: Vec<usize> = (at..at + run.len()).filter(|&i| ends[i + 1]).collect();
            assert_eq!(
                first.map(|p| p + at),
                want.first().copied(),
                "CsvScan first"
            );
            assert_eq!(last.map(|p| p + at), want.last().copied(), "CsvScan last");
            at += run.len();
        }
        let cuts = Cuts::Csv(CsvScan::new(delimiter));
        let at = Position::new(lines, consumed as u64);
        let mut framer = Framer::with_cuts(reader, block, max_line, cuts, at);
        let pieces = framer.by_ref().collect();
        assert_eq!(framer.position() as usize, delivered, "position at the end");
        (consumed, pieces, ends)
    } else {
        let mut ends = vec![false; input.len() + 1];
        for (i, b) in input.iter().enumerate() {
            ends[i + 1] = *b == b'\n';
        }
        let bom = delivered >= 3 && input.starts_with(b"\xEF\xBB\xBF");
        let mut framer = Framer::new(reader, block, max_line);
        let pieces = framer.by_ref().collect();
        assert_eq!(framer.position() as usize, delivered, "position at the end");
        (if bom { 3 } else { 0 }, pieces, ends)
    };

    // On a failure, show what the framer made.
    show_on_panic(format!(
        "block {block}, max_line {max_line}, fail_at {fail_at:?}, csv {csv}\npieces {pieces:?}"
    ));
    let mut pos = start;
    let mut corrupt = false;
    for (k, piece) in pieces.iter().enumerate() {
        assert!(!corrupt, "a piece after Corrupt");
        match piece {
            Piece::Records { data, at } => {
                assert_eq!(at.offset as usize, pos, "Lines offset");
                assert_eq!(at.line, Some(1 + newlines(&input[..pos])), "Lines line at {pos}");
                assert!(!data.is_empty(), "empty Lines piece");
                let end = pos + data.len();
                assert!(end <= delivered, "Lines past the stream");
                assert_eq!(&input[pos..end], &data[..], "Lines bytes at {pos}");
                assert!(
                    ends[end] || end == delivered,
                    "Lines piece ends inside a record at {end}"
                );
                // Memory stays bounded: what is left after a cut-out record (under a block)
                // may exceed a tiny limit before the next block is added, and a record's
                // final `\r` (maybe half of a `\r\n`) is not counted against the limit.
                assert!(
                    data.len() as u64 <= max_line.max(block as u64) + block as u64 + 1,
                    "piece of {} bytes (max_line {max_line}, block {block})",
                    data.len()
                );
                pos = end;
            }
            Piece::TooLong { head, length, at } => {
                assert_eq!(at.offset as usize, pos, "TooLong offset");
                assert_eq!(at.line, Some(1 + newlines(&input[..pos])), "TooLong line");
                // crlf-at-limit: a line of exactly max_line bytes ending in \r\n is cut out as
                // too long when the framer sees its \r before its \n.
                let at_limit_crlf = *length == max_line
                    && input.get(pos + *length as usize) == Some(&b'\r')
                    && tolerate("crlf-at-limit");
                assert!(
                    *length > max_line || at_limit_crlf,
                    "TooLong of {length} <= {max_line}"
                );
                let end = pos + *length as usize;
                assert!(end <= delivered, "TooLong past the stream");
                let keep = (*length as usize).min(HEAD_BYTES);
                assert_eq!(&head[..], &input[pos..pos + keep], "TooLong head");
                // The length leaves out the line ending: `\n`, or `\r\n` (a `\r` that is not a
                // record end of its own, as it is in CSV).
                let mut end = end;
                if end < delivered
                    && input[end] == b'\r'
                    && !ends[end + 1]
                    && (end + 1 == delivered || ends[end + 2])
                {
                    end += 1;
                }
                assert!(
                    (pos..end).all(|i| !ends[i + 1]),
                    "TooLong spans a record end"
                );
                if end < delivered {
                    assert!(ends[end + 1], "TooLong not followed by its record end");
                    pos = end + 1;
                } else {
                    pos = end;
                }
            }
            Piece::Corrupt { at, .. } => {
                assert!(fail_at.is_some(), "Corrupt without an error");
                assert_eq!(k, pieces.len() - 1, "Corrupt is the last piece");
                assert_eq!(pos, delivered, "bytes lost before Corrupt");
                assert_eq!(at.offset as usize, delivered, "Corrupt offset");
                assert_eq!(at.line, Some(1 + newlines(&input[..delivered])), "Corrupt line");
                corrupt = true;
            }
        }
    }
    assert_eq!(
        pos,
        delivered.max(start),
        "the pieces do not cover the stream"
    );
    assert_eq!(corrupt, fail_at.is_some(), "read error not reported");
});

thread_local! {
    static CONTEXT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Prints `context` before the panic message of a failing check (then libFuzzer's hook runs).
fn show_on_panic(context: String) {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let next = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            CONTEXT.with(|c| eprintln!("{}", c.borrow()));
            next(info);
        }));
    });
    CONTEXT.with(|c| *c.borrow_mut() = context);
}

/// Known bugs reported but not fixed yet, tolerated when named in `T2P_FUZZ_TOLERATE`
/// (comma-separated) so a run can look past them.
fn tolerate(bug: &str) -> bool {
    static LIST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    LIST.get_or_init(|| std::env::var("T2P_FUZZ_TOLERATE").unwrap_or_default())
        .split(',')
        .any(|b| b == bug)
}
