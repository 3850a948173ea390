//! Reading the inputs: discovery (files, directories, stdin), decompression detected from the
//! first bytes (gzip with every member, zstd with every frame, or plain), and framing of the
//! decompressed stream into [`Piece`]s of whole lines that know where they start.

pub mod range;
pub mod remote;

use crate::config::InputFormat;
use crate::error::{Error, Result};
use crate::simd;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a source holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ndjson,
    /// CSV (`delimiter` b',') or TSV (b'\t').
    Csv {
        delimiter: u8,
    },
}

/// One input stream.
#[derive(Debug, Clone)]
pub struct Source {
    /// The path as given (or found under a given directory); `-` for stdin. A path that is
    /// not UTF-8 is written lossily (see `lossy`).
    pub name: Arc<str>,
    /// The path's bytes are not UTF-8, so `name` is not the exact path.
    pub lossy: bool,
    /// None for stdin.
    pub path: Option<PathBuf>,
    /// Size on disk, when known.
    pub size: Option<u64>,
    pub format: Format,
    /// An object in object storage (the name is then its URL).
    pub object: Option<remote::Object>,
}

/// What discovery found: the sources in order, and what it passed over.
#[derive(Debug, Default)]
pub struct Discovered {
    pub sources: Vec<Source>,
    /// Entries of input directories that are neither files nor directories (FIFOs, sockets,
    /// devices): not read, named in the summary.
    pub skipped: Vec<String>,
}

/// Expands the inputs as given into sources, in order: a directory becomes every regular,
/// non-hidden file below it, sorted by path; `exclude` (the run's `--out`, when it lies inside
/// an input directory) is passed over.
pub fn discover(
    inputs: &[PathBuf],
    format: InputFormat,
    exclude: Option<&Path>,
) -> Result<Discovered> {
    let mut out = Discovered::default();
    for input in inputs {
        if input.as_os_str() == "-" {
            out.sources.push(Source {
                name: Arc::from("-"),
                lossy: false,
                path: None,
                size: None,
                format: format_of("-", format),
                object: None,
            });
            continue;
        }
        if let Some(url) = input.to_str().filter(|i| crate::store::is_url(i)) {
            remote::discover(url, format, &mut out.sources)?;
            continue;
        }
        let meta = std::fs::metadata(input)
            .map_err(|e| Error::Usage(format!("cannot read input {}: {e}", input.display())))?;
        if meta.is_dir() {
            let mut files = Vec::new();
            walk(input, exclude, &mut files, &mut out.skipped)?;
            files.sort_by(|a, b| {
                a.0.as_os_str()
                    .as_encoded_bytes()
                    .cmp(b.0.as_os_str().as_encoded_bytes())
            });
            for (p, size) in files {
                out.sources.push(source(p, size, format));
            }
        } else if meta.is_file() {
            out.sources.push(source(input.clone(), meta.len(), format));
        } else {
            // A FIFO or a device named on the command line is read as a stream.
            let mut s = source(input.clone(), 0, format);
            s.size = None;
            out.sources.push(s);
        }
    }
    Ok(out)
}

fn source(path: PathBuf, size: u64, format: InputFormat) -> Source {
    let lossy = path.to_str().is_none();
    let name = path.to_string_lossy().into_owned();
    Source {
        format: format_of(&name, format),
        name: Arc::from(name),
        lossy,
        path: Some(path),
        size: Some(size),
        object: None,
    }
}

fn walk(
    dir: &Path,
    exclude: Option<&Path>,
    files: &mut Vec<(PathBuf, u64)>,
    skipped: &mut Vec<String>,
) -> Result<()> {
    let unreadable =
        |e: io::Error| Error::Usage(format!("cannot read directory {}: {e}", dir.display()));
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        if entry.file_name().as_encoded_bytes().starts_with(b".") {
            continue;
        }
        let path = entry.path();
        let meta = std::fs::metadata(&path)
            .map_err(|e| Error::Usage(format!("cannot read input {}: {e}", path.display())))?;
        if meta.is_dir() {
            if exclude.is_some_and(|x| path.canonicalize().is_ok_and(|p| p == x)) {
                continue;
            }
            walk(&path, exclude, files, skipped)?;
        } else if meta.is_file() {
            files.push((path, meta.len()));
        } else {
            skipped.push(path.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

/// The format of a source: the flag, or the extension before any compression suffix.
pub fn format_of(name: &str, flag: InputFormat) -> Format {
    let lower = name.to_ascii_lowercase();
    let stem = [".gz", ".gzip", ".zst", ".zstd"]
        .iter()
        .find_map(|s| lower.strip_suffix(s))
        .unwrap_or(&lower);
    let tsv = stem.ends_with(".tsv");
    match flag {
        InputFormat::Ndjson => Format::Ndjson,
        InputFormat::Csv => Format::Csv {
            delimiter: if tsv { b'\t' } else { b',' },
        },
        InputFormat::Auto if stem.ends_with(".csv") => Format::Csv { delimiter: b',' },
        InputFormat::Auto if tsv => Format::Csv { delimiter: b'\t' },
        InputFormat::Auto => Format::Ndjson,
    }
}

/// Counts the bytes read through it (the compressed bytes, for progress and the manifest).
pub struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens a source and wraps it in the decompressor its first bytes call for. `raw` counts the
/// bytes read from the file itself.
pub fn open(source: &Source, raw: Arc<AtomicU64>) -> Result<Box<dyn Read + Send>> {
    let inner: Box<dyn Read + Send> = match &source.path {
        None if source.object.is_some() => range::open_raw(source, 0)?,
        None => Box::new(io::stdin()),
        Some(p) => Box::new(
            File::open(p)
                .map_err(|e| Error::Usage(format!("cannot open input {}: {e}", p.display())))?,
        ),
    };
    let mut counted = Counting { inner, count: raw };
    let mut magic = [0u8; 4];
    let mut got = 0;
    while got < magic.len() {
        match counted.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A read error right away: let the framer report it as corrupt input.
            Err(e) => return Ok(Box::new(Failing(Some(e)))),
        }
    }
    let stream = io::Cursor::new(magic[..got].to_vec()).chain(counted);
    Ok(match &magic[..got] {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(
            io::BufReader::with_capacity(256 << 10, stream),
        )),
        [0x28, 0xb5, 0x2f, 0xfd] => Box::new(
            zstd::stream::read::Decoder::new(stream)
                .map_err(|e| Error::io(source.name.as_ref(), e))?,
        ),
        _ => Box::new(stream),
    })
}

/// A reader whose first read fails with the error it was made with.
struct Failing(Option<io::Error>);

impl Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        match self.0.take() {
            Some(e) => Err(e),
            None => Ok(0),
        }
    }
}

/// A run of the decompressed stream, cut at line ends.
#[derive(Debug)]
pub enum Piece {
    /// Whole lines (the last may lack its newline at the end of the stream).
    Lines {
        data: Vec<u8>,
        /// 1-based number of the first line.
        line: u64,
        /// Offset of the first byte in the decompressed stream.
        offset: u64,
    },
    /// A line longer than the limit: its first bytes and its full length (newline excluded).
    TooLong {
        head: Vec<u8>,
        length: u64,
        line: u64,
        offset: u64,
    },
    /// Decompression or reading failed here (`corrupt_input`), or a CSV header could not be
    /// read (`csv_invalid`); nothing more is read from this source. Not a record.
    Corrupt {
        code: crate::reject::Code,
        line: u64,
        offset: u64,
        message: String,
    },
}

/// How many bytes of an over-long line the error file keeps.
pub const HEAD_BYTES: usize = 4096;

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
enum CsvState {
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
    fn scan(&mut self, data: &[u8]) -> (Option<usize>, Option<usize>) {
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

/// Cuts a stream into [`Piece`]s of about `block` bytes, never holding more than
/// `max_line + block` bytes of one record.
pub struct Framer<R> {
    cuts: Cuts,
    reader: R,
    block: usize,
    max_line: u64,
    carry: Vec<u8>,
    line: u64,
    offset: u64,
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
    pub fn new(reader: R, block: usize, max_line: u64) -> Self {
        Framer::with_cuts(reader, block, max_line, Cuts::Lines, 1, 0)
    }

    /// A framer that starts at `line`/`offset` of a stream (past a CSV header, say).
    pub fn with_cuts(
        reader: R,
        block: usize,
        max_line: u64,
        cuts: Cuts,
        line: u64,
        offset: u64,
    ) -> Self {
        Framer {
            cuts,
            reader,
            block,
            max_line,
            carry: Vec::new(),
            line,
            offset,
            started: offset > 0,
            pending: None,
            deferred: None,
            consumed: offset,
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

    /// Takes `carry[..cut]` as a Lines piece.
    fn take_lines(&mut self, cut: usize) -> Piece {
        let rest_len = self.carry.len() - cut;
        let mut rest = match &self.pool {
            Some(pool) => pool.take(rest_len + self.block),
            None => Vec::with_capacity(rest_len + self.block),
        };
        rest.extend_from_slice(&self.carry[cut..]);
        let mut data = std::mem::replace(&mut self.carry, rest);
        data.truncate(cut);
        let piece = Piece::Lines {
            line: self.line,
            offset: self.offset,
            data,
        };
        if let Piece::Lines { data, .. } = &piece {
            self.line += memchr::memchr_iter(b'\n', data).count() as u64;
        }
        self.offset += cut as u64;
        piece
    }

    fn corrupt(&mut self, e: io::Error) -> Option<Piece> {
        self.done = true;
        let tail = std::mem::take(&mut self.carry);
        // Decoding stopped at the end of the partial record held in `tail`.
        let line = self.line + memchr::memchr_iter(b'\n', &tail).count() as u64;
        let corrupt = Piece::Corrupt {
            code: crate::reject::Code::CorruptInput,
            line,
            offset: self.offset + tail.len() as u64,
            message: format!("input stream damaged or unreadable: {e}"),
        };
        if tail.is_empty() {
            return Some(corrupt);
        }
        self.queued = Some(corrupt);
        let piece = Piece::Lines {
            data: tail,
            line: self.line,
            offset: self.offset,
        };
        Some(piece)
    }

    /// Skips the rest of an over-long record whose first bytes are `carry`, keeping its first
    /// [`HEAD_BYTES`] and counting its length (line ending excluded, like a line in a piece).
    fn skip_long_line(&mut self) -> Option<Piece> {
        let (line, offset) = (self.line, self.offset);
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
            this.line += memchr::memchr_iter(b'\n', bytes).count() as u64;
            this.offset += upto as u64;
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
                        self.line += u64::from(self.carry[p] == b'\n');
                        self.carry.drain(..=p);
                        self.offset += 1;
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
        Some(Piece::TooLong {
            head,
            length,
            line,
            offset,
        })
    }

    /// Takes the buffers of new pieces from `pool` (where their consumers give them back).
    pub fn recycling(mut self, pool: std::sync::Arc<crate::bufpool::BufPool>) -> Self {
        self.pool = Some(pool);
        self
    }

    /// The line the next piece starts at.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Bytes of the decompressed stream read so far (all of it, once the pieces ran out).
    pub fn position(&self) -> u64 {
        self.consumed
    }

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
                    self.offset = 3;
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
            if let Piece::Lines { data, line, offset } = p {
                let mut o = *offset;
                for (l, chunk) in (*line..).zip(data.split_inclusive(|b| *b == b'\n')) {
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
    fn long_lines_are_cut_out_with_their_length() {
        let mut input = b"ok\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 10_000));
        input.extend(b"\nafter\n");
        let ps = pieces(&input, 64, 100);
        let long: Vec<_> = ps
            .iter()
            .filter_map(|p| match p {
                Piece::TooLong {
                    head,
                    length,
                    line,
                    offset,
                } => Some((head.len(), *length, *line, *offset)),
                _ => None,
            })
            .collect();
        assert_eq!(long, vec![(HEAD_BYTES, 10_000, 2, 3)]);
        let lines = lines_of(&ps);
        assert_eq!(lines.last().unwrap(), &(3, 10_004, b"after\n".to_vec()));
    }

    /// The scanner's rules one byte at a time: the reference for [`CsvScan::scan`].
    fn record_ends(data: &[u8], d: u8) -> Vec<usize> {
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
        ends
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
            let mut got = Vec::new();
            for w in cuts.windows(2) {
                let (first, last) = scan.scan(&data[w[0]..w[1]]);
                let mine: Vec<usize> = record_ends_between(&want, w[0], w[1]);
                proptest::prop_assert_eq!(first, mine.first().copied());
                proptest::prop_assert_eq!(last, mine.last().copied());
                got.extend(mine.iter().map(|e| e + w[0]));
            }
            proptest::prop_assert_eq!(got, want);
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
