//! Loads that resume (`load::copy_into`, `zerobus-sql copy`, `COPY INTO`): a journal of
//! what landed, so that a load run again skips what is loaded and an interrupted one sends
//! only what was not acknowledged. Against the emulator, read back from Delta.

#![cfg(feature = "cli")]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use arrow_zerobus_sdk_wrapper::load::{copy_into, CopyOptions};
use arrow_zerobus_sdk_wrapper::ZerobusWrapper;
use rand::{Rng, SeedableRng};
use zerobus_emulator::{Emulator, EmulatorConfig, EmulatorHandle, Faults, StreamQuota};

use crate::common::{id_body_landed, id_parquet, wrapper_config};

const TABLE: &str = "main.default.t";

async fn emulator(warehouse: &Path) -> EmulatorHandle {
    let emu = Emulator::start(EmulatorConfig::new(warehouse))
        .await
        .unwrap();
    emu.create_table(TABLE, "id BIGINT NOT NULL, body STRING")
        .await
        .unwrap();
    emu
}

fn options(dir: &Path) -> CopyOptions {
    CopyOptions {
        journal_dir: Some(dir.join("journal")),
        ..CopyOptions::default()
    }
}

async fn wrapper(emu: &EmulatorHandle, dir: &Path) -> ZerobusWrapper {
    ZerobusWrapper::new(wrapper_config(emu, TABLE, dir).build().unwrap()).unwrap()
}

async fn copy(
    emu: &EmulatorHandle,
    dir: &Path,
    inputs: &[&str],
    options: &CopyOptions,
) -> arrow_zerobus_sdk_wrapper::Result<arrow_zerobus_sdk_wrapper::load::CopySummary> {
    let w = wrapper(emu, dir).await;
    let inputs: Vec<String> = inputs.iter().map(|s| s.to_string()).collect();
    let r = copy_into(&w, &inputs, options, &|_| {}, None).await;
    w.shutdown().await.unwrap();
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loaded_files_are_skipped_new_ones_load_alone_and_changes_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let emu = emulator(&dir.join("warehouse")).await;
    let input = dir.join("in");
    std::fs::create_dir(&input).unwrap();
    id_parquet(
        &input.join("a.parquet"),
        0..3000,
        "concat('b', CAST(value AS VARCHAR))",
    )
    .await;
    id_parquet(
        &input.join("b.parquet"),
        3000..5000,
        "concat('b', CAST(value AS VARCHAR))",
    )
    .await;
    let glob = format!("{}/*.parquet", input.display());
    let o = options(dir);

    let first = copy(&emu, dir, &[&glob], &o).await.unwrap();
    assert_eq!(
        (first.files, first.files_skipped, first.rows_acknowledged),
        (2, 0, 5000)
    );
    assert_eq!(id_body_landed(&emu, TABLE, 5000).await, (5000, 5000, 0));

    // Run again: nothing sent, and it says so.
    let again = copy(&emu, dir, &[&glob], &o).await.unwrap();
    assert_eq!((again.files_skipped, again.rows_sent), (2, 0));
    assert_eq!(
        again.to_string(),
        "2 of 2 files already loaded into main.default.t (force to load again)"
    );
    // A new file in the glob loads alone.
    id_parquet(
        &input.join("c.parquet"),
        5000..6000,
        "concat('b', CAST(value AS VARCHAR))",
    )
    .await;
    let new = copy(&emu, dir, &[&glob], &o).await.unwrap();
    assert_eq!((new.files_skipped, new.rows_acknowledged), (2, 1000));
    assert_eq!(id_body_landed(&emu, TABLE, 6000).await, (6000, 6000, 0));

    // A file rewritten with other rows is refused by name, before anything is sent.
    id_parquet(
        &input.join("b.parquet"),
        3000..5500,
        "concat('b', CAST(value AS VARCHAR))",
    )
    .await;
    let e = copy(&emu, dir, &[&glob], &o).await.unwrap_err().to_string();
    assert!(
        e.contains("b.parquet changed since a load journaled it"),
        "{e}"
    );
    assert!(e.contains("force"), "{e}");
    assert_eq!(id_body_landed(&emu, TABLE, 6000).await.0, 6000);
    // Only `touch`ed: the same Parquet file (size and footer), skipped.
    let a = std::fs::File::options()
        .append(true)
        .open(input.join("a.parquet"))
        .unwrap();
    a.set_modified(std::time::SystemTime::now() + Duration::from_secs(60))
        .unwrap();
    let touched = copy(
        &emu,
        dir,
        &[&input.join("a.parquet").display().to_string()],
        &o,
    )
    .await
    .unwrap();
    assert_eq!(touched.files_skipped, 1);

    // force: the changed file is loaded again from its start (the others too).
    let forced = copy(
        &emu,
        dir,
        &[&input.join("b.parquet").display().to_string()],
        &CopyOptions {
            force: true,
            ..o.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(forced.rows_acknowledged, 2500);
    assert_eq!(id_body_landed(&emu, TABLE, 6000).await.0, 8500);

    // A damaged journal entry is refused with its path, never taken as "not loaded".
    let entries = dir
        .join("journal")
        .read_dir()
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("files");
    let entry = std::fs::read_dir(&entries)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.to_string_lossy().contains("a.parquet") && p.extension().is_some_and(|x| x == "json")
        })
        .unwrap();
    let text = std::fs::read_to_string(&entry).unwrap();
    std::fs::write(&entry, text.replacen("3000", "2999", 1)).unwrap();
    let e = copy(&emu, dir, &[&glob], &o).await.unwrap_err().to_string();
    assert!(
        e.contains("fails its checksum") && e.contains(&entry.display().to_string()),
        "{e}"
    );
    assert_eq!(id_body_landed(&emu, TABLE, 6000).await.0, 8500);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_lettered_rows_are_resent_from_the_source_or_counted_once_replayed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let warehouse = dir.join("warehouse");
    let input = dir.join("in");
    std::fs::create_dir(&input).unwrap();
    for (i, name) in ["a", "b", "c", "d"].iter().enumerate() {
        let start = i as i64 * 20_000;
        id_parquet(
            &input.join(format!("{name}.parquet")),
            start..start + 20_000,
            "concat('b', CAST(value AS VARCHAR))",
        )
        .await;
    }
    let glob = format!("{}/*.parquet", input.display());
    let o = options(dir);
    // A service that answers UNAVAILABLE to 60% of requests, one attempt per send: some
    // sends are dead-lettered, and the journal says which rows.
    let faulty = Emulator::start(EmulatorConfig::new(&warehouse).with_faults(Faults {
        unavailable_rate: 0.6,
        ..Faults::default()
    }))
    .await
    .unwrap();
    faulty
        .create_table(TABLE, "id BIGINT NOT NULL, body STRING")
        .await
        .unwrap();
    let w = ZerobusWrapper::new(
        wrapper_config(&faulty, TABLE, dir)
            .retry_max_attempts(1)
            .build()
            .unwrap(),
    )
    .unwrap();
    let failed = copy_into(&w, std::slice::from_ref(&glob), &o, &|_| {}, None).await;
    let _ = w.shutdown().await;
    let (http, grpc) = (faulty.http_addr(), faulty.grpc_addr());
    faulty.shutdown().await;
    let e = failed.expect_err("60% UNAVAILABLE with one attempt fails the load");
    let dead: Vec<_> = std::fs::read_dir(dir.join("dead"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".dead.arrow"))
        .collect();
    assert!(!dead.is_empty(), "no dead-letter files after: {e}");

    // The healthy service again, same warehouse and ports. One dead-letter file is
    // replayed first: its rows count as delivered, the others come from the source.
    let emu = Emulator::start(
        EmulatorConfig::new(&warehouse)
            .with_http_addr(http)
            .with_grpc_addr(grpc),
    )
    .await
    .unwrap();
    let w = wrapper(&emu, dir).await;
    let replayed = w.replay_dead_letters(&dead[0]).await.unwrap();
    let resumed = copy_into(&w, std::slice::from_ref(&glob), &o, &|_| {}, None)
        .await
        .unwrap();
    w.shutdown().await.unwrap();
    eprintln!(
        "{} dead-letter files, {replayed} rows replayed; resumed: {resumed}",
        dead.len()
    );
    assert!(resumed.rows_skipped >= replayed as u64);
    assert_eq!(
        resumed.dead_letters_superseded.len(),
        dead.len() - 1,
        "{resumed:?}"
    );
    for d in &dead[1..] {
        assert!(!d.exists() && Path::new(&format!("{}.resent", d.display())).exists());
    }
    let (rows, distinct, missing) = id_body_landed(&emu, TABLE, 80_000).await;
    assert_eq!((distinct, missing), (80_000, 0));
    // Duplicates only from rows in flight when the faults hit (sent, landed, not
    // acknowledged), never from a whole file sent twice.
    assert!(
        rows - distinct <= resumed.rows_resent as usize,
        "{rows} rows, bound {}",
        resumed.rows_resent
    );
    let again = copy(&emu, dir, &[&glob], &o).await.unwrap();
    assert_eq!(
        again.to_string(),
        "4 of 4 files already loaded into main.default.t (force to load again)"
    );
    emu.shutdown().await;
}

/// `zerobus-sql copy` of 8 Parquet files (1M rows, unique ids) into a table whose
/// streams are held to a small quota, killed with SIGKILL at random moments, the emulator
/// restarted once, then run until it completes: every id lands, the duplicates stay within
/// the bound the runs reported, and one more run sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_killed_again_and_again_lands_every_row_with_bounded_duplicates() {
    const FILES: i64 = 8;
    const PER_FILE: i64 = 125_000;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let warehouse = dir.join("warehouse");
    let input = dir.join("in");
    std::fs::create_dir(&input).unwrap();
    for f in 0..FILES {
        let ids = f * PER_FILE..(f + 1) * PER_FILE;
        id_parquet(
            &input.join(format!("part-{f}.parquet")),
            ids,
            "concat('b', CAST(value AS VARCHAR))",
        )
        .await;
    }
    let quota = StreamQuota {
        records_per_sec: 60_000,
        bytes_per_sec: 100_000_000,
    };
    let start = |http, grpc| {
        let mut config = EmulatorConfig::new(&warehouse).with_stream_quota(quota);
        if let (Some(h), Some(g)) = (http, grpc) {
            config = config.with_http_addr(h).with_grpc_addr(g);
        }
        Emulator::start(config)
    };
    let mut emu = start(None, None).await.unwrap();
    emu.create_table(TABLE, "id BIGINT NOT NULL, body STRING")
        .await
        .unwrap();
    let (http, grpc) = (emu.http_addr(), emu.grpc_addr());
    let run = |emu: &EmulatorHandle| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_zerobus-sql"));
        c.args(["--quiet", "copy"])
            .arg(&input)
            .arg(TABLE)
            .env("ZEROBUS_ENDPOINT", emu.grpc_url())
            .env("DATABRICKS_HOST", emu.http_url())
            .env("DATABRICKS_CLIENT_ID", emu.client_id())
            .env("DATABRICKS_CLIENT_SECRET", emu.client_secret())
            .env("ZEROBUS_JOURNAL_DIR", dir.join("journal"))
            .env("ZEROBUS_DEAD_LETTER_DIR", dir.join("dead"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c.spawn().expect("run zerobus-sql copy")
    };
    // "… R rows are sent again that an interrupted load may have delivered"
    let resent = |out: &str| -> u64 {
        out.lines()
            .filter_map(|l| {
                l.split(" rows are sent again")
                    .next()?
                    .rsplit(' ')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum()
    };
    let seed: u64 = rand::rng().random();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut bound = 0;
    for round in 0..4 {
        let child = run(&emu);
        let wait = Duration::from_millis(rng.random_range(600..3000));
        if round == 1 {
            // The service goes away mid-load and comes back on the same ports.
            tokio::time::sleep(wait / 2).await;
            emu.shutdown().await;
            emu = start(Some(http), Some(grpc)).await.unwrap();
            tokio::time::sleep(wait / 2).await;
        } else {
            tokio::time::sleep(wait).await;
        }
        let mut child = child;
        let _ = child.kill(); // SIGKILL
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        bound += resent(&stdout);
        eprintln!(
            "round {round} (seed {seed}): killed after {wait:?}; {}",
            stdout.trim()
        );
    }
    let out = tokio::task::spawn_blocking({
        let child = run(&emu);
        move || child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "the last run failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    bound += resent(&stdout);
    let total = FILES * PER_FILE;
    let (rows, distinct, missing) = id_body_landed(&emu, TABLE, total).await;
    eprintln!(
        "after 4 kills and a restart: {rows} rows, {distinct} distinct, {missing} missing, \
         {} duplicates, bound reported {bound}; last run: {}",
        rows - distinct,
        stdout.trim()
    );
    assert_eq!((distinct, missing), (total as usize, 0));
    assert!(
        rows - distinct <= bound as usize,
        "{} duplicates over the bound {bound}",
        rows - distinct
    );
    // One more run sends nothing.
    let again = tokio::task::spawn_blocking({
        let child = run(&emu);
        move || child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let said = String::from_utf8_lossy(&again.stdout).to_string();
    assert!(
        said.contains("8 of 8 files already loaded into main.default.t"),
        "{said}"
    );
    assert_eq!(id_body_landed(&emu, TABLE, total).await.0, rows);
    emu.shutdown().await;
}
