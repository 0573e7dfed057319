//! arrow-zerobus-sdk-wrapper: Apache Arrow RecordBatches into Databricks Delta tables
//! through Zerobus Ingest.
//!
//! The wrapper itself (encoder, retrying writer, debug files) is being built; the local
//! Zerobus emulator it is tested against lives in the `zerobus-emulator` crate of this
//! workspace.
