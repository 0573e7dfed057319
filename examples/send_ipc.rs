//! Send the batches of an Arrow IPC file with the Rust `ZerobusWrapper` (16 batches in
//! flight, as the Python `send_batch` does with a table) and print rows/s. The Python
//! benchmark (`python/bench/send_bench.py`) runs it as "the Rust path" on the same data.
//!
//! `cargo run --release --example send_ipc -- FILE.arrow TABLE ENDPOINT UC_URL CLIENT_ID`
//! (the client secret is read from `DATABRICKS_CLIENT_SECRET`, never from the command line;
//! with `ZEROBUS_BENCH_OTLP=http://host:port` telemetry is on, exported there over
//! OTLP/HTTP). Prints one JSON line: rows and seconds.

use std::time::Instant;

use arrow::ipc::reader::FileReader;
use arrow_zerobus_sdk_wrapper::{WrapperConfig, ZerobusWrapper};
use tokio::task::JoinSet;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, table, endpoint, uc, client_id] = args.as_slice() else {
        return Err("usage: send_ipc FILE.arrow TABLE ENDPOINT UC_URL CLIENT_ID".into());
    };
    let secret =
        std::env::var("DATABRICKS_CLIENT_SECRET").map_err(|_| "set DATABRICKS_CLIENT_SECRET")?;
    let batches =
        FileReader::try_new(std::fs::File::open(file)?, None)?.collect::<Result<Vec<_>, _>>()?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let mut config = WrapperConfig::builder(endpoint.as_str(), table.as_str())
        .client_id(client_id.as_str())
        .client_secret(secret)
        .unity_catalog_url(uc.as_str());
    if let Ok(otlp) = std::env::var("ZEROBUS_BENCH_OTLP") {
        config = config.observability_enabled(true).observability_config(
            [("endpoint", otlp.as_str()), ("protocol", "http/protobuf")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
    }
    let wrapper = ZerobusWrapper::new(config.build()?)?;
    let started = Instant::now();
    let mut in_flight = JoinSet::new();
    let mut acknowledged = 0;
    for batch in batches {
        while in_flight.len() >= 16 {
            if let Some(done) = in_flight.join_next().await {
                acknowledged += done??;
            }
        }
        let w = wrapper.clone();
        in_flight.spawn(async move { w.send_batch(&batch).await.map(|r| r.rows) });
    }
    while let Some(done) = in_flight.join_next().await {
        acknowledged += done??;
    }
    wrapper.shutdown().await?;
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(acknowledged, rows, "every row acknowledged");
    println!(r#"{{"rows": {rows}, "seconds": {secs:.4}}}"#);
    Ok(())
}
