//! The output directory, kept the user's (docs/mapping.md §13): the lock that allows one run
//! per directory, the run journal that records every file and directory a run creates before
//! creating it, `--overwrite` removing exactly the files of earlier runs, refusal to follow
//! symbolic links below `--out`, temp-then-rename with the renames of a run done together at
//! its end, and their undoing after a fatal error.
//!
//! A [`RunDir`] is the `--out` of a `convert` run. A file named on the command line is a
//! [`crate::target::Target`].

use super::Scope;
use crate::error::{Error, Result};
use crate::target::temp_of;
use std::collections::{BTreeSet, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Hidden file inside `--out` that a run locks for its whole life (a shard's is
/// `.track2pipelines-<K>.lock`).
pub const LOCK_NAME: &str = ".track2pipelines.lock";
/// Hidden file inside `--out` listing every file and directory runs created there (a shard's
/// is `.track2pipelines-<K>.journal`).
pub const JOURNAL_NAME: &str = ".track2pipelines.journal";

/// The lock and journal names of a run's scope.
fn bookkeeping_names(scope: Scope) -> (String, String) {
    match scope {
        Scope::All => (LOCK_NAME.to_owned(), JOURNAL_NAME.to_owned()),
        Scope::Shard(s) => (
            format!(".track2pipelines-{:04}.lock", s.index),
            format!(".track2pipelines-{:04}.journal", s.index),
        ),
    }
}

/// Open options that refuse a symbolic link at the last component (`O_NOFOLLOW`): the files
/// of `--out` and of `send`'s state directory are never opened through a link.
pub(crate) fn no_follow() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.custom_flags(libc::O_NOFOLLOW);
    o
}

/// A symbolic link below `--out`: refused, never followed.
fn symlink_refused(path: &Path) -> Error {
    Error::Usage(format!(
        "{} is a symbolic link; track2pipelines follows no link below --out",
        path.display()
    ))
}

/// Does `dir` hold the output of a run (its journal, or a manifest of ours)?
pub fn is_run_dir(dir: &Path) -> bool {
    dir.join(JOURNAL_NAME).symlink_metadata().is_ok()
        || Earlier::read(dir, JOURNAL_NAME, "manifest.json").is_ok_and(|e| e.manifest)
}

/// The run journal of a convert run that began in `dir` and did not finish: a journal (the
/// job's, or with `shards`, a shard's) and no `manifest.json` (docs/mapping.md §13.1).
pub fn unfinished_journal(dir: &Path, shards: bool) -> Option<PathBuf> {
    if dir.join("manifest.json").symlink_metadata().is_ok() {
        return None;
    }
    if dir.join(JOURNAL_NAME).symlink_metadata().is_ok() {
        return Some(dir.join(JOURNAL_NAME));
    }
    if !shards {
        return None;
    }
    let entries = std::fs::read_dir(dir).ok()?;
    entries.flatten().map(|e| e.path()).find(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix(".track2pipelines-"))
            .and_then(|n| n.strip_suffix(".journal"))
            .is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Refuses (exit 2) a directory holding the run journal of a convert run and no
/// `manifest.json`: that run was killed or failed, and what it left is not an output (`send`,
/// `plan` and `merge` read no such directory). `merge` passes `shards: false`: shard journals
/// without a merged manifest are its own inputs.
pub fn refuse_unfinished(dir: &Path, merge: bool) -> Result<()> {
    match unfinished_journal(dir, !merge) {
        Some(j) => Err(Error::Usage(format!(
            "{} holds a run journal ({}) but no manifest.json: the convert run there was killed \
             or failed and its files are not a complete output; run it again (with \
             --overwrite){}",
            dir.display(),
            j.file_name().unwrap_or_default().to_string_lossy(),
            if merge { "" } else { ", or merge its shards" }
        ))),
        None => Ok(()),
    }
}

/// What earlier runs wrote into a directory, from its manifest and its journal (paths
/// relative to the directory).
#[derive(Debug, Default)]
struct Earlier {
    files: BTreeSet<String>,
    dirs: BTreeSet<String>,
    /// `manifest.json` exists and is ours.
    manifest: bool,
}

fn read_small(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match no_follow().read(true).open(path) {
        Ok(mut f) => {
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)?;
            Ok(Some(buf))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A relative path a run of ours (or a send, in its state directory) could have written: no
/// `..`, not absolute.
pub(crate) fn plain_rel(rel: &str) -> bool {
    !rel.is_empty()
        && !rel.starts_with('/')
        && rel
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

impl Earlier {
    /// What the journal `journal_name` and the manifest `manifest_name` in `root` list.
    fn read(root: &Path, journal_name: &str, manifest_name: &str) -> Result<Earlier> {
        let mut e = Earlier::default();
        let journal = root.join(journal_name);
        if let Some(text) = read_small(&journal).map_err(|err| Error::io(&journal, err))? {
            for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else {
                    continue; // a line cut short by a kill
                };
                if let Some(f) = v.get("file").and_then(|f| f.as_str()) {
                    e.files.insert(f.to_owned());
                }
                if let Some(d) = v.get("dir").and_then(|d| d.as_str()) {
                    e.dirs.insert(d.to_owned());
                }
            }
        }
        let manifest = root.join(manifest_name);
        if let Some(text) = read_small(&manifest).map_err(|err| Error::io(&manifest, err))?
            && let Ok(m) = super::manifest::read(&text)
            && m.tool == super::manifest::TOOL
        {
            e.manifest = true;
            e.files.insert(manifest_name.into());
            let error_file = match m.errors {
                super::manifest::ErrorFiles::Run(one) => one.map(|f| f.path),
                super::manifest::ErrorFiles::Merged(_) => None,
            };
            e.files.extend(m.files.into_iter().map(|f| f.path));
            e.files.extend(error_file);
        }
        e.files.retain(|f| plain_rel(f));
        e.dirs.retain(|d| plain_rel(d));
        Ok(e)
    }

    /// The files of earlier runs that are still there (final and temporary names). A file
    /// reached through a symbolic link below `root` is not ours to remove: it is left out.
    fn present(&self, root: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for rel in &self.files {
            let path = root.join(rel);
            let through_link = path
                .ancestors()
                .skip(1)
                .take_while(|a| *a != root)
                .any(|a| {
                    a.symlink_metadata()
                        .is_ok_and(|m| m.file_type().is_symlink())
                });
            if through_link {
                continue;
            }
            for p in [temp_of(&path), path] {
                if p.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
                    out.push(p);
                }
            }
        }
        out
    }
}

/// What opening a [`RunDir`] created, so that a failed run leaves the directory as it was.
#[derive(Debug, Default)]
struct Made {
    root: bool,
    lock: bool,
    journal: bool,
    /// The journal's length when the run started.
    journal_len: u64,
}

/// The `--out` directory of a run: locked, journaled, cleaned of earlier runs' files when
/// asked, and the only way a run creates anything there.
#[derive(Debug)]
pub struct RunDir {
    root: PathBuf,
    lock_name: String,
    journal_name: String,
    /// What this run made of the directory's own bookkeeping, undone by a rollback.
    made: Made,
    _lock: File,
    journal: File,
    /// Directories known to be real directories (not links) below the root.
    checked: HashSet<PathBuf>,
    /// Directories this run created, in creation order.
    created_dirs: Vec<PathBuf>,
    /// Temporary files of this run not yet renamed, with their final paths.
    pending: Vec<(PathBuf, PathBuf)>,
    /// Final paths this run renamed into place.
    renamed: Vec<PathBuf>,
    /// Scratch files of this run (never renamed; removed at the end).
    scratch: Vec<PathBuf>,
}

impl RunDir {
    /// Opens `root` for a run: creates it if missing, takes the lock, and checks what earlier
    /// runs left. Without `overwrite`, an earlier run's files refuse the run; with it, they
    /// are removed (the manifest first) with the directories runs created, once empty.
    /// `fixed` names the files the run will write whatever its data (the manifest, the error
    /// file): one that exists and no run wrote refuses the run before anything changes; the
    /// first is the manifest. A shard (`scope`) has a lock and journal of its own, and its
    /// earlier files are replaced without `overwrite` (a retried shard reruns cleanly).
    pub fn open(root: &Path, overwrite: bool, scope: Scope, fixed: &[&str]) -> Result<RunDir> {
        let mut made = Made::default();
        let overwrite = overwrite || scope != Scope::All;
        let names = bookkeeping_names(scope);
        let opened = RunDir::open_with(root, overwrite, &names, fixed, &mut made);
        if opened.is_err() {
            // A refused run leaves the directory as it found it.
            if made.lock {
                let _ = std::fs::remove_file(root.join(&names.0));
            }
            if made.root {
                let _ = std::fs::remove_dir(root);
            }
        }
        opened
    }

    fn open_with(
        root: &Path,
        overwrite: bool,
        (lock_name, journal_name): &(String, String),
        fixed: &[&str],
        made: &mut Made,
    ) -> Result<RunDir> {
        make_root(root, made)?;
        let lock = take_lock(root, lock_name, made)?;
        let earlier = Earlier::read(root, journal_name, fixed.first().copied().unwrap_or(""))?;
        let present = earlier.present(root);
        if !present.is_empty() && !overwrite {
            return Err(earlier_output(root, &present));
        }
        fixed_names_ours(root, fixed, &earlier)?;
        if overwrite {
            remove_earlier(root, &earlier, present)?;
        }
        let journal = open_journal(root, journal_name, overwrite, made)?;
        Ok(RunDir {
            lock_name: lock_name.clone(),
            journal_name: journal_name.clone(),
            made: std::mem::take(made),
            root: root.to_path_buf(),
            _lock: lock,
            journal,
            checked: HashSet::new(),
            created_dirs: Vec::new(),
            pending: Vec::new(),
            renamed: Vec::new(),
            scratch: Vec::new(),
        })
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn record(&mut self, key: &str, rel: &str) -> Result<()> {
        let mut line = serde_json::to_vec(&serde_json::json!({ key: rel })).expect("serializes");
        line.push(b'\n');
        let path = self.root.join(&self.journal_name);
        self.journal
            .write_all(&line)
            .map_err(|e| Error::io(path, e))
    }

    /// Makes sure every directory from the root down to `rel`'s parent is a real directory,
    /// creating (and journaling) the missing ones.
    fn ensure_parents(&mut self, rel: &str) -> Result<()> {
        let mut so_far = String::new();
        let comps: Vec<&str> = rel.split('/').collect();
        for comp in &comps[..comps.len() - 1] {
            if !so_far.is_empty() {
                so_far.push('/');
            }
            so_far.push_str(comp);
            let path = self.root.join(&so_far);
            if self.checked.contains(&path) {
                continue;
            }
            match path.symlink_metadata() {
                Ok(m) if m.file_type().is_symlink() => return Err(symlink_refused(&path)),
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(Error::Usage(format!(
                        "{} is in the way of a partition directory; it is not ours to replace",
                        path.display()
                    )));
                }
                Err(_) => {
                    self.record("dir", &so_far)?;
                    std::fs::create_dir(&path).map_err(|e| Error::io(&path, e))?;
                    self.created_dirs.push(path.clone());
                }
            }
            self.checked.insert(path);
        }
        Ok(())
    }

    /// Creates the temporary file of `rel` (a `/`-separated path below the root) and returns
    /// it open for writing, with its final path. The file is journaled first; a final or
    /// temporary name that exists (no earlier run's file is left by now) refuses the run.
    pub fn create(&mut self, rel: &str) -> Result<(File, PathBuf)> {
        self.ensure_parents(rel)?;
        let path = self.root.join(rel);
        match path.symlink_metadata() {
            Ok(m) if m.file_type().is_symlink() => return Err(symlink_refused(&path)),
            Ok(_) => return Err(not_ours(&path)),
            Err(_) => {}
        }
        self.record("file", rel)?;
        let tmp = temp_of(&path);
        let file = create_new(&tmp)?;
        self.pending.push((tmp, path.clone()));
        Ok((file, path))
    }

    /// Creates (journaled, empty) a scratch file of this run that is never renamed into
    /// place: the temporary name of `rel`. Returns its path.
    pub fn create_scratch(&mut self, rel: &str) -> Result<PathBuf> {
        self.ensure_parents(rel)?;
        self.record("file", rel)?;
        let tmp = temp_of(&self.root.join(rel));
        create_new(&tmp)?;
        self.scratch.push(tmp.clone());
        Ok(tmp)
    }

    /// Opens a temporary file of this run again, for appending (when open files are capped).
    pub fn reopen(&self, path: &Path) -> Result<File> {
        let tmp = temp_of(path);
        no_follow()
            .append(true)
            .open(&tmp)
            .map_err(|e| Error::io(&tmp, e))
    }

    /// Renames every temporary file of this run into place, in creation order, and returns
    /// their final paths. A final name that appeared meanwhile is never replaced: the run fails
    /// instead.
    pub fn commit(&mut self) -> Result<Vec<PathBuf>> {
        let first = self.renamed.len();
        for s in self.scratch.drain(..) {
            let _ = std::fs::remove_file(&s);
        }
        for (tmp, path) in std::mem::take(&mut self.pending) {
            if path.symlink_metadata().is_ok() {
                let _ = std::fs::remove_file(&tmp);
                return Err(not_ours(&path));
            }
            std::fs::rename(&tmp, &path).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                Error::io(&path, e)
            })?;
            self.renamed.push(path);
        }
        Ok(self.renamed[first..].to_vec())
    }

    /// Undoes the run: removes its temporary files, the files it renamed into place, and the
    /// directories it created once they are empty.
    pub fn rollback(&mut self) {
        for s in self.scratch.drain(..) {
            let _ = std::fs::remove_file(&s);
        }
        for (tmp, _) in self.pending.drain(..) {
            let _ = std::fs::remove_file(&tmp);
        }
        for path in self.renamed.drain(..) {
            let _ = std::fs::remove_file(&path);
        }
        for dir in self.created_dirs.drain(..).rev() {
            let _ = std::fs::remove_dir(&dir);
        }
        // The journal keeps only what earlier runs wrote; what this run made goes.
        let journal = self.root.join(&self.journal_name);
        if self.made.journal {
            let _ = std::fs::remove_file(&journal);
        } else {
            let _ = self.journal.set_len(self.made.journal_len);
        }
        if self.made.lock {
            let _ = std::fs::remove_file(self.root.join(&self.lock_name));
        }
        if self.made.root {
            let _ = std::fs::remove_dir(&self.root);
        }
    }
}

/// Removes what runs wrote in `root` (as `--overwrite` does), then the run's bookkeeping and
/// `root` itself when that leaves it empty: for a directory that only runs of ours use (`send
/// --from track`'s conversion).
pub fn remove_run_output(root: &Path) -> Result<()> {
    let dir = RunDir::open(root, true, Scope::All, &[])?;
    drop(dir.journal);
    for name in [JOURNAL_NAME, LOCK_NAME] {
        let _ = std::fs::remove_file(root.join(name));
    }
    let _ = std::fs::remove_dir(root);
    Ok(())
}

/// Creates `path`, which must not exist yet (as a file or a link), for writing.
fn create_new(path: &Path) -> Result<File> {
    no_follow()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => not_ours(path),
            _ => Error::io(path, e),
        })
}

fn not_ours(path: &Path) -> Error {
    Error::Usage(format!(
        "{} exists and no run of track2pipelines wrote it; it is left alone (move it, or choose another --out)",
        path.display()
    ))
}

/// Removes what earlier runs left: their files (the manifest first, so a half-cleaned
/// directory never looks complete), then the directories runs created, deepest first, when
/// they are empty.
fn remove_earlier(root: &Path, earlier: &Earlier, mut present: Vec<PathBuf>) -> Result<()> {
    present.sort_by_key(|p| p != &root.join("manifest.json"));
    for p in &present {
        match std::fs::remove_file(p) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(p, e)),
        }
    }
    let mut dirs: Vec<&String> = earlier.dirs.iter().collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
    for d in dirs {
        let path = root.join(d);
        if path.symlink_metadata().is_ok_and(|m| m.is_dir()) {
            let _ = std::fs::remove_dir(&path);
        }
    }
    Ok(())
}

/// `--out` is a directory, created (with its parents) when missing.
fn make_root(root: &Path, made: &mut Made) -> Result<()> {
    match root.metadata() {
        Ok(m) if !m.is_dir() => Err(Error::Usage(format!(
            "--out {} is not a directory",
            root.display()
        ))),
        Ok(_) => Ok(()),
        Err(_) => {
            std::fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
            made.root = true;
            Ok(())
        }
    }
}

/// Opens (creating) the run's lock file and takes its lock; another run holding it refuses
/// this one.
fn take_lock(root: &Path, lock_name: &str, made: &mut Made) -> Result<std::fs::File> {
    let lock_path = root.join(lock_name);
    made.lock = lock_path.symlink_metadata().is_err();
    let lock = no_follow()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => symlink_refused(&lock_path),
            _ => Error::io(&lock_path, e),
        })?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Usage(format!(
            "another track2pipelines run holds {} (its lock {}); wait for it to finish",
            root.display(),
            lock_path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&lock_path, e)),
    }
}

/// `--out` holds an earlier run's files (`present`) and `--overwrite` was not given.
fn earlier_output(root: &Path, present: &[PathBuf]) -> Error {
    Error::Usage(format!(
        "--out {} already holds the output of an earlier run ({}{}); pass --overwrite to replace it",
        root.display(),
        present[0]
            .strip_prefix(root)
            .unwrap_or(&present[0])
            .display(),
        match present.len() {
            1 => String::new(),
            n => format!(" and {} more", n - 1),
        }
    ))
}

/// The run's fixed names (manifest, error file) and their temporary names: no link, and no
/// file that an earlier run of ours did not write.
fn fixed_names_ours(root: &Path, fixed: &[&str], earlier: &Earlier) -> Result<()> {
    for name in fixed {
        let path = root.join(name);
        for p in [temp_of(&path), path] {
            match p.symlink_metadata() {
                Ok(m) if m.file_type().is_symlink() => return Err(symlink_refused(&p)),
                Ok(_) if !earlier.files.contains(*name) => return Err(not_ours(&p)),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Opens (creating) the run's journal for appending, emptied with `--overwrite`, and notes
/// its length so a failed run can put it back as it was.
fn open_journal(
    root: &Path,
    journal_name: &str,
    overwrite: bool,
    made: &mut Made,
) -> Result<std::fs::File> {
    let journal_path = root.join(journal_name);
    made.journal = journal_path.symlink_metadata().is_err();
    let journal = no_follow()
        .create(true)
        .append(true)
        .open(&journal_path)
        .map_err(|e| Error::io(&journal_path, e))?;
    if overwrite {
        journal
            .set_len(0)
            .map_err(|e| Error::io(&journal_path, e))?;
    }
    made.journal_len = journal
        .metadata()
        .map_err(|e| Error::io(&journal_path, e))?
        .len();
    Ok(journal)
}
