//! The sender: one task on a small tokio runtime that takes batches from the reader, paces
//! them (token bucket, 429 pauses, adaptive concurrency: [`super::rate`]), posts them through
//! a [`Transport`] (the HTTP side, [`super::client`]) and moves each request that comes back
//! through one named transition of a state machine: [`Sender::acknowledge`],
//! [`Sender::retry`], [`Sender::wait_on_429`], [`Sender::split`], [`Sender::refuse`] or
//! [`Sender::stop`]. What an answer means is decided in [`super::retry`]; finished batches go
//! to the ledger writer ([`super::ledger`]). A batch counts as in flight
//! until its ledger line is durable, so a kill at any moment resends at most `--concurrency`
//! batches.
//!
//! Until the endpoint has acknowledged one call, a batch that ends with refused calls is held
//! back (parked): if the endpoint turns out to refuse everything (docs/send.md), the run stops
//! and those calls stay unacknowledged instead of being recorded as refused.

use super::Counters;
use super::batch::{Batch, Span, line_of, sub_body};
use super::client::{ANSWER_BYTES, Reply, Route, Transport};
use super::errors::{self, Redactor, SendCode, SendEntry};
use super::ledger::{Msg, Record};
use super::rate::{Aimd, TokenBucket};
use super::retry::{Attempt, Cause, Judge, REFUSING_REQUESTS, Step};
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;

pub use super::retry::Stop;

/// How the sender behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Requests per second at most (0: no limit).
    pub rate: f64,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// Retries per batch for 408, 5xx, timeouts and connection errors; 429s in a row.
    pub max_retries: u32,
    /// Backoff before the first retry (doubling up to `backoff_cap`).
    pub backoff_base: Duration,
    /// The longest backoff.
    pub backoff_cap: Duration,
    /// Source names, for refusal entries.
    pub sources: Arc<Vec<Arc<str>>>,
    /// Stops the sending (what is in flight is still awaited) when requested.
    pub cancel: crate::cancel::Cancel,
    /// Keeps the key out of stored answers and messages.
    pub redactor: Arc<Redactor>,
    /// `--retry-refused`: for each batch sent again, the lines of the calls to send (the
    /// others were acknowledged before).
    pub resend: Arc<HashMap<u64, HashSet<u64>>>,
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

/// One request's worth of calls: a whole batch, or a part of one after splits.
struct Request {
    route: Route,
    body: Bytes,
    spans: Vec<Span>,
    attempt: Attempt,
    /// The whole batch, not sent yet: its `sentAt` values are still to be set.
    unstamped: bool,
}

/// A batch whose requests are not all settled.
struct Tracker {
    batch: Batch,
    /// Its place among the batches started in this run (0, 1, 2, …): batch numbers skip
    /// those done before (a resumed run, `--retry-refused`).
    started: u64,
    outstanding: usize,
    acknowledged: u64,
    refused: u64,
    refusals: Vec<Vec<u8>>,
}

type Done = (Request, Reply, Duration);

/// The sender's state between two events.
struct Sender {
    settings: Settings,
    judge: Judge,
    stats: Stats,
    stop: Option<Stop>,
    bucket: TokenBucket,
    aimd: Aimd,
    trackers: HashMap<u64, Tracker>,
    /// Jobs to send next (splits and 429s first), then the retries waiting out a backoff.
    ready: VecDeque<Request>,
    later: Vec<(Instant, Request)>,
    /// The next job and the slot the token bucket gave it.
    held: Option<(Request, Instant)>,
    pause_until: Instant,
    active: usize,
    pending_durable: usize,
    input_done: bool,
    /// Batches done with refusals before anything was acknowledged.
    parked: Vec<Tracker>,
    /// A batch read but not started: it is `--concurrency` or more batches after the oldest
    /// one not done (see [`Sender::in_window`]).
    waiting: Option<Batch>,
    /// Batches started so far (the next one's [`Tracker::started`]).
    started: u64,
    ledger: std::sync::mpsc::Sender<Msg>,
    live: Arc<Counters>,
}

/// Sends every batch `batches` yields through `transport`; returns what happened and why it
/// stopped early, if it did.
pub async fn run<T: Transport>(
    transport: T,
    settings: Settings,
    mut batches: mpsc::Receiver<Batch>,
    ledger: std::sync::mpsc::Sender<Msg>,
    mut durable: mpsc::UnboundedReceiver<usize>,
    live: Arc<Counters>,
) -> (Stats, Option<Stop>) {
    let mut s = Sender::new(settings, ledger, live);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    loop {
        s.check_cancel();
        s.release_parked();
        if s.finished() {
            break;
        }
        let now = Instant::now();
        s.wake_retries(now);
        if s.wants_job() {
            let next = match s.ready.pop_front() {
                Some(j) => Some(j),
                None if s.waiting.is_some() => s.admit_waiting(),
                None if !s.input_done => match batches.try_recv() {
                    Ok(b) => s.admit(b),
                    Err(mpsc::error::TryRecvError::Empty) => None,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        s.input_done = true;
                        None
                    }
                },
                None => None,
            };
            s.hold(next, now);
        }
        if let Some(job) = s.take_due(now) {
            let (transport, tx) = (transport.clone(), done_tx.clone());
            tokio::spawn(async move {
                let t0 = Instant::now();
                let outcome = transport.post(job.route, job.body.clone()).await;
                let _ = tx.send((job, outcome, t0.elapsed()));
            });
            continue;
        }
        let wake = s.next_wake(now);
        let take_new = s.wants_job() && s.ready.is_empty() && s.waiting.is_none() && !s.input_done;
        tokio::select! {
            Some((job, outcome, latency)) = done_rx.recv() => s.answered(job, outcome, latency),
            n = durable.recv() => s.durable(n),
            b = batches.recv(), if take_new => match b {
                Some(b) => {
                    let job = s.admit(b);
                    s.hold(job, Instant::now());
                }
                None => s.input_done = true,
            },
            _ = tokio::time::sleep_until(wake.into()) => {}
        }
    }
    (s.stats, s.stop)
}

impl Sender {
    fn new(
        settings: Settings,
        ledger: std::sync::mpsc::Sender<Msg>,
        live: Arc<Counters>,
    ) -> Sender {
        Sender {
            judge: Judge::new(
                settings.max_retries,
                settings.backoff_base,
                settings.backoff_cap,
            ),
            stats: Stats::default(),
            stop: None,
            bucket: TokenBucket::new(settings.rate),
            aimd: Aimd::new(settings.concurrency),
            trackers: HashMap::new(),
            ready: VecDeque::new(),
            later: Vec::new(),
            held: None,
            pause_until: Instant::now(),
            active: 0,
            pending_durable: 0,
            input_done: false,
            parked: Vec::new(),
            waiting: None,
            started: 0,
            settings,
            ledger,
            live,
        }
    }

    fn check_cancel(&mut self) {
        if self.stop.is_none() && self.settings.cancel.is_requested() {
            self.stop = Some(Stop::Interrupted(self.settings.cancel.signal()));
        }
    }

    fn idle(&self) -> bool {
        self.ready.is_empty()
            && self.later.is_empty()
            && self.held.is_none()
            && self.waiting.is_none()
    }

    /// May the next batch start? Only while it is fewer than `--concurrency` (the current
    /// limit) batches after the oldest one not done, so that a batch waiting out a retry is
    /// overtaken by fewer than `--concurrency` later batches (docs/send.md, order). Counted
    /// in batches started, not batch numbers, which skip those an earlier run did.
    fn in_window(&self) -> bool {
        let limit = self.aimd.limit() as u64;
        self.trackers
            .values()
            .map(|t| t.started)
            .min()
            .is_none_or(|oldest| self.started < oldest + limit)
    }

    /// Starts `b` when the window allows, else keeps it until it does.
    fn admit(&mut self, b: Batch) -> Option<Request> {
        if self.in_window() {
            self.start_batch(b)
        } else {
            self.waiting = Some(b);
            None
        }
    }

    /// Starts the waiting batch once the window allows it.
    fn admit_waiting(&mut self) -> Option<Request> {
        if self.waiting.is_none() || !self.in_window() {
            return None;
        }
        let b = self.waiting.take()?;
        self.start_batch(b)
    }

    /// Nothing in flight, nothing to make durable, and either stopped or out of work.
    fn finished(&self) -> bool {
        self.active == 0
            && self.pending_durable == 0
            && (self.stop.is_some() || (self.input_done && self.idle() && self.parked.is_empty()))
    }

    /// A retry waiting out its backoff keeps its place among the requests in flight.
    fn has_room(&self) -> bool {
        self.stop.is_none()
            && self.active + self.pending_durable + self.later.len() < self.aimd.limit()
    }

    fn wants_job(&self) -> bool {
        self.has_room() && self.held.is_none()
    }

    /// Retries whose wait is over go first.
    fn wake_retries(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.later.len() {
            if self.later[i].0 <= now {
                self.ready.push_back(self.later.swap_remove(i).1);
            } else {
                i += 1;
            }
        }
    }

    fn hold(&mut self, job: Option<Request>, now: Instant) {
        if let Some(j) = job {
            self.held = Some((j, self.bucket.reserve(now)));
        }
    }

    /// The held job, when its slot (and any 429 pause) has come, counted as sent.
    fn take_due(&mut self, now: Instant) -> Option<Request> {
        let slot = self.held.as_ref()?.1;
        if !self.has_room() || slot.max(self.pause_until) > now {
            return None;
        }
        let (mut job, _) = self.held.take()?;
        if job.unstamped {
            // The batch's first request: its calls' sentAt is now.
            job.body = stamp(&job.body, &job.spans);
            job.unstamped = false;
        }
        self.active += 1;
        self.stats.requests += 1;
        self.stats.bytes_sent += job.body.len() as u64;
        let live = &self.live;
        live.requests.fetch_add(1, Ordering::Relaxed);
        live.bytes
            .fetch_add(job.body.len() as u64, Ordering::Relaxed);
        live.in_flight.store(self.active as u64, Ordering::Relaxed);
        Some(job)
    }

    fn next_wake(&self, now: Instant) -> Instant {
        let mut wake = now + Duration::from_millis(50);
        if self.has_room()
            && let Some((_, slot)) = &self.held
        {
            wake = wake.min((*slot).max(self.pause_until));
        }
        if let Some(t) = self.later.iter().map(|(t, _)| *t).min() {
            wake = wake.min(t);
        }
        wake
    }

    fn durable(&mut self, n: Option<usize>) {
        match n {
            Some(n) => self.pending_durable -= n,
            None => {
                // The ledger writer is gone (an I/O error): nothing more is durable.
                self.pending_durable = 0;
                self.stop(Stop::Ledger);
            }
        }
    }

    /// Tracks a new batch; its first job, or none when it has no call to send (it is done
    /// at once).
    fn start_batch(&mut self, mut b: Batch) -> Option<Request> {
        let mut body = Bytes::from(std::mem::take(&mut b.body));
        let mut spans = b.calls.clone();
        let mut acknowledged = 0;
        if let Some(lines) = self.settings.resend.get(&b.number) {
            // --retry-refused: only the calls refused before; the others were acknowledged.
            spans.retain(|s| lines.contains(&line_of(s.at)));
            acknowledged = (b.calls.len() - spans.len()) as u64;
            if b.route == Route::Batch && spans.len() < b.calls.len() {
                let (sub, sub_spans) = sub_body(&body, &spans);
                (body, spans) = (Bytes::from(sub), sub_spans);
            }
        }
        let t = Tracker {
            started: self.started,
            outstanding: 1,
            acknowledged,
            refused: 0,
            refusals: Vec::new(),
            batch: b,
        };
        if spans.is_empty() {
            self.finish(t);
            return None;
        }
        let job = Request {
            route: t.batch.route,
            body,
            attempt: attempt(t.batch.number, &spans),
            spans,
            unstamped: true,
        };
        self.started += 1;
        self.trackers.insert(t.batch.number, t);
        Some(job)
    }

    /// A request came back: judge it, then take the transition it calls for.
    fn answered(&mut self, mut job: Request, outcome: Reply, latency: Duration) {
        self.active -= 1;
        self.live
            .in_flight
            .store(self.active as u64, Ordering::Relaxed);
        let step = self
            .judge
            .judge(&mut job.attempt, &outcome, SystemTime::now());
        let now = Instant::now();
        match step {
            Step::Acknowledge => self.acknowledge(job, latency, now),
            Step::Retry { cause, wait } => self.retry(job, cause, now + wait, now),
            Step::WaitOn429 { wait } => self.wait_on_429(job, now + wait, now),
            Step::Split => self.split(job),
            Step::Refuse { status } => {
                let body = match &outcome {
                    Reply::Answer { body, .. } => body.as_slice(),
                    _ => &[],
                };
                self.refuse(job, status, body);
            }
            Step::Stop(stop) => self.stop(stop),
        }
    }

    fn acknowledge(&mut self, job: Request, latency: Duration, now: Instant) {
        self.aimd.success(latency, now);
        let n = job.spans.len() as u64;
        self.live.acknowledged.fetch_add(n, Ordering::Relaxed);
        self.settle(job.attempt.batch, |t| t.acknowledged += n);
    }

    fn retry(&mut self, job: Request, cause: Cause, at: Instant, now: Instant) {
        *self.stats.retries.entry(cause.as_str()).or_default() += 1;
        self.live.retries.fetch_add(1, Ordering::Relaxed);
        if cause != Cause::Connection {
            self.aimd.decrease(now);
        }
        if self.stop.is_none() {
            self.later.push((at, job));
        }
    }

    /// Pauses the whole sender until `until`; the job goes again first.
    fn wait_on_429(&mut self, job: Request, until: Instant, now: Instant) {
        self.stats.rate_limited += 1;
        self.live.rate_limited.fetch_add(1, Ordering::Relaxed);
        self.pause_until = self.pause_until.max(until);
        self.bucket.pause(self.pause_until);
        self.aimd.decrease(now);
        if self.stop.is_none() {
            self.ready.push_front(job);
        }
    }

    /// Sends the two halves instead (the first half first).
    fn split(&mut self, job: Request) {
        if self.stop.is_some() {
            return;
        }
        self.stats.splits += 1;
        if let Some(t) = self.trackers.get_mut(&job.attempt.batch) {
            t.outstanding += 1;
        }
        let mid = job.spans.len() / 2;
        for part in [&job.spans[mid..], &job.spans[..mid]] {
            let (body, spans) = sub_body(&job.body, part);
            self.ready.push_front(Request {
                route: job.route,
                body: Bytes::from(body),
                attempt: attempt(job.attempt.batch, &spans),
                spans,
                unstamped: false,
            });
        }
    }

    /// Records the job's single call as refused, with the server's (redacted) answer.
    fn refuse(&mut self, job: Request, status: u16, answer: &[u8]) {
        if self.stop.is_some() {
            // Stopped meanwhile: the call stays unacknowledged rather than refused.
            return;
        }
        let s = job.spans[0];
        let raw = &job.body[s.start as usize..(s.start + s.len) as usize];
        // Redacted before the cut, so a key the cut would split is whole when it goes.
        let mut answer = self.settings.redactor.redact(answer);
        answer.truncate(ANSWER_BYTES);
        let sources = Arc::clone(&self.settings.sources);
        self.live.refused.fetch_add(1, Ordering::Relaxed);
        self.settle(job.attempt.batch, |t| {
            t.refusals.push(errors::line(&SendEntry {
                source: &sources[t.batch.source],
                at: s.at,
                batch: t.batch.number,
                code: SendCode::RefusedByServer,
                message: &format!("the server refused this call with HTTP {status}"),
                raw: Some(raw),
                length: None,
                answer: Some((status, &answer)),
            }));
            t.refused += 1;
        });
    }

    /// Stops the run (the first reason is kept, but a refused key wins); what is in flight
    /// settles, and nothing more is sent.
    fn stop(&mut self, stop: Stop) {
        let stop = match stop {
            Stop::Redirect { status, location } => Stop::Redirect {
                status,
                location: location.map(|l| self.settings.redactor.redact_str(&l)),
            },
            Stop::Exhausted { batch, cause } => Stop::Exhausted {
                batch,
                cause: self.settings.redactor.redact_str(&cause),
            },
            Stop::NotTheApi { status, answer } => Stop::NotTheApi {
                status,
                answer: first_chars(&self.settings.redactor.redact_str(&answer), 120),
            },
            other => other,
        };
        let replace = match (&self.stop, &stop) {
            (None, _) => true,
            (Some(Stop::Auth(_)), _) => false,
            (Some(_), new) => matches!(new, Stop::Auth(_)),
        };
        if replace {
            self.stop = Some(stop);
        }
    }

    /// One request of a batch is settled (`apply` books it); the batch is done when none is
    /// left. The finishing code shared by acknowledgements and refusals.
    fn settle(&mut self, batch: u64, apply: impl FnOnce(&mut Tracker)) {
        let Some(t) = self.trackers.get_mut(&batch) else {
            return;
        };
        apply(t);
        t.outstanding -= 1;
        if t.outstanding > 0 {
            return;
        }
        let t = self.trackers.remove(&batch).expect("tracked");
        if t.refused > 0 && !self.judge.accepted() {
            self.parked.push(t);
        } else {
            self.finish(t);
        }
    }

    /// Parked batches go to the ledger when [`release_parked_now`] says so.
    fn release_parked(&mut self) {
        if self.parked.is_empty() || self.stop.is_some() {
            return;
        }
        let held = Held {
            batches: self.parked.len(),
            refusals: self.parked.iter().map(|t| t.refusals.len()).sum(),
        };
        let quiet = self.active == 0 && self.idle();
        let keep = self.aimd.limit().max(REFUSING_REQUESTS as usize);
        if release_parked_now(self.judge.accepted(), quiet, self.input_done, held, keep) {
            for t in std::mem::take(&mut self.parked) {
                self.finish(t);
            }
        }
    }

    /// Hands a batch whose calls are all acknowledged or refused to the ledger writer.
    fn finish(&mut self, t: Tracker) {
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
        self.stats.batches_done += 1;
        self.stats.acknowledged += t.acknowledged;
        self.stats.refused += t.refused;
        let mut errors = b.errors;
        errors.extend(t.refusals);
        self.pending_durable += 1;
        if self.ledger.send(Msg::Done { record, errors }).is_err() {
            self.stop(Stop::Ledger);
        }
    }
}

/// What the parked batches hold: batches, and refused calls (each with its raw text and the
/// server's answer).
#[derive(Debug, Clone, Copy)]
struct Held {
    batches: usize,
    refusals: usize,
}

/// The most refused calls parked at once: past it they are recorded, so memory stays bounded
/// whatever the endpoint answers (at most 32 KiB of call and 4 KiB of answer each).
const PARKED_REFUSALS: usize = 1000;

/// Do the parked batches (refused before anything was acknowledged) go to the ledger now?
/// Yes once a call was acknowledged or refused in the API's words (`accepted`: the endpoint
/// works), at the end of a run that did not stop, once `keep` batches (at least the refusals
/// that make an endpoint refusing everything) are parked and nothing else is in flight or
/// queued (`quiet`), and whenever they hold [`PARKED_REFUSALS`] refused calls. Until then
/// the verdict "an endpoint refusing everything" (docs/send.md) may still come, and their
/// calls stay unacknowledged, not refused.
fn release_parked_now(
    accepted: bool,
    quiet: bool,
    input_done: bool,
    held: Held,
    keep: usize,
) -> bool {
    accepted || (quiet && (input_done || held.batches >= keep)) || held.refusals >= PARKED_REFUSALS
}

/// A first try of the calls `spans` of `batch`.
fn attempt(batch: u64, spans: &[Span]) -> Attempt {
    let offset = |s: Option<&Span>| s.map_or(0, |s| s.at.offset);
    Attempt {
        batch,
        calls: spans.len(),
        calls_at: (offset(spans.first()), offset(spans.last())),
        ..Attempt::default()
    }
}

/// The first `n` characters of `text` (a message quotes no more of an answer).
fn first_chars(text: &str, n: usize) -> String {
    match text.char_indices().nth(n) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// The body with every call's `sentAt` set to now.
fn stamp(body: &Bytes, spans: &[Span]) -> Bytes {
    if spans.iter().all(|s| s.sent_at.is_none()) {
        return body.clone();
    }
    let mut v = body.to_vec();
    super::batch::stamp(&mut v, spans, super::now_ms());
    Bytes::from(v)
}

#[cfg(test)]
#[path = "dispatch_tests.rs"]
mod tests;
