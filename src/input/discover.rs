//! Discovery: the inputs as given (files, directories, `-` for stdin, object-store URLs)
//! become the ordered list of sources a run reads, each with its format.

use super::remote;
use crate::config::InputFormat;
use crate::error::{Error, Result};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a source holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// NDJSON: one JSON record per line.
    Ndjson,
    /// CSV (`delimiter` b',') or TSV (b'\t').
    Csv {
        /// The cell separator.
        delimiter: u8,
    },
}

/// One input stream.
#[derive(Debug, Clone)]
pub struct Source {
    /// The path as given (or found under a given directory); `-` for stdin. A path that is
    /// not UTF-8 is written lossily (see `lossy`).
    pub name: Arc<str>,
    /// The path's bytes are not UTF-8, so `name` is not the exact path.
    pub lossy: bool,
    /// None for stdin.
    pub path: Option<PathBuf>,
    /// Size on disk, when known.
    pub size: Option<u64>,
    /// How the source is read.
    pub format: Format,
    /// An object in object storage (the name is then its URL).
    pub object: Option<remote::Object>,
}

/// What discovery found: the sources in order, and what it passed over.
#[derive(Debug, Default)]
pub struct Discovered {
    /// The sources to read, in order.
    pub sources: Vec<Source>,
    /// Entries of input directories that are neither files nor directories (FIFOs, sockets,
    /// devices): not read, named in the summary.
    pub skipped: Vec<String>,
}

/// Expands the inputs as given into sources, in order: a directory becomes every regular,
/// non-hidden file below it, sorted by path; `exclude` (the run's `--out`, when it lies inside
/// an input directory) is passed over.
pub fn discover(
    inputs: &[PathBuf],
    format: InputFormat,
    exclude: Option<&Path>,
) -> Result<Discovered> {
    let mut out = Discovered::default();
    for input in inputs {
        if input.as_os_str() == "-" {
            out.sources.push(Source {
                name: Arc::from("-"),
                lossy: false,
                path: None,
                size: None,
                format: format_of("-", format),
                object: None,
            });
            continue;
        }
        if let Some(url) = input.to_str().filter(|i| crate::store::is_url(i)) {
            remote::discover(url, format, &mut out.sources)?;
            continue;
        }
        let meta = std::fs::metadata(input)
            .map_err(|e| Error::Usage(format!("cannot read input {}: {e}", input.display())))?;
        if meta.is_dir() {
            let mut files = Vec::new();
            let mut found = Found {
                files: &mut files,
                skipped: &mut out.skipped,
                stack: input.canonicalize().into_iter().collect(),
            };
            walk(input, exclude, &mut found)?;
            files.sort_by(|a, b| {
                a.0.as_os_str()
                    .as_encoded_bytes()
                    .cmp(b.0.as_os_str().as_encoded_bytes())
            });
            for (p, size) in files {
                out.sources.push(source(p, size, format));
            }
        } else if meta.is_file() {
            out.sources.push(source(input.clone(), meta.len(), format));
        } else {
            // A FIFO or a device named on the command line is read as a stream.
            let mut s = source(input.clone(), 0, format);
            s.size = None;
            out.sources.push(s);
        }
    }
    Ok(out)
}

fn source(path: PathBuf, size: u64, format: InputFormat) -> Source {
    let lossy = path.to_str().is_none();
    let name = path.to_string_lossy().into_owned();
    Source {
        format: format_of(&name, format),
        name: Arc::from(name),
        lossy,
        path: Some(path),
        size: Some(size),
        object: None,
    }
}

/// What a directory walk collects: the files with their sizes, the entries passed over, and
/// the real paths of the directories being walked (a link back to one of them is a loop).
struct Found<'a> {
    files: &'a mut Vec<(PathBuf, u64)>,
    skipped: &'a mut Vec<String>,
    stack: Vec<PathBuf>,
}

fn walk(dir: &Path, exclude: Option<&Path>, found: &mut Found) -> Result<()> {
    let unreadable =
        |e: io::Error| Error::Usage(format!("cannot read directory {}: {e}", dir.display()));
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        if entry.file_name().as_encoded_bytes().starts_with(b".") {
            continue;
        }
        let path = entry.path();
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(loop_error(&path, None)),
            // A dangling symbolic link is passed over and named, like a FIFO.
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    && path
                        .symlink_metadata()
                        .is_ok_and(|m| m.file_type().is_symlink()) =>
            {
                found.skipped.push(path.to_string_lossy().into_owned());
                continue;
            }
            Err(e) => {
                return Err(Error::Usage(format!(
                    "cannot read input {}: {e}",
                    path.display()
                )));
            }
        };
        if meta.is_dir() {
            let real = path.canonicalize().ok();
            if exclude.is_some_and(|x| real.as_deref() == Some(x)) {
                continue;
            }
            if let Some(r) = &real
                && found.stack.contains(r)
            {
                return Err(loop_error(&path, Some(r)));
            }
            found.stack.extend(real.clone());
            walk(&path, exclude, found)?;
            if real.is_some() {
                found.stack.pop();
            }
        } else if meta.is_file() {
            found.files.push((path, meta.len()));
        } else {
            found.skipped.push(path.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

/// A symbolic link loop below an input directory, named in a short message.
fn loop_error(path: &Path, back_to: Option<&Path>) -> Error {
    Error::Usage(match back_to {
        Some(to) => format!(
            "input {} is a symbolic link loop: it leads back to {}",
            path.display(),
            to.display()
        ),
        None => format!("input {} is a symbolic link loop", path.display()),
    })
}

/// The format of a source: the flag, or the extension before any compression suffix.
pub fn format_of(name: &str, flag: InputFormat) -> Format {
    let lower = name.to_ascii_lowercase();
    let stem = [".gz", ".gzip", ".zst", ".zstd"]
        .iter()
        .find_map(|s| lower.strip_suffix(s))
        .unwrap_or(&lower);
    let tsv = stem.ends_with(".tsv");
    match flag {
        InputFormat::Ndjson => Format::Ndjson,
        InputFormat::Csv => Format::Csv {
            delimiter: if tsv { b'\t' } else { b',' },
        },
        InputFormat::Auto if stem.ends_with(".csv") => Format::Csv { delimiter: b',' },
        InputFormat::Auto if tsv => Format::Csv { delimiter: b'\t' },
        InputFormat::Auto => Format::Ndjson,
    }
}
