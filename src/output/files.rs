//! The files of a run. One [`FileSet`], owned by the writer, appends the calls of each
//! partition to its current part file (in input order), starts the next file before one would
//! exceed `--max-file-bytes` / `--max-file-records`, keeps the error file, and writes everything
//! under a dot-named temporary name that is renamed when the file is complete.
//!
//! With `--compress`, each file is a sequence of independent zstd frames (gzip members) of whole
//! lines, each ending at the first line end at or past [`FRAME_BYTES`]. Frame boundaries depend
//! only on the bytes written to the file, never on chunking or threads, so compressed output is
//! deterministic too; the frames of many files are compressed in parallel on the worker pool.

use super::dir::RunDir;
use super::partition::{PartKey, Partitioner};
use crate::calls::CallType;
use crate::config::Compression;
use crate::error::{Error, Result};
use crate::target::Target;
use rayon::prelude::*;
use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use xxhash_rust::xxh3::Xxh3;

/// Uncompressed bytes per compressed frame (at least; a frame ends at a line end).
pub const FRAME_BYTES: usize = 512 << 10;

/// Write buffer of each open file.
const WRITE_BUFFER: usize = 256 << 10;

/// One call in a [`PartBuf`].
#[derive(Debug, Clone, Copy)]
pub struct CallInfo {
    /// Offset just past the call's newline in the buffer.
    pub end: u32,
    pub timestamp: i64,
    pub kind: CallType,
}

/// The calls of one chunk that go to one partition.
#[derive(Debug, Default)]
pub struct PartBuf {
    pub key: PartKey,
    pub data: Vec<u8>,
    pub calls: Vec<CallInfo>,
}

/// A finished file, as the manifest lists it.
#[derive(Debug, Clone)]
pub struct FileRecord {
    /// Relative to the output directory, `/`-separated.
    pub path: String,
    /// Lines in the file: calls in a part file, entries in the error file.
    pub lines: u64,
    /// Size of the file on disk.
    pub bytes: u64,
    /// The earliest call time in a part file, in milliseconds since 1970.
    pub first_timestamp: Option<i64>,
    /// The latest call time in a part file, in milliseconds since 1970.
    pub last_timestamp: Option<i64>,
    /// Calls in a part file by type, in the order of `CallType::ALL`.
    pub calls_by_type: [u64; CallType::ALL.len()],
    /// xxh3-128 of the file's bytes, 32 hex digits.
    pub checksum: String,
}

struct OpenFile {
    rel: String,
    path: PathBuf,
    /// The open temporary file; `None` while closed to stay under the open-files cap.
    w: Option<BufWriter<File>>,
    /// When the file was last written (a tick of its set), for closing the least recent.
    last_use: u64,
    /// Scratch file for the unfinished compressed frame while the file is closed.
    spilled: Option<PathBuf>,
    /// The unfinished frame is in `spilled`, not in `frame`.
    frame_on_disk: bool,
    /// The file is closed and its unfinished frame counts in the set's idle budget.
    frame_idle: bool,
    hasher: Xxh3,
    bytes: u64,
    raw_bytes: u64,
    calls: u64,
    lines: u64,
    ts: Option<(i64, i64)>,
    by_type: [u64; CallType::ALL.len()],
    frame: Vec<u8>,
    frames: u64,
}

impl OpenFile {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        self.w
            .as_mut()
            .expect("a file is open before it is written")
            .write_all(data)
            .map_err(|e| Error::io(&self.path, e))?;
        self.hasher.update(data);
        self.bytes += data.len() as u64;
        Ok(())
    }
}

/// Output layout settings.
#[derive(Debug, Clone)]
pub struct Layout {
    pub partitioner: Partitioner,
    pub compress: Compression,
    pub level: i32,
    pub max_bytes: u64,
    pub max_records: u64,
    pub shard: u16,
    /// At most this many files open at once (`--max-open-files`).
    pub max_open: usize,
    /// Bytes of unfinished compressed frames that closed files may keep in memory, in all;
    /// past it they wait in scratch files.
    pub idle_frame_bytes: usize,
}

/// Where a file set's files go.
#[derive(Debug)]
pub enum Dest {
    /// The `--out` of a `convert` run.
    Run(Box<RunDir>),
    /// The one file of `check --errors`.
    Single(Target),
}

pub struct FileSet {
    dest: Dest,
    layout: Layout,
    /// The open files by the tick of their last write, least recent first.
    lru: BTreeSet<(u64, usize)>,
    /// Bytes of unfinished frames held in memory by closed files.
    idle_frames: usize,
    tick: u64,
    files: Vec<Option<OpenFile>>,
    current: HashMap<PartKey, usize>,
    next_index: HashMap<PartKey, u32>,
    sealed: Vec<(usize, Vec<u8>)>,
    sealed_bytes: usize,
    /// Frame and compressed-frame buffers, reused so compressed output stops allocating.
    spare: Vec<Vec<u8>>,
    closing: Vec<usize>,
    errors: Option<usize>,
    /// `Single`: the temporary file written, and whether it was renamed into place.
    single: Option<(PathBuf, bool)>,
    pub parts: Vec<FileRecord>,
    pub errors_record: Option<FileRecord>,
    /// `--out` in object storage: complete files are uploaded there (the root is a staging
    /// directory).
    upload: Option<std::sync::Arc<super::remote::RemoteOut>>,
    /// Keys this run uploaded, deleted again if the run fails.
    uploaded: Vec<String>,
    /// The run's stop request: the uploads at the end of a run stop when it comes.
    cancel: Option<crate::cancel::Cancel>,
}

impl FileSet {
    pub fn new(dest: Dest, layout: Layout) -> FileSet {
        FileSet {
            dest,
            layout,
            lru: BTreeSet::new(),
            idle_frames: 0,
            tick: 0,
            files: Vec::new(),
            current: HashMap::new(),
            next_index: HashMap::new(),
            sealed: Vec::new(),
            sealed_bytes: 0,
            spare: Vec::new(),
            closing: Vec::new(),
            errors: None,
            single: None,
            parts: Vec::new(),
            errors_record: None,
            upload: None,
            uploaded: Vec::new(),
            cancel: None,
        }
    }

    /// Makes the uploads at the end of the run stop when `cancel` is requested (SIGTERM of a
    /// pod being stopped): the run then fails as interrupted and removes what it uploaded.
    pub fn watch(&mut self, cancel: crate::cancel::Cancel) {
        self.cancel = Some(cancel);
    }

    fn interrupted(&self) -> Result<()> {
        match &self.cancel {
            Some(c) if c.is_requested() => Err(Error::Interrupted(c.signal())),
            _ => Ok(()),
        }
    }

    /// Uploads every complete file to `to` (whose staging directory is this set's root).
    pub fn uploading(mut self, to: Option<std::sync::Arc<super::remote::RemoteOut>>) -> FileSet {
        self.upload = to;
        self
    }

    fn open(&mut self, rel: String) -> Result<usize> {
        self.make_room()?;
        let (file, path) = match &mut self.dest {
            Dest::Run(dir) => dir.create(&rel)?,
            Dest::Single(target) => {
                let file = target.open()?;
                if !target.stream {
                    self.single = Some((target.temp(), false));
                }
                (file, target.path.clone())
            }
        };
        self.tick += 1;
        self.lru.insert((self.tick, self.files.len()));
        self.files.push(Some(OpenFile {
            rel,
            path,
            w: Some(BufWriter::with_capacity(WRITE_BUFFER, file)),
            last_use: self.tick,
            spilled: None,
            frame_on_disk: false,
            frame_idle: false,
            hasher: Xxh3::new(),
            bytes: 0,
            raw_bytes: 0,
            calls: 0,
            lines: 0,
            ts: None,
            by_type: [0; CallType::ALL.len()],
            frame: Vec::new(),
            frames: 0,
        }));
        Ok(self.files.len() - 1)
    }

    /// Closes the least recently written file when the cap on open files is reached. Its
    /// unfinished compressed frame goes to a scratch file until it is reopened, so memory
    /// stays bounded whatever the number of partitions. The error file is never closed.
    fn make_room(&mut self) -> Result<()> {
        if self.lru.len() < self.layout.max_open.max(2) {
            return Ok(());
        }
        let errors = self.errors;
        let Some(&(t, id)) = self.lru.iter().find(|(_, i)| Some(*i) != errors) else {
            return Ok(());
        };
        self.lru.remove(&(t, id));
        let f = self.files[id].as_mut().expect("open files are listed");
        let w = f.w.take().expect("open files are listed");
        w.into_inner()
            .map_err(|e| Error::io(&f.path, e.into_error()))?;
        if f.frame.is_empty() {
            return Ok(());
        }
        // The unfinished frame stays in memory while the closed files' frames fit the budget;
        // past it, it waits in a scratch file. Either way the bytes written are the same.
        if self.idle_frames + f.frame.len() <= self.layout.idle_frame_bytes {
            self.idle_frames += f.frame.len();
            f.frame_idle = true;
            return Ok(());
        }
        let Dest::Run(dir) = &mut self.dest else {
            unreachable!("a single file is never closed early")
        };
        let spill = match &f.spilled {
            Some(p) => p.clone(),
            None => dir.create_scratch(&format!("{}.frame", f.rel))?,
        };
        std::fs::write(&spill, &f.frame).map_err(|e| Error::io(&spill, e))?;
        f.frame = Vec::new();
        f.spilled = Some(spill);
        f.frame_on_disk = true;
        Ok(())
    }

    /// Brings a closed file's unfinished frame back into play: counted out of the idle
    /// budget, or read back from its scratch file.
    fn load_frame(&mut self, id: usize) -> Result<()> {
        let f = self.files[id]
            .as_mut()
            .expect("a written file is not finished");
        if f.frame_idle {
            self.idle_frames -= f.frame.len();
            f.frame_idle = false;
        }
        if f.frame_on_disk
            && let Some(spill) = &f.spilled
        {
            f.frame = std::fs::read(spill).map_err(|e| Error::io(spill, e))?;
            f.frame_on_disk = false;
        }
        Ok(())
    }

    /// Marks file `id` as just used, reopening it (and bringing its frame back) if it was
    /// closed to make room.
    fn touch(&mut self, id: usize) -> Result<()> {
        self.tick += 1;
        let f = self.files[id]
            .as_mut()
            .expect("a written file is not finished");
        if f.w.is_some() {
            self.lru.remove(&(f.last_use, id));
            f.last_use = self.tick;
            self.lru.insert((self.tick, id));
            return Ok(());
        }
        self.make_room()?;
        self.load_frame(id)?;
        let Dest::Run(dir) = &self.dest else {
            unreachable!("a single file is never closed early")
        };
        let f = self.files[id]
            .as_mut()
            .expect("a written file is not finished");
        let file = dir.reopen(&f.path)?;
        f.w = Some(BufWriter::with_capacity(WRITE_BUFFER, file));
        f.last_use = self.tick;
        self.lru.insert((self.tick, id));
        Ok(())
    }

    /// Opens the error file (`rel` relative to the root).
    pub fn open_errors(&mut self, rel: &str) -> Result<()> {
        let rel = format!("{rel}{}", self.layout.compress.suffix());
        self.errors = Some(self.open(rel)?);
        Ok(())
    }

    fn current_file(&mut self, key: &PartKey) -> Result<usize> {
        if let Some(&id) = self.current.get(key) {
            return Ok(id);
        }
        let n = self.next_index.entry(*key).or_insert(0);
        let index = *n;
        *n += 1;
        let dir = self.layout.partitioner.dir(key);
        let name = format!(
            "part-{:04}-{index:05}.ndjson{}",
            self.layout.shard,
            self.layout.compress.suffix()
        );
        let rel = if dir.is_empty() {
            name
        } else {
            format!("{dir}/{name}")
        };
        let id = self.open(rel)?;
        self.current.insert(*key, id);
        Ok(id)
    }

    /// Appends one chunk's calls for one partition, rotating files as the limits require.
    pub fn append_part(&mut self, part: &PartBuf) -> Result<()> {
        let (max_bytes, max_records) = (self.layout.max_bytes, self.layout.max_records);
        let n = part.calls.len();
        let mut start = 0;
        while start < n {
            let id = self.current_file(&part.key)?;
            let f = self.files[id].as_mut().expect("current file is open");
            let begin = if start == 0 {
                0
            } else {
                part.calls[start - 1].end as usize
            };
            let mut end = start;
            let mut prev = begin;
            while end < n {
                let c = &part.calls[end];
                let len = (c.end as usize - prev) as u64;
                let full =
                    f.raw_bytes + len > max_bytes || (max_records > 0 && f.calls >= max_records);
                if f.calls > 0 && full {
                    break;
                }
                f.raw_bytes += len;
                f.calls += 1;
                f.by_type[c.kind.index()] += 1;
                f.ts = Some(match f.ts {
                    None => (c.timestamp, c.timestamp),
                    Some((lo, hi)) => (lo.min(c.timestamp), hi.max(c.timestamp)),
                });
                prev = c.end as usize;
                end += 1;
            }
            self.write_to(id, &part.data[begin..prev])?;
            start = end;
            if start < n {
                self.rotate(&part.key)?;
            }
        }
        Ok(())
    }

    /// Appends error-file lines (`entries` of them).
    pub fn append_errors(&mut self, data: &[u8], entries: u64) -> Result<()> {
        if let Some(id) = self.errors {
            if let Some(f) = self.files[id].as_mut() {
                f.raw_bytes += data.len() as u64;
                f.lines += entries;
            }
            self.write_to(id, data)?;
        }
        Ok(())
    }

    /// Appends whole lines to a file. Compressed, a frame is sealed at the first line end that
    /// brings it to [`FRAME_BYTES`] or more, however the lines arrive (one chunk or many).
    fn write_to(&mut self, id: usize, mut data: &[u8]) -> Result<()> {
        self.touch(id)?;
        if self.layout.compress == Compression::None {
            return self.files[id].as_mut().expect("file is open").write(data);
        }
        loop {
            let f = self.files[id].as_mut().expect("file is open");
            let need = FRAME_BYTES.saturating_sub(f.frame.len()).max(1);
            let cut = data
                .get(need - 1..)
                .and_then(|rest| memchr::memchr(b'\n', rest))
                .map(|p| need + p);
            let Some(cut) = cut else {
                f.frame.extend_from_slice(data);
                return Ok(());
            };
            f.frame.extend_from_slice(&data[..cut]);
            data = &data[cut..];
            self.seal(id);
        }
    }

    fn seal(&mut self, id: usize) {
        let f = self.files[id].as_mut().expect("file is open");
        if f.frame.is_empty() && f.frames > 0 {
            return;
        }
        // A file with no calls still gets one (empty) frame, so it decompresses cleanly.
        f.frames += 1;
        let next = self.spare.pop().unwrap_or_default();
        let frame = std::mem::replace(&mut f.frame, next);
        self.sealed_bytes += frame.len();
        self.sealed.push((id, frame));
    }

    fn rotate(&mut self, key: &PartKey) -> Result<()> {
        if let Some(id) = self.current.remove(key) {
            self.close(id)?;
        }
        Ok(())
    }

    fn close(&mut self, id: usize) -> Result<()> {
        if self.layout.compress == Compression::None {
            return self.finalize(id);
        }
        // Its last frame is sealed now and written by the next flush, which opens the file.
        self.load_frame(id)?;
        self.seal(id);
        self.closing.push(id);
        Ok(())
    }

    /// True when enough frames wait for compression to make a parallel batch worthwhile.
    pub fn wants_flush(&self, threads: usize) -> bool {
        self.sealed_bytes >= FRAME_BYTES * threads.max(1) * 2
    }

    /// Compresses the sealed frames in parallel, writes them in order, and completes the files
    /// that were waiting for their last frames.
    pub fn flush(&mut self, pool: &rayon::ThreadPool) -> Result<()> {
        let mut sealed: Vec<(usize, Vec<u8>, Vec<u8>)> = std::mem::take(&mut self.sealed)
            .into_iter()
            .map(|(id, frame)| (id, frame, self.spare.pop().unwrap_or_default()))
            .collect();
        self.sealed_bytes = 0;
        let (compress, level) = (self.layout.compress, self.layout.level);
        let done: Vec<std::io::Result<()>> = pool.install(|| {
            sealed
                .par_iter_mut()
                .map(|(_, data, out)| compress_frame(compress, level, data, out))
                .collect()
        });
        for ((id, mut frame, mut out), done) in sealed.into_iter().zip(done) {
            self.touch(id)?;
            let f = self.files[id]
                .as_mut()
                .expect("file with sealed frames is open");
            done.map_err(|e| Error::io(&f.path, e))?;
            f.write(&out)?;
            frame.clear();
            out.clear();
            self.spare.extend([frame, out]);
        }
        // Enough for the next batch; a burst of frames (many files closing at once) is freed.
        self.spare.truncate(2 * self.files.len().min(64) + 8);
        for id in std::mem::take(&mut self.closing) {
            self.finalize(id)?;
        }
        Ok(())
    }

    /// Completes a file: flushed and closed under its temporary name, listed for the
    /// manifest. It is renamed into place with the others when the run commits.
    fn finalize(&mut self, id: usize) -> Result<()> {
        let Some(f) = self.files[id].take() else {
            return Ok(());
        };
        self.lru.remove(&(f.last_use, id));
        if let Some(w) = f.w {
            w.into_inner()
                .map_err(|e| Error::io(&f.path, e.into_error()))?;
        }
        let record = FileRecord {
            path: f.rel,
            lines: f.calls,
            bytes: f.bytes,
            first_timestamp: f.ts.map(|t| t.0),
            last_timestamp: f.ts.map(|t| t.1),
            calls_by_type: f.by_type,
            checksum: format!("{:032x}", f.hasher.digest128()),
        };
        if Some(id) == self.errors {
            self.errors_record = Some(FileRecord {
                lines: f.lines,
                ..record
            });
        } else {
            self.parts.push(record);
        }
        Ok(())
    }

    /// Completes every file; part files are then listed by path.
    pub fn finish(&mut self, pool: &rayon::ThreadPool) -> Result<()> {
        let ids: Vec<usize> = (0..self.files.len())
            .filter(|&i| self.files[i].is_some())
            .collect();
        for &id in &ids {
            self.close(id)?;
        }
        self.current.clear();
        self.flush(pool)?;
        self.parts.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(())
    }

    /// Renames every file of the run into place (the run is complete); with `--out` in object
    /// storage, uploads them under their final keys.
    pub fn commit(&mut self) -> Result<()> {
        match &mut self.dest {
            Dest::Run(dir) => {
                let placed = dir.commit()?;
                if let Some(to) = &self.upload {
                    for path in placed {
                        let rel = path.strip_prefix(dir.root()).unwrap_or(&path);
                        let rel = rel.to_string_lossy().replace('\\', "/");
                        if let Some(c) = self.cancel.as_ref().filter(|c| c.is_requested()) {
                            return Err(Error::Interrupted(c.signal()));
                        }
                        // Listed first: an upload cut short by a stop may have landed.
                        self.uploaded.push(rel.clone());
                        to.upload(&rel, &path, self.cancel.as_ref())?;
                    }
                }
                Ok(())
            }
            Dest::Single(target) => match self.single.as_mut() {
                Some((tmp, renamed)) if !*renamed => {
                    std::fs::rename(&*tmp, &target.path).map_err(|e| Error::io(&target.path, e))?;
                    *renamed = true;
                    Ok(())
                }
                _ => Ok(()),
            },
        }
    }

    /// Writes the run's manifest, `name`, last: renamed into place in the run's directory, or
    /// put in object storage.
    pub fn put_manifest(&mut self, name: &str, text: &[u8]) -> Result<()> {
        if let Some(to) = &self.upload {
            self.interrupted()?;
            to.put(name, text.to_vec())?;
            self.uploaded.push(name.to_owned());
            return Ok(());
        }
        let Dest::Run(dir) = &mut self.dest else {
            return Ok(());
        };
        let (mut file, path) = dir.create(name)?;
        file.write_all(text).map_err(|e| Error::io(&path, e))?;
        drop(file);
        dir.commit().map(drop)
    }

    /// Removes everything this run wrote (after a fatal error or an interrupt).
    pub fn abort(&mut self) {
        for f in self.files.iter_mut().filter_map(Option::take) {
            drop(f.w.map(BufWriter::into_inner));
        }
        self.lru.clear();
        match &mut self.dest {
            Dest::Run(dir) => dir.rollback(),
            Dest::Single(target) => {
                if let Some((tmp, renamed)) = self.single.take() {
                    let _ = std::fs::remove_file(if renamed { &target.path } else { &tmp });
                }
            }
        }
        if let Some(to) = &self.upload {
            for rel in self.uploaded.drain(..) {
                let _ = to.delete(&rel);
            }
        }
    }
}

thread_local! {
    /// Each worker thread's zstd context, made once per level instead of once per frame.
    static ZSTD: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { std::cell::RefCell::new(None) };
}

/// Compresses `data` into `out` (emptied first) as one zstd frame or gzip member.
fn compress_frame(
    c: Compression,
    level: i32,
    data: &[u8],
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    out.clear();
    match c {
        Compression::None => out.extend_from_slice(data),
        Compression::Zstd => ZSTD.with(|cell| {
            let mut slot = cell.borrow_mut();
            if slot.as_ref().is_none_or(|(l, _)| *l != level) {
                *slot = Some((level, zstd::bulk::Compressor::new(level)?));
            }
            let (_, cctx) = slot.as_mut().expect("made above");
            out.reserve(zstd::zstd_safe::compress_bound(data.len()));
            cctx.compress_to_buffer(data, out).map(drop)
        })?,
        Compression::Gzip => {
            out.reserve(data.len() / 4 + 64);
            let mut enc = flate2::write::GzEncoder::new(
                std::mem::take(out),
                flate2::Compression::new(level as u32),
            );
            enc.write_all(data)?;
            *out = enc.finish()?;
        }
    }
    Ok(())
}
