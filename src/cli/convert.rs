//! The flags of `convert` and `check` that are theirs alone: the output directory and its
//! layout (`--partition-by`, compression, file sizes), `--shard`, `check --errors`.

use super::{CommonArgs, defaults, parse_size};
use crate::config::{Compression, DEFAULT_MAX_OPEN_FILES, OutputConfig, PartitionBy};
use crate::error::{Error, Result};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// `--compress` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CompressArg {
    /// No compression.
    None,
    /// zstd, files end .zst.
    Zstd,
    /// gzip, files end .gz.
    Gzip,
}

/// The flags of `convert`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Output directory, or an object-store URL (s3://, gs://, az://).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Comma list of type, date, hour, bucket:N, or none.
    #[arg(long, default_value = defaults::PARTITION_BY, value_name = "KEYS")]
    pub partition_by: String,
    /// Compress the part files and the error file.
    #[arg(long, value_enum, default_value_t = CompressArg::None)]
    pub compress: CompressArg,
    /// Compression level (zstd 1-22, default 1; gzip 0-9, default 6).
    #[arg(long, value_name = "N")]
    pub compress_level: Option<i32>,
    /// Start a new part file before one would exceed this size (before compression).
    #[arg(long, default_value = defaults::MAX_FILE_BYTES, value_parser = parse_size, value_name = "BYTES")]
    pub max_file_bytes: u64,
    /// Start a new part file before one would exceed this many calls (0: unlimited).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub max_file_records: u64,
    /// Replace the files of an earlier run in --out.
    #[arg(long)]
    pub overwrite: bool,
    /// At most this many output files open at once; more partitions are closed and reopened.
    #[arg(long, default_value_t = DEFAULT_MAX_OPEN_FILES as u32, value_parser = clap::value_parser!(u32).range(2..=65536), value_name = "N")]
    pub max_open_files: u32,
    /// Unfinished compressed frames kept in memory for closed files (tuning and tests).
    #[arg(long, default_value = defaults::IDLE_FRAME_BYTES, value_parser = parse_size, hide = true)]
    pub idle_frame_bytes: u64,
    /// Take share K of N of the inputs (K/N, or auto/N: K from JOB_COMPLETION_INDEX or
    /// AWS_BATCH_JOB_ARRAY_INDEX).
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// With --shard: plain NDJSON inputs larger than this may be cut between shards.
    #[arg(long, default_value = defaults::SPLIT_BYTES, value_parser = parse_size, value_name = "BYTES")]
    pub split_bytes: u64,
    /// The flags `convert` shares with `check`.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// The flags of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Write the rejected records here (error-file format).
    #[arg(long, value_name = "FILE")]
    pub errors: Option<PathBuf>,
    /// The flags `check` shares with `convert`.
    #[command(flatten)]
    pub common: CommonArgs,
}

fn parse_partition(s: &str) -> Result<Vec<PartitionBy>> {
    let mut keys = Vec::new();
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    if parts == ["none"] {
        return Ok(keys);
    }
    for p in parts {
        let key = match p {
            "type" => PartitionBy::Type,
            "date" => PartitionBy::Date,
            "hour" => PartitionBy::Hour,
            _ => match p.strip_prefix("bucket:").map(str::parse::<u32>) {
                Some(Ok(n)) if n >= 1 => PartitionBy::Bucket(n),
                _ => {
                    return Err(Error::Usage(format!(
                        "--partition-by: {p:?} is not one of type, date, hour, bucket:N (N >= 1), none"
                    )));
                }
            },
        };
        let same = |k: &PartitionBy| std::mem::discriminant(k) == std::mem::discriminant(&key);
        if keys.iter().any(same) {
            return Err(Error::Usage(format!(
                "--partition-by: {p:?} is given twice"
            )));
        }
        keys.push(key);
    }
    Ok(keys)
}

impl ConvertArgs {
    /// `--compress` and `--compress-level`, checked together.
    fn compression(&self) -> Result<(Compression, i32)> {
        let compress = match self.compress {
            CompressArg::None => Compression::None,
            CompressArg::Zstd => Compression::Zstd,
            CompressArg::Gzip => Compression::Gzip,
        };
        let level = match (compress, self.compress_level) {
            (Compression::None, Some(_)) => {
                return Err(Error::Usage(
                    "--compress-level needs --compress zstd or gzip".into(),
                ));
            }
            (Compression::Zstd, Some(l)) if !(1..=22).contains(&l) => {
                return Err(Error::Usage("--compress-level for zstd is 1 to 22".into()));
            }
            (Compression::Gzip, Some(l)) if !(0..=9).contains(&l) => {
                return Err(Error::Usage("--compress-level for gzip is 0 to 9".into()));
            }
            (_, Some(l)) => l,
            (Compression::Gzip, None) => 6,
            (_, None) => 1,
        };
        Ok((compress, level))
    }

    pub(super) fn output(&self) -> Result<OutputConfig> {
        let (compress, compress_level) = self.compression()?;
        if self.max_file_bytes == 0 {
            return Err(Error::Usage("--max-file-bytes must be at least 1".into()));
        }
        let dir = match self.out.to_str().and_then(crate::store::file_url_path) {
            Some(path) => path?,
            None => self.out.clone(),
        };
        Ok(OutputConfig {
            dir,
            partition_by: parse_partition(&self.partition_by)?,
            compress,
            compress_level,
            max_file_bytes: self.max_file_bytes,
            max_file_records: self.max_file_records,
            overwrite: self.overwrite,
            max_open_files: self.max_open_files as usize,
            idle_frame_bytes: usize::try_from(self.idle_frame_bytes).unwrap_or(usize::MAX),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions() {
        assert_eq!(parse_partition("none").unwrap(), vec![]);
        assert_eq!(
            parse_partition("date,type,bucket:16").unwrap(),
            vec![
                PartitionBy::Date,
                PartitionBy::Type,
                PartitionBy::Bucket(16)
            ]
        );
        assert!(parse_partition("type,type").is_err());
        assert!(parse_partition("bucket:0").is_err());
        assert!(parse_partition("color").is_err());
    }
}
