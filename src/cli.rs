//! Command-line flags, and their validation into a [`Config`] before any work starts.

use crate::config::{
    Command, Compression, Config, CsvLayout, InputFormat, OutputConfig, PartitionBy, Progress,
};
use crate::error::{Error, Result};
use crate::translate::{MessageIds, Options};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "track2pipelines",
    version,
    about = "Convert archives of Customer.io Track API calls into Data Pipelines API calls"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Convert inputs, writing partitioned calls, errors.ndjson and manifest.json under --out.
    Convert(ConvertArgs),
    /// Convert without writing calls: counts and rejects only.
    Check(CheckArgs),
    /// Deliver calls to the Data Pipelines API, resumably (see docs/send.md).
    Send(Box<crate::send::args::SendArgs>),
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Comma list of type, date, hour, bucket:N, or none.
    #[arg(long, default_value = "type", value_name = "KEYS")]
    pub partition_by: String,
    /// Compress the part files and the error file.
    #[arg(long, value_enum, default_value_t = CompressArg::None)]
    pub compress: CompressArg,
    /// Compression level (zstd 1-22, default 1; gzip 0-9, default 6).
    #[arg(long, value_name = "N")]
    pub compress_level: Option<i32>,
    /// Start a new part file before one would exceed this size (before compression).
    #[arg(long, default_value = "256MiB", value_parser = parse_size, value_name = "BYTES")]
    pub max_file_bytes: u64,
    /// Start a new part file before one would exceed this many calls (0: unlimited).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub max_file_records: u64,
    /// Replace the files of an earlier run in --out.
    #[arg(long)]
    pub overwrite: bool,
    /// Shard number written into part file names (part-<shard>-<n>).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..10000))]
    pub shard: u16,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Write the rejected records here (error-file format).
    #[arg(long, value_name = "FILE")]
    pub errors: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Input files or directories; `-` reads standard input.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    pub input_format: FormatArg,
    #[arg(long, value_enum, default_value_t = LayoutArg::Auto)]
    pub csv_layout: LayoutArg,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// The run's reference time (RFC 3339, or unix seconds); default SOURCE_DATE_EPOCH, else the clock.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    #[arg(long, value_enum, default_value_t = IdsArg::Derived)]
    pub message_ids: IdsArg,
    /// The `integrations` object of every call (JSON).
    #[arg(long, value_name = "JSON")]
    pub integrations: Option<String>,
    /// Reject lines longer than this (line_too_long).
    #[arg(long, default_value = "16MiB", value_parser = parse_size, value_name = "BYTES")]
    pub max_line_bytes: u64,
    /// Reject records with a call larger than this (call_too_large); 0 disables.
    #[arg(long, default_value = "32768", value_parser = parse_size, value_name = "BYTES")]
    pub max_call_bytes: u64,
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    pub progress: ProgressArg,
    /// No progress bar and no summary.
    #[arg(long, short)]
    pub quiet: bool,
    /// Write the end-of-run summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,
    /// Bytes read from an input at a time (tuning and tests).
    #[arg(long, default_value = "2MiB", value_parser = parse_size, hide = true)]
    pub block_size: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CompressArg {
    None,
    Zstd,
    Gzip,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Ndjson,
    Csv,
    Auto,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LayoutArg {
    Auto,
    Http,
    V2,
    Events,
    People,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum IdsArg {
    Derived,
    Random,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProgressArg {
    Auto,
    Always,
    Never,
}

/// A byte size: `1048576`, `64KiB`, `16MiB`, `1GiB` (also `K`, `M`, `G`, `KB`, `MB`, `GB`, all
/// powers of 1024).
pub fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size like 4096, 64KiB or 16MiB"))?;
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("unknown size unit in {s:?} (use KiB, MiB or GiB)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
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

/// The reference time: `--now`, else SOURCE_DATE_EPOCH, else the clock.
fn reference_now(flag: Option<&str>) -> Result<i64> {
    if let Some(s) = flag {
        return crate::time::parse_str(s).ok_or_else(|| {
            Error::Usage(format!(
                "--now: {s:?} is not an RFC 3339 time or unix seconds"
            ))
        });
    }
    if let Ok(s) = std::env::var("SOURCE_DATE_EPOCH") {
        let secs: i64 = s
            .trim()
            .parse()
            .map_err(|_| Error::Usage(format!("SOURCE_DATE_EPOCH={s:?} is not unix seconds")))?;
        if !(0..=crate::time::MAX_MS / 1000).contains(&secs) {
            return Err(Error::Usage(format!(
                "SOURCE_DATE_EPOCH={s:?} is out of range"
            )));
        }
        return Ok(secs * 1000);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| Error::Usage("the system clock is before 1970".into()))?;
    Ok(now.as_millis() as i64)
}

fn integrations(flag: Option<&str>) -> Result<String> {
    let Some(text) = flag else {
        return Ok(r#"{"All":true}"#.to_owned());
    };
    let raw: crate::json::Raw = serde_json::from_str(text)
        .map_err(|e| Error::Usage(format!("--integrations is not valid JSON: {e}")))?;
    if crate::json::Kind::of(raw) != crate::json::Kind::Object {
        return Err(Error::Usage("--integrations must be a JSON object".into()));
    }
    let mut out = Vec::new();
    crate::json::write_compact(&mut out, raw.get());
    Ok(String::from_utf8(out).expect("compacted JSON stays UTF-8"))
}

impl Cli {
    /// Validates the flags into a run configuration.
    pub fn into_config(self, command_line: Vec<String>) -> Result<Config> {
        let (command, common, output, errors_file) = match self.command {
            Cmd::Convert(c) => {
                let compress = match c.compress {
                    CompressArg::None => Compression::None,
                    CompressArg::Zstd => Compression::Zstd,
                    CompressArg::Gzip => Compression::Gzip,
                };
                let level = match (compress, c.compress_level) {
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
                if c.max_file_bytes == 0 {
                    return Err(Error::Usage("--max-file-bytes must be at least 1".into()));
                }
                let output = OutputConfig {
                    dir: c.out,
                    partition_by: parse_partition(&c.partition_by)?,
                    compress,
                    compress_level: level,
                    max_file_bytes: c.max_file_bytes,
                    max_file_records: c.max_file_records,
                    overwrite: c.overwrite,
                    shard: c.shard,
                };
                (Command::Convert, c.common, Some(output), None)
            }
            Cmd::Check(c) => (Command::Check, c.common, None, c.errors),
            Cmd::Send(_) => {
                return Err(Error::Usage(
                    "send is run by crate::send::main, not through a Config".into(),
                ));
            }
        };
        let threads = match common.threads {
            Some(0) => return Err(Error::Usage("--threads must be at least 1".into())),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if common.block_size < 4096 || common.block_size > (1 << 30) {
            return Err(Error::Usage(
                "--block-size must be between 4KiB and 1GiB".into(),
            ));
        }
        if common.max_line_bytes == 0 {
            return Err(Error::Usage("--max-line-bytes must be at least 1".into()));
        }
        let mut translate = Options::new(reference_now(common.now.as_deref())?);
        translate.integrations = integrations(common.integrations.as_deref())?;
        translate.message_ids = match common.message_ids {
            IdsArg::Derived => MessageIds::Derived,
            IdsArg::Random => MessageIds::Random,
        };
        translate.max_call_bytes = common.max_call_bytes as usize;
        translate.bucket_hash = output.as_ref().is_some_and(|o| {
            o.partition_by
                .iter()
                .any(|p| matches!(p, PartitionBy::Bucket(_)))
        });
        Ok(Config {
            command,
            inputs: common.inputs,
            input_format: match common.input_format {
                FormatArg::Ndjson => InputFormat::Ndjson,
                FormatArg::Csv => InputFormat::Csv,
                FormatArg::Auto => InputFormat::Auto,
            },
            csv_layout: match common.csv_layout {
                LayoutArg::Auto => CsvLayout::Auto,
                LayoutArg::Http => CsvLayout::Http,
                LayoutArg::V2 => CsvLayout::V2,
                LayoutArg::Events => CsvLayout::Events,
                LayoutArg::People => CsvLayout::People,
            },
            threads,
            translate,
            max_line_bytes: common.max_line_bytes,
            progress: if common.quiet {
                Progress::Never
            } else {
                match common.progress {
                    ProgressArg::Auto => Progress::Auto,
                    ProgressArg::Always => Progress::Always,
                    ProgressArg::Never => Progress::Never,
                }
            },
            quiet: common.quiet,
            summary_json: common.summary_json,
            output,
            errors_file,
            block_bytes: common.block_size as usize,
            command_line,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("").is_err());
    }

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
