//! Send a few batches with debug output on, to an in-process emulator, and print the debug
//! files written (one path per line). The Python tests read them with pyarrow.
//!
//! `cargo run --example debug_files -- OUTPUT_DIR`

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow_zerobus_sdk_wrapper::{WrapperConfig, ZerobusWrapper};
use zerobus_emulator::{Emulator, EmulatorConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: debug_files OUTPUT_DIR")?,
    );
    let emu = Emulator::start(EmulatorConfig::new(out.join("warehouse"))).await?;
    emu.create_table("main.default.debugged", "id BIGINT NOT NULL, name STRING")
        .await?;
    let config = WrapperConfig::builder(emu.grpc_url(), "main.default.debugged")
        .client_id(emu.client_id())
        .client_secret(emu.client_secret())
        .unity_catalog_url(emu.http_url())
        .debug_enabled(true)
        .debug_output_dir(out.join("debug"))
        .build()?;
    let wrapper = ZerobusWrapper::new(config)?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]));
    for k in 0..3i64 {
        let ids: Vec<i64> = (k * 100..(k + 1) * 100).collect();
        let names: Vec<Option<String>> = ids
            .iter()
            .map(|i| (i % 7 != 0).then(|| format!("név-{i}")))
            .collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(names)),
            ],
        )?;
        wrapper.send_batch(&batch).await?;
    }
    wrapper.shutdown().await?;
    for f in wrapper.debug_files() {
        println!("{}", f.display());
    }
    emu.shutdown().await;
    Ok(())
}
