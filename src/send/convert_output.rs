//! A convert output as `send` reads it, on a local disk or in object storage: its
//! `manifest.json`, the part files it lists (in its order, which for the layouts `send` accepts
//! is the order of the records in the archive), and the order check of docs/send.md
//! ("Order"): a layout whose part files split the calls by partition cannot be delivered in
//! input order and is refused before anything is sent.

use super::source::Input;
use crate::error::{Error, Result};
use crate::input::{self, Source};
use crate::output::manifest::{self, FileEntry, Manifest};
use crate::store;
use futures_util::TryStreamExt;
use object_store::ObjectStoreExt;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Is `arg` a convert output (a directory or a bucket prefix holding a `manifest.json`)?
pub fn is_one(arg: &str) -> Result<bool> {
    if store::is_url(arg) {
        let remote = store::open(arg)?;
        return match store::block_on(remote.store.head(&remote.key("manifest.json"))) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(Error::Usage(format!("cannot read input {arg}: {e}"))),
        };
    }
    let p = Path::new(arg);
    Ok(arg != "-" && p.is_dir() && p.join("manifest.json").is_file())
}

/// The part files of the convert output `arg` names, in its manifest's order, or None when
/// `arg` is not one. Refuses (exit 2) a layout that cannot be delivered in input order.
pub fn read(arg: &str) -> Result<Option<Vec<Input>>> {
    if store::is_url(arg) {
        return read_remote(arg);
    }
    let p = Path::new(arg);
    let manifest = p.join("manifest.json");
    if arg == "-" || !p.is_dir() {
        return Ok(None);
    }
    if !manifest.is_file() {
        crate::output::dir::refuse_unfinished(p, false)?;
        return Ok(None);
    }
    let text = std::fs::read(&manifest).map_err(|e| Error::io(&manifest, e))?;
    let m = parse(&text, &manifest.display().to_string())?;
    crate::shard::verify::merged_is_fresh(p, &m)?;
    check_order(arg, &m)?;
    let mut out = Vec::with_capacity(m.files.len());
    for f in m.files {
        let path: PathBuf = p.join(&f.path);
        let meta = std::fs::metadata(&path).map_err(|e| {
            Error::Usage(format!(
                "{} lists {}, which cannot be read: {e}",
                manifest.display(),
                path.display()
            ))
        })?;
        let source = Source {
            name: Arc::from(path.to_string_lossy().as_ref()),
            path: Some(path),
            size: Some(meta.len()),
            format: input::Format::Ndjson,
            lossy: false,
            object: None,
        };
        out.push(input_of(source, f));
    }
    Ok(Some(out))
}

/// [`read`] in object storage: the manifest is one small GET, the part files' sizes come from
/// one listing of the prefix, and the part files are read later as streams of ranged GETs.
fn read_remote(arg: &str) -> Result<Option<Vec<Input>>> {
    let remote = store::open(arg)?;
    let unreadable = |e: object_store::Error| Error::Usage(format!("cannot read input {arg}: {e}"));
    let key = remote.key("manifest.json");
    let text = match store::block_on(async { remote.store.get(&key).await?.bytes().await }) {
        Ok(b) => b,
        Err(object_store::Error::NotFound { .. }) => return no_manifest(arg, &remote),
        Err(e) => return Err(unreadable(e)),
    };
    let manifest_url = remote.url_of(&key);
    let m = parse(&text, &manifest_url)?;
    check_order(arg, &m)?;
    let prefix = (!remote.prefix.as_ref().is_empty()).then_some(&remote.prefix);
    let sizes: HashMap<String, u64> = store::block_on(
        remote
            .store
            .list(prefix)
            .map_ok(|meta| (meta.location.as_ref().to_owned(), meta.size))
            .try_collect(),
    )
    .map_err(unreadable)?;
    let mut out = Vec::with_capacity(m.files.len());
    for f in m.files {
        let key = remote.key(&f.path);
        let Some(&size) = sizes.get(key.as_ref()) else {
            return Err(Error::Usage(format!(
                "{manifest_url} lists {}, which is not there",
                remote.url_of(&key)
            )));
        };
        let source = Source {
            name: Arc::from(remote.url_of(&key)),
            path: None,
            size: Some(size),
            format: input::Format::Ndjson,
            lossy: false,
            object: Some(input::remote::Object {
                store: Arc::clone(&remote.store),
                key,
            }),
        };
        out.push(input_of(source, f));
    }
    Ok(Some(out))
}

/// A prefix with no `manifest.json`: Pipelines NDJSON objects (None), unless a convert run's
/// lock object is there, the mark of a convert into it that is still running or was killed.
fn no_manifest(arg: &str, remote: &store::Remote) -> Result<Option<Vec<Input>>> {
    let prefix = (!remote.prefix.as_ref().is_empty()).then_some(&remote.prefix);
    let listing = store::block_on(remote.store.list_with_delimiter(prefix))
        .map_err(|e| Error::Usage(format!("cannot read input {arg}: {e}")))?;
    let lock = listing.objects.iter().find(|m| {
        m.location
            .filename()
            .is_some_and(|n| n.starts_with(".track2pipelines") && n.ends_with(".lock"))
    });
    match lock {
        Some(m) => Err(unfinished(arg, &remote.url_of(&m.location))),
        None => Ok(None),
    }
}

/// A convert output whose run has not completed: refused, not sent as plain NDJSON.
fn unfinished(arg: &str, mark: &str) -> Error {
    Error::Usage(format!(
        "{arg} holds a convert run's {mark} but no manifest.json: that convert is still running \
         or did not complete, so its part files are not all there; nothing was sent. Send it \
         once the convert has completed (manifest.json is written last)"
    ))
}

fn parse(text: &[u8], name: &str) -> Result<Manifest> {
    manifest::read(text).map_err(|e| Error::Usage(format!("{name} is not a convert manifest: {e}")))
}

fn input_of(source: Source, f: FileEntry) -> Input {
    Input {
        source,
        checksum: Some(f.checksum_xxh3_128),
        calls: Some(f.calls),
        last_timestamp: f.last_timestamp.as_deref().and_then(crate::time::parse_str),
        trusted: true,
    }
}

/// Which `--partition-by` made a part file's directory (`date=2023-08-24/type=track` →
/// `date,type`); None for a part file at the top (`--partition-by none`).
fn partitioning(path: &str) -> Option<String> {
    let (dir, _) = path.rsplit_once('/')?;
    Some(
        dir.split('/')
            .map(|level| level.split_once('=').map_or(level, |(name, _)| name))
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// docs/send.md, "Order": the part files of `--partition-by none` (rotated by `--max-file-*`
/// or not, from one run or from shards merged) hold the calls in the archive's order, file after
/// file; any other layout splits them by partition, and its files, sent one after another,
/// would deliver e.g. every alias before the first identify. Such an output is refused.
fn check_order(arg: &str, m: &Manifest) -> Result<()> {
    let Some(by) = m.files.iter().find_map(|f| partitioning(&f.path)) else {
        return Ok(());
    };
    Err(Error::Usage(format!(
        "{arg} was converted with --partition-by {by}: its part files hold the calls split by \
         partition, so send cannot deliver them in the order of the archive, and nothing was \
         sent. Convert the archive again with --partition-by none (part files rotated by \
         --max-file-bytes or --max-file-records, and convert shards merged, are fine), or \
         send the archive itself with send --from track (docs/send.md, \"Order\")"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitioning_names_the_levels_of_a_part_files_directory() {
        assert_eq!(partitioning("part-0000-00000.ndjson"), None);
        assert_eq!(partitioning("part-0003-00012.ndjson.zst"), None);
        assert_eq!(
            partitioning("type=alias/part-0000-00000.ndjson").as_deref(),
            Some("type")
        );
        assert_eq!(
            partitioning("date=2023-08-24/type=track/part-0000-00000.ndjson.gz").as_deref(),
            Some("date,type")
        );
    }

    #[test]
    fn a_partitioned_manifest_is_refused_and_a_flat_one_is_not() {
        let file = |path: &str| FileEntry {
            path: path.to_owned(),
            calls: 1,
            ..FileEntry::default()
        };
        let flat = Manifest {
            files: vec![
                file("part-0000-00000.ndjson"),
                file("part-0001-00000.ndjson"),
            ],
            ..Manifest::default()
        };
        assert!(check_order("out", &flat).is_ok());
        let dated = Manifest {
            files: vec![
                file("part-0000-00000.ndjson"),
                file("date=2021-03-04/part-0000-00000.ndjson"),
            ],
            ..Manifest::default()
        };
        let e = check_order("out", &dated).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let text = e.to_string();
        assert!(text.contains("--partition-by date"), "{text}");
        assert!(
            text.contains("--partition-by none") && text.contains("--from track"),
            "{text}"
        );
    }
}
