//! The program: parse flags, validate them, run, put the files in place, report, and exit with
//! the status docs/mapping.md gives.

use crate::cli::Cli;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::output::{self, files::FileSet};
use crate::pipeline::{self, Live, RunResult};
use crate::report::{self, ProgressUi};
use clap::Parser;
use std::ffi::OsString;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Runs the command line of this process; returns the exit status.
pub fn main() -> i32 {
    // Arguments are taken as they are: a path that is not UTF-8 is still a path.
    let args: Vec<OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let command_line: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let cli = match cli.command {
        crate::cli::Cmd::Plan(a) => return crate::shard::plan::run(&a),
        crate::cli::Cmd::Merge(a) => return crate::shard::merge::run(&a, &command_line),
        crate::cli::Cmd::Send(send) => {
            install_signal_handlers();
            return crate::send::main(*send, command_line);
        }
        command => Cli { command },
    };
    let cfg = match cli.into_config(command_line) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    install_signal_handlers();
    let live = Arc::new(Live::default());
    let progress = ProgressUi::start(&cfg, Arc::clone(&live));
    let result = execute(&cfg, &live);
    progress.finish();
    let result = match result {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    if !cfg.quiet {
        report::eprint(&report::summary_text(&cfg, &result));
    }
    result.exit_code()
}

/// Runs `convert` or `check` from a validated configuration, start to end: the output files
/// are prepared (all refusals happen here, before any work), the pipeline runs, and the files
/// are put into place with the manifest last. On any failure, a panic included, this run's
/// files are removed and nothing that looks complete is left.
pub fn execute(cfg: &Config, live: &Live) -> Result<RunResult> {
    let mut files = output::open_files(cfg)?;
    let started_at = now_ms();
    let run = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let result = pipeline::run(cfg, live, files.as_mut())?;
        complete(cfg, &result, files.as_mut(), started_at)?;
        Ok(result)
    }));
    let outcome = run.unwrap_or_else(|_| Err(Error::Internal("the writer thread panicked".into())));
    if outcome.is_err()
        && let Some(f) = files.as_mut()
    {
        f.abort();
    }
    outcome
}

/// Puts a finished run's files into place (docs/mapping.md §13): the summary is written
/// first under a temporary name, then the part and error files are renamed into place, then
/// the summary, and the manifest last. A failure on the way removes the summary again; the
/// caller removes the rest.
fn complete(
    cfg: &Config,
    result: &RunResult,
    mut files: Option<&mut FileSet>,
    started_at: i64,
) -> Result<()> {
    let summary = match &cfg.summary_json {
        Some(target) => {
            let mut text = serde_json::to_vec_pretty(&report::summary_json(cfg, result))
                .expect("summary serializes");
            text.push(b'\n');
            let tmp = target.temp();
            std::fs::write(&tmp, text).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                Error::io(&target.path, e)
            })?;
            Some((tmp, &target.path))
        }
        None => None,
    };
    let placed = (|| {
        if let Some(f) = files.as_deref_mut() {
            f.commit()?;
        }
        if let Some((tmp, path)) = &summary {
            std::fs::rename(tmp, path).map_err(|e| Error::io(path, e))?;
        }
        if let Some(f) = files.as_deref_mut() {
            pipeline::write_manifest(cfg, result, f, started_at, now_ms())?;
        }
        Ok(())
    })();
    if placed.is_err()
        && let Some((tmp, path)) = &summary
    {
        let _ = std::fs::remove_file(tmp);
        let _ = std::fs::remove_file(path);
    }
    placed
}

fn fail(e: &Error) -> i32 {
    report::eprint(&format!("track2pipelines: error: {e}\n"));
    e.exit_code()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// SIGINT/SIGTERM ask the run to stop and clean up; more of them change nothing, so the
/// cleanup always finishes. SIGXFSZ (a
/// write past the file-size limit, `ulimit -f`) is caught and ignored, so the write fails with
/// EFBIG and the run ends like on any write error (the file named, the run's files removed, no
/// manifest) instead of being killed with its temporary files left behind.
fn install_signal_handlers() {
    // SAFETY: an empty handler is async-signal-safe.
    let _ = unsafe { signal_hook::low_level::register(signal_hook::consts::SIGXFSZ, || {}) };
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // SAFETY: the handler only stores to atomics, which is async-signal-safe.
        let _ = unsafe {
            signal_hook::low_level::register(sig, move || {
                // The signal first: whoever sees STOP also sees which signal set it.
                let _ = pipeline::STOP_SIGNAL.compare_exchange(
                    0,
                    sig,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                );
                pipeline::STOP.store(true, Ordering::SeqCst);
            })
        };
    }
}
