//! Everything the run writes, the last step of a record's way: partition paths
//! ([`partition`]), the part and error files with rotation, compression, the open-files cap
//! and temp-then-rename ([`files`]), error-file entries ([`errors`]), the manifest
//! ([`manifest`]), `--out` kept the user's ([`dir`]), which files of `--out` a run owns
//! ([`scope`]), and an object-store `--out` ([`remote`]). [`open_files`] prepares all of them,
//! and makes every refusal, before any work starts.

pub mod dir;
pub mod errors;
pub mod files;
pub mod manifest;
pub mod partition;
pub mod remote;
pub mod scope;

pub use scope::Scope;

use crate::config::{Command, Compression, Config};
use crate::error::Result;
use dir::RunDir;
use files::{Dest, FileSet, Layout};
use partition::Partitioner;
use remote::RemoteOut;
use std::sync::Arc;

/// The files a run writes, ready before any work starts: `convert`'s `--out` (locked, cleaned
/// of earlier runs' files with `--overwrite`, refused when it holds files that are not ours),
/// or `check --errors FILE`; `None` for a `check` that writes nothing.
pub fn open_files(cfg: &Config) -> Result<Option<FileSet>> {
    if let Some(out) = &cfg.output {
        let scope = cfg.shard.map_or(Scope::All, Scope::Shard);
        let errors = format!("{}{}", scope.errors_name(), out.compress.suffix());
        let fixed = [scope.manifest_name(), errors];
        let fixed: Vec<&str> = fixed.iter().map(String::as_str).collect();
        // An object-store `--out`: the files are staged in a private local directory, then
        // uploaded when the run commits.
        let (root, remote) = match out.dir.to_str().filter(|d| crate::store::is_url(d)) {
            Some(url) => {
                let to = Arc::new(RemoteOut::open(url, out.overwrite, scope)?);
                (to.staging().to_path_buf(), Some(to))
            }
            None => (out.dir.clone(), None),
        };
        let dir = RunDir::open(&root, out.overwrite, scope, &fixed)?;
        let set = FileSet::new(
            Dest::Run(Box::new(dir)),
            Layout {
                partitioner: Partitioner::new(out.partition_by.clone()),
                compress: out.compress,
                level: out.compress_level,
                max_bytes: out.max_file_bytes,
                max_records: out.max_file_records,
                shard: scope.part_number(),
                max_open: out.max_open_files,
                idle_frame_bytes: out.idle_frame_bytes,
            },
        );
        let mut set = set.uploading(remote);
        set.open_errors(&scope.errors_name())?;
        return Ok(Some(set));
    }
    match (&cfg.errors_file, cfg.command) {
        (Some(target), Command::Check) => {
            let mut set = FileSet::new(
                Dest::Single(target.clone()),
                Layout {
                    partitioner: Partitioner::new(Vec::new()),
                    compress: Compression::None,
                    level: 0,
                    max_bytes: u64::MAX,
                    max_records: 0,
                    shard: 0,
                    max_open: 1,
                    idle_frame_bytes: 0,
                },
            );
            set.open_errors("errors.ndjson")?;
            Ok(Some(set))
        }
        _ => Ok(None),
    }
}
