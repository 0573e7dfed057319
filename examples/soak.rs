//! Soak: four INSERTs at once (four streams), looping for a bounded time on an in-process
//! emulator; every 10 s prints rows/s and the process's RSS, then checks that RSS stopped
//! growing: the peak of the last third within 15 % + 16 MiB of the middle third's, AND the
//! least-squares slope of RSS over the last half of the run under 1 % of its mean per
//! minute (at least 4 MiB/min allowed) — steady growth fails the second even when it is
//! too slow for the first. Exits non-zero if either fails, or on any error.
//!
//! `scripts/soak.sh` (SOAK_SECONDS, default 300; SOAK_DELTA=1 to commit to Delta instead of
//! the emulator's --discard mode, which keeps the figure about the client).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::AsArray;
use arrow::datatypes::UInt64Type;
use arrow_zerobus_sdk_wrapper::datafusion::{register, sql};
use arrow_zerobus_sdk_wrapper::ZerobusConnection;
use datafusion::prelude::SessionContext;
use zerobus_emulator::{Emulator, EmulatorConfig};

// The allocator of the programs (zerobus-sql, zerobus-emulator), so that the soak measures
// what they do.
#[cfg(feature = "cli")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TABLE: &str = "main.default.soak";
const BATCH_ROWS: u64 = 200_000;

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let delta = std::env::var("SOAK_DELTA").is_ok_and(|v| v == "1");
    let dir = tempfile::tempdir()?;
    let emu =
        Emulator::start(EmulatorConfig::new(dir.path().join("warehouse")).with_discard(!delta))
            .await?;
    emu.create_table(
        TABLE,
        "id BIGINT NOT NULL, device STRING, reading DOUBLE, tags ARRAY<STRING>, at TIMESTAMP",
    )
    .await?;
    let template = ZerobusConnection::new(emu.grpc_url())
        .client_id(emu.client_id())
        .client_secret(emu.client_secret())
        .unity_catalog_url(emu.http_url())
        .max_streams(arrow_zerobus_sdk_wrapper::config::max_streams_from_env()?.unwrap_or(16))
        .validated()?;
    println!(
        "soak: 4 concurrent INSERTs of {BATCH_ROWS} rows each, looping for {seconds} s, emulator {} with the service's per-stream quota (100,000 records/s)",
        if delta { "with Delta commits" } else { "--discard" }
    );
    let rows = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..4u64 {
        let ctx = SessionContext::new();
        register(&ctx, "zerobus", template.clone());
        let (rows, stop) = (rows.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let mut round = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let first = (round * 4 + w) * BATCH_ROWS;
                let query = format!(
                    "INSERT INTO zerobus.main.default.soak SELECT value AS id, \
                     concat('device-', CAST(value % 100 AS VARCHAR)) AS device, \
                     CAST(value AS DOUBLE) / 3 AS reading, make_array('a', CAST(value % 7 AS VARCHAR)) AS tags, \
                     arrow_cast(to_timestamp_micros(1700000000000000 + value), 'Timestamp(Microsecond, Some(\"UTC\"))') AS at \
                     FROM generate_series({first}, {})",
                    first + BATCH_ROWS - 1
                );
                let out = sql(&ctx, &query).await?.collect().await?;
                rows.fetch_add(
                    out[0].column(0).as_primitive::<UInt64Type>().value(0),
                    Ordering::Relaxed,
                );
                round += 1;
            }
            Ok::<_, datafusion::error::DataFusionError>(())
        }));
    }
    let started = Instant::now();
    // RSS is sampled every second (the printed table is every 10 s): under load it swings
    // by hundreds of MiB as commits come and go, and the slope needs many samples to see
    // through that.
    let mut samples = Vec::new();
    let (mut last_rows, mut last_at) = (0u64, started);
    println!("| t (s) | rows | rows/s (last 10 s) | RSS MiB |\n|---:|---:|---:|---:|");
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss = rss_mib();
        samples.push(rss);
        if samples.len() % 10 == 0 {
            let now = Instant::now();
            let n = rows.load(Ordering::Relaxed);
            let rate = (n - last_rows) as f64 / (now - last_at).as_secs_f64();
            println!(
                "| {:.0} | {n} | {rate:.0} | {rss:.0} |",
                started.elapsed().as_secs_f64()
            );
            (last_rows, last_at) = (n, now);
        }
        if workers.iter().any(|w| w.is_finished()) {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await??;
    }
    emu.shutdown().await;
    let total = rows.load(Ordering::Relaxed);
    println!(
        "soak: {total} rows acknowledged in {:.0} s ({:.0} rows/s)",
        started.elapsed().as_secs_f64(),
        total as f64 / started.elapsed().as_secs_f64()
    );
    // Flat: the allocator settles within the first minutes (glibc arenas for many
    // threads), so compare the peak of the last third of the run with the peak of the
    // middle third; a leak keeps climbing and fails this.
    if samples.len() >= 60 {
        let third = samples.len() / 3;
        let peak = |s: &[f64]| s.iter().copied().fold(f64::MIN, f64::max);
        let middle = peak(&samples[third..2 * third]);
        let last = peak(&samples[2 * third..]);
        let limit = middle * 1.15 + 16.0;
        println!(
            "RSS: first sample {:.0} MiB, peak of the middle third {middle:.0} MiB, of the last third {last:.0} MiB (limit {limit:.0})",
            samples[0]
        );
        if last > limit {
            return Err(format!("RSS still growing: {middle:.0} → {last:.0} MiB").into());
        }
        let half = &samples[samples.len() / 2..];
        let per_minute = slope(half) * 60.0; // samples are 1 s apart
        let mean = half.iter().sum::<f64>() / half.len() as f64;
        let allowed = (mean * 0.01).max(4.0);
        println!(
            "RSS slope over the last half: {per_minute:+.1} MiB/min (mean {mean:.0} MiB, allowed {allowed:.1})"
        );
        if per_minute > allowed {
            return Err(format!(
                "RSS grows steadily: {per_minute:+.1} MiB/min over the last half of the run"
            )
            .into());
        }
    }
    Ok(())
}

/// Least-squares slope of `ys` against their index (per sample).
fn slope(ys: &[f64]) -> f64 {
    let n = ys.len() as f64;
    let mean_x = (n - 1.0) / 2.0;
    let mean_y = ys.iter().sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (i, y) in ys.iter().enumerate() {
        let dx = i as f64 - mean_x;
        num += dx * (y - mean_y);
        den += dx * dx;
    }
    if den == 0.0 {
        0.0
    } else {
        num / den
    }
}
