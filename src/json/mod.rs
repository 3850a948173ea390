//! JSON on the hot path, without building `serde_json::Value` trees.
//!
//! A record is parsed into a [`RawMap`]: the members of one JSON object in input order, each
//! value kept as its raw text ([`Raw`]), so user objects pass through untouched. The module has
//! four parts, each owning one job:
//!
//! - `value`: the borrowed types ([`Raw`], [`RawMap`], [`Record`], [`Nested`], [`Kind`]) and
//!   the one string decoder, [`decode_str`];
//! - `scan`: the hand-written fast path for one object or value, and the lone-surrogate check;
//! - `parse`: the façade every caller uses ([`RawMap::parse`], [`Record::parse`],
//!   [`parse_raw`], [`parse_array`]): the scanner first, serde_json when it declines;
//! - `write`: the writers of output text ([`write_str`], [`write_compact`]).

mod parse;
mod scan;
mod value;
mod write;

pub use parse::{parse_array, parse_raw};
pub(crate) use scan::lone_surrogate;
pub use value::{Kind, Nested, Raw, RawMap, Record, Str, decode_str, plain_str};
pub use write::{write_compact, write_str, write_str_bytes};

/// The scanner's entry points, for the fuzz target and benchmarks that compare it with
/// serde_json.
pub mod scanner {
    pub use super::scan::{array, object, record, value};
}
