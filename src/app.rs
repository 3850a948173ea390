//! The program: parse the flags and validate them into the subcommand's configuration
//! ([`crate::cli`]), run it (`convert`/`check` through [`crate::job`], `send`, `plan`,
//! `merge`), turn SIGINT/SIGTERM into a stop request, report, and exit with the status
//! docs/mapping.md gives.

use crate::cancel::Cancel;
use crate::cli::Validated;
use crate::error::Error;
use crate::job;
use crate::pipeline::Live;
use crate::report::{self, ProgressUi};
use std::ffi::OsString;
use std::sync::Arc;

/// Runs the command line of this process; returns the exit status.
pub fn main() -> i32 {
    // Arguments are taken as they are: a path that is not UTF-8 is still a path.
    let args: Vec<OsString> = std::env::args_os().collect();
    let (cli, matches) = match crate::cli::parse(&args) {
        Ok(parsed) => parsed,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let command_line: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let cfg = match cli.validate(&matches, command_line) {
        Ok(Validated::Job(cfg)) => cfg,
        Ok(Validated::Plan(cfg)) => {
            return match crate::shard::plan::run(&cfg) {
                Ok(plan) => {
                    println!("{plan}");
                    0
                }
                Err(e) => fail(&e),
            };
        }
        Ok(Validated::Merge(cfg)) => {
            return match crate::shard::merge::run(&cfg) {
                Ok(summary) => {
                    report::eprint(&summary);
                    0
                }
                Err(e) => fail(&e),
            };
        }
        Ok(Validated::Send(cfg)) => {
            let cancel = Cancel::new();
            install_signal_handlers(&cancel);
            return crate::send::main(&cfg, &cancel);
        }
        Err(e) => return fail(&e),
    };
    let live = Arc::new(Live::default());
    install_signal_handlers(&live.cancel);
    let progress = ProgressUi::start(&cfg, Arc::clone(&live));
    let result = job::execute(&cfg, &live);
    progress.finish();
    let result = match result {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    if !cfg.quiet {
        report::eprint(&report::summary_text(&cfg, &result));
    }
    let now = cfg.translate.now_ms();
    if let Some(warning) = report::stamped_now_warning(result.total.calls_stamped_now, now) {
        report::eprint(&warning);
    }
    result.exit_code()
}

fn fail(e: &Error) -> i32 {
    report::eprint(&format!("track2pipelines: error: {e}\n"));
    e.exit_code()
}

/// SIGINT/SIGTERM request `cancel`: the run stops and cleans up; more of them change nothing,
/// so the cleanup always finishes. SIGXFSZ (a write past the file-size limit, `ulimit -f`) is
/// caught and ignored, so the write fails with EFBIG and the run ends like on any write error
/// (the file named, the run's files removed, no manifest) instead of being killed with its
/// temporary files left behind.
fn install_signal_handlers(cancel: &Cancel) {
    // SAFETY: an empty handler is async-signal-safe.
    let _ = unsafe { signal_hook::low_level::register(signal_hook::consts::SIGXFSZ, || {}) };
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let cancel = cancel.clone();
        // SAFETY: the handler only stores to atomics (`Cancel::request`), which is
        // async-signal-safe; the clone it holds is made here, not in the handler.
        let _ = unsafe { signal_hook::low_level::register(sig, move || cancel.request(sig)) };
    }
}
