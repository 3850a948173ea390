//! The defaults `--help` shows in units (`16MiB`, not `16777216`): text for clap's
//! `default_value`, each a copy of the number whose home is [`crate::config`] (the builder's
//! defaults). Defaults that read the same as plain numbers use those numbers directly
//! (`default_value_t`); the test below checks that both ways agree with the builder.

/// `--max-line-bytes`: [`crate::config::DEFAULT_MAX_LINE_BYTES`].
pub(super) const MAX_LINE_BYTES: &str = "16MiB";
/// `--block-size` (hidden): [`crate::config::DEFAULT_BLOCK_BYTES`].
pub(super) const BLOCK_BYTES: &str = "2MiB";
/// `--max-file-bytes`: [`crate::config::DEFAULT_MAX_FILE_BYTES`].
pub(super) const MAX_FILE_BYTES: &str = "256MiB";
/// `--idle-frame-bytes` (hidden): [`crate::config::DEFAULT_IDLE_FRAME_BYTES`].
pub(super) const IDLE_FRAME_BYTES: &str = "32MiB";
/// `--split-bytes` of `convert` and `plan`: [`crate::config::DEFAULT_SPLIT_BYTES`].
pub(super) const SPLIT_BYTES: &str = "256MiB";
/// `--partition-by`: what [`crate::config::Config::convert`] partitions by.
pub(super) const PARTITION_BY: &str = "type";

#[cfg(test)]
mod tests {
    use super::super::{Cli, Cmd, parse_size};
    use super::*;
    use crate::config::{self, Compression, Config, PartitionBy};
    use clap::Parser;

    const INPUT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    const NOW: [&str; 2] = ["--now", "2026-01-01T00:00:00Z"];
    const NOW_MS: i64 = 1_767_225_600_000;

    /// The configuration the flags `args` (and `--now`) give, as the builder's configuration
    /// is compared with it.
    fn from_flags(args: &[&str]) -> String {
        let cli = Cli::try_parse_from(["t2p"].iter().chain(args).chain(&NOW)).unwrap();
        format!("{:?}", cli.into_config(Vec::new()).unwrap())
    }

    /// A configuration built in code with the builder's defaults is the one the flags give
    /// with theirs (and the same with settings changed both ways); the text defaults are
    /// their numbers.
    #[test]
    fn a_built_config_has_the_command_lines_defaults() {
        let d = tempfile::TempDir::new().unwrap();
        let input = d.path().join("in.ndjson");
        std::fs::write(&input, "{}\n").unwrap();
        let out = d.path().join("out");
        let (o, i) = (out.to_str().unwrap(), input.to_str().unwrap());
        let built = Config::convert(&out, [&input]).now_ms(NOW_MS).build();
        let flags = from_flags(&["convert", "--out", o, i]);
        assert_eq!(format!("{:?}", built.unwrap()), flags);
        let built = Config::check([&input]).now_ms(NOW_MS).build().unwrap();
        assert_eq!(format!("{built:?}"), from_flags(&["check", i]));
        let built = Config::convert(&out, [&input])
            .now_ms(NOW_MS)
            .compress(Compression::Gzip)
            .partition_by(vec![PartitionBy::Bucket(8), PartitionBy::Date])
            .threads(3)
            .build()
            .unwrap();
        let changed = ["--compress", "gzip", "--partition-by", "bucket:8,date"];
        let args = [
            &["convert"][..],
            &changed,
            &["--threads", "3", "--out", o, i],
        ]
        .concat();
        let flags = from_flags(&args);
        assert_eq!(
            format!("{built:?}"),
            flags,
            "gzip level 6, bucket hashing on"
        );
        // The text defaults, each against its number.
        assert_eq!(
            parse_size(MAX_LINE_BYTES),
            Ok(config::DEFAULT_MAX_LINE_BYTES)
        );
        assert_eq!(
            parse_size(BLOCK_BYTES),
            Ok(config::DEFAULT_BLOCK_BYTES as u64)
        );
        assert_eq!(
            parse_size(MAX_FILE_BYTES),
            Ok(config::DEFAULT_MAX_FILE_BYTES)
        );
        let idle = config::DEFAULT_IDLE_FRAME_BYTES as u64;
        assert_eq!(parse_size(IDLE_FRAME_BYTES), Ok(idle));
        assert_eq!(parse_size(SPLIT_BYTES), Ok(config::DEFAULT_SPLIT_BYTES));
    }

    /// `plan` cuts as `convert` does by default; `send`'s limits default to the API's.
    #[test]
    fn plan_and_send_flag_defaults_are_the_shared_numbers() {
        let plan = Cli::try_parse_from(["t2p", "plan", "--shards", "2", INPUT]).unwrap();
        let Cmd::Plan(plan) = plan.command else {
            panic!("plan parsed as another command")
        };
        assert_eq!(plan.split_bytes, config::DEFAULT_SPLIT_BYTES);
        let send = ["t2p", "send", "--state", "state", INPUT];
        let Cmd::Send(send) = Cli::try_parse_from(send).unwrap().command else {
            panic!("send parsed as another command")
        };
        use crate::send::config::{API_MAX_BATCH_BYTES, API_MAX_CALL_BYTES};
        assert_eq!(send.max_call_bytes, API_MAX_CALL_BYTES);
        assert_eq!(send.max_batch_bytes, API_MAX_BATCH_BYTES);
        let interval = config::DEFAULT_PROGRESS_INTERVAL_SECS;
        assert_eq!(send.report.progress_interval, interval);
        assert_eq!(send.mapping.max_line_bytes, config::DEFAULT_MAX_LINE_BYTES);
    }
}
