//! What `send` reads: the inputs resolved (a convert output, in a directory or a bucket,
//! through its `manifest.json` ([`super::convert_output`]), Pipelines NDJSON files, directories
//! or objects, `-`), checked before any request
//! (checksums, the recent-calls count), then read line by line into batches by a reader thread
//! that hands them on through a small bounded channel ([`read_all`]: per input, per line, per
//! call; each call checked by [`super::call`] and packed by [`super::batch`], each line not
//! sent set aside with its [`super::errors`] entry). With `--shard K/N` only this shard's
//! share of the part files is kept ([`take_file_share`]).

use super::batch::{Batch, Batcher, Other};
use super::call::{self, Refusal, SentAt};
use super::errors::{self, SendCode, SendEntry};
use super::ledger::Record;
use crate::config::InputFormat;
use crate::error::{Error, Result};
use crate::input::{self, Framer, Piece, Position, Source};
use crate::select::{Chosen, Failure};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// One input file (or stdin) of the send.
#[derive(Debug, Clone)]
pub struct Input {
    /// Where it is read from.
    pub source: Source,
    /// xxh3-128 (hex) of its bytes; none for stdin.
    pub checksum: Option<String>,
    /// Calls it holds, when known before reading (a convert manifest says).
    pub calls: Option<u64>,
    /// The newest call timestamp (unix ms), when a convert manifest says.
    pub last_timestamp: Option<i64>,
    /// A part file listed by a convert manifest (its checksum is checked before sending): its
    /// lines of convert's own shape take [`call::prepare_trusted`]'s fast path.
    pub trusted: bool,
}

/// Expands the inputs as given: a convert output (a directory, or a bucket prefix, holding a
/// `manifest.json`) into the part files it lists ([`super::convert_output`]), anything else into
/// Pipelines NDJSON files or objects. `state` is the state directory: no input may lie in it
/// (unless `allow_state`, for the conversion `--from track` keeps there).
pub fn resolve(inputs: &[String], state: &Path, allow_state: bool) -> Result<Vec<Input>> {
    let state_c = std::fs::canonicalize(state).unwrap_or_else(|_| state.to_path_buf());
    let mut out = Vec::new();
    for arg in inputs {
        let local = arg != "-" && !crate::store::is_url(arg);
        if local && !allow_state {
            let c = std::fs::canonicalize(arg)
                .map_err(|e| Error::Usage(format!("cannot read input {arg}: {e}")))?;
            if c.starts_with(&state_c) {
                return Err(Error::Usage(format!(
                    "input {arg} lies inside the state directory {}",
                    state.display()
                )));
            }
        }
        if let Some(parts) = super::convert_output::read(arg)? {
            out.extend(parts);
            continue;
        }
        let given = [PathBuf::from(arg)];
        for source in input::discover(&given, InputFormat::Ndjson, None)?.sources {
            // A state directory inside an input directory is skipped, like hidden files.
            if let Some(sp) = &source.path
                && std::fs::canonicalize(sp).is_ok_and(|c| c.starts_with(&state_c))
            {
                continue;
            }
            out.push(Input {
                source,
                checksum: None,
                calls: None,
                last_timestamp: None,
                trusted: false,
            });
        }
    }
    Ok(out)
}

/// With `--shard`, every input must be a convert output (its `manifest.json`, or the one
/// `merge` writes, lists the part files), in a directory or in a bucket: only then are the
/// inputs whole files of known size that every shard lists alike. Anything else is a usage
/// error.
pub fn check_shardable(inputs: &[String]) -> Result<()> {
    if inputs.is_empty() {
        return Err(Error::Usage(
            "--shard needs one or more convert output directories as inputs".into(),
        ));
    }
    for arg in inputs {
        if !super::convert_output::is_one(arg)? {
            return Err(Error::Usage(format!(
                "--shard sends a share of convert output directories (holding a manifest.json); \
                 {arg} is not one: send it without --shard"
            )));
        }
    }
    Ok(())
}

/// This shard's part files: the inputs, in order, cut into `shard.count` contiguous groups of
/// nearly equal bytes, whole files only (the split of docs/scale-out.md with no file
/// splittable); group `shard.index` is kept. Every file is in exactly one group; a group may
/// be empty when there are fewer files than shards.
pub fn take_file_share(inputs: Vec<Input>, shard: crate::config::Shard) -> Vec<Input> {
    let extents: Vec<crate::shard::Extent> = inputs
        .iter()
        .map(|i| crate::shard::Extent {
            name: i.source.name.to_string(),
            size: i.source.size.unwrap_or(0),
            splittable: false,
        })
        .collect();
    let share =
        crate::shard::split(&extents, shard.count, u64::MAX).swap_remove(shard.index as usize);
    debug_assert!(share.iter().all(|(_, r)| r.is_whole()));
    let keep: std::collections::HashSet<usize> = share.iter().map(|(i, _)| *i).collect();
    inputs
        .into_iter()
        .enumerate()
        .filter_map(|(i, inp)| keep.contains(&i).then_some(inp))
        .collect()
}

/// xxh3-128 of a file's bytes, as the convert manifest writes it.
pub fn checksum(path: &Path) -> std::io::Result<String> {
    hash(std::fs::File::open(path)?, &AtomicU64::new(0))
}

/// xxh3-128 of a stream's bytes; `checked` counts the bytes.
fn hash(mut r: impl Read, checked: &AtomicU64) -> std::io::Result<String> {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
        checked.fetch_add(n as u64, Ordering::Relaxed);
    }
    Ok(format!("{:032x}", h.digest128()))
}

/// Checks every input before anything is sent: a listed checksum must match (else exit 2);
/// files without one get theirs computed, for the ledger. Objects are streamed through the
/// hash (ranged GETs), never stored. `display` shows the pass (docs/send.md).
pub fn verify(inputs: &mut [Input], display: crate::report::Display) -> Result<()> {
    let total = inputs
        .iter()
        .filter(|i| i.source.path.is_some() || i.source.object.is_some())
        .map(|i| i.source.size.unwrap_or(0))
        .sum();
    let checked = Arc::new(AtomicU64::new(0));
    let ticker = super::report::pass(display, "checksums:", Arc::clone(&checked), total);
    let res = verify_each(inputs, &checked);
    ticker.finish();
    res
}

fn verify_each(inputs: &mut [Input], checked: &AtomicU64) -> Result<()> {
    for i in inputs.iter_mut() {
        let name = i.source.name.clone();
        let unreadable = |e: std::io::Error| Error::Usage(format!("cannot read input {name}: {e}"));
        let sum = match (&i.source.path, &i.source.object) {
            (Some(path), _) => std::fs::File::open(path).and_then(|f| hash(f, checked)),
            (None, Some(object)) => {
                let size = i.source.size.unwrap_or(u64::MAX);
                let reader = input::remote::ObjectReader::new(object.clone(), size, 0);
                hash(reader, checked)
            }
            (None, None) => continue,
        }
        .map_err(unreadable)?;
        match &i.checksum {
            Some(want) if *want != sum => {
                return Err(Error::Usage(format!(
                    "{name}: checksum {sum} does not match the manifest's {want}; nothing was sent"
                )));
            }
            Some(_) => {}
            None => i.checksum = Some(sum),
        }
    }
    Ok(())
}

/// Counts the calls of `inputs` and those of them newer than `cutoff_ms`, reading only the
/// files a manifest cannot answer for (`display` shows that pass). Stdin is not read ahead
/// (None).
pub fn count(
    inputs: &[Input],
    cutoff_ms: i64,
    max_line: u64,
    display: crate::report::Display,
) -> Result<(Option<u64>, u64)> {
    let needs_reading = |i: &Input| match (i.calls, i.last_timestamp) {
        (Some(_), Some(last)) => last >= cutoff_ms,
        _ => true,
    };
    let readable = |i: &Input| i.source.path.is_some() || i.source.object.is_some();
    let to_read = inputs
        .iter()
        .filter(|i| readable(i) && needs_reading(i))
        .map(|i| i.source.size.unwrap_or(0))
        .sum();
    let read = Arc::new(AtomicU64::new(0));
    let ticker = super::report::pass(display, "counting calls:", Arc::clone(&read), to_read);
    let res = count_each(inputs, cutoff_ms, max_line, &read);
    ticker.finish();
    res
}

fn count_each(
    inputs: &[Input],
    cutoff_ms: i64,
    max_line: u64,
    read: &Arc<AtomicU64>,
) -> Result<(Option<u64>, u64)> {
    let (mut total, mut recent, mut known) = (0u64, 0u64, true);
    for i in inputs {
        if i.source.path.is_none() && i.source.object.is_none() {
            known = false;
            continue;
        }
        if let (Some(calls), Some(last)) = (i.calls, i.last_timestamp)
            && last < cutoff_ms
        {
            total += calls;
            continue;
        }
        let reader = input::open(&i.source, Arc::clone(read))?;
        for piece in Framer::new(reader, 1 << 20, max_line) {
            let Piece::Records { data, .. } = piece else {
                continue;
            };
            for line in data.split(|b| *b == b'\n') {
                let Ok(text) = std::str::from_utf8(line.trim_ascii()) else {
                    continue;
                };
                if text.is_empty() {
                    continue;
                }
                total += 1;
                let ts = crate::json::RawMap::parse(text).ok().and_then(|m| {
                    m.get("timestamp")
                        .and_then(|v| crate::time::parse_str(v.get().trim_matches('"')))
                });
                recent += u64::from(ts.is_some_and(|t| t >= cutoff_ms));
            }
        }
    }
    Ok((known.then_some(total), recent))
}

/// How the reader works.
#[derive(Debug, Clone)]
pub struct ReadConfig {
    /// `--sent-at`.
    pub sent_at: SentAt,
    /// A call's size limit, as sent.
    pub max_call_bytes: usize,
    /// A body's size limit.
    pub max_batch_bytes: usize,
    /// Calls per body at most.
    pub max_batch_calls: usize,
    /// Stops the reading when requested.
    pub cancel: crate::cancel::Cancel,
    /// `--limit`: stop after this many calls.
    pub limit: Option<u64>,
    /// Calls at or after this time (unix ms) are recent.
    pub recent_cutoff: i64,
    /// `--recent skip`: recent calls are not sent.
    pub skip_recent: bool,
    /// The selection (docs/transforms.md), unless `--from track` applied it while converting.
    pub select: Option<Arc<crate::select::Selection>>,
}

/// What the reader saw.
#[derive(Debug, Default, Clone)]
pub struct ReadStats {
    /// Non-blank lines read.
    pub lines: u64,
    /// Blank lines (skipped, in no count).
    pub blank: u64,
    /// Lines that are calls (sent, or in batches done earlier).
    pub calls: u64,
    /// `invalid_call` lines (and `transform_invalid`, `transform_error`).
    pub invalid: u64,
    /// Calls left out by the selection, by cause.
    pub filtered: crate::select::Filtered,
    /// `call_too_large` lines.
    pub too_large: u64,
    /// Recent calls left out (`--recent skip`).
    pub skipped_recent: u64,
    /// Calls less than 72 hours old, read.
    pub recent: u64,
    /// Inputs that could not be read to their end.
    pub incomplete_inputs: u64,
    /// Batches done by earlier runs (skipped now), and their counts.
    pub done_batches: u64,
    /// Calls acknowledged by earlier runs.
    pub done_acknowledged: u64,
    /// Calls refused in earlier runs.
    pub done_refused: u64,
    /// Batches handed on to be sent, their calls and body bytes.
    pub batches: u64,
    /// Calls in the batches handed on.
    pub batch_calls: u64,
    /// Body bytes of the batches handed on.
    pub batch_bytes: u64,
}

/// What the selection leaves of one line: the calls to send (none when it was left out,
/// counted in `st`), or the code and message of a failed transform.
fn selected<'b>(
    cfg: &ReadConfig,
    line: &'b [u8],
    (buf, shaped): &'b mut (Vec<u8>, Vec<crate::select::Shaped>),
    st: &mut ReadStats,
) -> std::result::Result<Vec<&'b [u8]>, (SendCode, String)> {
    let chosen = cfg
        .select
        .as_deref()
        .map_or(Chosen::Kept, |s| s.choose_line(line, buf, shaped));
    match chosen {
        Chosen::Kept => Ok(vec![line]),
        Chosen::Dropped(cause) => {
            st.filtered[cause.index()] += 1;
            Ok(Vec::new())
        }
        Chosen::Transformed(n) => {
            // calls_read counts the calls a line became.
            st.lines += n as u64 - 1;
            Ok(buf
                .split_inclusive(|b| *b == b'\n')
                .map(|c| &c[..c.len() - 1])
                .collect())
        }
        Chosen::Failed(f) => {
            st.invalid += 1;
            Err(match f {
                Failure::Invalid(m) => (SendCode::TransformInvalid, m),
                Failure::Error(m) => (SendCode::TransformError, m),
            })
        }
    }
}

/// Reads every input in order, forms batches, and hands on those not done yet (`done`);
/// stops early when `emit` returns false (the sender stopped), when `--limit` is reached or
/// when the run is cancelled. The batch open then is still handed on.
pub fn read_all(
    cfg: &ReadConfig,
    inputs: &[Input],
    done: &HashMap<u64, Record>,
    live_calls: &AtomicU64,
    emit: impl FnMut(Batch) -> bool,
) -> Result<ReadStats> {
    let mut reader = Reader {
        cfg,
        done,
        live_calls,
        emit,
        st: ReadStats::default(),
        batcher: Batcher::new(cfg.max_batch_bytes, cfg.max_batch_calls),
        call_buf: Vec::with_capacity(cfg.max_call_bytes + 64),
        chosen: (Vec::new(), Vec::new()),
    };
    for (si, inp) in inputs.iter().enumerate() {
        if !reader.read_input(si, inp)? {
            break;
        }
    }
    reader.flush()?;
    Ok(reader.st)
}

/// Where a line is: its input (index and name) and its place there.
#[derive(Clone, Copy)]
struct At<'n> {
    input: usize,
    name: &'n str,
    pos: Position,
}

impl At<'_> {
    /// This input at `pos`. `send` reads every input from its start, so the line is known
    /// (1 if it ever were not, see [`super::batch::line_of`]).
    fn at(self, pos: Position) -> Self {
        let line = Some(pos.line.unwrap_or(1));
        At {
            pos: Position { line, ..pos },
            ..self
        }
    }
}

/// The reader's state across inputs: the batcher, the counts, and where batches go. Each
/// step returns whether reading goes on (`false`: stop, the open batch is still flushed).
struct Reader<'a, E> {
    cfg: &'a ReadConfig,
    /// Batches done by earlier runs, by number: checked against the input, not sent again.
    done: &'a HashMap<u64, Record>,
    live_calls: &'a AtomicU64,
    emit: E,
    st: ReadStats,
    batcher: Batcher,
    /// One call as sent ([`call::prepare`] writes it).
    call_buf: Vec<u8>,
    /// The selection's buffers ([`selected`]).
    chosen: (Vec<u8>, Vec<crate::select::Shaped>),
}

impl<E: FnMut(Batch) -> bool> Reader<'_, E> {
    /// Reads one input to its end (or until reading stops), then closes its last batch: a
    /// batch holds lines of one input only.
    fn read_input(&mut self, si: usize, inp: &Input) -> Result<bool> {
        let max_line = self.cfg.max_call_bytes as u64 + (64 << 10);
        let reader = input::open(&inp.source, Arc::new(AtomicU64::new(0)))?;
        let first = At {
            input: si,
            name: &inp.source.name,
            pos: Position::START,
        };
        for piece in Framer::new(reader, 1 << 20, max_line) {
            if self.cfg.cancel.is_requested() || !self.piece(first, inp.trusted, piece)? {
                return Ok(false);
            }
        }
        self.flush()
    }

    /// One piece of an input (`input` says which): a block of records, the head of a line
    /// over the size limit, or the point where the input stopped being readable.
    fn piece(&mut self, input: At, trusted: bool, piece: Piece) -> Result<bool> {
        match piece {
            Piece::Records { data, at } => self.records(input.at(at), trusted, &data),
            Piece::TooLong { head, length, at } => {
                self.st.lines += 1;
                self.st.too_large += 1;
                let message = format!(
                    "the line is {length} bytes, over --max-call-bytes {}",
                    self.cfg.max_call_bytes
                );
                let at = input.at(at);
                let (code, kind) = (SendCode::CallTooLarge, Other::Invalid);
                self.set_aside(at, code, &message, Some(&head), Some(length), kind);
                Ok(true)
            }
            Piece::Corrupt { at, message, .. } => {
                self.st.incomplete_inputs += 1;
                let at = input.at(at);
                let (code, kind) = (SendCode::CorruptInput, Other::Note);
                self.set_aside(at, code, &message, None, None, kind);
                Ok(true)
            }
        }
    }

    /// Reads the lines of one block of records; `at` is where its first line is.
    fn records(&mut self, at: At, trusted: bool, data: &[u8]) -> Result<bool> {
        let mut pos = at.pos;
        for raw in data.split_inclusive(|b| *b == b'\n') {
            let here = At { pos, ..at };
            pos.advance(1, raw.len() as u64);
            if !self.line(here, trusted, raw)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// One line: skips a blank one, stops at `--limit`, applies the selection, and feeds
    /// the calls it leaves to [`Reader::call`].
    fn line(&mut self, at: At, trusted: bool, raw: &[u8]) -> Result<bool> {
        if raw.trim_ascii().is_empty() {
            self.st.blank += 1;
            return Ok(true);
        }
        if self.cfg.limit.is_some_and(|l| self.st.calls >= l) {
            return Ok(false);
        }
        self.st.lines += 1;
        let text = raw.strip_suffix(b"\n").unwrap_or(raw);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        // --transform and the filters (docs/transforms.md), when not applied by the
        // conversion of --from track already. The buffers are taken out while the calls
        // they hold are fed on.
        let mut chosen = std::mem::take(&mut self.chosen);
        let go = match selected(self.cfg, text, &mut chosen, &mut self.st) {
            Ok(calls) => self.calls(at, trusted, &calls),
            Err((code, message)) => {
                self.set_aside(at, code, &message, Some(text), None, Other::Invalid);
                Ok(true)
            }
        };
        self.chosen = chosen;
        go
    }

    /// Feeds the calls one line became, in order.
    fn calls(&mut self, at: At, trusted: bool, calls: &[&[u8]]) -> Result<bool> {
        for text in calls {
            if !self.call(at, trusted, text)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// One call: checked and its `sentAt` set ([`call::prepare`], or the fast path of a
    /// trusted part file), then packed into the open batch; or set aside with its error
    /// entry (invalid, too large, recent under `--recent skip`).
    fn call(&mut self, at: At, trusted: bool, text: &[u8]) -> Result<bool> {
        let (mode, max) = (self.cfg.sent_at, self.cfg.max_call_bytes);
        let buf = &mut self.call_buf;
        buf.clear();
        let prepared = trusted
            .then(|| call::prepare_trusted(text, mode, max, buf))
            .flatten()
            .unwrap_or_else(|| call::prepare(text, mode, max, buf));
        let (code, message) = match prepared {
            Ok(p) => {
                let recent = p.timestamp.is_some_and(|t| t >= self.cfg.recent_cutoff);
                self.st.recent += u64::from(recent);
                if !(recent && self.cfg.skip_recent) {
                    return self.push_call(at, text, p.sent_at);
                }
                self.st.skipped_recent += 1;
                let message = "the call is less than 72 hours old (--recent skip)";
                (SendCode::RecentCall, message.to_owned())
            }
            Err(Refusal::Invalid(m)) => {
                self.st.invalid += 1;
                (SendCode::InvalidCall, m)
            }
            Err(Refusal::TooLarge(n)) => {
                self.st.too_large += 1;
                let message = format!(
                    "the call is {n} bytes as sent, over --max-call-bytes {}",
                    self.cfg.max_call_bytes
                );
                (SendCode::CallTooLarge, message)
            }
        };
        let kind = if code == SendCode::RecentCall {
            Other::Skipped
        } else {
            Other::Invalid
        };
        self.set_aside(at, code, &message, Some(text), None, kind);
        Ok(true)
    }

    /// Packs a prepared call (in `call_buf`) into the open batch, handing on the batch it
    /// closes, if any.
    fn push_call(&mut self, at: At, text: &[u8], sent_at: Option<usize>) -> Result<bool> {
        self.st.calls += 1;
        self.live_calls.fetch_add(1, Ordering::Relaxed);
        let closed = self
            .batcher
            .push_call(at.input, text, &self.call_buf, sent_at, at.pos);
        match closed {
            Some(b) => self.hand_on(b),
            None => Ok(true),
        }
    }

    /// Puts a line that is not sent into the open batch with its error entry (`raw` is the
    /// line, or its head when too long; none for a note).
    fn set_aside(
        &mut self,
        at: At,
        code: SendCode,
        message: &str,
        raw: Option<&[u8]>,
        length: Option<u64>,
        kind: Other,
    ) {
        let entry = errors::line(&SendEntry {
            source: at.name,
            at: at.pos,
            batch: self.batcher.open_number(),
            code,
            message,
            raw,
            length,
            answer: None,
        });
        let bytes = raw.unwrap_or(b"");
        self.batcher
            .push_other(at.input, bytes, entry, kind, at.pos);
    }

    /// Closes the open batch, if any, and hands it on (the end of an input, or of reading).
    fn flush(&mut self) -> Result<bool> {
        match self.batcher.finish() {
            Some(b) => self.hand_on(b),
            None => Ok(true),
        }
    }

    /// Hands a closed batch on to be sent, unless an earlier run did it (then it must match
    /// the state's record of it, and only its counts are kept).
    fn hand_on(&mut self, b: Batch) -> Result<bool> {
        let Some(r) = self.done.get(&b.number) else {
            self.st.batches += 1;
            self.st.batch_calls += b.calls.len() as u64;
            self.st.batch_bytes += b.body.len() as u64;
            return Ok((self.emit)(b));
        };
        if r.source != b.source
            || r.first_line != b.first_line
            || r.last_line != b.last_line
            || r.sum != format!("{:016x}", b.sum)
        {
            return Err(Error::Usage(format!(
                "batch {} does not match the state's record of it: the input changed since \
                 the state was made (use --restart to start over)",
                b.number
            )));
        }
        self.st.done_batches += 1;
        self.st.done_acknowledged += r.acknowledged;
        self.st.done_refused += r.refused;
        Ok(true)
    }
}
