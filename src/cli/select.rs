//! The selection flags `convert`, `check` and `send` share (docs/transforms.md), checked into
//! a [`Selection`]: times read, patterns split, the `--transform` program compiled.

use super::time_flag;
use crate::error::{Error, Result};
use crate::select::{Selection, Transform, parse_globs, parse_types};
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;

/// `--since`, `--until`, `--types`, `--events`, `--exclude-events`, `--transform`.
#[derive(Debug, Clone, Default, Args)]
pub struct SelectArgs {
    /// Keep only calls at or after this time (RFC 3339, or unix seconds).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Keep only calls before this time (RFC 3339, or unix seconds).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Keep only calls of these types (comma list of identify, track, page, screen, group,
    /// alias).
    #[arg(long, value_name = "LIST")]
    pub types: Option<String>,
    /// Keep only track calls whose event matches one of these patterns (comma list; `*` and
    /// `?` wildcards, case-sensitive). Calls of other types pass.
    #[arg(long, value_name = "PATTERNS")]
    pub events: Option<String>,
    /// Leave out track calls whose event matches one of these patterns.
    #[arg(long, value_name = "PATTERNS")]
    pub exclude_events: Option<String>,
    /// Run each kept call through this jq program: it may change it, drop it (no output) or
    /// split it (several outputs, each with its own messageId).
    #[arg(long, value_name = "FILE")]
    pub transform: Option<PathBuf>,
}

impl SelectArgs {
    /// The selection, or `None` when no flag was given (every call passes unchanged).
    pub fn selection(&self) -> Result<Option<Arc<Selection>>> {
        let usage = Error::Usage;
        let selection = Selection {
            since: self
                .since
                .as_deref()
                .map(|s| time_flag("--since", s))
                .transpose()?,
            until: self
                .until
                .as_deref()
                .map(|s| time_flag("--until", s))
                .transpose()?,
            types: self
                .types
                .as_deref()
                .map(parse_types)
                .transpose()
                .map_err(usage)?,
            events: self
                .events
                .as_deref()
                .map(|l| parse_globs("--events", l))
                .transpose()
                .map_err(usage)?
                .unwrap_or_default(),
            exclude_events: self
                .exclude_events
                .as_deref()
                .map(|l| parse_globs("--exclude-events", l))
                .transpose()
                .map_err(usage)?
                .unwrap_or_default(),
            transform: self.transform.as_deref().map(compile).transpose()?,
        };
        if let (Some(since), Some(until)) = (selection.since, selection.until)
            && since >= until
        {
            return Err(Error::Usage(
                "--since must be before --until: no call could be kept".into(),
            ));
        }
        Ok((!selection.is_everything()).then(|| Arc::new(selection)))
    }
}

/// Reads and compiles `--transform FILE`; a program that does not compile is a usage error
/// (exit 2) with the compiler's message and position.
fn compile(path: &std::path::Path) -> Result<Transform> {
    let code = std::fs::read_to_string(path)
        .map_err(|e| Error::Usage(format!("cannot read --transform {}: {e}", path.display())))?;
    Transform::compile(&path.display().to_string(), &code).map_err(|m| {
        Error::Usage(format!(
            "--transform {} does not compile:\n{m}",
            path.display()
        ))
    })
}
