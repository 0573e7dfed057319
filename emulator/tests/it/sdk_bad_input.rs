//! Bad input through the official SDK: each is refused with a clear, non-retryable error,
//! nothing of the bad record is written, what was acknowledged before stays, and the
//! stream is left failed (as the service leaves it).

use databricks_zerobus_ingest_sdk::{
    message_descriptor, JsonString, ProtoBytes, ZerobusError, ZerobusStream,
};
use prost::Message as _;
use prost_reflect::DynamicMessage;
use prost_types::field_descriptor_proto::Type;
use serde_json::json;

use crate::common::*;

const TABLE: &str = "main.default.strict";
const COLUMNS: &str = "id BIGINT NOT NULL, w INT, s STRING";

async fn build_with(
    t: &TestEmulator,
    table: &str,
    desc: prost_types::DescriptorProto,
) -> Result<ZerobusStream, ZerobusError> {
    sdk(&t.emu)
        .stream_builder()
        .table(table)
        .oauth(t.emu.client_id(), t.emu.client_secret())
        .compiled_proto(desc)
        .build()
        .await
}

fn assert_final(err: &ZerobusError, needle: &str) {
    assert!(!err.is_retryable(), "must not be retried: {err}");
    assert!(
        err.to_string().contains(needle),
        "error should mention {needle:?}: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_creation_refuses_unknown_tables_and_incompatible_descriptors() {
    let t = start(|c| c).await;
    t.emu.create_table(TABLE, COLUMNS).await.unwrap();
    let good = descriptor(&t.emu, TABLE).await;

    let err = build_with(&t, "main.default.nope", good.clone())
        .await
        .err()
        .expect("unknown table");
    assert_final(&err, "main.default.nope' does not exist");

    let mut missing = good.clone();
    missing.field.retain(|f| f.name() != "id");
    let err = build_with(&t, TABLE, missing)
        .await
        .err()
        .expect("missing NOT NULL column");
    assert_final(
        &err,
        "column 'id' is NOT NULL but the descriptor has no field for it",
    );

    let mut wrong_type = good.clone();
    for f in &mut wrong_type.field {
        if f.name() == "w" {
            f.r#type = Some(Type::String as i32);
        }
    }
    let err = build_with(&t, TABLE, wrong_type)
        .await
        .err()
        .expect("wrong type");
    assert_final(
        &err,
        "field 'w' has protobuf type string but the column is int",
    );

    // A narrower wire type than the service maps the column to: int32 for a BIGINT.
    let mut narrower = good.clone();
    for f in &mut narrower.field {
        if f.name() == "id" {
            f.r#type = Some(Type::Int32 as i32);
        }
    }
    let err = build_with(&t, TABLE, narrower)
        .await
        .err()
        .expect("int32 for a BIGINT column");
    assert_final(&err, "field 'id' has protobuf type int32 but the column is");

    let mut extra = good.clone();
    let mut f = extra.field[2].clone();
    f.name = Some("surprise".into());
    f.json_name = Some("surprise".into());
    f.number = Some(99);
    extra.field.push(f);
    let err = build_with(&t, TABLE, extra)
        .await
        .err()
        .expect("extra field");
    assert_final(&err, "field 'surprise' is not a column of the table");

    let err = sdk(&t.emu)
        .stream_builder()
        .table("main.default.bad-name")
        .oauth(t.emu.client_id(), t.emu.client_secret())
        .compiled_proto(good)
        .build()
        .await
        .err()
        .expect("bad table name");
    assert!(!err.is_retryable(), "{err}");
    assert_eq!(
        t.emu.streams_opened(),
        0,
        "no stream may open for bad input"
    );
    t.emu.shutdown().await;
}

/// Ingest `good` rows (acknowledged), then one bad request; returns the error that ends
/// the stream, after checking the stream stays failed and only the good rows landed.
async fn refuse_after_good_rows(
    t: &TestEmulator,
    stream: ZerobusStream,
    good: Vec<ProtoBytes>,
    bad: ProtoBytes,
) -> ZerobusError {
    let n = good.len();
    stream.ingest_records_offset(good).await.expect("good rows");
    stream.flush().await.expect("good rows acknowledged");
    let err = match stream.ingest_record_offset(bad).await {
        Err(e) => e,
        Ok(_) => stream
            .flush()
            .await
            .expect_err("the bad record must fail the stream"),
    };
    let after = stream.ingest_record_offset(ProtoBytes(vec![8, 1])).await;
    let after = match after {
        Err(e) => Err(e),
        Ok(_) => stream.flush().await,
    };
    assert!(after.is_err(), "a failed stream must stay failed");
    let batches = read_table(&t.emu.table_location(TABLE).unwrap()).await;
    assert_eq!(
        row_count(&batches),
        n,
        "only the acknowledged rows are in the table"
    );
    err
}

fn good_rows(md: &prost_reflect::MessageDescriptor, n: i64) -> Vec<ProtoBytes> {
    (0..n)
        .map(|id| {
            ProtoBytes(
                DynamicMessage::deserialize(md.clone(), json!({"id": id, "w": 1, "s": "ok"}))
                    .unwrap()
                    .encode_to_vec(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_over_10_mib_is_refused() {
    let t = start(|c| c).await;
    t.emu.create_table(TABLE, COLUMNS).await.unwrap();
    let desc = descriptor(&t.emu, TABLE).await;
    let md = message_descriptor(&desc).unwrap();
    // Let the client send it, so that the service's own limit is what is tested.
    let stream = sdk(&t.emu)
        .stream_builder()
        .table(TABLE)
        .oauth(t.emu.client_id(), t.emu.client_secret())
        .compiled_proto(desc)
        .max_ingest_payload_bytes(32 * 1024 * 1024)
        .build()
        .await
        .unwrap();
    let huge = DynamicMessage::deserialize(
        md.clone(),
        json!({"id": 1, "s": "x".repeat(11 * 1024 * 1024)}),
    )
    .unwrap();
    let err = refuse_after_good_rows(
        &t,
        stream,
        good_rows(&md, 10),
        ProtoBytes(huge.encode_to_vec()),
    )
    .await;
    assert_final(&err, "over the 10485760-byte limit");
    t.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_proto_bytes_are_refused() {
    let t = start(|c| c).await;
    t.emu.create_table(TABLE, COLUMNS).await.unwrap();
    let desc = descriptor(&t.emu, TABLE).await;
    let md = message_descriptor(&desc).unwrap();
    let stream = proto_stream(&t.emu, TABLE).await;
    let err = refuse_after_good_rows(
        &t,
        stream,
        good_rows(&md, 25),
        ProtoBytes(vec![0x0a, 0xff, 0xff, 0xff]),
    )
    .await;
    assert_final(&err, "is not a valid 'Row' message");
    assert!(err.to_string().contains("main.default.strict"), "{err}");
    t.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_without_a_not_null_value_is_refused() {
    let t = start(|c| c).await;
    t.emu.create_table(TABLE, COLUMNS).await.unwrap();
    let desc = descriptor(&t.emu, TABLE).await;
    let md = message_descriptor(&desc).unwrap();
    let stream = proto_stream(&t.emu, TABLE).await;
    // proto2 `required` is not enforced by prost-reflect when encoding: the service checks.
    let no_id = DynamicMessage::deserialize(md.clone(), json!({"w": 5}))
        .unwrap()
        .encode_to_vec();
    let err = refuse_after_good_rows(&t, stream, good_rows(&md, 3), ProtoBytes(no_id)).await;
    assert_final(
        &err,
        "column 'id' is NOT NULL but the record has no value for it",
    );
    t.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_that_does_not_match_the_schema_is_refused() {
    for (bad, needle) in [
        (r#"{"id": "abc"}"#, "column 'id': expected an integer"),
        (r#"{"id": 1, "nope": 2}"#, "field 'nope' is not a column"),
        (r#"{"id": 1, "w": 3000000000}"#, "out of range for INT"),
        (r#"{"id": 1"#, "record is not valid JSON"),
    ] {
        let t = start(|c| c).await;
        t.emu.create_table(TABLE, COLUMNS).await.unwrap();
        let stream = json_stream(&t.emu, TABLE).await;
        stream
            .ingest_records_offset(
                (0..4).map(|i| JsonString(json!({"id": i, "s": "fine"}).to_string())),
            )
            .await
            .unwrap();
        stream.flush().await.expect("good json acknowledged");
        let err = match stream
            .ingest_record_offset(JsonString(bad.to_string()))
            .await
        {
            Err(e) => e,
            Ok(_) => stream
                .flush()
                .await
                .expect_err("bad JSON must fail the stream"),
        };
        assert_final(&err, needle);
        let batches = read_table(&t.emu.table_location(TABLE).unwrap()).await;
        assert_eq!(row_count(&batches), 4, "{bad}: only the good rows landed");
        t.emu.shutdown().await;
    }
}

/// The service takes at most 10 MiB of records in one request. The SDK never sends more
/// (it stops at 10 MiB − 64 KiB), so this speaks the protocol directly with the SDK's own
/// generated client: 11 records of 1 MiB in one request are refused INVALID_ARGUMENT,
/// 9 of them are acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_ten_mib_of_records_is_refused() {
    use databricks_zerobus_ingest_sdk::databricks::zerobus::{
        ephemeral_stream_request::Payload, ephemeral_stream_response::Payload as Answer,
        ingest_record_batch_request::Batch, zerobus_client::ZerobusClient,
        CreateIngestStreamRequest, EphemeralStreamRequest, IngestRecordBatchRequest,
        ProtoEncodedRecordBatch, RecordType,
    };
    let t = start(|c| c).await;
    t.emu.create_table(TABLE, COLUMNS).await.unwrap();
    let desc = descriptor(&t.emu, TABLE).await;
    let token = uc_token(&t.emu).await;
    // id (field 1) and s (field 3, a MiB of text): one record of a little over 1 MiB.
    let record = |id: u8| {
        let mut r = vec![0x08, id];
        let body = vec![b'x'; 1024 * 1024];
        r.push(0x1a);
        prost::encoding::encode_varint(body.len() as u64, &mut r);
        r.extend(body);
        r
    };
    let send = |n: u8| {
        let (token, desc) = (token.clone(), desc.clone());
        let url = t.emu.grpc_url();
        async move {
            let mut client = ZerobusClient::connect(url)
                .await
                .unwrap()
                .max_encoding_message_size(64 << 20);
            let requests = vec![
                EphemeralStreamRequest {
                    payload: Some(Payload::CreateStream(CreateIngestStreamRequest {
                        table_name: Some(TABLE.into()),
                        descriptor_proto: Some(desc.encode_to_vec()),
                        record_type: Some(RecordType::Proto as i32),
                        ..Default::default()
                    })),
                },
                EphemeralStreamRequest {
                    payload: Some(Payload::IngestRecordBatch(IngestRecordBatchRequest {
                        offset_id: Some(0),
                        batch: Some(Batch::ProtoEncodedBatch(ProtoEncodedRecordBatch {
                            records: (0..n).map(record).collect(),
                        })),
                    })),
                },
            ];
            let mut req = tonic::Request::new(futures::stream::iter(requests));
            req.metadata_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
            req.metadata_mut()
                .insert("x-databricks-zerobus-table-name", TABLE.parse().unwrap());
            let mut answers = client.ephemeral_stream(req).await.unwrap().into_inner();
            loop {
                match answers.message().await {
                    Ok(Some(a)) if matches!(a.payload, Some(Answer::IngestRecordResponse(_))) => {
                        return Ok(())
                    }
                    Ok(Some(_)) => continue,
                    Ok(None) => return Err(tonic::Status::unknown("the stream ended unanswered")),
                    Err(status) => return Err(status),
                }
            }
        }
    };
    let refused = send(11).await.expect_err("11 MiB in one request");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    assert!(
        refused.message().contains("limit of one request"),
        "{refused:?}"
    );
    send(9).await.expect("9 MiB in one request is acknowledged");
}
