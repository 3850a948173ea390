//! Everything the run writes: partition paths ([`partition`]), the part and error files with
//! rotation, compression and temp-then-rename ([`files`]), error-file entries ([`errors`]) and
//! the manifest ([`manifest`]), and which files of `--out` a run owns ([`scope`]).

pub mod errors;
pub mod files;
pub mod manifest;
pub mod partition;
pub mod remote;
pub mod scope;

pub use scope::Scope;

use crate::error::{Error, Result};
use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Is this a file an earlier run wrote (or left behind)?
pub(crate) fn is_run_file(name: &str) -> bool {
    let name = name.strip_prefix('.').unwrap_or(name);
    name == "manifest.json"
        || name.starts_with("manifest.json.")
        || name.starts_with("errors.ndjson")
        || name.starts_with("errors-")
        || scope::parse_shard_manifest_name(name).is_some()
        || (name.starts_with("part-") && name.contains(".ndjson"))
}

fn run_files(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let ty = entry.file_type()?;
        if ty.is_dir() {
            run_files(&path, found)?;
        } else if is_run_file(&entry.file_name().to_string_lossy()) {
            found.push(path);
        }
    }
    Ok(())
}

/// Makes `dir` ready for a run: created if missing; refused if it holds an earlier run's files,
/// unless `overwrite`, which removes them (the manifest first, so a half-cleaned directory never
/// looks complete) and the directories they leave empty. A shard's run (`scope`) looks only at
/// its own files and replaces them without `overwrite`.
pub fn prepare_dir(dir: &Path, overwrite: bool, scope: Scope) -> Result<()> {
    if !dir.exists() {
        return std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e));
    }
    if !dir.is_dir() {
        return Err(Error::Usage(format!(
            "--out {} is not a directory",
            dir.display()
        )));
    }
    let mut found = Vec::new();
    run_files(dir, &mut found).map_err(|e| Error::io(dir, e))?;
    if scope != Scope::All {
        found.retain(|p| {
            p.file_name()
                .is_some_and(|n| scope.replaces_freely(&n.to_string_lossy()))
        });
        return remove_run_files(dir, found);
    }
    if found.is_empty() {
        return Ok(());
    }
    if !overwrite {
        return Err(Error::Usage(format!(
            "--out {} already holds the output of a run ({} and {} more); pass --overwrite to replace it",
            dir.display(),
            found[0].strip_prefix(dir).unwrap_or(&found[0]).display(),
            found.len() - 1
        )));
    }
    remove_run_files(dir, found)
}

/// Removes an earlier run's files, manifests first, and the directories they leave empty.
fn remove_run_files(dir: &Path, mut found: Vec<PathBuf>) -> Result<()> {
    found.sort_by_key(|p| {
        !p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("manifest"))
    });
    for p in &found {
        std::fs::remove_file(p).map_err(|e| Error::io(p, e))?;
    }
    remove_emptied_dirs(dir, &found);
    Ok(())
}

/// Removes the directories below `root` that removing `files` left empty (partition
/// directories of an old run), deepest first; directories that still hold anything, or that
/// held none of `files` (a user's empty directory), stay.
fn remove_emptied_dirs(root: &Path, files: &[PathBuf]) {
    let dirs: BTreeSet<(Reverse<usize>, &Path)> = files
        .iter()
        .filter_map(|p| p.parent())
        .map(|d| (Reverse(d.components().count()), d))
        .collect();
    for (_, dir) in dirs {
        let mut dir = Some(dir);
        while let Some(d) = dir.filter(|d| *d != root && d.starts_with(root)) {
            if std::fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
    }
}
