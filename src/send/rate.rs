//! Pacing: the request rate (a token bucket that spaces requests evenly; a request that starts
//! late, by timer granularity or a busy thread, may use its slot up to [`CATCH_UP`] after it,
//! so the rate is held on average and no window of any length sees more than its share plus
//! `rate × CATCH_UP` plus one) and the adaptive concurrency (additive increase, multiplicative
//! decrease) within `--concurrency`.

use std::time::{Duration, Instant};

/// How late a request may still take its missed slot (at 1000 requests/s: a burst of at most
/// 10 more, 1 % of a second's share).
pub const CATCH_UP: Duration = Duration::from_millis(10);

/// At most `rate` requests per second, evenly spaced.
#[derive(Debug)]
pub struct TokenBucket {
    /// Time between two requests; zero when unlimited.
    interval: Duration,
    /// When the next request may go.
    next: Option<Instant>,
}

impl TokenBucket {
    /// `rate` requests per second; 0 is unlimited.
    pub fn new(rate: f64) -> TokenBucket {
        TokenBucket {
            interval: if rate > 0.0 {
                Duration::from_secs_f64(1.0 / rate)
            } else {
                Duration::ZERO
            },
            next: None,
        }
    }

    /// Takes the next slot: the instant the request may be sent (now or later).
    pub fn reserve(&mut self, now: Instant) -> Instant {
        let earliest = now.checked_sub(CATCH_UP).unwrap_or(now);
        let at = self.next.map_or(now, |n| n.max(earliest));
        self.next = Some(at + self.interval);
        at
    }

    /// Nothing goes before `until` (a 429's `Retry-After`): later slots start from there.
    pub fn pause(&mut self, until: Instant) {
        self.next = Some(self.next.map_or(until, |n| n.max(until)));
    }
}

/// The number of requests allowed in flight: starts at the maximum, halves when the server
/// pushes back (429, 5xx, timeouts) or latency climbs well above the best seen, and grows by
/// about one per round trip while answers are fast.
#[derive(Debug)]
pub struct Aimd {
    max: usize,
    limit: f64,
    /// The fastest answer seen lately, in seconds (it drifts up slowly).
    best: Option<f64>,
    last_decrease: Option<Instant>,
}

impl Aimd {
    /// Up to `max` in flight.
    pub fn new(max: usize) -> Aimd {
        Aimd {
            max,
            limit: max as f64,
            best: None,
            last_decrease: None,
        }
    }

    /// Requests that may be in flight now.
    pub fn limit(&self) -> usize {
        (self.limit as usize).clamp(1, self.max)
    }

    /// A 2xx came back after `latency`.
    pub fn success(&mut self, latency: Duration, now: Instant) {
        let secs = latency.as_secs_f64();
        let best = match self.best {
            Some(b) if secs < b => secs,
            Some(b) => b * 1.001 + secs * 0.0001,
            None => secs,
        };
        self.best = Some(best);
        if secs > 4.0 * best + 0.25 {
            self.decrease(now);
        } else {
            self.limit = (self.limit + 1.0 / self.limit).min(self.max as f64);
        }
    }

    /// The server pushed back: halve, at most once per quarter second (one burst of failures
    /// is one signal).
    pub fn decrease(&mut self, now: Instant) {
        if self
            .last_decrease
            .is_some_and(|t| now.duration_since(t) < Duration::from_millis(250))
        {
            return;
        }
        self.last_decrease = Some(now);
        self.limit = (self.limit / 2.0).max(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_spaces_requests() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0);
        let slots: Vec<Duration> = (0..5).map(|_| b.reserve(t0) - t0).collect();
        assert_eq!(slots[0], Duration::ZERO);
        assert_eq!(slots[4], Duration::from_millis(400));
        // Late by 5 ms: the missed slot (500 ms) is still taken, the cadence kept.
        assert_eq!(
            b.reserve(t0 + Duration::from_millis(505)) - t0,
            Duration::from_millis(500)
        );
        assert_eq!(
            b.reserve(t0 + Duration::from_millis(505)) - t0,
            Duration::from_millis(600)
        );
        // Late by far more: the slot moves to now less the catch-up allowance.
        let late = t0 + Duration::from_secs(3);
        assert_eq!(b.reserve(late), late - CATCH_UP);
        b.pause(t0 + Duration::from_secs(5));
        assert_eq!(b.reserve(t0) - t0, Duration::from_secs(5));
        let mut free = TokenBucket::new(0.0);
        assert_eq!(free.reserve(t0), t0);
        assert_eq!(free.reserve(t0), t0);
    }

    #[test]
    fn aimd_halves_and_grows_back() {
        let t0 = Instant::now();
        let mut a = Aimd::new(16);
        assert_eq!(a.limit(), 16);
        a.decrease(t0);
        a.decrease(t0 + Duration::from_millis(10));
        assert_eq!(a.limit(), 8);
        a.decrease(t0 + Duration::from_secs(1));
        assert_eq!(a.limit(), 4);
        for _ in 0..200 {
            a.success(Duration::from_millis(5), t0);
        }
        assert_eq!(a.limit(), 16);
        a.success(Duration::from_secs(3), t0 + Duration::from_secs(9));
        assert_eq!(a.limit(), 8);
    }
}
