//! track2pipelines: converts archives of Customer.io Track API calls into Customer.io Data
//! Pipelines API calls.
//!
//! Stages, each in its own module: [`input`] finds, decompresses and frames the input into
//! numbered chunks of records; [`translate`] maps one record to its calls (pure, no I/O);
//! [`pipelines`] serializes calls; [`output`] owns the partition files, the error file and the
//! manifest; [`pipeline`] is the only module that knows about threads and channels. [`cli`]
//! turns flags into a validated [`config::Config`] before any work starts.

pub mod app;
pub mod cli;
pub mod config;
pub mod error;
pub mod input;
pub mod json;
pub mod msgid;
pub mod output;
pub mod pipeline;
pub mod pipelines;
pub mod reject;
pub mod report;
pub mod stats;
pub mod time;
pub mod translate;
