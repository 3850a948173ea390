//! Command-line flags, and their validation into a [`Config`] before any work starts.

pub(crate) mod select;
pub(crate) mod send;
pub(crate) mod shard;

use crate::config::{
    Command, Compression, Config, CsvLayout, InputFormat, OutputConfig, PartitionBy, Progress,
};
use crate::error::{Error, Result};
use crate::target::Target;
use crate::translate::{MessageIds, Options};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};

/// The command line: one subcommand and its flags.
#[derive(Debug, Parser)]
#[command(
    name = "track2pipelines",
    version,
    about = "Convert archives of Customer.io Track API calls into Data Pipelines API calls"
)]
pub struct Cli {
    /// The subcommand given.
    #[command(subcommand)]
    pub command: Cmd,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Convert inputs, writing partitioned calls, errors.ndjson and manifest.json under --out.
    Convert(ConvertArgs),
    /// Convert without writing calls: counts and rejects only.
    Check(CheckArgs),
    /// Print how `--shard K/N` splits the inputs among N shards, as JSON.
    Plan(shard::PlanArgs),
    /// Check that all shards of a job completed and write the job's manifest.json.
    Merge(shard::MergeArgs),
    /// Deliver calls to the Data Pipelines API, resumably (see docs/send.md).
    Send(Box<send::SendArgs>),
}

/// The flags of `convert`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Output directory, or an object-store URL (s3://, gs://, az://).
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
    /// At most this many output files open at once; more partitions are closed and reopened.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(2..=65536), value_name = "N")]
    pub max_open_files: u32,
    /// Unfinished compressed frames kept in memory for closed files (tuning and tests).
    #[arg(long, default_value = "32MiB", value_parser = parse_size, hide = true)]
    pub idle_frame_bytes: u64,
    /// Take share K of N of the inputs (K/N, or auto/N: K from JOB_COMPLETION_INDEX or
    /// AWS_BATCH_JOB_ARRAY_INDEX).
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// With --shard: plain NDJSON inputs larger than this may be cut between shards.
    #[arg(long, default_value = "256MiB", value_parser = parse_size, value_name = "BYTES")]
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

/// The flags `convert` and `check` share: inputs, formats, the mapping's settings, reporting.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Input files or directories; `-` reads standard input.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Input format.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto, value_name = "FORMAT")]
    pub input_format: FormatArg,
    /// CSV layout (auto: detected from each file's header).
    #[arg(long, value_enum, default_value_t = LayoutArg::Auto, value_name = "LAYOUT")]
    pub csv_layout: LayoutArg,
    /// Worker threads, 1 to 256 (default: all cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
    /// The run's reference time (RFC 3339, or unix seconds); default SOURCE_DATE_EPOCH, else the clock.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// messageIds of calls whose input carries no ULID dedupe id.
    #[arg(long, value_enum, default_value_t = IdsArg::Derived, value_name = "HOW")]
    pub message_ids: IdsArg,
    /// Also write a person's email identifier as `traits.email` of identify calls whose
    /// traits hold no email (for destinations that read it there).
    #[arg(long)]
    pub email_trait: bool,
    /// The `integrations` object of every call (JSON).
    #[arg(long, value_name = "JSON")]
    pub integrations: Option<String>,
    /// Reject lines longer than this (line_too_long).
    #[arg(long, default_value = "16MiB", value_parser = parse_size, value_name = "BYTES")]
    pub max_line_bytes: u64,
    /// Reject records with a call larger than this (call_too_large); 0 disables.
    #[arg(long, default_value = "32768", value_parser = parse_size, value_name = "BYTES")]
    pub max_call_bytes: u64,
    /// Progress line on stderr.
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto, value_name = "WHEN")]
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
    /// Which calls move and how they are reshaped (docs/transforms.md).
    #[command(flatten)]
    pub select: select::SelectArgs,
}

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

/// `--input-format` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// One JSON record per line.
    Ndjson,
    /// A header row, then one record per row.
    Csv,
    /// CSV for names ending .csv or .tsv (before any compression suffix), else NDJSON.
    Auto,
}

impl FormatArg {
    /// The configured input format.
    pub fn format(self) -> InputFormat {
        match self {
            FormatArg::Ndjson => InputFormat::Ndjson,
            FormatArg::Csv => InputFormat::Csv,
            FormatArg::Auto => InputFormat::Auto,
        }
    }
}

/// `--csv-layout` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LayoutArg {
    /// Detect the layout from the header.
    Auto,
    /// Logged HTTP calls: method, path (or url), body.
    Http,
    /// v2 entities: type, action, identifiers.*, ...
    V2,
    /// Event import: name plus id, email, cio_id or anonymous_id.
    Events,
    /// People import: id, email or cio_id, every other column a trait.
    People,
}

/// `--message-ids` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum IdsArg {
    /// Derived from the record's bytes: the same ids on every run.
    Derived,
    /// Fresh random ULIDs.
    Random,
}

/// `--progress` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProgressArg {
    /// Only when stderr is a terminal.
    Auto,
    /// Always, even when stderr is not a terminal.
    Always,
    /// Never.
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
        return time_flag("--now", s);
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

/// A TIME flag (`--now`, `--since`, `--until`): RFC 3339, or unix seconds.
fn time_flag(flag: &str, s: &str) -> Result<i64> {
    if s.starts_with(|c: char| c.is_ascii_digit()) && !s.contains(['-', ':']) {
        return unix_seconds(s)
            .ok_or_else(|| Error::Usage(format!("{flag}: {s:?} is not unix seconds in range")));
    }
    crate::time::parse_rfc3339(s).ok_or_else(|| {
        Error::Usage(format!(
            "{flag}: {s:?} is not an RFC 3339 time or unix seconds"
        ))
    })
}

/// Unix seconds (`1700000000`, `1700000000.250`) to milliseconds, within the years 1970-9999.
fn unix_seconds(s: &str) -> Option<i64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = int.parse().ok()?;
    let ms: i64 = format!("{frac:0<3}")[..3].parse().ok()?;
    let total = secs.checked_mul(1000)?.checked_add(ms)?;
    (0..=crate::time::MAX_MS).contains(&total).then_some(total)
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

    fn output(&self) -> Result<OutputConfig> {
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

impl CommonArgs {
    fn translate_options(&self, bucket_hash: bool) -> Result<Options> {
        let mut translate = Options::new(reference_now(self.now.as_deref())?);
        translate.integrations = integrations(self.integrations.as_deref())?;
        translate.message_ids = match self.message_ids {
            IdsArg::Derived => MessageIds::Derived,
            IdsArg::Random => MessageIds::Random,
        };
        translate.max_call_bytes = self.max_call_bytes as usize;
        translate.email_trait = self.email_trait;
        translate.bucket_hash = bucket_hash;
        translate.select = self.select.selection()?;
        Ok(translate)
    }

    fn progress(&self) -> Progress {
        if self.quiet {
            return Progress::Never;
        }
        match self.progress {
            ProgressArg::Auto => Progress::Auto,
            ProgressArg::Always => Progress::Always,
            ProgressArg::Never => Progress::Never,
        }
    }

    fn check_limits(&self) -> Result<()> {
        if self.block_size < 4096 || self.block_size > (1 << 30) {
            return Err(Error::Usage(
                "--block-size must be between 4KiB and 1GiB".into(),
            ));
        }
        if self.max_line_bytes == 0 {
            return Err(Error::Usage("--max-line-bytes must be at least 1".into()));
        }
        Ok(())
    }
}

/// `path` made absolute with every existing part resolved (links included), so two spellings
/// of one place compare equal; the part that does not exist yet is appended as written.
fn resolved(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut tail = Vec::new();
    let mut head = abs.as_path();
    loop {
        if let Ok(real) = head.canonicalize() {
            let mut out = real;
            out.extend(tail.iter().rev());
            return out;
        }
        match (head.parent(), head.file_name()) {
            (Some(parent), Some(name)) => {
                tail.push(name.to_os_string());
                head = parent;
            }
            _ => return abs,
        }
    }
}

/// The inputs as given, checked against the run's outputs (docs/mapping.md §13): an input at or
/// below `--out` is refused; `--out` inside an input directory is skipped by discovery
/// (returned); a file option naming an input or a file below `--out` is refused.
fn check_paths(
    inputs: &[PathBuf],
    out: Option<&Path>,
    files: &[(&str, &Target)],
) -> Result<Option<PathBuf>> {
    let is_url = |p: &Path| p.to_str().is_some_and(crate::store::is_url);
    // An object-store `--out` is checked against the inputs when they are listed.
    let out = out.filter(|o| !is_url(o)).map(resolved);
    let mut exclude = None;
    let mut given = Vec::new();
    for input in inputs.iter().filter(|i| i.as_os_str() != "-" && !is_url(i)) {
        let real = input
            .canonicalize()
            .map_err(|e| Error::Usage(format!("cannot read input {}: {e}", input.display())))?;
        if let Some(out) = &out {
            if real.starts_with(out) {
                return Err(Error::Usage(format!(
                    "input {} is inside --out {}: a run's output never holds its inputs",
                    input.display(),
                    out.display()
                )));
            }
            if real.is_dir() && out.starts_with(&real) {
                exclude = Some(out.clone());
            }
        }
        given.push((input, real));
    }
    for (flag, target) in files {
        let real = resolved(&target.path);
        if let Some(out) = &out
            && real.starts_with(out)
        {
            return Err(Error::Usage(format!(
                "{flag} {} is inside --out {}: choose a file outside it",
                target.path.display(),
                out.display()
            )));
        }
        if let Some(run_dir) = real
            .ancestors()
            .skip(1)
            .find(|a| crate::output::dir::is_run_dir(a))
        {
            return Err(Error::Usage(format!(
                "{flag} {} is inside {}, the output of a track2pipelines run: choose a file outside it",
                target.path.display(),
                run_dir.display()
            )));
        }
        if let Some((input, _)) = given
            .iter()
            .find(|(_, r)| *r == real || (r.is_dir() && real.starts_with(r)))
        {
            return Err(Error::Usage(format!(
                "{flag} {} would overwrite or join the input {}",
                target.path.display(),
                input.display()
            )));
        }
    }
    Ok(exclude)
}

/// What the subcommand alone decides, before the flags all commands share are checked.
struct Job {
    command: Command,
    output: Option<OutputConfig>,
    common: CommonArgs,
    /// `check --errors`.
    errors: Option<PathBuf>,
    shard: Option<crate::config::Shard>,
    split_bytes: u64,
}

impl Cmd {
    /// The command's own part of the configuration; `plan`, `merge` and `send` have none.
    fn into_job(self) -> Result<Job> {
        match self {
            Cmd::Convert(c) => {
                let shard = c
                    .shard
                    .as_deref()
                    .map(|s| crate::config::Shard::parse(s, |v| std::env::var(v).ok()))
                    .transpose()?;
                Ok(Job {
                    command: Command::Convert,
                    output: Some(c.output()?),
                    common: c.common,
                    errors: None,
                    shard,
                    split_bytes: c.split_bytes,
                })
            }
            Cmd::Check(c) => Ok(Job {
                command: Command::Check,
                output: None,
                common: c.common,
                errors: c.errors,
                shard: None,
                split_bytes: 0,
            }),
            Cmd::Plan(_) | Cmd::Merge(_) | Cmd::Send(_) => Err(Error::Usage(
                "plan, merge and send take no convert configuration".into(),
            )),
        }
    }
}

impl CommonArgs {
    /// `file://` inputs are paths.
    fn resolve_file_urls(&mut self) -> Result<()> {
        for input in &mut self.inputs {
            if let Some(path) = input.to_str().and_then(crate::store::file_url_path) {
                *input = path?;
            }
        }
        Ok(())
    }

    /// `--threads`, else every core (at most 256).
    fn thread_count(&self) -> usize {
        match self.threads {
            Some(n) => usize::from(n),
            None => std::thread::available_parallelism().map_or(1, |n| n.get().min(256)),
        }
    }
}

impl LayoutArg {
    /// The configured CSV layout.
    fn layout(self) -> CsvLayout {
        match self {
            LayoutArg::Auto => CsvLayout::Auto,
            LayoutArg::Http => CsvLayout::Http,
            LayoutArg::V2 => CsvLayout::V2,
            LayoutArg::Events => CsvLayout::Events,
            LayoutArg::People => CsvLayout::People,
        }
    }
}

/// Checks the files named on the command line (`--errors`, `--summary-json`) and then every
/// path against the others; returns the two targets and the directory discovery must skip.
fn checked_paths(job: &Job) -> Result<(Option<Target>, Option<Target>, Option<PathBuf>)> {
    let errors_file = job
        .errors
        .as_ref()
        .map(|p| Target::check(p, "--errors"))
        .transpose()?;
    let summary_json = job
        .common
        .summary_json
        .as_ref()
        .map(|p| Target::check(p, "--summary-json"))
        .transpose()?;
    let mut named = Vec::new();
    if let Some(t) = &errors_file {
        named.push(("--errors", t));
    }
    if let Some(t) = &summary_json {
        named.push(("--summary-json", t));
    }
    let exclude = check_paths(
        &job.common.inputs,
        job.output.as_ref().map(|o| o.dir.as_path()),
        &named,
    )?;
    Ok((errors_file, summary_json, exclude))
}

impl Cli {
    /// Validates the flags into a run configuration: every value and every path is checked
    /// here, before any work starts.
    pub fn into_config(self, command_line: Vec<String>) -> Result<Config> {
        let mut job = self.command.into_job()?;
        job.common.resolve_file_urls()?;
        job.common.check_limits()?;
        let bucket_hash = job.output.as_ref().is_some_and(|o| {
            o.partition_by
                .iter()
                .any(|p| matches!(p, PartitionBy::Bucket(_)))
        });
        let translate = job.common.translate_options(bucket_hash)?;
        let (errors_file, summary_json, exclude) = checked_paths(&job)?;
        let common = job.common;
        Ok(Config {
            command: job.command,
            input_format: common.input_format.format(),
            csv_layout: common.csv_layout.layout(),
            threads: common.thread_count(),
            translate,
            max_line_bytes: common.max_line_bytes,
            progress: common.progress(),
            quiet: common.quiet,
            inputs: common.inputs,
            exclude,
            summary_json,
            output: job.output,
            errors_file,
            block_bytes: common.block_size as usize,
            command_line,
            shard: job.shard,
            split_bytes: job.split_bytes,
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
