//! Decompression: a source opened and wrapped in the decoder its first bytes call for (gzip
//! with every member, zstd with every frame, or plain), counting the raw bytes read.

use super::Source;
use super::raw::{Counting, Failing, open_raw};
use crate::error::{Error, Result};
use std::fs::File;
use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

/// The largest zstd window accepted: 2^31 bytes, the most `zstd --long` writes.
pub const WINDOW_LOG_MAX: u32 = 31;

/// Opens a source and wraps it in the decompressor its first bytes call for. `raw` counts the
/// bytes read from the file itself.
pub fn open(source: &Source, raw: Arc<AtomicU64>) -> Result<Box<dyn Read + Send>> {
    let inner: Box<dyn Read + Send> = match &source.path {
        None if source.object.is_some() => open_raw(source, 0)?,
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
        [0x28, 0xb5, 0x2f, 0xfd] => {
            let mut d = zstd::stream::read::Decoder::new(stream)
                .map_err(|e| Error::io(source.name.as_ref(), e))?;
            // Frames made with `zstd --long=N` (N up to 31) are read, as `zstd -d --long=31`
            // reads them: the window such a frame asks for (up to 2 GiB) is the decoder's
            // memory bound for that input (docs/mapping.md §1.1).
            d.window_log_max(WINDOW_LOG_MAX)
                .map_err(|e| Error::io(source.name.as_ref(), e))?;
            Box::new(d)
        }
        _ => Box::new(stream),
    })
}
