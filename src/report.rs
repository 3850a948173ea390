//! What the user sees: the progress bar while the run goes, the summary at the end (text on
//! stderr, JSON with `--summary-json`). Writes to stderr ignore errors, so a closed stderr
//! never stops a run.

use crate::config::{Command, Config, Progress};
use crate::pipeline::{Live, RunResult};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The progress bar and the thread that redraws it a few times a second.
pub struct ProgressUi {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ProgressUi {
    pub fn start(cfg: &Config, live: Arc<Live>) -> ProgressUi {
        let stop = Arc::new(AtomicBool::new(false));
        let show = match cfg.progress {
            Progress::Never => false,
            Progress::Always => true,
            Progress::Auto => std::io::stderr().is_terminal(),
        };
        if !show {
            return ProgressUi { stop, thread: None };
        }
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
            let started = Instant::now();
            let mut with_total = false;
            while !flag.load(Ordering::Relaxed) {
                let total = live.total_bytes.load(Ordering::Relaxed);
                if total > 0 && !with_total {
                    with_total = true;
                    bar.set_length(total);
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{bar:30} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta} | {msg}",
                        )
                        .expect("valid template"),
                    );
                } else if !with_total && bar.length().is_none() {
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{spinner} {binary_bytes} {binary_bytes_per_sec} | {msg}",
                        )
                        .expect("valid template"),
                    );
                }
                bar.set_position(live.bytes_read.load(Ordering::Relaxed));
                let records = live.records.load(Ordering::Relaxed);
                let secs = started.elapsed().as_secs_f64().max(1e-3);
                bar.set_message(format!(
                    "{} records ({}/s), {} calls, {} rejected",
                    group(records),
                    group((records as f64 / secs) as u64),
                    group(live.calls.load(Ordering::Relaxed)),
                    group(live.rejected.load(Ordering::Relaxed)),
                ));
                std::thread::sleep(Duration::from_millis(100));
            }
            bar.finish_and_clear();
        });
        ProgressUi {
            stop,
            thread: Some(thread),
        }
    }

    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `1234567` → `1,234,567`.
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mb_per_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs.max(1e-9)
}

/// The end-of-run summary, as text.
pub fn summary_text(cfg: &Config, r: &RunResult) -> String {
    let secs = r.elapsed.as_secs_f64();
    let t = &r.total;
    let mut s = format!(
        "track2pipelines {}: {} records from {} input{} in {:.2} s ({:.1} MB/s)\n",
        if cfg.command == Command::Check {
            "check"
        } else {
            "convert"
        },
        group(t.records),
        r.inputs.len(),
        if r.inputs.len() == 1 { "" } else { "s" },
        secs,
        mb_per_s(r.bytes_decompressed(), secs),
    );
    s += &format!("  converted {}\n", group(t.converted));
    let codes: Vec<String> = t
        .rejects_by_code()
        .filter(|(c, _)| *c != crate::reject::Code::CorruptInput)
        .map(|(c, n)| format!("{c} {}", group(n)))
        .collect();
    s += &format!(
        "  rejected  {}{}\n",
        group(t.rejected),
        if codes.is_empty() {
            String::new()
        } else {
            format!(" ({})", codes.join(", "))
        }
    );
    let types: Vec<String> = t
        .calls_by_type()
        .map(|(k, n)| format!("{} {}", k.as_str(), group(n)))
        .collect();
    s += &format!(
        "  calls     {}{}\n",
        group(t.total_calls()),
        if types.is_empty() {
            String::new()
        } else {
            format!(" ({})", types.join(", "))
        }
    );
    if t.blank_lines > 0 {
        s += &format!("  blank lines skipped {}\n", group(t.blank_lines));
    }
    for i in r.inputs.iter().filter(|i| i.incomplete) {
        s += &format!(
            "  incomplete input: {} (see corrupt_input in the error file)\n",
            i.source
        );
    }
    if let Some(out) = &cfg.output {
        s += &format!(
            "  wrote {} part file{} under {}",
            r.parts.len(),
            if r.parts.len() == 1 { "" } else { "s" },
            out.dir.display()
        );
        if let Some(e) = &r.errors {
            s += &format!(", errors in {}", e.path);
        }
        s.push('\n');
    } else if let Some(e) = &cfg.errors_file {
        s += &format!("  rejects written to {}\n", e.path.display());
    }
    if !r.skipped.is_empty() {
        let shown: Vec<&str> = r.skipped.iter().take(5).map(String::as_str).collect();
        s += &format!(
            "  skipped {} entr{} of input directories that are not regular files: {}{}\n",
            r.skipped.len(),
            if r.skipped.len() == 1 { "y" } else { "ies" },
            shown.join(", "),
            if r.skipped.len() > shown.len() {
                ", ..."
            } else {
                ""
            }
        );
    }
    s
}

/// The end-of-run summary, as JSON.
pub fn summary_json(cfg: &Config, r: &RunResult) -> serde_json::Value {
    let secs = r.elapsed.as_secs_f64();
    let t = &r.total;
    serde_json::json!({
        "command": if cfg.command == Command::Check { "check" } else { "convert" },
        "records": t.records,
        "converted": t.converted,
        "rejected": t.rejected,
        "blank_lines": t.blank_lines,
        "rejects": t.rejects_by_code().map(|(c, n)| (c.as_str(), n)).collect::<std::collections::BTreeMap<_, _>>(),
        "calls": t.total_calls(),
        "calls_by_type": t.calls_by_type().map(|(k, n)| (k.as_str(), n)).collect::<std::collections::BTreeMap<_, _>>(),
        "inputs": r.inputs.len(),
        "incomplete_inputs": r.incomplete_inputs,
        "part_files": r.parts.len(),
        "skipped_not_regular": r.skipped,
        "bytes_read": r.bytes_read(),
        "bytes_decompressed": r.bytes_decompressed(),
        "elapsed_seconds": secs,
        "mb_per_second": mb_per_s(r.bytes_decompressed(), secs),
        "exit_code": r.exit_code(),
    })
}

/// Writes to stderr, ignoring failures (a closed stderr must not stop anything).
pub fn eprint(text: &str) {
    let _ = std::io::stderr().write_all(text.as_bytes());
}
