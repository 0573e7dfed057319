//! The `databricks.zerobus.Zerobus/EphemeralStream` service.
//!
//! One session per gRPC stream: the first message creates the stream (checked against
//! the token, the table and the descriptor), then every ingest request is decoded, queued
//! for the table's next Delta commit, and acknowledged — cumulatively, in order — only
//! once that commit is durable. Planned closes (token expiry, the fault
//! `close_stream_after_records`, shutdown) are announced with a `CloseStreamSignal` and
//! end the stream cleanly after a grace period, acknowledging what was committed.
//!
//! Status codes follow the SDK's classification: InvalidArgument, NotFound,
//! Unauthenticated, PermissionDenied and Unimplemented are final; Unavailable and
//! Internal make the SDK recover the stream.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use databricks_zerobus_ingest_sdk::databricks::zerobus::{
    ephemeral_stream_request::Payload as RequestPayload,
    ephemeral_stream_response::Payload as ResponsePayload, ingest_record_batch_request::Batch,
    ingest_record_request::Record, zerobus_server::Zerobus, CloseStreamSignal,
    CreateIngestStreamRequest, CreateIngestStreamResponse, EphemeralStreamRequest,
    EphemeralStreamResponse, IngestRecordResponse, PersistentStreamRequest,
    PersistentStreamResponse, RecordType, RetireStreamRequest, RetireStreamResponse,
};
use futures::Stream;
use prost::Message as _;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tonic::{Request, Response, Status, Streaming};

use crate::catalog::{parse_table_name, Table, MAX_COLUMNS};
use crate::cells::Cell;
use crate::decode::{decode_json, ProtoPlan, MAX_RECORD_BYTES, MAX_REQUEST_BYTES};
use crate::ingest::{self, admit, stream_table, Protocol, Rows, Shared, Step, Taken, CLOSE_GRACE};

type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;
type Outbox = mpsc::Sender<Result<EphemeralStreamResponse, Status>>;

/// The gRPC service object.
pub(crate) struct ZerobusService {
    pub shared: Arc<Shared>,
}

fn response(payload: ResponsePayload) -> EphemeralStreamResponse {
    EphemeralStreamResponse {
        payload: Some(payload),
    }
}

#[tonic::async_trait]
impl Zerobus for ZerobusService {
    type EphemeralStreamStream = ResponseStream<EphemeralStreamResponse>;
    type PersistentStreamStream = ResponseStream<PersistentStreamResponse>;

    async fn ephemeral_stream(
        &self,
        request: Request<Streaming<EphemeralStreamRequest>>,
    ) -> Result<Response<Self::EphemeralStreamStream>, Status> {
        let shared = self.shared.clone();
        let auth_header = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let claims = admit(&shared, auth_header.as_deref())?;
        let header_table = request
            .metadata()
            .get("x-databricks-zerobus-table-name")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(async move {
            let session = Session {
                shared,
                tx,
                token_deadline: Instant::now() + claims.remaining,
                token_table: claims.table,
                header_table,
            };
            session.run(inbound).await;
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn persistent_stream(
        &self,
        _request: Request<Streaming<PersistentStreamRequest>>,
    ) -> Result<Response<Self::PersistentStreamStream>, Status> {
        Err(Status::unimplemented(
            "persistent (exactly-once) streams are in development in Zerobus and not emulated; use ephemeral streams",
        ))
    }

    async fn retire_stream(
        &self,
        _request: Request<RetireStreamRequest>,
    ) -> Result<Response<RetireStreamResponse>, Status> {
        Err(Status::unimplemented("persistent streams are not emulated"))
    }
}

/// How a stream's records are read.
enum Decoder {
    Proto(ProtoPlan),
    Json,
}

struct Session {
    shared: Arc<Shared>,
    tx: Outbox,
    token_deadline: Instant,
    token_table: Option<String>,
    header_table: Option<String>,
}

impl Session {
    async fn fail(&self, status: Status) {
        tracing::info!(code = ?status.code(), message = status.message(), "refusing stream");
        let _ = self.tx.send(Err(status)).await;
    }

    /// Check the create request; on success returns the table and how to decode.
    fn open(&self, req: &CreateIngestStreamRequest) -> Result<(Arc<Table>, Decoder), Status> {
        let name = req
            .table_name
            .as_deref()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                Status::invalid_argument("create_stream needs table_name (catalog.schema.table)")
            })?;
        parse_table_name(name).map_err(|e| Status::invalid_argument(e.to_string()))?;
        if let Some(h) = &self.header_table {
            if !h.eq_ignore_ascii_case(name) {
                return Err(Status::invalid_argument(format!(
                    "header x-databricks-zerobus-table-name '{h}' does not match the stream's table '{name}'"
                )));
            }
        }
        let table = stream_table(&self.shared, self.token_table.as_deref(), name)?;
        let full = table.full_name.clone();
        let record_type = req.record_type.unwrap_or(RecordType::Proto as i32);
        let decoder = match RecordType::try_from(record_type) {
            Ok(RecordType::Proto) => {
                let bytes = req.descriptor_proto.as_deref().ok_or_else(|| {
                    Status::invalid_argument(format!(
                        "a PROTO stream for '{full}' needs descriptor_proto"
                    ))
                })?;
                let desc = prost_types::DescriptorProto::decode(bytes).map_err(|e| {
                    Status::invalid_argument(format!(
                        "descriptor_proto for '{full}' is not a DescriptorProto: {e}"
                    ))
                })?;
                if desc.field.len() > MAX_COLUMNS {
                    return Err(Status::invalid_argument(format!(
                        "the descriptor has {} fields; Zerobus supports at most {MAX_COLUMNS} columns",
                        desc.field.len()
                    )));
                }
                let plan = ProtoPlan::new(&table.columns, &desc).map_err(|e| {
                    Status::invalid_argument(format!(
                        "the descriptor does not match table '{full}': {e}"
                    ))
                })?;
                Decoder::Proto(plan)
            }
            Ok(RecordType::Json) => Decoder::Json,
            Ok(RecordType::Avro) => {
                return Err(Status::unimplemented(
                    "AVRO streams are not supported by the emulator; use PROTO or JSON",
                ))
            }
            _ => {
                return Err(Status::invalid_argument(format!(
                    "record_type {record_type} is not valid: use PROTO (1) or JSON (2)"
                )))
            }
        };
        Ok((table, decoder))
    }

    async fn run(self, mut inbound: Streaming<EphemeralStreamRequest>) {
        let create = match inbound.message().await {
            Ok(Some(EphemeralStreamRequest {
                payload: Some(RequestPayload::CreateStream(c)),
            })) => c,
            Ok(Some(_)) => {
                return self
                    .fail(Status::invalid_argument(
                        "the first message of a stream must be create_stream",
                    ))
                    .await
            }
            Ok(None) | Err(_) => return,
        };
        let (table, decoder) = match self.open(&create) {
            Ok(v) => v,
            Err(status) => return self.fail(status).await,
        };
        let n = self.shared.streams_opened.fetch_add(1, Ordering::Relaxed);
        let stream_id = format!("emu-{:016x}-{n}", rand::random::<u64>());
        tracing::info!(table = %table.full_name, %stream_id, "stream created");
        let created = response(ResponsePayload::CreateStreamResponse(
            CreateIngestStreamResponse {
                stream_id: Some(stream_id.clone()),
            },
        ));
        if self.tx.send(Ok(created)).await.is_err() {
            return;
        }
        let stream = ProtoStream {
            inbound,
            decoder,
            name: table.full_name.clone(),
            columns: table.columns.clone(),
            marker: self.shared.faults.refuse_records_containing.clone(),
        };
        let records = ingest::run(
            &self.shared,
            &table,
            self.token_deadline,
            self.tx.clone(),
            stream,
        )
        .await;
        tracing::info!(%stream_id, records, "stream ended");
    }
}

/// The requests of one `EphemeralStream` after its `create_stream`.
struct ProtoStream {
    inbound: Streaming<EphemeralStreamRequest>,
    decoder: Decoder,
    name: String,
    columns: Vec<crate::types::UcField>,
    marker: Option<Vec<u8>>,
}

impl Protocol for ProtoStream {
    type Request = Option<Payload>;
    type Out = EphemeralStreamResponse;

    async fn next(&mut self, _next_offset: i64) -> Step<Option<Payload>> {
        let req = match self.inbound.message().await {
            Ok(Some(r)) => r,
            Ok(None) => return Step::Finished,
            Err(status) => {
                tracing::debug!(table = %self.name, ?status, "client went away");
                return Step::Gone;
            }
        };
        let (offset, payload) = match req.payload {
            Some(RequestPayload::IngestRecord(r)) => (r.offset_id, r.record.map(Payload::One)),
            Some(RequestPayload::IngestRecordBatch(b)) => (b.offset_id, b.batch.map(Payload::Many)),
            Some(RequestPayload::CreateStream(_)) => {
                return Step::Refuse(Status::invalid_argument(
                    "create_stream was sent twice on one stream",
                ))
            }
            None => (None, None),
        };
        match offset {
            Some(offset) => Step::Request(offset, payload),
            None => Step::Refuse(Status::invalid_argument(
                "an ingest request has no offset_id",
            )),
        }
    }

    fn check(&self, payload: Option<Payload>, offset: i64, discard: bool) -> Result<Taken, Status> {
        let name = &self.name;
        let cols = &self.columns;
        let refuse = |i: usize, e: String| {
            Status::invalid_argument(format!("table '{name}', offset {offset}, row {i}: {e}"))
        };
        let payload = payload.ok_or_else(|| {
            Status::invalid_argument(format!(
                "table '{name}', offset {offset}: the request carries no record"
            ))
        })?;
        let records: Vec<&[u8]> = match &payload {
            Payload::One(Record::ProtoEncodedRecord(b)) => vec![b.as_slice()],
            Payload::One(Record::JsonRecord(t)) => vec![t.as_bytes()],
            Payload::Many(Batch::ProtoEncodedBatch(b)) => {
                b.records.iter().map(|r| r.as_slice()).collect()
            }
            Payload::Many(Batch::JsonBatch(b)) => b.records.iter().map(|r| r.as_bytes()).collect(),
            _ => Vec::new(),
        };
        let total: usize = records.iter().map(|r| r.len()).sum();
        if total > MAX_REQUEST_BYTES {
            return Err(ingest::too_large(name, offset, total, MAX_REQUEST_BYTES));
        }
        if let Some(marker) = &self.marker {
            if let Some(i) = records.iter().position(|r| {
                r.windows(marker.len().max(1))
                    .any(|w| w == marker.as_slice())
            }) {
                return Err(ingest::marker_refusal(name, offset, i));
            }
        }
        let decoded = match (&self.decoder, payload) {
            (Decoder::Proto(plan), Payload::One(Record::ProtoEncodedRecord(bytes))) => {
                decode_all(discard, [bytes].iter(), |b| plan.decode(b))
            }
            (Decoder::Proto(plan), Payload::Many(Batch::ProtoEncodedBatch(batch))) => {
                decode_all(discard, batch.records.iter(), |b| plan.decode(b))
            }
            (Decoder::Json, Payload::One(Record::JsonRecord(text))) => {
                decode_all(discard, [text].iter(), |t| decode_json(cols, t))
            }
            (Decoder::Json, Payload::Many(Batch::JsonBatch(batch))) => {
                decode_all(discard, batch.records.iter(), |t| decode_json(cols, t))
            }
            (Decoder::Proto(_), _) => {
                return Err(Status::invalid_argument(format!(
                    "table '{name}', offset {offset}: this stream was created for PROTO records"
                )))
            }
            (Decoder::Json, _) => {
                return Err(Status::invalid_argument(format!(
                    "table '{name}', offset {offset}: this stream was created for JSON records"
                )))
            }
        };
        let (rows, len) = decoded.map_err(|(i, e)| refuse(i, e))?;
        Ok(Taken {
            rows,
            records: len as u64,
            bytes: total as u64,
        })
    }

    fn ack(&self) -> impl Fn(i64, u64) -> EphemeralStreamResponse + Send + 'static {
        |offset, _records| {
            response(ResponsePayload::IngestRecordResponse(
                IngestRecordResponse {
                    durability_ack_up_to_offset: Some(offset),
                },
            ))
        }
    }

    fn close_signal(&self) -> EphemeralStreamResponse {
        response(ResponsePayload::CloseStreamSignal(CloseStreamSignal {
            duration: Some(prost_types::Duration {
                seconds: CLOSE_GRACE.as_secs() as i64,
                nanos: CLOSE_GRACE.subsec_nanos() as i32,
            }),
        }))
    }
}

enum Payload {
    One(Record),
    Many(Batch),
}

trait RecordLen {
    fn record_len(&self) -> usize;
}
impl RecordLen for Vec<u8> {
    fn record_len(&self) -> usize {
        self.len()
    }
}
impl RecordLen for String {
    fn record_len(&self) -> usize {
        self.len()
    }
}

/// Every record of a request decoded (in discard mode only their sizes checked): the
/// rows and their count, or the first refused record and why.
fn decode_all<'a, T: RecordLen + 'a>(
    discard: bool,
    records: impl ExactSizeIterator<Item = &'a T>,
    decode: impl Fn(&T) -> Result<Vec<Cell>, String>,
) -> Result<(Rows, usize), (usize, String)> {
    let len = records.len();
    if discard {
        for (i, r) in records.enumerate() {
            if r.record_len() > MAX_RECORD_BYTES {
                return Err((
                    i,
                    format!(
                        "record is {} bytes, over the {MAX_RECORD_BYTES}-byte limit",
                        r.record_len()
                    ),
                ));
            }
        }
        return Ok((Rows::Discarded, len));
    }
    let mut rows = Vec::with_capacity(len);
    for (i, r) in records.enumerate() {
        rows.push(decode(r).map_err(|e| (i, e))?);
    }
    Ok((Rows::Cells(rows), len))
}
