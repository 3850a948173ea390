//! The state directory (`--state DIR`): created if missing, locked for the run's whole life
//! (an exclusive lock on a file inside it, so a second send on it exits 2 at once), and holding
//! only files of known names. `--restart` removes exactly those files; anything else in DIR is
//! left alone, and a name of ours that is a symbolic link is refused, never followed.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// The lock file's name.
pub const LOCK: &str = ".send.lock";
/// The ledger (see [`super::ledger`]).
pub const LEDGER: &str = "ledger.ndjson";
/// Calls not sent: invalid, too large, refused by the server, or recent with `--recent skip`.
pub const SEND_ERRORS: &str = "send-errors.ndjson";
/// What the send did, written last.
pub const MANIFEST: &str = "send-manifest.json";
/// Records `--from track` rejected.
pub const ERRORS: &str = "errors.ndjson";
/// `--dry-run`'s request bodies.
pub const DRY_RUN: &str = "dry-run";
/// `--from track`'s conversion (a convert output directory).
pub const CONVERTED: &str = "converted";

/// An open, locked state directory.
pub struct State {
    /// The directory.
    pub dir: PathBuf,
    _lock: File,
}

impl State {
    /// Opens (creating it if needed) and locks `dir`; with `restart`, removes the files of
    /// earlier sends first.
    pub fn open(dir: &Path, restart: bool) -> Result<State> {
        if dir.exists() && !dir.is_dir() {
            return Err(Error::Usage(format!(
                "--state {} is not a directory",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        for name in [
            LOCK,
            LEDGER,
            SEND_ERRORS,
            MANIFEST,
            ERRORS,
            DRY_RUN,
            CONVERTED,
        ] {
            let p = dir.join(name);
            if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(Error::Usage(format!(
                    "{} is a symbolic link; the state directory's files are never followed through links",
                    p.display()
                )));
            }
        }
        let lock_path = dir.join(LOCK);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Usage(format!(
                    "another send holds the state directory {}",
                    dir.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&lock_path, e)),
        }
        let state = State {
            dir: dir.to_path_buf(),
            _lock: lock,
        };
        if restart {
            state.remove_own_files()?;
        }
        Ok(state)
    }

    /// The path of one of our files.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Removes what earlier sends wrote: our named files, the dry-run bodies, the conversion.
    pub fn remove_own_files(&self) -> Result<()> {
        // The manifest first, so a half-cleaned state never looks complete.
        for name in [MANIFEST, LEDGER, SEND_ERRORS, ERRORS] {
            remove_if_there(&self.path(name))?;
            remove_if_there(&self.path(&format!(".{name}.partial")))?;
        }
        self.clear_dry_run()?;
        let conv = self.path(CONVERTED);
        if conv.is_dir() {
            crate::output::dir::remove_run_output(&conv)?;
        }
        Ok(())
    }

    /// Removes the bodies of an earlier dry run (`dry-run/batch-NNNNNN.json` only).
    pub fn clear_dry_run(&self) -> Result<()> {
        let dry = self.path(DRY_RUN);
        let Ok(entries) = std::fs::read_dir(&dry) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let ours = name
                .strip_prefix("batch-")
                .and_then(|r| r.strip_suffix(".json"));
            if ours.is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                && entry.file_type().is_ok_and(|t| t.is_file())
            {
                remove_if_there(&entry.path())?;
            }
        }
        let _ = std::fs::remove_dir(&dry);
        Ok(())
    }
}

fn remove_if_there(p: &Path) -> Result<()> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(p, e)),
    }
}

/// Writes `bytes` to `dir/name` under a temporary name, then renames it into place.
pub fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.partial"));
    let res = File::create(&tmp).and_then(|mut f| {
        std::io::Write::write_all(&mut f, bytes)?;
        f.sync_all()
    });
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(&path, e));
    }
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
    super::ledger::sync_dir(&path);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_removes_only_our_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for name in [LEDGER, SEND_ERRORS, MANIFEST, "notes.txt"] {
            std::fs::write(d.join(name), "x").unwrap();
        }
        std::fs::create_dir(d.join(DRY_RUN)).unwrap();
        std::fs::write(d.join(DRY_RUN).join("batch-000001.json"), "{}").unwrap();
        std::fs::write(d.join(DRY_RUN).join("mine.json"), "{}").unwrap();
        let s = State::open(d, true).unwrap();
        assert!(d.join("notes.txt").exists());
        assert!(!d.join(LEDGER).exists() && !d.join(MANIFEST).exists());
        assert!(!d.join(DRY_RUN).join("batch-000001.json").exists());
        assert!(d.join(DRY_RUN).join("mine.json").exists());
        assert!(matches!(State::open(d, false), Err(Error::Usage(_))));
        drop(s);
        assert!(State::open(d, false).is_ok());
    }
}
