//! What the user sees of a send: the progress display (a bar on a terminal, plain lines in a
//! log: [`crate::report::Display`]) of the checksum pass and of the sending (calls acknowledged
//! of the total, ETA, requests/s, MB/s, in flight, retries, 429s, refused), the summary on
//! stderr, and the same summary as JSON (`--summary-json`, and `send-manifest.json`). Never the
//! key.

use super::dispatch::Stop;
use super::{Counters, Outcome, SendConfig};
use crate::report::{Display, Ticker, fit, group, with_bar};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// How this send shows progress (`--progress`, `--progress-interval`, and whether stderr is a
/// terminal).
pub fn display(cfg: &SendConfig) -> Display {
    let progress = if cfg.quiet {
        crate::config::Progress::Never
    } else {
        cfg.progress
    };
    Display::of(progress, cfg.progress_interval)
}

/// The progress display of a send.
pub struct Progress(Ticker);

impl Progress {
    /// Starts the display `display` asks for.
    pub fn start(display: Display, live: Arc<Counters>) -> Progress {
        Progress(Ticker::start(display, move |secs, width| {
            let now = Snapshot::of(&live, secs);
            match width {
                Some(w) => send_line(&now, w),
                None => format!("track2pipelines send: {}", fit(now.parts(), usize::MAX)),
            }
        }))
    }

    /// Stops the display.
    pub fn finish(self) {
        self.0.finish();
    }
}

/// The send's counters at one moment, for its progress line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    pub acknowledged: u64,
    /// Calls to send in all; 0 when unknown.
    pub total: u64,
    pub requests: u64,
    pub bytes: u64,
    pub in_flight: u64,
    pub retries: u64,
    pub rate_limited: u64,
    pub refused: u64,
    /// Seconds since the start.
    pub secs: f64,
}

impl Snapshot {
    fn of(live: &Counters, secs: f64) -> Snapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Snapshot {
            acknowledged: get(&live.acknowledged),
            total: get(&live.total),
            requests: get(&live.requests),
            bytes: get(&live.bytes),
            in_flight: get(&live.in_flight),
            retries: get(&live.retries),
            rate_limited: get(&live.rate_limited),
            refused: get(&live.refused),
            secs,
        }
    }

    /// The parts of the line with their drop ranks (as [`crate::report::fit`] takes them).
    fn parts(&self) -> Vec<(String, u8)> {
        let secs = self.secs.max(1e-3);
        let per_sec = self.acknowledged as f64 / secs;
        let calls = if self.total > 0 {
            format!("{}/{} calls", group(self.acknowledged), group(self.total))
        } else {
            format!("{} calls", group(self.acknowledged))
        };
        let eta = if self.total > 0 && per_sec > 0.0 {
            let left = self.total.saturating_sub(self.acknowledged) as f64 / per_sec;
            format!("eta {}", crate::report::duration(left))
        } else {
            String::new()
        };
        let nonzero = |n: u64, what: &str| {
            if n > 0 {
                format!("{} {what}", group(n))
            } else {
                String::new()
            }
        };
        vec![
            (calls, 0),
            (eta, 1),
            (
                format!("{} req/s", group((self.requests as f64 / secs) as u64)),
                3,
            ),
            (format!("{:.1} MB/s", self.bytes as f64 / 1e6 / secs), 5),
            (format!("{} in flight", self.in_flight), 6),
            (nonzero(self.retries, "retries"), 4),
            (nonzero(self.rate_limited, "429s"), 2),
            (nonzero(self.refused, "refused"), 2),
        ]
    }
}

/// The send's progress line, at most `width` characters wide: a bar when there is room, calls
/// acknowledged of the total, ETA, requests/s, MB/s, in flight, and retries, 429s and refused
/// calls when there are any; parts that do not fit are left out, least useful first.
pub fn send_line(s: &Snapshot, width: usize) -> String {
    with_bar(fit(s.parts(), width), s.acknowledged, s.total, width)
}

/// Shows a pass over the inputs before sending (the checksums, the count of calls): `label`,
/// then bytes done of the total.
pub fn pass(display: Display, label: &'static str, checked: Arc<AtomicU64>, total: u64) -> Ticker {
    Ticker::start(display, move |secs, width| {
        let done = checked.load(Ordering::Relaxed);
        let rate = done as f64 / secs.max(1e-3);
        let eta = if rate > 0.0 && total > 0 {
            format!(
                "eta {}",
                crate::report::duration(total.saturating_sub(done) as f64 / rate)
            )
        } else {
            String::new()
        };
        let parts = vec![
            (label.to_owned(), 0),
            (
                format!(
                    "{}/{}",
                    crate::report::binary(done),
                    crate::report::binary(total)
                ),
                0,
            ),
            (eta, 1),
        ];
        match width {
            Some(w) => with_bar(fit(parts, w), done, total, w),
            None => format!("track2pipelines send: {}", fit(parts, usize::MAX)),
        }
    })
}

/// Why the send stopped, in words.
pub fn stop_text(stop: &Stop) -> String {
    match stop {
        Stop::Auth(status) => format!(
            "error: the server refused the write key (HTTP {status}); nothing more was sent. \
             Check CIO_WRITE_KEY (or --write-key-file) and --region"
        ),
        Stop::Exhausted { batch, cause } => format!(
            "error: batch {batch} failed after every retry ({cause}); the state holds what is \
             left: run the same command again to resume"
        ),
        Stop::Redirect { status, location } => format!(
            "error: the endpoint answered HTTP {status} (a redirect to {}); redirects are never \
             followed, so nothing was delivered there. Give --endpoint the URL that answers \
             itself; the state holds what is left: run the command again to resume",
            location.as_deref().unwrap_or("no Location")
        ),
        Stop::RateLimited { batch, answers } => format!(
            "error: batch {batch} was answered 429 {answers} times in a row with no progress \
             in between (--max-retries); the state holds what is left: run the same command \
             again later to resume"
        ),
        Stop::Refusing { status, requests } => format!(
            "error: the endpoint refused every request with HTTP {status} ({requests} in a row, \
             no call accepted): it looks misconfigured (a wrong --endpoint path, a proxy), so \
             the calls were not recorded as refused; fix the endpoint and run the same command \
             again to send them{}",
            if *status == 413 {
                " (413 is a body too large: a proxy may take less than the API's 500 KB; \
                 --max-batch-bytes sends smaller requests)"
            } else {
                ""
            }
        ),
        Stop::NotTheApi { status, answer } => format!(
            "error: the endpoint answered HTTP {status} with a body that is not the Pipelines \
             API's answer ({answer:?}): a proxy, a firewall or a wrong --endpoint answered, so \
             its calls were not counted as delivered; fix the endpoint and run the same command \
             again to send what is left"
        ),
        Stop::Interrupted(sig) => format!(
            "interrupted by signal {sig}: in-flight requests settled and were recorded; run \
             the same command again to resume"
        ),
        Stop::Ledger => "error: the ledger could not be written".to_owned(),
    }
}

/// The summary, as JSON (also the body of `send-manifest.json`).
pub fn summary_json(
    cfg: &SendConfig,
    o: &Outcome,
    started_at: i64,
    finished_at: i64,
    exit_code: i32,
) -> serde_json::Value {
    let secs = o.elapsed.as_secs_f64().max(1e-9);
    let r = &o.read;
    let mut filtered = r.filtered;
    if let Some(c) = &o.conversion {
        for (a, b) in filtered.iter_mut().zip(c.filtered) {
            *a += b;
        }
    }
    let requests = o.sent.requests.max(o.dry_run_batches);
    let mut v = serde_json::json!({
        "tool": "track2pipelines",
        "version": env!("CARGO_PKG_VERSION"),
        "command": "send",
        "command_line": cfg.command_line,
        "started_at": crate::output::manifest::ts(started_at),
        "finished_at": crate::output::manifest::ts(finished_at),
        "endpoint": cfg.endpoint,
        "shard": cfg.shard.map(|s| serde_json::json!({"index": s.index, "count": s.count})),
        "dry_run": cfg.dry_run,
        "complete": o.complete,
        "inputs": o.inputs.iter().map(|(s, c)| serde_json::json!({"source": s, "checksum_xxh3_128": c})).collect::<Vec<_>>(),
        "calls_read": r.lines,
        "calls_acknowledged": o.acknowledged(),
        "calls_acknowledged_earlier": r.done_acknowledged,
        "calls_refused": {"refused_by_server": o.refused()},
        "calls_invalid": {"invalid_call": r.invalid, "call_too_large": r.too_large},
        "calls_skipped_recent": r.skipped_recent,
        "calls_filtered": filtered.iter().sum::<u64>(),
        "calls_filtered_by_cause": crate::select::Cause::ALL.iter().zip(filtered).filter(|(_, n)| *n > 0).map(|(c, n)| (c.as_str(), n)).collect::<std::collections::BTreeMap<_, _>>(),
        "calls_unacknowledged": r.lines.saturating_sub(o.acknowledged() + o.refused() + r.invalid + r.too_large + r.skipped_recent + r.filtered.iter().sum::<u64>()),
        "recent_calls": o.recent,
        "blank_lines": r.blank,
        "incomplete_inputs": r.incomplete_inputs,
        "batches": r.batches + r.done_batches,
        "batches_done_earlier": r.done_batches,
        "requests": requests,
        "retries": o.sent.retries,
        "http_429": o.sent.rate_limited,
        "splits": o.sent.splits,
        "bytes_sent": o.sent.bytes_sent,
        "elapsed_seconds": o.elapsed.as_secs_f64(),
        "calls_per_second": o.sent.acknowledged as f64 / secs,
        "requests_per_second": o.sent.requests as f64 / secs,
        "mb_per_second": o.sent.bytes_sent as f64 / 1e6 / secs,
        "exit_code": exit_code,
    });
    if cfg.dry_run {
        let est = if cfg.rate > 0.0 {
            r.batches as f64 / cfg.rate
        } else {
            0.0
        };
        v["plan"] = serde_json::json!({
            "calls": r.batch_calls,
            "requests": r.batches,
            "bytes": r.batch_bytes,
            "estimated_seconds_at_rate": est,
        });
    }
    if let Some(c) = &o.conversion {
        v["conversion"] = serde_json::json!({
            "records": c.records, "converted": c.converted, "rejected": c.rejected,
            "calls": c.calls, "calls_stamped_now": c.calls_stamped_now, "reused": c.reused,
        });
    }
    v
}

/// The summary, as text on stderr.
pub fn summary_text(cfg: &SendConfig, o: &Outcome) -> String {
    let r = &o.read;
    let secs = o.elapsed.as_secs_f64().max(1e-9);
    let mut s = String::new();
    if let Some(c) = &o.conversion {
        s += &format!(
            "track2pipelines send --from track: {} records, {} converted, {} rejected (see errors.ndjson), {} calls{}\n",
            group(c.records),
            group(c.converted),
            group(c.rejected),
            group(c.calls),
            if c.reused { " (conversion reused)" } else { "" }
        );
    }
    if cfg.dry_run {
        let est = if cfg.rate > 0.0 {
            r.batches as f64 / cfg.rate
        } else {
            0.0
        };
        s += &format!(
            "track2pipelines send --dry-run: would send {} calls in {} requests, {} bytes, about {:.1} s at --rate {}; bodies in {}\n",
            group(r.batch_calls),
            group(r.batches),
            group(r.batch_bytes),
            est,
            cfg.rate,
            cfg.state.join(super::state::DRY_RUN).display()
        );
    } else {
        s += &format!(
            "track2pipelines send: {} calls read, {} acknowledged ({} earlier), {} refused, in {:.2} s\n",
            group(r.lines),
            group(o.acknowledged()),
            group(r.done_acknowledged),
            group(o.refused()),
            secs
        );
        s += &format!(
            "  {} requests ({:.0}/s), {:.1} MB sent ({:.1} MB/s), {} retries, {} 429s, {} splits\n",
            group(o.sent.requests),
            o.sent.requests as f64 / secs,
            o.sent.bytes_sent as f64 / 1e6,
            o.sent.bytes_sent as f64 / 1e6 / secs,
            group(o.sent.retries.values().sum()),
            group(o.sent.rate_limited),
            group(o.sent.splits)
        );
    }
    let filtered: u64 = r.filtered.iter().sum::<u64>()
        + o.conversion
            .as_ref()
            .map_or(0, |c| c.filtered.iter().sum::<u64>());
    if filtered > 0 {
        s += &format!(
            "  filtered: {} calls left out by the selection\n",
            group(filtered)
        );
    }
    if r.invalid + r.too_large + r.skipped_recent > 0 || o.refused() > 0 {
        s += &format!(
            "  not sent: {} invalid, {} too large, {} recent skipped, {} refused (see {})\n",
            group(r.invalid),
            group(r.too_large),
            group(r.skipped_recent),
            group(o.refused()),
            cfg.state.join(super::state::SEND_ERRORS).display()
        );
    }
    if r.blank > 0 {
        s += &format!("  blank lines skipped {}\n", group(r.blank));
    }
    if let Some(c) = &o.conversion
        && let Some(w) = crate::report::stamped_now_warning(c.calls_stamped_now, c.now_ms)
    {
        s += &w;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn busy() -> Snapshot {
        Snapshot {
            acknowledged: 1_234_567_890,
            total: 9_876_543_210,
            requests: 98_765_432,
            bytes: 987_654_321_098,
            in_flight: 16,
            retries: 12_345,
            rate_limited: 678,
            refused: 9_012,
            secs: 36_000.0,
        }
    }

    #[test]
    fn a_proxy_refusing_large_bodies_is_pointed_to_max_batch_bytes() {
        let text = |status| {
            stop_text(&Stop::Refusing {
                status,
                requests: 6,
            })
        };
        assert!(text(413).contains("--max-batch-bytes"), "{}", text(413));
        assert!(!text(404).contains("--max-batch-bytes"), "{}", text(404));
    }

    #[test]
    fn the_send_line_fits_80_columns_with_grouped_counts() {
        // 80 columns: the line takes 79 (some terminals wrap a line that fills the width).
        let line = send_line(&busy(), 79);
        assert!(line.chars().count() <= 79, "{line:?}");
        assert!(line.contains("1,234,567,890/9,876,543,210 calls"), "{line}");
        assert!(line.contains("eta "), "{line}");
        for width in 0..=200 {
            for s in [busy(), Snapshot::default()] {
                let line = send_line(&s, width);
                assert!(line.chars().count() <= width, "{width}: {line:?}");
            }
        }
        // Wide: everything, with a bar.
        let wide = send_line(&busy(), 200);
        for part in [
            "[#",
            " req/s",
            " MB/s",
            "16 in flight",
            "12,345 retries",
            "678 429s",
            "9,012 refused",
        ] {
            assert!(wide.contains(part), "{part} missing from {wide}");
        }
    }

    #[test]
    fn the_plain_line_has_no_bar_and_no_zero_counters() {
        let quiet = Snapshot {
            retries: 0,
            rate_limited: 0,
            refused: 0,
            ..busy()
        };
        let line = fit(quiet.parts(), usize::MAX);
        assert!(!line.contains('[') && !line.contains("retries"), "{line}");
        assert!(
            line.starts_with("1,234,567,890/9,876,543,210 calls eta "),
            "{line}"
        );
    }

    #[test]
    fn progress_shows_as_the_flags_and_the_terminal_say() {
        use crate::config::Progress as P;
        let ten = Duration::from_secs(10);
        assert_eq!(Display::choose(P::Always, ten, false), Display::Lines(ten));
        assert_eq!(Display::choose(P::Always, ten, true), Display::Bar);
        assert_eq!(Display::choose(P::Auto, ten, true), Display::Bar);
        assert_eq!(Display::choose(P::Auto, ten, false), Display::Hidden);
        assert_eq!(Display::choose(P::Never, ten, true), Display::Hidden);
    }
}
