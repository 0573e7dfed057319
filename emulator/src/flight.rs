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

use arrow_flight::decode::{DecodedPayload, FlightDataDecoder};
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo,
    HandshakeRequest, HandshakeResponse, PollInfo, PutResult, SchemaResult, Ticket,
};
use futures::{Stream, StreamExt, TryStreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tonic::{Request, Response, Status, Streaming};

use crate::catalog::Table;
use crate::decode::MAX_REQUEST_BYTES;
use crate::flight_batch::FlightPlan;
use crate::ingest::{
    acknowledge, admit, close_fault_due, injected_interruption, out_of_order, stream_table,
    AckEvent, Lifetime, Shared, CLOSE_FAULT, CLOSE_GRACE,
};
use crate::quota::Pacer;
use crate::storage;

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

fn status_of(e: FlightError) -> Status {
    match e {
        FlightError::Tonic(status) => *status,
        other => Status::invalid_argument(format!("not an Arrow Flight stream: {other}")),
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
        let mut inbound = FlightDataDecoder::new(
            request
                .into_inner()
                .map_err(|s| FlightError::Tonic(Box::new(s))),
        );
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
            Some(Ok(d)) => match d.payload {
                DecodedPayload::Schema(schema) => schema,
                _ => {
                    return Err(Status::invalid_argument(
                        "the first message of an Arrow Flight stream must be its schema",
                    ))
                }
            },
            Some(Err(e)) => return Err(status_of(e)),
            None => {
                return Err(Status::invalid_argument(
                    "the stream ended before its schema",
                ))
            }
        };
        let plan =
            FlightPlan::new(&table.columns, table.arrow_schema.clone(), &schema).map_err(|e| {
                Status::invalid_argument(format!("the schema does not match table '{full}': {e}"))
            })?;
        let (tx, rx) = mpsc::channel(256);
        let _ = tx.send(Ok(put_result(-1, 0, None))).await;
        let session = Session {
            shared,
            tx,
            table,
            plan,
            token_deadline: Instant::now() + claims.remaining,
            acked_offset: Arc::new(AtomicI64::new(-1)),
            acked_records: Arc::new(AtomicU64::new(0)),
        };
        tokio::spawn(session.run(inbound));
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

struct Session {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Result<PutResult, Status>>,
    table: Arc<Table>,
    plan: FlightPlan,
    token_deadline: Instant,
    /// The last acknowledgement sent, for the close signal to repeat.
    acked_offset: Arc<AtomicI64>,
    acked_records: Arc<AtomicU64>,
}

impl Session {
    async fn run(self, mut inbound: FlightDataDecoder) {
        let n = self.shared.streams_opened.fetch_add(1, Ordering::Relaxed);
        let open = self.shared.stats.open(&self.table.full_name);
        let mut pacer = Pacer::new(self.shared.quota);
        tracing::info!(table = %self.table.full_name, stream = n, "arrow flight stream ready");
        let (ack_tx, ack_rx) = mpsc::unbounded_channel();
        let (acked_offset, acked_records) = (self.acked_offset.clone(), self.acked_records.clone());
        let acker = tokio::spawn(acknowledge(
            ack_rx,
            self.tx.clone(),
            self.shared.faults.ack_delay,
            open.0.clone(),
            move |offset, records| {
                acked_offset.store(offset, Ordering::Relaxed);
                acked_records.store(records, Ordering::Relaxed);
                put_result(offset, records, None)
            },
        ));
        let mut lifetime = Lifetime::new(&self.shared, self.token_deadline);
        let mut next_offset: i64 = 0;
        let mut records: u64 = 0;
        let mut closing: Option<Instant> = None;
        let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
        let name = self.table.full_name.clone();
        loop {
            let planned = closing.is_none();
            tokio::select! {
                biased;
                why = lifetime.planned_close(), if planned => {
                    closing = Some(self.signal_close(why).await);
                }
                _ = tokio::time::sleep_until(closing.unwrap_or(far)), if !planned => {
                    let _ = ack_tx.send(AckEvent::Close);
                    break;
                }
                msg = inbound.next() => {
                    let decoded = match msg {
                        Some(Ok(d)) => d,
                        None => {
                            let _ = ack_tx.send(AckEvent::Close);
                            break;
                        }
                        Some(Err(FlightError::Tonic(status))) => {
                            tracing::debug!(table = %name, ?status, "client went away");
                            break;
                        }
                        Some(Err(e)) => {
                            let _ = ack_tx.send(AckEvent::Fail(Status::invalid_argument(format!(
                                "table '{name}': a message after offset {} is not valid Arrow IPC: {e}",
                                next_offset - 1
                            ))));
                            break;
                        }
                    };
                    let wire = decoded.inner.data_header.len() + decoded.inner.data_body.len();
                    let batch = match decoded.payload {
                        DecodedPayload::RecordBatch(b) => b,
                        DecodedPayload::None => continue,
                        DecodedPayload::Schema(_) => {
                            let _ = ack_tx.send(AckEvent::Fail(Status::invalid_argument(
                                "a stream's schema is sent once, first: open a new stream for another schema",
                            )));
                            break;
                        }
                    };
                    let offset = match offset_of(&decoded.inner.app_metadata) {
                        Ok(o) => o,
                        Err(e) => {
                            let _ = ack_tx.send(AckEvent::Fail(Status::invalid_argument(format!("table '{name}': {e}"))));
                            break;
                        }
                    };
                    if let Some(refusal) = out_of_order(offset, next_offset) {
                        let _ = ack_tx.send(AckEvent::Fail(refusal));
                        break;
                    }
                    if let Some(fault) = injected_interruption(&self.shared) {
                        let _ = self.tx.send(Err(fault)).await;
                        break;
                    }
                    next_offset += 1;
                    let event = self.take(&batch, wire, offset, &mut pacer, open.counters()).await;
                    let failed = matches!(event, AckEvent::Fail(_));
                    records += batch.num_rows() as u64;
                    let _ = ack_tx.send(event);
                    if failed {
                        break;
                    }
                    if close_fault_due(&self.shared, records) {
                        self.signal_close(CLOSE_FAULT).await;
                        let _ = ack_tx.send(AckEvent::Close);
                        break;
                    }
                }
            }
        }
        drop(ack_tx);
        let _ = acker.await;
        drop(open);
        tracing::info!(table = %name, records, "arrow flight stream ended");
    }

    /// Check one batch, wait for the quota, and queue it: the event that acknowledges it.
    async fn take(
        &self,
        batch: &arrow::array::RecordBatch,
        wire: usize,
        offset: i64,
        pacer: &mut Pacer,
        counters: &crate::quota::TableCounters,
    ) -> AckEvent {
        let name = &self.table.full_name;
        if wire > MAX_REQUEST_BYTES {
            return AckEvent::Fail(Status::invalid_argument(format!(
                "table '{name}', batch offset {offset}: the message is {wire} bytes, over the \
                 {MAX_REQUEST_BYTES}-byte limit of one Arrow Flight message (split the batch)"
            )));
        }
        if let Some(marker) = &self.shared.faults.refuse_records_containing {
            if let Some(row) = row_containing(batch, marker) {
                return AckEvent::Fail(Status::invalid_argument(format!(
                    "table '{name}', batch offset {offset}, row {row}: injected fault: the record holds the refusal marker"
                )));
            }
        }
        let stored = match self.plan.to_storage(batch) {
            Ok(b) => b,
            Err(e) => {
                return AckEvent::Fail(Status::invalid_argument(format!(
                    "table '{name}', batch offset {offset}: {e}"
                )))
            }
        };
        // Bytes as they came (the IPC message, compressed if the client compressed it):
        // a decoded batch's buffers share the message's allocation, so their memory size
        // would count it once per column.
        let size = (batch.num_rows() as u64, wire as u64);
        // The stream's quota, as for protobuf requests: nothing more is read until this
        // batch fits it.
        let waited = pacer.take(size.0, size.1).await;
        counters.paced(waited);
        if self.shared.discard {
            return AckEvent::Ready { offset, size };
        }
        match self.table.writer.submit_batch(stored).await {
            Ok(done) => AckEvent::Commit { offset, size, done },
            Err(e @ storage::Refused::Stopped) => {
                AckEvent::Fail(Status::not_found(format!("table '{name}': {e}")))
            }
            Err(e @ storage::Refused::Rows(_)) => {
                AckEvent::Fail(Status::internal(format!("table '{name}': {e}")))
            }
        }
    }

    async fn signal_close(&self, why: &str) -> Instant {
        tracing::info!(
            reason = why,
            "closing arrow flight stream after a grace period"
        );
        let signal = put_result(
            self.acked_offset.load(Ordering::Relaxed),
            self.acked_records.load(Ordering::Relaxed),
            Some(CLOSE_GRACE.as_millis() as u64),
        );
        let _ = self.tx.send(Ok(signal)).await;
        Instant::now() + CLOSE_GRACE
    }
}

/// The first row of `batch` with a string value holding `marker` (the refusal fault).
fn row_containing(batch: &arrow::array::RecordBatch, marker: &[u8]) -> Option<usize> {
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
