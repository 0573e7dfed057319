//! `CREATE TABLE zerobus.c.s.t (…)` through a SQL warehouse (the Statement Execution API,
//! as against a workspace), served by the emulator; and without one, on the emulator.

use arrow::array::AsArray;
use arrow::datatypes::UInt64Type;
use arrow_zerobus_sdk_wrapper::datafusion::{register, sql};
use arrow_zerobus_sdk_wrapper::ZerobusConnection;
use datafusion::prelude::SessionContext;
use zerobus_emulator::statements::WAREHOUSE_ID;
use zerobus_emulator::{Emulator, EmulatorConfig};

fn session(emu: &zerobus_emulator::EmulatorHandle, warehouse: Option<&str>) -> SessionContext {
    let mut c = ZerobusConnection::new(emu.grpc_url())
        .client_id(emu.client_id())
        .client_secret(emu.client_secret())
        .unity_catalog_url(emu.http_url());
    if let Some(w) = warehouse {
        c = c.warehouse_id(w);
    }
    let ctx = SessionContext::new();
    register(&ctx, "zerobus", c.validated().unwrap());
    ctx
}

async fn run(
    ctx: &SessionContext,
    statement: &str,
) -> datafusion::error::Result<Vec<arrow::array::RecordBatch>> {
    sql(ctx, statement).await?.collect().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_table_runs_on_the_sql_warehouse_and_reads_the_table_back() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = Emulator::start(EmulatorConfig::new(tmp.path().join("warehouse")))
        .await
        .unwrap();
    let ctx = session(&emu, Some(WAREHOUSE_ID));
    run(
        &ctx,
        "CREATE TABLE zerobus.main.default.ct (id BIGINT NOT NULL, tags ARRAY<VARCHAR>, \
         amount NUMERIC(12,2), n INTEGER)",
    )
    .await
    .unwrap();
    // Unity Catalog describes it with the types as Databricks spells them.
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("{}/oidc/v1/token", emu.http_url()))
        .basic_auth(emu.client_id(), Some(emu.client_secret()))
        .form(&[("grant_type", "client_credentials"), ("scope", "all-apis")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_string();
    let info: serde_json::Value = http
        .get(format!(
            "{}/api/2.1/unity-catalog/tables/main.default.ct",
            emu.http_url()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let types: Vec<(String, String, bool)> = info["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["type_text"].as_str().unwrap().to_ascii_uppercase(),
                c["nullable"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        types,
        [
            ("id".into(), "BIGINT".into(), false),
            ("tags".into(), "ARRAY<STRING>".into(), true),
            ("amount".into(), "DECIMAL(12,2)".into(), true),
            ("n".into(), "INT".into(), true),
        ],
        "{info}"
    );
    // The table takes rows.
    let out = run(
        &ctx,
        "INSERT INTO zerobus.main.default.ct (id, n) SELECT value AS id, CAST(value AS INT) AS n FROM generate_series(1, 100)",
    )
    .await
    .unwrap();
    assert_eq!(out[0].column(0).as_primitive::<UInt64Type>().value(0), 100);

    // IF NOT EXISTS: nothing to do. Without it, the warehouse's error says why.
    run(
        &ctx,
        "CREATE TABLE IF NOT EXISTS zerobus.main.default.ct (id BIGINT)",
    )
    .await
    .unwrap();
    let e = run(&ctx, "CREATE TABLE zerobus.main.default.ct (id BIGINT)")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("on warehouse emulator-warehouse failed") && e.contains("exists"),
        "{e}"
    );
    // A type Zerobus tables do not take is refused before anything is sent.
    let e = run(&ctx, "CREATE TABLE zerobus.main.default.t2 (at TIME)")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("column 'at'") && e.contains("'TIME' is not a type"),
        "{e}"
    );
    // A warehouse that does not exist.
    let e = run(
        &session(&emu, Some("nope")),
        "CREATE TABLE zerobus.main.default.t3 (id BIGINT)",
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("warehouse 'nope' does not exist"), "{e}");
    assert!(emu.table_location("main.default.t3").is_none());

    // The warehouse runs CREATE TABLE only; anything else fails with the reason.
    let answer: serde_json::Value = http
        .post(format!("{}/api/2.0/sql/statements", emu.http_url()))
        .bearer_auth(&token)
        .json(&serde_json::json!({"warehouse_id": WAREHOUSE_ID, "statement": "DROP TABLE main.default.ct"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"]["state"], "FAILED", "{answer}");
    assert!(answer["status"]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("runs only CREATE TABLE"));
    assert!(emu.table_location("main.default.ct").is_some());

    // No warehouse: the emulator creates the table itself, as the embedded default does.
    run(
        &session(&emu, None),
        "CREATE TABLE zerobus.main.default.plain (id BIGINT)",
    )
    .await
    .unwrap();
    assert!(emu.table_location("main.default.plain").is_some());
    emu.shutdown().await;
}
