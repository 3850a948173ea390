//! The integration tests: one binary, a module per topic (each runs the built binary, or the
//! library, against real files, servers and signals; `common` holds the shared helpers).

mod common;
#[path = "common/send_helpers.rs"]
mod helpers;
mod inputs;
#[path = "common/pipelines_server.rs"]
mod server;

mod conformance;
mod csv;
mod families;
mod faults;
mod library;
mod openapi;
mod pipeline;
mod progress;
mod robustness;
mod s3;
mod safety;
mod select;
mod send;
mod send_answers;
mod send_flags;
mod send_order;
mod send_shapes;
mod send_shard;
mod send_state;
mod shards;
mod summary;
