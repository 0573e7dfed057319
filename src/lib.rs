//! arrow-zerobus-sdk-wrapper: Apache Arrow RecordBatches into Databricks Delta tables
//! through Zerobus Ingest.
//!
//! - [`convert`]: descriptors from Arrow schemas or Unity Catalog tables, and the columnar
//!   encoder that turns a `RecordBatch` into protobuf records without per-row reflection.
//! - [`ZerobusWrapper`]: send batches, with retry, dead letters and debug files.
//! - [`datafusion`] (feature `datafusion`, on by default): `INSERT INTO` a Zerobus table
//!   from SQL.
//! - [`error`]: the error kinds every front end reports.
//!
//! The local Zerobus emulator the wrapper is tested against is the `zerobus-emulator`
//! crate of this workspace.

#![warn(missing_docs)]

pub(crate) mod backoff;
pub mod config;
pub mod connection;
pub mod convert;
pub mod create_table;
#[cfg(feature = "datafusion")]
pub mod datafusion;
pub mod dead_letter;
pub(crate) mod debug;
pub mod error;
mod files;
#[cfg(feature = "datafusion")]
pub mod load;
pub mod options;
#[cfg(feature = "python")]
mod python;
pub mod secret_refs;
pub mod store;
pub mod telemetry;
pub mod unity_catalog;
pub mod wrapper;

pub use config::{WrapperConfig, WrapperConfigBuilder};
pub use connection::{
    FlightCompression, NullCollections, SchemaSource, Secret, Transport, ZerobusConnection,
};
pub use error::{Result, ZerobusError};
pub use wrapper::{TransmissionResult, ZerobusWrapper};
