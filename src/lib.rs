#![warn(missing_docs)]
//! track2pipelines: converts archives of Customer.io Track API calls into Customer.io Data
//! Pipelines API calls.
//!
//! Stages, each in its own module: [`input`] finds, decompresses and frames the input into
//! numbered chunks of records; [`pipeline::worker`] is a worker's job on one chunk; [`translate`] maps one record to its calls (pure, no I/O);
//! [`calls`] serializes calls; `output` owns the partition files, the error file and the
//! manifest; [`pipeline`] is the only module that knows about threads and channels. [`cli`]
//! turns flags into a validated [`config::Config`] before any work starts.
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
pub mod cli;
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
mod send;
mod shard;
mod simd;
mod stats;
mod store;
mod target;
mod time;
pub mod translate;

pub use error::{Error, Result};

/// Runs this process's command line (what the `track2pipelines` binary does) and returns the
/// exit status (docs/mapping.md lists them).
pub fn main() -> i32 {
    app::main()
}
