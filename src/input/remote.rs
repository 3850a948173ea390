//! Inputs in object storage: a URL names one object, or a prefix listed like a directory (every
//! object below it, sorted by key, hidden names skipped). Objects are read as a stream of ranged
//! GETs (the next range fetched while the current one is framed, each retried by the store's
//! client), so memory stays bounded whatever the object's size, and the bytes go through the
//! same decompression and framing as a file's.

use super::{Source, format_of};
use crate::config::InputFormat;
use crate::error::{Error, Result};
use crate::store::{self, Remote};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt};
use std::io::{self, Read};
use std::sync::Arc;

/// Bytes fetched per ranged GET.
pub const RANGE_BYTES: u64 = 8 << 20;

/// Ranged GETs in flight at once, the one being read included (memory: at most
/// [`CHUNKS_AHEAD`] received chunks of each).
pub const AHEAD: usize = 4;

/// An object to read.
#[derive(Debug, Clone)]
pub struct Object {
    pub store: Arc<dyn ObjectStore>,
    pub key: Key,
}

/// Expands one URL into its sources, appended to `out`.
pub fn discover(url: &str, format: InputFormat, out: &mut Vec<Source>) -> Result<()> {
    let remote = store::open(url)?;
    let unreadable = |e: object_store::Error| match e {
        object_store::Error::InvalidPath { .. } => Error::Usage(format!(
            "cannot read input {url}: {e}; the object-store client cannot address a key with an \
             empty, `.` or `..` segment (docs/scale-out.md): give the objects around it as \
             inputs, or copy it to a plain key"
        )),
        e => Error::Usage(format!("cannot read input {url}: {e}")),
    };
    let is_dir = url.ends_with('/') || remote.prefix.as_ref().is_empty();
    if !is_dir {
        match store::block_on(remote.store.head(&remote.prefix)) {
            Ok(meta) => {
                push(&remote, meta, format, out);
                return Ok(());
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(unreadable(e)),
        }
    }
    let prefix = (!remote.prefix.as_ref().is_empty()).then_some(&remote.prefix);
    let mut metas: Vec<object_store::ObjectMeta> =
        store::block_on(remote.store.list(prefix).try_collect()).map_err(unreadable)?;
    metas.sort_by(|a, b| a.location.as_ref().cmp(b.location.as_ref()));
    let before = out.len();
    for meta in metas {
        let hidden = remote
            .rel(&meta.location)
            .is_some_and(|rel| rel.split('/').any(|p| p.starts_with('.')));
        if !hidden {
            push(&remote, meta, format, out);
        }
    }
    if out.len() == before {
        return Err(Error::Usage(format!(
            "cannot read input {url}: no object there or below it"
        )));
    }
    Ok(())
}

fn push(
    remote: &Remote,
    meta: object_store::ObjectMeta,
    format: InputFormat,
    out: &mut Vec<Source>,
) {
    let name = remote.url_of(&meta.location);
    out.push(Source {
        format: format_of(&name, format),
        name: Arc::from(name),
        lossy: false,
        path: None,
        size: Some(meta.size),
        object: Some(Object {
            store: Arc::clone(&remote.store),
            key: meta.location,
        }),
    });
}

/// The first `n` bytes of an object (fewer if it is shorter), in one small ranged GET.
pub fn first_bytes(object: &Object, n: u64, size: u64) -> io::Result<Vec<u8>> {
    if size == 0 {
        return Ok(Vec::new());
    }
    store::block_on(object.store.get_range(&object.key, 0..n.min(size)))
        .map(|b| b.to_vec())
        .map_err(store::io_error)
}

/// Reads an object from `offset` to `size`: [`AHEAD`] ranged GETs in flight ahead of the
/// reader, each streaming its body in the HTTP client's own chunks through a bounded channel
/// (at most [`CHUNKS_AHEAD`] chunks waiting per range). The chunks are copied straight into
/// the framer's recycled buffers: no range is gathered into one large allocation first, which
/// cost page faults (and the kernel's zeroing) for every range read.
pub struct ObjectReader {
    object: Object,
    size: u64,
    /// Where the next fetch starts.
    next_at: u64,
    current: Bytes,
    /// The range being read, then the next ones being fetched, in order.
    ahead: std::collections::VecDeque<Fetch>,
    failed: bool,
}

/// Chunks of one range's body that may wait, received, for the reader.
pub const CHUNKS_AHEAD: usize = 64;

/// One ranged GET in flight: its length, the bytes received so far, its body's chunks.
struct Fetch {
    len: u64,
    got: u64,
    chunks: tokio::sync::mpsc::Receiver<object_store::Result<Bytes>>,
    task: tokio::task::JoinHandle<()>,
}

/// What the range being read gave next.
enum Next {
    Chunk(Bytes),
    /// The range's body ended with all its bytes.
    Done,
    /// The range's body ended early: the object is shorter than it was listed.
    Short,
    Failed(io::Error),
}

impl Fetch {
    fn next(&mut self) -> Next {
        match self.chunks.blocking_recv() {
            Some(Ok(bytes)) => {
                self.got += bytes.len() as u64;
                Next::Chunk(bytes)
            }
            Some(Err(e)) => Next::Failed(store::io_error(e)),
            None if self.got < self.len => Next::Short,
            None => Next::Done,
        }
    }
}

impl ObjectReader {
    /// A reader of `object` (of `size` bytes when listed) from byte `offset` on.
    pub fn new(object: Object, size: u64, offset: u64) -> ObjectReader {
        ObjectReader {
            object,
            size,
            next_at: offset.min(size),
            current: Bytes::new(),
            ahead: std::collections::VecDeque::new(),
            failed: false,
        }
    }

    fn fetch(&mut self) -> Option<Fetch> {
        if self.next_at >= self.size {
            return None;
        }
        let end = (self.next_at + RANGE_BYTES).min(self.size);
        let (store, key) = (Arc::clone(&self.object.store), self.object.key.clone());
        let range = self.next_at..end;
        self.next_at = end;
        let len = range.end - range.start;
        let (tx, chunks) = tokio::sync::mpsc::channel(CHUNKS_AHEAD);
        let task = store::runtime().spawn(async move {
            let options = object_store::GetOptions::new().with_range(Some(range));
            let mut body = match store.get_opts(&key, options).await {
                Ok(result) => result.into_stream(),
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            while let Some(chunk) = body.next().await {
                let failed = chunk.is_err();
                if tx.send(chunk).await.is_err() || failed {
                    return;
                }
            }
        });
        Some(Fetch {
            len,
            got: 0,
            chunks,
            task,
        })
    }

    /// The next chunk of the object, empty at its end.
    fn next_chunk(&mut self) -> io::Result<Bytes> {
        loop {
            while self.ahead.len() < AHEAD {
                match self.fetch() {
                    Some(f) => self.ahead.push_back(f),
                    None => break,
                }
            }
            let Some(range) = self.ahead.front_mut() else {
                return Ok(Bytes::new());
            };
            match range.next() {
                Next::Chunk(bytes) if bytes.is_empty() => {}
                Next::Chunk(bytes) => return Ok(bytes),
                Next::Done => {
                    self.ahead.pop_front();
                }
                Next::Short => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the object ended before the size it was listed with",
                    ));
                }
                Next::Failed(e) => return Err(e),
            }
        }
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Ok(0);
        }
        if self.current.is_empty() {
            match self.next_chunk() {
                Ok(bytes) => self.current = bytes,
                Err(e) => {
                    self.failed = true;
                    for range in self.ahead.drain(..) {
                        range.task.abort();
                    }
                    return Err(e);
                }
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

impl Drop for ObjectReader {
    fn drop(&mut self) {
        for range in self.ahead.drain(..) {
            range.task.abort();
        }
    }
}

/// Inputs are never outputs, in object storage too: an input URL at or below an object-store
/// `--out` is refused (exit 2), and objects below `--out` found under an input prefix are
/// skipped.
pub fn keep_out_of_inputs(out: &str, inputs: &[String], sources: &mut Vec<Source>) -> Result<()> {
    if !store::is_url(out) {
        return Ok(());
    }
    let base = out.trim_end_matches('/');
    let below =
        |name: &str| name.trim_end_matches('/') == base || name.starts_with(&format!("{base}/"));
    if let Some(i) = inputs.iter().find(|i| below(i)) {
        return Err(Error::Usage(format!(
            "input {i} is at or below --out {out}: inputs are never outputs"
        )));
    }
    sources.retain(|s| !below(&s.name));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{Framer, Piece};

    fn object(data: &[u8]) -> Object {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let key = Key::from("in/a.ndjson");
        store::block_on(store.put(&key, data.to_vec().into())).unwrap();
        Object { store, key }
    }

    #[test]
    fn ranged_reads_give_the_object_byte_for_byte() {
        let data: Vec<u8> = (0..(2 * RANGE_BYTES + 77))
            .map(|i| (i % 253) as u8)
            .collect();
        let obj = object(&data);
        let mut got = Vec::new();
        ObjectReader::new(obj.clone(), data.len() as u64, 0)
            .read_to_end(&mut got)
            .unwrap();
        assert!(got == data);
        let mut tail = Vec::new();
        ObjectReader::new(obj, data.len() as u64, RANGE_BYTES + 5)
            .read_to_end(&mut tail)
            .unwrap();
        assert!(tail[..] == data[(RANGE_BYTES + 5) as usize..]);
    }

    #[test]
    fn an_object_shorter_than_listed_is_corrupt_input_after_its_lines() {
        let obj = object(b"{\"a\":1}\n{\"b\":2}\n");
        // Listed at 64 bytes, as if it shrank after the listing.
        let reader = ObjectReader::new(obj, 64, 0);
        let pieces: Vec<Piece> = Framer::new(reader, 4096, 1 << 20).collect();
        match &pieces[..] {
            [Piece::Records { data, .. }, Piece::Corrupt { at, .. }] => {
                assert_eq!(&data[..], b"{\"a\":1}\n{\"b\":2}\n");
                assert_eq!(at.offset, 16);
            }
            other => panic!("{other:?}"),
        }
    }
}
