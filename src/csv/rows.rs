//! The rows of a piece of CSV and their cells, read by the rules of the `csv` crate's reader
//! (RFC 4180 quoting, no header, any number of cells per row), so a row reads the same whether
//! the converter or a `csv::Reader` reads it:
//!
//! - a cell that starts with `"` is quoted: `""` inside stands for one quote, and the quote that
//!   closes it may be followed by more bytes, kept as they are (`"ab"c` reads `abc`);
//! - in any other cell a quote is an ordinary byte;
//! - `\n`, `\r` and `\r\n` end a row, outside quotes; empty lines are skipped;
//! - an unclosed quote runs to the end of the piece.
//!
//! The framer ([`crate::csv::CsvScan`]) cuts pieces at row ends by the same rules. Each row
//! knows where it starts, where its text ends (before its line end) and on which line it starts.
//! The tests compare every row, cell and position with what `csv::Reader` reads.

use crate::simd;
use memchr::memchr3;

/// One row: `data[start..end]` is its text (without the line end); it starts after `line`
/// newlines of the piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// Offset in the piece where the row starts.
    pub start: usize,
    /// Offset in the piece where the row's text ends (before its line end).
    pub end: usize,
    /// Newlines of the piece before the row: it starts on line `line` (0-based) of the piece.
    pub line: u64,
}

/// The rows of one piece.
pub struct Rows<'a> {
    data: &'a [u8],
    delimiter: u8,
    pos: usize,
    newlines: u64,
}

impl<'a> Rows<'a> {
    /// The rows of `data`, cells split at `delimiter`.
    pub fn new(data: &'a [u8], delimiter: u8) -> Self {
        Rows {
            data,
            delimiter,
            pos: 0,
            newlines: 0,
        }
    }

    /// The next row. Its cells' bytes go to `cells` (emptied first), one after the other;
    /// `ends` gets the offset in `cells` where each cell ends.
    pub fn next_row(&mut self, cells: &mut Vec<u8>, ends: &mut Vec<usize>) -> Option<Row> {
        let (data, d) = (self.data, self.delimiter);
        while let Some(&c @ (b'\n' | b'\r')) = data.get(self.pos) {
            self.newlines += u64::from(c == b'\n');
            self.pos += 1;
        }
        if self.pos == data.len() {
            return None;
        }
        cells.clear();
        ends.clear();
        let (start, line) = (self.pos, self.newlines);
        let mut pos = start;
        let end = loop {
            if data.get(pos) == Some(&b'"') {
                pos = quoted(data, pos + 1, cells);
            }
            // An unquoted cell, or what follows a closing quote: kept up to the next delimiter
            // or line end.
            let stop = memchr3(d, b'\n', b'\r', &data[pos..]).map_or(data.len(), |p| pos + p);
            cells.extend_from_slice(&data[pos..stop]);
            ends.push(cells.len());
            pos = stop;
            match data.get(pos) {
                Some(&c) if c == d => pos += 1,
                Some(_) => {
                    pos += 1;
                    break stop;
                }
                None => break stop,
            }
        };
        self.newlines += memchr::memchr_iter(b'\n', &data[start..pos]).count() as u64;
        self.pos = pos;
        Some(Row { start, end, line })
    }
}

/// Copies a quoted cell's text, from `pos` (just past the opening quote) to the closing quote,
/// into `cells`, each `""` as one `"`. Returns the position past the closing quote (or the end
/// of the piece). The quotes are found 64 bytes at a time, by mask.
fn quoted(data: &[u8], mut pos: usize, cells: &mut Vec<u8>) -> usize {
    // Start of the bytes not copied yet.
    let mut seg = pos;
    'blocks: while pos < data.len() {
        let block = match data.get(pos..pos + 64) {
            Some(b) => b.try_into().expect("64 bytes"),
            None => simd::padded(&data[pos..], 0),
        };
        let mut quotes = simd::eq(&block, b'"');
        while quotes != 0 {
            let k = quotes.trailing_zeros() as usize;
            let at = pos + k;
            if data.get(at + 1) != Some(&b'"') {
                append(cells, data, seg, at);
                return at + 1;
            }
            // `""`: one quote of text.
            append(cells, data, seg, at + 1);
            seg = at + 2;
            if k == 63 {
                // The second quote opens the next block: start after it.
                pos = seg;
                continue 'blocks;
            }
            quotes &= !(0b11 << k);
        }
        pos += 64;
    }
    cells.extend_from_slice(&data[seg..]);
    data.len()
}

/// Appends `data[from..to]` to `cells`. Short runs (most, between the `""` of a JSON cell) are
/// copied as one fixed 16-byte block and cut back, which compiles to two moves instead of a
/// `memcpy` call.
#[inline]
fn append(cells: &mut Vec<u8>, data: &[u8], from: usize, to: usize) {
    match data.get(from..from + 16) {
        Some(block) if to - from <= 16 => {
            let old = cells.len();
            let block: &[u8; 16] = block.try_into().expect("16 bytes");
            cells.extend_from_slice(block);
            cells.truncate(old + (to - from));
        }
        _ => cells.extend_from_slice(&data[from..to]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What `csv::Reader` reads: each row's cells, where its text starts and ends, its line
    /// (positions worked out from the reader's the way the converter used to).
    fn with_csv_crate(data: &[u8], d: u8) -> Vec<(Vec<Vec<u8>>, usize, usize, u64)> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(d)
            .from_reader(std::io::Read::chain(&b"\n"[..], data));
        let mut rec = csv::ByteRecord::new();
        let mut rows = Vec::new();
        while rdr.read_byte_record(&mut rec).unwrap() {
            let end = rdr.position().byte() as usize;
            let pos = rec.position().unwrap();
            let (mut start, mut line) = ((pos.byte() as usize).min(end), pos.line());
            let at = |i: usize| if i == 0 { b'\n' } else { data[i - 1] };
            while start < end && matches!(at(start), b'\r' | b'\n') {
                line += u64::from(at(start) == b'\n');
                start += 1;
            }
            let mut stop = end - 1;
            while stop > start - 1 && matches!(data[stop - 1], b'\r' | b'\n') {
                stop -= 1;
            }
            let cells = rec.iter().map(<[u8]>::to_vec).collect();
            rows.push((cells, start - 1, stop, line - 2));
        }
        rows
    }

    fn mine(data: &[u8], d: u8) -> Vec<(Vec<Vec<u8>>, usize, usize, u64)> {
        let mut rows = Rows::new(data, d);
        let (mut cells, mut ends) = (Vec::new(), Vec::new());
        let mut out = Vec::new();
        while let Some(row) = rows.next_row(&mut cells, &mut ends) {
            let mut from = 0;
            let mut list = Vec::new();
            for &e in &ends {
                list.push(cells[from..e].to_vec());
                from = e;
            }
            let mut end = row.end;
            while end > row.start && matches!(data[end - 1], b'\r' | b'\n') {
                end -= 1;
            }
            out.push((list, row.start, end, row.line));
        }
        out
    }

    #[test]
    fn reads_like_the_csv_crate() {
        for text in [
            "a,b\nc,d",
            "a,\"b,\"\"c\"\"\nd\",e\r\n\r\n\nx",
            "\"ab\"c,d\n",
            "a\"b,c\r",
            "\"open\n\n",
            "",
            "\n\n",
            ",\n,",
            "\"\"\"\",\"\"",
        ] {
            assert_eq!(
                mine(text.as_bytes(), b','),
                with_csv_crate(text.as_bytes(), b','),
                "{text:?}"
            );
        }
    }

    #[test]
    fn quote_runs_across_64_byte_blocks() {
        for n in 60..140 {
            for text in [
                format!("{}\n", "\"".repeat(n)),
                format!("a,\"{}x\",b\nc", "\"\"".repeat(n / 2)),
                format!("{},\"{}\n", "\"".repeat(n), "\"\"".repeat(n / 3)),
            ] {
                assert_eq!(
                    mine(text.as_bytes(), b','),
                    with_csv_crate(text.as_bytes(), b','),
                    "{text:?}"
                );
            }
        }
    }

    #[test]
    fn a_row_ends_before_its_line_end_or_at_the_end_of_an_unclosed_quote() {
        let data = b"a,b\r\n\"c\nd\n\n";
        let mut rows = Rows::new(data, b',');
        let (mut cells, mut ends) = (Vec::new(), Vec::new());
        let first = rows.next_row(&mut cells, &mut ends).unwrap();
        assert_eq!((first.start, first.end, first.line), (0, 3, 0));
        let second = rows.next_row(&mut cells, &mut ends).unwrap();
        assert_eq!((second.start, second.end, second.line), (5, data.len(), 1));
        assert_eq!(cells, b"c\nd\n\n");
        assert!(rows.next_row(&mut cells, &mut ends).is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
        #[test]
        fn rows_cells_and_positions_match_the_csv_crate(
            data in proptest::collection::vec(
                proptest::sample::select(b"\"\"\",,;\n\r\nab \xC3\xA9".to_vec()),
                0..300,
            ),
            semicolon: bool,
        ) {
            let d = if semicolon { b';' } else { b',' };
            prop_assert_eq!(mine(&data, d), with_csv_crate(&data, d));
        }
    }
}
