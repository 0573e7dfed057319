//! `INSERT INTO zerobus.main.default.bench SELECT * FROM <parquet>` through the
//! DataFusion sink, against the emulator with `--discard` (client cost only) and with Delta
//! commits, the per-stream quota turned off (this measures the client and the emulator, not
//! the service's quota: `benches/compare --quota` does), with the scan cut into 1 and 4
//! partitions. Prints rows/s, MB/s of Arrow input
//! and the peak RSS of each run (the emulator runs in the same process, so its memory and
//! CPU are part of the figures, as on a laptop running both).
//!
//! `cargo bench --bench insert` (ROWS=… to change the 1,000,000 default)

mod common;

use std::time::Instant;

use arrow::array::AsArray;
use arrow::datatypes::UInt64Type;
use arrow_zerobus_sdk_wrapper::datafusion::{register, sql};
use arrow_zerobus_sdk_wrapper::ZerobusConnection;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use zerobus_emulator::{Emulator, EmulatorConfig, StreamQuota};

const TABLE: &str = "main.default.bench";

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}

fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let rows: usize = std::env::var("ROWS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("mixed.parquet");
    let batch = common::mixed(rows);
    let arrow_mb = batch.get_array_memory_size() as f64 / 1e6;
    {
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(65_536))
            .build();
        let mut w = ArrowWriter::try_new(
            std::fs::File::create(&file).expect("parquet file"),
            batch.schema(),
            Some(props),
        )
        .expect("parquet writer");
        for start in (0..rows).step_by(8192) {
            w.write(&batch.slice(start, 8192.min(rows - start)))
                .expect("write");
        }
        w.close().expect("close");
    }
    drop(batch);
    println!(
        "input: {rows} rows of the 10-column mixed schema, {arrow_mb:.1} MB as Arrow, {:.1} MB as Parquet; {} CPUs",
        std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0) as f64 / 1e6,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    let mut results = Vec::new();
    for discard in [true, false] {
        let emu = Emulator::start(
            EmulatorConfig::new(dir.path().join(format!("warehouse-{discard}")))
                .with_discard(discard)
                .with_stream_quota(StreamQuota::OFF),
        )
        .await
        .expect("emulator");
        emu.create_table(TABLE, common::MIXED_COLUMNS)
            .await
            .expect("table");
        for partitions in [1usize, 4] {
            let template = ZerobusConnection::new(emu.grpc_url())
                .client_id(emu.client_id())
                .client_secret(emu.client_secret())
                .unity_catalog_url(emu.http_url())
                .validated()
                .expect("config");
            let ctx = SessionContext::new_with_config(
                SessionConfig::new().with_target_partitions(partitions),
            );
            register(&ctx, "zerobus", template);
            ctx.register_parquet(
                "src",
                file.to_str().expect("utf-8 path"),
                ParquetReadOptions::default(),
            )
            .await
            .expect("register parquet");
            reset_peak_rss();
            let started = Instant::now();
            let out = sql(
                &ctx,
                "INSERT INTO zerobus.main.default.bench SELECT * FROM src",
            )
            .await
            .expect("plan")
            .collect()
            .await
            .expect("insert");
            let secs = started.elapsed().as_secs_f64();
            let n = out[0].column(0).as_primitive::<UInt64Type>().value(0);
            assert_eq!(n as usize, rows, "every row acknowledged");
            let mode = if discard {
                "--discard, no quota"
            } else {
                "Delta commits, no quota"
            };
            println!(
                "{mode}, {partitions} partition(s): {secs:.2} s, {:.0} rows/s, {:.1} MB/s, peak RSS {:.0} MiB",
                rows as f64 / secs,
                arrow_mb / secs,
                peak_rss_mib()
            );
            results.push((
                mode,
                partitions,
                rows as f64 / secs,
                arrow_mb / secs,
                peak_rss_mib(),
            ));
        }
        emu.shutdown().await;
    }
    println!("\n| emulator | partitions | rows/s | MB/s (Arrow) | peak RSS MiB |");
    println!("|---|---:|---:|---:|---:|");
    for (mode, p, rps, mbs, rss) in results {
        println!("| {mode} | {p} | {rps:.0} | {mbs:.1} | {rss:.0} |");
    }
}
