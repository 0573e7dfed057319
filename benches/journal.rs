//! What the load journal costs: a copy of 8 Parquet files (the 10-column mixed schema,
//! 10M rows by default) through `load::copy_into` (journaled: receipts kept, entries
//! written every 200 ms, rows reserved before they are read) against the same files read
//! by the same reader and sent by `send_all` with no journal. The emulator runs with
//! `--discard` and no quota, so the client is the bottleneck and the journal's share is
//! as large as it can be. Each round runs both, taking turns at going first; prints
//! min/median/max and the overhead, of the medians and round by round.
//!
//! `cargo bench --bench journal` (ROWS=…, ROUNDS=… to change 10,000,000 and 5)

mod common;

use std::time::Instant;

use arrow_zerobus_sdk_wrapper::load::read::{read_ranges, Piece};
use arrow_zerobus_sdk_wrapper::load::sources::expand;
use arrow_zerobus_sdk_wrapper::load::{copy_into, CopyOptions};
use arrow_zerobus_sdk_wrapper::{WrapperConfig, ZerobusWrapper};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;
use futures::StreamExt;
use zerobus_emulator::{Emulator, EmulatorConfig, StreamQuota};

const TABLE: &str = "main.default.bench";
const FILES: usize = 8;

fn env_or(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn stats(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let rows = env_or("ROWS", 10_000_000);
    let rounds = env_or("ROUNDS", 5);
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("in");
    std::fs::create_dir(&input).expect("input dir");
    let per_file = rows / FILES;
    // One batch of the mixed schema, written into every file (the ids repeat; this
    // measures cost, not landing).
    let batch = common::mixed(per_file);
    for f in 0..FILES {
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(131_072))
            .build();
        let mut w = ArrowWriter::try_new(
            std::fs::File::create(input.join(format!("part-{f}.parquet"))).expect("file"),
            batch.schema(),
            Some(props),
        )
        .expect("writer");
        for start in (0..per_file).step_by(65_536) {
            w.write(&batch.slice(start, 65_536.min(per_file - start)))
                .expect("write");
        }
        w.close().expect("close");
    }
    drop(batch);
    println!(
        "input: {FILES} Parquet files of {per_file} rows (the 10-column mixed schema); {} CPUs; \
         emulator with --discard, no quota",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    let emu = Emulator::start(
        EmulatorConfig::new(dir.path().join("warehouse"))
            .with_discard(true)
            .with_stream_quota(StreamQuota::OFF),
    )
    .await
    .expect("emulator");
    emu.create_table(TABLE, common::MIXED_COLUMNS)
        .await
        .expect("table");
    let config = WrapperConfig::builder(emu.grpc_url(), TABLE)
        .client_id(emu.client_id())
        .client_secret(emu.client_secret())
        .unity_catalog_url(emu.http_url())
        .dead_letter_dir(dir.path().join("dead"))
        .build()
        .expect("config");
    let glob = vec![format!("{}/*.parquet", input.display())];
    let options = CopyOptions {
        journal_dir: Some(dir.path().join("journal")),
        force: true,
        ..CopyOptions::default()
    };
    let (mut plain, mut journaled) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // The two take turns going first, so that neither always runs on the other's heels.
        let mut secs = [0.0; 2];
        for which in [round % 2, 1 - round % 2] {
            let w = ZerobusWrapper::new(config.clone()).expect("wrapper");
            let started = Instant::now();
            let rows = if which == 0 {
                // Without a journal: the same reader, every file in order, into send_all.
                let files = expand(&glob, None).await.expect("inputs");
                let input = futures::stream::iter(files)
                    .flat_map(|f| read_ranges(f, vec![(0, u64::MAX)]))
                    .filter_map(|p| async move {
                        match p {
                            Ok(Piece::Rows(b, _)) => Some(Ok(b)),
                            Ok(Piece::End { .. }) => None,
                            Err(e) => Some(Err(e)),
                        }
                    });
                w.send_all(input, &|_| {}).await.expect("plain load").rows
            } else {
                copy_into(&w, &glob, &options, &|_| {}, None)
                    .await
                    .expect("journaled load")
                    .rows_acknowledged
            };
            w.shutdown().await.expect("shutdown");
            secs[which] = started.elapsed().as_secs_f64();
            assert_eq!(rows as usize, per_file * FILES);
        }
        plain.push(secs[0]);
        journaled.push(secs[1]);
        println!(
            "round {round}: send_all {:.2} s, copy_into (journaled) {:.2} s",
            secs[0], secs[1]
        );
    }
    emu.shutdown().await;
    let paired = stats(
        plain
            .iter()
            .zip(&journaled)
            .map(|(p, j)| (j / p - 1.0) * 100.0)
            .collect(),
    );
    let (p, j) = (stats(plain), stats(journaled));
    let total = (per_file * FILES) as f64;
    println!(
        "\n| load of {} rows | min s | median s | max s | rows/s (median) |",
        per_file * FILES
    );
    println!("|---|---|---|---|---|");
    println!(
        "| send_all, no journal | {:.2} | {:.2} | {:.2} | {:.0} |",
        p.0,
        p.1,
        p.2,
        total / p.1
    );
    println!(
        "| copy_into, journaled | {:.2} | {:.2} | {:.2} | {:.0} |",
        j.0,
        j.1,
        j.2,
        total / j.1
    );
    println!(
        "\njournal overhead: {:+.1} % of the medians; round by round {:+.1} / {:+.1} / {:+.1} % \
         (min / median / max)",
        (j.1 / p.1 - 1.0) * 100.0,
        paired.0,
        paired.1,
        paired.2
    );
}
