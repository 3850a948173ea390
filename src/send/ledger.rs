//! The ledger: `DIR/ledger.ndjson`, append-only. Its first line says what the send is (the
//! inputs with their checksums and the options that shape batches); each further line records
//! one batch that is done (every call acknowledged or refused). Lines are written and fsync'd
//! by one thread, in groups: the `send-errors.ndjson` entries of a batch are made durable
//! before the batch's own line, so a batch in the ledger never lacks its refusals.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// The ledger's first line.
#[derive(Debug, Serialize, Deserialize)]
pub struct Header {
    /// Always [`KIND`].
    pub ledger: String,
    /// The ledger format (1).
    pub version: u32,
    /// Inputs and batch options; a resumed run must have the same.
    pub identity: serde_json::Value,
}

/// The name in [`Header::ledger`].
pub const KIND: &str = "track2pipelines-send";

/// One batch that is done, as its ledger line stores it. Its line range is two plain numbers,
/// not an [`crate::input::Position`]: this is the persisted layout, which resumed sends read
/// (and `send` always knows its lines, see [`super::batch::line_of`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Record {
    /// The batch number.
    pub batch: u64,
    /// Index of its input in the header's list.
    pub source: usize,
    /// Its first input line (1-based).
    pub first_line: u64,
    /// Its last input line.
    pub last_line: u64,
    /// Calls in the batch (acknowledged + refused).
    pub calls: u64,
    /// Calls the server acknowledged.
    pub acknowledged: u64,
    /// Calls the server refused (in `send-errors.ndjson`).
    pub refused: u64,
    /// Lines of its range that are not calls or too large.
    pub invalid: u64,
    /// Recent calls left out (`--recent skip`).
    pub skipped: u64,
    /// xxh3-64 (hex) of the batch's input lines.
    pub sum: String,
}

/// What an earlier run left.
#[derive(Debug)]
pub struct Loaded {
    /// The first line.
    pub header: Header,
    /// Batches done, by number.
    pub done: HashMap<u64, Record>,
    /// Length of the whole lines: a torn last line (a kill during its write) is cut off.
    pub valid_len: u64,
}

/// Reads the ledger at `path`, if there is one.
pub fn load(path: &Path) -> Result<Option<Loaded>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    let mut valid_len = 0u64;
    let mut header: Option<Header> = None;
    let mut done = HashMap::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io(path, e))?;
        if n == 0 || line.last() != Some(&b'\n') {
            break;
        }
        if header.is_none() {
            let h: Header = serde_json::from_slice(&line).map_err(|_| {
                Error::Usage(format!(
                    "{} is not a ledger of track2pipelines send",
                    path.display()
                ))
            })?;
            if h.ledger != KIND || h.version != 1 {
                return Err(Error::Usage(format!(
                    "{} is not a ledger this version of track2pipelines reads",
                    path.display()
                )));
            }
            header = Some(h);
        } else {
            let Ok(r) = serde_json::from_slice::<Record>(&line) else {
                break;
            };
            done.insert(r.batch, r);
        }
        valid_len += n as u64;
    }
    Ok(header.map(|header| Loaded {
        header,
        done,
        valid_len,
    }))
}

/// Starts a new ledger with `identity` (fsync'd before anything is sent).
pub fn create(path: &Path, identity: &serde_json::Value) -> Result<File> {
    let mut f = no_follow()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    let header = Header {
        ledger: KIND.into(),
        version: 1,
        identity: identity.clone(),
    };
    let mut text = serde_json::to_vec(&header).expect("header serializes");
    text.push(b'\n');
    f.write_all(&text)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io(path, e))?;
    sync_dir(path);
    Ok(f)
}

/// Opens an existing ledger for appending, cutting off a torn last line.
pub fn reopen(path: &Path, valid_len: u64) -> Result<File> {
    let f = no_follow()
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    f.set_len(valid_len).map_err(|e| Error::io(path, e))?;
    let f = no_follow()
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    Ok(f)
}

/// Open options that never follow a symbolic link (the state's files are never links).
fn no_follow() -> OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = OpenOptions::new();
    o.custom_flags(libc::O_NOFOLLOW);
    o
}

/// Makes a new directory entry durable (best effort).
pub fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
}

/// A message to the writer thread.
pub enum Msg {
    /// A batch is done: its error entries, then its ledger line.
    Done {
        record: Record,
        errors: Vec<Vec<u8>>,
    },
}

/// The thread that writes and fsyncs; it reports each group made durable with the number of
/// batches in it.
pub struct Writer {
    /// Where finished batches go.
    pub tx: mpsc::Sender<Msg>,
    /// The thread; its result is the first write error.
    pub thread: std::thread::JoinHandle<Result<()>>,
}

impl Writer {
    /// Starts the writer on `ledger` and `errors` (both open for appending).
    pub fn spawn(
        ledger: (File, PathBuf),
        errors: (File, PathBuf),
        durable: tokio::sync::mpsc::UnboundedSender<usize>,
    ) -> Writer {
        let (tx, rx) = mpsc::channel::<Msg>();
        let thread = std::thread::Builder::new()
            .name("t2p-ledger".into())
            .spawn(move || {
                let (mut lf, lpath) = ledger;
                let (mut ef, epath) = errors;
                let mut lbuf = Vec::new();
                let mut ebuf = Vec::new();
                while let Ok(first) = rx.recv() {
                    let mut n = 0;
                    let mut next = Some(first);
                    while let Some(Msg::Done { record, errors }) = next {
                        for e in errors {
                            ebuf.extend_from_slice(&e);
                        }
                        serde_json::to_writer(&mut lbuf, &record).expect("record serializes");
                        lbuf.push(b'\n');
                        n += 1;
                        next = rx.try_recv().ok();
                    }
                    if !ebuf.is_empty() {
                        ef.write_all(&ebuf)
                            .and_then(|()| ef.sync_data())
                            .map_err(|e| Error::io(&epath, e))?;
                        ebuf.clear();
                    }
                    lf.write_all(&lbuf)
                        .and_then(|()| lf.sync_data())
                        .map_err(|e| Error::io(&lpath, e))?;
                    lbuf.clear();
                    let _ = durable.send(n);
                }
                Ok(())
            })
            .expect("the ledger thread starts");
        Writer { tx, thread }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(batch: u64) -> Record {
        Record {
            batch,
            source: 0,
            first_line: 1,
            last_line: 2,
            calls: 2,
            acknowledged: 2,
            refused: 0,
            invalid: 0,
            skipped: 0,
            sum: "00".into(),
        }
    }

    #[test]
    fn torn_last_line_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.ndjson");
        let id = serde_json::json!({"inputs": ["a"]});
        let mut f = create(&path, &id).unwrap();
        let mut line = serde_json::to_vec(&record(0)).unwrap();
        line.push(b'\n');
        f.write_all(&line).unwrap();
        f.write_all(b"{\"batch\":1,\"sou").unwrap();
        drop(f);
        let l = load(&path).unwrap().unwrap();
        assert_eq!(l.header.identity, id);
        assert_eq!(l.done.len(), 1);
        assert_eq!(l.done[&0], record(0));
        let mut f = reopen(&path, l.valid_len).unwrap();
        f.write_all(&line).unwrap();
        drop(f);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(
            text.lines()
                .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
        );
    }

    #[test]
    fn foreign_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.ndjson");
        std::fs::write(&path, "hello\n").unwrap();
        assert!(matches!(load(&path), Err(Error::Usage(_))));
    }
}
