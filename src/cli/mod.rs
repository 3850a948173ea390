//! Command-line flags, and their validation before any work starts: each subcommand's flags
//! become its validated configuration once, here, and no other module sees a flag. `convert`
//! and `check` become a [`Config`] (this module; their own flags in `cli/convert.rs`, the paths
//! checked against each other in `cli/paths.rs`); `send` a `SendConfig` (`cli/send.rs`); `plan`
//! and `merge` a `PlanConfig` and a `MergeConfig` (`cli/shard.rs`). `send --from track`
//! converts with the [`Config`] this module builds for `convert` from the same flags.

mod convert;
mod defaults;
mod paths;
pub(crate) mod select;
pub(crate) mod send;
pub(crate) mod shard;

pub use convert::{CheckArgs, ConvertArgs};

use crate::calls::API_MAX_CALL_BYTES;
use crate::config::{
    Command, Compression, Config, CsvLayout, DEFAULT_IDLE_FRAME_BYTES, DEFAULT_MAX_FILE_BYTES,
    DEFAULT_MAX_OPEN_FILES, DEFAULT_PROGRESS_INTERVAL_SECS, InputFormat, OutputConfig, PartitionBy,
    Progress,
};
use crate::error::{Error, Result};
use crate::translate::{MessageIds, MissingTime, Options};
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::path::PathBuf;

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

/// The flags `convert` and `check` share: inputs, the mapping's settings, the call size limit,
/// reporting.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Input files or directories; `-` reads standard input.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// How records are read and mapped.
    #[command(flatten, next_help_heading = "Conversion")]
    pub mapping: MappingArgs,
    /// Reject records with a call larger than this (call_too_large); 0 disables.
    #[arg(long, default_value_t = API_MAX_CALL_BYTES, value_parser = parse_size, value_name = "BYTES",
        help_heading = "Conversion")]
    pub max_call_bytes: u64,
    /// Which calls move and how they are reshaped (docs/transforms.md).
    #[command(flatten, next_help_heading = "Selection")]
    pub select: select::SelectArgs,
    /// The progress line, the summary and where it goes.
    #[command(flatten)]
    pub report: ReportArgs,
}

/// The mapping's settings: how records are read and which calls they become. `convert` and
/// `check` take them, and `send` with `--from track` only.
#[derive(Debug, Clone, Args)]
pub struct MappingArgs {
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
    /// A record with no call time of its own: stamp its calls with the run's reference time
    /// (counted, with a warning), or reject it (missing_timestamp).
    #[arg(long, value_enum, default_value_t = MissingTimeArg::Now, value_name = "HOW")]
    pub missing_time: MissingTimeArg,
    /// Convert logged HTTP calls whose logged status (status or status_code) is not 2xx;
    /// without it they are rejected (original_call_failed).
    #[arg(long)]
    pub keep_failed_calls: bool,
    /// The `integrations` object of every call (JSON).
    #[arg(long, value_name = "JSON")]
    pub integrations: Option<String>,
    /// Reject lines longer than this (line_too_long).
    #[arg(long, default_value = defaults::MAX_LINE_BYTES, value_parser = parse_size, value_name = "BYTES")]
    pub max_line_bytes: u64,
    /// Bytes read from an input at a time (tuning and tests).
    #[arg(long, default_value = defaults::BLOCK_BYTES, value_parser = parse_size, hide = true)]
    pub block_size: u64,
}

/// The progress line and the summary: `convert`, `check` and `send` take them.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Progress line on stderr.
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto, value_name = "WHEN",
        help_heading = "Progress")]
    pub progress: ProgressArg,
    /// Off a terminal, `--progress always` prints one plain line at most this often.
    #[arg(long, default_value_t = DEFAULT_PROGRESS_INTERVAL_SECS, value_name = "SECONDS",
        value_parser = clap::value_parser!(u64).range(1..=86_400), help_heading = "Progress")]
    pub progress_interval: u64,
    /// No progress bar and no summary.
    #[arg(long, short, help_heading = "Progress")]
    pub quiet: bool,
    /// Write the end-of-run summary as JSON to this file.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub summary_json: Option<PathBuf>,
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

/// `--missing-time` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MissingTimeArg {
    /// Stamp the calls with the run's reference time (--now), counted and warned about.
    Now,
    /// Reject the record (missing_timestamp).
    Reject,
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
        return Ok(crate::translate::DEFAULT_INTEGRATIONS.to_owned());
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

impl MappingArgs {
    /// The mapping's settings; `max_call_bytes` is the command's call size limit.
    fn translate_options(&self, max_call_bytes: u64, bucket_hash: bool) -> Result<Options> {
        let mut translate = Options::new(reference_now(self.now.as_deref())?);
        translate.integrations = integrations(self.integrations.as_deref())?;
        translate.message_ids = match self.message_ids {
            IdsArg::Derived => MessageIds::Derived,
            IdsArg::Random => MessageIds::Random,
        };
        translate.max_call_bytes = max_call_bytes as usize;
        translate.email_trait = self.email_trait;
        translate.keep_failed_calls = self.keep_failed_calls;
        translate.missing_time = match self.missing_time {
            MissingTimeArg::Now => MissingTime::Now,
            MissingTimeArg::Reject => MissingTime::Reject,
        };
        translate.bucket_hash = bucket_hash;
        Ok(translate)
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

    /// `--threads`, else every core (at most 256).
    fn thread_count(&self) -> usize {
        match self.threads {
            Some(n) => usize::from(n),
            None => std::thread::available_parallelism().map_or(1, |n| n.get().min(256)),
        }
    }
}

impl ReportArgs {
    /// `--progress`, `Never` with `--quiet`.
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
}

/// The flags of a conversion (`convert`, `check`, `send --from track`): what the subcommand
/// alone decides, before the flags all commands share are checked.
struct ConversionFlags {
    command: Command,
    output: Option<OutputConfig>,
    inputs: Vec<PathBuf>,
    mapping: MappingArgs,
    max_call_bytes: u64,
    report: ReportArgs,
    /// The selection, compiled (`--since` … `--transform`).
    select: Option<std::sync::Arc<crate::select::Selection>>,
    /// `check --errors`.
    errors: Option<PathBuf>,
    shard: Option<crate::config::Shard>,
    split_bytes: u64,
}

impl ConversionFlags {
    /// `convert`'s own part of the configuration.
    fn convert(c: ConvertArgs) -> Result<ConversionFlags> {
        let shard = c
            .shard
            .as_deref()
            .map(|s| crate::config::Shard::parse(s, |v| std::env::var(v).ok()))
            .transpose()?;
        Ok(ConversionFlags {
            command: Command::Convert,
            output: Some(c.output()?),
            inputs: c.common.inputs,
            mapping: c.common.mapping,
            max_call_bytes: c.common.max_call_bytes,
            report: c.common.report,
            select: c.common.select.selection()?,
            errors: None,
            shard,
            split_bytes: c.split_bytes,
        })
    }

    /// `check`'s own part of the configuration.
    fn check(c: CheckArgs) -> Result<ConversionFlags> {
        Ok(ConversionFlags {
            command: Command::Check,
            output: None,
            inputs: c.common.inputs,
            mapping: c.common.mapping,
            max_call_bytes: c.common.max_call_bytes,
            report: c.common.report,
            select: c.common.select.selection()?,
            errors: c.errors,
            shard: None,
            split_bytes: 0,
        })
    }

    /// Validates the flags into a run configuration: every value and every path is checked
    /// here, before any work starts. `convert`, `check` and `send --from track` all come
    /// through here.
    fn into_config(mut self, command_line: Vec<String>) -> Result<Config> {
        for input in &mut self.inputs {
            // `file://` inputs are paths.
            if let Some(path) = input.to_str().and_then(crate::store::file_url_path) {
                *input = path?;
            }
        }
        self.mapping.check_limits()?;
        let bucket_hash = self.output.as_ref().is_some_and(|o| {
            o.partition_by
                .iter()
                .any(|p| matches!(p, PartitionBy::Bucket(_)))
        });
        let mut translate = self
            .mapping
            .translate_options(self.max_call_bytes, bucket_hash)?;
        translate.select = self.select.clone();
        let (errors_file, summary_json, exclude) = paths::checked_paths(&self)?;
        let mapping = self.mapping;
        Ok(Config {
            command: self.command,
            input_format: mapping.input_format.format(),
            csv_layout: mapping.csv_layout.layout(),
            threads: mapping.thread_count(),
            translate,
            max_line_bytes: mapping.max_line_bytes,
            progress: self.report.progress(),
            progress_interval: std::time::Duration::from_secs(self.report.progress_interval),
            quiet: self.report.quiet,
            inputs: self.inputs,
            exclude,
            summary_json,
            output: self.output,
            errors_file,
            block_bytes: mapping.block_size as usize,
            command_line,
            shard: self.shard,
            split_bytes: self.split_bytes,
        })
    }
}

/// The configuration of `send --from track`'s conversion: `convert`'s, built by the same
/// function from the same mapping flags, into `out` as one plain file set in input order
/// (`--partition-by none`, no compression, `convert`'s default file sizes, replaced on each
/// conversion), quiet and with no summary of its own (the send reports).
fn track_conversion(
    inputs: Vec<PathBuf>,
    mapping: MappingArgs,
    (max_call_bytes, select): (u64, Option<std::sync::Arc<crate::select::Selection>>),
    out: PathBuf,
    command_line: Vec<String>,
) -> Result<Config> {
    let output = OutputConfig {
        dir: out,
        partition_by: Vec::new(),
        compress: Compression::None,
        compress_level: 1,
        max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        max_file_records: 0,
        overwrite: true,
        max_open_files: DEFAULT_MAX_OPEN_FILES,
        idle_frame_bytes: DEFAULT_IDLE_FRAME_BYTES,
    };
    let job = ConversionFlags {
        command: Command::Convert,
        output: Some(output),
        inputs,
        mapping,
        max_call_bytes,
        report: ReportArgs {
            progress: ProgressArg::Never,
            progress_interval: DEFAULT_PROGRESS_INTERVAL_SECS,
            quiet: true,
            summary_json: None,
        },
        select,
        errors: None,
        shard: None,
        split_bytes: 0,
    };
    job.into_config(command_line)
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

/// A command whose flags are validated, ready to run.
pub(crate) enum Validated {
    /// `convert` or `check`.
    Job(Box<Config>),
    /// `plan`.
    Plan(crate::shard::plan::PlanConfig),
    /// `merge`.
    Merge(crate::shard::merge::MergeConfig),
    /// `send`.
    Send(Box<crate::send::SendConfig>),
}

/// Parses a command line: the flags, and clap's matches (which say which values the user
/// gave). A clap error is help, the version, or a bad flag; it prints itself.
pub(crate) fn parse(args: &[OsString]) -> std::result::Result<(Cli, ArgMatches), clap::Error> {
    let matches = Cli::command().try_get_matches_from(args)?;
    let cli = Cli::from_arg_matches(&matches)?;
    Ok((cli, matches))
}

impl Cli {
    /// Validates the flags of any subcommand into its configuration; `matches` are those
    /// [`parse`] returned with `self`.
    pub(crate) fn validate(
        self,
        matches: &ArgMatches,
        command_line: Vec<String>,
    ) -> Result<Validated> {
        let sub = |name| {
            matches
                .subcommand_matches(name)
                .expect("the parsed subcommand")
        };
        Ok(match self.command {
            Cmd::Plan(a) => Validated::Plan(a.into_config()?),
            Cmd::Merge(a) => Validated::Merge(a.into_config(command_line)?),
            Cmd::Send(a) => Validated::Send(Box::new(a.into_config(sub("send"), command_line)?)),
            command => Validated::Job(Box::new(Cli { command }.into_config(command_line)?)),
        })
    }

    /// Validates the flags of `convert` or `check` into a run configuration: every value and
    /// every path is checked here, before any work starts.
    pub fn into_config(self, command_line: Vec<String>) -> Result<Config> {
        let job = match self.command {
            Cmd::Convert(c) => ConversionFlags::convert(c)?,
            Cmd::Check(c) => ConversionFlags::check(c)?,
            Cmd::Plan(_) | Cmd::Merge(_) | Cmd::Send(_) => {
                return Err(Error::Usage(
                    "plan, merge and send take no convert configuration".into(),
                ));
            }
        };
        job.into_config(command_line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The identities written down in a send's state and a shard's manifest are built from
    /// named fields: these values may change only on purpose (old states and shard manifests
    /// would no longer match).
    #[test]
    fn option_identities_are_pinned() {
        let input = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let out = std::env::temp_dir().join("t2p-identity-test-never-written");
        let args = [
            "t2p",
            "convert",
            "--now",
            "2026-01-01T00:00:00Z",
            "--partition-by",
            "date,bucket:4",
            "--compress",
            "zstd",
            "--email-trait",
            "--integrations",
            r#"{"All": false}"#,
        ];
        let cli = Cli::try_parse_from(args.iter().copied().chain([
            "--out",
            out.to_str().unwrap(),
            input,
        ]))
        .unwrap();
        let cfg = cli.into_config(Vec::new()).unwrap();
        assert_eq!(
            cfg.mapping_identity(),
            serde_json::json!({
                "input_format": "auto", "csv_layout": "auto", "max_line_bytes": 16 << 20,
                "max_call_bytes": 32768, "integrations": r#"{"All":false}"#,
                "message_ids": "derived", "email_trait": true,
                "keep_failed_calls": false, "missing_time": "now",
            })
        );
        assert_eq!(
            cfg.layout_identity(),
            serde_json::json!({
                "partition_by": ["date", "bucket:4"], "compress": "zstd", "compress_level": 1,
                "max_file_bytes": 256 << 20, "max_file_records": 0,
            })
        );
        assert_eq!(crate::shard::options_digest(&cfg), "b8e6b31b8c73bb62");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("").is_err());
    }
}
