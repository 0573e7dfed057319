//! SQL into Zerobus through DataFusion, against the in-process emulator: what lands in
//! Delta (read back) equals the query result, nested types and nulls included.

#![cfg(feature = "datafusion")]

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::{concat_batches, sort_to_indices, take_record_batch};
use arrow::datatypes::UInt64Type;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use arrow_zerobus_sdk_wrapper::datafusion::{register, sql};
use arrow_zerobus_sdk_wrapper::{WrapperConfig, ZerobusConnection};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use zerobus_emulator::{Emulator, EmulatorConfig, EmulatorHandle, Faults};

const TABLE: &str = "main.default.sink_t";
const COLUMNS: &str = "id BIGINT NOT NULL, name STRING, score DOUBLE, tags ARRAY<STRING>, \
    attrs MAP<STRING, BIGINT>, s STRUCT<a: INT, b: STRING>, ts TIMESTAMP, d DATE, amount DECIMAL(10,2)";

/// The rows to insert, as SQL over `src` (a table with one BIGINT column `n`).
const SELECT: &str = "SELECT n AS id, \
    CASE WHEN n % 7 = 0 THEN NULL ELSE concat('név-', CAST(n AS VARCHAR)) END AS name, \
    CAST(n AS DOUBLE) / 4 AS score, \
    CASE WHEN n % 3 = 0 THEN make_array('a', 'b') ELSE make_array(concat('t', CAST(n AS VARCHAR))) END AS tags, \
    map(['k1', 'k2'], [n, n * 2]) AS attrs, \
    CASE WHEN n % 5 = 0 THEN NULL ELSE named_struct('a', CAST(n % 1000 AS INT), 'b', CAST(n AS VARCHAR)) END AS s, \
    arrow_cast(to_timestamp_micros(1700000000000000 + n), 'Timestamp(Microsecond, Some(\"UTC\"))') AS ts, \
    CAST(CAST(19000 + n % 365 AS INT) AS DATE) AS d, \
    CAST(CAST(n AS DOUBLE) / 100 AS DECIMAL(10,2)) AS amount \
    FROM src";

fn init() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "warn,deltalake_core::writer::stats=error",
        ))
        .with_test_writer()
        .try_init();
}

async fn setup(dir: &Path, faults: Faults) -> (EmulatorHandle, SessionContext) {
    init();
    let emu = Emulator::start(EmulatorConfig::new(dir.join("warehouse")).with_faults(faults))
        .await
        .unwrap();
    emu.create_table(TABLE, COLUMNS).await.unwrap();
    let template = ZerobusConnection::new(emu.grpc_url())
        .client_id(emu.client_id())
        .client_secret(emu.client_secret())
        .unity_catalog_url(emu.http_url())
        .dead_letter_dir(dir.join("dead"))
        .retry_base_delay_ms(20)
        .retry_max_attempts(30)
        .validated()
        .unwrap();
    let ctx = SessionContext::new();
    register(&ctx, "zerobus", template);
    (emu, ctx)
}

/// A source of `n` rows split over `partitions` partitions.
fn source(ctx: &SessionContext, n: u64, partitions: u64) {
    let schema = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("n", arrow::datatypes::DataType::Int64, false),
    ]));
    let per = n / partitions;
    let parts: Vec<Vec<RecordBatch>> = (0..partitions)
        .map(|p| {
            let ids: Vec<i64> = ((p * per) as i64..((p + 1) * per) as i64).collect();
            vec![RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(arrow::array::Int64Array::from(ids))],
            )
            .unwrap()]
        })
        .collect();
    let _ = ctx.deregister_table("src");
    ctx.register_table("src", Arc::new(MemTable::try_new(schema, parts).unwrap()))
        .unwrap();
}

fn sorted_by_id(batches: &[RecordBatch]) -> RecordBatch {
    let all = concat_batches(&batches[0].schema(), batches).unwrap();
    let idx = sort_to_indices(all.column_by_name("id").unwrap(), None, None).unwrap();
    take_record_batch(&all, &idx).unwrap()
}

fn cells(col: &ArrayRef) -> Vec<String> {
    let opts = FormatOptions::default().with_null("NULL");
    let f = ArrayFormatter::try_new(col.as_ref(), &opts).unwrap();
    (0..col.len()).map(|i| f.value(i).to_string()).collect()
}

async fn inserted_count(ctx: &SessionContext, query: &str) -> u64 {
    let out = sql(ctx, query).await.unwrap().collect().await.unwrap();
    out[0].column(0).as_primitive::<UInt64Type>().value(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_from_a_four_partition_source_lands_every_row_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, ctx) = setup(dir.path(), Faults::default()).await;
    source(&ctx, 40_000, 4);
    let count = inserted_count(
        &ctx,
        &format!("INSERT INTO zerobus.main.default.sink_t {SELECT}"),
    )
    .await;
    assert_eq!(
        count, 40_000,
        "the count is every row of all four partitions"
    );

    let expected = sorted_by_id(&ctx.sql(SELECT).await.unwrap().collect().await.unwrap());
    let landed = sorted_by_id(
        &zerobus_emulator::storage::read_table(&emu.table_location(TABLE).unwrap())
            .await
            .unwrap(),
    );
    assert_eq!(landed.num_rows(), 40_000);
    for field in expected.schema().fields() {
        let want = cells(expected.column_by_name(field.name()).unwrap());
        let got = cells(landed.column_by_name(field.name()).unwrap());
        for (i, (w, g)) in want.iter().zip(&got).enumerate() {
            assert_eq!(g, w, "column {} row {i}", field.name());
        }
    }
    emu.shutdown().await;
}

/// `OPTIONS ('transport' 'flight')`: the INSERT travels as Arrow batches over Arrow
/// Flight, nested types, nulls and faults included, and lands what the query says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_over_arrow_flight_lands_every_row_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Faults {
        close_stream_after_records: Some(6_000),
        ..Faults::default()
    };
    let (emu, ctx) = setup(dir.path(), faults).await;
    source(&ctx, 40_000, 4);
    ctx.sql(
        "CREATE EXTERNAL TABLE flown STORED AS ZEROBUS LOCATION 'main.default.sink_t' \
         OPTIONS ('transport' 'flight', 'flight_compression' 'zstd')",
    )
    .await
    .unwrap();
    let count = inserted_count(&ctx, &format!("INSERT INTO flown {SELECT}")).await;
    assert_eq!(count, 40_000);
    let expected = sorted_by_id(&ctx.sql(SELECT).await.unwrap().collect().await.unwrap());
    let landed = sorted_by_id(
        &zerobus_emulator::storage::read_table(&emu.table_location(TABLE).unwrap())
            .await
            .unwrap(),
    );
    let ids = landed.column_by_name("id").unwrap();
    let distinct: std::collections::BTreeSet<String> = cells(ids).into_iter().collect();
    assert_eq!(distinct.len(), 40_000, "every id landed");
    // A planned close may land a message twice (at least once): compare the first copy.
    let first: Vec<u32> = (0..landed.num_rows())
        .filter(|&i| i == 0 || cells(&ids.slice(i, 1)) != cells(&ids.slice(i - 1, 1)))
        .map(|i| i as u32)
        .collect();
    let landed = take_record_batch(&landed, &arrow::array::UInt32Array::from(first)).unwrap();
    let stats = emu.stats();
    println!("rows in table {}, stats {stats:?}", ids.len());
    for field in expected.schema().fields() {
        let want = cells(expected.column_by_name(field.name()).unwrap());
        let got = cells(landed.column_by_name(field.name()).unwrap());
        for (i, (w, g)) in want.iter().zip(&got).enumerate() {
            assert_eq!(g, w, "column {} row {i}", field.name());
        }
    }
    let bad = ctx
        .sql("CREATE EXTERNAL TABLE nope STORED AS ZEROBUS LOCATION 'main.default.sink_t' OPTIONS ('transport' 'carrier-pigeon')")
        .await;
    let e = match bad {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("OPTIONS transport 'carrier-pigeon' is not proto or flight"),
        "{e}"
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_part_spelling_and_create_external_table_work_too() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, ctx) = setup(dir.path(), Faults::default()).await;
    source(&ctx, 1000, 1);
    let out = ctx
        .sql(&format!(
            "INSERT INTO zerobus.\"main.default\".sink_t {SELECT} WHERE n < 500"
        ))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(out[0].column(0).as_primitive::<UInt64Type>().value(0), 500);

    ctx.sql("CREATE EXTERNAL TABLE events STORED AS ZEROBUS LOCATION 'main.default.sink_t'")
        .await
        .unwrap();
    let n = inserted_count(
        &ctx,
        &format!("INSERT INTO events {SELECT} WHERE n >= 500 AND n < 800"),
    )
    .await;
    assert_eq!(n, 300);

    // A column list in the DDL replaces the UC look-up.
    ctx.sql("CREATE EXTERNAL TABLE narrow (id BIGINT NOT NULL, name VARCHAR) STORED AS ZEROBUS LOCATION 'main.default.sink_t'")
        .await
        .unwrap();
    let n = inserted_count(
        &ctx,
        "INSERT INTO narrow SELECT n, 'from ddl' FROM src WHERE n >= 800",
    )
    .await;
    assert_eq!(n, 200);

    let landed = sorted_by_id(
        &zerobus_emulator::storage::read_table(&emu.table_location(TABLE).unwrap())
            .await
            .unwrap(),
    );
    let ids = landed
        .column_by_name("id")
        .unwrap()
        .as_primitive::<arrow::datatypes::Int64Type>();
    assert_eq!(ids.values().to_vec(), (0..1000).collect::<Vec<i64>>());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_statements_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, ctx) = setup(dir.path(), Faults::default()).await;
    source(&ctx, 10, 1);
    let err = |e: datafusion::error::DataFusionError| e.to_string();

    let e = match sql(&ctx, "SELECT * FROM zerobus.main.default.sink_t").await {
        Ok(df) => err(df.collect().await.unwrap_err()),
        Err(e) => err(e),
    };
    assert!(e.contains("write-only"), "{e}");

    let e = match sql(
        &ctx,
        &format!("INSERT OVERWRITE zerobus.main.default.sink_t {SELECT}"),
    )
    .await
    {
        Ok(df) => err(df.collect().await.unwrap_err()),
        Err(e) => err(e),
    };
    assert!(e.contains("only appends"), "{e}");

    let e = err(sql(
        &ctx,
        "INSERT INTO zerobus.main.default.nope SELECT n FROM src",
    )
    .await
    .unwrap_err());
    assert!(e.contains("nope"), "{e}");

    let e = match sql(
        &ctx,
        "INSERT INTO zerobus.main.default.sink_t (id, s) SELECT n, 'text' FROM src",
    )
    .await
    {
        Ok(df) => err(df.collect().await.unwrap_err()),
        Err(e) => err(e),
    };
    assert!(
        e.contains("Struct"),
        "a type that does not fit the table is refused: {e}"
    );
    assert_eq!(
        emu.streams_opened(),
        0,
        "nothing was sent for refused statements"
    );
    emu.shutdown().await;
}

/// Planning looks the table up once (the catalog, cached for 60 s), and the write's
/// partitions reuse that description instead of asking Unity Catalog again. COPY too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_looks_the_table_up_in_unity_catalog_once() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, ctx) = setup(dir.path(), Faults::default()).await;
    let lookups = || emu.stats().get(TABLE).map_or(0, |s| s.lookups);
    assert_eq!(
        lookups(),
        0,
        "setup created the table without describing it"
    );
    source(&ctx, 40_000, 4);
    let insert = format!("INSERT INTO zerobus.main.default.sink_t {SELECT}");
    assert_eq!(inserted_count(&ctx, &insert).await, 40_000);
    assert_eq!(lookups(), 1, "a 4-partition INSERT: one look-up");
    assert_eq!(inserted_count(&ctx, &insert).await, 40_000);
    assert_eq!(lookups(), 1, "the next INSERT within 60 s: the catalog's");
    let copy = format!("COPY ({SELECT}) TO 'zerobus://{TABLE}'");
    assert_eq!(inserted_count(&ctx, &copy).await, 40_000);
    assert_eq!(
        lookups(),
        2,
        "COPY: one look-up at planning, none when writing"
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_insert_survives_streams_dropped_mid_way() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, ctx) = setup(
        dir.path(),
        Faults {
            close_stream_after_records: Some(6_000),
            unavailable_rate: 0.02,
            ..Faults::default()
        },
    )
    .await;
    source(&ctx, 100_000, 4);
    let count = inserted_count(
        &ctx,
        &format!("INSERT INTO zerobus.main.default.sink_t {SELECT}"),
    )
    .await;
    assert_eq!(count, 100_000);
    let landed = zerobus_emulator::storage::read_table(&emu.table_location(TABLE).unwrap())
        .await
        .unwrap();
    let mut ids: Vec<i64> = landed
        .iter()
        .flat_map(|b| {
            b.column_by_name("id")
                .unwrap()
                .as_primitive::<arrow::datatypes::Int64Type>()
                .values()
                .to_vec()
        })
        .collect();
    let total = ids.len();
    ids.sort_unstable();
    ids.dedup();
    println!(
        "INSERT with faults: 100000 rows, {total} in table, {} duplicates, streams opened {}",
        total - ids.len(),
        emu.streams_opened()
    );
    assert_eq!(ids, (0..100_000).collect::<Vec<i64>>(), "every row present");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_to_a_zerobus_url_lands_every_row_and_checks_columns_when_planned() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, ctx) = setup(dir.path(), Faults::default()).await;
    source(&ctx, 20_000, 4);
    // Through sql(): STORED AS ZEROBUS is added for zerobus:// targets.
    let count = inserted_count(
        &ctx,
        &format!("COPY ({SELECT}) TO 'zerobus://main.default.sink_t'"),
    )
    .await;
    assert_eq!(count, 20_000, "COPY reports every row of four partitions");
    // Through plain DataFusion (ctx.sql), with the format written out.
    let out = ctx
        .sql("COPY (SELECT n + 20000 AS id FROM src) TO 'zerobus://main.default.sink_t' STORED AS ZEROBUS")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(
        out[0].column(0).as_primitive::<UInt64Type>().value(0),
        20_000
    );

    let expected = sorted_by_id(&ctx.sql(SELECT).await.unwrap().collect().await.unwrap());
    let landed = sorted_by_id(
        &zerobus_emulator::storage::read_table(&emu.table_location(TABLE).unwrap())
            .await
            .unwrap(),
    );
    assert_eq!(landed.num_rows(), 40_000);
    let ids = landed.column_by_name("id").unwrap();
    let ids = ids.as_primitive::<arrow::datatypes::Int64Type>();
    assert!(
        ids.values().iter().copied().eq(0..40_000),
        "ids 0..40000 exactly once"
    );
    let first = landed.slice(0, 20_000);
    for field in expected.schema().fields() {
        let want = cells(expected.column_by_name(field.name()).unwrap());
        let got = cells(first.column_by_name(field.name()).unwrap());
        assert_eq!(got, want, "column {}", field.name());
    }

    // Mismatches are found when the COPY is planned, before anything is sent.
    let before = emu.streams_opened();
    let err = sql(
        &ctx,
        "COPY (SELECT 'x' AS id, 1 AS nope FROM src) TO 'zerobus://main.default.sink_t'",
    )
    .await
    .unwrap()
    .collect()
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("'id'") && err.contains("'nope'") && err.contains(TABLE),
        "{err}"
    );
    let err = sql(
        &ctx,
        "COPY (SELECT 1 AS id) TO 'zerobus://main.default.absent'",
    )
    .await
    .unwrap()
    .collect()
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("main.default.absent") && err.contains("does not exist"),
        "{err}"
    );
    let err = sql(&ctx, "COPY (SELECT 1 AS id) TO 'zerobus://default.absent'")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("catalog.schema.table"), "{err}");
    assert_eq!(
        emu.streams_opened(),
        before,
        "no stream was opened for a refused COPY"
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_table_through_sql_works_on_the_emulator_only() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, ctx) = setup(dir.path(), Faults::default()).await;
    sql(
        &ctx,
        "CREATE TABLE zerobus.main.default.made (id BIGINT NOT NULL, tags ARRAY<STRING>, \
         s STRUCT<a: INT, b: STRING>, amount DECIMAL(12,3))",
    )
    .await
    .unwrap()
    .collect()
    .await
    .unwrap();
    assert!(emu.table_location("main.default.made").is_some());
    let count = inserted_count(
        &ctx,
        "INSERT INTO zerobus.main.default.made SELECT 7, make_array('x'), \
         named_struct('a', 1, 'b', 'y'), CAST(1.5 AS DECIMAL(12,3))",
    )
    .await;
    assert_eq!(count, 1);
    let landed =
        zerobus_emulator::storage::read_table(&emu.table_location("main.default.made").unwrap())
            .await
            .unwrap();
    let row = sorted_by_id(&landed);
    assert_eq!(
        cells(row.column_by_name("s").unwrap()),
        vec!["{a: 1, b: y}"]
    );
    assert_eq!(cells(row.column_by_name("amount").unwrap()), vec!["1.500"]);
    // IF NOT EXISTS on an existing table is a no-op; without it, a clear error.
    sql(
        &ctx,
        "CREATE TABLE IF NOT EXISTS zerobus.main.default.made (id BIGINT)",
    )
    .await
    .unwrap();
    let err = sql(&ctx, "CREATE TABLE zerobus.main.default.made (id BIGINT)")
        .await
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("main.default.made") && err.contains("exists"),
        "{err}"
    );
    let err = sql(
        &ctx,
        "CREATE TABLE zerobus.main.default.ctas AS SELECT 1 AS id",
    )
    .await
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert!(err.contains("AS SELECT is not supported"), "{err}");

    // A workspace that is not the emulator (its UC URL answers 404 to the probe).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(
                b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    let workspace = SessionContext::new();
    let template = WrapperConfig::builder(emu.grpc_url(), "a.b.c")
        .client_id("id")
        .client_secret("secret")
        .unity_catalog_url(format!("http://{addr}"))
        .build()
        .unwrap();
    register(&workspace, "zerobus", template.connection);
    let err = sql(
        &workspace,
        "CREATE TABLE zerobus.main.default.elsewhere (id BIGINT)",
    )
    .await
    .map(|_| ())
    .unwrap_err()
    .to_string();
    // Without a warehouse, a workspace cannot create a managed table: say what to set.
    assert!(
        err.contains("CREATE TABLE main.default.elsewhere")
            && err.contains("set warehouse_id (--warehouse-id, DATABRICKS_WAREHOUSE_ID)"),
        "{err}"
    );
    emu.shutdown().await;
}

/// What datafusion-python's optimizer does across the FFI (it cannot see the total's
/// single-partition requirement): a round-robin repartition under the write, and no
/// coalesce between the write and the total (the trap that lost iceberg-rust's rows).
/// Every partition writes on its own streams; every row lands; the count is exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_partition_writes_even_with_the_coalesce_dropped() {
    use arrow_zerobus_sdk_wrapper::datafusion::{
        write_plan, ZerobusSink, ZerobusTotalExec, ZerobusWriteExec,
    };
    use datafusion::physical_plan::repartition::RepartitionExec;
    use datafusion::physical_plan::{collect, ExecutionPlan, Partitioning};

    let dir = tempfile::tempdir().unwrap();
    let (emu, ctx) = setup(dir.path(), Faults::default()).await;
    // Four batches, round-robin over four partitions: each partition has rows to write.
    source(&ctx, 4_000, 4);
    let config = WrapperConfig::builder(emu.grpc_url(), TABLE)
        .client_id(emu.client_id())
        .client_secret(emu.client_secret())
        .unity_catalog_url(emu.http_url())
        .build()
        .unwrap();
    // A repartition runs once: a new one for each plan.
    let spread = || async {
        let scan = ctx
            .sql("SELECT n AS id FROM src")
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        let spread: Arc<dyn ExecutionPlan> =
            Arc::new(RepartitionExec::try_new(scan, Partitioning::RoundRobinBatch(4)).unwrap());
        let sink = ZerobusSink::new(config.clone(), spread.schema());
        (spread, sink)
    };
    // The plan as built, then the same without its coalesce.
    let (input, sink) = spread().await;
    let planned = write_plan(input, sink);
    assert_eq!(
        planned.children()[0].name(),
        "CoalescePartitionsExec",
        "{planned:?}"
    );
    let (input, sink) = spread().await;
    let dropped: Arc<dyn ExecutionPlan> = Arc::new(ZerobusTotalExec::new(Arc::new(
        ZerobusWriteExec::new(input, sink),
    )));
    let mut expected = Vec::new();
    for (round, plan) in [planned, dropped].into_iter().enumerate() {
        let before = emu.streams_opened();
        let out = collect(plan, ctx.task_ctx()).await.unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].column(0).as_primitive::<UInt64Type>().value(0),
            4_000,
            "round {round}"
        );
        // The partitions share one wrapper's lanes; every partition's ids are checked
        // below.
        assert!(emu.streams_opened() > before, "round {round}");
        expected.extend(0..4_000i64);
    }
    expected.sort_unstable();
    let landed = sorted_by_id(
        &zerobus_emulator::storage::read_table(&emu.table_location(TABLE).unwrap())
            .await
            .unwrap(),
    );
    let ids = landed.column_by_name("id").unwrap();
    assert!(ids
        .as_primitive::<arrow::datatypes::Int64Type>()
        .values()
        .iter()
        .copied()
        .eq(expected));
    emu.shutdown().await;
}

/// OPTIONS of a Zerobus table in a plain DataFusion session (after `register`) and through
/// the `sql()` helper: documented keys work, an unknown key names the known ones, another
/// host without its own credentials is refused before anything is contacted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_work_in_plain_sessions_and_the_sql_helper() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, ctx) = setup(dir.path(), Faults::default()).await;
    source(&ctx, 100, 1);
    ctx.sql("CREATE EXTERNAL TABLE tuned STORED AS ZEROBUS LOCATION 'main.default.sink_t' OPTIONS ('retry_max_attempts' '3', 'ack_timeout_ms' '20000')")
        .await
        .unwrap();
    assert_eq!(
        inserted_count(&ctx, &format!("INSERT INTO tuned {SELECT} WHERE n < 50")).await,
        50
    );
    let n = sql(&ctx, &format!("COPY ({SELECT} WHERE n >= 50) TO 'zerobus://main.default.sink_t' OPTIONS ('retry_max_attempts' '2')"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(n[0].column(0).as_primitive::<UInt64Type>().value(0), 50);
    let err = ctx
        .sql("CREATE EXTERNAL TABLE bad STORED AS ZEROBUS LOCATION 'main.default.sink_t' OPTIONS ('retries' '3')")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown Zerobus option 'retries'") && err.contains("ack_timeout_ms"),
        "{err}"
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let err = ctx
        .sql(&format!("CREATE EXTERNAL TABLE away STORED AS ZEROBUS LOCATION 'main.default.sink_t' OPTIONS ('unity_catalog_url' 'http://127.0.0.1:{port}')"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("give client_id and client_secret"), "{err}");
    assert!(listener.accept().is_err(), "the named host was contacted");
    emu.shutdown().await;
}

/// The value of the metric `name` of the plan's ZerobusWriteExec, after it ran.
fn sink_metric(
    plan: &Arc<dyn datafusion::physical_plan::ExecutionPlan>,
    name: &str,
) -> Option<usize> {
    if plan.name() == "ZerobusWriteExec" {
        let metrics = plan.metrics()?;
        return if name == "output_rows" {
            metrics.output_rows()
        } else {
            metrics.sum_by_name(name).map(|v| v.as_usize())
        };
    }
    plan.children()
        .into_iter()
        .find_map(|c| sink_metric(c, name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_insert_reports_its_account_in_the_plans_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, ctx) = setup(
        dir.path(),
        Faults {
            // Half of the stream creations and requests fail: some sends need retries.
            unavailable_rate: 0.5,
            ..Faults::default()
        },
    )
    .await;
    source(&ctx, 60_000, 2);
    let insert = format!("INSERT INTO zerobus.main.default.sink_t {SELECT}");
    let plan = sql(&ctx, &insert)
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    let out = datafusion::physical_plan::collect(plan.clone(), ctx.task_ctx())
        .await
        .unwrap();
    let count = out[0].column(0).as_primitive::<UInt64Type>().value(0);
    let m = |name| sink_metric(&plan, name);
    println!(
        "metrics: output_rows {:?}, rows_read {:?}, rows_dead_lettered {:?}, retries {:?}, streams_used {:?}; streams opened {}",
        m("output_rows"), m("rows_read"), m("rows_dead_lettered"), m("retries"), m("streams_used"),
        emu.streams_opened()
    );
    assert_eq!(count, 60_000);
    assert_eq!(m("output_rows"), Some(60_000));
    assert_eq!(m("rows_read"), Some(60_000));
    assert_eq!(m("rows_dead_lettered"), Some(0));
    // Each event fails with probability 1/2 and there are more than a dozen of them.
    assert!(m("retries").is_some_and(|r| r >= 1));
    let used = m("streams_used").unwrap_or(0);
    assert!((1..=16).contains(&used), "streams_used {used}");

    // EXPLAIN ANALYZE shows the same account on the sink's line.
    let out = sql(&ctx, &format!("EXPLAIN ANALYZE {insert}"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let plan: Vec<String> = out
        .iter()
        .flat_map(|b| cells(b.column(1)))
        .flat_map(|s| s.lines().map(str::to_string).collect::<Vec<_>>())
        .collect();
    let line = plan
        .iter()
        .find(|l| l.contains("ZerobusWriteExec"))
        .unwrap_or_else(|| panic!("no ZerobusWriteExec in {plan:#?}"));
    println!("{line}");
    for name in [
        "output_rows=",
        "rows_read=",
        "rows_dead_lettered=0",
        "retries=",
        "streams_used=",
    ] {
        assert!(line.contains(name), "{name} missing from {line}");
    }
    emu.shutdown().await;
}

/// Several partitions fail: the statement's one error adds up every partition (rows
/// read, acknowledged, dead-lettered) and names every dead-letter file, not the first
/// failing partition's alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_partition_failure_accounts_for_every_partition() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Faults {
        refuse_records_containing: Some(b"POISON".to_vec()),
        ..Faults::default()
    };
    let (emu, ctx) = setup(dir.path(), faults).await;
    source(&ctx, 40_000, 4);
    // One poisoned row in each partition (ids 5, 10005, 20005, 30005).
    let e = match sql(
        &ctx,
        "INSERT INTO zerobus.main.default.sink_t (id, name) \
         SELECT n, CASE WHEN n % 10000 = 5 THEN 'POISON' ELSE 'ok' END FROM src",
    )
    .await
    {
        Ok(df) => df.collect().await.unwrap_err(),
        Err(e) => e,
    };
    let failure = match e.find_root() {
        datafusion::error::DataFusionError::External(x) => x
            .downcast_ref::<arrow_zerobus_sdk_wrapper::ZerobusError>()
            .cloned(),
        _ => None,
    };
    let Some(arrow_zerobus_sdk_wrapper::ZerobusError::LoadIncomplete(f)) = failure else {
        panic!("not a LoadIncomplete: {e}");
    };
    println!("{f}");
    assert_eq!(f.rows_read, 40_000, "{f}");
    assert_eq!(
        f.rows_acknowledged + f.rows_dead_lettered + f.rows_unaccounted,
        40_000,
        "{f}"
    );
    assert!(
        f.dead_letters.len() >= 4,
        "a file per failing partition: {f}"
    );
    let text = e.to_string();
    for file in &f.dead_letters {
        assert!(file.exists(), "{}", file.display());
        assert!(text.contains(&file.display().to_string()), "{text}");
    }
    let landed = zerobus_emulator::storage::read_table(&emu.table_location(TABLE).unwrap())
        .await
        .unwrap();
    let rows: usize = landed.iter().map(|b| b.num_rows()).sum();
    assert_eq!(
        rows as u64, f.rows_acknowledged,
        "the account matches the table"
    );
    emu.shutdown().await;
}

/// `max_streams` bounds the streams of a whole INSERT, whatever the number of partitions:
/// the partitions share one wrapper's lanes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_streams_bounds_an_insert_of_many_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, ctx) = setup(dir.path(), Faults::default()).await;
    source(&ctx, 80_000, 8);
    ctx.sql(
        "CREATE EXTERNAL TABLE two STORED AS ZEROBUS LOCATION 'main.default.sink_t' \
         OPTIONS ('max_streams' '2')",
    )
    .await
    .unwrap();
    let count = inserted_count(&ctx, "INSERT INTO two (id, name) SELECT n, 'x' FROM src").await;
    assert_eq!(count, 80_000);
    let opened = emu.streams_opened();
    println!("8 partitions, max_streams 2: {opened} streams opened");
    assert!(opened <= 2, "{opened} streams for max_streams 2");
    emu.shutdown().await;
}

/// A throttled token endpoint while the INSERT is planned (the catalog's Unity Catalog
/// look-up) is asked again with backoff and its Retry-After: the statement runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_insert_planned_while_the_token_endpoint_throttles_runs() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Faults {
        token_fault: Some(zerobus_emulator::TokenFault {
            status: 429,
            count: 2,
        }),
        ..Faults::default()
    };
    let (emu, ctx) = setup(dir.path(), faults).await;
    source(&ctx, 1_000, 1);
    let count = inserted_count(
        &ctx,
        "INSERT INTO zerobus.main.default.sink_t (id) SELECT n FROM src",
    )
    .await;
    assert_eq!(count, 1_000);
    emu.shutdown().await;
}
