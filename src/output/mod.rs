//! Everything the run writes: partition paths ([`partition`]), the part and error files with
//! rotation, compression and temp-then-rename ([`files`]), error-file entries ([`errors`]) and
//! the manifest ([`manifest`]).

pub mod dir;
pub mod errors;
pub mod files;
pub mod manifest;
pub mod partition;

use crate::config::{Command, Compression, Config};
use crate::error::Result;
use dir::RunDir;
use files::{Dest, FileSet, Layout};
use partition::Partitioner;

/// The files a run writes, ready before any work starts: `convert`'s `--out` (locked, cleaned
/// of earlier runs' files with `--overwrite`, refused when it holds files that are not ours),
/// or `check --errors FILE`; `None` for a `check` that writes nothing.
pub fn open_files(cfg: &Config) -> Result<Option<FileSet>> {
    if let Some(out) = &cfg.output {
        let errors = format!("errors.ndjson{}", out.compress.suffix());
        let dir = RunDir::open(&out.dir, out.overwrite, &["manifest.json", &errors])?;
        let mut set = FileSet::new(
            Dest::Run(dir),
            Layout {
                partitioner: Partitioner::new(out.partition_by.clone()),
                compress: out.compress,
                level: out.compress_level,
                max_bytes: out.max_file_bytes,
                max_records: out.max_file_records,
                shard: out.shard,
                max_open: out.max_open_files,
                idle_frame_bytes: out.idle_frame_bytes,
            },
        );
        set.open_errors("errors.ndjson")?;
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
