//! The official Rust SDK's newest release (3.1.1, on arrow 60), used directly the way its
//! documentation shows: a peer of `benches/compare`, the same program as
//! `examples/official_sdk.rs` (SDK 2.12; both are `examples/common/official_sdk_run.rs`)
//! in a Cargo project of its own, since arrow 60 cannot join our dependency tree.
//!
//! The protobuf descriptor is the one `examples/compare_data` wrote beside the data
//! (`FILE.descriptor.pb`, from our `descriptor_from_arrow`), the one the 2.12 peer builds:
//! both SDKs get the same message.
//!
//! `official-rust-sdk3 json|proto|proto-mux|arrow FILE.arrow TABLE ENDPOINT UC_URL CLIENT_ID`
//! (the secret from `DATABRICKS_CLIENT_SECRET`). Prints one JSON line: rows, seconds and
//! `cpu_seconds` (the process's CPU, every thread, over the timed phase).

#[path = "../../../../examples/common/cpu.rs"]
mod cpu;
#[path = "../../../../examples/common/official_sdk_run.rs"]
mod peer;

use std::sync::Arc;

use databricks_zerobus_ingest_sdk::{message_descriptor, NoTlsConfig};
use prost::Message;

#[tokio::main]
async fn main() -> Result<(), peer::BoxError> {
    peer::run(
        "official-rust-sdk3",
        Arc::new(NoTlsConfig),
        |file, _batch, _table| {
            let path = std::path::Path::new(file).with_extension("descriptor.pb");
            let bytes = std::fs::read(&path)
                .map_err(|e| format!("{}: {e} (written by compare_data)", path.display()))?;
            let descriptor = prost_types::DescriptorProto::decode(bytes.as_slice())?;
            Ok(message_descriptor(&descriptor)?)
        },
    )
    .await
}
