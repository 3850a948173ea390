//! The state directory (`--state DIR`), kept the user's as `--out` is (docs/send.md, "The
//! state directory"): created if missing, locked for the run's whole life (an exclusive lock
//! on a file inside it, so a second send on it exits 2 at once), and journaled: every file and
//! directory a send creates there is recorded in `DIR/.send.journal` before it is created.
//! Files are created exclusively (`O_CREAT|O_EXCL|O_NOFOLLOW`) and no symbolic link in DIR is
//! followed: a link where the state would write exits 2 naming it. A name of ours that exists
//! and is not in the journal is not ours: the run exits 2 naming it, before changing anything.
//! `--restart` removes exactly the files the journal lists; anything else in DIR is left alone.

use crate::error::{Error, Result};
use crate::target::{create_temp, temp_of};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The lock file's name.
pub const LOCK: &str = ".send.lock";
/// The journal: one line per file or directory a send created in the state.
pub const JOURNAL: &str = ".send.journal";
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
    journal: File,
    /// What the journal lists (paths relative to the directory).
    ours: Mutex<BTreeSet<String>>,
}

use crate::output::dir::{no_follow, plain_rel};

fn link_refused(p: &Path) -> Error {
    Error::Usage(format!(
        "{} is a symbolic link; the state directory's files are never followed through links",
        p.display()
    ))
}

fn not_ours(p: &Path) -> Error {
    Error::Usage(format!(
        "{} exists and no send wrote it (it is not in the state's journal); it is left alone: \
         move it, or choose another --state",
        p.display()
    ))
}

fn open_error(p: &Path, e: std::io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::ELOOP) => link_refused(p),
        _ => Error::io(p, e),
    }
}

impl State {
    /// Opens (creating it if needed) and locks `dir`; with `restart`, removes the files of
    /// earlier sends (those its journal lists) first.
    pub fn open(dir: &Path, restart: bool) -> Result<State> {
        match dir.symlink_metadata() {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() && dir.is_dir() => {}
            Ok(_) => {
                return Err(Error::Usage(format!(
                    "--state {} is not a directory",
                    dir.display()
                )));
            }
            Err(_) => std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?,
        }
        for name in [LOCK, JOURNAL] {
            let p = dir.join(name);
            if p.symlink_metadata()
                .is_ok_and(|m| m.file_type().is_symlink())
            {
                return Err(link_refused(&p));
            }
        }
        let lock_path = dir.join(LOCK);
        let lock = no_follow()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| open_error(&lock_path, e))?;
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
        let (journal, ours) = open_journal(dir)?;
        let state = State {
            dir: dir.to_path_buf(),
            _lock: lock,
            journal,
            ours: Mutex::new(ours),
        };
        if restart {
            state.remove_own_files()?;
        }
        state.check_free(&[LEDGER, SEND_ERRORS, MANIFEST, DRY_RUN])?;
        Ok(state)
    }

    /// The path of one of our files.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Did a send create `name` here (is it in the journal)?
    pub fn is_ours(&self, name: &str) -> bool {
        self.ours.lock().expect("not poisoned").contains(name)
    }

    /// Checks, before anything changes, that each of `names` can be written: not a link, and
    /// either absent or written by a send.
    pub fn check_free(&self, names: &[&str]) -> Result<()> {
        for name in names {
            let p = self.path(name);
            match p.symlink_metadata() {
                Ok(m) if m.file_type().is_symlink() => return Err(link_refused(&p)),
                // The user's own `dry-run/` may hold the bodies: each is created exclusively.
                Ok(m) if m.is_dir() && *name == DRY_RUN => {}
                Ok(_) if !self.is_ours(name) => return Err(not_ours(&p)),
                _ => {}
            }
            let t = temp_of(&p);
            if t.symlink_metadata()
                .is_ok_and(|m| m.file_type().is_symlink())
            {
                return Err(link_refused(&t));
            }
        }
        Ok(())
    }

    /// Records `name` (a file, or a directory with `dir`) in the journal before it is created,
    /// after checking that it is free ([`State::check_free`]).
    pub fn claim(&self, name: &str, dir: bool) -> Result<PathBuf> {
        self.check_free(&[name])?;
        let mut ours = self.ours.lock().expect("not poisoned");
        if !ours.contains(name) {
            let key = if dir { "dir" } else { "file" };
            let mut line = serde_json::to_vec(&serde_json::json!({ key: name })).expect("json");
            line.push(b'\n');
            (&self.journal)
                .write_all(&line)
                .map_err(|e| Error::io(self.path(JOURNAL), e))?;
            ours.insert(name.to_owned());
        }
        Ok(self.path(name))
    }

    /// Creates `name` anew (an earlier file of ours there is replaced), exclusively.
    pub fn create(&self, name: &str) -> Result<File> {
        let p = self.claim(name, false)?;
        remove_if_there(&p)?;
        no_follow()
            .write(true)
            .create_new(true)
            .open(&p)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => not_ours(&p),
                _ => open_error(&p, e),
            })
    }

    /// Opens `name`, one of our files, for writing without following a link.
    pub fn open_ours(&self, name: &str, append: bool) -> Result<File> {
        let p = self.claim(name, false)?;
        let mut o = no_follow();
        if append {
            o.append(true);
        } else {
            o.write(true);
        }
        o.open(&p).map_err(|e| open_error(&p, e))
    }

    /// Creates the temporary file of `name` (`.NAME.partial`), exclusively.
    pub fn create_temp(&self, name: &str) -> Result<(File, PathBuf)> {
        let p = self.claim(name, false)?;
        let tmp = temp_of(&p);
        Ok((create_temp(&tmp)?, tmp))
    }

    /// Makes the directory `name` of ours (`dry-run`), if missing.
    pub fn make_dir(&self, name: &str) -> Result<PathBuf> {
        let p = self.claim(name, true)?;
        match p.symlink_metadata() {
            Ok(m) if m.is_dir() => Ok(p),
            Ok(_) => Err(not_ours(&p)),
            Err(_) => std::fs::create_dir(&p)
                .map(|()| p.clone())
                .map_err(|e| Error::io(&p, e)),
        }
    }

    /// Removes what earlier sends wrote, as the journal lists it: the manifest first (so a
    /// half-cleaned state never looks complete), then the other files, then the directories
    /// (the conversion as its own journal says, `dry-run/` once empty).
    pub fn remove_own_files(&self) -> Result<()> {
        let mut ours = self.ours.lock().expect("not poisoned");
        let mut names: Vec<&String> = ours.iter().collect();
        names.sort_by_key(|n| {
            (
                n.as_str() != MANIFEST,
                std::cmp::Reverse(n.matches('/').count()),
            )
        });
        for name in names {
            let p = self.path(name);
            if through_link(&self.dir, &p) {
                continue;
            }
            if name == CONVERTED {
                if p.symlink_metadata().is_ok_and(|m| m.is_dir()) {
                    crate::output::dir::remove_run_output(&p)?;
                }
                continue;
            }
            match p.symlink_metadata() {
                Ok(m) if m.is_file() => remove_if_there(&p)?,
                Ok(m) if m.is_dir() => {
                    let _ = std::fs::remove_dir(&p);
                }
                _ => {}
            }
            let t = temp_of(&p);
            if t.symlink_metadata().is_ok_and(|m| m.is_file()) {
                remove_if_there(&t)?;
            }
        }
        ours.retain(|n| self.path(n).symlink_metadata().is_ok());
        let mut text = Vec::new();
        for n in ours.iter() {
            let key = if self.path(n).is_dir() { "dir" } else { "file" };
            serde_json::to_writer(&mut text, &serde_json::json!({ key: n })).expect("json");
            text.push(b'\n');
        }
        self.journal
            .set_len(0)
            .and_then(|()| (&self.journal).write_all(&text))
            .and_then(|()| self.journal.sync_data())
            .map_err(|e| Error::io(self.path(JOURNAL), e))
    }

    /// Removes the bodies of an earlier dry run (`dry-run/batch-NNNNNN.json` of ours only).
    pub fn clear_dry_run(&self) -> Result<()> {
        let names: Vec<String> = {
            let ours = self.ours.lock().expect("not poisoned");
            ours.iter()
                .filter(|n| n.starts_with("dry-run/"))
                .cloned()
                .collect()
        };
        for name in names {
            let p = self.path(&name);
            if p.symlink_metadata().is_ok_and(|m| m.is_file()) && !through_link(&self.dir, &p) {
                remove_if_there(&p)?;
            }
        }
        Ok(())
    }

    /// Writes `bytes` to `name` under its temporary name, then renames it into place.
    pub fn write_atomically(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let (mut f, tmp) = self.create_temp(name)?;
        let path = self.path(name);
        if let Err(e) = f.write_all(bytes).and_then(|()| f.sync_all()) {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::io(&path, e));
        }
        self.place(&tmp, name)
    }

    /// Renames a temporary file of ours into place as `name` (a link there is refused).
    pub fn place(&self, tmp: &Path, name: &str) -> Result<()> {
        let path = self.claim(name, false)?;
        std::fs::rename(tmp, &path).map_err(|e| Error::io(&path, e))?;
        super::ledger::sync_dir(&path);
        Ok(())
    }
}

/// Is `p` reached through a symbolic link below `root`?
fn through_link(root: &Path, p: &Path) -> bool {
    p.ancestors().skip(1).take_while(|a| *a != root).any(|a| {
        a.symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
    })
}

/// Opens the journal (created if missing) and reads what it lists. A state made before the
/// journal existed is adopted when its ledger is a send's: its named files are ours.
fn open_journal(dir: &Path) -> Result<(File, BTreeSet<String>)> {
    let path = dir.join(JOURNAL);
    let existed = path.symlink_metadata().is_ok();
    let mut journal = no_follow()
        .create(true)
        .read(true)
        .append(true)
        .open(&path)
        .map_err(|e| open_error(&path, e))?;
    let mut text = Vec::new();
    journal
        .read_to_end(&mut text)
        .map_err(|e| Error::io(&path, e))?;
    let mut ours = BTreeSet::new();
    for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue; // a line cut short by a kill
        };
        if let Some(n) = v
            .get("file")
            .or_else(|| v.get("dir"))
            .and_then(|n| n.as_str())
            && plain_rel(n)
        {
            ours.insert(n.to_owned());
        }
    }
    if !existed && let Some(track) = legacy_ledger(dir) {
        let mut names = vec![LEDGER, SEND_ERRORS, MANIFEST];
        if track {
            names.extend([ERRORS, CONVERTED]);
        }
        for n in names {
            if dir.join(n).symlink_metadata().is_ok() {
                let key = if n == CONVERTED { "dir" } else { "file" };
                let mut line = serde_json::to_vec(&serde_json::json!({ key: n })).expect("json");
                line.push(b'\n');
                journal.write_all(&line).map_err(|e| Error::io(&path, e))?;
                ours.insert(n.to_owned());
            }
        }
    }
    Ok((journal, ours))
}

/// For a state without a journal: is its ledger a send's (and was it `--from track`'s)?
fn legacy_ledger(dir: &Path) -> Option<bool> {
    let p = dir.join(LEDGER);
    let mut f = no_follow().read(true).open(p).ok()?;
    let mut head = vec![0u8; 64 << 10];
    let n = f.read(&mut head).ok()?;
    let line = head[..n].split(|b| *b == b'\n').next()?;
    let h: super::ledger::Header = serde_json::from_slice(line).ok()?;
    (h.ledger == super::ledger::KIND).then(|| !h.identity["track"].is_null())
}

fn remove_if_there(p: &Path) -> Result<()> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(p, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_removes_only_files_the_journal_lists() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("notes.txt"), "x").unwrap();
        let s = State::open(d, false).unwrap();
        s.write_atomically(MANIFEST, b"{}").unwrap();
        s.create(LEDGER).unwrap();
        s.make_dir(DRY_RUN).unwrap();
        s.create("dry-run/batch-000001.json").unwrap();
        std::fs::write(d.join(DRY_RUN).join("mine.json"), "{}").unwrap();
        assert!(matches!(State::open(d, false), Err(Error::Usage(_))));
        drop(s);
        let s = State::open(d, true).unwrap();
        assert!(d.join("notes.txt").exists());
        assert!(!d.join(LEDGER).exists() && !d.join(MANIFEST).exists());
        assert!(!d.join(DRY_RUN).join("batch-000001.json").exists());
        assert!(d.join(DRY_RUN).join("mine.json").exists());
        drop(s);
        // A file of our names that no send wrote is refused, and --restart leaves it.
        std::fs::write(d.join(SEND_ERRORS), "mine").unwrap();
        assert!(matches!(State::open(d, true), Err(Error::Usage(_))));
        assert_eq!(std::fs::read(d.join(SEND_ERRORS)).unwrap(), b"mine");
    }

    #[test]
    fn a_link_at_a_temporary_name_is_refused_and_its_target_kept() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let d = dir.path();
        std::os::unix::fs::symlink(&victim, d.join(".send-manifest.json.partial")).unwrap();
        let err = State::open(d, false).err().expect("refused");
        assert!(matches!(&err, Error::Usage(m) if m.contains(".send-manifest.json.partial")));
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    }
}
