//! The parse façade: every JSON text the converter reads goes through here. The hand-written
//! scanner (`super::scan`) runs first; whenever it declines, serde_json parses the text again
//! and gives the result or the error message, so the two always agree.

use super::scan;
use super::value::{Raw, RawMap, Record};

impl<'a> RawMap<'a> {
    /// Parses the text of a JSON object: with `scan` when it can, else (and for
    /// the error message) with serde_json.
    pub fn parse(text: &'a str) -> serde_json::Result<RawMap<'a>> {
        scan::object(text).map_or_else(|| serde_json::from_str(text), Ok)
    }
}

impl<'a> Record<'a> {
    /// Parses a record: with `scan` when it can, else (and for the error message)
    /// with serde_json.
    pub fn parse(text: &'a str) -> serde_json::Result<Record<'a>> {
        scan::record(text).map_or_else(|| serde_json::from_str(text), Ok)
    }
}

/// Parses the text of one JSON value: with `scan` when it can, else (and for the
/// error message) with serde_json.
pub fn parse_raw(text: &str) -> serde_json::Result<Raw<'_>> {
    scan::value(text).map_or_else(|| serde_json::from_str(text), Ok)
}

/// Parses the text of a JSON array into its elements, like [`parse_raw`].
pub fn parse_array(text: &str) -> serde_json::Result<Vec<Raw<'_>>> {
    scan::array(text).map_or_else(|| serde_json::from_str(text), Ok)
}
