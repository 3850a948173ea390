//! Which files of `--out` a run owns. A single run owns every file a run writes there; a shard
//! (`--shard K/N`, docs/scale-out.md) owns only its own: `part-<K>-*`, `errors-<K>.ndjson*` and
//! `manifest-<K>-of-<N>.json`, so N shards share one `--out` without touching each other's
//! files, and a rerun of a shard replaces exactly its earlier files.

use crate::config::Shard;

/// The files a run owns in `--out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A run without `--shard`.
    All,
    /// One shard of a job.
    Shard(Shard),
}

impl Scope {
    /// The four-digit number in part file names (`0000` without `--shard`).
    pub fn part_number(&self) -> u16 {
        match self {
            Scope::All => 0,
            Scope::Shard(s) => s.index as u16,
        }
    }

    /// The error file's name (before a compression suffix).
    pub fn errors_name(&self) -> String {
        match self {
            Scope::All => "errors.ndjson".to_owned(),
            Scope::Shard(s) => format!("errors-{:04}.ndjson", s.index),
        }
    }

    /// The manifest's name.
    pub fn manifest_name(&self) -> String {
        match self {
            Scope::All => "manifest.json".to_owned(),
            Scope::Shard(s) => shard_manifest_name(s.index, s.count),
        }
    }

    /// Is `name` (a file name, maybe a dot-named temporary) one this run owns and may replace
    /// without `--overwrite`? A single run owns none that way; a shard owns its own.
    pub fn replaces_freely(&self, name: &str) -> bool {
        let Scope::Shard(s) = self else {
            return false;
        };
        let name = name.strip_prefix('.').unwrap_or(name);
        let k = format!("{:04}", s.index);
        name.strip_prefix("part-")
            .is_some_and(|r| r.starts_with(&format!("{k}-")))
            || name.starts_with(&format!("errors-{k}.ndjson"))
            || name.starts_with(&format!("manifest-{k}-of-"))
    }
}

/// `manifest-<K>-of-<N>.json`, both in four digits.
pub fn shard_manifest_name(index: u32, count: u32) -> String {
    format!("manifest-{index:04}-of-{count:04}.json")
}

/// Parses a shard manifest's name into `(K, N)`.
pub fn parse_shard_manifest_name(name: &str) -> Option<(u32, u32)> {
    let rest = name.strip_prefix("manifest-")?.strip_suffix(".json")?;
    let (k, n) = rest.split_once("-of-")?;
    Some((k.parse().ok()?, n.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_owns_only_its_files() {
        let s = Scope::Shard(Shard { index: 2, count: 4 });
        for own in [
            "part-0002-00000.ndjson",
            ".part-0002-00001.ndjson.zst.partial",
            "errors-0002.ndjson.gz",
            "manifest-0002-of-0004.json",
            "manifest-0002-of-0003.json",
        ] {
            assert!(s.replaces_freely(own), "{own}");
        }
        for other in [
            "part-0003-00000.ndjson",
            "errors-0001.ndjson",
            "manifest-0020-of-0040.json",
            "manifest.json",
            "errors.ndjson",
            "notes.txt",
        ] {
            assert!(!s.replaces_freely(other), "{other}");
        }
        assert!(!Scope::All.replaces_freely("part-0000-00000.ndjson"));
        assert_eq!(s.manifest_name(), "manifest-0002-of-0004.json");
        assert_eq!(parse_shard_manifest_name(&s.manifest_name()), Some((2, 4)));
    }
}
