//! The raw bytes of a source, before decompression: a file (from an offset), standard input,
//! or an object in a store ([`super::remote`]); counted as they are read.

use super::Source;
use crate::error::{Error, Result};
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts the bytes read through it (the compressed bytes, for progress and the manifest).
pub struct Counting<R> {
    pub(super) inner: R,
    pub(super) count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens the raw bytes of a source from byte `offset` on (no decompression).
pub fn open_raw(source: &Source, offset: u64) -> Result<Box<dyn Read + Send>> {
    if let Some(object) = &source.object {
        let size = source.size.unwrap_or(u64::MAX);
        return Ok(Box::new(super::remote::ObjectReader::new(
            object.clone(),
            size,
            offset,
        )));
    }
    let Some(path) = &source.path else {
        return Err(Error::Usage(
            "standard input cannot be read in part".to_owned(),
        ));
    };
    let mut file = std::fs::File::open(path)
        .map_err(|e| Error::Usage(format!("cannot open input {}: {e}", path.display())))?;
    if offset > 0 {
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| Error::io(path, e))?;
    }
    Ok(Box::new(file))
}

/// A reader whose first read fails with the error it was made with.
pub struct Failing(pub(super) Option<io::Error>);

impl Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        match self.0.take() {
            Some(e) => Err(e),
            None => Ok(0),
        }
    }
}
