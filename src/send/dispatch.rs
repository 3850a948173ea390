//! The sender: one task on a small tokio runtime that takes batches from the reader, paces
//! them (token bucket, 429 pauses, adaptive concurrency), posts them, reads each answer's
//! verdict (acknowledge, retry, split, stop) and hands finished batches to the ledger writer.
//! A batch counts as in flight until its ledger line is durable, so a kill at any moment
//! resends at most `--concurrency` batches.

use super::Live;
use super::batch::{Batch, Span, sub_body};
use super::client::{Client, Outcome};
use super::errors::{self, Code, Entry};
use super::ledger::{Msg, Record};
use super::rate::{Aimd, TokenBucket};
use super::retry::{self, Cause, Verdict};
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;

/// How the sender behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Requests per second at most (0: no limit).
    pub rate: f64,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// Retries per batch for 408, 5xx, timeouts and connection errors.
    pub max_retries: u32,
    /// Backoff before the first retry (doubling up to `backoff_cap`).
    pub backoff_base: Duration,
    /// The longest backoff.
    pub backoff_cap: Duration,
    /// Source names, for refusal entries.
    pub sources: Arc<Vec<Arc<str>>>,
    /// Stops the sending (what is in flight is still awaited) when requested.
    pub cancel: crate::cancel::Cancel,
}

/// Why the sender stopped before the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// 401/403.
    Auth(u16),
    /// A batch used up its retries.
    Exhausted { batch: u64, cause: String },
    /// SIGINT/SIGTERM.
    Interrupted(i32),
    /// The ledger could not be written.
    Ledger,
}

/// What the sender did.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Requests sent, retries included.
    pub requests: u64,
    /// Retries by cause ([`Cause::as_str`]).
    pub retries: BTreeMap<&'static str, u64>,
    /// 429 answers.
    pub rate_limited: u64,
    /// Batches (or halves) split after a 4xx.
    pub splits: u64,
    /// Batches finished and handed to the ledger.
    pub batches_done: u64,
    /// Calls acknowledged.
    pub acknowledged: u64,
    /// Calls refused (single calls still refused after splitting).
    pub refused: u64,
    /// Body bytes sent, retries included.
    pub bytes_sent: u64,
}

struct Job {
    batch: u64,
    body: Bytes,
    spans: Vec<Span>,
    attempts: u32,
    /// The whole batch, not sent yet: its `sentAt` values are still to be set.
    unstamped: bool,
}

struct Tracker {
    batch: Batch,
    outstanding: usize,
    acknowledged: u64,
    refused: u64,
    refusals: Vec<Vec<u8>>,
}

type Done = (Job, Outcome, Duration);

/// Sends every batch `batches` yields; returns what happened and why it stopped early, if
/// it did.
pub async fn run(
    client: Client,
    settings: Settings,
    mut batches: mpsc::Receiver<Batch>,
    ledger: std::sync::mpsc::Sender<Msg>,
    mut durable: mpsc::UnboundedReceiver<usize>,
    live: Arc<Live>,
) -> (Stats, Option<Stop>) {
    let mut st = Stats::default();
    let mut stop: Option<Stop> = None;
    let mut bucket = TokenBucket::new(settings.rate);
    let mut aimd = Aimd::new(settings.concurrency);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    let mut trackers: HashMap<u64, Tracker> = HashMap::new();
    let mut ready: VecDeque<Job> = VecDeque::new();
    let mut later: Vec<(Instant, Job)> = Vec::new();
    let mut held: Option<(Job, Instant)> = None;
    let mut pause_until = Instant::now();
    let mut active = 0usize;
    let mut pending_durable = 0usize;
    let mut input_done = false;
    let mut consecutive_429 = 0u32;

    // Finishes a batch whose calls are all acknowledged or refused.
    let finish = |t: Tracker, st: &mut Stats, pending: &mut usize| -> bool {
        let b = t.batch;
        let record = Record {
            batch: b.number,
            source: b.source,
            first_line: b.first_line,
            last_line: b.last_line,
            calls: b.calls.len() as u64,
            acknowledged: t.acknowledged,
            refused: t.refused,
            invalid: b.invalid,
            skipped: b.skipped,
            sum: format!("{:016x}", b.sum),
        };
        st.batches_done += 1;
        st.acknowledged += t.acknowledged;
        st.refused += t.refused;
        let mut errors = b.errors;
        errors.extend(t.refusals);
        *pending += 1;
        ledger.send(Msg::Done { record, errors }).is_ok()
    };

    loop {
        if stop.is_none() && settings.cancel.is_requested() {
            stop = Some(Stop::Interrupted(settings.cancel.signal()));
        }
        let stopping = stop.is_some();
        let idle = ready.is_empty() && later.is_empty() && held.is_none();
        if active == 0 && pending_durable == 0 && (stopping || (input_done && idle)) {
            break;
        }
        let now = Instant::now();
        let room = !stopping && active + pending_durable < aimd.limit();
        // Retries whose wait is over go first.
        let mut i = 0;
        while i < later.len() {
            if later[i].0 <= now {
                ready.push_back(later.swap_remove(i).1);
            } else {
                i += 1;
            }
        }
        if room && held.is_none() {
            let job = match ready.pop_front() {
                Some(j) => Some(j),
                None if !input_done => match batches.try_recv() {
                    Ok(b) => start_batch(b, &mut trackers, &mut st, &mut pending_durable, &finish)
                        .map_or_else(
                            |ok| {
                                if !ok {
                                    stop = Some(Stop::Ledger);
                                }
                                None
                            },
                            Some,
                        ),
                    Err(mpsc::error::TryRecvError::Empty) => None,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        input_done = true;
                        None
                    }
                },
                None => None,
            };
            if let Some(j) = job {
                let slot = bucket.reserve(now);
                held = Some((j, slot));
            }
        }
        let mut wake = now + Duration::from_millis(50);
        if room && let Some((_, slot)) = &held {
            let go = (*slot).max(pause_until);
            if go <= now {
                let (mut job, _) = held.take().expect("held");
                if job.unstamped {
                    // The batch's first request: its calls' sentAt is now.
                    job.body = stamp(&job.body, &job.spans);
                    job.unstamped = false;
                }
                active += 1;
                st.requests += 1;
                st.bytes_sent += job.body.len() as u64;
                live.requests.fetch_add(1, Ordering::Relaxed);
                live.bytes
                    .fetch_add(job.body.len() as u64, Ordering::Relaxed);
                live.in_flight.store(active as u64, Ordering::Relaxed);
                let client = client.clone();
                let tx = done_tx.clone();
                tokio::spawn(async move {
                    let t0 = Instant::now();
                    let outcome = client.post(job.body.clone()).await;
                    let _ = tx.send((job, outcome, t0.elapsed()));
                });
                continue;
            }
            wake = wake.min(go);
        }
        if let Some(t) = later.iter().map(|(t, _)| *t).min() {
            wake = wake.min(t);
        }
        let take_new = room && held.is_none() && ready.is_empty() && !input_done;
        tokio::select! {
            Some((job, outcome, latency)) = done_rx.recv() => {
                active -= 1;
                live.in_flight.store(active as u64, Ordering::Relaxed);
                let now = Instant::now();
                let mut why = None;
                let (verdict, status, retry_after, answer) = match outcome {
                    Outcome::Answer { status, retry_after, body } => {
                        (retry::classify(status), status, retry_after, body)
                    }
                    Outcome::Timeout => (Verdict::Retry(Cause::Timeout), 0, None, Vec::new()),
                    Outcome::Connection(msg) => {
                        why = Some(msg);
                        (Verdict::Retry(Cause::Connection), 0, None, Vec::new())
                    }
                };
                if verdict != Verdict::RateLimited {
                    consecutive_429 = 0;
                }
                match verdict {
                    Verdict::Ack => {
                        aimd.success(latency, now);
                        let t = trackers.get_mut(&job.batch).expect("tracked");
                        t.acknowledged += job.spans.len() as u64;
                        live.acknowledged.fetch_add(job.spans.len() as u64, Ordering::Relaxed);
                        t.outstanding -= 1;
                        if t.outstanding == 0 {
                            let t = trackers.remove(&job.batch).expect("tracked");
                            if !finish(t, &mut st, &mut pending_durable) {
                                stop = Some(Stop::Ledger);
                            }
                        }
                    }
                    Verdict::RateLimited => {
                        st.rate_limited += 1;
                        live.rate_limited.fetch_add(1, Ordering::Relaxed);
                        consecutive_429 += 1;
                        let wait = retry_after
                            .as_deref()
                            .and_then(|v| retry::parse_retry_after(v, SystemTime::now()))
                            .unwrap_or_else(|| {
                                retry::backoff(consecutive_429, Duration::from_millis(500), Duration::from_secs(60))
                            });
                        pause_until = pause_until.max(now + wait);
                        bucket.pause(pause_until);
                        aimd.decrease(now);
                        if stop.is_none() {
                            ready.push_front(job);
                        }
                    }
                    Verdict::Retry(cause) => {
                        *st.retries.entry(cause.as_str()).or_default() += 1;
                        live.retries.fetch_add(1, Ordering::Relaxed);
                        if cause != Cause::Connection {
                            aimd.decrease(now);
                        }
                        if job.attempts >= settings.max_retries {
                            if stop.is_none() {
                                stop = Some(Stop::Exhausted {
                                    batch: job.batch,
                                    cause: match (status, why) {
                                        (0, Some(msg)) => format!("connection error: {msg}"),
                                        (0, None) => "no answer within --request-timeout".to_owned(),
                                        (s, _) => format!("HTTP {s}"),
                                    },
                                });
                            }
                        } else if stop.is_none() {
                            let mut job = job;
                            job.attempts += 1;
                            let wait = retry::backoff(job.attempts, settings.backoff_base, settings.backoff_cap);
                            later.push((now + wait, job));
                        }
                    }
                    Verdict::Auth => {
                        if !matches!(stop, Some(Stop::Auth(_))) {
                            stop = Some(Stop::Auth(status));
                        }
                    }
                    Verdict::Split => {
                        let t = trackers.get_mut(&job.batch).expect("tracked");
                        if job.spans.len() == 1 {
                            let s = job.spans[0];
                            let raw = &job.body[s.start as usize..(s.start + s.len) as usize];
                            t.refusals.push(errors::line(&Entry {
                                source: &settings.sources[t.batch.source],
                                line: s.line,
                                offset: s.offset,
                                batch: job.batch,
                                code: Code::RefusedByServer,
                                message: &format!("the server refused this call with HTTP {status}"),
                                raw: Some(raw),
                                length: None,
                                answer: Some((status, &answer)),
                            }));
                            t.refused += 1;
                            live.refused.fetch_add(1, Ordering::Relaxed);
                            t.outstanding -= 1;
                            if t.outstanding == 0 {
                                let t = trackers.remove(&job.batch).expect("tracked");
                                if !finish(t, &mut st, &mut pending_durable) {
                                    stop = Some(Stop::Ledger);
                                }
                            }
                        } else if stop.is_none() {
                            st.splits += 1;
                            t.outstanding += 1;
                            let mid = job.spans.len() / 2;
                            let (a, sa) = sub_body(&job.body, &job.spans[..mid]);
                            let (b, sb) = sub_body(&job.body, &job.spans[mid..]);
                            ready.push_front(Job { batch: job.batch, body: Bytes::from(b), spans: sb, attempts: 0, unstamped: false });
                            ready.push_front(Job { batch: job.batch, body: Bytes::from(a), spans: sa, attempts: 0, unstamped: false });
                        }
                    }
                }
            }
            n = durable.recv() => {
                match n {
                    Some(n) => pending_durable -= n,
                    None => {
                        // The ledger writer is gone (an I/O error): nothing more is durable.
                        pending_durable = 0;
                        stop.get_or_insert(Stop::Ledger);
                    }
                }
            }
            b = batches.recv(), if take_new => {
                match b {
                    Some(b) => {
                        match start_batch(b, &mut trackers, &mut st, &mut pending_durable, &finish) {
                            Ok(job) => held = Some((job, bucket.reserve(Instant::now()))),
                            Err(true) => {}
                            Err(false) => { stop.get_or_insert(Stop::Ledger); }
                        }
                    }
                    None => input_done = true,
                }
            }
            _ = tokio::time::sleep_until(wake.into()) => {}
        }
    }
    (st, stop)
}

/// Tracks a new batch; a batch without calls (only lines not sent) is done at once
/// (`Err(ledger ok)`), otherwise its first job.
fn start_batch(
    b: Batch,
    trackers: &mut HashMap<u64, Tracker>,
    st: &mut Stats,
    pending: &mut usize,
    finish: &impl Fn(Tracker, &mut Stats, &mut usize) -> bool,
) -> Result<Job, bool> {
    let mut b = b;
    let body = std::mem::take(&mut b.body);
    let t = Tracker {
        outstanding: 1,
        acknowledged: 0,
        refused: 0,
        refusals: Vec::new(),
        batch: b,
    };
    if t.batch.calls.is_empty() {
        return Err(finish(t, st, pending));
    }
    let job = Job {
        batch: t.batch.number,
        body: Bytes::from(body),
        spans: t.batch.calls.clone(),
        attempts: 0,
        unstamped: true,
    };
    trackers.insert(job.batch, t);
    Ok(job)
}

/// The body with every call's `sentAt` set to now.
fn stamp(body: &Bytes, spans: &[Span]) -> Bytes {
    if spans.iter().all(|s| s.sent_at.is_none()) {
        return body.clone();
    }
    let now = super::now_ms();
    let ts = crate::time::format(now);
    let mut v = body.to_vec();
    for s in spans {
        if let Some(p) = s.sent_at {
            v[p as usize..p as usize + ts.len()].copy_from_slice(&ts);
        }
    }
    Bytes::from(v)
}
