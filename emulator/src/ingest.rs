//! What both ingest protocols (protobuf `EphemeralStream` in [`crate::grpc`], Arrow
//! Flight `DoPut` in [`crate::flight`]) share: the state of the service, the checks before
//! a stream is served (token, table, faults), when a stream's planned close is due, and
//! the acknowledgement task that answers in offset order once each commit is durable.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tonic::Status;

use crate::auth::{Authority, TokenClaims, TokenRejection};
use crate::catalog::{parse_table_name, Catalog, Table};
use crate::quota::{Stats, StreamQuota, TableCounters};
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
