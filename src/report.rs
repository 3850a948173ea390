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

/// How progress is shown: a bar redrawn in place on a terminal, one plain line at most every
/// interval off one (a log file under Kubernetes or AWS Batch: README, "Watching a run"), or
/// nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// No progress at all.
    Hidden,
    /// A bar on the terminal, redrawn in place.
    Bar,
    /// One plain line (no bar, no control characters) at most this often.
    Lines(Duration),
}

impl Display {
    /// What `--progress` and `--progress-interval` ask for, given whether stderr is a terminal.
    pub fn of(progress: Progress, interval: Duration) -> Display {
        Display::choose(progress, interval, std::io::stderr().is_terminal())
    }

    /// [`Display::of`] with the terminal question answered.
    pub fn choose(progress: Progress, interval: Duration, terminal: bool) -> Display {
        match (progress, terminal) {
            (Progress::Never, _) | (Progress::Auto, false) => Display::Hidden,
            (_, true) => Display::Bar,
            (Progress::Always, false) => Display::Lines(interval.max(Duration::from_secs(1))),
        }
    }
}

/// The width a progress line may take on this terminal: one column short of it, since some
/// terminals wrap a line that fills it.
fn terminal_width() -> usize {
    console::Term::stderr()
        .size_checked()
        .map_or(80, |(_, cols)| cols as usize)
        .saturating_sub(1)
}

/// Shows a run's progress on stderr from a thread of its own, as [`Display`] says; `send` uses
/// it too. `line` makes the text from the seconds since the start and the width it may take
/// (`None`: a plain log line, any width, no bar drawn in it).
pub struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    /// Starts the thread (nothing runs when `display` is [`Display::Hidden`]).
    pub fn start(
        display: Display,
        mut line: impl FnMut(f64, Option<usize>) -> String + Send + 'static,
    ) -> Ticker {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = match display {
            Display::Hidden => None,
            Display::Bar => Some(std::thread::spawn(move || {
                let bar =
                    ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
                bar.set_style(ProgressStyle::with_template("{msg}").expect("valid template"));
                let started = Instant::now();
                while !flag.load(Ordering::Relaxed) {
                    let width = terminal_width();
                    bar.set_message(line(started.elapsed().as_secs_f64(), Some(width)));
                    std::thread::sleep(Duration::from_millis(100));
                }
                bar.finish_and_clear();
            })),
            Display::Lines(every) => Some(std::thread::spawn(move || {
                let started = Instant::now();
                let mut next = every;
                while !flag.load(Ordering::Relaxed) {
                    if started.elapsed() >= next {
                        let text = line(started.elapsed().as_secs_f64(), None);
                        eprint(&format!("{}\n", plain(&text)));
                        next = started.elapsed() + every;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            })),
        };
        Ticker { stop, thread }
    }

    /// Stops the thread (and clears the bar).
    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A log line: control characters (none are expected) become spaces.
fn plain(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The progress display of `convert` and `check`.
pub struct ProgressUi(Ticker);

impl ProgressUi {
    pub fn start(cfg: &Config, live: Arc<Live>) -> ProgressUi {
        let command = if cfg.command == Command::Check {
            "check"
        } else {
            "convert"
        };
        let display = Display::of(cfg.progress, cfg.progress_interval);
        ProgressUi(Ticker::start(display, move |secs, width| {
            let now = Snapshot {
                bytes_read: live.bytes_read.load(Ordering::Relaxed),
                total_bytes: live.total_bytes.load(Ordering::Relaxed),
                records: live.records.load(Ordering::Relaxed),
                calls: live.calls.load(Ordering::Relaxed),
                rejected: live.rejected.load(Ordering::Relaxed),
                secs,
            };
            match width {
                Some(w) => progress_line(&now, w),
                None => format!(
                    "track2pipelines {command}: {}",
                    fit(parts(&now), usize::MAX)
                ),
            }
        }))
    }

    pub fn finish(self) {
        self.0.finish();
    }
}

/// What the progress line shows, read from the run's live counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    pub bytes_read: u64,
    /// Total input size; 0 when unknown (standard input).
    pub total_bytes: u64,
    pub records: u64,
    pub calls: u64,
    pub rejected: u64,
    /// Seconds since the run started.
    pub secs: f64,
}

/// The parts of the progress line, in display order, each with its drop rank (the highest
/// goes first when the line is too wide; 0 never goes).
fn parts(s: &Snapshot) -> Vec<(String, u8)> {
    let secs = s.secs.max(1e-3);
    let rate = s.bytes_read as f64 / secs;
    let known = s.total_bytes > 0;
    let bytes = if known {
        format!("{}/{}", binary(s.bytes_read), binary(s.total_bytes))
    } else {
        binary(s.bytes_read)
    };
    let eta = if known && rate > 0.0 {
        let left = s.total_bytes.saturating_sub(s.bytes_read) as f64 / rate;
        format!("eta {}", duration(left))
    } else {
        String::new()
    };
    vec![
        (bytes, 0),
        (format!("{}/s", binary(rate as u64)), 4),
        (eta, 2),
        (count(s.records, "record"), 0),
        (
            format!("({}/s)", group((s.records as f64 / secs) as u64)),
            5,
        ),
        (count(s.calls, "call"), 3),
        (format!("{} rejected", group(s.rejected)), 1),
    ]
}

/// Joins `parts` with spaces, leaving out the empty ones and, while the line is wider than
/// `width`, the one of highest drop rank (the later of equals); a line still too wide is cut.
pub fn fit(mut parts: Vec<(String, u8)>, width: usize) -> String {
    parts.retain(|(t, _)| !t.is_empty());
    let join = |parts: &[(String, u8)]| {
        parts
            .iter()
            .map(|(t, _)| t.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut line = join(&parts);
    while line.chars().count() > width {
        let Some(drop) = parts
            .iter()
            .enumerate()
            .filter(|(_, (_, p))| *p > 0)
            .max_by_key(|(i, (_, p))| (*p, *i))
            .map(|(i, _)| i)
        else {
            break;
        };
        parts.remove(drop);
        line = join(&parts);
    }
    if line.chars().count() > width {
        return line.chars().take(width).collect();
    }
    line
}

/// `line` with a bar of 10 to 30 cells in front, `[####    ] `, when `width` leaves room for
/// one (`done` of `total`; no bar when the total is unknown).
pub fn with_bar(line: String, done: u64, total: u64, width: usize) -> String {
    let room = width.saturating_sub(line.chars().count());
    if total == 0 || room < 13 {
        return line;
    }
    let cells = (room - 3).min(30);
    let filled = ((done.min(total) as f64 / total as f64) * cells as f64) as usize;
    format!(
        "[{}{}] {line}",
        "#".repeat(filled),
        " ".repeat(cells - filled)
    )
}

/// The progress line, at most `width` characters wide: a bar (when the total size is known
/// and there is room), bytes read of the total, MB/s, ETA, records and records/s, calls and
/// rejects. Parts that do not fit are left out, least useful first; on a very narrow terminal
/// the line is cut.
pub fn progress_line(s: &Snapshot, width: usize) -> String {
    with_bar(fit(parts(s), width), s.bytes_read, s.total_bytes, width)
}

/// Bytes in binary units: `512 B`, `12.3 MiB`.
pub fn binary(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Seconds as `42s`, `3m07s` or `2h05m`.
pub fn duration(secs: f64) -> String {
    let s = secs.clamp(0.0, 1e9).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// `n` and the noun, singular for 1: `1 record`, `2 records`.
pub fn count(n: u64, noun: &str) -> String {
    format!("{} {noun}{}", group(n), if n == 1 { "" } else { "s" })
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
        "track2pipelines {}: {} from {} in {:.2} s ({:.1} MB/s)\n",
        if cfg.command == Command::Check {
            "check"
        } else {
            "convert"
        },
        count(t.records, "record"),
        count(r.inputs.len() as u64, "input"),
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
    s += &calls_lines(t);
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
            "  wrote {} under {}",
            count(r.parts.len() as u64, "part file"),
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

/// The summary's lines about calls: by type, and how many were stamped with the run's clock.
fn calls_lines(t: &crate::stats::Tally) -> String {
    let types: Vec<String> = t
        .calls_by_type()
        .map(|(k, n)| format!("{} {}", k.as_str(), group(n)))
        .collect();
    let mut s = format!(
        "  calls     {}{}\n",
        group(t.total_calls()),
        if types.is_empty() {
            String::new()
        } else {
            format!(" ({})", types.join(", "))
        }
    );
    if t.calls_stamped_now > 0 {
        s += &format!(
            "  stamped with the run's clock {}\n",
            group(t.calls_stamped_now)
        );
    }
    if t.total_filtered() > 0 {
        let causes: Vec<String> = t
            .filtered_by_cause()
            .map(|(c, n)| format!("{} {}", c.as_str(), group(n)))
            .collect();
        s += &format!(
            "  filtered  {} ({})\n",
            group(t.total_filtered()),
            causes.join(", ")
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
        "calls_stamped_now": t.calls_stamped_now,
        "calls_filtered": t.total_filtered(),
        "calls_filtered_by_cause": t.filtered_by_cause().map(|(c, n)| (c.as_str(), n)).collect::<std::collections::BTreeMap<_, _>>(),
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

/// The warning printed at the end of a run (even with `--quiet`) when calls were stamped with
/// the run's clock: in a backfill, "now" may trigger campaigns (docs/mapping.md, "Time").
pub fn stamped_now_warning(calls: u64, now_ms: i64) -> Option<String> {
    (calls > 0).then(|| {
        format!(
            "track2pipelines: warning: {} had no time of their own and were stamped with the \
             run's clock ({}); in a backfill that may trigger campaigns. Pass --now to choose \
             the time, or --missing-time reject to reject such records\n",
            count(calls, "call"),
            String::from_utf8_lossy(&crate::time::format(now_ms))
        )
    })
}

/// Writes to stderr, ignoring failures (a closed stderr must not stop anything).
pub fn eprint(text: &str) {
    let _ = std::io::stderr().write_all(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy() -> Snapshot {
        Snapshot {
            bytes_read: 123_456_789_012,
            total_bytes: 987_654_321_098,
            records: 123_456_789_012,
            calls: 234_567_890_123,
            rejected: 12_345_678,
            secs: 3_600.0,
        }
    }

    #[test]
    fn progress_line_fits_every_width() {
        for s in [
            busy(),
            Snapshot::default(),
            Snapshot {
                total_bytes: 0,
                ..busy()
            },
        ] {
            for width in 0..=240 {
                let line = progress_line(&s, width);
                assert!(
                    line.chars().count() <= width,
                    "{width}: {line:?} is {} wide",
                    line.chars().count()
                );
            }
        }
    }

    #[test]
    fn progress_line_keeps_the_most_useful_parts() {
        let s = busy();
        let wide = progress_line(&s, 200);
        assert!(wide.starts_with("[###"), "{wide}");
        for part in ["/s", "eta ", " records (", " calls", " rejected"] {
            assert!(wide.contains(part), "{part} missing from {wide}");
        }
        // 119 columns (a 120-column terminal): all but records/s, with a short bar.
        assert_eq!(
            progress_line(&s, 119),
            "[#         ] 115.0 GiB/919.8 GiB 32.7 MiB/s eta 7h00m 123,456,789,012 records \
             234,567,890,123 calls 12,345,678 rejected"
        );
        // 79 columns: no rates, no calls, no room for a bar; ETA and rejects stay.
        assert_eq!(
            progress_line(&s, 79),
            "115.0 GiB/919.8 GiB eta 7h00m 123,456,789,012 records 12,345,678 rejected"
        );
        // 45 columns: bytes and records only.
        assert_eq!(
            progress_line(&s, 45),
            "115.0 GiB/919.8 GiB 123,456,789,012 records"
        );
        // Very narrow: cut.
        assert_eq!(progress_line(&s, 10), "115.0 GiB/");
    }

    #[test]
    fn progress_line_without_a_total() {
        let s = Snapshot {
            bytes_read: 2048,
            records: 1,
            calls: 1,
            secs: 2.0,
            ..Snapshot::default()
        };
        assert_eq!(
            progress_line(&s, 100),
            "2.0 KiB 1.0 KiB/s 1 record (0/s) 1 call 0 rejected"
        );
    }

    #[test]
    fn counts_are_singular_for_one() {
        assert_eq!(count(0, "record"), "0 records");
        assert_eq!(count(1, "record"), "1 record");
        assert_eq!(count(1234, "part file"), "1,234 part files");
        assert_eq!(duration(59.4), "59s");
        assert_eq!(duration(187.0), "3m07s");
        assert_eq!(duration(7500.0), "2h05m");
        assert_eq!(binary(1023), "1023 B");
        assert_eq!(binary(1536), "1.5 KiB");
    }
}
