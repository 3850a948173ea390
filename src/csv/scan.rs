//! Where CSV records end in a stream: the quote-aware scanner that tells record-ending line
//! ends from those inside quoted fields, keeping its state from one block of the stream to the
//! next. The framer ([`crate::input`]) cuts pieces with it; [`super::rows`] then reads each
//! piece's rows by the same quoting rules, and a test below holds the two together.

use crate::simd;

/// A quote-aware CSV scanner: finds the newlines that end records (not those inside quoted
/// fields). It keeps its state between calls, so every byte is scanned exactly once.
#[derive(Debug, Clone, Copy)]
pub struct CsvScan {
    delimiter: u8,
    state: CsvState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CsvState {
    FieldStart,
    Unquoted,
    Quoted,
    /// Just after a quote inside a quoted field: `""` escapes a quote, anything else ends it.
    QuoteInQuoted,
}

impl CsvScan {
    /// A scanner at the start of a stream whose cells are split at `delimiter`.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The scanner's rules one byte at a time: the reference for [`CsvScan::scan`].
    fn record_ends(data: &[u8], d: u8) -> Vec<usize> {
        reference(data, d).1
    }

    /// Whether the reference rules end `data` inside a quoted field.
    fn quote_open_at_end(data: &[u8], d: u8) -> bool {
        reference(data, d).0 == CsvState::Quoted
    }

    /// The reference rules over `data`: the final state and the record ends.
    fn reference(data: &[u8], d: u8) -> (CsvState, Vec<usize>) {
        let (mut state, mut ends) = (CsvState::FieldStart, Vec::new());
        for (i, &c) in data.iter().enumerate() {
            state = match (state, c) {
                (CsvState::Quoted, b'"') => CsvState::QuoteInQuoted,
                (CsvState::Quoted, _) => CsvState::Quoted,
                (CsvState::FieldStart | CsvState::QuoteInQuoted, b'"') => CsvState::Quoted,
                (_, b'\n' | b'\r') => {
                    ends.push(i);
                    CsvState::FieldStart
                }
                (_, c) if c == d => CsvState::FieldStart,
                _ => CsvState::Unquoted,
            };
        }
        (state, ends)
    }

    proptest::proptest! {
        #[test]
        fn csv_scan_follows_the_rules_across_any_split(
            data in proptest::collection::vec(
                proptest::sample::select(b"\"\"\",;\n\rab a\xC3\xA9".to_vec()),
                0..400,
            ),
            cuts in proptest::collection::vec(0usize..400, 0..6),
            semicolon: bool,
        ) {
            let d = if semicolon { b';' } else { b',' };
            let want = record_ends(&data, d);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.extend([0, data.len()]);
            cuts.sort_unstable();
            let mut scan = CsvScan::new(d);
            for w in cuts.windows(2) {
                let (first, last) = scan.scan(&data[w[0]..w[1]]);
                let mine: Vec<usize> = record_ends_between(&want, w[0], w[1]);
                proptest::prop_assert_eq!(first, mine.first().copied());
                proptest::prop_assert_eq!(last, mine.last().copied());
            }
            // And the state carried to the end: still inside a quote or not.
            proptest::prop_assert_eq!(scan.in_quote(), quote_open_at_end(&data, d));
        }
    }

    #[test]
    fn csv_scan_over_quote_runs_across_64_byte_blocks() {
        for n in 50..140 {
            for text in [
                format!("{},\"\",\"\"\"\"\"\n", "\"".repeat(n)),
                format!("a,\"{}\n\",b\nc\r\n", "\"\"".repeat(n / 2)),
            ] {
                let data = text.as_bytes();
                let want = record_ends(data, b',');
                for cut in [0, 1, n / 2, n, data.len()] {
                    let mut scan = CsvScan::new(b',');
                    let (a, b) = data.split_at(cut.min(data.len()));
                    let first = scan.scan(a);
                    let second = scan.scan(b);
                    let got: Vec<usize> = [first.0, first.1]
                        .into_iter()
                        .flatten()
                        .chain(
                            [second.0, second.1]
                                .into_iter()
                                .flatten()
                                .map(|e| e + a.len()),
                        )
                        .collect();
                    let mut got = got;
                    got.dedup();
                    let mut expected = Vec::new();
                    for part in [(0, a.len()), (a.len(), data.len())] {
                        let inside = record_ends_between(&want, part.0, part.1);
                        expected.extend(inside.first().map(|e| e + part.0));
                        expected.extend(inside.last().map(|e| e + part.0));
                    }
                    expected.dedup();
                    assert_eq!(got, expected, "{text:?} cut at {cut}");
                }
            }
        }
    }

    fn record_ends_between(ends: &[usize], from: usize, to: usize) -> Vec<usize> {
        ends.iter()
            .filter(|&&e| e >= from && e < to)
            .map(|e| e - from)
            .collect()
    }
}
