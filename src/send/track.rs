//! `--from track`: the inputs are Track archives. They are converted first, by the library's
//! own convert run (every mapping option applies), into `DIR/converted/` (a convert output
//! directory with its manifest); the rejected records are copied to `DIR/errors.ndjson`; then
//! that directory is sent like any convert output. Conversion is deterministic, and its output
//! is kept in the state, so a resumed send reuses it and forms the same batches. The reference
//! time (`--now`, else the clock) is recorded in the ledger and reused on resume.

use super::ledger::Loaded;
use super::state::{self, State};
use super::{Plan, source};
use crate::cli::{Cli, Cmd, CompressArg, ConvertArgs};
use crate::error::{Error, Result};
use crate::pipeline::Live;

/// What the conversion did.
#[derive(Debug, Clone, Default)]
pub struct Converted {
    /// Records read.
    pub records: u64,
    /// Records converted.
    pub converted: u64,
    /// Records rejected (in `DIR/errors.ndjson`).
    pub rejected: u64,
    /// Calls written.
    pub calls: u64,
    /// The conversion of an earlier run of the same send was used.
    pub reused: bool,
    /// Calls the selection left out, by cause (docs/transforms.md).
    pub filtered: crate::select::Filtered,
}

#[derive(serde::Deserialize)]
struct Totals {
    records: u64,
    converted: u64,
    rejected: u64,
    calls: u64,
    #[serde(default)]
    calls_filtered_by_cause: std::collections::BTreeMap<String, u64>,
}

#[derive(serde::Deserialize)]
struct ManifestTotals {
    totals: Totals,
}

/// Converts the Track inputs into `DIR/converted/` (or reuses an earlier run's conversion of
/// the same inputs with the same options), recording what they were in `identity`.
pub fn prepare(
    plan: &Plan,
    st: &State,
    old: Option<&Loaded>,
    identity: &mut serde_json::Value,
) -> Result<Converted> {
    let mut common = plan.args.common.clone();
    let recorded_now = old
        .and_then(|l| l.header.identity["track"]["now_ms"].as_i64())
        .filter(|_| common.now.is_none());
    if let Some(ms) = recorded_now {
        common.now = Some(String::from_utf8_lossy(&crate::time::format(ms)).into_owned());
    }
    let out = st.path(state::CONVERTED);
    let cli = Cli {
        command: Cmd::Convert(ConvertArgs {
            out: out.clone(),
            partition_by: "none".into(),
            compress: CompressArg::None,
            compress_level: None,
            max_file_bytes: 256 << 20,
            max_file_records: 0,
            overwrite: true,
            max_open_files: 64,
            idle_frame_bytes: 32 << 20,
            shard: None,
            split_bytes: 256 << 20,
            common,
        }),
    };
    let cfg = cli.into_config(plan.command_line.clone())?;
    let mut tracks = Vec::new();
    for s in crate::input::discover(&cfg.inputs, cfg.input_format, None)?.sources {
        if let Some(p) = &s.path {
            let (c, d) = (std::fs::canonicalize(p), std::fs::canonicalize(&st.dir));
            if let (Ok(c), Ok(d)) = (c, d)
                && c.starts_with(&d)
            {
                return Err(Error::Usage(format!(
                    "input {} lies inside the state directory",
                    s.name
                )));
            }
        }
        let sum = match &s.path {
            Some(p) => Some(
                source::checksum(p)
                    .map_err(|e| Error::Usage(format!("cannot read input {}: {e}", p.display())))?,
            ),
            None => None,
        };
        tracks.push(serde_json::json!({"source": s.name.as_ref(), "size": s.size, "checksum_xxh3_128": sum}));
    }
    let track_id = serde_json::json!({
        "inputs": tracks,
        "mapping": format!(
            "{:?} {:?} {:?} {}",
            cfg.translate, cfg.input_format, cfg.csv_layout, cfg.max_line_bytes
        ),
        "now_ms": cfg.translate.now_ms(),
    });
    identity["track"] = track_id.clone();
    let manifest = out.join("manifest.json");
    if let Some(l) = old {
        if l.header.identity["track"] != track_id {
            return Err(Error::Usage(format!(
                "the state directory {} was made for other inputs or options; run the same \
                 command as before to resume, or add --restart to start over",
                st.dir.display()
            )));
        }
        if let Ok(text) = std::fs::read(&manifest)
            && let Ok(m) = serde_json::from_slice::<ManifestTotals>(&text)
        {
            return Ok(Converted {
                records: m.totals.records,
                converted: m.totals.converted,
                rejected: m.totals.rejected,
                calls: m.totals.calls,
                reused: true,
                filtered: crate::select::Cause::ALL.map(|c| {
                    m.totals
                        .calls_filtered_by_cause
                        .get(c.as_str())
                        .copied()
                        .unwrap_or(0)
                }),
            });
        }
    }
    let live = Live {
        cancel: plan.cancel.clone(),
        ..Live::default()
    };
    let result = crate::job::execute(&cfg, &live)?;
    // The rejected records, copied (streamed) to DIR/errors.ndjson.
    let from = out.join("errors.ndjson");
    let tmp = st.path(".errors.ndjson.partial");
    let copied = if from.exists() {
        std::fs::copy(&from, &tmp).map(drop)
    } else {
        std::fs::write(&tmp, b"")
    };
    copied
        .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|()| std::fs::rename(&tmp, st.path(state::ERRORS)))
        .map_err(|e| Error::io(st.path(state::ERRORS), e))?;
    let t = &result.total;
    Ok(Converted {
        records: t.records,
        converted: t.converted,
        rejected: t.rejected,
        calls: t.total_calls(),
        reused: false,
        filtered: t.filtered,
    })
}
