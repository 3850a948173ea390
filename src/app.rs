//! The program: parse flags, validate them, run, report, exit with the status SPEC §4 gives.

use crate::cli::Cli;
use crate::error::Error;
use crate::pipeline::{self, Live};
use crate::report::{self, ProgressUi};
use clap::Parser;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Runs the command line of this process; returns the exit status.
pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let cli = match cli.command {
        crate::cli::Cmd::Send(send) => {
            install_signal_handlers();
            return crate::send::main(*send, args);
        }
        command => Cli { command },
    };
    let cfg = match cli.into_config(args) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    install_signal_handlers();
    let live = Arc::new(Live::default());
    let progress = ProgressUi::start(&cfg, Arc::clone(&live));
    let started_at = now_ms();
    let result = pipeline::run(&cfg, &live);
    progress.finish();
    let result = match result {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    if let Err(e) = pipeline::write_manifest(&cfg, &result, started_at, now_ms()) {
        return fail(&e);
    }
    if !cfg.quiet {
        report::eprint(&report::summary_text(&cfg, &result));
    }
    if let Some(path) = &cfg.summary_json {
        let mut text = serde_json::to_vec_pretty(&report::summary_json(&cfg, &result))
            .expect("summary serializes");
        text.push(b'\n');
        if let Err(e) = std::fs::write(path, text) {
            return fail(&Error::io(path, e));
        }
    }
    result.exit_code()
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

/// SIGINT/SIGTERM ask the run to stop and clean up; a second one exits at once. SIGXFSZ (a
/// write past the file-size limit, `ulimit -f`) is caught and ignored, so the write fails with
/// EFBIG and the run ends like on any write error (the file named, the run's files removed, no
/// manifest) instead of being killed with its temporary files left behind.
fn install_signal_handlers() {
    // SAFETY: an empty handler is async-signal-safe.
    let _ = unsafe { signal_hook::low_level::register(signal_hook::consts::SIGXFSZ, || {}) };
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // SAFETY: the handler only stores to atomics and calls `_exit`, both async-signal-safe.
        let _ = unsafe {
            signal_hook::low_level::register(sig, move || {
                if pipeline::STOP.swap(true, Ordering::SeqCst) {
                    signal_hook::low_level::exit(128 + sig);
                }
                pipeline::STOP_SIGNAL.store(sig, Ordering::SeqCst);
            })
        };
    }
}
