//! A file named on the command line (`--summary-json`, `check --errors`): checked when the
//! flags are validated, before any work, and written under a temporary name beside it at the
//! end of the run. A plain value of the configuration, so [`crate::config`] needs no output
//! code to hold one.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The temporary name of a file while it is written: `.NAME.partial` in the same directory.
pub fn temp_of(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.partial"))
}

/// One file named on the command line (`check --errors`, `--summary-json`), written under a
/// temporary name beside the file it ends up as. When the name is a symbolic link, the file
/// written is the link's target: the link stays.
#[derive(Debug, Clone)]
pub struct Target {
    /// The file finally written (the link's target, for a link).
    pub path: PathBuf,
    /// The path is a pipe or a character device (`/dev/stdout`): written directly, with no
    /// temporary name and no rename.
    pub stream: bool,
}

impl Target {
    /// Checks that the file can be written: its directory exists and is a directory. `flag`
    /// names the option in messages.
    pub fn check(given: &Path, flag: &str) -> Result<Target> {
        if std::fs::metadata(given)
            .is_ok_and(|m| m.file_type().is_fifo() || m.file_type().is_char_device())
        {
            return Ok(Target {
                path: given.to_path_buf(),
                stream: true,
            });
        }
        let path = resolve_link(given)?;
        let name_ok = path.file_name().is_some();
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !name_ok || !dir.is_dir() {
            return Err(Error::Usage(format!(
                "{flag} {}: its directory {} does not exist",
                given.display(),
                dir.display()
            )));
        }
        if path.is_dir() {
            return Err(Error::Usage(format!(
                "{flag} {} is a directory",
                given.display()
            )));
        }
        let meta = dir.metadata().map_err(|e| Error::io(&dir, e))?;
        if meta.permissions().readonly() || !writable(&dir) {
            return Err(Error::Usage(format!(
                "{flag} {}: its directory {} is not writable",
                given.display(),
                dir.display()
            )));
        }
        Ok(Target {
            path,
            stream: false,
        })
    }

    /// Where the file is written before it is renamed.
    pub fn temp(&self) -> PathBuf {
        temp_of(&self.path)
    }

    /// Opens what the run writes: the pipe or device itself for a stream, else the temporary
    /// name, created exclusively (see `create_temp`).
    pub fn open(&self) -> Result<File> {
        if self.stream {
            return OpenOptions::new()
                .write(true)
                .open(&self.path)
                .map_err(|e| Error::io(&self.path, e));
        }
        create_temp(&self.temp())
    }
}

impl Target {
    /// Writes the whole file at once: straight to a stream, else through the temporary name
    /// (created exclusively), synced, then renamed into place.
    pub fn write_whole(&self, bytes: &[u8]) -> Result<()> {
        if self.stream {
            let mut f = self.open()?;
            return io::Write::write_all(&mut f, bytes).map_err(|e| Error::io(&self.path, e));
        }
        let tmp = self.temp();
        write_temp(&tmp, bytes)?;
        std::fs::rename(&tmp, &self.path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(&self.path, e)
        })
    }
}

/// Creates a temporary file exclusively (`O_CREAT|O_EXCL|O_NOFOLLOW`), so that nothing is ever
/// written through a symbolic link planted at its name (docs/mapping.md §13). A link there
/// refuses the run (exit 2, naming it); a plain file left there by a killed run is removed
/// first (it is only ever a temporary name of ours).
pub fn create_temp(tmp: &Path) -> Result<File> {
    let open = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(tmp)
    };
    let refused = || {
        Error::Usage(format!(
            "{} is a symbolic link; a temporary file is never written through a link",
            tmp.display()
        ))
    };
    match open() {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match tmp.symlink_metadata() {
            Ok(m) if m.file_type().is_symlink() => Err(refused()),
            Ok(m) if m.is_file() => {
                std::fs::remove_file(tmp).map_err(|e| Error::io(tmp, e))?;
                open().map_err(|e| match e.kind() {
                    io::ErrorKind::AlreadyExists => refused(),
                    _ => Error::io(tmp, e),
                })
            }
            _ => Err(Error::Usage(format!(
                "{} is in the way of a temporary file; it is left alone",
                tmp.display()
            ))),
        },
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => Err(refused()),
        Err(e) => Err(Error::io(tmp, e)),
    }
}

/// Writes `bytes` to a temporary file created with [`create_temp`] and syncs it.
pub fn write_temp(tmp: &Path, bytes: &[u8]) -> Result<()> {
    let res = create_temp(tmp).and_then(|mut f| {
        io::Write::write_all(&mut f, bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::io(tmp, e))
    });
    if let Err(e) = res {
        if !matches!(e, Error::Usage(_)) {
            let _ = std::fs::remove_file(tmp);
        }
        return Err(e);
    }
    Ok(())
}

fn writable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let mut c = dir.as_os_str().as_bytes().to_vec();
    c.push(0);
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    unsafe { libc::access(c.as_ptr().cast(), libc::W_OK) == 0 }
}

/// Follows symbolic links at `path` (a chain of them) to the file they name, which need not
/// exist yet.
fn resolve_link(path: &Path) -> Result<PathBuf> {
    let mut path = path.to_path_buf();
    for _ in 0..40 {
        match path.symlink_metadata() {
            Ok(m) if m.file_type().is_symlink() => {
                let to = std::fs::read_link(&path).map_err(|e| Error::io(&path, e))?;
                path = match path.parent() {
                    Some(dir) => dir.join(to),
                    None => to,
                };
            }
            _ => return Ok(path),
        }
    }
    Err(Error::Usage(format!(
        "{}: too many levels of symbolic links",
        path.display()
    )))
}
