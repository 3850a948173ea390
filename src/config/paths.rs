//! The inputs checked against a local output directory (docs/mapping.md §13), for the command
//! line (`src/cli/paths.rs`, which also checks the named files) and for a [`super::Config`]
//! built in code alike: an input at or below `--out` is refused; an output directory inside
//! an input directory is returned, for discovery to skip.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// `path` made absolute with every existing part resolved (links included), so two spellings
/// of one place compare equal; the part that does not exist yet is appended as written.
pub(crate) fn resolved(path: &Path) -> PathBuf {
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

/// Is this argument an object-store URL (checked when listed, not here)?
fn is_url(p: &Path) -> bool {
    p.to_str().is_some_and(crate::store::is_url)
}

/// A local input as given, with its resolved path.
pub(crate) type Given<'a> = (&'a Path, PathBuf);

/// The local inputs (not `-`, not URLs), each with its resolved path, checked against `out`
/// (a local output directory, resolved): an input at or below it is refused. Returns them and
/// the output directory when it lies inside an input directory (discovery skips it).
pub(crate) fn inputs_against_out<'a>(
    inputs: &'a [PathBuf],
    out: Option<&Path>,
) -> Result<(Vec<Given<'a>>, Option<PathBuf>)> {
    let mut exclude = None;
    let mut given = Vec::new();
    for input in inputs.iter().filter(|i| i.as_os_str() != "-" && !is_url(i)) {
        let real = input
            .canonicalize()
            .map_err(|e| Error::Usage(format!("cannot read input {}: {e}", input.display())))?;
        if let Some(out) = out {
            if real.starts_with(out) {
                return Err(Error::Usage(format!(
                    "input {} is inside --out {}: a run's output never holds its inputs",
                    input.display(),
                    out.display()
                )));
            }
            if real.is_dir() && out.starts_with(&real) {
                exclude = Some(out.to_path_buf());
            }
        }
        given.push((input.as_path(), real));
    }
    Ok((given, exclude))
}

/// A local output directory, resolved (None for none, or an object-store URL).
pub(crate) fn local_out(out: Option<&Path>) -> Option<PathBuf> {
    out.filter(|o| !is_url(o)).map(resolved)
}
