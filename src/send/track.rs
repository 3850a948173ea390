//! `--from track`: the inputs are Track archives. They are converted first, by the library's
//! own convert run with the configuration `convert` builds from the same flags (every mapping
//! option applies), into `DIR/converted/` (a convert output
//! directory with its manifest); the rejected records are copied to `DIR/errors.ndjson`; then
//! that directory is sent like any convert output. Conversion is deterministic, and its output
//! is kept in the state, so a resumed send reuses it and forms the same batches. The reference
//! time (`--now`, else the clock) is recorded in the ledger and reused on resume.

use super::ledger::Loaded;
use super::state::{self, State};
use super::{TrackConversion, source};
use crate::cancel::Cancel;
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
    /// Calls stamped with the reference time (docs/mapping.md, "Calls stamped with now").
    pub calls_stamped_now: u64,
    /// The reference time, unix ms.
    pub now_ms: i64,
    /// The conversion of an earlier run of the same send was used.
    pub reused: bool,
    /// Calls the selection left out, by cause (docs/transforms.md).
    pub filtered: crate::select::Filtered,
}

/// Converts the Track inputs into `DIR/converted/` (or reuses an earlier run's conversion of
/// the same inputs with the same options), recording what they were in `identity`.
pub fn prepare(
    conversion: &TrackConversion,
    cancel: &Cancel,
    st: &State,
    old: Option<&Loaded>,
    identity: &mut serde_json::Value,
) -> Result<Converted> {
    let mut cfg = conversion.config.clone();
    // A resume converts as the first run did: with the reference time it recorded.
    let recorded_now = old
        .and_then(|l| l.header.identity["track"]["now_ms"].as_i64())
        .filter(|_| !conversion.now_given);
    if let Some(ms) = recorded_now {
        cfg.translate.set_now_ms(ms);
    }
    // The conversion and the rejected records go to names of the state's own; a file there
    // that no send wrote refuses the run before anything changes (docs/send.md).
    st.check_free(&[state::CONVERTED, state::ERRORS])?;
    let out = st.path(state::CONVERTED);
    let track_id = serde_json::json!({
        "inputs": track_inputs(&cfg, st)?,
        "mapping": cfg.mapping_identity(),
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
            && let Ok(m) = crate::output::manifest::read(&text)
        {
            return Ok(Converted {
                records: m.totals.records,
                converted: m.totals.converted,
                rejected: m.totals.rejected,
                calls: m.totals.calls,
                calls_stamped_now: m.totals.calls_stamped_now,
                filtered: crate::select::Cause::ALL.map(|c| {
                    m.totals
                        .calls_filtered_by_cause
                        .get(c.as_str())
                        .copied()
                        .unwrap_or(0)
                }),
                now_ms: cfg.translate.now_ms(),
                reused: true,
            });
        }
    }
    let live = Live {
        cancel: cancel.clone(),
        ..Live::default()
    };
    st.claim(state::CONVERTED, true)?;
    let result = crate::job::execute(&cfg, &live)?;
    copy_errors(st, &out.join("errors.ndjson"))?;
    let t = &result.total;
    Ok(Converted {
        records: t.records,
        converted: t.converted,
        rejected: t.rejected,
        calls: t.total_calls(),
        calls_stamped_now: t.calls_stamped_now,
        filtered: t.filtered,
        now_ms: cfg.translate.now_ms(),
        reused: false,
    })
}

/// The Track inputs, each with its size and checksum, for the state's identity; an input
/// inside the state directory is refused.
fn track_inputs(cfg: &crate::config::Config, st: &State) -> Result<Vec<serde_json::Value>> {
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
    Ok(tracks)
}

/// Copies (streams) the rejected records of the conversion to `DIR/errors.ndjson`, through a
/// temporary file of the state's own.
fn copy_errors(st: &State, from: &std::path::Path) -> Result<()> {
    let (mut tmp_file, tmp) = st.create_temp(state::ERRORS)?;
    let copied = match std::fs::File::open(from) {
        Ok(mut f) => std::io::copy(&mut f, &mut tmp_file).map(drop),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    if let Err(e) = copied.and_then(|()| tmp_file.sync_all()) {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(st.path(state::ERRORS), e));
    }
    st.place(&tmp, state::ERRORS)
}
