//! CSV record ends and the header: the quote-aware scanner that tells record-ending line ends
//! from those inside quoted fields, and the header read before any row.

use crate::simd;
use std::io::{self, Read};

/// Where records end: at every newline (NDJSON), or at newlines outside quoted CSV fields.
#[derive(Debug, Clone, Copy)]
pub enum Cuts {
    Lines,
    Csv(CsvScan),
}

/// A quote-aware CSV scanner: finds the newlines that end records (not those inside quoted
/// fields). It keeps its state between calls, so every byte is scanned exactly once.
#[derive(Debug, Clone, Copy)]
pub struct CsvScan {
    delimiter: u8,
    state: CsvState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CsvState {
    FieldStart,
    Unquoted,
    Quoted,
    /// Just after a quote inside a quoted field: `""` escapes a quote, anything else ends it.
    QuoteInQuoted,
}

impl CsvScan {
    pub fn new(delimiter: u8) -> CsvScan {
        CsvScan {
            delimiter,
            state: CsvState::FieldStart,
        }
    }

    /// True inside a quoted field (a quote opened and not yet closed).
    pub fn in_quote(&self) -> bool {
        self.state == CsvState::Quoted
    }

    /// Scans the next bytes of the stream; returns the positions of the first and last
    /// record-ending newlines in them. The bytes go by 64 at a time: quote, delimiter and
    /// line-end masks let each state jump straight to the next byte that can change it.
    pub fn scan(&mut self, data: &[u8]) -> (Option<usize>, Option<usize>) {
        let (mut first, mut last) = (None, None);
        let d = self.delimiter;
        // Pads a short last block with a byte that is no quote, delimiter or line end.
        let pad = if d == b'a' { b'b' } else { b'a' };
        let mut base = 0;
        while base < data.len() {
            let len = (data.len() - base).min(64);
            let block = match data.get(base..base + 64) {
                Some(b) => b.try_into().expect("64 bytes"),
                None => simd::padded(&data[base..], pad),
            };
            let quotes = simd::eq(&block, b'"');
            let ends = simd::eq(&block, b'\n') | simd::eq(&block, b'\r');
            let stops = ends | simd::eq(&block, d);
            let mut i = 0;
            while i < len {
                match self.state {
                    CsvState::FieldStart | CsvState::QuoteInQuoted => {
                        self.state = match (self.state, block[i]) {
                            (CsvState::FieldStart, b'"') => CsvState::Quoted,
                            (CsvState::QuoteInQuoted, b'"') => CsvState::Quoted,
                            // `\n` and a bare `\r` both end a record, as for the CSV reader.
                            (_, b'\n' | b'\r') => {
                                first.get_or_insert(base + i);
                                last = Some(base + i);
                                CsvState::FieldStart
                            }
                            (_, c) if c == d => CsvState::FieldStart,
                            _ => CsvState::Unquoted,
                        };
                        i += 1;
                    }
                    CsvState::Unquoted => match stops >> i {
                        0 => i = len,
                        m => {
                            i += m.trailing_zeros() as usize;
                            if block[i] != d {
                                first.get_or_insert(base + i);
                                last = Some(base + i);
                            }
                            self.state = CsvState::FieldStart;
                            i += 1;
                        }
                    },
                    CsvState::Quoted => match quotes >> i {
                        0 => i = len,
                        m => {
                            i += m.trailing_zeros() as usize + 1;
                            self.state = CsvState::QuoteInQuoted;
                        }
                    },
                }
            }
            base += 64;
        }
        (first, last)
    }
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

/// Why a CSV header could not be read (docs/mapping.md §12: never silent).
#[derive(Debug)]
pub enum HeaderProblem {
    /// Reading or decompressing failed.
    Io(io::Error),
    /// A quote opened in the header never closes: the "header" would be the whole file.
    Unclosed,
    /// Longer than `--max-line-bytes`.
    TooLong(u64),
    /// Not UTF-8.
    NotUtf8,
}

impl std::fmt::Display for HeaderProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderProblem::Io(e) => write!(f, "input stream damaged or unreadable: {e}"),
            HeaderProblem::Unclosed => f.write_str(
                "the CSV header has a quote that never closes; no row of this file can be read",
            ),
            HeaderProblem::TooLong(max) => write!(
                f,
                "the CSV header is longer than --max-line-bytes ({max}); no row of this file can be read"
            ),
            HeaderProblem::NotUtf8 => {
                f.write_str("the CSV header is not valid UTF-8; no row of this file can be read")
            }
        }
    }
}

/// Reads a CSV header record (up to its unquoted newline, a BOM skipped) one byte at a time,
/// so nothing past it is consumed. Returns the record without its line ending, the bytes
/// consumed and the physical lines it spans.
pub fn read_csv_header(
    reader: &mut dyn Read,
    delimiter: u8,
    max_bytes: u64,
) -> std::result::Result<(Vec<u8>, u64, u64), HeaderProblem> {
    let mut scan = CsvScan::new(delimiter);
    let mut header = Vec::new();
    let mut byte = [0u8; 1];
    let (mut consumed, mut lines) = (0u64, 1u64);
    let mut ended = false;
    loop {
        match reader.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(HeaderProblem::Io(e)),
        }
        consumed += 1;
        if consumed <= 3
            && header.len() + 1 == consumed as usize
            && byte[0] == b"\xEF\xBB\xBF"[header.len()]
        {
            header.push(byte[0]);
            if header.len() == 3 {
                header.clear();
            }
            continue;
        }
        if scan.scan(&byte).0.is_some() {
            // A `\r\n` header ends at the `\r`: its `\n` starts the first piece.
            lines += u64::from(byte[0] == b'\n');
            ended = true;
            break;
        }
        if byte[0] == b'\n' {
            lines += 1;
        }
        header.push(byte[0]);
        if header.len() as u64 > max_bytes {
            return Err(HeaderProblem::TooLong(max_bytes));
        }
    }
    if !ended && scan.in_quote() {
        return Err(HeaderProblem::Unclosed);
    }
    if header.last() == Some(&b'\r') {
        header.pop();
    }
    if std::str::from_utf8(&header).is_err() {
        return Err(HeaderProblem::NotUtf8);
    }
    Ok((header, consumed, lines))
}
