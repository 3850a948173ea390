//! Everything the run writes: partition paths ([`partition`]), the part and error files with
//! rotation, compression and temp-then-rename ([`files`]), error-file entries ([`errors`]) and
//! the manifest ([`manifest`]).

pub mod errors;
pub mod files;
pub mod manifest;
pub mod partition;

use crate::error::{Error, Result};
use std::path::Path;

/// Is this a file an earlier run wrote (or left behind)?
fn is_run_file(name: &str) -> bool {
    let name = name.strip_prefix('.').unwrap_or(name);
    name == "manifest.json"
        || name.starts_with("manifest.json.")
        || name.starts_with("errors.ndjson")
        || (name.starts_with("part-") && name.contains(".ndjson"))
}

fn run_files(dir: &Path, found: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
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
/// looks complete).
pub fn prepare_dir(dir: &Path, overwrite: bool) -> Result<()> {
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
    found.sort_by_key(|p| !p.ends_with("manifest.json"));
    for p in &found {
        std::fs::remove_file(p).map_err(|e| Error::io(p, e))?;
    }
    remove_empty_dirs(dir, dir);
    Ok(())
}

/// Removes the empty directories below `dir` (partition directories of an old run).
fn remove_empty_dirs(root: &Path, dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_empty_dirs(root, &entry.path());
        }
    }
    if dir != root {
        let _ = std::fs::remove_dir(dir);
    }
}
