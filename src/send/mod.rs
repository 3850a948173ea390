//! `send`: delivers calls to the Data Pipelines HTTP API, at least once, resumably, within the
//! API's limits (docs/send.md).
//!
//! Modules, in the order a call goes through them, from a part file to an HTTP request:
//! - [`config`]: the validated configuration (`src/cli/send.rs` builds it from the flags);
//! - [`track`]: with `--from track`, the Track archives are converted first, into a convert
//!   output kept in the state directory;
//! - [`convert_output`]: a convert output (a directory or a bucket prefix) read through its
//!   `manifest.json`: its part files, in order, and the order check;
//! - [`source`]: resolves and checks the inputs (checksums, the recent-calls count), then reads
//!   them line by line on a reader thread ([`source::read_all`]), handing batches on;
//! - [`call`]: one line checked as a call, its `sentAt` set;
//! - [`batch`]: calls packed into request bodies, an `alias` call (and an object's own `group`
//!   call) alone;
//! - [`dispatch`]: the sender, a state machine that takes each batch, posts it and moves it
//!   through one named transition per answer (acknowledge, retry, wait on 429, split, refuse,
//!   stop);
//! - [`rate`]: its pacing (token bucket, adaptive concurrency);
//! - [`client`]: the HTTP side that posts a body and reports what came back
//!   ([`client::Transport`]);
//! - [`retry`]: what an answer means, one step of the sender's state machine;
//! - [`ledger`]: each finished batch recorded durably, so a resumed send skips it;
//! - [`state`]: the state directory that holds the ledger (locked, journaled);
//! - [`errors`]: the `send-errors.ndjson` entries of lines not sent and calls refused, the
//!   key redacted;
//! - [`report`]: what the user sees (progress, summary, `send-manifest.json`).
//!
//! This module wires them together, one named step each (see [`run`]).
//!
//! Shards (`--shard K/N`, docs/send.md): only convert output directories may be sharded
//! ([`source::check_shardable`]); their part files, in the manifests' order, are cut into N
//! contiguous groups of nearly equal bytes, whole files only ([`source::take_file_share`], the
//! split of [`crate::shard::split`] with no file splittable), and only group K is checked and
//! sent.
//! Everything after that is the plain send of those files; the shard is part of the state's
//! identity, so a state made for another shard (or for no shard) is refused.

pub mod batch;
pub mod call;
pub mod client;
pub mod config;
pub mod convert_output;
pub mod dispatch;
pub mod errors;
pub mod ledger;
pub mod rate;
pub mod report;
pub mod retry;
pub mod source;
pub mod state;
pub mod track;

pub use config::{Recent, SendConfig, TrackConversion, WriteKey};

use crate::cancel::Cancel;
use crate::error::{Error, Result};
use state::State;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Calls this much younger than now are "recent" (Customer.io may trigger campaigns from them).
pub const RECENT: Duration = Duration::from_secs(72 * 3600);

/// Live counters for the progress bar.
#[derive(Debug, Default)]
pub struct Counters {
    /// Calls to send in all, when known (0 otherwise).
    pub total: AtomicU64,
    /// Calls read so far.
    pub read: AtomicU64,
    /// Calls acknowledged by the server.
    pub acknowledged: AtomicU64,
    /// Requests sent (retries included).
    pub requests: AtomicU64,
    /// Body bytes sent.
    pub bytes: AtomicU64,
    /// Requests awaiting an answer.
    pub in_flight: AtomicU64,
    /// Retries after 408, 5xx, timeouts, connection errors.
    pub retries: AtomicU64,
    /// 429 answers.
    pub rate_limited: AtomicU64,
    /// Calls refused by the server.
    pub refused: AtomicU64,
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Runs `send` with its validated configuration; returns the exit status. `cancel` stops the
/// run (SIGINT, SIGTERM).
pub fn main(cfg: &SendConfig, cancel: &Cancel) -> i32 {
    match run(cfg, cancel) {
        Ok(code) => code,
        Err(e) => {
            crate::report::eprint(&format!("track2pipelines: error: {e}\n"));
            e.exit_code()
        }
    }
}

fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

/// What one send did, for the summary and the manifest.
#[derive(Debug, Default)]
pub struct Outcome {
    /// What the reader saw.
    pub read: source::ReadStats,
    /// What the sender did.
    pub sent: dispatch::Stats,
    /// Why the run stopped early, if it did.
    pub stop: Option<dispatch::Stop>,
    /// Each input and its checksum.
    pub inputs: Vec<(String, Option<String>)>,
    /// Calls less than 72 hours old (counted before sending).
    pub recent: u64,
    /// `--dry-run`: bodies written.
    pub dry_run_batches: u64,
    /// `--from track`: what the conversion did.
    pub conversion: Option<track::Converted>,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Every batch done (no early stop).
    pub complete: bool,
}

impl Outcome {
    /// Calls acknowledged, by this run and earlier ones.
    pub fn acknowledged(&self) -> u64 {
        self.read.done_acknowledged + self.sent.acknowledged
    }

    /// Calls refused by the server, by this run and earlier ones.
    pub fn refused(&self) -> u64 {
        self.read.done_refused + self.sent.refused
    }

    /// The exit status (§ exit codes in docs/send.md).
    pub fn exit_code(&self) -> i32 {
        match &self.stop {
            Some(dispatch::Stop::Interrupted(sig)) => 128 + sig,
            Some(_) => 1,
            None if self.refused() > 0
                || self.read.invalid > 0
                || self.read.too_large > 0
                || self.read.skipped_recent > 0
                || self.read.incomplete_inputs > 0
                || self.conversion.as_ref().is_some_and(|c| c.rejected > 0) =>
            {
                3
            }
            None => 0,
        }
    }
}

/// The batches an earlier run of this send finished, by number.
type Done = std::collections::HashMap<u64, ledger::Record>;

/// One send, step by step: the state opened; the inputs resolved and checked, which with the
/// options make the resume identity ([`resume_identity`], [`done_batches`]); recent calls
/// counted; the state repaired for this run ([`repair_state`]); the batches written
/// ([`dry_run`]) or sent ([`send`]); the manifest and the summaries.
fn run(cfg: &SendConfig, cancel: &Cancel) -> Result<i32> {
    let started = Instant::now();
    let started_at = now_ms();
    let st = State::open(&cfg.state, cfg.restart)?;
    let old = ledger::load(&st.path(state::LEDGER))?;
    let mut identity = resume_identity(cfg);
    let (inputs, conversion) = resolve_inputs(cfg, cancel, &st, old.as_ref(), &mut identity)?;
    let mut done = done_batches(&st, old.as_ref(), &identity)?;
    let (resend, ledger_len) = match &old {
        Some(l) if cfg.retry_refused && !cfg.dry_run => reopen_refused(&st, l, &mut done)?,
        Some(l) => (Resend::default(), l.valid_len),
        None => (Resend::default(), 0),
    };
    let cutoff = now_ms() - RECENT.as_millis() as i64;
    let (total, recent) = count_recent(cfg, &inputs, cutoff)?;
    // From here on the state changes.
    let resumed = old.as_ref().map(|_| ledger_len);
    let (ledger_file, errors_file) = repair_state(cfg, &st, resumed, &identity, &done)?;
    let live = Arc::new(Counters::default());
    if let Some(t) = total {
        let limited = cfg.limit.map_or(t, |l| l.min(t));
        live.total.store(limited, Ordering::Relaxed);
    }
    let progress = report::Progress::start(report::display(cfg), Arc::clone(&live));
    let rcfg = source::ReadConfig {
        sent_at: cfg.sent_at,
        max_call_bytes: cfg.max_call_bytes,
        max_batch_bytes: cfg.max_batch_bytes,
        max_batch_calls: cfg.max_batch_calls,
        limit: cfg.limit,
        recent_cutoff: cutoff,
        skip_recent: cfg.recent == Recent::Skip,
        cancel: cancel.clone(),
        // With --from track the conversion applied the selection already.
        select: cfg.select.clone().filter(|_| cfg.from_track.is_none()),
    };
    let mut out = Outcome {
        inputs: inputs
            .iter()
            .map(|i| (i.source.name.to_string(), i.checksum.clone()))
            .collect(),
        recent,
        conversion,
        ..Outcome::default()
    };
    let result = match ledger_file {
        None => dry_run(&st, &rcfg, &inputs, &done, errors_file, &live, &mut out),
        Some(ledger_file) => {
            let files = (ledger_file, errors_file);
            send(
                cfg,
                &rcfg,
                &inputs,
                (&done, &resend),
                files,
                &live,
                &mut out,
            )
        }
    };
    progress.finish();
    result?;
    out.elapsed = started.elapsed();
    out.complete = out.stop.is_none();
    finish(cfg, &st, &out, started_at)
}

/// What a state directory is made for, before the inputs are known: the endpoint and every
/// option that shapes the batches (docs/send.md, "State and resume"). A resumed run must
/// have the same identity.
fn resume_identity(cfg: &SendConfig) -> serde_json::Value {
    serde_json::json!({
        "endpoint": cfg.endpoint,
        "sent_at": cfg.sent_at.as_str(),
        "max_batch_bytes": cfg.max_batch_bytes,
        "max_batch_calls": cfg.max_batch_calls,
        "max_call_bytes": cfg.max_call_bytes,
        "limit": cfg.limit,
        "recent": if cfg.recent == Recent::Skip { "skip" } else { "send" },
        "select": cfg.select.as_ref().map(|s| s.identity()),
    })
}

/// The inputs to send (after `--from track`'s conversion and `--shard`'s share), their
/// checksums verified, recorded in `identity`.
fn resolve_inputs(
    cfg: &SendConfig,
    cancel: &Cancel,
    st: &State,
    old: Option<&ledger::Loaded>,
    identity: &mut serde_json::Value,
) -> Result<(Vec<source::Input>, Option<track::Converted>)> {
    let (mut inputs, conversion) = match &cfg.from_track {
        Some(conversion) => {
            let conv = track::prepare(conversion, cancel, st, old, identity)?;
            let converted = [st.path(state::CONVERTED).to_string_lossy().into_owned()];
            (source::resolve(&converted, &st.dir, true)?, Some(conv))
        }
        None => {
            let given: Vec<String> = cfg
                .inputs
                .iter()
                .map(|i| i.to_string_lossy().into_owned())
                .collect();
            if cfg.shard.is_some() {
                source::check_shardable(&given)?;
            }
            (source::resolve(&given, &st.dir, false)?, None)
        }
    };
    if let Some(shard) = cfg.shard {
        inputs = source::take_file_share(inputs, shard);
        identity["shard"] = serde_json::json!({ "index": shard.index, "count": shard.count });
    }
    source::verify(&mut inputs, report::display(cfg))?;
    identity["inputs"] = inputs
        .iter()
        .map(|i| {
            serde_json::json!({
                "source": i.source.name.as_ref(),
                "size": i.source.size,
                "checksum_xxh3_128": i.checksum,
            })
        })
        .collect();
    Ok((inputs, conversion))
}

/// The batches done by earlier runs, when the state was made for this send; a state made for
/// another shard, other inputs or other options is refused.
fn done_batches(
    st: &State,
    old: Option<&ledger::Loaded>,
    identity: &serde_json::Value,
) -> Result<Done> {
    let Some(l) = old else {
        return Ok(Done::default());
    };
    if l.header.identity["shard"] != identity["shard"] {
        let name = |v: &serde_json::Value| match (v["index"].as_u64(), v["count"].as_u64()) {
            (Some(k), Some(n)) => format!("--shard {k}/{n}"),
            _ => "no --shard".to_owned(),
        };
        return Err(usage(format!(
            "the state directory {} was made for {}, and this is {}: give each shard its \
             own --state, or add --restart to start over",
            st.dir.display(),
            name(&l.header.identity["shard"]),
            name(&identity["shard"])
        )));
    }
    if l.header.identity != *identity {
        return Err(usage(format!(
            "the state directory {} was made for other inputs or options; run the same \
             command as before to resume, or add --restart to start over",
            st.dir.display()
        )));
    }
    Ok(l.done.clone())
}

/// Counts the calls (when the inputs say) and those less than 72 hours old, warns about the
/// latter, and stops under `--recent fail`.
fn count_recent(
    cfg: &SendConfig,
    inputs: &[source::Input],
    cutoff: i64,
) -> Result<(Option<u64>, u64)> {
    let max_line = cfg.max_call_bytes as u64 + (64 << 10);
    let (total, recent) = source::count(inputs, cutoff, max_line, report::display(cfg))?;
    if recent > 0 {
        crate::report::eprint(&format!(
            "track2pipelines: warning: {} call{} less than 72 hours old: Customer.io may trigger \
             campaigns from them ({})\n",
            crate::report::group(recent),
            if recent == 1 { " is" } else { "s are" },
            match cfg.recent {
                Recent::Allow => "sending them; --recent skip leaves them out",
                Recent::Skip => "--recent skip: leaving them out",
                Recent::Fail => "--recent fail: nothing is sent",
            }
        ));
        if cfg.recent == Recent::Fail {
            return Err(usage(format!(
                "{recent} recent calls and --recent fail; nothing was sent"
            )));
        }
    }
    Ok((total, recent))
}

/// Makes the state ready for this run: the manifest of an earlier complete run removed, the
/// ledger created, or cut back to `resumed` bytes (its last whole line, or what
/// `--retry-refused` kept) and opened (none with `--dry-run`), and `send-errors.ndjson` kept
/// to the batches done.
fn repair_state(
    cfg: &SendConfig,
    st: &State,
    resumed: Option<u64>,
    identity: &serde_json::Value,
    done: &Done,
) -> Result<(Option<std::fs::File>, (std::fs::File, PathBuf))> {
    let ledger_path = st.path(state::LEDGER);
    let ledger_file = if cfg.dry_run {
        None
    } else {
        let _ = std::fs::remove_file(st.path(state::MANIFEST));
        st.claim(state::LEDGER, false)?;
        Some(match resumed {
            Some(len) => ledger::reopen(&ledger_path, len)?,
            None => ledger::create(&ledger_path, identity)?,
        })
    };
    Ok((ledger_file, keep_done_errors(st, done)?))
}

/// The end of a run: `send-manifest.json` when every batch is done (not for a dry run), the
/// summary on stderr and in `--summary-json`, and why the run stopped early if it did.
fn finish(cfg: &SendConfig, st: &State, out: &Outcome, started_at: i64) -> Result<i32> {
    let code = out.exit_code();
    let summary = report::summary_json(cfg, out, started_at, now_ms(), code);
    if out.complete && !cfg.dry_run {
        let mut text = serde_json::to_vec_pretty(&summary).expect("manifest serializes");
        text.push(b'\n');
        st.write_atomically(state::MANIFEST, &text)?;
    }
    if !cfg.quiet {
        crate::report::eprint(&report::summary_text(cfg, out));
    }
    if let Some(target) = &cfg.summary_json {
        let mut text = serde_json::to_vec_pretty(&summary).expect("summary serializes");
        text.push(b'\n');
        target.write_whole(&text)?;
    }
    if let Some(stop) = &out.stop {
        crate::report::eprint(&format!("track2pipelines: {}\n", report::stop_text(stop)));
    }
    Ok(code)
}

/// `--retry-refused`: the lines to send again, by batch.
type Resend = std::collections::HashMap<u64, std::collections::HashSet<u64>>;

/// `--retry-refused` (docs/send.md): the batches done with refused calls are made not done
/// again: the ledger is rewritten without their lines (atomically, before anything else
/// changes), so their `send-errors.ndjson` entries are dropped like those of any batch not
/// done, and the sender sends only their refused calls, counting the others acknowledged as
/// before. A run stopped on the way leaves them simply not done: the next run sends them.
/// Returns the lines to send again and the new ledger's length.
fn reopen_refused(
    st: &State,
    old: &ledger::Loaded,
    done: &mut std::collections::HashMap<u64, ledger::Record>,
) -> Result<(Resend, u64)> {
    let path = st.path(state::SEND_ERRORS);
    let refused = errors::refused_lines(&path).map_err(|e| Error::io(&path, e))?;
    let resend: Resend = refused
        .into_iter()
        .filter(|(b, _)| done.get(b).is_some_and(|r| r.refused > 0))
        .collect();
    let mut text = serde_json::to_vec(&old.header).expect("header serializes");
    text.push(b'\n');
    if resend.is_empty() {
        return Ok((resend, old.valid_len));
    }
    done.retain(|b, _| !resend.contains_key(b));
    let mut records: Vec<&ledger::Record> = done.values().collect();
    records.sort_by_key(|r| r.batch);
    for r in records {
        serde_json::to_writer(&mut text, r).expect("record serializes");
        text.push(b'\n');
    }
    st.write_atomically(state::LEDGER, &text)?;
    Ok((resend, text.len() as u64))
}

/// Keeps, in `send-errors.ndjson`, only the entries of batches done earlier (a run stopped
/// between writing a batch's entries and its ledger line would otherwise repeat them), and
/// opens it for appending.
fn keep_done_errors(
    st: &State,
    done: &std::collections::HashMap<u64, ledger::Record>,
) -> Result<(std::fs::File, std::path::PathBuf)> {
    use std::io::BufRead;
    let path = st.path(state::SEND_ERRORS);
    match std::fs::File::open(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            st.write_atomically(state::SEND_ERRORS, b"")?;
        }
        Err(e) => return Err(Error::io(&path, e)),
        Ok(f) => {
            // Streamed through a temporary file: the file may be large.
            let (tmp_file, tmp) = st.create_temp(state::SEND_ERRORS)?;
            let copy = || -> std::io::Result<bool> {
                let mut reader = std::io::BufReader::new(f);
                let mut out = std::io::BufWriter::new(tmp_file);
                let (mut line, mut dropped) = (Vec::new(), false);
                loop {
                    line.clear();
                    if reader.read_until(b'\n', &mut line)? == 0 {
                        break;
                    }
                    if line.ends_with(b"\n")
                        && errors::batch_of(&line).is_some_and(|b| done.contains_key(&b))
                    {
                        out.write_all(&line)?;
                    } else {
                        dropped = true;
                    }
                }
                out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
                Ok(dropped)
            };
            match copy() {
                Ok(true) => st.place(&tmp, state::SEND_ERRORS)?,
                Ok(false) => std::fs::remove_file(&tmp).map_err(|e| Error::io(&tmp, e))?,
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(Error::io(&path, e));
                }
            }
        }
    }
    let f = st.open_ours(state::SEND_ERRORS, true)?;
    Ok((f, path))
}

/// Writes each body it would send to `DIR/dry-run/batch-NNNNNN.json`.
fn dry_run(
    st: &State,
    rcfg: &source::ReadConfig,
    inputs: &[source::Input],
    done: &Done,
    errors: (std::fs::File, PathBuf),
    live: &Counters,
    out: &mut Outcome,
) -> Result<()> {
    st.clear_dry_run()?;
    st.make_dir(state::DRY_RUN)?;
    let (mut ef, epath) = errors;
    let mut failure: Option<Error> = None;
    let stats = source::read_all(rcfg, inputs, done, &live.read, |mut b| {
        batch::stamp(&mut b.body, &b.calls, now_ms());
        let mut errs = Vec::new();
        for e in &b.errors {
            errs.extend_from_slice(e);
        }
        let res = ef
            .write_all(&errs)
            .map_err(|e| Error::io(&epath, e))
            .and_then(|()| {
                if b.calls.is_empty() {
                    return Ok(());
                }
                let name = format!("{}/batch-{:06}.json", state::DRY_RUN, b.number);
                let mut f = st.create(&name)?;
                f.write_all(&b.body)
                    .map_err(|e| Error::io(st.path(&name), e))
            });
        if !b.calls.is_empty() {
            out.dry_run_batches += 1;
        }
        match res {
            Ok(()) => true,
            Err(e) => {
                failure = Some(e);
                false
            }
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    ef.sync_all().map_err(|e| Error::io(&epath, e))?;
    out.read = stats;
    Ok(())
}

/// Sends every batch not done yet (and, with `--retry-refused`, the refused calls of
/// `resend`): the reader on a thread of its own, the requests on a small runtime, the ledger
/// on its writer's thread. `state_files` are the state directory's open ledger and error file
/// (with its path), which the ledger writer owns from here on.
fn send(
    cfg: &SendConfig,
    rcfg: &source::ReadConfig,
    inputs: &[source::Input],
    (done, resend): (&Done, &Resend),
    (ledger_file, errors): (std::fs::File, (std::fs::File, PathBuf)),
    live: &Arc<Counters>,
    out: &mut Outcome,
) -> Result<()> {
    let key = cfg.key.as_ref().expect("a key outside --dry-run").expose();
    let client = client::Client::new(&cfg.endpoint, key, cfg.request_timeout, cfg.concurrency)
        .map_err(Error::Usage)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("t2p-send")
        .enable_all()
        .build()
        .map_err(|e| Error::io("tokio runtime", e))?;
    let (btx, brx) = tokio::sync::mpsc::channel::<batch::Batch>(4);
    let (dtx, drx) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let writer = ledger::Writer::spawn((ledger_file, cfg.state.join(state::LEDGER)), errors, dtx);
    let settings = dispatch::Settings {
        rate: cfg.rate,
        concurrency: cfg.concurrency,
        max_retries: cfg.max_retries,
        backoff_base: cfg.retry_backoff,
        backoff_cap: Duration::from_secs(30),
        sources: Arc::new(inputs.iter().map(|i| i.source.name.clone()).collect()),
        cancel: rcfg.cancel.clone(),
        redactor: Arc::new(errors::Redactor::new(Some(key))),
        resend: Arc::new(resend.clone()),
    };
    let (read, (sent, stop)) = std::thread::scope(|s| {
        // The reader owns the sending end: when it is done, the sender sees the end.
        let reader = s.spawn(move || {
            source::read_all(rcfg, inputs, done, &live.read, |b| {
                btx.blocking_send(b).is_ok()
            })
        });
        let ledger_tx = writer.tx.clone();
        let res = runtime.block_on(dispatch::run(
            client,
            settings,
            brx,
            ledger_tx,
            drx,
            Arc::clone(live),
        ));
        (reader.join().expect("the reader does not panic"), res)
    });
    drop(writer.tx);
    let ledger_res = writer
        .thread
        .join()
        .expect("the ledger thread does not panic");
    runtime.shutdown_timeout(Duration::from_millis(100));
    ledger_res?;
    out.read = read?;
    out.sent = sent;
    out.stop = stop;
    Ok(())
}
