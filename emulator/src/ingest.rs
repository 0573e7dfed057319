//! The one ingest loop both protocols (protobuf `EphemeralStream` in [`crate::grpc`],
//! Arrow Flight `DoPut` in [`crate::flight`]) feed ([`run`], over a [`Protocol`]), and
//! what else they share: the state of the service, the checks before a stream is served
//! (token, table, faults), when a stream's planned close is due, and the acknowledgement
//! task that answers in offset order once each commit is durable.

use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tonic::Status;

use crate::auth::{Authority, TokenClaims, TokenRejection};
use crate::catalog::{parse_table_name, Catalog, Table};
use crate::cells::Cell;
use crate::quota::{Pacer, Stats, StreamQuota, TableCounters};
use crate::storage;
use crate::Faults;

/// How long a stream stays open after its `CloseStreamSignal`.
pub const CLOSE_GRACE: Duration = Duration::from_millis(1000);

/// State shared by every session.
pub(crate) struct Shared {
    pub catalog: Arc<Catalog>,
    pub authority: Authority,
    pub faults: Faults,
    pub discard: bool,
    pub max_stream_duration: Duration,
    pub shutdown: watch::Receiver<bool>,
    pub streams_opened: Arc<AtomicU64>,
    pub quota: StreamQuota,
    pub stats: Arc<Stats>,
}

/// Why a stream closes when the fault `close_stream_after_records` is reached.
pub(crate) const CLOSE_FAULT: &str = "injected fault: --close-stream-after-records";

/// Has a stream that took `records` reached the fault `close_stream_after_records`? The
/// fault takes nothing more on that stream: what was taken is acknowledged, the stream
/// ends, the client resends the rest.
pub(crate) fn close_fault_due(shared: &Shared, records: u64) -> bool {
    shared
        .faults
        .close_stream_after_records
        .is_some_and(|limit| records >= limit)
}

pub(crate) fn injected_unavailable(shared: &Shared) -> bool {
    shared.faults.unavailable_rate > 0.0 && rand::random::<f64>() < shared.faults.unavailable_rate
}

/// The refusal of a request (protobuf or Arrow Flight) whose `offset_id` is not the next
/// one of its stream.
pub(crate) fn out_of_order(offset: i64, expected: i64) -> Option<Status> {
    (offset != expected).then(|| {
        Status::invalid_argument(format!(
            "offset_id {offset} is out of order: expected {expected}"
        ))
    })
}

/// An injected UNAVAILABLE that ends a stream mid-way (`--unavailable-rate`), drawn once
/// per request.
pub(crate) fn injected_interruption(shared: &Shared) -> Option<Status> {
    injected_unavailable(shared)
        .then(|| Status::unavailable("injected fault: stream interrupted (--unavailable-rate)"))
}

/// The checks before any stream (protobuf or Arrow Flight) is served: a valid, unexpired
/// token, a service that is not shutting down, no injected UNAVAILABLE.
pub(crate) fn admit(shared: &Shared, authorization: Option<&str>) -> Result<TokenClaims, Status> {
    let claims = shared
        .authority
        .verify(authorization)
        .map_err(|r| match r {
            TokenRejection::Missing | TokenRejection::Invalid | TokenRejection::Expired => {
                Status::unauthenticated(r.to_string())
            }
        })?;
    if *shared.shutdown.borrow() {
        return Err(Status::unavailable(
            "the Zerobus emulator is shutting down; retry against a running instance",
        ));
    }
    if injected_unavailable(shared) {
        return Err(Status::unavailable(
            "injected fault: service temporarily unavailable (--unavailable-rate)",
        ));
    }
    Ok(claims)
}

/// The table a stream writes to: `name` parsed, within the token's scope (`scoped`), and
/// known to the catalog.
pub(crate) fn stream_table(
    shared: &Shared,
    scoped: Option<&str>,
    name: &str,
) -> Result<Arc<Table>, Status> {
    let (c, s, t) = parse_table_name(name).map_err(|e| Status::invalid_argument(e.to_string()))?;
    let full = format!("{c}.{s}.{t}");
    if let Some(scoped) = scoped {
        if !scoped.eq_ignore_ascii_case(&full) {
            return Err(Status::permission_denied(format!(
                "the token was issued for table '{scoped}', not '{full}': request a token for this table"
            )));
        }
    }
    shared.catalog.get(&full).ok_or_else(|| {
        Status::not_found(format!(
            "table '{full}' does not exist: Zerobus does not create tables; create it first (Unity Catalog API or the emulator's --table)"
        ))
    })
}

/// When a stream's planned close is due: the service shuts down, its token expires, or it
/// reaches its maximum lifetime.
pub(crate) struct Lifetime {
    shutdown: watch::Receiver<bool>,
    token_deadline: Instant,
    max_deadline: Instant,
}

impl Lifetime {
    pub(crate) fn new(shared: &Shared, token_deadline: Instant) -> Lifetime {
        Lifetime {
            shutdown: shared.shutdown.clone(),
            token_deadline,
            max_deadline: Instant::now() + shared.max_stream_duration,
        }
    }

    /// Resolves with the reason once a planned close is due.
    pub(crate) async fn planned_close(&mut self) -> &'static str {
        tokio::select! {
            biased;
            _ = self.shutdown.changed() => "the service is shutting down",
            _ = tokio::time::sleep_until(self.token_deadline) => "the stream's token expires",
            _ = tokio::time::sleep_until(self.max_deadline) => "the stream reached its maximum lifetime",
        }
    }
}

/// An ordered event for the acknowledgement task.
pub(crate) enum AckEvent {
    /// Acknowledge `offset` once the commit behind `done` is durable.
    Commit {
        offset: i64,
        size: (u64, u64),
        done: oneshot::Receiver<Result<u64, String>>,
    },
    /// Acknowledge `offset` at once (discard mode).
    Ready { offset: i64, size: (u64, u64) },
    /// After everything before it is acknowledged, end the stream with this status.
    Fail(Status),
    /// After everything before it is acknowledged, end the stream cleanly.
    Close,
}

/// Send acknowledgements in offset order, each after its commit is durable: `ack(offset,
/// records acknowledged so far on this stream)` makes the message (a protobuf
/// `IngestRecordResponse` or a Flight `PutResult`).
pub(crate) async fn acknowledge<M: Send + 'static>(
    mut events: mpsc::UnboundedReceiver<AckEvent>,
    tx: mpsc::Sender<Result<M, Status>>,
    delay: Duration,
    counters: Arc<TableCounters>,
    ack: impl Fn(i64, u64) -> M + Send,
) {
    let mut records = 0u64;
    while let Some(event) = events.recv().await {
        match event {
            AckEvent::Commit { offset, size, done } => match done.await {
                Ok(Ok(_version)) => {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    records += size.0;
                    if tx.send(Ok(ack(offset, records))).await.is_err() {
                        return;
                    }
                    counters.acknowledged(size.0, size.1);
                }
                Ok(Err(e)) => {
                    let _ = tx
                        .send(Err(Status::internal(format!("the Delta commit failed, nothing from offset {offset} on was acknowledged: {e}"))))
                        .await;
                    return;
                }
                Err(_) => {
                    let _ = tx
                        .send(Err(Status::unavailable("the table writer stopped; retry")))
                        .await;
                    return;
                }
            },
            AckEvent::Ready { offset, size } => {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                records += size.0;
                if tx.send(Ok(ack(offset, records))).await.is_err() {
                    return;
                }
                counters.acknowledged(size.0, size.1);
            }
            AckEvent::Fail(status) => {
                tracing::info!(code = ?status.code(), message = status.message(), "ending stream with an error");
                let _ = tx.send(Err(status)).await;
                return;
            }
            AckEvent::Close => return,
        }
    }
}

/// One message of a stream, as its protocol read it.
pub(crate) enum Step<R> {
    /// An ingest request and the offset it carries.
    Request(i64, R),
    /// A message with nothing to ingest.
    Nothing,
    /// The client finished sending: what is pending is acknowledged, then the stream ends.
    Finished,
    /// The client went away.
    Gone,
    /// A malformed message: the stream ends with this status after what is pending.
    Refuse(Status),
}

/// The rows of one checked request, ready to queue for the table's next commit.
pub(crate) enum Rows {
    /// Decoded records (protobuf or JSON).
    Cells(Vec<Vec<Cell>>),
    /// A batch in the table's Delta schema (Arrow Flight).
    Batch(RecordBatch),
    /// Nothing to write (discard mode).
    Discarded,
}

/// A checked request: its rows and what the quota charges for it.
pub(crate) struct Taken {
    pub rows: Rows,
    pub records: u64,
    pub bytes: u64,
}

/// What the one ingest loop ([`run`]) needs of a protocol.
pub(crate) trait Protocol: Send {
    /// An ingest request as the protocol carries it.
    type Request: Send;
    /// A message to the client (acknowledgements, the close signal).
    type Out: Send + 'static;
    /// Read the next message; `next_offset` is the offset the next request must carry.
    fn next(&mut self, next_offset: i64) -> impl Future<Output = Step<Self::Request>> + Send;
    /// Check one request: the size limit, the refusal fault and, unless `discard`, every
    /// value against the table. A refusal names the table, the offset and the row.
    fn check(&self, request: Self::Request, offset: i64, discard: bool) -> Result<Taken, Status>;
    /// How an acknowledgement of `offset` (with `records` acknowledged so far) is said.
    fn ack(&self) -> impl Fn(i64, u64) -> Self::Out + Send + 'static;
    /// The message announcing a planned close.
    fn close_signal(&self) -> Self::Out;
}

/// The refusal of a request over the per-request limit, in the same words on both
/// protocols.
pub(crate) fn too_large(table: &str, offset: i64, bytes: usize, limit: usize) -> Status {
    Status::invalid_argument(format!(
        "table '{table}', offset {offset}: the request is {bytes} bytes, over the \
         {limit}-byte limit of one request (split it)"
    ))
}

/// The injected refusal of a request holding the marker (`refuse_records_containing`).
pub(crate) fn marker_refusal(table: &str, offset: i64, row: usize) -> Status {
    Status::invalid_argument(format!(
        "table '{table}', offset {offset}, row {row}: injected fault: the record holds the \
         refusal marker"
    ))
}

/// What ends a turn of the loop.
enum Turn<R> {
    PlannedClose(&'static str),
    GraceOver,
    Read(Step<R>),
}

/// Serve one stream of `table` after its protocol's opening: read requests in offset
/// order, check each, hold the stream to its quota, queue the rows for the table's next
/// Delta commit and acknowledge each once durable; announce planned closes and end after
/// the grace period. Returns the records taken.
pub(crate) async fn run<P: Protocol>(
    shared: &Shared,
    table: &Table,
    token_deadline: Instant,
    tx: mpsc::Sender<Result<P::Out, Status>>,
    mut protocol: P,
) -> u64 {
    let open = shared.stats.open(&table.full_name);
    let mut pacer = Pacer::new(shared.quota);
    let (ack_tx, ack_rx) = mpsc::unbounded_channel();
    let acker = tokio::spawn(acknowledge(
        ack_rx,
        tx.clone(),
        shared.faults.ack_delay,
        open.0.clone(),
        protocol.ack(),
    ));
    let mut lifetime = Lifetime::new(shared, token_deadline);
    let (mut next_offset, mut records) = (0i64, 0u64);
    let mut closing: Option<Instant> = None;
    let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
    loop {
        let planned = closing.is_none();
        let turn = tokio::select! {
            biased;
            why = lifetime.planned_close(), if planned => Turn::PlannedClose(why),
            _ = tokio::time::sleep_until(closing.unwrap_or(far)), if !planned => Turn::GraceOver,
            step = protocol.next(next_offset) => Turn::Read(step),
        };
        let (offset, request) = match turn {
            Turn::PlannedClose(why) => {
                closing = Some(signal_close(&tx, protocol.close_signal(), why).await);
                continue;
            }
            Turn::GraceOver | Turn::Read(Step::Finished) => {
                let _ = ack_tx.send(AckEvent::Close);
                break;
            }
            Turn::Read(Step::Gone) => break,
            Turn::Read(Step::Nothing) => continue,
            Turn::Read(Step::Refuse(status)) => {
                open.counters().refused(status.message());
                let _ = ack_tx.send(AckEvent::Fail(status));
                break;
            }
            Turn::Read(Step::Request(offset, request)) => (offset, request),
        };
        if let Some(refusal) = out_of_order(offset, next_offset) {
            open.counters().refused(refusal.message());
            let _ = ack_tx.send(AckEvent::Fail(refusal));
            break;
        }
        if let Some(fault) = injected_interruption(shared) {
            let _ = tx.send(Err(fault)).await;
            break;
        }
        next_offset += 1;
        let event = match protocol.check(request, offset, shared.discard) {
            Err(status) => AckEvent::Fail(status),
            Ok(taken) => {
                records += taken.records;
                // The quota: this request is taken once the stream's earlier ones and this
                // one fit it; until then nothing more is read from the stream.
                let waited = pacer.take(taken.records, taken.bytes).await;
                open.counters().paced(waited);
                queue(table, offset, taken).await
            }
        };
        let failed = matches!(event, AckEvent::Fail(_));
        if let AckEvent::Fail(status) = &event {
            open.counters().refused(status.message());
        }
        let _ = ack_tx.send(event);
        if failed {
            break;
        }
        if close_fault_due(shared, records) {
            signal_close(&tx, protocol.close_signal(), CLOSE_FAULT).await;
            let _ = ack_tx.send(AckEvent::Close);
            break;
        }
    }
    drop(ack_tx);
    let _ = acker.await;
    drop(open);
    records
}

/// Announce a planned close with `signal`; the stream ends after [`CLOSE_GRACE`].
async fn signal_close<M>(tx: &mpsc::Sender<Result<M, Status>>, signal: M, why: &str) -> Instant {
    tracing::info!(reason = why, "closing stream after a grace period");
    let _ = tx.send(Ok(signal)).await;
    Instant::now() + CLOSE_GRACE
}

/// Queue a checked request's rows for the table's next commit: the event that
/// acknowledges it once the commit is durable (at once in discard mode).
async fn queue(table: &Table, offset: i64, taken: Taken) -> AckEvent {
    let size = (taken.records, taken.bytes);
    let submitted = match taken.rows {
        Rows::Discarded => return AckEvent::Ready { offset, size },
        Rows::Cells(rows) => table.writer.submit(rows).await,
        Rows::Batch(batch) => table.writer.submit_batch(batch).await,
    };
    let name = &table.full_name;
    match submitted {
        Ok(done) => AckEvent::Commit { offset, size, done },
        Err(e @ storage::Refused::Stopped) => {
            AckEvent::Fail(Status::not_found(format!("table '{name}': {e}")))
        }
        Err(e @ storage::Refused::Rows(_)) => {
            AckEvent::Fail(Status::internal(format!("table '{name}': {e}")))
        }
    }
}
