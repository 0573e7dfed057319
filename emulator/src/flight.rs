//! Arrow Flight ingest: `FlightService.DoPut`, one call per stream, as the official SDKs
//! speak it (Rust `build_arrow`, Python `create_arrow_stream`).
//!
//! The call carries `authorization: Bearer <token>` and `x-databricks-zerobus-table-name`
//! (no FlightDescriptor). Its first message is the schema, checked against the table
//! ([`crate::flight_batch`]); then the service answers a ready `PutResult`
//! (`{"ack_up_to_offset": -1, "ack_up_to_records": 0}`). Each later message is a record
//! batch with `app_metadata` `{"offset_id": N}`, N counting from 0; it is checked, paced by
//! the stream's quota, queued for the table's next Delta commit and acknowledged — in order,
//! once durable — with `{"ack_up_to_offset": N, "ack_up_to_records": total}`. Planned
//! closes (token expiry, lifetime, shutdown, the close fault) send
//! `close_stream_duration_ms` and end the call cleanly after the grace period. Errors are
//! the status codes of the protobuf path (see [`crate::grpc`]).

use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::ipc::MessageHeader;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo,
    HandshakeRequest, HandshakeResponse, PollInfo, PutResult, SchemaResult, Ticket,
};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tonic::{Request, Response, Status, Streaming};

use crate::catalog::Table;
use crate::decode::MAX_REQUEST_BYTES;
use crate::flight_batch::FlightPlan;
use crate::ingest::{self, admit, stream_table, Protocol, Rows, Shared, Step, Taken, CLOSE_GRACE};

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// How long the schema message may take to arrive after the call opens.
const SCHEMA_TIMEOUT: Duration = Duration::from_secs(30);

/// The Arrow Flight service object.
pub(crate) struct FlightIngest {
    pub shared: Arc<Shared>,
}

fn put_result(offset: i64, records: u64, close_ms: Option<u64>) -> PutResult {
    let mut json = serde_json::json!({
        "ack_up_to_offset": offset,
        "ack_up_to_records": records,
    });
    if let Some(ms) = close_ms {
        json["close_stream_duration_ms"] = ms.into();
    }
    PutResult {
        app_metadata: json.to_string().into_bytes().into(),
    }
}

/// The offset a record-batch message carries in its `app_metadata`.
fn offset_of(app_metadata: &[u8]) -> Result<i64, String> {
    #[derive(serde::Deserialize)]
    struct Meta {
        offset_id: i64,
    }
    serde_json::from_slice::<Meta>(app_metadata)
        .map(|m| m.offset_id)
        .map_err(|e| {
            format!(
                "a record batch needs app_metadata {{\"offset_id\": N}} ({e}; got {:?})",
                String::from_utf8_lossy(app_metadata)
            )
        })
}

#[tonic::async_trait]
impl FlightService for FlightIngest {
    type HandshakeStream = BoxStream<HandshakeResponse>;
    type ListFlightsStream = BoxStream<FlightInfo>;
    type DoGetStream = BoxStream<FlightData>;
    type DoPutStream = BoxStream<PutResult>;
    type DoActionStream = BoxStream<arrow_flight::Result>;
    type ListActionsStream = BoxStream<ActionType>;
    type DoExchangeStream = BoxStream<FlightData>;

    async fn do_put(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        let shared = self.shared.clone();
        let header = |name: &str| {
            request
                .metadata()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let claims = admit(&shared, header("authorization").as_deref())?;
        let name = header("x-databricks-zerobus-table-name").ok_or_else(|| {
            Status::invalid_argument(
                "an Arrow Flight stream needs the header x-databricks-zerobus-table-name (catalog.schema.table)",
            )
        })?;
        let table = stream_table(&shared, claims.table.as_deref(), &name)?;
        let full = table.full_name.clone();
        let mut inbound = request.into_inner();
        // The schema comes first; a stream that does not fit the table is refused before
        // it is ready.
        let first = tokio::time::timeout(SCHEMA_TIMEOUT, inbound.next())
            .await
            .map_err(|_| {
                Status::invalid_argument(format!(
                    "no schema message within {} s of opening the stream",
                    SCHEMA_TIMEOUT.as_secs()
                ))
            })?;
        let schema = match first {
            Some(Ok(data)) => match message_kind(&data) {
                Some(MessageHeader::Schema) => Schema::try_from(&data).map_err(|e| {
                    Status::invalid_argument(format!("not an Arrow Flight stream: {e}"))
                })?,
                _ => {
                    return Err(Status::invalid_argument(
                        "the first message of an Arrow Flight stream must be its schema",
                    ))
                }
            },
            Some(Err(status)) => return Err(status),
            None => {
                return Err(Status::invalid_argument(
                    "the stream ended before its schema",
                ))
            }
        };
        let schema = Arc::new(schema);
        let plan =
            FlightPlan::new(&table.columns, table.arrow_schema.clone(), &schema).map_err(|e| {
                Status::invalid_argument(format!("the schema does not match table '{full}': {e}"))
            })?;
        let (tx, rx) = mpsc::channel(256);
        let _ = tx.send(Ok(put_result(-1, 0, None))).await;
        let stream = FlightStream {
            inbound,
            schema,
            discard: shared.discard,
            plan,
            name: table.full_name.clone(),
            marker: shared.faults.refuse_records_containing.clone(),
            acked: Arc::new((AtomicI64::new(-1), AtomicU64::new(0))),
        };
        let token_deadline = Instant::now() + claims.remaining;
        tokio::spawn(stream.serve(shared, table, token_deadline, tx));
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn handshake(
        &self,
        _request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        Err(unimplemented("Handshake"))
    }

    async fn list_flights(
        &self,
        _request: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        Err(unimplemented("ListFlights"))
    }

    async fn get_flight_info(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        Err(unimplemented("GetFlightInfo"))
    }

    async fn poll_flight_info(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        Err(unimplemented("PollFlightInfo"))
    }

    async fn get_schema(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        Err(unimplemented("GetSchema"))
    }

    async fn do_get(
        &self,
        _request: Request<Ticket>,
    ) -> Result<Response<Self::DoGetStream>, Status> {
        Err(unimplemented("DoGet"))
    }

    async fn do_action(
        &self,
        _request: Request<Action>,
    ) -> Result<Response<Self::DoActionStream>, Status> {
        Err(unimplemented("DoAction"))
    }

    async fn list_actions(
        &self,
        _request: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        Err(unimplemented("ListActions"))
    }

    async fn do_exchange(
        &self,
        _request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        Err(unimplemented("DoExchange"))
    }
}

fn unimplemented(what: &str) -> Status {
    Status::unimplemented(format!(
        "Zerobus ingests over Arrow Flight with DoPut only; {what} is not served (read the Delta table instead)"
    ))
}

/// The record batches of one `DoPut` after its schema.
struct FlightStream {
    inbound: Streaming<FlightData>,
    /// The stream's schema, from its first message.
    schema: SchemaRef,
    /// Discard mode: record batches are counted, not decoded.
    discard: bool,
    plan: FlightPlan,
    name: String,
    marker: Option<Vec<u8>>,
    /// The last acknowledgement sent, for the close signal to repeat.
    acked: Arc<(AtomicI64, AtomicU64)>,
}

impl FlightStream {
    /// Serve the stream until it ends.
    async fn serve(
        self,
        shared: Arc<Shared>,
        table: Arc<Table>,
        token_deadline: Instant,
        tx: mpsc::Sender<Result<PutResult, Status>>,
    ) {
        let n = shared.streams_opened.fetch_add(1, Ordering::Relaxed);
        tracing::info!(table = %table.full_name, stream = n, "arrow flight stream ready");
        let records = ingest::run(&shared, &table, token_deadline, tx, self).await;
        tracing::info!(table = %table.full_name, records, "arrow flight stream ended");
    }
}

impl Protocol for FlightStream {
    type Request = (Batch, usize);
    type Out = PutResult;

    async fn next(&mut self, next_offset: i64) -> Step<(Batch, usize)> {
        let name = &self.name;
        let data = match self.inbound.next().await {
            Some(Ok(d)) => d,
            None => return Step::Finished,
            Some(Err(status)) => {
                tracing::debug!(table = %name, ?status, "client went away");
                return Step::Gone;
            }
        };
        let invalid = |e: &dyn std::fmt::Display| {
            Step::Refuse(Status::invalid_argument(format!(
                "table '{name}': a message after offset {} is not valid Arrow IPC: {e}",
                next_offset - 1
            )))
        };
        // Bytes as they came (the IPC message, compressed if the client compressed it).
        let wire = data.data_header.len() + data.data_body.len();
        if data.data_header.is_empty() {
            return Step::Nothing;
        }
        let message = match arrow::ipc::root_as_message(&data.data_header) {
            Ok(m) => m,
            Err(e) => return invalid(&e),
        };
        let batch =
            match message.header_type() {
                MessageHeader::RecordBatch => match self.read(&message, &data) {
                    Ok(batch) => batch,
                    Err(e) => return invalid(&e),
                },
                MessageHeader::Schema => return Step::Refuse(Status::invalid_argument(
                    "a stream's schema is sent once, first: open a new stream for another schema",
                )),
                // No table takes a dictionary-encoded column, so no stream has dictionaries.
                _ => return invalid(&"not a record batch"),
            };
        match offset_of(&data.app_metadata) {
            Ok(offset) => Step::Request(offset, (batch, wire)),
            Err(e) => Step::Refuse(Status::invalid_argument(format!("table '{name}': {e}"))),
        }
    }

    fn check(
        &self,
        (batch, wire): (Batch, usize),
        offset: i64,
        discard: bool,
    ) -> Result<Taken, Status> {
        let name = &self.name;
        if wire > MAX_REQUEST_BYTES {
            return Err(ingest::too_large(name, offset, wire, MAX_REQUEST_BYTES));
        }
        let records = batch.rows() as u64;
        let rows = match batch {
            Batch::Decoded(batch) => {
                if let Some(marker) = &self.marker {
                    if let Some(row) = row_containing(&batch, marker) {
                        return Err(ingest::marker_refusal(name, offset, row));
                    }
                }
                if discard {
                    Rows::Discarded
                } else {
                    let stored = self.plan.to_storage(&batch).map_err(|e| {
                        Status::invalid_argument(format!("table '{name}', offset {offset}: {e}"))
                    })?;
                    Rows::Batch(stored)
                }
            }
            Batch::Counted(_) => Rows::Discarded,
        };
        Ok(Taken {
            rows,
            records,
            bytes: wire as u64,
        })
    }

    fn ack(&self) -> impl Fn(i64, u64) -> PutResult + Send + 'static {
        let acked = self.acked.clone();
        move |offset, records| {
            acked.0.store(offset, Ordering::Relaxed);
            acked.1.store(records, Ordering::Relaxed);
            put_result(offset, records, None)
        }
    }

    fn close_signal(&self) -> PutResult {
        put_result(
            self.acked.0.load(Ordering::Relaxed),
            self.acked.1.load(Ordering::Relaxed),
            Some(CLOSE_GRACE.as_millis() as u64),
        )
    }
}

/// A record-batch message as the stream took it.
enum Batch {
    /// Decoded (and decompressed) against the stream's schema.
    Decoded(RecordBatch),
    /// Only its row count, from the message header: in discard mode, where nothing is
    /// stored, the body is not decompressed or read, as the protobuf path does not decode
    /// its records there (only their sizes count).
    Counted(usize),
}

impl Batch {
    fn rows(&self) -> usize {
        match self {
            Batch::Decoded(b) => b.num_rows(),
            Batch::Counted(n) => *n,
        }
    }
}

/// The kind of IPC message `data` carries (`None`: its header is not an IPC message).
fn message_kind(data: &FlightData) -> Option<MessageHeader> {
    arrow::ipc::root_as_message(&data.data_header)
        .ok()
        .map(|m| m.header_type())
}

impl FlightStream {
    /// A record-batch `message` (the header of `data`): decoded, or in discard mode
    /// (without the refusal fault, which reads values) counted from its header, once the
    /// header's body length is checked against the body that came.
    fn read(&self, message: &arrow::ipc::Message<'_>, data: &FlightData) -> Result<Batch, String> {
        let header = message
            .header_as_record_batch()
            .ok_or("not a record batch")?;
        if self.discard && self.marker.is_none() {
            let body = usize::try_from(message.bodyLength()).map_err(|e| e.to_string())?;
            if body > data.data_body.len() {
                return Err(format!(
                    "its header announces a body of {body} bytes; {} came",
                    data.data_body.len()
                ));
            }
            let rows = usize::try_from(header.length()).map_err(|e| e.to_string())?;
            return Ok(Batch::Counted(rows));
        }
        // The body shared, not copied: the batch's buffers point into the message.
        arrow::ipc::reader::read_record_batch(
            &arrow::buffer::Buffer::from(data.data_body.clone()),
            header,
            self.schema.clone(),
            &Default::default(),
            None,
            &message.version(),
        )
        .map(Batch::Decoded)
        .map_err(|e| e.to_string())
    }
}

/// The first row of `batch` with a string value holding `marker` (the refusal fault).
fn row_containing(batch: &RecordBatch, marker: &[u8]) -> Option<usize> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::DataType;
    batch
        .columns()
        .iter()
        .filter_map(|c| match c.data_type() {
            DataType::LargeUtf8 => {
                let s = c.as_string::<i64>();
                (0..s.len()).find(|&i| {
                    s.is_valid(i)
                        && s.value(i)
                            .as_bytes()
                            .windows(marker.len().max(1))
                            .any(|w| w == marker)
                })
            }
            _ => None,
        })
        .min()
}
