//! One `convert` or `check` job from a validated [`Config`], start to end: the output files
//! prepared (every refusal happens here, before any work), what to read worked out (the
//! sources found, a remote `--out` kept out of them, a shard's share and its ranges), the
//! pipeline run over them, and the files put into place with the manifest last
//! (docs/mapping.md §13). The library's entry point for a whole run: [`execute`].

use crate::config::Config;
use crate::error::{Error, Result, fault};
use crate::input;
use crate::output::files::FileSet;
use crate::output::{self, Scope, manifest};
use crate::pipeline::{self, Inputs, Live, RunResult};
use crate::report;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Runs `convert` or `check` from a validated configuration, start to end: the output files
/// are prepared (all refusals happen here, before any work), the pipeline runs, and the files
/// are put into place with the manifest last. On any failure, a panic included, this run's
/// files are removed and nothing that looks complete is left.
pub fn execute(cfg: &Config, live: &Live) -> Result<RunResult> {
    let mut files = output::open_files(cfg)?;
    if let Some(f) = files.as_mut() {
        f.watch(live.cancel.clone());
    }
    let started_at = now_ms();
    let run = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let started = Instant::now();
        let inputs = inputs(cfg)?;
        if let Some(size) = known_size(&inputs) {
            live.total_bytes.store(size, Ordering::Relaxed);
        }
        let mut result = pipeline::run(cfg, inputs, live, files.as_mut())?;
        result.elapsed = started.elapsed();
        if let Some(f) = files.as_mut() {
            result.parts = std::mem::take(&mut f.parts);
            result.errors = f.errors_record.take();
        }
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

/// What the run reads: the sources found under the inputs, without the files of a remote
/// `--out` (docs/scale-out.md), and of those this process's share with its ranges: all of them
/// whole without `--shard`.
fn inputs(cfg: &Config) -> Result<Inputs> {
    let found = input::discover(&cfg.inputs, cfg.input_format, cfg.exclude.as_deref())?;
    let mut sources = found.sources;
    if let Some(url) = cfg.output.as_ref().and_then(|o| o.dir.to_str()) {
        let inputs: Vec<String> = cfg
            .inputs
            .iter()
            .map(|i| i.to_string_lossy().into_owned())
            .collect();
        input::remote::keep_out_of_inputs(url, &inputs, &mut sources)?;
    }
    let (sources, ranges, shard) = crate::shard::take_share(cfg, sources)?;
    Ok(Inputs {
        sources,
        ranges,
        shard,
        skipped: found.skipped,
    })
}

/// The bytes the run will read, for the progress display: a shard's part of a cut file counts
/// its range only; `None` when a source's size is not known.
fn known_size(inputs: &Inputs) -> Option<u64> {
    inputs
        .sources
        .iter()
        .zip(&inputs.ranges)
        .map(|(s, r)| s.size.map(|z| r.end.unwrap_or(z).min(z) - r.start.min(z)))
        .sum()
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
        Some(target) if !target.stream => {
            let mut text = serde_json::to_vec_pretty(&report::summary_json(cfg, result))
                .expect("summary serializes");
            text.push(b'\n');
            let tmp = target.temp();
            crate::target::write_temp(&tmp, &text)?;
            Some((tmp, &target.path))
        }
        _ => None,
    };
    let placed = (|| {
        if let Some(f) = files.as_deref_mut() {
            f.commit()?;
        }
        if let Some((tmp, path)) = &summary {
            std::fs::rename(tmp, path).map_err(|e| Error::io(path, e))?;
        }
        if let Some(f) = files.as_deref_mut() {
            write_manifest(cfg, result, f, started_at, now_ms())?;
        }
        Ok(())
    })();
    if placed.is_err()
        && let Some((tmp, path)) = &summary
    {
        let _ = std::fs::remove_file(tmp);
        let _ = std::fs::remove_file(path);
    }
    placed?;
    match &cfg.summary_json {
        Some(target) if target.stream => {
            let mut text = serde_json::to_vec_pretty(&report::summary_json(cfg, result))
                .expect("summary serializes");
            text.push(b'\n');
            let mut f = target.open()?;
            std::io::Write::write_all(&mut f, &text).map_err(|e| Error::io(&target.path, e))
        }
        _ => Ok(()),
    }
}

/// Writes the manifest of a completed `convert` run: the last file, after every other file
/// of the run is in place.
fn write_manifest(
    cfg: &Config,
    result: &RunResult,
    files: &mut FileSet,
    started_at_ms: i64,
    finished_at_ms: i64,
) -> Result<()> {
    let Some(out) = &cfg.output else {
        return Ok(());
    };
    let scope = cfg.shard.map_or(Scope::All, Scope::Shard);
    let name = scope.manifest_name();
    if fault("fail-manifest") {
        let err = std::io::Error::other("injected failure");
        return Err(Error::io(out.dir.join(&name), err));
    }
    let m = manifest::Manifest {
        tool: manifest::TOOL.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        command_line: cfg.command_line.clone(),
        started_at: manifest::ts(started_at_ms),
        finished_at: manifest::ts(finished_at_ms),
        now: manifest::ts(cfg.translate.now_ms()),
        shards: None,
        inputs: result
            .inputs
            .iter()
            .map(manifest::InputEntry::from)
            .collect(),
        files: result.parts.iter().map(manifest::FileEntry::from).collect(),
        errors: manifest::ErrorFiles::Run(result.errors.as_ref().map(|r| manifest::ErrorsEntry {
            path: r.path.clone(),
            entries: r.lines,
            bytes: r.bytes,
            checksum_xxh3_128: r.checksum.clone(),
        })),
        totals: manifest::Totals::from(&result.total),
        shard: result.shard.clone(),
    };
    files.put_manifest(&name, &manifest::text(&m))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
