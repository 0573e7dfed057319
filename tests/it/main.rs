//! The library's integration tests, in one binary (each test binary links DataFusion,
//! delta-rs and the SDK: one link instead of eight). `cargo test --test it -- lanes::`
//! runs one module. Two tests keep binaries of their own: `secrets` (it installs the
//! global tracing subscriber) and `insert_memory` (it reads the process's peak RSS).

#[path = "../common/mod.rs"]
mod common;

mod bad_input;
mod ballista;
mod cli;
mod create_table;
mod dashboard;
mod datafusion_sink;
mod encode_props;
mod flight;
mod insert_exact;
mod insert_props;
mod lanes;
mod object_stores;
mod reliability;
mod resume;
mod telemetry;
mod wrapper;
