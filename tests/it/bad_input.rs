//! The bad-input catalogue: every kind of input a user can get wrong, each refused with an
//! error of the right kind whose message names the table (and the column and row where
//! there is one), before anything is sent. Prints the catalogue (case, kind, message).

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Decimal128Array, DurationSecondArray, Float64Array, Int32Array, Int64Array,
    IntervalMonthDayNanoArray, ListBuilder, MapBuilder, RecordBatch, RunArray, StringArray,
    StringBuilder, Time64MicrosecondArray, TimestampSecondArray, UInt64Array, UnionArray,
};
use arrow::array::{Date64Array, TimestampMicrosecondArray, TimestampNanosecondArray};
use arrow::buffer::ScalarBuffer;
use arrow::datatypes::{DataType, Field, Int32Type, IntervalMonthDayNano, Schema, UnionFields};
use arrow_zerobus_sdk_wrapper::{
    SchemaSource, Transport, WrapperConfig, ZerobusError, ZerobusWrapper,
};
use zerobus_emulator::{Emulator, EmulatorConfig, EmulatorHandle};

const TABLE: &str = "main.default.catalogue";
const COLUMNS: &str = "id BIGINT NOT NULL, name STRING, t TIMESTAMP, d DECIMAL(10,2), \
    tags ARRAY<STRING>, m MAP<STRING, BIGINT>, day DATE, small SMALLINT, v VARIANT, \
    ntz TIMESTAMP_NTZ";

fn config(emu: &EmulatorHandle, dir: &Path) -> arrow_zerobus_sdk_wrapper::WrapperConfigBuilder {
    crate::common::wrapper_config(emu, TABLE, dir)
        .retry_max_attempts(2)
        .retry_base_delay_ms(10)
        .retry_max_delay_ms(50)
}

/// A batch of `id` (1, 2, …) and one more column.
fn with_column(name: &str, column: ArrayRef) -> RecordBatch {
    let n = column.len() as i64;
    let schema = Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new(name, column.data_type().clone(), true),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![Arc::new(Int64Array::from_iter_values(1..=n)), column],
    )
    .unwrap()
}

fn kind(e: &ZerobusError) -> &'static str {
    e.kind()
}

struct Case {
    name: &'static str,
    batch: RecordBatch,
    kind: &'static str,
    /// Strings the message must contain (besides the table name).
    says: Vec<&'static str>,
}

fn conversion_cases() -> Vec<Case> {
    let mut null_value = MapBuilder::new(
        None,
        StringBuilder::new(),
        arrow::array::Int64Builder::new(),
    );
    null_value.keys().append_value("a");
    null_value.values().append_value(1);
    null_value.append(true).unwrap();
    null_value.keys().append_value("b");
    null_value.values().append_null();
    null_value.append(true).unwrap();
    let union = UnionArray::try_new(
        UnionFields::try_new(vec![0], vec![Field::new("a", DataType::Int32, true)]).unwrap(),
        ScalarBuffer::from(vec![0i8, 0]),
        None,
        vec![Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef],
    )
    .unwrap();
    let run_end = RunArray::<Int32Type>::try_new(
        &Int32Array::from(vec![2]),
        &StringArray::from(vec!["same"]),
    )
    .unwrap();
    let mut list = ListBuilder::new(StringBuilder::new());
    list.append_value([Some("a")]);
    list.append_value([Some("b"), None]);
    let mut float_keys = MapBuilder::new(
        None,
        arrow::array::Float64Builder::new(),
        arrow::array::Int64Builder::new(),
    );
    float_keys.keys().append_value(1.5);
    float_keys.values().append_value(1);
    float_keys.append(true).unwrap();
    let missing_id = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("name", DataType::Utf8, true)])),
        vec![Arc::new(StringArray::from(vec!["no id"]))],
    )
    .unwrap();
    let null_id = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)])),
        vec![Arc::new(Int64Array::from(vec![Some(1), None]))],
    )
    .unwrap();
    let too_big = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("id", DataType::UInt64, false)])),
        vec![Arc::new(UInt64Array::from(vec![1, u64::MAX]))],
    )
    .unwrap();
    let huge = "x".repeat(11 * 1024 * 1024);
    let mib = "y".repeat(1024 * 1024);
    vec![
        Case {
            name: "Time64 column",
            batch: with_column("name", Arc::new(Time64MicrosecondArray::from(vec![1]))),
            kind: "ConversionError",
            says: vec!["'name'", "Time64"],
        },
        Case {
            name: "Interval column",
            batch: with_column(
                "name",
                Arc::new(IntervalMonthDayNanoArray::from(vec![
                    IntervalMonthDayNano::new(1, 2, 3),
                ])),
            ),
            kind: "ConversionError",
            says: vec!["'name'", "Interval"],
        },
        Case {
            name: "Duration column",
            batch: with_column("name", Arc::new(DurationSecondArray::from(vec![5]))),
            kind: "ConversionError",
            says: vec!["'name'", "Duration"],
        },
        Case {
            name: "Union column",
            batch: with_column("name", Arc::new(union)),
            kind: "ConversionError",
            says: vec!["'name'", "Union"],
        },
        Case {
            name: "RunEndEncoded column",
            batch: with_column("name", Arc::new(run_end)),
            kind: "ConversionError",
            says: vec!["'name'", "RunEndEncoded"],
        },
        Case {
            name: "null in a NOT NULL column",
            batch: null_id,
            kind: "ConversionError",
            says: vec!["'id'", "row 1"],
        },
        Case {
            name: "null element inside a list",
            batch: with_column("tags", Arc::new(list.finish())),
            kind: "ConversionError",
            says: vec!["tags", "row 1"],
        },
        Case {
            name: "UInt64 over i64::MAX",
            batch: too_big,
            kind: "ConversionError",
            says: vec!["'id'", "row 1"],
        },
        Case {
            name: "timestamp overflow on unit conversion",
            batch: with_column(
                "t",
                Arc::new(TimestampSecondArray::from(vec![0, i64::MAX / 10]).with_timezone("UTC")),
            ),
            kind: "ConversionError",
            says: vec!["'t'", "row 1"],
        },
        Case {
            name: "decimal precision over the table's",
            batch: with_column(
                "d",
                Arc::new(
                    Decimal128Array::from(vec![1_00, 10i128.pow(20)])
                        .with_precision_and_scale(38, 2)
                        .unwrap(),
                ),
            ),
            kind: "ConversionError",
            says: vec!["'d'", "row 1"],
        },
        Case {
            name: "map with a float key",
            batch: with_column("m", Arc::new(float_keys.finish())),
            kind: "ConversionError",
            says: vec!["'m.key'"],
        },
        Case {
            name: "timestamp into a DATE column",
            batch: with_column(
                "day",
                Arc::new(TimestampSecondArray::from(vec![0, 60]).with_timezone("UTC")),
            ),
            kind: "ConversionError",
            says: vec!["'day'", "DATE column", "cast it to DATE"],
        },
        Case {
            name: "Date64 that is not a whole day",
            batch: with_column("day", Arc::new(Date64Array::from(vec![86_400_000, 5]))),
            kind: "ConversionError",
            says: vec!["'day', row 1", "not a whole day"],
        },
        Case {
            name: "timestamp without zone into TIMESTAMP",
            batch: with_column("t", Arc::new(TimestampMicrosecondArray::from(vec![1]))),
            kind: "ConversionError",
            says: vec!["'t'", "without time zone"],
        },
        Case {
            name: "timestamp with zone into TIMESTAMP_NTZ",
            batch: with_column(
                "ntz",
                Arc::new(TimestampMicrosecondArray::from(vec![1]).with_timezone("UTC")),
            ),
            kind: "ConversionError",
            says: vec!["'ntz'", "TIMESTAMP_NTZ"],
        },
        Case {
            name: "nanoseconds below a microsecond",
            batch: with_column(
                "t",
                Arc::new(TimestampNanosecondArray::from(vec![1_000, 1_001]).with_timezone("UTC")),
            ),
            kind: "ConversionError",
            says: vec!["'t', row 1", "below a microsecond"],
        },
        Case {
            name: "SMALLINT out of range",
            batch: with_column("small", Arc::new(Int32Array::from(vec![1, 40_000]))),
            kind: "ConversionError",
            says: vec!["'small', row 1", "SMALLINT"],
        },
        Case {
            name: "decimal with more digits after the point than the scale",
            batch: with_column(
                "d",
                Arc::new(
                    Decimal128Array::from(vec![12_300, 12_345])
                        .with_precision_and_scale(12, 4)
                        .unwrap(),
                ),
            ),
            kind: "ConversionError",
            says: vec![
                "'d', row 1",
                "1.2345 has more than 2 digits after the point",
            ],
        },
        Case {
            name: "VARIANT text that is not JSON",
            batch: with_column("v", Arc::new(StringArray::from(vec!["{\"a\": 1}", "{bad"]))),
            kind: "ConversionError",
            says: vec!["'v', row 1", "not JSON"],
        },
        Case {
            name: "NULL map value",
            batch: with_column("m", Arc::new(null_value.finish())),
            kind: "ConversionError",
            says: vec!["'m', row 1", "key 'b' is NULL"],
        },
        Case {
            name: "two columns differing only in case",
            batch: {
                let schema = Schema::new(vec![
                    Field::new("id", DataType::Int64, false),
                    Field::new("ID", DataType::Int64, true),
                ]);
                RecordBatch::try_new(
                    Arc::new(schema),
                    vec![
                        Arc::new(Int64Array::from(vec![1])),
                        Arc::new(Int64Array::from(vec![2])),
                    ],
                )
                .unwrap()
            },
            kind: "ConversionError",
            says: vec!["'id' and 'ID'"],
        },
        Case {
            name: "extra column",
            batch: with_column("surprise", Arc::new(Float64Array::from(vec![1.0]))),
            kind: "ConversionError",
            says: vec!["'surprise'"],
        },
        Case {
            name: "missing NOT NULL column",
            batch: missing_id,
            kind: "ConversionError",
            says: vec!["'id'"],
        },
        Case {
            name: "row over 10 MiB",
            batch: with_column(
                "name",
                Arc::new(StringArray::from(vec!["small", huge.as_str()])),
            ),
            kind: "ConversionError",
            says: vec!["row 1"],
        },
        Case {
            // Eleven 1 MiB strings in one row's ARRAY<STRING>: no column alone is over
            // the limit, the row is (Flight measured only top-level text before).
            name: "row over 10 MiB in an ARRAY<STRING>",
            batch: with_column("tags", {
                let mut b = ListBuilder::new(StringBuilder::new());
                b.append_value([Some("small")]);
                b.append_value(std::iter::repeat_n(Some(mib.as_str()), 11));
                Arc::new(b.finish())
            }),
            kind: "ConversionError",
            says: vec!["row 1"],
        },
    ]
}

fn print_row(case: &str, e: &ZerobusError) {
    let m = e.to_string();
    let short: String = m.chars().take(600).collect();
    println!("| {case} | {} | {short} |", kind(e));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_batches_are_refused_naming_table_column_and_row() {
    refused_on(Transport::Proto).await;
}

/// The same catalogue over Arrow Flight: the same kinds, naming the same places.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_batches_are_refused_alike_over_flight() {
    refused_on(Transport::Flight).await;
}

async fn refused_on(transport: Transport) {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(EmulatorConfig::new(dir.path().join("wh")))
        .await
        .unwrap();
    emu.create_table(TABLE, COLUMNS).await.unwrap();
    let wrapper = ZerobusWrapper::new(
        config(&emu, dir.path())
            .transport(transport)
            .build()
            .unwrap(),
    )
    .unwrap();
    println!("{transport:?}\n| case | error | message |\n|---|---|---|");
    let mut failures = Vec::new();
    for case in conversion_cases() {
        match wrapper.send_batch(&case.batch).await {
            Ok(r) => failures.push(format!("{}: accepted ({} rows)", case.name, r.rows)),
            Err(e) => {
                print_row(case.name, &e);
                let m = e.to_string();
                if kind(&e) != case.kind
                    || !m.contains(TABLE)
                    || case.says.iter().any(|s| !m.contains(s))
                {
                    failures.push(format!(
                        "{}: expected {} naming {TABLE} and {:?}, got {}: {m}",
                        case.name,
                        case.kind,
                        case.says,
                        kind(&e)
                    ));
                }
            }
        }
    }
    // An empty batch is no error and sends nothing.
    let empty = with_column("name", Arc::new(StringArray::from(Vec::<&str>::new())));
    let r = wrapper.send_batch(&empty).await.unwrap();
    assert_eq!((r.success, r.rows, r.attempts), (true, 0, 0));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        emu.streams_opened(),
        0,
        "nothing was sent for any bad batch"
    );
    // What was refused left the wrapper usable: a good batch goes through.
    let good = with_column("name", Arc::new(StringArray::from(vec!["fine"])));
    assert_eq!(wrapper.send_batch(&good).await.unwrap().rows, 1);
    wrapper.shutdown().await.unwrap();
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_2000_columns_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(EmulatorConfig::new(dir.path().join("wh")))
        .await
        .unwrap();
    let config = config(&emu, dir.path())
        .schema_source(SchemaSource::ArrowSchema)
        .build()
        .unwrap();
    let wrapper = ZerobusWrapper::new(config).unwrap();
    let fields: Vec<Field> = (0..2001)
        .map(|i| Field::new(format!("c{i}"), DataType::Int64, true))
        .collect();
    let columns: Vec<ArrayRef> = (0..2001)
        .map(|_| Arc::new(Int64Array::from(vec![1])) as ArrayRef)
        .collect();
    let wide = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    let e = wrapper.send_batch(&wide).await.unwrap_err();
    print_row("2,001 columns", &e);
    assert_eq!(kind(&e), "ConversionError", "{e}");
    assert!(
        e.to_string().contains("2001") && e.to_string().contains("2000"),
        "{e}"
    );
    assert_eq!(emu.streams_opened(), 0);
    emu.shutdown().await;
}

#[test]
fn table_names_in_the_wrong_shape_are_configuration_errors() {
    for name in [
        "main.default",
        "main.default.t.extra",
        "main..t",
        "main.default.my table",
        "main.default.\"t\"",
        "`main`.default.t",
        "main.default.t;",
        "",
    ] {
        let e = WrapperConfig::builder("http://127.0.0.1:1", name)
            .client_id("id")
            .client_secret("secret")
            .unity_catalog_url("http://127.0.0.1:2")
            .build()
            .unwrap_err();
        print_row(&format!("table name {name:?}"), &e);
        assert_eq!(kind(&e), "ConfigurationError", "{name:?}: {e}");
        assert!(e.to_string().contains("table_name"), "{name:?}: {e}");
    }
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An HTTP/1.1 server that answers 404 to everything: an endpoint that is not Zerobus.
fn http_404_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
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
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_that_are_wrong_fail_clearly_and_keep_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(EmulatorConfig::new(dir.path().join("wh")))
        .await
        .unwrap();
    emu.create_table(TABLE, COLUMNS).await.unwrap();
    let grpc_port = emu.grpc_url().rsplit(':').next().unwrap().to_string();
    let not_zerobus = http_404_server();
    let cases = [
        (
            "unreachable endpoint",
            format!("http://127.0.0.1:{}", closed_port()),
        ),
        (
            "endpoint that is not Zerobus (HTTP 404)",
            format!("http://127.0.0.1:{not_zerobus}"),
        ),
        (
            "TLS to a plain-text port",
            format!("https://127.0.0.1:{grpc_port}"),
        ),
    ];
    let mut failures = Vec::new();
    for (case, endpoint) in cases {
        let mut config = config(&emu, dir.path()).build().unwrap();
        config.endpoint = endpoint;
        let wrapper = ZerobusWrapper::new(config).unwrap();
        let batch = with_column("name", Arc::new(StringArray::from(vec!["a", "b", "c"])));
        match wrapper.send_batch(&batch).await {
            Ok(_) => failures.push(format!("{case}: accepted")),
            Err(e) => {
                print_row(case, &e);
                let m = e.to_string();
                // Nothing can have been delivered: the three rows are in the dead-letter file.
                let kept = matches!(&e, ZerobusError::RetryExhausted { rows: 3, dead_letter: Some(p), .. } if p.exists())
                    || m.contains("3 unacknowledged rows were written to");
                if !m.contains(TABLE) || !kept || !m.contains("endpoint") {
                    failures.push(format!("{case}: {}: {m}", kind(&e)));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    emu.shutdown().await;
}
