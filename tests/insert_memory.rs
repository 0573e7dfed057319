//! Memory stays bounded whatever the input size: INSERT 1M and then 5M generated rows into
//! the emulator (Delta), printing the process's peak RSS for each, and check that every
//! row landed exactly once. Its own test binary, so the peak RSS is this test's alone.
//! (The emulator runs in this process too, so its memory is part of the figure.)

use std::time::Instant;

use arrow::array::AsArray;
use arrow::datatypes::{Int64Type, UInt64Type};
use arrow_zerobus_sdk_wrapper::datafusion::{register, sql};
use arrow_zerobus_sdk_wrapper::ZerobusConnection;
use datafusion::prelude::SessionContext;
use zerobus_emulator::{Emulator, EmulatorConfig};

const TABLE: &str = "main.default.big";

/// Peak resident set size of this process in MiB (VmHWM), if the kernel reports it.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Start a new peak-RSS measurement (Linux: writing 5 to clear_refs resets VmHWM).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_million_rows_insert_with_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(EmulatorConfig::new(dir.path().join("warehouse")))
        .await
        .unwrap();
    emu.create_table(TABLE, "id BIGINT NOT NULL, label STRING, reading DOUBLE")
        .await
        .unwrap();
    let template = ZerobusConnection::new(emu.grpc_url())
        .client_id(emu.client_id())
        .client_secret(emu.client_secret())
        .unity_catalog_url(emu.http_url())
        .dead_letter_dir(dir.path().join("dead"))
        .validated()
        .unwrap();
    let ctx = SessionContext::new();
    register(&ctx, "zerobus", template);

    let mut first = 1u64;
    for n in [1_000_000u64, 5_000_000] {
        reset_peak_rss();
        let started = Instant::now();
        let out = sql(
            &ctx,
            &format!(
                "INSERT INTO zerobus.main.default.big SELECT value AS id, \
                 concat('row-', CAST(value AS VARCHAR)) AS label, CAST(value AS DOUBLE) / 8 AS reading \
                 FROM generate_series({first}, {})",
                first + n - 1
            ),
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(out[0].column(0).as_primitive::<UInt64Type>().value(0), n);
        println!(
            "INSERT of {n} rows: {secs:.1} s, {:.0} rows/s, peak RSS {} (debug build, emulator in process)",
            n as f64 / secs,
            peak_rss_mib()
                .map(|m| format!("{m:.0} MiB"))
                .unwrap_or_else(|| "not reported".into())
        );
        first += n;
    }

    let total = first - 1;
    let landed = zerobus_emulator::storage::read_table(&emu.table_location(TABLE).unwrap())
        .await
        .unwrap();
    let mut seen = vec![false; total as usize + 1];
    let mut rows = 0u64;
    let mut duplicates = 0u64;
    for batch in &landed {
        let ids = batch
            .column_by_name("id")
            .unwrap()
            .as_primitive::<Int64Type>();
        for &id in ids.values() {
            rows += 1;
            let slot = &mut seen[usize::try_from(id).unwrap()];
            duplicates += u64::from(*slot);
            *slot = true;
        }
    }
    let missing = seen[1..].iter().filter(|s| !**s).count();
    println!("Delta table: {rows} rows, {duplicates} duplicates, {missing} missing");
    assert_eq!(missing, 0, "every row landed");
    assert_eq!(rows, total, "and only once");
    emu.shutdown().await;
}
