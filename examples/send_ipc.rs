//! Send the batches of an Arrow IPC file with the Rust `ZerobusWrapper::send_all` (the
//! bounded sender INSERT and Python tables use; `ZEROBUS_MAX_STREAMS` sets the lanes) and
//! print rows/s and the most streams it had open.
//!
//! `cargo run --release --example send_ipc -- FILE.arrow TABLE ENDPOINT UC_URL CLIENT_ID`
//! (the client secret is read from `DATABRICKS_CLIENT_SECRET`, never from the command line;
//! with `ZEROBUS_BENCH_OTLP=http://host:port` telemetry is on, exported there over
//! OTLP/HTTP; `ZEROBUS_TRANSPORT=flight` and `ZEROBUS_FLIGHT_COMPRESSION` choose the
//! transport). Prints one JSON line: rows, seconds, and `cpu_seconds`, the process's CPU
//! time (every thread) from the start of the send to its end, so reading the file is not
//! counted.

#[path = "common/cpu.rs"]
mod cpu;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use arrow::ipc::reader::FileReader;
use arrow_zerobus_sdk_wrapper::config::max_streams_from_env;
use arrow_zerobus_sdk_wrapper::{options, WrapperConfig, ZerobusConnection, ZerobusWrapper};

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
    if let Some(n) = max_streams_from_env()? {
        config = config.max_streams(n);
    }
    // The transport options, read as `zerobus-sql` reads them.
    let mut from_env = ZerobusConnection::new("");
    for key in ["transport", "flight_compression"] {
        let Some(option) = options::find(key) else {
            continue;
        };
        if let Ok(value) = std::env::var(option.env) {
            options::apply_as(&mut from_env, key, &value, option.env)?;
        }
    }
    config = config
        .transport(from_env.transport)
        .flight_compression(from_env.flight_compression);
    let wrapper = ZerobusWrapper::new(config.build()?)?;
    let started = Instant::now();
    let cpu_started = cpu::cpu_seconds();
    let most = AtomicUsize::new(0);
    let input = futures::stream::iter(batches.into_iter().map(Ok::<_, std::convert::Infallible>));
    let summary = wrapper
        .send_all(input, &|p| {
            most.fetch_max(p.streams_open, Ordering::Relaxed);
        })
        .await?;
    wrapper.shutdown().await?;
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu::cpu_seconds() - cpu_started;
    if summary.rows as usize != rows {
        return Err(format!("{} of {rows} rows acknowledged", summary.rows).into());
    }
    let streams = most.load(Ordering::Relaxed);
    println!(
        r#"{{"rows": {rows}, "seconds": {secs:.4}, "cpu_seconds": {cpu:.4}, "streams": {streams}}}"#
    );
    Ok(())
}
