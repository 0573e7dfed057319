//! The `flight` transport: the wrapper sends Arrow batches through the official SDK's
//! Arrow Flight stream to the emulator, which lands them in Delta. The same batches sent
//! over `proto` are the reference: what lands must be equal, what is refused must be
//! refused alike, and faults must lose nothing.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date64Array, Decimal128Array, Float32Array,
    Float64Array, Int16Array, Int32Array, Int64Array, Int8Array, ListBuilder, MapBuilder,
    RecordBatch, StringArray, StringBuilder, StringViewArray, StructArray,
    TimestampMicrosecondArray, TimestampNanosecondArray,
};
use arrow::datatypes::{DataType, Field, Fields, Schema};
use arrow_zerobus_sdk_wrapper::{NullCollections, Transport, ZerobusWrapper};
use zerobus_emulator::{Emulator, EmulatorConfig, EmulatorHandle, Faults, StreamQuota};

const PROTO_TABLE: &str = "main.default.types_proto";
const FLIGHT_TABLE: &str = "main.default.types_flight";
const COLUMNS: &str = "id BIGINT NOT NULL, name STRING, t TIMESTAMP, ntz TIMESTAMP_NTZ, \
    d DECIMAL(10,2), tags ARRAY<STRING>, m MAP<STRING, BIGINT>, day DATE, small SMALLINT, \
    tiny TINYINT, i INT, f FLOAT, x DOUBLE, ok BOOLEAN, bin BINARY, v VARIANT, \
    s STRUCT<a: INT, b: STRING>";

fn config(
    emu: &EmulatorHandle,
    table: &str,
    dir: &Path,
    transport: Transport,
) -> arrow_zerobus_sdk_wrapper::WrapperConfigBuilder {
    crate::common::wrapper_config(emu, table, dir)
        .retry_base_delay_ms(20)
        .retry_max_delay_ms(500)
        .transport(transport)
}

/// Rows `ids` of every column type, in input types that need converting (Int32 into INT
/// is as it is; Int64 into SMALLINT, nanoseconds into TIMESTAMP, Date64 into DATE, Utf8View
/// into STRING, Decimal(12,4) into DECIMAL(10,2), Float32 into DOUBLE, …), with nulls,
/// null lists and maps, and a struct with null rows.
fn every_type(ids: std::ops::Range<i64>) -> RecordBatch {
    let n = (ids.end - ids.start) as usize;
    let id: Vec<i64> = ids.clone().collect();
    let at = |k: usize| id[k];
    let mut tags = ListBuilder::new(StringBuilder::new());
    let mut m = MapBuilder::new(
        None,
        StringBuilder::new(),
        arrow::array::Int64Builder::new(),
    );
    for k in 0..n {
        match at(k) % 4 {
            0 => tags.append_null(),
            1 => tags.append_value(Vec::<Option<&str>>::new()),
            _ => tags.append_value([Some(format!("t{}", at(k))), Some("é".to_string())]),
        }
        if at(k) % 5 == 0 {
            m.append(false).unwrap();
        } else {
            m.keys().append_value(format!("k{}", at(k)));
            m.values().append_value(at(k) * 3);
            m.keys().append_value("second");
            m.values().append_value(-1);
            m.append(true).unwrap();
        }
    }
    let opt = |k: usize| at(k) % 7 != 3;
    let s = StructArray::try_new(
        Fields::from(vec![
            Field::new("a", DataType::Int32, true),
            Field::new("b", DataType::Utf8, true),
        ]),
        vec![
            Arc::new(Int32Array::from_iter((0..n).map(|k| Some(at(k) as i32)))),
            Arc::new(StringArray::from_iter(
                (0..n).map(|k| (at(k) % 3 != 0).then(|| format!("b{}", at(k)))),
            )),
        ],
        Some((0..n).map(|k| at(k) % 6 != 0).collect::<Vec<_>>().into()),
    )
    .unwrap();
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(Int64Array::from(id.clone()))),
        (
            "name",
            Arc::new(StringViewArray::from_iter(
                (0..n).map(|k| opt(k).then(|| format!("name-{}-ñ", at(k)))),
            )),
        ),
        (
            "t",
            Arc::new(
                TimestampNanosecondArray::from_iter(
                    (0..n).map(|k| opt(k).then(|| (1_700_000_000_000_000 + at(k)) * 1_000)),
                )
                .with_timezone("+02:00"),
            ),
        ),
        (
            "ntz",
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                (0..n).map(|k| 1_600_000_000_000_000 + at(k)),
            )),
        ),
        (
            "d",
            Arc::new(
                Decimal128Array::from_iter(
                    (0..n).map(|k| opt(k).then(|| i128::from(at(k) * 100 - 5_000))),
                )
                .with_precision_and_scale(12, 4)
                .unwrap(),
            ),
        ),
        ("tags", Arc::new(tags.finish())),
        ("m", Arc::new(m.finish())),
        (
            "day",
            Arc::new(Date64Array::from_iter_values(
                (0..n).map(|k| (at(k) % 20_000) * 86_400_000),
            )),
        ),
        (
            "small",
            Arc::new(Int64Array::from_iter(
                (0..n).map(|k| opt(k).then(|| at(k) % 30_000)),
            )),
        ),
        (
            "tiny",
            Arc::new(Int16Array::from_iter_values(
                (0..n).map(|k| (at(k) % 100) as i16),
            )),
        ),
        (
            "i",
            Arc::new(Int8Array::from_iter_values(
                (0..n).map(|k| (at(k) % 100) as i8),
            )),
        ),
        (
            "f",
            Arc::new(Float32Array::from_iter_values(
                (0..n).map(|k| at(k) as f32 * 0.5),
            )),
        ),
        (
            "x",
            Arc::new(Float32Array::from_iter(
                (0..n).map(|k| opt(k).then(|| at(k) as f32 * 0.25)),
            )),
        ),
        (
            "ok",
            Arc::new(BooleanArray::from_iter(
                (0..n).map(|k| opt(k).then(|| at(k) % 2 == 0)),
            )),
        ),
        (
            "bin",
            Arc::new(BinaryArray::from_iter(
                (0..n).map(|k| opt(k).then(|| at(k).to_le_bytes().to_vec())),
            )),
        ),
        (
            "v",
            Arc::new(StringArray::from_iter((0..n).map(|k| {
                opt(k).then(|| {
                    format!(
                        r#"{{"id":{},"tags":["a",true,null],"x":{{"y":-7}}}}"#,
                        at(k)
                    )
                })
            }))),
        ),
        ("s", Arc::new(s)),
    ];
    RecordBatch::try_from_iter(columns).unwrap()
}

/// The table's rows sorted by id, each column as text (one string per row).
async fn table_rows(emu: &EmulatorHandle, table: &str) -> Vec<Vec<String>> {
    let batches = zerobus_emulator::storage::read_table(&emu.table_location(table).unwrap())
        .await
        .unwrap();
    let mut rows = Vec::new();
    for b in &batches {
        let shown: Vec<_> = b
            .columns()
            .iter()
            .map(|c| {
                arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &Default::default())
                    .unwrap()
            })
            .collect();
        let names = b.schema();
        for i in 0..b.num_rows() {
            rows.push(
                shown
                    .iter()
                    .zip(names.fields())
                    .map(|(f, field)| format!("{}={}", field.name(), f.value(i)))
                    .collect::<Vec<_>>(),
            );
        }
    }
    rows.sort_by_key(|r| {
        r[0].trim_start_matches("id=")
            .parse::<i64>()
            .unwrap_or(i64::MAX)
    });
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_lands_the_same_over_flight_as_over_proto() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(EmulatorConfig::new(dir.path().join("wh")))
        .await
        .unwrap();
    for t in [PROTO_TABLE, FLIGHT_TABLE] {
        emu.create_table(t, COLUMNS).await.unwrap();
    }
    // 50,000 rows in one batch, and a slice of a larger one: send_all spreads both over
    // lanes in parts, so the Flight parts are slices made compact.
    let whole = every_type(0..50_000);
    let big = every_type(40_000..120_000);
    let sliced = big.slice(10_000, 30_000); // ids 50,000..80,000
                                            // Over proto a NULL ARRAY or MAP is refused unless null_collections says 'empty'.
    let strict = ZerobusWrapper::new(
        config(&emu, PROTO_TABLE, dir.path(), Transport::Proto)
            .build()
            .unwrap(),
    )
    .unwrap();
    let e = strict.send_batch(&whole).await.unwrap_err();
    assert_eq!(e.kind(), "ConversionError", "{e}");
    let e = e.to_string();
    assert!(
        e.contains("column 'tags', row 0: the ARRAY is NULL") && e.contains("null_collections"),
        "{e}"
    );
    strict.shutdown().await.unwrap();
    for (table, transport) in [
        (PROTO_TABLE, Transport::Proto),
        (FLIGHT_TABLE, Transport::Flight),
    ] {
        let w = ZerobusWrapper::new(
            config(&emu, table, dir.path(), transport)
                .null_collections(NullCollections::Empty)
                .build()
                .unwrap(),
        )
        .unwrap();
        let started = Instant::now();
        let input = futures::stream::iter(
            [whole.clone(), sliced.clone()].map(Ok::<_, std::convert::Infallible>),
        );
        let summary = w.send_all(input, &|_| {}).await.unwrap();
        println!(
            "{transport:?}: {} rows in {} sends, {} bytes, {:?}",
            summary.rows,
            summary.batches,
            summary.bytes,
            started.elapsed()
        );
        assert_eq!(summary.rows, 80_000);
        w.shutdown().await.unwrap();
    }
    let proto = table_rows(&emu, PROTO_TABLE).await;
    let flight = table_rows(&emu, FLIGHT_TABLE).await;
    assert_eq!(proto.len(), 80_000);
    assert_eq!(flight.len(), 80_000);
    // Protobuf has no NULL for a repeated field: over proto (null_collections 'empty') a
    // NULL ARRAY or MAP lands empty; Flight carries the NULL. Every other value lands the
    // same, a NULL STRUCT as NULL on both.
    for (p, f) in proto.iter().zip(&flight) {
        let f: Vec<String> = f
            .iter()
            .map(|c| match c.as_str() {
                "tags=" => "tags=[]".to_string(),
                "m=" => "m={}".to_string(),
                other => other.to_string(),
            })
            .collect();
        assert_eq!(p, &f, "a row landed differently over Flight");
    }
    let nulls = |name: &str| {
        flight
            .iter()
            .filter(|r| r.contains(&format!("{name}=")))
            .count()
    };
    assert_eq!(
        (nulls("tags"), nulls("m")),
        (20_000, 16_000),
        "NULL lists and maps stay NULL over Flight"
    );
    let null_structs = |rows: &[Vec<String>]| {
        rows.iter()
            .filter(|r| r.contains(&"s=".to_string()))
            .count()
    };
    assert!(null_structs(&flight) > 0);
    assert_eq!(
        null_structs(&proto),
        null_structs(&flight),
        "a NULL STRUCT lands NULL on both"
    );

    // Spot checks that the reference is what the batch said.
    let row = &flight[7];
    assert!(row.contains(&"small=7".to_string()), "{row:?}");
    assert!(row.contains(&"d=-0.43".to_string()), "{row:?}");
    assert!(row.contains(&"tags=[t7, é]".to_string()), "{row:?}");
    let s = emu.stats();
    println!("stats: {s:?}");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flight_refuses_what_proto_refuses_with_the_same_words() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(EmulatorConfig::new(dir.path().join("wh")))
        .await
        .unwrap();
    emu.create_table(FLIGHT_TABLE, COLUMNS).await.unwrap();
    // The batches hold NULL lists, which only proto refuses (unless sent empty).
    let proto = ZerobusWrapper::new(
        config(&emu, FLIGHT_TABLE, dir.path(), Transport::Proto)
            .null_collections(NullCollections::Empty)
            .build()
            .unwrap(),
    )
    .unwrap();
    let flight = ZerobusWrapper::new(
        config(&emu, FLIGHT_TABLE, dir.path(), Transport::Flight)
            .build()
            .unwrap(),
    )
    .unwrap();
    let good = every_type(0..10);
    let with = |name: &str, column: ArrayRef| {
        let schema = good.schema();
        let k = schema.index_of(name).unwrap();
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields[k] = Field::new(name, column.data_type().clone(), true);
        let mut columns = good.columns().to_vec();
        columns[k] = column;
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    };
    let cases = vec![
        (
            "SMALLINT out of range",
            with(
                "small",
                Arc::new(Int64Array::from_iter_values((0..10).map(|k| k * 10_000))),
            ),
        ),
        (
            "DECIMAL digits beyond the scale",
            with(
                "d",
                Arc::new(
                    Decimal128Array::from_iter_values((0..10).map(|k| k * 10 + 1))
                        .with_precision_and_scale(12, 4)
                        .unwrap(),
                ),
            ),
        ),
        (
            "nanoseconds below a microsecond",
            with(
                "t",
                Arc::new(
                    TimestampNanosecondArray::from_iter_values((0..10).map(|k| k * 1_001))
                        .with_timezone("UTC"),
                ),
            ),
        ),
        (
            "VARIANT that is not JSON",
            with(
                "v",
                Arc::new(StringArray::from_iter_values((0..10).map(|k| {
                    if k == 6 {
                        "{nope".to_string()
                    } else {
                        "1".to_string()
                    }
                }))),
            ),
        ),
        (
            "Float64 into FLOAT",
            with(
                "f",
                Arc::new(Float64Array::from_iter_values((0..10).map(|k| k as f64))),
            ),
        ),
        (
            "NULL id",
            with(
                "id",
                Arc::new(Int64Array::from_iter(
                    (0..10).map(|k| (k != 4).then_some(k)),
                )),
            ),
        ),
        ("an unknown column", {
            let mut columns: Vec<(&str, ArrayRef)> =
                vec![("id", Arc::new(Int64Array::from_iter_values(0..10)))];
            columns.push(("surprise", Arc::new(Int64Array::from_iter_values(0..10))));
            RecordBatch::try_from_iter(columns).unwrap()
        }),
    ];
    for (case, batch) in cases {
        let p = proto.send_batch(&batch).await.expect_err(case);
        let f = flight.send_batch(&batch).await.expect_err(case);
        println!("{case}: {f}");
        assert_eq!(p.kind(), "ConversionError", "{case}: {p}");
        assert_eq!(
            (f.kind(), f.to_string()),
            (p.kind(), p.to_string()),
            "{case}"
        );
        assert!(f.to_string().contains(FLIGHT_TABLE), "{f}");
    }
    assert_eq!(
        emu.streams_opened(),
        0,
        "nothing was sent for any bad batch"
    );
    // The good batch goes through on both.
    assert_eq!(flight.send_batch(&good).await.unwrap().rows, 10);
    assert_eq!(
        proto.send_batch(&every_type(10..20)).await.unwrap().rows,
        10
    );
    flight.shutdown().await.unwrap();
    proto.shutdown().await.unwrap();
    assert_eq!(table_rows(&emu, FLIGHT_TABLE).await.len(), 20);
    emu.shutdown().await;
}

const IDS: &str = "main.default.flight_ids";

async fn id_emulator(dir: &Path, quota: Option<u64>, faults: Faults) -> EmulatorHandle {
    let mut c = EmulatorConfig::new(dir.join("wh")).with_faults(faults);
    if let Some(records_per_sec) = quota {
        c = c.with_stream_quota(StreamQuota {
            records_per_sec,
            bytes_per_sec: StreamQuota::SERVICE.bytes_per_sec,
        });
    }
    let emu = Emulator::start(c).await.unwrap();
    emu.create_table(IDS, "id BIGINT NOT NULL, body STRING")
        .await
        .unwrap();
    emu
}

async fn load(
    w: &ZerobusWrapper,
    batches: Vec<RecordBatch>,
) -> arrow_zerobus_sdk_wrapper::Result<arrow_zerobus_sdk_wrapper::wrapper::LoadSummary> {
    let input = futures::stream::iter(batches.into_iter().map(Ok::<_, std::convert::Infallible>));
    w.send_all(input, &|_| {}).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flight_lanes_take_a_quota_each_and_faults_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let emu = id_emulator(
        dir.path(),
        Some(50_000),
        Faults {
            unavailable_rate: 0.05,
            close_stream_after_records: Some(30_000),
            ..Faults::default()
        },
    )
    .await;
    let w = ZerobusWrapper::new(
        config(&emu, IDS, dir.path(), Transport::Flight)
            .max_streams(4)
            .retry_max_attempts(30)
            .build()
            .unwrap(),
    )
    .unwrap();
    const N: i64 = 300_000;
    let started = Instant::now();
    let summary = load(
        &w,
        (0..N)
            .step_by(25_000)
            .map(|s| crate::common::id_body_batch(s..s + 25_000))
            .collect(),
    )
    .await
    .unwrap();
    let elapsed = started.elapsed();
    w.shutdown().await.unwrap();
    let stats = emu.stats().get(IDS).cloned().unwrap_or_default();
    let (rows, distinct, missing) = crate::common::id_body_landed(&emu, IDS, N).await;
    println!(
        "Flight, 4 lanes, 50,000 records/s per stream, 5% UNAVAILABLE, closes every 30,000 records: \
         {N} rows in {elapsed:?} ({:.0} rows/s), {} retries, streams opened {}, rows in table {rows} \
         (duplicates {}), missing {missing}",
        N as f64 / elapsed.as_secs_f64(),
        summary.retries,
        stats.streams_opened,
        rows - distinct
    );
    assert_eq!((distinct, missing), (N as usize, 0));
    assert!(stats.streams_opened >= 4, "{stats:?}");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flight_debug_files_hold_the_batches_and_what_was_sent() {
    let dir = tempfile::tempdir().unwrap();
    let emu = id_emulator(dir.path(), None, Faults::default()).await;
    let debug_dir = dir.path().join("debug");
    let w = ZerobusWrapper::new(
        config(&emu, IDS, dir.path(), Transport::Flight)
            .debug_enabled(true)
            .debug_output_dir(&debug_dir)
            .build()
            .unwrap(),
    )
    .unwrap();
    for k in 0..3 {
        w.send_batch(&crate::common::id_body_batch(k * 1000..(k + 1) * 1000))
            .await
            .unwrap();
    }
    w.shutdown().await.unwrap();
    let files = w.debug_files();
    assert_eq!(files.len(), 2, "{files:?}");
    let read = |p: &Path| -> Vec<RecordBatch> {
        let bytes = std::fs::read(p).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains(emu.client_secret()));
        arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
            .unwrap()
            .map(|b| b.unwrap())
            .collect()
    };
    let input = read(&files[0]);
    assert!(
        files[1].to_string_lossy().ends_with(".flight.arrows"),
        "{files:?}"
    );
    let sent = read(&files[1]);
    assert_eq!(input.iter().map(|b| b.num_rows()).sum::<usize>(), 3000);
    assert_eq!(sent.iter().map(|b| b.num_rows()).sum::<usize>(), 3000);
    assert_eq!(
        sent[0].schema().field(1).data_type(),
        &DataType::LargeUtf8,
        "the Flight type of STRING"
    );
    assert_eq!(
        input[0].schema().field(1).data_type(),
        &DataType::Utf8,
        "the batch as given"
    );
    emu.shutdown().await;
}

/// The same JSON lands the same VARIANT over proto and over Flight: decimals keep their
/// digits (no trip through f64), big integers every digit, keys sorted, whitespace gone;
/// an object with a duplicate key is refused with the same words on both transports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variant_json_lands_the_same_on_both_transports() {
    let docs = [
        r#"{"price": 19.990}"#,
        r#"{"b": 1, "a": 2}"#,
        r#"12345678901234567.5"#,
        r#"123456789012345678901234567890"#,
        r#"-9223372036854775808"#,
        r#"9223372036854775808"#,
        r#"1E2"#,
        r#"-0.0"#,
        r#"0.1"#,
        r#"1.5e-7"#,
        r#"[1, 2.50, "x", null, true, false]"#,
        r#"{"nested": {"z": [], "y": {}, "x": [{"k": 0.000001}]}}"#,
        r#""\u00e9\ud83d\ude00 tab\t quote\" slash\/""#,
        r#"  {  "spaced"  :  [ 1 , 2 ]  }  "#,
        r#"null"#,
        r#"true"#,
        r#""""#,
        r#"{}"#,
        r#"[]"#,
        r#"300"#,
        r#"70000"#,
        r#"-5000000000"#,
        r#"99999999999999999999999999999999999999"#,
        r#"0.00000000000000000000000000000000000001"#,
        r#"{"emoji 😀": "ok", "é": 1}"#,
        r#"[[[[[[1]]]]]]"#,
        r#"{"a": {"a": {"a": 1}}}"#,
        r#"{"big": 1234567890123456789012345.123456789}"#,
        r#"3.141592653589793238462643383279"#,
        r#"{"list": [{"id": 1, "v": 1.10}, {"id": 2, "v": -2.200}]}"#,
    ];
    assert_eq!(docs.len(), 30);
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(EmulatorConfig::new(dir.path().join("wh")))
        .await
        .unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("v", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from_iter_values(0..docs.len() as i64)),
            Arc::new(StringArray::from(docs.to_vec())),
        ],
    )
    .unwrap();
    let duplicate = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(vec![100, 101])),
            Arc::new(StringArray::from(vec![
                r#"{"a": 1}"#,
                r#"{"x": {"k": 1, "k": 2}}"#,
            ])),
        ],
    )
    .unwrap();
    let mut refusals = Vec::new();
    for (table, transport) in [
        ("main.default.variant_proto", Transport::Proto),
        ("main.default.variant_flight", Transport::Flight),
    ] {
        emu.create_table(table, "id BIGINT NOT NULL, v VARIANT")
            .await
            .unwrap();
        let w = ZerobusWrapper::new(config(&emu, table, dir.path(), transport).build().unwrap())
            .unwrap();
        w.send_batch(&batch).await.unwrap();
        let e = w.send_batch(&duplicate).await.unwrap_err();
        assert_eq!(e.kind(), "ConversionError");
        refusals.push(e.to_string());
        w.shutdown().await.unwrap();
    }
    assert!(
        refusals[0].contains("column 'v', row 1") && refusals[0].contains("duplicate key 'k'"),
        "{}",
        refusals[0]
    );
    assert_eq!(
        refusals[0].replace("variant_proto", "T"),
        refusals[1].replace("variant_flight", "T"),
        "the same words on both transports"
    );
    let proto = table_rows(&emu, "main.default.variant_proto").await;
    let flight = table_rows(&emu, "main.default.variant_flight").await;
    assert_eq!(proto.len(), docs.len());
    for (i, (p, f)) in proto.iter().zip(&flight).enumerate() {
        assert_eq!(p, f, "document {i} ({}) landed differently", docs[i]);
    }
    let landed = |i: usize| proto[i][1].trim_start_matches("v=").to_string();
    assert_eq!(landed(0), r#"{"price":19.99}"#);
    assert_eq!(landed(1), r#"{"a":2,"b":1}"#);
    assert_eq!(landed(2), "12345678901234567.5");
    assert_eq!(landed(3), "123456789012345678901234567890");
    assert_eq!(landed(5), "9223372036854775808");
    assert_eq!(landed(27), r#"{"big":1234567890123456789012345.123456789}"#);
    emu.shutdown().await;
}
