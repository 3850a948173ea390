//! The paths of a `convert` or `check` command line checked against each other before any
//! work starts (docs/mapping.md §13): no input inside `--out`, no file option on an input or
//! below an output directory.

use super::Job;
use crate::error::{Error, Result};
use crate::target::Target;
use std::path::{Path, PathBuf};

/// `path` made absolute with every existing part resolved (links included), so two spellings
/// of one place compare equal; the part that does not exist yet is appended as written.
fn resolved(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut tail = Vec::new();
    let mut head = abs.as_path();
    loop {
        if let Ok(real) = head.canonicalize() {
            let mut out = real;
            out.extend(tail.iter().rev());
            return out;
        }
        match (head.parent(), head.file_name()) {
            (Some(parent), Some(name)) => {
                tail.push(name.to_os_string());
                head = parent;
            }
            _ => return abs,
        }
    }
}

/// The inputs as given, checked against the run's outputs (docs/mapping.md §13): an input at or
/// below `--out` is refused; `--out` inside an input directory is skipped by discovery
/// (returned); a file option naming an input or a file below `--out` is refused.
pub(super) fn check_paths(
    inputs: &[PathBuf],
    out: Option<&Path>,
    files: &[(&str, &Target)],
) -> Result<Option<PathBuf>> {
    let is_url = |p: &Path| p.to_str().is_some_and(crate::store::is_url);
    // An object-store `--out` is checked against the inputs when they are listed.
    let out = out.filter(|o| !is_url(o)).map(resolved);
    let mut exclude = None;
    let mut given = Vec::new();
    for input in inputs.iter().filter(|i| i.as_os_str() != "-" && !is_url(i)) {
        let real = input
            .canonicalize()
            .map_err(|e| Error::Usage(format!("cannot read input {}: {e}", input.display())))?;
        if let Some(out) = &out {
            if real.starts_with(out) {
                return Err(Error::Usage(format!(
                    "input {} is inside --out {}: a run's output never holds its inputs",
                    input.display(),
                    out.display()
                )));
            }
            if real.is_dir() && out.starts_with(&real) {
                exclude = Some(out.clone());
            }
        }
        given.push((input, real));
    }
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
    job: &Job,
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
