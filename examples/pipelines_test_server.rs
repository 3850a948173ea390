//! A Data Pipelines-compatible server on 127.0.0.1, to try `send` end to end without a
//! workspace:
//!
//! ```text
//! cargo run --release --example pipelines_test_server -- --port 8787 --key test-key
//! CIO_WRITE_KEY=test-key track2pipelines send --endpoint http://127.0.0.1:8787/v1 --state st out/
//! ```
//!
//! It answers like the API: without the header `X-Strict-Mode: 1` (which `send` always sends)
//! it answers 200 and keeps nothing, as the API's permissive default does; with it, it checks
//! Basic auth (401) and the call types (400, `alias` only on `/v1/alias`). It answers 200 to
//! (and drops) requests over the API's limits, prints one line per request, and can inject
//! faults: `--fail-every N` gives every N-th request the next
//! of 503, a 429 with `Retry-After: 1`, a dropped connection and 500, in turn;
//! `--refuse-marker TEXT` answers 400 to any request holding a call that contains TEXT.
//! `--record FILE` keeps the accepted calls and writes them there, one a line, when the server
//! is stopped with Ctrl-C (or after `--exit-after` seconds); without it they are only counted.

#[path = "../tests/common/pipelines_server.rs"]
mod server;

use clap::Parser;
use std::io::Write;
use std::time::Duration;

#[derive(Parser)]
struct Args {
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 8787)]
    port: u16,
    /// The write key the server accepts.
    #[arg(long, default_value = "test-key")]
    key: String,
    /// Every N-th request gets a fault (503, 429, dropped connection, 500 in turn).
    #[arg(long)]
    fail_every: Option<u64>,
    /// Answer 400 to any request holding a call that contains this text.
    #[arg(long)]
    refuse_marker: Option<String>,
    /// Write the accepted calls to this file at the end.
    #[arg(long)]
    record: Option<std::path::PathBuf>,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    exit_after: Option<u64>,
}

fn main() {
    let args = Args::parse();
    let s = server::Server::start(&args.key, args.port, true);
    if let Some(n) = args.fail_every {
        *s.shared.chaos.lock().unwrap() = Some((
            n.max(1),
            vec![
                server::Fault::Status(503),
                server::Fault::RetryAfter("1".into()),
                server::Fault::Drop,
                server::Fault::Status(500),
            ],
        ));
    }
    *s.shared.refuse_marker.lock().unwrap() = args.refuse_marker.clone();
    s.shared
        .keep_calls
        .store(args.record.is_some(), std::sync::atomic::Ordering::Relaxed);
    println!("Pipelines test server on {} (key {:?})", s.url(), args.key);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, std::sync::Arc::clone(&stop)).expect("signal handler");
    }
    let started = std::time::Instant::now();
    while !stop.load(std::sync::atomic::Ordering::Relaxed)
        && args
            .exit_after
            .is_none_or(|t| started.elapsed() < Duration::from_secs(t))
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let calls = s.calls();
    println!(
        "{} requests, {} calls accepted, {} oversized requests dropped, {} without strict mode \
         (dropped), {} unauthorized",
        s.shared.requests.load(std::sync::atomic::Ordering::SeqCst),
        s.shared.accepted.load(std::sync::atomic::Ordering::SeqCst),
        s.shared.oversized.load(std::sync::atomic::Ordering::SeqCst),
        s.shared
            .permissive
            .load(std::sync::atomic::Ordering::SeqCst),
        s.shared
            .unauthorized
            .load(std::sync::atomic::Ordering::SeqCst),
    );
    if let Some(path) = &args.record {
        let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("record file"));
        for c in &calls {
            writeln!(f, "{c}").expect("write record");
        }
        f.flush().expect("flush record");
        println!("calls written to {}", path.display());
    }
}
