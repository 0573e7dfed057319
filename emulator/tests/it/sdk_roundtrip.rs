//! The official Rust SDK ingests PROTO and JSON records, singly and in batches, into the
//! emulator; the Delta table is read back and compared value by value.

use std::time::Instant;

use base64::Engine as _;
use databricks_zerobus_ingest_sdk::{message_descriptor, JsonString, ProtoBytes};
use prost::Message as _;
use prost_reflect::DynamicMessage;
use serde_json::{json, Value};

use crate::common::*;

const TABLE: &str = "main.default.all_types";
pub(crate) const COLUMNS: &str =
    "id BIGINT NOT NULL, s STRING, i INT, sm SMALLINT, ti TINYINT, f FLOAT, d DOUBLE, \
    b BOOLEAN, bin BINARY, dt DATE, ts TIMESTAMP, tsn TIMESTAMP_NTZ, dec DECIMAL(10,2), v VARIANT, \
    arr ARRAY<BIGINT>, m MAP<STRING, INT>, st STRUCT<a: INT, b: STRING, inner: STRUCT<x: DOUBLE>>, \
    tags ARRAY<STRUCT<k: STRING, n: INT>>";

fn decimal_text(unscaled: i64) -> String {
    let sign = if unscaled < 0 { "-" } else { "" };
    let a = unscaled.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

/// The row with this id, as canonical JSON (also valid proto-JSON for the descriptor).
pub(crate) fn expected_row(id: i64) -> Value {
    let nullable = |cond: bool, v: Value| if cond { Value::Null } else { v };
    let s = match id % 5 {
        0 => String::new(),
        1 => "héllo wörld ✓ 日本".to_string(),
        _ => format!("row-{id}"),
    };
    let i = match id % 13 {
        0 => i32::MIN as i64,
        1 => i32::MAX as i64,
        _ => (id * 2_654_435_761) % (1 << 31),
    };
    let arr: Vec<i64> = (0..id % 4)
        .map(|k| if k == 1 { i64::MIN } else { id * 10 + k })
        .collect();
    let mut m = serde_json::Map::new();
    for k in 0..id % 3 {
        m.insert(format!("k{k}"), json!((id + k) % 100));
    }
    let tags: Vec<Value> = (0..id % 3)
        .map(|k| json!({"k": format!("t{k}"), "n": k}))
        .collect();
    json!({
        "id": id,
        "s": nullable(id % 7 == 0, json!(s)),
        "i": nullable(id % 11 == 3, json!(i)),
        "sm": (id % 65536) - 32768,
        "ti": (id % 256) - 128,
        "f": (id as f32 * 0.5) as f64,
        "d": id as f64 / 3.0,
        "b": nullable(id % 17 == 0, json!(id % 2 == 0)),
        "bin": nullable(id % 19 == 0, json!(base64::engine::general_purpose::STANDARD.encode([id as u8, 0, 255]))),
        "dt": (id % 40_000) - 20_000,
        "ts": id * 1_000_003 - 1_000_000_000_000,
        "tsn": id * 7 + 1,
        "dec": decimal_text((id * 37) % 100_000_000 - 50_000_000),
        "v": format!("{{\"k\":{id}}}"),
        "arr": arr,
        "m": m,
        "st": nullable(id % 9 == 0, json!({
            "a": id % 1000,
            "b": format!("x{id}"),
            "inner": nullable(id % 5 == 0, json!({"x": id as f64 * 1.5})),
        })),
        "tags": tags,
    })
}

/// The JSON record a Zerobus JSON client sends for this row (VARIANT as a JSON value).
fn json_record(id: i64) -> String {
    let mut v = expected_row(id);
    v["v"] = json!({"k": id});
    v.to_string()
}

fn assert_rows_equal(
    actual: &std::collections::BTreeMap<i64, Value>,
    ids: impl Iterator<Item = i64>,
) {
    let mut checked = 0;
    for id in ids {
        let got = actual
            .get(&id)
            .unwrap_or_else(|| panic!("row {id} is missing"));
        let want = expected_row(id);
        assert_eq!(got, &want, "row {id} differs");
        checked += 1;
    }
    assert!(checked > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proto_and_json_records_land_with_every_value_intact() {
    let t = start(|c| c).await;
    let location = t
        .emu
        .create_table(TABLE, COLUMNS)
        .await
        .expect("create table");

    // PROTO: the descriptor comes from the UC API through the SDK's own mapping.
    let desc = descriptor(&t.emu, TABLE).await;
    let md = message_descriptor(&desc).expect("message descriptor");
    let encode = |id: i64| -> Vec<u8> {
        let v = expected_row(id);
        DynamicMessage::deserialize(md.clone(), v)
            .expect("row fits the descriptor")
            .encode_to_vec()
    };
    const BATCHED: i64 = 100_000;
    const SINGLE: i64 = 500;
    let started = Instant::now();
    let stream = proto_stream(&t.emu, TABLE).await;
    for chunk in (0..BATCHED).collect::<Vec<_>>().chunks(1000) {
        let records: Vec<ProtoBytes> = chunk.iter().map(|id| ProtoBytes(encode(*id))).collect();
        stream
            .ingest_records_offset(records)
            .await
            .expect("ingest batch");
    }
    for id in BATCHED..BATCHED + SINGLE {
        stream
            .ingest_record_offset(ProtoBytes(encode(id)))
            .await
            .expect("ingest record");
    }
    stream.flush().await.expect("flush");
    let mut stream = stream;
    stream.close().await.expect("close");
    println!(
        "PROTO: {} rows acknowledged in {:?}",
        BATCHED + SINGLE,
        started.elapsed()
    );

    // JSON: batches and single records into the same table.
    const JSON_BASE: i64 = 1_000_000;
    let stream = json_stream(&t.emu, TABLE).await;
    for chunk in (JSON_BASE..JSON_BASE + 2000)
        .collect::<Vec<_>>()
        .chunks(250)
    {
        let records: Vec<JsonString> = chunk
            .iter()
            .map(|id| JsonString(json_record(*id)))
            .collect();
        stream
            .ingest_records_offset(records)
            .await
            .expect("ingest json batch");
    }
    for id in JSON_BASE + 2000..JSON_BASE + 2300 {
        stream
            .ingest_record_offset(JsonString(json_record(id)))
            .await
            .expect("ingest json record");
    }
    stream.flush().await.expect("flush json");
    let mut stream = stream;
    stream.close().await.expect("close json");

    let batches = read_table(&location).await;
    let rows = rows_by_id(&batches);
    assert_eq!(
        row_count(&batches),
        (BATCHED + SINGLE + 2300) as usize,
        "exactly once, no faults"
    );
    assert_eq!(rows.len(), row_count(&batches));
    assert_rows_equal(&rows, 0..BATCHED + SINGLE);
    assert_rows_equal(&rows, JSON_BASE..JSON_BASE + 2300);
    t.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_streams_into_one_table_all_land() {
    let t = start(|c| c).await;
    let location = t
        .emu
        .create_table("main.default.many", "id BIGINT NOT NULL, w INT")
        .await
        .unwrap();
    let desc = descriptor(&t.emu, "main.default.many").await;
    let md = message_descriptor(&desc).unwrap();
    const PER_STREAM: i64 = 25_000;
    let mut tasks = Vec::new();
    for w in 0..4i64 {
        let md = md.clone();
        let stream = proto_stream(&t.emu, "main.default.many").await;
        tasks.push(tokio::spawn(async move {
            for chunk in (w * PER_STREAM..(w + 1) * PER_STREAM)
                .collect::<Vec<_>>()
                .chunks(500)
            {
                let recs: Vec<ProtoBytes> = chunk
                    .iter()
                    .map(|id| {
                        ProtoBytes(
                            DynamicMessage::deserialize(md.clone(), json!({"id": id, "w": w}))
                                .unwrap()
                                .encode_to_vec(),
                        )
                    })
                    .collect();
                stream.ingest_records_offset(recs).await.expect("ingest");
            }
            stream.flush().await.expect("flush");
            let mut stream = stream;
            stream.close().await.expect("close");
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let batches = read_table(&location).await;
    let (distinct, dups, missing) = id_stats(&batches, 4 * PER_STREAM);
    assert_eq!((distinct, dups), ((4 * PER_STREAM) as usize, 0));
    assert!(missing.is_empty());
    t.emu.shutdown().await;
}
