//! The header of a CSV file: read before any row, one byte at a time so nothing past it is
//! consumed, its cells split by the same rules as every row ([`super::Rows`]), and turned into
//! the file's [`HeaderPlan`]. A header that cannot be read is a [`HeaderProblem`], reported as one
//! error entry at line 1 (docs/mapping.md §1.4), never silently.

use super::plan::{CsvLayout, HeaderPlan};
use super::rows::Rows;
use super::scan::CsvScan;
use std::io::{self, Read};

/// A file's header, read: the plan its columns make, the bytes it took from the stream and
/// the physical lines it spans (the first row starts on the next one).
#[derive(Debug)]
pub struct Header {
    /// How the file's rows become records, from its columns.
    pub plan: HeaderPlan,
    /// Bytes the header took from the stream (a BOM included): the rows start right after them.
    pub consumed: u64,
    /// The line number (1-based) of the first byte after the header.
    pub lines: u64,
}

/// Reads the header of a CSV stream and makes its [`HeaderPlan`] for `layout`.
pub fn read_header(
    reader: &mut dyn Read,
    delimiter: u8,
    max_bytes: u64,
    layout: CsvLayout,
) -> Result<Header, HeaderProblem> {
    let (text, consumed, lines) = read_csv_header(reader, delimiter, max_bytes)?;
    let plan = HeaderPlan::new(&header_fields(&text, delimiter), layout);
    Ok(Header {
        plan,
        consumed,
        lines,
    })
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

/// The cells of a CSV header row, as text: the header is read by the same rules as the rows.
pub fn header_fields(header: &[u8], delimiter: u8) -> Vec<String> {
    let (mut cells, mut ends) = (Vec::new(), Vec::new());
    if Rows::new(header, delimiter)
        .next_row(&mut cells, &mut ends)
        .is_none()
    {
        return Vec::new();
    }
    let mut from = 0;
    ends.iter()
        .map(|&end| {
            let cell = String::from_utf8_lossy(&cells[from..end]).into_owned();
            from = end;
            cell
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the `csv` crate reads from a header row.
    fn csv_crate_fields(header: &[u8], delimiter: u8) -> Vec<String> {
        let mut rdr = ::csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .from_reader(header);
        let mut rec = ::csv::ByteRecord::new();
        match rdr.read_byte_record(&mut rec) {
            Ok(true) => rec
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect(),
            _ => Vec::new(),
        }
    }

    proptest::proptest! {
        #[test]
        fn header_cells_read_like_the_csv_crate(
            data in proptest::collection::vec(
                proptest::sample::select(b"\"\",;ab :.\xC3\xA9".to_vec()),
                0..120,
            ),
            semicolon: bool,
        ) {
            let d = if semicolon { b';' } else { b',' };
            proptest::prop_assert_eq!(header_fields(&data, d), csv_crate_fields(&data, d));
        }
    }

    #[test]
    fn quoted_header_cells_lose_their_quotes() {
        assert_eq!(
            header_fields(br#"id,"a,b","q""x",data.name"#, b','),
            ["id", "a,b", "q\"x", "data.name"]
        );
        assert!(header_fields(b"", b',').is_empty());
    }
}
