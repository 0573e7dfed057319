//! arrow-zerobus-sdk-wrapper: Apache Arrow RecordBatches into Databricks Delta tables
//! through Zerobus Ingest.
//!
//! - [`convert`]: descriptors from Arrow schemas or Unity Catalog tables, and the columnar
//!   encoder that turns a `RecordBatch` into protobuf records without per-row reflection.
//! - [`error`]: the error kinds every front end reports.
//!
//! The local Zerobus emulator the wrapper is tested against is the `zerobus-emulator`
//! crate of this workspace.

#![warn(missing_docs)]

pub mod convert;
pub mod error;

pub use error::{Result, ZerobusError};
