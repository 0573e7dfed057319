//! The official Rust SDK (2.12, the release this workspace builds on) used directly, the
//! way its documentation shows, on the batches of an Arrow IPC file: a contender of
//! `benches/compare` (ours is `send_ipc`). The program is `common/official_sdk_run.rs`,
//! shared with the SDK 3.x peer (`benches/compare/official-rust-sdk3`); here the protobuf
//! message is built from the file's schema with our `descriptor_from_arrow`.
//!
//! `cargo run --release --example official_sdk -- json|proto|proto-mux|arrow FILE.arrow TABLE ENDPOINT UC_URL CLIENT_ID`
//! (the secret from `DATABRICKS_CLIENT_SECRET`). Prints one JSON line: rows, seconds and
//! `cpu_seconds` (the process's CPU, every thread, over the timed phase: reading the file
//! is not counted).

#[path = "common/cpu.rs"]
mod cpu;
#[path = "common/official_sdk_run.rs"]
mod peer;

use std::sync::Arc;

use arrow_zerobus_sdk_wrapper::convert::descriptor_from_arrow;
use arrow_zerobus_sdk_wrapper::wrapper::PlainText;
use databricks_zerobus_ingest_sdk::message_descriptor;

#[tokio::main]
async fn main() -> Result<(), peer::BoxError> {
    let tls = Arc::new(PlainText {
        allow_remote: false,
    });
    peer::run("official_sdk", tls, |_file, batch, table| {
        Ok(message_descriptor(&descriptor_from_arrow(
            &batch.schema(),
            table,
        )?)?)
    })
    .await
}
