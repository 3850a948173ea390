//! What an answer means, kept apart from the sending (docs/send.md, "Answers"): every
//! [`Reply`] of a request becomes one [`Step`] of the sender's state machine: acknowledge,
//! retry later (408, 5xx, timeouts, connection errors and answers cut off, with capped
//! exponential backoff and full jitter), wait on a 429, split the batch (400, 413 and the other
//! 4xx) or refuse the single call left, or stop (401/403, a redirect, a 2xx whose body is not
//! the API's answer, retries or 429 waits used up, an endpoint that refuses everything).
//!
//! [`Judge`] holds what the verdicts depend on beyond one answer: whether any call has been
//! acknowledged yet (an endpoint that refuses every request with the same status before
//! accepting anything is misconfigured) and how much progress was made since a batch's last
//! 429.

use super::client::Reply;
use std::time::{Duration, SystemTime};

/// Why a request is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cause {
    /// 408 Request Timeout.
    Status408,
    /// Any 5xx.
    Status5xx,
    /// No answer within `--request-timeout`.
    Timeout,
    /// The connection failed or closed before the whole answer.
    Connection,
}

impl Cause {
    /// The key in the manifest's `retries`.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Status408 => "http_408",
            Cause::Status5xx => "http_5xx",
            Cause::Timeout => "timeout",
            Cause::Connection => "connection",
        }
    }
}

/// What a status means on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx (whole answers only: see [`super::client`]).
    Ack,
    /// 429: pause the whole sender; not counted against the retries.
    RateLimited,
    /// 408, 5xx, a 1xx as a final answer.
    Retry(Cause),
    /// 401/403: the key is refused.
    Auth,
    /// 3xx: never followed, never an acknowledgement.
    Redirect,
    /// Any other 4xx: split, or refuse a single call.
    Split,
}

/// The verdict for an HTTP status.
pub fn classify(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Ack,
        300..=399 => Verdict::Redirect,
        429 => Verdict::RateLimited,
        408 => Verdict::Retry(Cause::Status408),
        401 | 403 => Verdict::Auth,
        400..=499 => Verdict::Split,
        // 1xx as a final answer, and 5xx: the server did not take the batch.
        _ => Verdict::Retry(Cause::Status5xx),
    }
}

/// Why the sender stopped before the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// 401/403.
    Auth(u16),
    /// A 3xx: the endpoint sends requests elsewhere, and they are not followed.
    Redirect {
        status: u16,
        location: Option<String>,
    },
    /// A batch used up its retries.
    Exhausted { batch: u64, cause: String },
    /// A batch met more consecutive 429s than `--max-retries` with no progress in between.
    RateLimited { batch: u64, answers: u32 },
    /// Every request was refused with this status before any call was acknowledged.
    Refusing { status: u16, requests: u32 },
    /// A 2xx whose body is not the API's success (an empty object): a page of whatever
    /// stands in front of the API, or an answer that says the calls failed.
    NotTheApi { status: u16, answer: String },
    /// SIGINT/SIGTERM.
    Interrupted(i32),
    /// The ledger could not be written.
    Ledger,
}

/// Requests refused in a row with one status, none acknowledged before, that make an endpoint
/// misconfigured (docs/send.md), when at least [`REFUSING_APART`] of them share no call.
pub const REFUSING_REQUESTS: u32 = 6;

/// Of [`REFUSING_REQUESTS`], how many must share no call: the halves of a split that hold one
/// bad call share it, so a few bad calls among the first are refused, not taken for the
/// endpoint's fault (which would stop every run before them).
pub const REFUSING_APART: usize = 3;

/// The shortest wait after a 429 whose `Retry-After` is missing or 0 (never a hot loop), and
/// the base of the backoff when it is missing.
pub const MIN_429_WAIT: Duration = Duration::from_millis(500);

/// What the sender does next with a request that came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Its calls are acknowledged.
    Acknowledge,
    /// Send it again after `wait`.
    Retry { cause: Cause, wait: Duration },
    /// Pause the whole sender for `wait`, then send it again first.
    WaitOn429 { wait: Duration },
    /// Send its two halves instead.
    Split,
    /// Its single call is refused: record it with the status.
    Refuse { status: u16 },
    /// Stop the run; the request's calls stay unacknowledged.
    Stop(Stop),
}

/// What the judge needs to know of a request beyond its answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attempt {
    /// The batch it belongs to.
    pub batch: u64,
    /// Calls in it.
    pub calls: usize,
    /// Where its first and last call start in the batch's input, in bytes (the halves of a
    /// split lie inside the range of what was split).
    pub calls_at: (u64, u64),
    /// Retries made so far (408, 5xx, timeouts, connection errors).
    pub retries: u32,
    /// Consecutive 429s so far, and the judge's progress count at the last of them.
    pub waits_429: u32,
    /// [`Judge::progress`] at its last 429.
    pub progress_at_429: u64,
}

/// Turns answers into steps.
#[derive(Debug)]
pub struct Judge {
    max_retries: u32,
    backoff_base: Duration,
    backoff_cap: Duration,
    /// Requests acknowledged so far.
    progress: u64,
    /// While nothing was acknowledged: the status of the requests refused in a row, how many
    /// there were, and the ranges (batch, first call, last call) of those that share no call.
    refusing: Option<Refusing>,
    /// A refusal came in the API's own error object: the endpoint is the API, and what it
    /// refuses are the calls.
    api_refused: bool,
}

impl Judge {
    /// A judge for `--max-retries` and the backoff's base and cap.
    pub fn new(max_retries: u32, backoff_base: Duration, backoff_cap: Duration) -> Judge {
        Judge {
            max_retries,
            backoff_base,
            backoff_cap,
            progress: 0,
            refusing: None,
            api_refused: false,
        }
    }

    /// Has the endpoint acknowledged anything yet, or refused calls in the API's own words?
    /// Until then, a refused call may be the endpoint's fault, not the call's.
    pub fn accepted(&self) -> bool {
        self.progress > 0 || self.api_refused
    }

    /// The next step for `job` after `outcome` (it updates `job`'s counts).
    pub fn judge(&mut self, job: &mut Attempt, outcome: &Reply, now: SystemTime) -> Step {
        let (status, retry_after, location, body) = match outcome {
            Reply::Answer {
                status,
                retry_after,
                location,
                body,
            } => (*status, retry_after.as_deref(), location, body),
            Reply::Timeout => return self.retry(job, Cause::Timeout, "no answer".into()),
            Reply::Connection(msg) => {
                return self.retry(job, Cause::Connection, format!("connection error: {msg}"));
            }
        };
        match classify(status) {
            Verdict::Ack if !is_api_success(body) => Step::Stop(Stop::NotTheApi {
                status,
                answer: String::from_utf8_lossy(body).into_owned(),
            }),
            Verdict::Ack => {
                self.progress += 1;
                self.refusing = None;
                Step::Acknowledge
            }
            Verdict::RateLimited => self.rate_limited(job, retry_after, now),
            Verdict::Retry(cause) => self.retry(job, cause, format!("HTTP {status}")),
            Verdict::Auth => Step::Stop(Stop::Auth(status)),
            Verdict::Redirect => Step::Stop(Stop::Redirect {
                status,
                location: location.clone(),
            }),
            Verdict::Split if status == 400 && is_api_refusal(body) => {
                // The API itself judged the calls (docs/send.md, "An endpoint that refuses
                // everything"): from now on refusals are the calls' own. Only a 400, the
                // answer it documents for invalid calls: a 404 or 405 in the same words would
                // be the API's host saying the path is wrong, not the calls.
                self.api_refused = true;
                self.refusing = None;
                self.refused(job, status)
            }
            Verdict::Split => self.refused(job, status),
        }
    }

    fn retry(&mut self, job: &mut Attempt, cause: Cause, what: String) -> Step {
        if job.retries >= self.max_retries {
            let what = if cause == Cause::Timeout {
                "no answer within --request-timeout".to_owned()
            } else {
                what
            };
            return Step::Stop(Stop::Exhausted {
                batch: job.batch,
                cause: what,
            });
        }
        job.retries += 1;
        let wait = backoff(job.retries, self.backoff_base, self.backoff_cap);
        Step::Retry { cause, wait }
    }

    fn rate_limited(
        &mut self,
        job: &mut Attempt,
        retry_after: Option<&str>,
        now: SystemTime,
    ) -> Step {
        if job.progress_at_429 != self.progress {
            // Something was acknowledged since this batch's last 429: a new streak.
            job.waits_429 = 0;
            job.progress_at_429 = self.progress;
        }
        job.waits_429 += 1;
        if job.waits_429 > self.max_retries {
            return Step::Stop(Stop::RateLimited {
                batch: job.batch,
                answers: job.waits_429,
            });
        }
        let floor = MIN_429_WAIT.max(self.backoff_base);
        let wait = retry_after
            .and_then(|v| parse_retry_after(v, now))
            .unwrap_or_else(|| backoff(job.waits_429, floor, Duration::from_secs(60)))
            .max(floor);
        Step::WaitOn429 { wait }
    }

    fn refused(&mut self, job: &mut Attempt, status: u16) -> Step {
        if !self.accepted() {
            let r = match &mut self.refusing {
                Some(r) if r.status == status => r,
                r => r.insert(Refusing {
                    status,
                    requests: 0,
                    apart: Vec::new(),
                }),
            };
            r.requests += 1;
            r.add(job.batch, job.calls_at);
            if r.requests >= REFUSING_REQUESTS && r.apart.len() >= REFUSING_APART {
                return Step::Stop(Stop::Refusing {
                    status,
                    requests: r.requests,
                });
            }
        }
        if job.calls > 1 {
            Step::Split
        } else {
            Step::Refuse { status }
        }
    }
}

/// Requests refused in a row with one status before anything was acknowledged.
#[derive(Debug)]
struct Refusing {
    status: u16,
    requests: u32,
    /// (batch, first call, last call) of refused requests that share no call.
    apart: Vec<(u64, u64, u64)>,
}

impl Refusing {
    /// Counts a refused request, unless it shares calls with one counted already: a half of
    /// a refused request then takes its place (the narrower range), so one bad call and the
    /// halves around it count once.
    fn add(&mut self, batch: u64, (first, last): (u64, u64)) {
        let overlaps = |&(b, f, l): &(u64, u64, u64)| b == batch && first <= l && f <= last;
        match self.apart.iter_mut().find(|r| overlaps(r)) {
            Some(r) if r.1 <= first && last <= r.2 => *r = (batch, first, last),
            Some(_) => {}
            None => self.apart.push((batch, first, last)),
        }
    }
}

/// Is a 2xx body the API's success? The API answers an empty object (docs/send.md, "What
/// counts as acknowledged"); an empty body and a JSON object that says nothing failed pass too.
/// A page (HTML, text, a body cut at the bytes kept) or an object with `"success": false`, an
/// `error`, or `errors` (also under `meta`) does not.
pub fn is_api_success(body: &[u8]) -> bool {
    if body.trim_ascii().is_empty() {
        return true;
    }
    use serde_json::Value;
    let Ok(Value::Object(o)) = serde_json::from_slice(body) else {
        return false;
    };
    let failed = |v: Option<&Value>| match v {
        None | Some(Value::Null) => false,
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(_)) => true,
    };
    // `success` other than true (or "true", 1) says the calls failed.
    let success_false = match o.get("success") {
        None | Some(Value::Null | Value::Bool(true)) => false,
        Some(Value::String(s)) => s != "true",
        Some(Value::Number(n)) => n.as_u64() != Some(1),
        Some(_) => true,
    };
    let meta_errors = o.get("meta").and_then(|m| m.get("errors"));
    !success_false && !failed(o.get("error")) && !failed(o.get("errors")) && !failed(meta_errors)
}

/// Is a 4xx body the API's own refusal: its error object, `meta.errors` a list of at least one
/// text (the `400` response of its OpenAPI description)? A proxy, a firewall or a web server
/// behind a wrong `--endpoint` answers otherwise.
pub fn is_api_refusal(body: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    match v.pointer("/meta/errors") {
        Some(serde_json::Value::Array(a)) => {
            !a.is_empty() && a.iter().all(serde_json::Value::is_string)
        }
        _ => false,
    }
}

/// The longest `Retry-After` honoured; a longer one is cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// A `Retry-After` value: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    let wait = if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        // Delay-seconds; a number too long for u64 is a wait longer than any honoured.
        v.parse::<u64>()
            .map_or(MAX_RETRY_AFTER, Duration::from_secs)
    } else {
        let at = httpdate::parse_http_date(v).ok()?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// Capped exponential backoff with full jitter: a random wait in `[0, min(cap, base·2^n)]`
/// before try `n + 1`.
pub fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let ceiling = base
        .saturating_mul(1u32.checked_shl(attempt.min(30)).unwrap_or(u32::MAX))
        .min(cap);
    ceiling.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(classify(200), Verdict::Ack);
        assert_eq!(classify(204), Verdict::Ack);
        assert_eq!(classify(302), Verdict::Redirect);
        assert_eq!(classify(307), Verdict::Redirect);
        assert_eq!(classify(429), Verdict::RateLimited);
        assert_eq!(classify(408), Verdict::Retry(Cause::Status408));
        assert_eq!(classify(503), Verdict::Retry(Cause::Status5xx));
        assert_eq!(classify(401), Verdict::Auth);
        assert_eq!(classify(403), Verdict::Auth);
        assert_eq!(classify(400), Verdict::Split);
        assert_eq!(classify(413), Verdict::Split);
        assert_eq!(classify(422), Verdict::Split);
    }

    fn judge() -> Judge {
        Judge::new(2, Duration::from_millis(10), Duration::from_secs(1))
    }

    fn job(calls: usize) -> Attempt {
        Attempt {
            batch: 4,
            calls,
            ..Attempt::default()
        }
    }

    /// A try of the calls on lines `first` to `last` of batch 4.
    fn lines(first: u64, last: u64) -> Attempt {
        Attempt {
            calls_at: (first, last),
            ..job((last - first + 1) as usize)
        }
    }

    fn with_retry_after(status: u16, v: &str) -> Reply {
        Reply::Answer {
            status,
            retry_after: Some(v.into()),
            location: None,
            body: Vec::new(),
        }
    }

    #[test]
    fn retries_run_out() {
        let (mut j, mut a, now) = (judge(), job(3), SystemTime::now());
        for _ in 0..2 {
            assert!(matches!(
                j.judge(&mut a, &Reply::Timeout, now),
                Step::Retry {
                    cause: Cause::Timeout,
                    ..
                }
            ));
        }
        assert_eq!(
            j.judge(&mut a, &Reply::status(502), now),
            Step::Stop(Stop::Exhausted {
                batch: 4,
                cause: "HTTP 502".into()
            })
        );
    }

    #[test]
    fn redirects_stop_and_name_the_location() {
        let (mut j, mut a) = (judge(), job(3));
        let o = Reply::Answer {
            status: 307,
            retry_after: None,
            location: Some("http://elsewhere/".into()),
            body: Vec::new(),
        };
        assert_eq!(
            j.judge(&mut a, &o, SystemTime::now()),
            Step::Stop(Stop::Redirect {
                status: 307,
                location: Some("http://elsewhere/".into())
            })
        );
    }

    #[test]
    fn waits_on_429_are_bounded_and_never_zero() {
        let (mut j, mut a, now) = (judge(), job(3), SystemTime::now());
        for v in ["0", "soon"] {
            match j.judge(&mut a, &with_retry_after(429, v), now) {
                Step::WaitOn429 { wait } => assert!(wait >= MIN_429_WAIT),
                s => panic!("{s:?}"),
            }
        }
        assert_eq!(
            j.judge(&mut a, &Reply::status(429), now),
            Step::Stop(Stop::RateLimited {
                batch: 4,
                answers: 3
            })
        );
        // Progress in between starts a new streak.
        let (mut j, mut a) = (judge(), job(3));
        for _ in 0..5 {
            assert!(matches!(
                j.judge(&mut a, &Reply::status(429), now),
                Step::WaitOn429 { .. }
            ));
            assert_eq!(
                j.judge(&mut job(1), &Reply::status(200), now),
                Step::Acknowledge
            );
        }
        assert_eq!(
            j.judge(&mut a, &with_retry_after(429, "2"), now),
            Step::WaitOn429 {
                wait: Duration::from_secs(2)
            }
        );
    }

    #[test]
    fn refusals_in_the_apis_words_are_the_calls_own() {
        let refusal = |body: &str| Reply::Answer {
            status: 400,
            retry_after: None,
            location: None,
            body: body.as_bytes().to_vec(),
        };
        let api = refusal(r#"{"meta":{"errors":["call 0 is invalid"]}}"#);
        let now = SystemTime::now();
        // Single calls sent one at a time, each its own batch: far more than the refusals that
        // stop a run, all refused, none a stop, and what is held may be recorded.
        let mut j = judge();
        for batch in 0..3 * u64::from(REFUSING_REQUESTS) {
            let mut a = Attempt {
                batch,
                ..lines(1, 1)
            };
            assert_eq!(j.judge(&mut a, &api, now), Step::Refuse { status: 400 });
        }
        assert!(j.accepted());
        // The same refusals in other words: the endpoint's, and the run stops.
        let mut j = judge();
        let steps: Vec<Step> = (0..u64::from(REFUSING_REQUESTS))
            .map(|batch| {
                let mut a = Attempt {
                    batch,
                    ..lines(1, 1)
                };
                j.judge(&mut a, &refusal(r#"{"error":"refused"}"#), now)
            })
            .collect();
        assert!(matches!(
            steps.last(),
            Some(Step::Stop(Stop::Refusing { .. }))
        ));
        assert!(!j.accepted());
        for not in [
            "",
            "<html>400</html>",
            r#"{"meta":{"errors":[]}}"#,
            r#"{"errors":["x"]}"#,
        ] {
            assert!(!is_api_refusal(not.as_bytes()), "{not}");
        }
    }

    #[test]
    fn an_endpoint_refusing_everything_is_stopped() {
        let (mut j, now) = (judge(), SystemTime::now());
        let mut steps = Vec::new();
        // A batch of lines 1-8 and the halves a split makes, first halves first.
        for (first, last) in [(1, 8), (1, 4), (1, 2), (1, 1), (2, 2), (3, 4), (3, 3)] {
            let mut a = lines(first, last);
            steps.push(j.judge(&mut a, &Reply::status(404), now));
        }
        assert_eq!(steps[..3], [Step::Split, Step::Split, Step::Split]);
        assert_eq!(steps[3], Step::Refuse { status: 404 });
        assert_eq!(
            steps[5],
            Step::Stop(Stop::Refusing {
                status: 404,
                requests: REFUSING_REQUESTS
            })
        );
        // The halves that hold one bad call share it: however many, they are not an endpoint
        // refusing everything, and its neighbours are sent.
        let mut j = judge();
        for (first, last) in [(1, 64), (1, 32), (1, 16), (1, 8), (1, 4), (1, 2), (1, 1)] {
            let step = j.judge(&mut lines(first, last), &Reply::status(400), now);
            assert!(
                matches!(step, Step::Split | Step::Refuse { .. }),
                "{step:?}"
            );
        }
        // Once a call is acknowledged, refusals are the calls' own.
        let mut j = judge();
        assert_eq!(
            j.judge(&mut job(3), &Reply::status(200), now),
            Step::Acknowledge
        );
        for _ in 0..20 {
            assert_eq!(j.judge(&mut job(2), &Reply::status(400), now), Step::Split);
        }
        // A different status starts the count again.
        let mut j = judge();
        for s in [400, 404, 400, 404, 400, 404, 400, 404] {
            assert_eq!(j.judge(&mut job(2), &Reply::status(s), now), Step::Split);
        }
    }

    #[test]
    fn only_the_apis_success_is_an_acknowledgement() {
        for ok in [
            "",
            " \n",
            "{}",
            r#"{"success":true}"#,
            r#"{"success":"true","errors":{},"error":""}"#,
            r#"{"success":1,"error":null}"#,
            r#"{"meta":{"errors":[]}}"#,
        ] {
            assert!(is_api_success(ok.as_bytes()), "{ok}");
        }
        for not in [
            "OK",
            "<html>blocked</html>",
            "[]",
            r#"{"success":false}"#,
            r#"{"success":"false"}"#,
            r#"{"success":0}"#,
            r#"{"errors":{"batch":"invalid"}}"#,
            r#"{"error":"invalid"}"#,
            r#"{"errors":["x"]}"#,
            r#"{"meta":{"errors":["x"]}}"#,
            r#"{"succ"#,
        ] {
            assert!(!is_api_success(not.as_bytes()), "{not}");
        }
        let page = Reply::Answer {
            status: 200,
            retry_after: None,
            location: None,
            body: b"<html>blocked</html>".to_vec(),
        };
        assert!(matches!(
            judge().judge(&mut job(3), &page, SystemTime::now()),
            Step::Stop(Stop::NotTheApi { status: 200, .. })
        ));
    }

    #[test]
    fn retry_after_forms() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:40 GMT", now),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("99999", now), Some(MAX_RETRY_AFTER));
        // Delay-seconds past u64 are still delay-seconds: the longest wait, not none.
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_is_capped() {
        for attempt in 0..40 {
            let d = backoff(attempt, Duration::from_millis(100), Duration::from_secs(2));
            assert!(d <= Duration::from_secs(2));
            assert!(d <= Duration::from_millis(100) * 2u32.saturating_pow(attempt.min(20)));
        }
    }
}
