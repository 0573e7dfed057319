//! The official Rust SDK's Arrow Flight stream (`build_arrow`, `ingest_batch`) into the
//! emulator's `DoPut`: every type lands equal to what was sent, a schema or a value that
//! does not fit is refused with the column (and row) named, and planned closes and
//! injected UNAVAILABLE faults lose nothing.

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, LargeBinaryArray, LargeStringArray, RecordBatch,
    StructArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use base64::Engine as _;
use databricks_zerobus_ingest_sdk::schema::arrow_schema_from_uc_columns;
use databricks_zerobus_ingest_sdk::ZerobusArrowStream;
use parquet_variant::VariantBuilder;
use parquet_variant_json::JsonToVariant as _;
use zerobus_emulator::Faults;

use crate::common::*;
use crate::sdk_roundtrip::{expected_row, COLUMNS};

const TABLE: &str = "main.default.flight_types";

/// The table's Arrow schema as the SDK maps the UC columns (what a user of the SDK sends).
async fn sdk_schema(t: &TestEmulator, table: &str) -> SchemaRef {
    Arc::new(arrow_schema_from_uc_columns(&uc_columns(&t.emu, table).await).expect("SDK schema"))
}

async fn arrow_stream(t: &TestEmulator, table: &str, schema: SchemaRef) -> ZerobusArrowStream {
    sdk(&t.emu)
        .stream_builder()
        .table(table)
        .oauth(t.emu.client_id(), t.emu.client_secret())
        .arrow(schema)
        .recovery_backoff_ms(100)
        .recovery_retries(20)
        .build_arrow()
        .await
        .expect("arrow stream")
}

/// Rows `ids` of [`expected_row`] as a batch of the SDK's schema: JSON decoded by
/// arrow-json, BINARY from its base64 text and VARIANT encoded from its JSON text.
fn batch_of(schema: &SchemaRef, ids: std::ops::Range<i64>) -> RecordBatch {
    // arrow-json reads BINARY and VARIANT as text first.
    let text_schema = Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| match f.name().as_str() {
                "bin" | "v" => Arc::new(Field::new(f.name(), DataType::LargeUtf8, true)),
                _ => f.clone(),
            })
            .collect::<Vec<_>>(),
    );
    let mut decoder = arrow::json::ReaderBuilder::new(Arc::new(text_schema))
        .build_decoder()
        .expect("json decoder");
    let rows: Vec<serde_json::Value> = ids.map(expected_row).collect();
    decoder.serialize(&rows).expect("rows decode");
    let text = decoder.flush().expect("flush").expect("a batch");
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let c = text.column(i);
            match f.name().as_str() {
                "bin" => Arc::new(LargeBinaryArray::from_iter(
                    c.as_string::<i64>().iter().map(|v| {
                        v.map(|b64| {
                            base64::engine::general_purpose::STANDARD
                                .decode(b64)
                                .expect("base64")
                        })
                    }),
                )) as ArrayRef,
                "v" => variant_column(f, c.as_string::<i64>()),
                _ => c.clone(),
            }
        })
        .collect();
    RecordBatch::try_new(schema.clone(), columns).expect("batch of the SDK schema")
}

fn variant_column(field: &Field, json: &LargeStringArray) -> ArrayRef {
    let (mut metadata, mut value) = (Vec::new(), Vec::new());
    for v in json.iter() {
        let mut b = VariantBuilder::new();
        b.append_json(v.unwrap_or("null"))
            .expect("variant from JSON");
        let (m, v) = b.finish();
        metadata.push(m);
        value.push(v);
    }
    let DataType::Struct(fields) = field.data_type() else {
        panic!("VARIANT is a struct in the SDK's schema: {field:?}")
    };
    Arc::new(
        StructArray::try_new(
            fields.clone(),
            vec![
                Arc::new(LargeBinaryArray::from_iter_values(metadata)),
                Arc::new(LargeBinaryArray::from_iter_values(value)),
            ],
            json.nulls().cloned(),
        )
        .expect("variant struct"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_lands_equal_through_the_sdks_arrow_stream() {
    let t = start(|c| c).await;
    let location = t.emu.create_table(TABLE, COLUMNS).await.expect("table");
    let schema = sdk_schema(&t, TABLE).await;
    // The emulator's own mapping (an independent oracle) agrees with the SDK's.
    let columns = zerobus_emulator::types::parse_columns(COLUMNS).expect("columns");
    let ours = zerobus_emulator::flight_batch::flight_schema(&columns);
    for (a, b) in schema.fields().iter().zip(ours.fields()) {
        assert_eq!(
            (a.name(), a.is_nullable(), a.data_type().to_string()),
            (b.name(), b.is_nullable(), b.data_type().to_string()),
            "the SDK and the emulator map column {} alike",
            a.name()
        );
    }

    const N: i64 = 20_000;
    let started = Instant::now();
    let mut stream = arrow_stream(&t, TABLE, schema.clone()).await;
    for start in (0..N).step_by(2_500) {
        stream
            .ingest_batch(batch_of(&schema, start..start + 2_500))
            .await
            .expect("ingest_batch");
    }
    stream.flush().await.expect("flush");
    stream.close().await.expect("close");
    println!(
        "arrow flight: {N} rows of 18 columns acknowledged in {:?}",
        started.elapsed()
    );

    let batches = read_table(&location).await;
    assert_eq!(row_count(&batches), N as usize, "exactly once, no faults");
    let rows = rows_by_id(&batches);
    for id in 0..N {
        assert_eq!(rows.get(&id), Some(&expected_row(id)), "row {id}");
    }
    let stats = t.emu.stats();
    let s = stats.get(TABLE).expect("stats of the table");
    assert_eq!((s.records_acknowledged, s.streams_opened), (N as u64, 1));
    t.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_or_a_value_that_does_not_fit_is_refused_with_its_column() {
    let t = start(|c| c).await;
    t.emu
        .create_table(
            "main.default.flight_bad",
            "id BIGINT NOT NULL, name STRING, amount DECIMAL(6,2)",
        )
        .await
        .unwrap();
    let good = sdk_schema(&t, "main.default.flight_bad").await;

    // STRING sent as Utf8 (not the LargeUtf8 the service takes): refused before it is ready.
    let utf8 = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]));
    let err = sdk(&t.emu)
        .stream_builder()
        .table("main.default.flight_bad")
        .oauth(t.emu.client_id(), t.emu.client_secret())
        .arrow(utf8)
        .build_arrow()
        .await
        .err()
        .expect("a Utf8 STRING column is refused")
        .to_string();
    assert!(
        err.contains("column 'name'") && err.contains("LargeUtf8"),
        "{err}"
    );
    // A NOT NULL column left out, an unknown column: refused, named.
    for (fields, named) in [
        (
            vec![Field::new("name", DataType::LargeUtf8, true)],
            "column 'id' is NOT NULL",
        ),
        (
            vec![
                Field::new("id", DataType::Int64, false),
                Field::new("extra", DataType::Int64, true),
            ],
            "no column 'extra'",
        ),
    ] {
        let err = sdk(&t.emu)
            .stream_builder()
            .table("main.default.flight_bad")
            .oauth(t.emu.client_id(), t.emu.client_secret())
            .arrow(Arc::new(Schema::new(fields)))
            .build_arrow()
            .await
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains(named), "{named}: {err}");
    }

    // A decimal with more places than the column has: the batch is refused, naming the
    // column and the row; nothing of it lands.
    let batch = |amount: Vec<Option<&str>>, ids: Vec<Option<i64>>| {
        RecordBatch::try_new(
            Arc::new(Schema::new(
                good.fields()
                    .iter()
                    .map(|f| Arc::new(f.as_ref().clone().with_nullable(true)))
                    .collect::<Vec<_>>(),
            )),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(LargeStringArray::from(vec![Some("a"); amount.len()])),
                Arc::new(LargeStringArray::from(amount)),
            ],
        )
        .unwrap()
    };
    for (b, named) in [
        (
            batch(vec![Some("1.50"), Some("2.345")], vec![Some(1), Some(2)]),
            "column 'amount', row 1: '2.345' has more than 2 decimal places",
        ),
        (
            batch(vec![Some("1"), Some("12345.6")], vec![Some(1), Some(2)]),
            "column 'amount', row 1: '12345.6' does not fit DECIMAL(6,2)",
        ),
        (
            batch(vec![Some("1"), Some("2")], vec![Some(1), None]),
            "column 'id' is NOT NULL, row 1 is null",
        ),
    ] {
        let mut stream = arrow_stream(&t, "main.default.flight_bad", b.schema()).await;
        let sent = stream.ingest_batch(b).await;
        let flushed = stream.flush().await;
        let err = match (sent, flushed) {
            (Err(e), _) | (_, Err(e)) => e.to_string(),
            _ => panic!("{named}: the batch was acknowledged"),
        };
        assert!(err.contains(named), "{named}: {err}");
        let _ = stream.close().await;
    }
    let location = t.emu.table_location("main.default.flight_bad").unwrap();
    assert_eq!(
        row_count(&read_table(&location).await),
        0,
        "nothing refused lands"
    );
    t.emu.shutdown().await;
}

/// Planned closes every 30,000 records and UNAVAILABLE on 5% of batches: the SDK's Arrow
/// stream reconnects and replays, and every id lands (duplicates are counted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planned_closes_and_unavailable_lose_no_row_over_arrow_flight() {
    for (case, faults) in [
        (
            "close every 30000 records",
            Faults {
                close_stream_after_records: Some(30_000),
                ..Faults::default()
            },
        ),
        (
            "UNAVAILABLE on 5% of batches",
            Faults {
                unavailable_rate: 0.05,
                ..Faults::default()
            },
        ),
    ] {
        let t = start(|c| c.with_faults(faults)).await;
        let location = t
            .emu
            .create_table(
                "main.default.flight_faults",
                "id BIGINT NOT NULL, payload STRING",
            )
            .await
            .unwrap();
        let schema = sdk_schema(&t, "main.default.flight_faults").await;
        const N: i64 = 200_000;
        let started = Instant::now();
        let mut stream = arrow_stream(&t, "main.default.flight_faults", schema.clone()).await;
        // 200 batches: at 5% the chance that no fault hits the stream is 0.95^200 < 1e-4.
        for start in (0..N).step_by(1_000) {
            let ids = Int64Array::from_iter_values(start..start + 1_000);
            let payload =
                LargeStringArray::from_iter_values((start..start + 1_000).map(|i| format!("p{i}")));
            let b = RecordBatch::try_new(schema.clone(), vec![Arc::new(ids), Arc::new(payload)])
                .unwrap();
            stream.ingest_batch(b).await.expect("ingest_batch");
        }
        stream.flush().await.expect("flush");
        stream.close().await.expect("close");
        let batches = read_table(&location).await;
        let (distinct, dups, missing) = id_stats(&batches, N);
        println!(
            "arrow flight, {case}: sent {N}, distinct {distinct}, duplicates {dups}, missing {}, streams opened {}, {:?}",
            missing.len(),
            t.emu.streams_opened(),
            started.elapsed()
        );
        assert!(
            missing.is_empty(),
            "{case}: missing {:?}",
            &missing[..missing.len().min(10)]
        );
        assert!(
            t.emu.streams_opened() > 1,
            "{case}: the fault made the SDK reconnect"
        );
        t.emu.shutdown().await;
    }
}

/// Every IPC compression the SDK offers (none, LZ4 frame, ZSTD — the Rust SDK's default)
/// is read; the rows land once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ipc_compression_of_the_sdk_is_read() {
    use arrow::ipc::CompressionType;
    let t = start(|c| c).await;
    let table = "main.default.flight_codecs";
    let location = t
        .emu
        .create_table(table, "id BIGINT NOT NULL, payload STRING")
        .await
        .unwrap();
    let schema = sdk_schema(&t, table).await;
    for (k, codec) in [
        None,
        Some(CompressionType::LZ4_FRAME),
        Some(CompressionType::ZSTD),
    ]
    .into_iter()
    .enumerate()
    {
        let mut stream = sdk(&t.emu)
            .stream_builder()
            .table(table)
            .oauth(t.emu.client_id(), t.emu.client_secret())
            .arrow(schema.clone())
            .ipc_compression(codec)
            .build_arrow()
            .await
            .expect("arrow stream");
        let ids = (k as i64 * 10_000)..(k as i64 * 10_000 + 10_000);
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(ids.clone())),
                Arc::new(LargeStringArray::from_iter_values(
                    ids.map(|i| format!("p{i}").repeat(8)),
                )),
            ],
        )
        .unwrap();
        stream.ingest_batch(b).await.expect("ingest_batch");
        stream
            .flush()
            .await
            .unwrap_or_else(|e| panic!("{codec:?}: {e}"));
        stream.close().await.expect("close");
    }
    let batches = read_table(&location).await;
    let (distinct, dups, missing) = id_stats(&batches, 30_000);
    assert_eq!((distinct, dups, missing.len()), (30_000, 0, 0));
    t.emu.shutdown().await;
}

/// Discard mode (the benchmarks' peer) counts a Flight batch's rows from its IPC header
/// without decompressing the body: every codec of the SDK is counted exactly, and a
/// message whose body is shorter than its header announces is refused as not valid IPC,
/// not counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discard_mode_counts_rows_from_headers_and_refuses_a_short_body() {
    use arrow::ipc::CompressionType;
    use arrow_flight::flight_service_client::FlightServiceClient;
    use futures::StreamExt;

    let t = start(|c| c.with_discard(true)).await;
    let table = "main.default.flight_discard";
    t.emu
        .create_table(table, "id BIGINT NOT NULL, payload STRING")
        .await
        .unwrap();
    let schema = sdk_schema(&t, table).await;
    let batch = |ids: std::ops::Range<i64>| {
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(ids.clone())),
                Arc::new(LargeStringArray::from_iter_values(
                    ids.map(|i| format!("p{i}").repeat(8)),
                )),
            ],
        )
        .unwrap()
    };
    let codecs = [
        None,
        Some(CompressionType::LZ4_FRAME),
        Some(CompressionType::ZSTD),
    ];
    for (k, codec) in codecs.into_iter().enumerate() {
        let mut stream = sdk(&t.emu)
            .stream_builder()
            .table(table)
            .oauth(t.emu.client_id(), t.emu.client_secret())
            .arrow(schema.clone())
            .ipc_compression(codec)
            .build_arrow()
            .await
            .expect("arrow stream");
        let from = k as i64 * 10_000;
        // Two batches of different sizes per codec: 7,001 + 2,999 rows.
        for ids in [from..from + 7_001, from + 7_001..from + 10_000] {
            stream.ingest_batch(batch(ids)).await.expect("ingest_batch");
        }
        stream
            .flush()
            .await
            .unwrap_or_else(|e| panic!("{codec:?}: {e}"));
        stream.close().await.expect("close");
    }
    let counted = || {
        t.emu
            .stats()
            .get(table)
            .map_or(0, |s| s.records_acknowledged)
    };
    assert_eq!(counted(), 30_000, "every row of every codec counted once");

    // A record batch whose body was cut short: the header still says 500 rows.
    let token = uc_token(&t.emu).await;
    let mut messages =
        arrow_flight::utils::batches_to_flight_data(&schema, vec![batch(0..500)]).unwrap();
    let mut message = messages.pop().expect("the batch's message");
    let schema_message = messages.pop().expect("the schema's message");
    let full = message.data_body.len();
    message.data_body = message.data_body.slice(0..full / 2);
    message.app_metadata = br#"{"offset_id": 0}"#.to_vec().into();
    let mut request = tonic::Request::new(futures::stream::iter([schema_message, message]));
    let metadata = request.metadata_mut();
    metadata.insert("authorization", format!("Bearer {token}").parse().unwrap());
    metadata.insert("x-databricks-zerobus-table-name", table.parse().unwrap());
    let channel = tonic::transport::Endpoint::from_shared(t.emu.grpc_url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = FlightServiceClient::new(channel);
    let mut answers = client
        .do_put(request)
        .await
        .expect("the stream opens")
        .into_inner();
    let mut refusal = None;
    while let Some(answer) = answers.next().await {
        if let Err(status) = answer {
            refusal = Some(status);
            break;
        }
    }
    let refusal = refusal.expect("the short message is refused");
    assert_eq!(refusal.code(), tonic::Code::InvalidArgument, "{refusal:?}");
    assert!(
        refusal.message().contains("not valid Arrow IPC") && refusal.message().contains(table),
        "{refusal:?}"
    );
    assert_eq!(counted(), 30_000, "the refused message counted nothing");
    t.emu.shutdown().await;
}
