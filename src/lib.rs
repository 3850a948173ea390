#![warn(missing_docs)]
//! track2pipelines: converts archives of Customer.io Track API calls into Customer.io Data
//! Pipelines API calls, and delivers them.
//!
//! One record's way from a file to a part file, each step a module (read their docs in this
//! order): [`input`] finds the sources, decompresses them and frames each stream into pieces of
//! whole records; for a CSV file, [`csv`] reads the header, finds where rows end and turns each
//! row into the JSON record it stands for; [`json`] parses a record into borrowed members;
//! [`translate`] maps it to its calls (pure: no configuration, I/O or threads); [`calls`] is
//! the Pipelines call type and its serializer; then the output stage writes each call to its
//! partition's file, each reject to the error file, and the manifest last. [`pipeline`] runs
//! those steps on every core (the conversion's reader, workers and writer) and puts the
//! results back in input order; [`job`] runs one whole `convert` or `check` from a
//! [`config::Config`], which `cli` builds from the flags after checking every path: it works
//! out what to read (the sources, a shard's share), runs the pipeline over it and puts the
//! files into place; [`time`] reads and writes timestamps. Other threads: the progress
//! display, the object-storage runtime, and `send`'s reader, HTTP runtime and ledger writer.
//!
//! The library's surface, small on purpose:
//! - build a run's configuration in code: [`config::Config::convert`] or
//!   [`config::Config::check`], the settings that differ from the defaults, then
//!   [`config::ConfigBuilder::build`], which checks them as the command line does;
//! - run it: [`job::execute`] (stopped through [`pipeline::Live::cancel`]) returns a
//!   [`pipeline::RunResult`], with the part and error files as [`pipeline::FileRecord`]s;
//!   the manifest it writes last is described in docs/mapping.md;
//! - translate one record: [`translate::translate_line`];
//! - the call and error types: [`calls::Call`], [`translate::Rejected`], [`Error`].
//!
//! The other public modules ([`csv`], [`input`], [`json`], [`select`], [`time`],
//! `pipeline::worker`) are public for the crate's own benchmarks, fuzz targets and tests, not
//! as a promise; output files, `send`, shards, object storage and progress are inside the
//! crate and reached through the binary.
//!
//! Translating one record with the library:
//!
//! ```
//! use track2pipelines::translate::{Options, Output, translate_line};
//!
//! let opts = Options::new(1_767_225_600_000); // --now 2026-01-01T00:00:00Z
//! let mut out = Output::default();
//! let line = br#"{"type":"person","identifiers":{"id":"42"},"action":"event","name":"purchase"}"#;
//! let counts = translate_line(&opts, line, &mut out);
//! assert_eq!((counts.converted, counts.rejected), (1, 0));
//! let call = std::str::from_utf8(out.call_bytes(0)).unwrap();
//! assert!(call.starts_with(r#"{"type":"track","userId":"42","event":"purchase","properties":{}"#));
//! ```

mod app;
mod bufpool;
pub mod calls;
mod cancel;
mod cli;
pub mod config;
pub mod csv;
mod error;
pub mod input;
pub mod job;
pub mod json;
mod msgid;
mod output;
pub mod pipeline;
mod reject;
mod report;
pub mod select;
mod send;
mod shard;
mod simd;
mod stats;
mod store;
mod target;
pub mod time;
pub mod translate;

pub use error::{Error, Result};

/// Runs this process's command line (what the `track2pipelines` binary does) and returns the
/// exit status (docs/mapping.md lists them).
pub fn main() -> i32 {
    app::main()
}
