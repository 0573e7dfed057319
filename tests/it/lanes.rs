//! Many streams (lanes) per wrapper against an emulator that holds each stream to a quota,
//! as the service does. Rows are read back from the Delta table: every id exactly once.
//!
//! The time bounds here follow from the quota, not from this machine's speed: a stream
//! paced at Q records/s cannot take N records in less than N/Q seconds, so "one lane takes
//! at least N/Q" cannot fail on a slow machine; "N lanes reach 0.8 × N × Q" leaves the
//! client 20 % of the time for its own work, which the debug build needs a small part of
//! (a few thousand rows per second of quota).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::id_body_batch;
use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use arrow_zerobus_sdk_wrapper::wrapper::LANE_IDLE;
use arrow_zerobus_sdk_wrapper::{WrapperConfig, ZerobusError, ZerobusWrapper};
use zerobus_emulator::{Emulator, EmulatorConfig, EmulatorHandle, Faults, StreamQuota, TableStats};

const TABLE: &str = "main.default.lanes";

async fn emulator(dir: &Path, records_per_sec: u64, faults: Faults) -> EmulatorHandle {
    let emu = Emulator::start(
        EmulatorConfig::new(dir.join("warehouse"))
            .with_stream_quota(StreamQuota {
                records_per_sec,
                bytes_per_sec: StreamQuota::SERVICE.bytes_per_sec,
            })
            .with_faults(faults),
    )
    .await
    .unwrap();
    emu.create_table(TABLE, "id BIGINT NOT NULL, body STRING")
        .await
        .unwrap();
    emu
}

fn wrapper(emu: &EmulatorHandle, dir: &Path, max_streams: Option<usize>) -> ZerobusWrapper {
    let mut b = WrapperConfig::builder(emu.grpc_url(), TABLE)
        .client_id(emu.client_id())
        .client_secret(emu.client_secret())
        .unity_catalog_url(emu.http_url())
        .dead_letter_dir(dir.join("dead"))
        .retry_base_delay_ms(20)
        .retry_max_delay_ms(500);
    if let Some(n) = max_streams {
        b = b.max_streams(n);
    }
    ZerobusWrapper::new(b.build().unwrap()).unwrap()
}

fn batches(n: i64, per_batch: i64) -> Vec<RecordBatch> {
    (0..n)
        .step_by(per_batch as usize)
        .map(|s| id_body_batch(s..(s + per_batch).min(n)))
        .collect()
}

/// Send `n` rows in batches of `per_batch` through `send_all`; (rows acknowledged, time).
async fn load(w: &ZerobusWrapper, n: i64, per_batch: i64) -> (u64, Duration) {
    let input = futures::stream::iter(
        batches(n, per_batch)
            .into_iter()
            .map(Ok::<_, std::convert::Infallible>),
    );
    let started = Instant::now();
    let summary = w.send_all(input, &|_| {}).await.unwrap();
    (summary.rows, started.elapsed())
}

/// Ids of the table: (rows, distinct, missing of 0..n).
async fn landed(emu: &EmulatorHandle, n: i64) -> (usize, usize, usize) {
    crate::common::id_body_landed(emu, TABLE, n).await
}

fn stats(emu: &EmulatorHandle) -> TableStats {
    emu.stats().get(TABLE).cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_lane_is_held_to_the_stream_quota() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), 4_000, Faults::default()).await;
    let w = wrapper(&emu, dir.path(), Some(1));
    let (rows, took) = load(&w, 12_000, 1_000).await;
    w.shutdown().await.unwrap();
    let s = stats(&emu);
    println!("one lane, quota 4,000/s: 12,000 rows in {took:?}; {s:?}");
    assert_eq!(rows, 12_000);
    assert!(
        took >= Duration::from_secs(3),
        "12,000 rows at 4,000/s take 3 s at least, took {took:?}"
    );
    assert_eq!((s.streams_opened, s.streams_open), (1, 0));
    assert_eq!(s.records_acknowledged, 12_000);
    assert!(s.bytes_acknowledged > 12_000 * 4, "{s:?}");
    assert!(
        s.seconds_paced >= 2.5,
        "the stream waited for its quota: {s:?}"
    );
    assert_eq!(landed(&emu, 12_000).await, (12_000, 12_000, 0));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_lanes_take_four_quotas() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), 2_000, Faults::default()).await;
    let w = wrapper(&emu, dir.path(), Some(4));
    // One stream would need 16 s; four need 4 s, and must be done in 5 s (0.8 × 4 × 2,000).
    let (rows, took) = load(&w, 32_000, 1_000).await;
    let open_before_shutdown = w.streams_open();
    w.shutdown().await.unwrap();
    let s = stats(&emu);
    let rate = rows as f64 / took.as_secs_f64();
    println!("four lanes, quota 2,000/s: 32,000 rows in {took:?} = {rate:.0} rows/s; {s:?}");
    assert_eq!(rows, 32_000);
    assert_eq!(open_before_shutdown, 4);
    assert_eq!((s.streams_opened, s.streams_open), (4, 0), "{s:?}");
    assert!(
        rate >= 0.8 * 4.0 * 2_000.0,
        "four lanes reach 80 % of four quotas: {rate:.0} rows/s"
    );
    assert_eq!(landed(&emu, 32_000).await, (32_000, 32_000, 0));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_opens_lanes_while_they_are_saturated() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), 2_000, Faults::default()).await;
    let w = wrapper(&emu, dir.path(), None);
    let (rows, took) = load(&w, 48_000, 1_000).await;
    w.shutdown().await.unwrap();
    let s = stats(&emu);
    let rate = rows as f64 / took.as_secs_f64();
    println!("default lanes, quota 2,000/s: 48,000 rows in {took:?} = {rate:.0} rows/s; {s:?}");
    assert_eq!(rows, 48_000);
    assert!(
        (8..=16).contains(&s.streams_opened),
        "a saturated load opens lanes up to the default maximum (16): {s:?}"
    );
    assert!(
        rate >= 6.0 * 2_000.0,
        "the default is at least 6 x one stream: {rate:.0} rows/s"
    );
    assert_eq!(landed(&emu, 48_000).await, (48_000, 48_000, 0));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_awaited_one_by_one_stay_on_one_stream_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), 100_000, Faults::default()).await;
    let w = wrapper(&emu, dir.path(), Some(8));
    let mut offsets = Vec::new();
    for k in 0..6 {
        let r = w
            .send_batch(&id_body_batch(k * 100..(k + 1) * 100))
            .await
            .unwrap();
        offsets.push(r.ack_offset.unwrap());
        assert_eq!(w.streams_open(), 1);
    }
    w.shutdown().await.unwrap();
    // One stream: its offsets grow with the order of the sends.
    assert_eq!(offsets, (0..6).collect::<Vec<i64>>());
    assert_eq!(stats(&emu).streams_opened, 1);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lane_that_fails_resends_only_its_own_rows() {
    let dir = tempfile::tempdir().unwrap();
    // Every stream is closed after 5,000 records (what it took is acknowledged): lanes are
    // replaced one by one while the others go on.
    let emu = emulator(
        dir.path(),
        20_000,
        Faults {
            close_stream_after_records: Some(5_000),
            ..Faults::default()
        },
    )
    .await;
    let w = wrapper(&emu, dir.path(), Some(4));
    let (rows, _) = load(&w, 60_000, 1_000).await;
    w.shutdown().await.unwrap();
    let s = stats(&emu);
    println!("lanes with streams closed every 5,000 records: {s:?}");
    assert_eq!(rows, 60_000, "the load counts each row once");
    assert!(s.streams_opened >= 12, "streams were replaced: {s:?}");
    assert_eq!(
        landed(&emu, 60_000).await,
        (60_000, 60_000, 0),
        "a replaced lane resends only what its stream did not acknowledge"
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lanes_under_unavailable_faults_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(
        dir.path(),
        20_000,
        Faults {
            unavailable_rate: 0.05,
            ..Faults::default()
        },
    )
    .await;
    let w = wrapper(&emu, dir.path(), Some(4));
    let (rows, _) = load(&w, 40_000, 1_000).await;
    w.shutdown().await.unwrap();
    let (total, distinct, missing) = landed(&emu, 40_000).await;
    println!(
        "4 lanes, 5 % UNAVAILABLE: 40,000 sent, {total} in table, {distinct} distinct, {:?}",
        stats(&emu)
    );
    assert_eq!(rows, 40_000, "acknowledged rows are counted once");
    assert_eq!((distinct, missing), (40_000, 0));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stats_endpoint_shows_the_lanes() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), 2_000, Faults::default()).await;
    let w = wrapper(&emu, dir.path(), Some(3));
    let (rows, _) = load(&w, 12_000, 1_000).await;
    let url = format!("{}/zerobus-emulator/v1/stats", emu.http_url());
    let during: serde_json::Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    w.shutdown().await.unwrap();
    let after: serde_json::Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    println!("stats before shutdown: {during}\nafter: {after}");
    let t = &during["tables"][TABLE];
    assert_eq!(rows, 12_000);
    assert_eq!(t["streams_opened"], 3);
    assert_eq!(
        t["streams_open"], 3,
        "the lanes stay open until idle or shut down"
    );
    assert_eq!(t["records_acknowledged"], 12_000);
    assert!(t["seconds_paced"].as_f64().unwrap() > 0.0);
    assert_eq!(after["tables"][TABLE]["streams_open"], 0);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lanes_left_idle_close_their_streams_without_another_send() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), 2_000, Faults::default()).await;
    let w = wrapper(&emu, dir.path(), Some(3));
    let (rows, _) = load(&w, 12_000, 1_000).await;
    let open = |emu: &EmulatorHandle| stats(emu).streams_open;
    assert_eq!(open(&emu), 3);
    // Idle for LANE_IDLE, plus the background check's half period, plus slack: the
    // wrapper is alive and has sent nothing since.
    tokio::time::sleep(LANE_IDLE + LANE_IDLE / 2 + Duration::from_secs(2)).await;
    let after_idle = open(&emu);
    // The wrapper still works: the next send opens a lane again.
    let more = w
        .send_all(
            futures::stream::iter(
                [12_000..13_000, 13_000..14_000]
                    .map(|ids| Ok::<_, std::convert::Infallible>(id_body_batch(ids))),
            ),
            &|_| {},
        )
        .await
        .unwrap()
        .rows;
    w.shutdown().await.unwrap();
    println!(
        "streams open after idling: {after_idle}; stats {:?}",
        stats(&emu)
    );
    assert_eq!(after_idle, 0, "idle lanes closed their streams");
    assert_eq!((rows, more), (12_000, 2_000));
    let (_, distinct, missing) = landed(&emu, 14_000).await;
    assert_eq!((distinct, missing), (14_000, 0));
    emu.shutdown().await;
}

#[test]
fn max_streams_is_checked() {
    let base = || {
        WrapperConfig::builder("http://127.0.0.1:1", TABLE)
            .client_id("a")
            .client_secret("b")
            .unity_catalog_url("http://127.0.0.1:2")
    };
    for bad in [0, 257] {
        let e = base().max_streams(bad).build().unwrap_err().to_string();
        assert!(
            e.contains("max_streams") && e.contains("between 1 and 256"),
            "{e}"
        );
    }
    assert_eq!(base().build().unwrap().max_streams, 16);
    let e = base().max_inflight_bytes(1000).build().unwrap_err();
    assert!(matches!(e, ZerobusError::Configuration(_)), "{e:?}");
    assert!(
        e.to_string().contains("max_inflight_bytes: 1000 is below"),
        "{e}"
    );
    assert_eq!(base().build().unwrap().max_inflight_bytes, 128 << 20);
    // ZEROBUS_MAX_STREAMS is tested in config.rs (a test that set the process's
    // environment would reach every other test of this binary, and the programs they run).
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_large_batch_is_spread_over_the_lanes() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), 20_000, Faults::default()).await;
    let w = wrapper(&emu, dir.path(), Some(8));
    // One batch of 200,000 rows: one stream would need 10 s at 20,000/s.
    let (rows, took) = load(&w, 200_000, 200_000).await;
    w.shutdown().await.unwrap();
    let s = stats(&emu);
    println!("one batch of 200,000 rows, 8 lanes at 20,000/s: {took:?}; {s:?}");
    assert_eq!(rows, 200_000);
    assert!(
        s.streams_opened >= 4,
        "its parts went to several lanes: {s:?}"
    );
    assert_eq!(landed(&emu, 200_000).await, (200_000, 200_000, 0));
    emu.shutdown().await;
}

/// Wide rows: `max_inflight_bytes` bounds what a load holds, where the batch bound alone
/// lets 16 batches be read ahead. Batches of 500 rows of 1,000-byte bodies (about 495
/// KiB of Arrow each) under a 1 MiB budget: two sends fit in it, a third waits, read
/// and not started (a send's room is given back once the load has counted its rows).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wide_rows_are_held_to_the_byte_budget() {
    use arrow::array::{Int64Array, StringArray};
    use arrow_zerobus_sdk_wrapper::wrapper::LoadProgress;
    use std::sync::Mutex;

    let (n, per_batch) = (10_000i64, 500i64);
    let wide = |ids: std::ops::Range<i64>| {
        RecordBatch::try_from_iter(vec![
            (
                "id",
                std::sync::Arc::new(Int64Array::from_iter_values(ids.clone())) as _,
            ),
            (
                "body",
                std::sync::Arc::new(StringArray::from_iter_values(
                    ids.map(|i| format!("{i:01000}")),
                )) as _,
            ),
        ])
        .unwrap()
    };
    // Most rows read and not yet acknowledged, and most bytes in flight, over one load.
    let run = |budget: Option<usize>| async move {
        let dir = tempfile::tempdir().unwrap();
        let emu = emulator(dir.path(), 4_000, Faults::default()).await;
        let mut b = WrapperConfig::builder(emu.grpc_url(), TABLE)
            .client_id(emu.client_id())
            .client_secret(emu.client_secret())
            .unity_catalog_url(emu.http_url())
            .dead_letter_dir(dir.path().join("dead"))
            .max_streams(4);
        if let Some(bytes) = budget {
            b = b.max_inflight_bytes(bytes);
        }
        let w = ZerobusWrapper::new(b.build().unwrap()).unwrap();
        let most = Mutex::new((0u64, 0u64));
        let seen = |p: LoadProgress| {
            let mut m = most.lock().unwrap();
            m.0 = m.0.max(p.rows_read - p.rows_acknowledged);
            m.1 = m.1.max(p.bytes_in_flight);
        };
        let input = (0..n)
            .step_by(per_batch as usize)
            .map(|s| Ok::<_, std::convert::Infallible>(wide(s..s + per_batch)));
        let summary = w
            .send_all(futures::stream::iter(input), &seen)
            .await
            .unwrap();
        w.shutdown().await.unwrap();
        assert_eq!(summary.rows, n as u64);
        let body = |i: i64| format!("{i:01000}");
        let landed = crate::common::id_body_landed_with(&emu, TABLE, n, body).await;
        assert_eq!(landed, (n as usize, n as usize, 0));
        emu.shutdown().await;
        let most = *most.lock().unwrap();
        most
    };
    let budget = 1024 * 1024;
    let (held_rows, held_bytes) = run(Some(budget)).await;
    let (free_rows, _) = run(None).await;
    println!(
        "most rows read and not acknowledged: {held_rows} under a 1 MiB budget \
         ({held_bytes} bytes in flight at most), {free_rows} under the default"
    );
    assert!(held_bytes <= budget as u64, "{held_bytes} bytes in flight");
    assert!(held_rows <= 3 * per_batch as u64, "{held_rows} rows held");
    // The premise: without the budget the batch bound lets far more be read ahead.
    assert!(free_rows >= 8 * per_batch as u64, "{free_rows} rows held");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_row_in_a_large_batch_refuses_all_of_it_naming_its_row() {
    use arrow::array::{Int64Array, StringArray};
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), 100_000, Faults::default()).await;
    let w = wrapper(&emu, dir.path(), Some(8));
    // 100,000 rows, id NULL at row 90,000 (id is NOT NULL).
    let ids: Int64Array = (0..100_000i64)
        .map(|i| (i != 90_000).then_some(i))
        .collect();
    let bodies = StringArray::from_iter_values((0..100_000).map(|i| format!("b{i}")));
    let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("id", arrow::datatypes::DataType::Int64, true),
        arrow::datatypes::Field::new("body", arrow::datatypes::DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![std::sync::Arc::new(ids), std::sync::Arc::new(bodies)],
    )
    .unwrap();
    let input = futures::stream::iter([Ok::<_, std::convert::Infallible>(batch)]);
    let e = w.send_all(input, &|_| {}).await.unwrap_err();
    w.shutdown().await.unwrap();
    let text = e.to_string();
    assert_eq!(e.kind(), "ConversionError", "{text}");
    assert!(
        text.contains("'id'") && text.contains("row 90000"),
        "{text}"
    );
    assert_eq!(emu.streams_opened(), 0, "nothing of the batch was sent");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lane_whose_stream_could_not_be_reopened_is_not_counted_open() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), 100_000, Faults::default()).await;
    let cfg = WrapperConfig::builder(emu.grpc_url(), TABLE)
        .client_id(emu.client_id())
        .client_secret(emu.client_secret())
        .unity_catalog_url(emu.http_url())
        .dead_letter_dir(dir.path().join("dead"))
        .retry_max_attempts(1)
        .build()
        .unwrap();
    let w = ZerobusWrapper::new(cfg).unwrap();
    w.send_batch(&id_body_batch(0..100)).await.unwrap();
    assert_eq!(w.streams_open(), 1);
    // The service goes away: its streams end, and no new one can be created.
    emu.shutdown().await;
    for _ in 0..50 {
        if w.send_batch(&id_body_batch(100..200)).await.is_err() {
            break;
        }
    }
    assert_eq!(
        w.streams_open(),
        0,
        "no stream is open: the lane's closed stream is gone and none replaced it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_batch_that_fails_part_way_accounts_for_every_row() {
    let dir = tempfile::tempdir().unwrap();
    // Records holding "b12345" are refused: ids 12345 (part 0) and 123450-123459 (part 6)
    // of one 400,000-row batch sent in 20 parts, at most 16 in flight on 2 lanes.
    let emu = emulator(
        dir.path(),
        0,
        Faults {
            refuse_records_containing: Some(b"b12345".to_vec()),
            ..Faults::default()
        },
    )
    .await;
    let w = wrapper(&emu, dir.path(), Some(2));
    let input =
        futures::stream::iter([Ok::<_, std::convert::Infallible>(id_body_batch(0..400_000))]);
    let e = w.send_all(input, &|_| {}).await.unwrap_err();
    w.shutdown().await.unwrap();
    let arrow_zerobus_sdk_wrapper::ZerobusError::LoadIncomplete(f) = &e else {
        panic!("expected the load's account: {e}");
    };
    println!(
        "read {}, acknowledged {}, dead-lettered {} in {} files",
        f.rows_read,
        f.rows_acknowledged,
        f.rows_dead_lettered,
        f.dead_letters.len()
    );
    assert_eq!(f.rows_read, 400_000);
    assert_eq!(f.rows_unaccounted, 0);
    assert_eq!(f.rows_acknowledged + f.rows_dead_lettered, 400_000);
    // Every id is in the table or in a dead-letter file.
    let mut ids = std::collections::HashSet::new();
    for p in &f.dead_letters {
        let (_, batches) = arrow_zerobus_sdk_wrapper::dead_letter::read_dead_letters(p).unwrap();
        for b in batches {
            let col = b.column_by_name("id").unwrap().as_primitive::<Int64Type>();
            ids.extend(col.values().iter().copied());
        }
    }
    assert!(ids.contains(&12_345), "the refused part is dead-lettered");
    let in_files = ids.len();
    let (_, distinct, _) = landed(&emu, 400_000).await;
    assert_eq!(in_files as u64, f.rows_dead_lettered);
    assert_eq!(distinct as u64, f.rows_acknowledged);
    let batches = zerobus_emulator::storage::read_table(&emu.table_location(TABLE).unwrap())
        .await
        .unwrap();
    for b in &batches {
        let col = b.column_by_name("id").unwrap().as_primitive::<Int64Type>();
        ids.extend(col.values().iter().copied());
    }
    assert_eq!(ids.len(), 400_000, "no id is lost");
    emu.shutdown().await;
}
