//! The emulator's integration tests, in one binary (one link of the SDK, delta-rs and
//! tonic instead of seven). `cargo test -p zerobus-emulator --test it -- sdk_quota::` runs
//! one module.

#[path = "../common/mod.rs"]
mod common;

mod decode_fuzz;
mod process;
mod sdk_arrow;
mod sdk_bad_input;
mod sdk_faults;
mod sdk_quota;
mod sdk_roundtrip;
mod uc_api;
