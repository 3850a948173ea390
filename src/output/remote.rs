//! `--out` in object storage. The run writes its files exactly as on a local disk, into a
//! private staging directory; each file is uploaded under its final key when it is complete
//! (a single PUT, or a multipart upload for large ones) and its staged copy removed, so the
//! staging holds only the files still being written. The manifest is put last, so its presence
//! still means the run completed. There is no rename on object stores: a reader looks at the
//! manifest to know which part files are complete.
//!
//! Object stores have no advisory locks: the run's lock is an object created with a
//! conditional create-only PUT, removed when the run ends. `--overwrite` (and a shard's rerun)
//! deletes only the keys the earlier run's manifest lists, the manifest first.

use super::Scope;
use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::store::{self, Remote};
use futures_util::TryStreamExt;
use object_store::path::Path as Key;
use object_store::{ObjectStoreExt, PutMode, PutPayload};
use std::io::Read;
use std::path::Path;

/// Files up to this size are put at once; larger ones go up in parts of this size.
pub const PART_BYTES: usize = 16 << 20;

/// An output location in object storage, held for one run.
#[derive(Debug)]
pub struct RemoteOut {
    remote: Remote,
    url: String,
    staging: tempfile::TempDir,
    lock: Key,
}

impl RemoteOut {
    /// Takes the lock at `url` and clears what `scope` owns there (see the module doc).
    pub fn open(url: &str, overwrite: bool, scope: Scope) -> Result<RemoteOut> {
        let remote = store::open(url)?;
        let staging = tempfile::Builder::new()
            .prefix(".track2pipelines-staging-")
            .tempdir()
            .map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let lock_name = match scope {
            Scope::All => ".track2pipelines.lock".to_owned(),
            Scope::Shard(s) => format!(".track2pipelines-{:04}.lock", s.index),
        };
        let lock = remote.key(&lock_name);
        let opts = object_store::PutOptions::from(PutMode::Create);
        let body = PutPayload::from(format!("pid {}\n", std::process::id()).into_bytes());
        match store::block_on(remote.store.put_opts(&lock, body, opts)) {
            Ok(_) => {}
            Err(object_store::Error::AlreadyExists { .. }) => {
                return Err(Error::Usage(format!(
                    "--out {url}: another run holds it (its lock object {} exists; delete it if \
                     no run is going)",
                    remote.url_of(&lock)
                )));
            }
            Err(e) => {
                return Err(Error::Usage(format!("cannot write to --out {url}: {e}")));
            }
        }
        // Dropping `out` (on an error below too) releases the lock.
        let out = RemoteOut {
            remote,
            url: url.trim_end_matches('/').to_owned(),
            staging,
            lock,
        };
        out.clear(overwrite, scope)?;
        Ok(out)
    }

    /// Where the run writes its files before they are uploaded.
    pub fn staging(&self) -> &Path {
        self.staging.path()
    }

    /// The URL of `rel`.
    pub fn url_of(&self, rel: &str) -> String {
        format!("{}/{rel}", self.url)
    }

    /// Removes an earlier run's keys that `scope` owns: refused (exit 2) for a single run
    /// without `overwrite` when there are any.
    fn clear(&self, overwrite: bool, scope: Scope) -> Result<()> {
        let prefix = (!self.remote.prefix.as_ref().is_empty()).then_some(&self.remote.prefix);
        let manifest = scope_manifest(scope);
        let listed: Vec<object_store::ObjectMeta> =
            match store::block_on(self.remote.store.list(prefix).try_collect()) {
                Ok(listed) => listed,
                // A key the client cannot address below --out (`a//b`, `..`): the earlier
                // run's manifest, read by its key, still says what is ours.
                Err(e @ object_store::Error::InvalidPath { .. }) => {
                    return self.clear_by_manifest(overwrite, scope, &manifest, &e);
                }
                Err(e) => {
                    return Err(Error::Usage(format!("cannot list --out {}: {e}", self.url)));
                }
            };
        let names: Vec<String> = listed
            .iter()
            .filter_map(|m| self.remote.rel(&m.location))
            .collect();
        let ours = |rel: &&String| {
            let name = rel.rsplit('/').next().unwrap_or(rel);
            match scope {
                Scope::All => looks_like_run_file(name) && !name.starts_with('.'),
                Scope::Shard(_) => scope.replaces_freely(name),
            }
        };
        let found: Vec<&String> = names.iter().filter(ours).collect();
        if found.is_empty() {
            return Ok(());
        }
        if scope == Scope::All && !overwrite {
            return Err(Error::Usage(format!(
                "--out {} already holds the output of a run ({} and {} more); pass --overwrite \
                 to replace it",
                self.url,
                found[0],
                found.len() - 1
            )));
        }
        if !names.contains(&manifest) {
            // No manifest: nothing is known to be ours; the new run's keys replace any of the
            // same name.
            return Ok(());
        }
        self.delete_listed(&manifest)
    }

    /// [`RemoteOut::clear`] when `--out` cannot be listed: the earlier run's manifest, read by
    /// its key, refuses a single run without `overwrite` or lists the keys to delete.
    fn clear_by_manifest(
        &self,
        overwrite: bool,
        scope: Scope,
        manifest: &str,
        listing: &object_store::Error,
    ) -> Result<()> {
        let key = self.remote.key(manifest);
        match store::block_on(self.remote.store.head(&key)) {
            Ok(_) if scope == Scope::All && !overwrite => Err(Error::Usage(format!(
                "--out {} already holds the output of a run ({manifest}); pass --overwrite to \
                 replace it",
                self.url
            ))),
            Ok(_) => self.delete_listed(manifest),
            Err(object_store::Error::NotFound { .. }) if scope != Scope::All || overwrite => Ok(()),
            _ => Err(Error::Usage(format!(
                "cannot list --out {}: {listing} (a key there cannot be addressed by the \
                 object-store client; move it)",
                self.url
            ))),
        }
    }

    /// Deletes the manifest `manifest`, then every key it lists.
    fn delete_listed(&self, manifest: &str) -> Result<()> {
        let manifest = manifest.to_owned();
        let text = self.get(&manifest)?;
        let listed = manifest_keys(&text).ok_or_else(|| {
            Error::Usage(format!(
                "--out {}: {manifest} is not a manifest of this tool; nothing was removed",
                self.url
            ))
        })?;
        self.delete(&manifest)?;
        for rel in listed {
            self.delete(&rel)?;
        }
        Ok(())
    }

    /// Reads a whole (small) object.
    pub fn get(&self, rel: &str) -> Result<Vec<u8>> {
        let key = self.remote.key(rel);
        store::block_on(async {
            let got = self.remote.store.get(&key).await?;
            got.bytes().await
        })
        .map(|b| b.to_vec())
        .map_err(|e| Error::Failed(format!("cannot read {}: {e}", self.url_of(rel))))
    }

    /// Deletes `rel` (a missing key is no error).
    pub fn delete(&self, rel: &str) -> Result<()> {
        match store::block_on(self.remote.store.delete(&self.remote.key(rel))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Error::Failed(format!(
                "cannot delete {}: {e}",
                self.url_of(rel)
            ))),
        }
    }

    /// Puts small bytes (a manifest) under `rel`.
    pub fn put(&self, rel: &str, bytes: Vec<u8>) -> Result<()> {
        store::block_on(
            self.remote
                .store
                .put(&self.remote.key(rel), PutPayload::from(bytes)),
        )
        .map(drop)
        .map_err(|e| Error::Failed(format!("cannot write {}: {e}", self.url_of(rel))))
    }

    /// Uploads the complete staged file `local` under `rel`, then removes the staged copy. A
    /// stop requested through `cancel` ends the upload at once (exit 128 + signal; the caller
    /// deletes what was uploaded).
    pub fn upload(&self, rel: &str, local: &Path, cancel: Option<&Cancel>) -> Result<()> {
        let key = self.remote.key(rel);
        let upload = upload_file(self.remote.store.as_ref(), &key, local);
        let stop = async {
            loop {
                if let Some(c) = cancel.filter(|c| c.is_requested()) {
                    return c.signal();
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        };
        let raced = store::block_on(futures_util::future::select(
            Box::pin(upload),
            Box::pin(stop),
        ));
        match raced {
            futures_util::future::Either::Left((done, _)) => {
                done.map_err(|e| Error::Failed(format!("cannot upload {}: {e}", self.url_of(rel))))?
            }
            futures_util::future::Either::Right((signal, _)) => {
                return Err(Error::Interrupted(signal));
            }
        }
        std::fs::remove_file(local).map_err(|e| Error::io(local, e))
    }
}

/// Puts the file `local` under `key`: at once when it is under [`PART_BYTES`], else as a
/// multipart upload of [`PART_BYTES`] parts, one in flight while the next is read (aborted on
/// any error, so no half object appears under the key).
async fn upload_file(
    store: &dyn object_store::ObjectStore,
    key: &Key,
    local: &Path,
) -> object_store::Result<()> {
    let staging = |e: std::io::Error| object_store::Error::Generic {
        store: "staging",
        source: Box::new(e),
    };
    let mut file = std::fs::File::open(local).map_err(staging)?;
    let mut part = read_part(&mut file).map_err(staging)?;
    if part.len() < PART_BYTES {
        return store.put(key, PutPayload::from(part)).await.map(drop);
    }
    let mut upload = store.put_multipart(key).await?;
    let sent = async {
        let mut pending = None;
        while !part.is_empty() {
            let next = upload.put_part(PutPayload::from(std::mem::take(&mut part)));
            if let Some(p) = pending.replace(next) {
                p.await?;
            }
            part = read_part(&mut file).map_err(staging)?;
        }
        if let Some(p) = pending {
            p.await?;
        }
        Ok(())
    }
    .await;
    match sent {
        Ok(()) => upload.complete().await.map(drop),
        Err(e) => {
            let _ = upload.abort().await;
            Err(e)
        }
    }
}

impl Drop for RemoteOut {
    fn drop(&mut self) {
        let _ = store::block_on(self.remote.store.delete(&self.lock));
    }
}

/// The manifest a scope's earlier run left.
fn scope_manifest(scope: Scope) -> String {
    match scope {
        Scope::All => "manifest.json".to_owned(),
        Scope::Shard(s) => super::scope::shard_manifest_name(s.index, s.count),
    }
}

/// The keys (relative) a manifest lists: its part files and error file(s).
fn manifest_keys(text: &[u8]) -> Option<Vec<String>> {
    let m = super::manifest::read(text).ok()?;
    if m.tool != super::manifest::TOOL {
        return None;
    }
    let mut keys: Vec<String> = m.files.into_iter().map(|f| f.path).collect();
    keys.extend(m.errors.iter().map(|f| f.path.clone()));
    // A job's merged manifest also stands for its shards' manifests.
    if let Some(n) = m.shards {
        let n = n.min(crate::config::MAX_SHARDS);
        keys.extend((0..n).map(|k| super::scope::shard_manifest_name(k, n)));
    }
    Some(keys)
}

/// Reads up to [`PART_BYTES`] of `file`.
fn read_part(file: &mut std::fs::File) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(PART_BYTES);
    file.by_ref()
        .take(PART_BYTES as u64)
        .read_to_end(&mut buf)?;
    Ok(buf)
}

/// Is this key's name one a run writes? On an object store, where a run keeps no journal, such
/// a key refuses a run without `--overwrite`; only the keys an earlier manifest lists are
/// ever deleted.
fn looks_like_run_file(name: &str) -> bool {
    let name = name.strip_prefix('.').unwrap_or(name);
    name == "manifest.json"
        || name.starts_with("errors.ndjson")
        || name.starts_with("errors-")
        || super::scope::parse_shard_manifest_name(name).is_some()
        || (name.starts_with("part-") && name.contains(".ndjson"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_files_go_up_in_parts_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let store = object_store::memory::InMemory::new();
        for size in [0, 10, PART_BYTES - 1, PART_BYTES, 2 * PART_BYTES + 12345] {
            let data: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
            let local = dir.path().join("f");
            std::fs::write(&local, &data).unwrap();
            let key = Key::from(format!("out/{size}"));
            store::block_on(upload_file(&store, &key, &local)).unwrap();
            let got = store::block_on(async { store.get(&key).await?.bytes().await }).unwrap();
            assert_eq!(got.len(), size);
            assert!(got[..] == data[..], "{size} bytes");
        }
    }
}
