//! The paths of a `convert` or `check` command line checked against each other before any
//! work starts (docs/mapping.md §13): no input inside `--out`, no file option on an input or
//! below an output directory.

use super::ConversionFlags;
use crate::config::paths::{inputs_against_out, local_out, resolved};
use crate::error::{Error, Result};
use crate::target::Target;
use std::path::{Path, PathBuf};

/// The inputs as given, checked against the run's outputs (docs/mapping.md §13): an input at or
/// below `--out` is refused; `--out` inside an input directory is skipped by discovery
/// (returned); a file option naming an input or a file below `--out` is refused.
pub(super) fn check_paths(
    inputs: &[PathBuf],
    out: Option<&Path>,
    files: &[(&str, &Target)],
) -> Result<Option<PathBuf>> {
    // An object-store `--out` is checked against the inputs when they are listed.
    let out = local_out(out);
    let (given, exclude) = inputs_against_out(inputs, out.as_deref())?;
    for (flag, target) in files {
        let real = resolved(&target.path);
        if let Some(out) = &out
            && real.starts_with(out)
        {
            return Err(Error::Usage(format!(
                "{flag} {} is inside --out {}: choose a file outside it",
                target.path.display(),
                out.display()
            )));
        }
        if let Some(run_dir) = real
            .ancestors()
            .skip(1)
            .find(|a| crate::output::dir::is_run_dir(a))
        {
            return Err(Error::Usage(format!(
                "{flag} {} is inside {}, the output of a track2pipelines run: choose a file outside it",
                target.path.display(),
                run_dir.display()
            )));
        }
        if let Some((input, _)) = given
            .iter()
            .find(|(_, r)| *r == real || (r.is_dir() && real.starts_with(r)))
        {
            return Err(Error::Usage(format!(
                "{flag} {} would overwrite or join the input {}",
                target.path.display(),
                input.display()
            )));
        }
    }
    Ok(exclude)
}

/// Checks the files named on the command line (`--errors`, `--summary-json`) and then every
/// path against the others; returns the two targets and the directory discovery must skip.
pub(super) fn checked_paths(
    job: &ConversionFlags,
) -> Result<(Option<Target>, Option<Target>, Option<PathBuf>)> {
    let errors_file = job
        .errors
        .as_ref()
        .map(|p| Target::check(p, "--errors"))
        .transpose()?;
    let summary_json = job
        .report
        .summary_json
        .as_ref()
        .map(|p| Target::check(p, "--summary-json"))
        .transpose()?;
    let mut named = Vec::new();
    if let Some(t) = &errors_file {
        named.push(("--errors", t));
    }
    if let Some(t) = &summary_json {
        named.push(("--summary-json", t));
    }
    let exclude = check_paths(
        &job.inputs,
        job.output.as_ref().map(|o| o.dir.as_path()),
        &named,
    )?;
    Ok((errors_file, summary_json, exclude))
}
