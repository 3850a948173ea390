//! `send`: delivers calls to the Data Pipelines HTTP API, at least once, resumably, within the
//! API's limits (docs/send.md).
//!
//! Modules: [`args`] the flags; [`source`] resolves, checks and reads the inputs;
//! [`call`] checks one call and sets its `sentAt`; [`batch`] packs calls into bodies;
//! [`rate`] paces (token bucket, adaptive concurrency); [`retry`] reads answers;
//! [`client`] is the HTTP side; [`dispatch`] drives the requests; [`ledger`] and [`state`]
//! own the state directory; [`track`] converts Track archives first (`--from track`);
//! [`report`] is what the user sees. This module wires them together.
//!
//! Shards (`--shard K/N`, docs/send.md): only convert output directories may be sharded
//! ([`source::check_shardable`]); their part files, in the manifests' order, are cut into N
//! contiguous groups of nearly equal bytes, whole files only ([`source::take_share`], the split
//! of [`crate::shard::split`] with no file splittable), and only group K is checked and sent.
//! Everything after that is the plain send of those files; the shard is part of the state's
//! identity, so a state made for another shard (or for no shard) is refused.

pub mod batch;
pub mod call;
pub mod client;
pub mod dispatch;
pub mod errors;
pub mod ledger;
pub mod rate;
pub mod report;
pub mod retry;
pub mod source;
pub mod state;
pub mod track;

use crate::cli::send::{FromArg, RecentArg, Region, SendArgs, SentAtArg};
use crate::error::{Error, Result};
use call::SentAt;
use state::State;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Calls this much younger than now are "recent" (Customer.io may trigger campaigns from them).
pub const RECENT: Duration = Duration::from_secs(72 * 3600);

/// Live counters for the progress bar.
#[derive(Debug, Default)]
pub struct Live {
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

/// The validated options of one send.
pub struct Plan {
    /// The flags as given.
    pub args: SendArgs,
    /// The base URL (`--endpoint`, else the region's).
    pub endpoint: String,
    /// The write key (none only with `--dry-run`); never written anywhere.
    pub key: Option<String>,
    /// `--sent-at`.
    pub sent_at: SentAt,
    /// The size limit of one call as sent.
    pub max_call_bytes: usize,
    /// The command line, for the manifest.
    pub command_line: Vec<String>,
    /// `--shard K/N`: send only this share of the part files.
    pub shard: Option<crate::config::Shard>,
    /// Stops the run when requested (SIGINT, SIGTERM).
    pub cancel: crate::cancel::Cancel,
    /// `--since`, `--until`, `--types`, `--events`, `--exclude-events`, `--transform`
    /// (docs/transforms.md), checked and compiled before anything is written.
    pub select: Option<std::sync::Arc<crate::select::Selection>>,
}

/// Runs `send`; returns the exit status.
pub fn main(args: SendArgs, command_line: Vec<String>, cancel: crate::cancel::Cancel) -> i32 {
    let plan = match validate(args, command_line) {
        Ok(p) => Plan { cancel, ..p },
        Err(e) => return fail(&e),
    };
    match run(plan) {
        Ok(code) => code,
        Err(e) => fail(&e),
    }
}

fn fail(e: &Error) -> i32 {
    crate::report::eprint(&format!("track2pipelines: error: {e}\n"));
    e.exit_code()
}

fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

fn validate(args: SendArgs, command_line: Vec<String>) -> Result<Plan> {
    if !(args.rate.is_finite() && args.rate >= 0.0) {
        return Err(usage(
            "--rate must be a number of requests per second, 0 or more",
        ));
    }
    if !(1..=1024).contains(&args.concurrency) {
        return Err(usage("--concurrency must be between 1 and 1024"));
    }
    if args.max_batch_calls == 0 {
        return Err(usage("--max-batch-calls must be at least 1"));
    }
    if args.request_timeout.is_zero() {
        return Err(usage("--request-timeout must be more than 0"));
    }
    let max_call_bytes = match args.common.max_call_bytes {
        0 => (args.max_batch_bytes as usize).saturating_sub(batch::FRAME_BYTES),
        n => n as usize,
    };
    if (args.max_batch_bytes as usize) < max_call_bytes + batch::FRAME_BYTES {
        return Err(usage(format!(
            "--max-batch-bytes must be at least --max-call-bytes + {} ({})",
            batch::FRAME_BYTES,
            max_call_bytes + batch::FRAME_BYTES
        )));
    }
    if args.max_batch_bytes > u32::MAX as u64 {
        return Err(usage("--max-batch-bytes is too large"));
    }
    let endpoint = match (&args.endpoint, args.region) {
        (Some(e), _) => e.trim_end_matches('/').to_owned(),
        (None, Region::Us) => "https://cdp.customer.io/v1".to_owned(),
        (None, Region::Eu) => "https://cdp-eu.customer.io/v1".to_owned(),
    };
    client::batch_url(&endpoint).map_err(Error::Usage)?;
    let key = match &args.write_key_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                usage(format!(
                    "cannot read --write-key-file {}: {e}",
                    path.display()
                ))
            })?;
            Some(text.trim().to_owned())
        }
        None => std::env::var("CIO_WRITE_KEY")
            .ok()
            .map(|k| k.trim().to_owned()),
    }
    .filter(|k| !k.is_empty());
    if key.is_none() && !args.dry_run {
        return Err(usage(
            "no write key: set CIO_WRITE_KEY or give --write-key-file FILE",
        ));
    }
    if let Some(k) = &key
        && k.bytes().any(|b| b.is_ascii_control())
    {
        return Err(usage("the write key holds control characters"));
    }
    if let Some(p) = &args.common.summary_json {
        let dir = p
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        if !dir.is_dir() {
            return Err(usage(format!(
                "--summary-json {}: its directory does not exist",
                p.display()
            )));
        }
        let abs =
            |x: &std::path::Path| std::fs::canonicalize(x).unwrap_or_else(|_| x.to_path_buf());
        if abs(dir).starts_with(abs(&args.state)) {
            return Err(usage(
                "--summary-json may not lie inside the state directory",
            ));
        }
    }
    let shard = args
        .shard
        .as_deref()
        .map(|s| crate::config::Shard::parse(s, |v| std::env::var(v).ok()))
        .transpose()?;
    if shard.is_some() && args.from.is_some() {
        return Err(usage(
            "--shard sends a share of convert output directories; with --from track, convert \
             the archives with convert --shard first, merge them, then send the output with \
             --shard",
        ));
    }
    let sent_at = match args.sent_at {
        SentAtArg::Send => SentAt::Send,
        SentAtArg::Keep => SentAt::Keep,
        SentAtArg::Omit => SentAt::Omit,
    };
    let select = args.common.select.selection()?;
    Ok(Plan {
        select,
        args,
        endpoint,
        key,
        sent_at,
        max_call_bytes,
        command_line,
        shard,
        cancel: crate::cancel::Cancel::new(),
    })
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

fn run(plan: Plan) -> Result<i32> {
    let started = Instant::now();
    let started_at = now_ms();
    let a = &plan.args;
    let st = State::open(&a.state, a.restart)?;
    let old = ledger::load(&st.path(state::LEDGER))?;
    let mut identity = serde_json::json!({
        "endpoint": plan.endpoint,
        "sent_at": plan.sent_at.as_str(),
        "max_batch_bytes": a.max_batch_bytes,
        "max_batch_calls": a.max_batch_calls,
        "max_call_bytes": plan.max_call_bytes,
        "limit": a.limit,
        "recent": if a.recent == RecentArg::Skip { "skip" } else { "send" },
        "select": plan.select.as_ref().map(|s| s.identity()),
    });
    let (mut inputs, conversion) = if a.from == Some(FromArg::Track) {
        let conv = track::prepare(&plan, &st, old.as_ref(), &mut identity)?;
        let inputs = source::resolve(
            &[st.path(state::CONVERTED).to_string_lossy().into_owned()],
            &st.dir,
            true,
        )?;
        (inputs, Some(conv))
    } else {
        let given: Vec<String> = a
            .common
            .inputs
            .iter()
            .map(|i| i.to_string_lossy().into_owned())
            .collect();
        if plan.shard.is_some() {
            source::check_shardable(&given)?;
        }
        (source::resolve(&given, &st.dir, false)?, None)
    };
    if let Some(shard) = plan.shard {
        inputs = source::take_share(inputs, shard);
        identity["shard"] = serde_json::json!({ "index": shard.index, "count": shard.count });
    }
    source::verify(&mut inputs)?;
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
    let done = match &old {
        Some(l) if l.header.identity["shard"] != identity["shard"] => {
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
        Some(l) if l.header.identity != identity => {
            return Err(usage(format!(
                "the state directory {} was made for other inputs or options; run the same \
                 command as before to resume, or add --restart to start over",
                st.dir.display()
            )));
        }
        Some(l) => l.done.clone(),
        None => Default::default(),
    };
    let cutoff = now_ms() - RECENT.as_millis() as i64;
    let (total, recent) = source::count(&inputs, cutoff, plan.max_call_bytes as u64 + (64 << 10))?;
    if recent > 0 {
        crate::report::eprint(&format!(
            "track2pipelines: warning: {} call{} less than 72 hours old: Customer.io may trigger \
             campaigns from them ({})\n",
            crate::report::group(recent),
            if recent == 1 { " is" } else { "s are" },
            match a.recent {
                RecentArg::Allow => "sending them; --recent skip leaves them out",
                RecentArg::Skip => "--recent skip: leaving them out",
                RecentArg::Fail => "--recent fail: nothing is sent",
            }
        ));
        if a.recent == RecentArg::Fail {
            return Err(usage(format!(
                "{recent} recent calls and --recent fail; nothing was sent"
            )));
        }
    }
    // From here on the state changes.
    let ledger_path = st.path(state::LEDGER);
    let ledger_file = if a.dry_run {
        None
    } else {
        let _ = std::fs::remove_file(st.path(state::MANIFEST));
        Some(match &old {
            Some(l) => ledger::reopen(&ledger_path, l.valid_len)?,
            None => ledger::create(&ledger_path, &identity)?,
        })
    };
    let errors_file = keep_done_errors(&st, &done)?;
    let live = Arc::new(Live::default());
    if let Some(t) = total {
        let limited = a.limit.map_or(t, |l| l.min(t));
        live.total.store(limited, Ordering::Relaxed);
    }
    let progress = report::Progress::start(&plan, Arc::clone(&live));
    let rcfg = source::ReadConfig {
        sent_at: plan.sent_at,
        max_call_bytes: plan.max_call_bytes,
        max_batch_bytes: a.max_batch_bytes as usize,
        max_batch_calls: a.max_batch_calls,
        limit: a.limit,
        recent_cutoff: cutoff,
        skip_recent: a.recent == RecentArg::Skip,
        cancel: plan.cancel.clone(),
        // With --from track the conversion applied the selection already.
        select: plan
            .select
            .clone()
            .filter(|_| a.from != Some(FromArg::Track)),
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
    let result = if a.dry_run {
        dry_run(&st, &rcfg, &inputs, &done, errors_file, &live, &mut out)
    } else {
        send(
            &plan,
            &rcfg,
            &inputs,
            &done,
            (ledger_file.expect("a ledger"), errors_file),
            &live,
            &mut out,
        )
    };
    progress.finish();
    result?;
    out.elapsed = started.elapsed();
    out.complete = out.stop.is_none();
    let code = out.exit_code();
    let summary = report::summary_json(&plan, &out, started_at, now_ms(), code);
    if out.complete && !a.dry_run {
        let mut text = serde_json::to_vec_pretty(&summary).expect("manifest serializes");
        text.push(b'\n');
        state::write_atomically(&st.dir, state::MANIFEST, &text)?;
    }
    if !a.common.quiet {
        crate::report::eprint(&report::summary_text(&plan, &out));
    }
    if let Some(p) = &a.common.summary_json {
        let mut text = serde_json::to_vec_pretty(&summary).expect("summary serializes");
        text.push(b'\n');
        std::fs::write(p, text).map_err(|e| Error::io(p, e))?;
    }
    if let Some(stop) = &out.stop {
        crate::report::eprint(&format!("track2pipelines: {}\n", report::stop_text(stop)));
    }
    Ok(code)
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
            state::write_atomically(&st.dir, state::SEND_ERRORS, b"")?;
        }
        Err(e) => return Err(Error::io(&path, e)),
        Ok(f) => {
            // Streamed through a temporary file: the file may be large.
            let tmp = st.path(".send-errors.ndjson.partial");
            let copy = || -> std::io::Result<bool> {
                let mut reader = std::io::BufReader::new(f);
                let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
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
                Ok(true) => std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?,
                Ok(false) => std::fs::remove_file(&tmp).map_err(|e| Error::io(&tmp, e))?,
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(Error::io(&path, e));
                }
            }
        }
    }
    let f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    Ok((f, path))
}

/// Writes each body it would send to `DIR/dry-run/batch-NNNNNN.json`.
fn dry_run(
    st: &State,
    rcfg: &source::ReadConfig,
    inputs: &[source::Input],
    done: &std::collections::HashMap<u64, ledger::Record>,
    errors: (std::fs::File, std::path::PathBuf),
    live: &Live,
    out: &mut Outcome,
) -> Result<()> {
    st.clear_dry_run()?;
    let dir = st.path(state::DRY_RUN);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let (mut ef, epath) = errors;
    let mut failure: Option<Error> = None;
    let stats = source::read_all(rcfg, inputs, done, &live.read, |mut b| {
        let ts = crate::time::format(now_ms());
        for s in &b.calls {
            if let Some(p) = s.sent_at {
                b.body[p as usize..p as usize + ts.len()].copy_from_slice(&ts);
            }
        }
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
                let p = dir.join(format!("batch-{:06}.json", b.number));
                std::fs::write(&p, &b.body).map_err(|e| Error::io(&p, e))
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

/// Sends every batch not done yet; `state_files` are the state directory's open ledger and
/// error file (with its path), which the ledger writer owns from here on.
fn send(
    plan: &Plan,
    rcfg: &source::ReadConfig,
    inputs: &[source::Input],
    done: &std::collections::HashMap<u64, ledger::Record>,
    (ledger_file, errors): (std::fs::File, (std::fs::File, std::path::PathBuf)),
    live: &Arc<Live>,
    out: &mut Outcome,
) -> Result<()> {
    let a = &plan.args;
    let key = plan.key.as_deref().expect("a key outside --dry-run");
    let client = client::Client::new(&plan.endpoint, key, a.request_timeout, a.concurrency)
        .map_err(Error::Usage)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("t2p-send")
        .enable_all()
        .build()
        .map_err(|e| Error::io("tokio runtime", e))?;
    let (btx, brx) = tokio::sync::mpsc::channel::<batch::Batch>(4);
    let (dtx, drx) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let writer = ledger::Writer::spawn((ledger_file, st_path(plan, state::LEDGER)), errors, dtx);
    let settings = dispatch::Settings {
        rate: a.rate,
        concurrency: a.concurrency,
        max_retries: a.max_retries,
        backoff_base: a.retry_backoff,
        backoff_cap: Duration::from_secs(30),
        sources: Arc::new(inputs.iter().map(|i| i.source.name.clone()).collect()),
        cancel: plan.cancel.clone(),
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

fn st_path(plan: &Plan, name: &str) -> std::path::PathBuf {
    plan.args.state.join(name)
}
