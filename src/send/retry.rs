//! What an answer means: acknowledged, slow down (429), retry later (408, 5xx, timeouts,
//! connection errors, with capped exponential backoff and full jitter), stop (401, 403), or
//! split the batch (400, 413 and the other 4xx) to find the call the server refuses.

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
    /// The connection failed or closed before the answer.
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

/// What to do after an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ack,
    /// 429: pause the whole sender; not counted against the retries.
    RateLimited,
    Retry(Cause),
    /// 401/403: the key is refused.
    Auth,
    /// Any other 4xx: split, or refuse a single call.
    Split,
}

/// The verdict for an HTTP status.
pub fn classify(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Ack,
        429 => Verdict::RateLimited,
        408 => Verdict::Retry(Cause::Status408),
        401 | 403 => Verdict::Auth,
        400..=499 => Verdict::Split,
        // 1xx/3xx as a final answer, and 5xx: the server did not take the batch.
        _ => Verdict::Retry(Cause::Status5xx),
    }
}

/// The longest `Retry-After` honoured; a longer one is cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// A `Retry-After` value: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    let wait = if let Ok(secs) = v.parse::<u64>() {
        Duration::from_secs(secs)
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
        assert_eq!(classify(429), Verdict::RateLimited);
        assert_eq!(classify(408), Verdict::Retry(Cause::Status408));
        assert_eq!(classify(503), Verdict::Retry(Cause::Status5xx));
        assert_eq!(classify(401), Verdict::Auth);
        assert_eq!(classify(403), Verdict::Auth);
        assert_eq!(classify(400), Verdict::Split);
        assert_eq!(classify(413), Verdict::Split);
        assert_eq!(classify(422), Verdict::Split);
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
