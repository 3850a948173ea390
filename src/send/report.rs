//! What the user sees of a send: the progress bar (calls acknowledged of the total,
//! requests/s, MB/s, in flight, retries, 429s, refused, ETA), the summary on stderr, and the
//! same summary as JSON (`--summary-json`, and `send-manifest.json`). Never the key.

use super::dispatch::Stop;
use super::{Live, Outcome, Plan};
use crate::report::{Ticker, group};
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The progress bar of a send.
pub struct Progress(Ticker);

impl Progress {
    /// Starts the bar when `--progress` (and a terminal, for `auto`) says so.
    pub fn start(plan: &Plan, live: Arc<Live>) -> Progress {
        let c = &plan.args.common;
        let show = !c.quiet
            && match c.progress {
                crate::cli::ProgressArg::Never => false,
                crate::cli::ProgressArg::Always => true,
                crate::cli::ProgressArg::Auto => std::io::stderr().is_terminal(),
            };
        let template = "{bar:30} {pos}/{len} calls eta {eta} | {msg}";
        Progress(Ticker::start(show, template, move |bar, secs| {
            let total = live.total.load(Ordering::Relaxed);
            if total > 0 {
                bar.set_length(total);
            }
            bar.set_position(live.acknowledged.load(Ordering::Relaxed));
            let secs = secs.max(1e-3);
            bar.set_message(format!(
                "{:.0} req/s, {:.1} MB/s, {} in flight, {} retries, {} 429s, {} refused",
                live.requests.load(Ordering::Relaxed) as f64 / secs,
                live.bytes.load(Ordering::Relaxed) as f64 / 1e6 / secs,
                live.in_flight.load(Ordering::Relaxed),
                group(live.retries.load(Ordering::Relaxed)),
                group(live.rate_limited.load(Ordering::Relaxed)),
                group(live.refused.load(Ordering::Relaxed)),
            ));
        }))
    }

    /// Stops the bar.
    pub fn finish(self) {
        self.0.finish();
    }
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
        Stop::Interrupted(sig) => format!(
            "interrupted by signal {sig}: in-flight requests settled and were recorded; run \
             the same command again to resume"
        ),
        Stop::Ledger => "error: the ledger could not be written".to_owned(),
    }
}

/// The summary, as JSON (also the body of `send-manifest.json`).
pub fn summary_json(
    plan: &Plan,
    o: &Outcome,
    started_at: i64,
    finished_at: i64,
    exit_code: i32,
) -> serde_json::Value {
    let a = &plan.args;
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
        "command_line": plan.command_line,
        "started_at": crate::output::manifest::ts(started_at),
        "finished_at": crate::output::manifest::ts(finished_at),
        "endpoint": plan.endpoint,
        "shard": plan.shard.map(|s| serde_json::json!({"index": s.index, "count": s.count})),
        "dry_run": a.dry_run,
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
    if a.dry_run {
        let est = if a.rate > 0.0 {
            r.batches as f64 / a.rate
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
            "calls": c.calls, "reused": c.reused,
        });
    }
    v
}

/// The summary, as text on stderr.
pub fn summary_text(plan: &Plan, o: &Outcome) -> String {
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
    if plan.args.dry_run {
        let est = if plan.args.rate > 0.0 {
            r.batches as f64 / plan.args.rate
        } else {
            0.0
        };
        s += &format!(
            "track2pipelines send --dry-run: would send {} calls in {} requests, {} bytes, about {:.1} s at --rate {}; bodies in {}\n",
            group(r.batch_calls),
            group(r.batches),
            group(r.batch_bytes),
            est,
            plan.args.rate,
            plan.args.state.join(super::state::DRY_RUN).display()
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
            plan.args.state.join(super::state::SEND_ERRORS).display()
        );
    }
    if r.blank > 0 {
        s += &format!("  blank lines skipped {}\n", group(r.blank));
    }
    s
}
