//! SQL INSERT converts exactly or refuses, like COPY: against the in-process emulator, a
//! lossy implicit cast is refused before anything lands (naming table, column, row and
//! value), an exact one lands the same value, read back from Delta.

#![cfg(feature = "datafusion")]

use arrow::array::{AsArray, RecordBatch};
use arrow::compute::concat_batches;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use arrow_zerobus_sdk_wrapper::datafusion::{register, sql};
use arrow_zerobus_sdk_wrapper::ZerobusConnection;
use datafusion::prelude::SessionContext;
use zerobus_emulator::{Emulator, EmulatorConfig, EmulatorHandle};

const TABLE: &str = "main.default.exact_t";
const NAME: &str = "zerobus.main.default.exact_t";
const COLUMNS: &str =
    "id BIGINT NOT NULL, amt DECIMAL(10,2), n INT, f FLOAT, ts TIMESTAMP, d DATE, s STRING";

async fn setup(dir: &std::path::Path) -> (EmulatorHandle, SessionContext) {
    let emu = Emulator::start(EmulatorConfig::new(dir.join("warehouse")))
        .await
        .unwrap();
    emu.create_table(TABLE, COLUMNS).await.unwrap();
    let connection = ZerobusConnection::new(emu.grpc_url())
        .client_id(emu.client_id())
        .client_secret(emu.client_secret())
        .unity_catalog_url(emu.http_url())
        .dead_letter_dir(dir.join("dead"))
        .retry_base_delay_ms(20)
        .validated()
        .unwrap();
    let ctx = SessionContext::new();
    register(&ctx, "zerobus", connection);
    (emu, ctx)
}

async fn run(ctx: &SessionContext, statement: &str) -> Result<Vec<RecordBatch>, String> {
    match sql(ctx, statement).await {
        Ok(df) => df.collect().await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// Every landed row of `column`, ordered by id, as text.
async fn landed(emu: &EmulatorHandle, column: &str) -> Vec<String> {
    let Some(location) = emu.table_location(TABLE) else {
        return vec![];
    };
    let batches = zerobus_emulator::storage::read_table(&location)
        .await
        .unwrap();
    if batches.is_empty() {
        return vec![];
    }
    let all = concat_batches(&batches[0].schema(), &batches).unwrap();
    let ids = all
        .column_by_name("id")
        .unwrap()
        .as_primitive::<arrow::datatypes::Int64Type>();
    let mut order: Vec<usize> = (0..all.num_rows()).collect();
    order.sort_by_key(|&i| ids.value(i));
    let col = all.column_by_name(column).unwrap();
    let f =
        ArrayFormatter::try_new(col.as_ref(), &FormatOptions::default().with_null("NULL")).unwrap();
    order.into_iter().map(|i| f.value(i).to_string()).collect()
}

/// Each lossy INSERT is refused with the table, the column, the row and the value in the
/// message, and the fix; nothing of it lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lossy_implicit_cast_is_refused_naming_column_row_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, ctx) = setup(dir.path()).await;
    for source in [
        "CREATE TABLE dec3 AS SELECT CAST(column1 AS DECIMAL(10,3)) AS x FROM (VALUES (1.5), (1.239))",
        "CREATE TABLE dbl AS SELECT column1 AS x FROM (VALUES (2.0), (2.7))",
        "CREATE TABLE txt AS SELECT column1 AS x FROM (VALUES ('12'), ('12x'))",
    ] {
        ctx.sql(source).await.unwrap().collect().await.unwrap();
    }
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "(id, amt) SELECT 1, x FROM dec3",
            "amt",
            &["column 'amt', row 1", "1.239", "CAST"],
        ),
        (
            "(id, n) SELECT 1, x FROM dbl",
            "n",
            &["column 'n', row 1", "2.7", "would change"],
        ),
        (
            "(id, n) SELECT 1, CAST(3000000000 AS BIGINT)",
            "n",
            &["column 'n', row 0", "3000000000", "does not fit"],
        ),
        (
            "(id, f) SELECT 1, CAST(0.1 AS DOUBLE)",
            "f",
            &["column 'f', row 0", "0.1"],
        ),
        (
            "(id, ts) SELECT 1, arrow_cast('2024-01-01T00:00:00.123456789', \
             'Timestamp(Nanosecond, Some(\"UTC\"))')",
            "ts",
            &["column 'ts', row 0", "123456789"],
        ),
        (
            "(id, n) SELECT 1, x FROM txt",
            "n",
            &["column 'n', row 1", "'12x'", "does not parse"],
        ),
        (
            "(id, ts) SELECT 1, CAST(1700000000 AS BIGINT)",
            "ts",
            &["column 'ts'", "not a date or a time"],
        ),
    ];
    for (rest, column, wanted) in cases {
        let e = run(&ctx, &format!("INSERT INTO {NAME} {rest}"))
            .await
            .expect_err(rest);
        println!("| INSERT INTO t {rest} | {e} |");
        for w in *wanted {
            assert!(e.contains(w), "{rest}: '{w}' not in: {e}");
        }
        assert!(e.contains(TABLE), "{rest}: no table in: {e}");
        assert!(e.contains(column), "{rest}: {e}");
    }
    // VALUES take their types from the values written, not from the table.
    let e = run(
        &ctx,
        &format!("INSERT INTO {NAME} (id, amt) VALUES (1, 1.5), (2, 1.239)"),
    )
    .await
    .unwrap_err();
    assert!(
        e.contains("column 'amt', row 1") && e.contains("1.239"),
        "{e}"
    );
    assert!(landed(&emu, "id").await.is_empty(), "nothing landed");
    emu.shutdown().await;
}

/// Exact conversions land the same value; a cast the user wrote is the user's decision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_implicit_casts_and_explicit_casts_land() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, ctx) = setup(dir.path()).await;
    let statements = [
        // DOUBLE 2.0 into INT, DECIMAL(10,3) 1.230 into DECIMAL(10,2), a DATE into
        // TIMESTAMP (midnight), text that parses into INT.
        format!(
            "INSERT INTO {NAME} SELECT CAST(1 AS INT) AS id, CAST(1.230 AS DECIMAL(10,3)) AS amt, \
             2.0 AS n, CAST(0.5 AS DOUBLE) AS f, DATE '2024-03-01' AS ts, \
             CAST('2024-03-01' AS DATE) AS d, 'one' AS s"
        ),
        format!("INSERT INTO {NAME} (id, n, amt) VALUES (2, '42', 7), (3, '-1', 1.5)"),
        // The user's own CAST rounds: that is what was asked for.
        format!("INSERT INTO {NAME} (id, amt) SELECT 4, CAST(1.239 AS DECIMAL(10,2))"),
    ];
    for s in &statements {
        run(&ctx, s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    assert_eq!(landed(&emu, "id").await, ["1", "2", "3", "4"]);
    assert_eq!(landed(&emu, "n").await, ["2", "42", "-1", "NULL"]);
    assert_eq!(landed(&emu, "amt").await, ["1.23", "7.00", "1.50", "1.24"]);
    assert_eq!(landed(&emu, "f").await[0], "0.5");
    assert_eq!(landed(&emu, "ts").await[0], "2024-03-01T00:00:00Z");
    emu.shutdown().await;
}

/// INSERT matches by position: a query whose columns carry the names of other table
/// columns (a file in another column order) is refused, not landed swapped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reordered_source_is_refused_not_swapped() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, ctx) = setup(dir.path()).await;
    ctx.sql("CREATE TABLE src AS SELECT 'x' AS s, CAST(1 AS BIGINT) AS id")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let e = run(
        &ctx,
        &format!("INSERT INTO {NAME} (id, s) SELECT s, id FROM src"),
    )
    .await
    .unwrap_err();
    println!("| INSERT INTO t (id, s) SELECT s, id FROM src | {e} |");
    assert!(
        e.contains("by position") && e.contains("'s'") && e.contains("COPY"),
        "{e}"
    );
    run(
        &ctx,
        &format!("INSERT INTO {NAME} (id, s) SELECT id, s FROM src"),
    )
    .await
    .unwrap();
    assert_eq!(landed(&emu, "s").await, ["x"]);
    emu.shutdown().await;
}

/// The rule holds in a plain session after `register`, without the `sql` helper (3-part
/// name).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_session_after_register_is_exact_too() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, ctx) = setup(dir.path()).await;
    let e = ctx
        .sql("INSERT INTO zerobus.\"main.default\".exact_t (id, n) SELECT 1, 2.5")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("column 'n', row 0") && e.contains("2.5"), "{e}");
    let got = landed(&emu, "id").await;
    assert!(got.is_empty(), "{got:?}");
    emu.shutdown().await;
}
