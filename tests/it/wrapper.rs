//! ZerobusWrapper against the in-process emulator over real gRPC and HTTP; rows are read
//! back from the Delta tables.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{
    Array, AsArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit};
use arrow_zerobus_sdk_wrapper::{Transport, ZerobusError, ZerobusWrapper};
use zerobus_emulator::{Emulator, EmulatorConfig, EmulatorHandle, Faults};

const TABLE: &str = "main.default.events";
const COLUMNS: &str = "id BIGINT NOT NULL, payload STRING, score DOUBLE, ts TIMESTAMP";

fn init() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("warn,deltalake_core::writer::stats=error")
            }),
        )
        .with_test_writer()
        .try_init();
}

async fn emulator(dir: &Path, f: impl FnOnce(EmulatorConfig) -> EmulatorConfig) -> EmulatorHandle {
    let emu = Emulator::start(f(EmulatorConfig::new(dir.join("warehouse"))))
        .await
        .expect("emulator");
    if emu.table_location(TABLE).is_none() {
        emu.create_table(TABLE, COLUMNS).await.expect("table");
    }
    emu
}

fn config(emu: &EmulatorHandle, dir: &Path) -> arrow_zerobus_sdk_wrapper::WrapperConfigBuilder {
    crate::common::wrapper_config(emu, TABLE, dir)
        .retry_base_delay_ms(20)
        .retry_max_delay_ms(500)
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("payload", DataType::Utf8, true),
        Field::new("score", DataType::Float64, true),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
    ]))
}

fn batch(ids: std::ops::Range<i64>) -> RecordBatch {
    let id: Vec<i64> = ids.clone().collect();
    let payload: Vec<Option<String>> = ids
        .clone()
        .map(|i| (i % 10 != 0).then(|| format!("payload-{i}-ñ")))
        .collect();
    let score: Vec<f64> = ids.clone().map(|i| i as f64 * 0.25).collect();
    let ts: Vec<i64> = ids.map(|i| 1_700_000_000_000_000 + i).collect();
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(id)),
            Arc::new(StringArray::from(payload)),
            Arc::new(Float64Array::from(score)),
            Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
        ],
    )
    .unwrap()
}

/// (rows in table, distinct ids, duplicates, missing ids of 0..n)
async fn landed(emu: &EmulatorHandle, n: i64) -> (usize, usize, usize, usize) {
    let batches = zerobus_emulator::storage::read_table(&emu.table_location(TABLE).unwrap())
        .await
        .unwrap();
    let mut counts: HashMap<i64, usize> = HashMap::new();
    let mut total = 0;
    for b in &batches {
        let ids = b.column_by_name("id").unwrap().as_primitive::<Int64Type>();
        for i in 0..ids.len() {
            *counts.entry(ids.value(i)).or_default() += 1;
        }
        total += b.num_rows();
        // Values survive the trip: spot-check every row of the batch.
        let payload = b.column_by_name("payload").unwrap().as_string::<i32>();
        let score = b
            .column_by_name("score")
            .unwrap()
            .as_primitive::<arrow::datatypes::Float64Type>();
        for i in 0..ids.len() {
            let id = ids.value(i);
            assert_eq!(score.value(i), id as f64 * 0.25, "score of {id}");
            if id % 10 == 0 {
                assert!(payload.is_null(i), "payload of {id} must be null");
            } else {
                assert_eq!(payload.value(i), format!("payload-{id}-ñ"));
            }
        }
    }
    let missing = (0..n).filter(|i| !counts.contains_key(i)).count();
    (total, counts.len(), total - counts.len(), missing)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_rows_from_eight_tasks_land_exactly_once() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), |c| c).await;
    let wrapper = ZerobusWrapper::new(config(&emu, dir.path()).build().unwrap()).unwrap();
    const N: i64 = 1_000_000;
    const TASKS: i64 = 8;
    const BATCH: i64 = 25_000;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let w = wrapper.clone();
        tasks.push(tokio::spawn(async move {
            let per = N / TASKS;
            let mut sent = 0;
            let mut start = t * per;
            while start < (t + 1) * per {
                let r = w
                    .send_batch(&batch(start..start + BATCH))
                    .await
                    .expect("send");
                assert!(
                    r.success
                        && r.rows == BATCH as usize
                        && r.attempts >= 1
                        && r.batch_size_bytes > 0
                );
                sent += r.rows;
                start += BATCH;
            }
            sent
        }));
    }
    let mut sent = 0;
    for t in tasks {
        sent += t.await.unwrap();
    }
    wrapper.shutdown().await.unwrap();
    println!(
        "1M rows from 8 tasks acknowledged in {:?}",
        started.elapsed()
    );
    assert_eq!(sent, N as usize);
    assert_eq!(landed(&emu, N).await, (N as usize, N as usize, 0, 0));
    emu.shutdown().await;
}

async fn survive(case: &str, faults: Faults, ttl: Option<Duration>) {
    survive_on(case, faults, ttl, Transport::Proto).await;
}

async fn survive_on(case: &str, faults: Faults, ttl: Option<Duration>, transport: Transport) {
    init();
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), |c| {
        let c = c.with_faults(faults);
        match ttl {
            Some(t) => c.with_token_ttl(t),
            None => c,
        }
    })
    .await;
    let wrapper = ZerobusWrapper::new(
        config(&emu, dir.path())
            .retry_max_attempts(30)
            .transport(transport)
            .build()
            .unwrap(),
    )
    .unwrap();
    const N: i64 = 200_000;
    let started = Instant::now();
    let mut attempts = 0;
    let mut tasks = Vec::new();
    for t in 0..4i64 {
        let w = wrapper.clone();
        tasks.push(tokio::spawn(async move {
            let mut a = 0;
            for k in 0..10i64 {
                let start = t * 50_000 + k * 5_000;
                a += w
                    .send_batch(&batch(start..start + 5_000))
                    .await
                    .expect("send survives the fault")
                    .attempts;
                if ttl.is_some() {
                    tokio::time::sleep(Duration::from_millis(400)).await;
                }
            }
            a
        }));
    }
    for t in tasks {
        attempts += t.await.unwrap();
    }
    wrapper.shutdown().await.unwrap();
    let (total, distinct, dups, missing) = landed(&emu, N).await;
    println!(
        "{case}: sent {N}, rows in table {total}, distinct {distinct}, duplicates {dups}, missing {missing}, \
         send attempts {attempts} for 40 batches, streams opened {}, {:?}",
        emu.streams_opened(),
        started.elapsed()
    );
    assert_eq!(missing, 0, "{case}: every row lands at least once");
    assert_eq!(distinct, N as usize);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_closed_every_20000_records_lose_nothing() {
    survive(
        "close after 20000 records",
        Faults {
            close_stream_after_records: Some(20_000),
            ..Faults::default()
        },
        None,
    )
    .await;
}

/// A throttled token endpoint (HTTP 429 with Retry-After) is retried with backoff, not
/// taken for wrong credentials: every row lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_token_endpoint_is_retried_and_loses_nothing() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), |c| {
        c.with_faults(Faults {
            token_fault: Some(zerobus_emulator::TokenFault {
                status: 429,
                count: 6,
            }),
            ..Faults::default()
        })
    })
    .await;
    // The fault is there: one request sees it (5 are left for the wrapper).
    let answer = reqwest::Client::new()
        .post(format!("{}/oidc/v1/token", emu.http_url()))
        .basic_auth(emu.client_id(), Some(emu.client_secret()))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 429);
    assert_eq!(answer.headers()["retry-after"], "1");
    // The schema from the batch: the SDK's own token requests (stream creation) are the
    // ones throttled, which it files as a 4xx "client error".
    let wrapper = ZerobusWrapper::new(
        config(&emu, dir.path())
            .schema_source(arrow_zerobus_sdk_wrapper::SchemaSource::ArrowSchema)
            .retry_max_attempts(10)
            .build()
            .unwrap(),
    )
    .unwrap();
    let sent = wrapper.send_batch(&batch(0..10_000)).await.unwrap();
    wrapper.shutdown().await.unwrap();
    let (total, distinct, _, missing) = landed(&emu, 10_000).await;
    println!("token 429 x5: {total} rows, attempts {}", sent.attempts);
    assert_eq!((distinct, missing), (10_000, 0));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_percent_unavailable_loses_nothing() {
    survive(
        "UNAVAILABLE 5%",
        Faults {
            unavailable_rate: 0.05,
            ..Faults::default()
        },
        None,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_second_tokens_lose_nothing() {
    survive(
        "token TTL 2 s",
        Faults::default(),
        Some(Duration::from_secs(2)),
    )
    .await;
}

/// Over Arrow Flight the SDK's Arrow stream gets each new token (2 s tokens, 4 s of
/// sending) and the planned closes, and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_second_tokens_and_closes_lose_nothing_over_flight() {
    survive_on(
        "Flight: token TTL 2 s, closes every 20000 records",
        Faults {
            close_stream_after_records: Some(20_000),
            ..Faults::default()
        },
        Some(Duration::from_secs(2)),
        Transport::Flight,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_of_requests_unavailable_resend_only_what_was_not_acknowledged() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), |c| {
        c.with_faults(Faults {
            unavailable_rate: 0.5,
            ..Faults::default()
        })
    })
    .await;
    let wrapper = ZerobusWrapper::new(
        config(&emu, dir.path())
            .retry_max_attempts(60)
            .retry_max_delay_ms(100)
            .build()
            .unwrap(),
    )
    .unwrap();
    // 60,000 rows go out as three 20,000-row requests: acknowledged ones are not resent.
    // Six batches: the SDK's own recovery (one re-creation, itself refused half the time)
    // absorbs a batch's faults now and then; that it absorbs all six is under 1% (three
    // batches were not enough: seen once in CI, 2026-12-01).
    const N: i64 = 360_000;
    let started = Instant::now();
    let mut attempts = Vec::new();
    for k in 0..6 {
        attempts.push(
            wrapper
                .send_batch(&batch(k * 60_000..(k + 1) * 60_000))
                .await
                .expect("lands despite 50% UNAVAILABLE")
                .attempts,
        );
    }
    wrapper.shutdown().await.unwrap();
    let (total, distinct, dups, missing) = landed(&emu, N).await;
    println!(
        "UNAVAILABLE 50%: sent {N}, rows in table {total}, distinct {distinct}, duplicates {dups}, missing {missing}, \
         attempts per batch {attempts:?}, streams opened {}, {:?}",
        emu.streams_opened(),
        started.elapsed()
    );
    assert_eq!((distinct, missing), (N as usize, 0));
    assert!(
        attempts.iter().any(|a| *a > 1),
        "the wrapper's own retry must have run"
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_service_ends_in_retry_exhausted_and_dead_letters_replay() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), |c| c).await;
    let (grpc, http) = (emu.grpc_addr(), emu.http_addr());
    let cfg = config(&emu, dir.path())
        .retry_max_attempts(3)
        .build()
        .unwrap();
    let wrapper = ZerobusWrapper::new(cfg.clone()).unwrap();
    wrapper
        .send_batch(&batch(0..1000))
        .await
        .expect("first batch lands");
    emu.shutdown().await;

    let started = Instant::now();
    let err = wrapper
        .send_batch(&batch(1000..4000))
        .await
        .expect_err("the service is gone");
    let ZerobusError::RetryExhausted {
        attempts,
        rows,
        dead_letter,
        ..
    } = &err
    else {
        panic!("expected RetryExhausted, got {err:?}");
    };
    println!(
        "RetryExhausted after {attempts} attempts in {:?}: {err}",
        started.elapsed()
    );
    assert_eq!(*attempts, 3);
    assert_eq!(*rows, 3000);
    // The SDK's error is kept whole as the source, not only as text.
    let source = std::error::Error::source(&err).expect("a source");
    assert!(
        source
            .downcast_ref::<databricks_zerobus_ingest_sdk::ZerobusError>()
            .is_some(),
        "source is the SDK's error: {source:?}"
    );
    let path = dead_letter.clone().expect("a dead-letter file");
    assert!(err.to_string().contains(&path.display().to_string()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let (table, dead) = arrow_zerobus_sdk_wrapper::dead_letter::read_dead_letters(&path).unwrap();
    assert_eq!(table.as_deref(), Some(TABLE));
    let ids: Vec<i64> = dead
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    assert_eq!(
        ids,
        (1000..4000).collect::<Vec<_>>(),
        "exactly the unacknowledged rows"
    );

    // The service comes back on the same warehouse and ports: replay completes the table.
    let emu = emulator(dir.path(), |c| c.with_grpc_addr(grpc).with_http_addr(http)).await;
    let replayed = ZerobusWrapper::new(cfg)
        .unwrap()
        .replay_dead_letters(&path)
        .await
        .unwrap();
    assert_eq!(replayed, 3000);
    assert!(!path.exists() && Path::new(&format!("{}.replayed", path.display())).exists());
    assert_eq!(landed(&emu, 4000).await, (4000, 4000, 0, 0));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_batches_are_refused_before_anything_is_sent() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), |c| c).await;
    let wrapper = ZerobusWrapper::new(config(&emu, dir.path()).build().unwrap()).unwrap();

    let extra = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("surprise", DataType::Utf8, true),
    ]));
    let b = RecordBatch::try_new(
        extra,
        vec![
            Arc::new(Int64Array::from(vec![1])),
            Arc::new(StringArray::from(vec!["x"])),
        ],
    )
    .unwrap();
    let err = wrapper.send_batch(&b).await.unwrap_err();
    assert!(matches!(err, ZerobusError::Conversion(_)), "{err:?}");
    assert!(
        err.to_string().contains("'main.default.events'")
            && err.to_string().contains("column 'surprise'"),
        "{err}"
    );

    let nullable = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)]));
    let b = RecordBatch::try_new(
        nullable,
        vec![Arc::new(Int64Array::from(vec![Some(1), Some(2), None]))],
    )
    .unwrap();
    let err = wrapper.send_batch(&b).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("column 'id' is NOT NULL in the table but row 2 is null"),
        "{err}"
    );

    let big = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("payload", DataType::Utf8, true),
    ]));
    let huge = "x".repeat(11 * 1024 * 1024);
    let b = RecordBatch::try_new(
        big,
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(StringArray::from(vec!["small", huge.as_str()])),
        ],
    )
    .unwrap();
    let err = wrapper.send_batch(&b).await.unwrap_err();
    assert!(
        matches!(err, ZerobusError::Conversion(_)) && err.to_string().contains("row 1"),
        "{err}"
    );

    let empty = batch(0..0);
    let r = wrapper.send_batch(&empty).await.unwrap();
    assert_eq!((r.success, r.rows, r.attempts), (true, 0, 0));

    assert_eq!(emu.streams_opened(), 0, "nothing was sent");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_an_authentication_error_without_the_secret() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), |c| c).await;
    let cfg = config(&emu, dir.path())
        .client_secret("definitely-wrong-secret")
        .build()
        .unwrap();
    let err = ZerobusWrapper::new(cfg)
        .unwrap()
        .send_batch(&batch(0..10))
        .await
        .unwrap_err();
    assert!(matches!(err, ZerobusError::Authentication(_)), "{err:?}");
    assert!(
        !err.to_string().contains("definitely-wrong-secret")
            && !format!("{err:?}").contains("definitely-wrong-secret")
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_files_hold_the_batches_and_their_records() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), |c| c).await;
    let debug_dir = dir.path().join("debug");
    let cfg = config(&emu, dir.path())
        .debug_enabled(true)
        .debug_output_dir(&debug_dir)
        .debug_max_file_size(64 * 1024)
        .build()
        .unwrap();
    let wrapper = ZerobusWrapper::new(cfg).unwrap();
    for k in 0..4 {
        wrapper
            .send_batch(&batch(k * 2000..(k + 1) * 2000))
            .await
            .unwrap();
    }
    wrapper.shutdown().await.unwrap();
    let files = wrapper.debug_files();
    assert!(
        files.len() >= 4,
        "rotation at 64 KiB must have produced several file pairs: {files:?}"
    );
    let mut ids = Vec::new();
    let mut records = 0;
    for f in &files {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(f).unwrap().permissions().mode() & 0o777,
                0o600,
                "{f:?}"
            );
        }
        let bytes = std::fs::read(f).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains(emu.client_secret()));
        if f.extension().unwrap() == "arrows" {
            let reader =
                arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
                    .unwrap();
            for b in reader {
                ids.extend(
                    b.unwrap()
                        .column(0)
                        .as_primitive::<Int64Type>()
                        .values()
                        .iter()
                        .copied(),
                );
            }
        } else {
            let mut buf = bytes.as_slice();
            while !buf.is_empty() {
                let len = prost::encoding::decode_varint(&mut buf).unwrap() as usize;
                buf = &buf[len..];
                records += 1;
            }
        }
    }
    assert_eq!(ids, (0..8000).collect::<Vec<_>>());
    assert_eq!(records, 8000);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_later_than_the_ack_timeout_end_in_dead_letters_not_in_loss() {
    init();
    let dir = tempfile::tempdir().unwrap();
    // Every acknowledgement comes 1.5 s after its request; the wrapper waits 400 ms.
    let emu = emulator(dir.path(), |c| {
        c.with_faults(Faults {
            ack_delay: Duration::from_millis(1500),
            ..Faults::default()
        })
    })
    .await;
    let wrapper = ZerobusWrapper::new(
        config(&emu, dir.path())
            .ack_timeout_ms(400)
            .retry_max_attempts(3)
            .build()
            .unwrap(),
    )
    .unwrap();
    let started = Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(60), wrapper.send_batch(&batch(0..500)))
        .await
        .expect("the ack timeout ends the wait")
        .expect_err("no acknowledgement arrives in time");
    println!("after {:?}: {err}", started.elapsed());
    let ZerobusError::RetryExhausted {
        attempts,
        rows,
        dead_letter: Some(path),
        ..
    } = &err
    else {
        panic!("expected RetryExhausted with a dead-letter file, got {err:?}");
    };
    assert_eq!((*attempts, *rows), (3, 500));
    let (_, dead) = arrow_zerobus_sdk_wrapper::dead_letter::read_dead_letters(path).unwrap();
    let dead_ids: Vec<i64> = dead
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    assert_eq!(
        dead_ids,
        (0..500).collect::<Vec<_>>(),
        "every unacknowledged row"
    );
    wrapper.shutdown().await.ok();
    emu.shutdown().await;

    // Acks within the timeout: the same knob, the batch lands at the first attempt.
    let emu = emulator(dir.path(), |c| {
        c.with_faults(Faults {
            ack_delay: Duration::from_millis(300),
            ..Faults::default()
        })
    })
    .await;
    let wrapper = ZerobusWrapper::new(
        config(&emu, dir.path())
            .ack_timeout_ms(2_000)
            .build()
            .unwrap(),
    )
    .unwrap();
    let r = wrapper.send_batch(&batch(500..1000)).await.unwrap();
    assert_eq!((r.rows, r.attempts), (500, 1));
    wrapper.shutdown().await.unwrap();
    emu.shutdown().await;
}

/// A load of many batches that loses the service half-way: ONE error with the account of
/// every row (acknowledged + dead-lettered = read, every file named, input not finished),
/// and replaying the directory on a service that is back completes exactly what was read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_that_fails_accounts_for_every_row_and_replays_whole() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), |c| c).await;
    let (grpc, http) = (emu.grpc_addr(), emu.http_addr());
    let cfg = config(&emu, dir.path())
        .retry_max_attempts(2)
        .build()
        .unwrap();
    let wrapper = ZerobusWrapper::new(cfg.clone()).unwrap();
    // 80 batches of 500 rows; the service goes away when batch 40 is pulled (after the
    // first sends settled: up to 34 batches are in flight with the default lanes).
    let input = futures::stream::unfold((0i64, Some(emu)), |(k, mut emu)| async move {
        if k == 80 {
            return None;
        }
        if k == 40 {
            if let Some(e) = emu.take() {
                e.shutdown().await;
            }
        }
        Some((
            Ok::<_, std::convert::Infallible>(batch(k * 500..(k + 1) * 500)),
            (k + 1, emu),
        ))
    });
    let err = wrapper
        .send_all(input, &|_| {})
        .await
        .expect_err("the service went away");
    println!("{err}");
    assert_eq!(err.kind(), "RetryExhausted");
    let ZerobusError::LoadIncomplete(f) = &err else {
        panic!("expected the load's account, got {err:?}");
    };
    assert!(!f.input_complete && f.rows_read < 40_000, "reading stopped");
    assert_eq!(f.rows_read % 500, 0);
    assert_eq!(f.rows_acknowledged + f.rows_dead_lettered, f.rows_read);
    assert!(
        f.rows_acknowledged >= 10_000,
        "batches before the outage landed"
    );
    assert_eq!(f.rows_unaccounted, 0);
    let mut in_files = 0;
    for p in &f.dead_letters {
        assert!(err.to_string().contains(&p.display().to_string()));
        let (_, batches) = arrow_zerobus_sdk_wrapper::dead_letter::read_dead_letters(p).unwrap();
        in_files += batches.iter().map(|b| b.num_rows() as u64).sum::<u64>();
    }
    assert_eq!(in_files, f.rows_dead_lettered);
    assert!(
        f.dead_letters.len() > 1,
        "every failed batch's file is named"
    );

    let emu = emulator(dir.path(), |c| c.with_grpc_addr(grpc).with_http_addr(http)).await;
    let replayer = ZerobusWrapper::new(cfg).unwrap();
    let replayed = replayer
        .replay_dead_letters(&dir.path().join("dead"))
        .await
        .unwrap();
    assert_eq!(replayed as u64, f.rows_dead_lettered);
    let (_, distinct, _, missing) = landed(&emu, f.rows_read as i64).await;
    assert_eq!((distinct as u64, missing), (f.rows_read, 0));
    for p in &f.dead_letters {
        assert!(!p.exists(), "a replayed file is retired");
    }
    emu.shutdown().await;
}

/// A replay that fails part-way: the file is retired, and its rows are either in the
/// table or in the new dead-letter files named by the error — never both kept and sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_that_fails_part_way_keeps_each_row_once() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), |c| c).await;
    let cfg = config(&emu, dir.path())
        .retry_max_attempts(1)
        .build()
        .unwrap();
    let dead = dir.path().join("dead");
    let path = arrow_zerobus_sdk_wrapper::dead_letter::write_dead_letters(
        &dead,
        TABLE,
        &[batch(0..100), batch(100..200), batch(200..300)],
    )
    .unwrap();
    // A batch the table refuses in the middle: the emulator's table has no column 'extra'.
    let bad = {
        let mut fields: Vec<Field> = schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new("extra", DataType::Int64, true));
        let b = batch(300..400);
        let mut cols = b.columns().to_vec();
        cols.push(Arc::new(Int64Array::from(vec![1i64; 100])));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
    };
    let bad_path =
        arrow_zerobus_sdk_wrapper::dead_letter::write_dead_letters(&dead, TABLE, &[bad]).unwrap();
    let wrapper = ZerobusWrapper::new(cfg).unwrap();
    assert_eq!(wrapper.replay_dead_letters(&path).await.unwrap(), 300);
    let err = wrapper.replay_dead_letters(&bad_path).await.unwrap_err();
    println!("{err}");
    let ZerobusError::LoadIncomplete(f) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(err.kind(), "ConversionError");
    assert_eq!((f.rows_acknowledged, f.rows_dead_lettered), (0, 100));
    assert!(!bad_path.exists(), "the replayed file is retired");
    assert!(f.dead_letters.iter().all(|p| p.exists()));
    assert_eq!(landed(&emu, 300).await, (300, 300, 0, 0));
    emu.shutdown().await;
}

/// One batch whose request the service refuses, among 15 good ones in flight on the same
/// stream: only that batch is final (its rows dead-lettered); the others are resent on
/// streams of their own and land.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_refused_batch_does_not_fail_its_neighbours() {
    refused_batch_among_neighbours(Transport::Proto).await;
}

/// Over Arrow Flight the service refuses a whole message: the batch is resent alone,
/// refused again, and dead-lettered alone, as over proto.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_refused_batch_does_not_fail_its_neighbours_over_flight() {
    refused_batch_among_neighbours(Transport::Flight).await;
}

async fn refused_batch_among_neighbours(transport: Transport) {
    init();
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), |c| {
        c.with_faults(Faults {
            refuse_records_containing: Some(b"POISON".to_vec()),
            ..Faults::default()
        })
    })
    .await;
    let wrapper = ZerobusWrapper::new(
        config(&emu, dir.path())
            .retry_max_attempts(3)
            .transport(transport)
            .build()
            .unwrap(),
    )
    .unwrap();
    let poisoned = |k: i64| {
        let b = batch(k * 500..(k + 1) * 500);
        if k != 7 {
            return b;
        }
        let mut payload: Vec<Option<String>> = b
            .column(1)
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect();
        payload[3] = Some("POISON".into());
        let mut cols = b.columns().to_vec();
        cols[1] = Arc::new(StringArray::from(payload));
        RecordBatch::try_new(b.schema(), cols).unwrap()
    };
    let input =
        futures::stream::iter((0..16).map(|k| Ok::<_, std::convert::Infallible>(poisoned(k))));
    let err = wrapper
        .send_all(input, &|_| {})
        .await
        .expect_err("batch 7 is refused");
    println!("{err}");
    let ZerobusError::LoadIncomplete(f) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(err.kind(), "TransmissionError");
    assert_eq!(
        (f.rows_acknowledged, f.rows_dead_lettered),
        (7_500, 500),
        "{err}"
    );
    assert_eq!(f.dead_letters.len(), 1);
    let (_, dead) =
        arrow_zerobus_sdk_wrapper::dead_letter::read_dead_letters(&f.dead_letters[0]).unwrap();
    assert_eq!(
        dead[0].column(0).as_primitive::<Int64Type>().value(0),
        3_500
    );
    wrapper.shutdown().await.unwrap();
    let (_, distinct, _, missing) = landed(&emu, 8_000).await;
    assert_eq!((distinct, missing), (7_500, 500));
    emu.shutdown().await;
}

/// `flush` waits for every send that began before it, also those retrying after their
/// stream was replaced (30 % of all requests fail here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_waits_for_sends_retrying_on_replaced_streams() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), |c| {
        c.with_faults(Faults {
            unavailable_rate: 0.3,
            ..Faults::default()
        })
    })
    .await;
    let wrapper = ZerobusWrapper::new(
        config(&emu, dir.path())
            .retry_max_attempts(30)
            .retry_max_delay_ms(50)
            .build()
            .unwrap(),
    )
    .unwrap();
    // Sends and flush in one task: a send counts itself done in the same poll in which it
    // ends, so what flush sees when it returns is exact.
    let done = std::sync::atomic::AtomicUsize::new(0);
    let sends = futures::future::join_all((0..8).map(|k| {
        let (w, done) = (&wrapper, &done);
        async move {
            let r = w.send_batch(&batch(k * 100..(k + 1) * 100)).await;
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            r
        }
    }));
    let flush = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        wrapper.flush().await.unwrap();
        done.load(std::sync::atomic::Ordering::SeqCst)
    };
    let (results, seen_by_flush) = tokio::join!(sends, flush);
    assert_eq!(
        seen_by_flush, 8,
        "flush returned while sends were still retrying"
    );
    // Each ended landed or dead-lettered (a shared stream's failure charges an attempt to
    // every batch on it, so a few may run out of attempts at this fault rate).
    for r in results {
        match r {
            Ok(_)
            | Err(ZerobusError::RetryExhausted {
                dead_letter: Some(_),
                ..
            }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    emu.shutdown().await;
}

/// A dead-letter file that cannot be written is reported with its IO error (it said
/// "none configured"); file names carry the process id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_write_that_fails_says_why() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), |c| c).await;
    let not_a_dir = dir.path().join("a-file");
    std::fs::write(&not_a_dir, b"x").unwrap();
    let cfg = config(&emu, dir.path())
        .retry_max_attempts(1)
        .dead_letter_dir(&not_a_dir)
        .build()
        .unwrap();
    let good = config(&emu, dir.path())
        .retry_max_attempts(1)
        .build()
        .unwrap();
    let bad_dir = ZerobusWrapper::new(cfg).unwrap();
    let good_dir = ZerobusWrapper::new(good).unwrap();
    // Both know the table before the service goes away.
    bad_dir.send_batch(&batch(0..10)).await.unwrap();
    good_dir.send_batch(&batch(10..20)).await.unwrap();
    emu.shutdown().await;
    let err = bad_dir.send_batch(&batch(20..30)).await.unwrap_err();
    let ZerobusError::RetryExhausted {
        dead_letter: None,
        dead_letter_error: Some(why),
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert!(why.contains("a-file"), "{why}");
    assert!(
        err.to_string()
            .contains("could not be written to a dead-letter file: "),
        "{err}"
    );
    assert!(!err.to_string().contains("none configured"), "{err}");
    let err = good_dir.send_batch(&batch(30..40)).await.unwrap_err();
    let path = err.dead_letters().pop().expect("a dead-letter file");
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(path.is_absolute(), "{}", path.display());
    assert!(
        name.contains(&format!(".{}.", std::process::id())),
        "{name}"
    );
}

/// A load whose future is dropped half-way, its wrapper with it (a cancelled INSERT drops
/// the statement's wrapper; a cancelled asyncio task likewise): the batches it had in
/// flight still finish on their own (retries included), so every row it took from the input
/// lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_load_still_lands_the_batches_it_had_in_flight() {
    use futures::StreamExt;
    init();
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), |c| {
        c.with_faults(Faults {
            ack_delay: Duration::from_millis(300),
            unavailable_rate: 0.3,
            ..Faults::default()
        })
    })
    .await;
    let pulled = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let counter = pulled.clone();
    let input = futures::stream::iter(0..200i64).map(move |k| {
        counter.store((k + 1) * 500, std::sync::atomic::Ordering::SeqCst);
        Ok::<_, std::convert::Infallible>(batch(k * 500..(k + 1) * 500))
    });
    // Requests fail too (30 %): what was in flight needs retries after the drop.
    let cfg = config(&emu, dir.path())
        .retry_max_attempts(30)
        .build()
        .unwrap();
    let wrapper = ZerobusWrapper::new(cfg).unwrap();
    let load = async move { wrapper.send_all(input, &|_| {}).await };
    assert!(
        tokio::time::timeout(Duration::from_millis(700), load)
            .await
            .is_err(),
        "the load was still running when it was dropped"
    );
    let taken = pulled.load(std::sync::atomic::Ordering::SeqCst);
    assert!(taken > 0 && taken < 100_000, "{taken}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, distinct, _, missing) = landed(&emu, taken).await;
        if missing == 0 {
            assert_eq!(distinct as i64, taken, "nothing beyond what was taken");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} of the {taken} rows taken from the input never landed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    emu.shutdown().await;
}

/// The ids in the dead-letter files under `dir`.
fn dead_lettered_ids(dir: &Path) -> Vec<i64> {
    let mut ids = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return ids;
    };
    for e in entries.flatten() {
        let (_, batches) =
            arrow_zerobus_sdk_wrapper::dead_letter::read_dead_letters(&e.path()).unwrap();
        for b in batches {
            let id = b.column_by_name("id").unwrap().as_primitive::<Int64Type>();
            ids.extend(id.values().iter().copied());
        }
    }
    ids
}

/// Every id of 0..n landed or in a dead-letter file under `dir` (waiting up to 60 s for
/// sends still finishing); returns (landed, dead-lettered).
async fn every_id_accounted(emu: &EmulatorHandle, dir: &Path, n: i64) -> (usize, usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, distinct, _, _) = landed(emu, n).await;
        let dead = dead_lettered_ids(dir);
        let batches = zerobus_emulator::storage::read_table(&emu.table_location(TABLE).unwrap())
            .await
            .unwrap();
        let mut seen: std::collections::HashSet<i64> = dead.iter().copied().collect();
        for b in &batches {
            seen.extend(
                b.column_by_name("id")
                    .unwrap()
                    .as_primitive::<Int64Type>()
                    .values()
                    .iter(),
            );
        }
        if (0..n).all(|i| seen.contains(&i)) {
            return (distinct, dead.len());
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} rows neither landed nor dead-lettered",
            (0..n).filter(|i| !seen.contains(i)).count()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One large batch is split into parts, of which only some can be in flight: when the
/// caller drops the load (an asyncio timeout, a cancelled query), the parts not started
/// go to a dead-letter file instead of nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_load_dead_letters_the_parts_it_had_not_started() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), |c| {
        c.with_faults(Faults {
            ack_delay: Duration::from_millis(500),
            ..Faults::default()
        })
    })
    .await;
    let n = 800_000; // 40 parts of 20,000 rows, more than can be in flight
    let big = batch(0..n);
    let wrapper =
        ZerobusWrapper::new(config(&emu, dir.path()).max_streams(2).build().unwrap()).unwrap();
    assert!(wrapper.max_in_flight() < 40);
    let input = futures::stream::iter([Ok::<_, std::convert::Infallible>(big)]);
    let load = wrapper.send_all(input, &|_| {});
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), load)
            .await
            .is_err(),
        "the load was still running when it was dropped"
    );
    let (landed_ids, dead) = every_id_accounted(&emu, &dir.path().join("dead"), n).await;
    println!("dropped load: {landed_ids} rows landed, {dead} dead-lettered");
    assert!(dead > 0, "parts were left unsent by the drop");
    emu.shutdown().await;
}

/// `shutdown` while a split batch is being sent: the parts not yet sent are not sent
/// (no stream opens after shutdown) but dead-lettered, and the load's account adds up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_of_a_split_batch_are_not_sent_after_shutdown() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), |c| {
        c.with_faults(Faults {
            ack_delay: Duration::from_millis(500),
            ..Faults::default()
        })
    })
    .await;
    let n = 800_000;
    let big = batch(0..n);
    let wrapper =
        ZerobusWrapper::new(config(&emu, dir.path()).max_streams(2).build().unwrap()).unwrap();
    let w = wrapper.clone();
    let load = tokio::spawn(async move {
        let input = futures::stream::iter([Ok::<_, std::convert::Infallible>(big)]);
        w.send_all(input, &|_| {}).await
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    wrapper.shutdown().await.unwrap();
    let opened = emu.streams_opened();
    let e = load.await.unwrap().unwrap_err();
    let ZerobusError::LoadIncomplete(f) = &e else {
        panic!("not a load account: {e}");
    };
    println!("{e}");
    assert_eq!(f.rows_read, n as u64);
    assert_eq!(
        f.rows_acknowledged + f.rows_dead_lettered,
        n as u64,
        "every row read is acknowledged or dead-lettered: {e}"
    );
    assert!(f.rows_dead_lettered > 0, "{e}");
    assert_eq!(
        emu.streams_opened(),
        opened,
        "no stream opened after shutdown"
    );
    every_id_accounted(&emu, &dir.path().join("dead"), n).await;
    emu.shutdown().await;
}

/// Replay sends only files it can show are ours: a symbolic link, a file writable by
/// others, a file named otherwise or an Arrow file naming no table is refused by name,
/// and nothing of it is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_refuses_files_it_cannot_trust() {
    use std::os::unix::fs::PermissionsExt;
    init();
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), |c| c).await;
    let wrapper = ZerobusWrapper::new(config(&emu, dir.path()).build().unwrap()).unwrap();
    let good = arrow_zerobus_sdk_wrapper::dead_letter::write_dead_letters(
        &dir.path().join("dead"),
        TABLE,
        &[batch(0..10)],
    )
    .unwrap();
    let mode = std::fs::metadata(dir.path().join("dead"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "the directory is created owner-only");
    let planted = dir.path().join("planted");
    std::fs::create_dir(&planted).unwrap();
    // A symbolic link to a real dead-letter file.
    let link = planted.join("link.dead.arrow");
    std::os::unix::fs::symlink(&good, &link).unwrap();
    // A copy that others may write.
    let open = planted.join("open.dead.arrow");
    std::fs::copy(&good, &open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o666)).unwrap();
    // An Arrow IPC file without the table in its metadata.
    let foreign = planted.join("foreign.dead.arrow");
    {
        let file = std::fs::File::create(&foreign).unwrap();
        let b = batch(0..10);
        let mut w = arrow::ipc::writer::FileWriter::try_new(file, &b.schema()).unwrap();
        w.write(&b).unwrap();
        w.finish().unwrap();
    }
    // Another name.
    let named = planted.join("rows.arrow");
    std::fs::copy(&good, &named).unwrap();
    for (path, says) in [
        (&link, "symbolic link"),
        (&open, "lets group or others write it"),
        (&foreign, "names no table"),
        (&named, "does not end with .dead.arrow"),
    ] {
        let e = wrapper
            .replay_dead_letters(path)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&path.display().to_string()) && e.contains(says),
            "{e}"
        );
    }
    // A directory of them: the first untrusted one stops the replay before any send.
    assert!(wrapper.replay_dead_letters(&planted).await.is_err());
    assert_eq!(emu.streams_opened(), 0, "nothing was sent");
    // The real one, and a copy the user made (0644), replay.
    let copy = dir.path().join("dead").join("copy.dead.arrow");
    std::fs::copy(&good, &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(
        wrapper
            .replay_dead_letters(&dir.path().join("dead"))
            .await
            .unwrap(),
        20
    );
    wrapper.shutdown().await.unwrap();
    emu.shutdown().await;
}
