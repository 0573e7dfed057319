//! The Unity Catalog tables API subset and the OAuth endpoint, over real HTTP.

use std::time::Duration;

use databricks_zerobus_ingest_sdk::schema::{descriptor_from_uc_columns, UcColumn};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::*;

const TABLES: &str = "/api/2.1/unity-catalog/tables";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_can_be_created_read_listed_and_dropped() {
    let t = start(|c| c).await;
    let http = reqwest::Client::new();
    let base = t.emu.http_url();
    let token = uc_token(&t.emu).await;

    let nested = json!({"name": "s", "type": {"type": "struct", "fields": [
        {"name": "a", "type": "integer", "nullable": false, "metadata": {}},
        {"name": "tags", "type": {"type": "array", "elementType": "string", "containsNull": true}, "nullable": true, "metadata": {}}
    ]}, "nullable": true, "metadata": {}});
    let body = json!({
        "name": "Orders", "catalog_name": "main", "schema_name": "sales",
        "table_type": "MANAGED", "data_source_format": "DELTA",
        "columns": [
            {"name": "id", "type_name": "LONG", "type_text": "bigint", "position": 0, "nullable": false},
            {"name": "price", "type_text": "decimal(12,2)", "position": 1},
            {"name": "attrs", "type_name": "MAP", "type_text": "map<string,bigint>", "position": 2},
            {"name": "s", "type_name": "STRUCT", "type_json": nested.to_string(), "position": 3}
        ]
    });
    let resp = http
        .post(format!("{base}{TABLES}"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{:?}", resp.text().await);
    let info: Value = resp.json().await.unwrap();
    assert_eq!(
        info["full_name"], "main.sales.orders",
        "UC lower-cases names"
    );
    assert!(info["storage_location"]
        .as_str()
        .unwrap()
        .starts_with("file://"));

    let got: Value = http
        .get(format!("{base}{TABLES}/main.sales.orders"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cols: Vec<UcColumn> = serde_json::from_value(got["columns"].clone()).unwrap();
    assert_eq!(
        cols.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["id", "price", "attrs", "s"]
    );
    assert_eq!(cols[0].type_name, "LONG");
    assert!(!cols[0].nullable);
    assert_eq!(cols[1].type_text, "decimal(12,2)");
    assert_eq!(
        cols[3].type_text,
        "struct<a:int not null,tags:array<string>>"
    );
    // The SDK's own UC → descriptor mapping accepts what the emulator reports.
    let desc = descriptor_from_uc_columns(&cols, "Orders").expect("SDK maps the UC schema");
    assert_eq!(desc.field.len(), 4);
    assert_eq!(
        desc.nested_type.len(),
        2,
        "a map entry and a struct message"
    );

    let list: Value = http
        .get(format!(
            "{base}{TABLES}?catalog_name=main&schema_name=sales"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["tables"].as_array().unwrap().len(), 1);

    let again = http
        .post(format!("{base}{TABLES}"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(
        again.json::<Value>().await.unwrap()["error_code"],
        "TABLE_ALREADY_EXISTS"
    );

    let del = http
        .delete(format!("{base}{TABLES}/main.sales.orders"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), StatusCode::OK);
    assert!(
        !t.dir.path().join("warehouse/main/sales/orders").exists(),
        "data is deleted with the table"
    );
    let gone = http
        .get(format!("{base}{TABLES}/main.sales.orders"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        gone.json::<Value>().await.unwrap()["error_code"],
        "TABLE_DOES_NOT_EXIST"
    );
    t.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_the_right_status_and_a_reason() {
    let t = start(|c| c.with_token_ttl(Duration::from_secs(2))).await;
    let http = reqwest::Client::new();
    let base = t.emu.http_url();

    let no_token = http
        .get(format!("{base}{TABLES}/main.default.t"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);

    let wrong = http
        .post(format!("{base}/oidc/v1/token"))
        .basic_auth("local", Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let body = wrong.text().await.unwrap();
    assert!(
        body.contains("invalid_client") && !body.contains("local-secret"),
        "{body}"
    );

    let token = uc_token(&t.emu).await;
    let create = |name: &str, columns: Value| {
        http.post(format!("{base}{TABLES}"))
            .bearer_auth(&token)
            .json(&json!({"name": name, "catalog_name": "main", "schema_name": "default", "columns": columns}))
            .send()
    };
    let r = create("bad name", json!([{"name": "id", "type_text": "bigint"}]))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("only ASCII letters, digits and '_'"));

    let r = create(
        "t",
        json!([{"name": "m", "type_text": "map<double,string>"}]),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("map keys must be integral, boolean or string"));

    let wide: Vec<Value> = (0..2001)
        .map(|i| json!({"name": format!("c{i}"), "type_text": "int"}))
        .collect();
    let r = create("wide", Value::Array(wide)).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("at most 2000"));

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let expired = http
        .get(format!("{base}{TABLES}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    assert!(expired.text().await.unwrap().contains("expired"));
    t.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listening_beyond_loopback_needs_a_secret_of_ones_own() {
    let dir = tempfile::tempdir().unwrap();
    let any: std::net::SocketAddr = "0.0.0.0:0".parse().unwrap();
    let config = zerobus_emulator::EmulatorConfig::new(dir.path().join("wh")).with_http_addr(any);
    let err = match zerobus_emulator::Emulator::start(config.clone()).await {
        Ok(_) => panic!("the default secret was served beyond loopback"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("0.0.0.0:0") && err.contains("--client-secret"),
        "{err}"
    );
    let mut own = config.with_grpc_addr(any);
    own.client_secret = "a-secret-of-my-own".into();
    let emu = zerobus_emulator::Emulator::start(own)
        .await
        .expect("own secret");
    emu.shutdown().await;
}
