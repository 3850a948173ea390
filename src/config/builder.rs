//! A [`Config`] built in code, for the library: the same defaults as the command line (README,
//! `track2pipelines convert --help`) and the same checks of each value, so a program runs
//! [`crate::job::execute`] without going through flags.

use super::{
    Command, Compression, Config, CsvLayout, InputFormat, OutputConfig, PartitionBy, Progress,
    Shard,
};
use crate::error::{Error, Result};
use crate::target::Target;
use crate::translate::Options;
use std::path::PathBuf;

/// `--max-line-bytes` by default: 16 MiB.
pub const DEFAULT_MAX_LINE_BYTES: u64 = 16 << 20;
/// `--max-file-bytes` by default: 256 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 256 << 20;
/// `--max-open-files` by default.
pub const DEFAULT_MAX_OPEN_FILES: usize = 64;
/// `--split-bytes` by default: 256 MiB.
pub const DEFAULT_SPLIT_BYTES: u64 = 256 << 20;
/// Unfinished compressed frames kept in memory for closed files, in all, by default: 32 MiB.
pub const DEFAULT_IDLE_FRAME_BYTES: usize = 32 << 20;
/// Bytes read from an input at a time, by default: 2 MiB.
pub const DEFAULT_BLOCK_BYTES: usize = 2 << 20;
/// `--progress-interval` by default, in seconds.
pub const DEFAULT_PROGRESS_INTERVAL_SECS: u64 = 10;

/// Builds a [`Config`] in code: start from [`Config::convert`] or [`Config::check`], change
/// what differs from the defaults, then [`ConfigBuilder::build`], which checks every value as
/// the command line does.
///
/// ```
/// use track2pipelines::config::{Compression, Config, PartitionBy};
///
/// let dir = std::env::temp_dir().join(format!("t2p-builder-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let input = dir.join("archive.ndjson");
/// let line = r#"{"type":"person","identifiers":{"id":"42"},"action":"event","name":"buy"}"#;
/// std::fs::write(&input, format!("{line}\n")).unwrap();
/// let cfg = Config::convert(dir.join("calls"), [&input])
///     .now_ms(1_767_225_600_000) // --now 2026-01-01T00:00:00Z
///     .partition_by(vec![PartitionBy::Type, PartitionBy::Date])
///     .compress(Compression::Zstd)
///     .threads(2)
///     .build()
///     .unwrap();
/// assert_eq!(cfg.output.as_ref().unwrap().compress_level, 1);
/// let result = track2pipelines::job::execute(&cfg, &Default::default()).unwrap();
/// assert_eq!((result.total.converted, result.exit_code()), (1, 0));
/// assert_eq!(result.parts[0].path, "type=track/date=2026-01-01/part-0000-00000.ndjson.zst");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    cfg: Config,
    compress_level: Option<i32>,
    summary_json: Option<PathBuf>,
    errors_file: Option<PathBuf>,
}

impl Config {
    /// `convert INPUTS --out OUT` with every other setting at its default: partitions by
    /// call type, no compression, every core, the clock's time as the reference time.
    pub fn convert<P: Into<PathBuf>>(
        out: impl Into<PathBuf>,
        inputs: impl IntoIterator<Item = P>,
    ) -> ConfigBuilder {
        let mut b = ConfigBuilder::new(Command::Convert, inputs);
        b.cfg.output = Some(OutputConfig {
            dir: out.into(),
            partition_by: vec![PartitionBy::Type],
            compress: Compression::None,
            compress_level: 1,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_file_records: 0,
            overwrite: false,
            max_open_files: DEFAULT_MAX_OPEN_FILES,
            idle_frame_bytes: DEFAULT_IDLE_FRAME_BYTES,
        });
        b
    }

    /// `check INPUTS` with every other setting at its default.
    pub fn check<P: Into<PathBuf>>(inputs: impl IntoIterator<Item = P>) -> ConfigBuilder {
        let mut b = ConfigBuilder::new(Command::Check, inputs);
        // A check has no shards.
        b.cfg.split_bytes = 0;
        b
    }
}

impl ConfigBuilder {
    fn new<P: Into<PathBuf>>(command: Command, inputs: impl IntoIterator<Item = P>) -> Self {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        ConfigBuilder {
            cfg: Config {
                command,
                inputs: inputs.into_iter().map(Into::into).collect(),
                exclude: None,
                input_format: InputFormat::Auto,
                csv_layout: CsvLayout::Auto,
                threads: std::thread::available_parallelism().map_or(1, |n| n.get().min(256)),
                translate: Options::new(now_ms),
                max_line_bytes: DEFAULT_MAX_LINE_BYTES,
                progress: Progress::Auto,
                progress_interval: std::time::Duration::from_secs(DEFAULT_PROGRESS_INTERVAL_SECS),
                quiet: false,
                summary_json: None,
                output: None,
                errors_file: None,
                block_bytes: DEFAULT_BLOCK_BYTES,
                command_line: Vec::new(),
                shard: None,
                split_bytes: DEFAULT_SPLIT_BYTES,
            },
            compress_level: None,
            summary_json: None,
            errors_file: None,
        }
    }

    /// The mapping's settings (`--now`, `--integrations`, `--message-ids`, `--email-trait`,
    /// `--keep-failed-calls`, `--missing-time`, `--max-call-bytes`).
    pub fn translate(mut self, options: Options) -> Self {
        self.cfg.translate = options;
        self
    }

    /// `--now`, in milliseconds since 1970: the run's reference time.
    pub fn now_ms(mut self, now_ms: i64) -> Self {
        let mut options = Options::new(now_ms);
        let old = &self.cfg.translate;
        options.integrations = old.integrations.clone();
        options.message_ids = old.message_ids;
        options.max_call_bytes = old.max_call_bytes;
        options.email_trait = old.email_trait;
        options.keep_failed_calls = old.keep_failed_calls;
        options.missing_time = old.missing_time;
        self.cfg.translate = options;
        self
    }

    /// `--input-format`.
    pub fn input_format(mut self, format: InputFormat) -> Self {
        self.cfg.input_format = format;
        self
    }

    /// `--csv-layout`.
    pub fn csv_layout(mut self, layout: CsvLayout) -> Self {
        self.cfg.csv_layout = layout;
        self
    }

    /// `--threads`, 1 to 256.
    pub fn threads(mut self, threads: usize) -> Self {
        self.cfg.threads = threads;
        self
    }

    /// `--max-line-bytes`.
    pub fn max_line_bytes(mut self, bytes: u64) -> Self {
        self.cfg.max_line_bytes = bytes;
        self
    }

    /// `--summary-json`: where the end-of-run summary is written as JSON.
    pub fn summary_json(mut self, path: impl Into<PathBuf>) -> Self {
        self.summary_json = Some(path.into());
        self
    }

    /// `check --errors`: where the rejected records are written.
    pub fn errors_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.errors_file = Some(path.into());
        self
    }

    /// `--shard K/N`: this process's share of the inputs (docs/scale-out.md).
    pub fn shard(mut self, shard: Shard) -> Self {
        self.cfg.shard = Some(shard);
        self
    }

    /// `--split-bytes`.
    pub fn split_bytes(mut self, bytes: u64) -> Self {
        self.cfg.split_bytes = bytes;
        self
    }

    /// The command line recorded in the manifest (empty by default).
    pub fn command_line(mut self, args: Vec<String>) -> Self {
        self.cfg.command_line = args;
        self
    }

    /// Bytes read from an input at a time, 4 KiB to 1 GiB.
    pub fn block_bytes(mut self, bytes: usize) -> Self {
        self.cfg.block_bytes = bytes;
        self
    }

    /// Changes the output settings of a `convert` (a `check` has none).
    fn output(mut self, set: impl FnOnce(&mut OutputConfig)) -> Self {
        if let Some(out) = self.cfg.output.as_mut() {
            set(out);
        }
        self
    }

    /// `--partition-by`, outermost first; empty for `none`.
    pub fn partition_by(self, levels: Vec<PartitionBy>) -> Self {
        self.output(|o| o.partition_by = levels)
    }

    /// `--compress`.
    pub fn compress(self, compress: Compression) -> Self {
        self.output(|o| o.compress = compress)
    }

    /// `--compress-level` (zstd 1 to 22, default 1; gzip 0 to 9, default 6).
    pub fn compress_level(mut self, level: i32) -> Self {
        self.compress_level = Some(level);
        self
    }

    /// `--max-file-bytes`.
    pub fn max_file_bytes(self, bytes: u64) -> Self {
        self.output(|o| o.max_file_bytes = bytes)
    }

    /// `--max-file-records` (0: no limit).
    pub fn max_file_records(self, records: u64) -> Self {
        self.output(|o| o.max_file_records = records)
    }

    /// `--overwrite`.
    pub fn overwrite(self, overwrite: bool) -> Self {
        self.output(|o| o.overwrite = overwrite)
    }

    /// `--max-open-files`, 2 to 65,536.
    pub fn max_open_files(self, files: usize) -> Self {
        self.output(|o| o.max_open_files = files)
    }

    /// Checks every value as the command line does and returns the configuration. The paths
    /// are checked against each other as well (docs/mapping.md §13): an input at or below the
    /// output directory is refused, and an output directory inside an input directory is
    /// left out of the inputs.
    pub fn build(mut self) -> Result<Config> {
        let usage = |why: &str| Err(Error::Usage(why.to_owned()));
        let c = &self.cfg;
        if !(1..=256).contains(&c.threads) {
            return usage("threads must be 1 to 256");
        }
        if !(4096..=1 << 30).contains(&c.block_bytes) {
            return usage("the block size must be between 4KiB and 1GiB");
        }
        if c.max_line_bytes == 0 {
            return usage("max_line_bytes must be at least 1");
        }
        if self.errors_file.is_some() && c.command != Command::Check {
            return usage("an errors file is for check; convert writes errors.ndjson in --out");
        }
        if let Some(out) = self.cfg.output.as_mut() {
            out.compress_level = level(out.compress, self.compress_level)?;
            check_output(out)?;
        } else if self.compress_level.is_some() {
            return usage("a compression level needs convert");
        }
        let buckets = (self.cfg.output.iter())
            .flat_map(|o| &o.partition_by)
            .any(|p| matches!(p, PartitionBy::Bucket(_)));
        self.cfg.translate.bucket_hash = buckets;
        let target = |p: &Option<PathBuf>, flag| p.as_deref().map(|p| Target::check(p, flag));
        self.cfg.summary_json = target(&self.summary_json, "--summary-json").transpose()?;
        self.cfg.errors_file = target(&self.errors_file, "--errors").transpose()?;
        self.cfg.exclude = check_inputs(&self.cfg)?;
        Ok(self.cfg)
    }
}

/// The compression level: `given`, checked, or the compression's default.
fn level(compress: Compression, given: Option<i32>) -> Result<i32> {
    let usage = |why: &str| Err(Error::Usage(why.to_owned()));
    match (compress, given) {
        (Compression::None, Some(_)) => usage("a compression level needs zstd or gzip"),
        (Compression::Zstd, Some(l)) if !(1..=22).contains(&l) => {
            usage("the compression level for zstd is 1 to 22")
        }
        (Compression::Gzip, Some(l)) if !(0..=9).contains(&l) => {
            usage("the compression level for gzip is 0 to 9")
        }
        (_, Some(l)) => Ok(l),
        (Compression::Gzip, None) => Ok(6),
        (_, None) => Ok(1),
    }
}

/// The output settings' limits: as `--max-file-bytes`, `--max-open-files` and
/// `--partition-by` check them.
fn check_output(out: &OutputConfig) -> Result<()> {
    if out.max_file_bytes == 0 {
        return Err(Error::Usage("max_file_bytes must be at least 1".into()));
    }
    if !(2..=65536).contains(&out.max_open_files) {
        return Err(Error::Usage("max_open_files must be 2 to 65536".into()));
    }
    for (i, level) in out.partition_by.iter().enumerate() {
        if *level == PartitionBy::Bucket(0) {
            return Err(Error::Usage("a bucket count is at least 1".into()));
        }
        let same = |k: &PartitionBy| std::mem::discriminant(k) == std::mem::discriminant(level);
        if out.partition_by[..i].iter().any(same) {
            return Err(Error::Usage(format!("{level:?} is given twice")));
        }
    }
    Ok(())
}

/// The inputs against a local output directory (see [`super::paths`]): an input at or below it
/// is refused; an output directory inside an input directory is returned, for discovery to
/// skip.
fn check_inputs(cfg: &Config) -> Result<Option<PathBuf>> {
    let out = super::paths::local_out(cfg.output.as_ref().map(|o| o.dir.as_path()));
    Ok(super::paths::inputs_against_out(&cfg.inputs, out.as_deref())?.1)
}
