//! Reading a shard's part of a plain NDJSON input (see [`crate::shard`]): the lines whose first
//! byte lies in a byte range of the file. The reader starts at the first line start at or after
//! the range's start and stops at the first line start at or after its end, reading past the end
//! only to finish the line that straddles it.

use super::Source;
use super::raw::{Counting, Failing, open_raw};
use crate::error::Result;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

/// One input's part in a shard: the bytes `start..end` of the file (`end` None: to its end).
/// Inside a cut file the shard reads the lines that start in that range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// First byte of the range.
    pub start: u64,
    /// End of the range (exclusive); None: to the end of the file.
    pub end: Option<u64>,
}

impl Range {
    /// The whole input.
    pub const WHOLE: Range = Range {
        start: 0,
        end: None,
    };

    /// True for the whole input (read as a single run reads it).
    pub fn is_whole(&self) -> bool {
        *self == Range::WHOLE
    }
}

/// Opens the lines of a plain source that start in `range`. Returns the reader and the offset
/// (in the file) of its first byte. `raw` counts the bytes read from the file, skipped ones
/// included.
pub fn open_lines(
    source: &Source,
    range: Range,
    raw: Arc<AtomicU64>,
) -> Result<(Box<dyn Read + Send>, u64)> {
    let from = range.start.saturating_sub(1);
    let counted = Counting {
        inner: open_raw(source, from)?,
        count: raw,
    };
    let mut reader = BufReader::with_capacity(256 << 10, counted);
    let mut first = 0;
    if range.start > 0 {
        // The first line start at or after `start` follows the first `\n` at or after
        // `start - 1`.
        first = from;
        loop {
            let buf = match reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Ok((Box::new(Failing(Some(e))), first)),
            };
            if buf.is_empty() {
                return Ok((Box::new(io::empty()), first));
            }
            match memchr::memchr(b'\n', buf) {
                Some(p) => {
                    reader.consume(p + 1);
                    first += p as u64 + 1;
                    break;
                }
                None => {
                    let n = buf.len();
                    reader.consume(n);
                    first += n as u64;
                }
            }
        }
    }
    Ok(match range.end {
        None => (Box::new(reader), first),
        Some(end) if first >= end => (Box::new(io::empty()), first),
        Some(end) => (
            Box::new(UntilLineStart {
                inner: reader,
                left: end - first,
                last: 0,
                done: false,
            }),
            first,
        ),
    })
}

/// Passes `left` bytes through, then the rest of the line they end in (up to its `\n`).
struct UntilLineStart<R> {
    inner: R,
    left: u64,
    /// The last byte passed through.
    last: u8,
    done: bool,
}

impl<R: Read> Read for UntilLineStart<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left > 0 {
            let want = buf
                .len()
                .min(usize::try_from(self.left).unwrap_or(usize::MAX));
            let n = self.inner.read(&mut buf[..want])?;
            if n == 0 {
                self.done = true;
                return Ok(0);
            }
            self.left -= n as u64;
            self.last = buf[n - 1];
            return Ok(n);
        }
        if self.last == b'\n' {
            self.done = true;
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        match memchr::memchr(b'\n', &buf[..n]) {
            Some(p) => {
                self.done = true;
                Ok(p + 1)
            }
            None => {
                if n == 0 {
                    self.done = true;
                } else {
                    self.last = buf[n - 1];
                }
                Ok(n)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Format;

    fn source(dir: &tempfile::TempDir, data: &[u8]) -> Source {
        let path = dir.path().join("in.ndjson");
        std::fs::write(&path, data).unwrap();
        Source {
            name: Arc::from("in.ndjson"),
            lossy: false,
            path: Some(path),
            size: Some(data.len() as u64),
            format: Format::Ndjson,
            object: None,
        }
    }

    fn read(s: &Source, start: u64, end: Option<u64>) -> (Vec<u8>, u64) {
        let (mut r, first) =
            open_lines(s, Range { start, end }, Arc::new(AtomicU64::new(0))).unwrap();
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        (out, first)
    }

    #[test]
    fn every_line_in_exactly_one_range() {
        let dir = tempfile::tempdir().unwrap();
        let data = b"aa\nbbbb\n\nc\r\ndddddddd\ne";
        let s = source(&dir, data);
        let len = data.len() as u64;
        for a in 0..=len {
            for b in a..=len {
                let mut got = Vec::new();
                for (start, end) in [(0, Some(a)), (a, Some(b)), (b, None)] {
                    let (bytes, first) = read(&s, start, end);
                    if !bytes.is_empty() {
                        assert_eq!(&data[first as usize..][..bytes.len()], &bytes[..]);
                    }
                    got.extend(bytes);
                }
                assert_eq!(got, data, "cuts {a} {b}");
            }
        }
        assert_eq!(read(&s, 1, Some(4)), (b"bbbb\n".to_vec(), 3));
        assert_eq!(read(&s, 3, Some(4)), (b"bbbb\n".to_vec(), 3));
        assert_eq!(read(&s, 4, Some(8)), (Vec::new(), 8));
    }
}
