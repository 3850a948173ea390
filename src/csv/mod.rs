//! CSV input, from bytes to JSON records (docs/mapping.md §1.4). One file per step:
//!
//! - `scan`: where records end in the stream ([`CsvScan`]), used by the framer to cut pieces;
//! - `header`: the header read before any row, and the file's [`HeaderPlan`] made from it
//!   ([`read_header`]); a header that cannot be read is a [`HeaderProblem`];
//! - `rows`: the rows of a piece and their cells ([`Rows`]), by the same quoting rules;
//! - `plan` (and its `tree`): the four layouts ([`CsvLayout`]) and where each column's value goes;
//! - `record`: one row checked and written as the JSON record it stands for ([`row_record`]),
//!   which the mapping then converts like an NDJSON line.
//!
//! Nothing here knows the mapping: [`crate::translate`] sees only the records.

mod header;
mod plan;
mod record;
mod rows;
mod scan;

pub use header::{Header, HeaderProblem, header_fields, read_csv_header, read_header};
pub use plan::{CsvLayout, HeaderPlan};
pub use record::row_record;
pub use rows::{Row, Rows};
pub use scan::CsvScan;
