//! One send: rows of an encoded batch on a lane, retried (backoff, a fresh stream, the
//! batch alone on a private stream after a refusal), acknowledged or dead-lettered; traced.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use opentelemetry::KeyValue;
use tracing::Instrument;

use super::classify::{classify, Failure};
use super::inner::Inner;
use super::lanes::Lane;
use super::outcome::{BatchOutcome, TransmissionResult};
use super::payload::Payload;
use crate::error::Result;
use crate::telemetry::{end_span, in_context};

/// How a send retries so far.
#[derive(Default)]
struct Retries {
    /// After the service refused a request on the shared stream, the batch is resent alone
    /// on a private stream: refused again, its own records were the cause (final);
    /// accepted, it was a neighbour's, and this batch lands.
    isolated: bool,
    /// The one retry with a fresh token after the credentials were refused was used.
    fresh_token: bool,
}

/// Rows `range` of a batch, already encoded.
type Part<'a> = (&'a Payload, (usize, usize));

/// Counts rows as in flight from encoding until acknowledged or given up (also when the
/// send is cancelled).
struct InFlight {
    counter: Option<(opentelemetry::metrics::UpDownCounter<i64>, [KeyValue; 1])>,
    rows: i64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some((c, attrs)) = &self.counter {
            c.add(-self.rows, attrs);
        }
    }
}

impl Inner {
    /// Send one batch and wait until every row is durably acknowledged.
    ///
    /// Errors: [`ZerobusError::Conversion`] before anything is sent; after that, a failure
    /// carries the path of the dead-letter file holding the unacknowledged rows.
    pub(super) async fn send_batch(&self, batch: &RecordBatch) -> Result<TransmissionResult> {
        self.send_batch_counted(batch).await.0
    }

    /// [`Self::send_batch`], with the account of the rows when it fails.
    pub(super) async fn send_batch_counted(
        &self,
        batch: &RecordBatch,
    ) -> (Result<TransmissionResult>, BatchOutcome) {
        self.counted(batch, None).await
    }

    /// [`Self::send_batch_counted`] of rows `range` of an encoded batch (a part of a large
    /// batch that `send_all` spreads over the lanes).
    pub(super) async fn send_part_counted(
        &self,
        batch: &RecordBatch,
        rows: &Payload,
        range: (usize, usize),
    ) -> (Result<TransmissionResult>, BatchOutcome) {
        self.counted(batch, Some((rows, range))).await
    }

    /// One send (of `batch`, or of an encoded `part` of it), counted as in progress for
    /// `flush`, with the account of its rows.
    pub(super) async fn counted(
        &self,
        batch: &RecordBatch,
        part: Option<Part<'_>>,
    ) -> (Result<TransmissionResult>, BatchOutcome) {
        let _send = self.sends.start();
        let mut outcome = BatchOutcome::default();
        let result = self.send_batch_traced(batch, part, &mut outcome).await;
        if let Ok(r) = &result {
            outcome.acknowledged = r.rows;
        }
        (result, outcome)
    }

    pub(super) async fn send_batch_traced(
        &self,
        batch: &RecordBatch,
        part: Option<Part<'_>>,
        outcome: &mut BatchOutcome,
    ) -> Result<TransmissionResult> {
        let n = part.map_or(batch.num_rows(), |(_, (s, e))| e - s);
        let span = tracing::info_span!(
            "zerobus.send_batch",
            table = %self.table(),
            rows = n,
            trace_id = tracing::field::Empty,
            span_id = tracing::field::Empty
        );
        let Some(t) = &self.telemetry else {
            return self
                .send_batch_inner(batch, part, outcome)
                .instrument(span)
                .await;
        };
        let log_span = span.clone();
        let started = Instant::now();
        let cx = t.start(
            "zerobus.send_batch",
            vec![KeyValue::new("zerobus.rows", n as i64)],
        );
        // Log lines inside this call carry the trace's ids.
        let (trace_id, span_id) = crate::telemetry::ids(&cx);
        span.record("trace_id", tracing::field::display(&trace_id));
        span.record("span_id", tracing::field::display(&span_id));
        let result = in_context(Some(&cx), self.send_batch_inner(batch, part, outcome))
            .instrument(span)
            .await;
        let seconds = started.elapsed().as_secs_f64();
        let m = t.metrics();
        match &result {
            Ok(r) => {
                m.send_duration
                    .record(seconds, &t.attrs_with(KeyValue::new("outcome", "ok")));
                end_span(
                    &cx,
                    None,
                    vec![
                        KeyValue::new("zerobus.attempts", i64::from(r.attempts)),
                        KeyValue::new("zerobus.bytes", r.batch_size_bytes as i64),
                    ],
                );
            }
            Err(e) => {
                log_span.in_scope(|| tracing::debug!(kind = e.kind(), "send_batch failed: {e}"));
                m.send_duration
                    .record(seconds, &t.attrs_with(KeyValue::new("outcome", "error")));
                m.errors
                    .add(1, &t.attrs_with(KeyValue::new("error.kind", e.kind())));
                end_span(
                    &cx,
                    Some(&e.to_string()),
                    vec![KeyValue::new("error.kind", e.kind())],
                );
            }
        }
        result
    }

    pub(super) async fn send_batch_inner(
        &self,
        batch: &RecordBatch,
        part: Option<Part<'_>>,
        outcome: &mut BatchOutcome,
    ) -> Result<TransmissionResult> {
        let started = Instant::now();
        if self.gave_up.is_set() {
            let range = part.map_or((0, batch.num_rows()), |(_, range)| range);
            return Err(self.given_up(batch, range, outcome).await);
        }
        if let Some((rows, range)) = part {
            if self.closed.load(Ordering::SeqCst) {
                return Err(self.unsent_after_shutdown(batch, range, outcome).await);
            }
            return self.send_rows(batch, rows, range, outcome, started).await;
        }
        if batch.num_rows() == 0 && !self.closed.load(Ordering::SeqCst) {
            return Ok(TransmissionResult {
                success: true,
                error: None,
                attempts: 0,
                latency_ms: Some(0),
                batch_size_bytes: 0,
                rows: 0,
                ack_offset: None,
            });
        }
        let rows = self.encode_checked(batch, outcome).await?;
        self.send_rows(batch, &rows, (0, rows.len()), outcome, started)
            .await
    }

    /// Send rows `range` of the encoded `batch` on a lane, retrying, and wait for their
    /// acknowledgements; what cannot be delivered goes to a dead-letter file (rows of
    /// `batch` in `range` coordinates, so a part of a batch dead-letters only its rows).
    pub(super) async fn send_rows(
        &self,
        batch: &RecordBatch,
        rows: &Payload,
        range: (usize, usize),
        outcome: &mut BatchOutcome,
        started: Instant,
    ) -> Result<TransmissionResult> {
        let n = range.1 - range.0;
        let _in_flight = self.in_flight(n);
        self.metric(|m, a| m.batches_sent.add(1, a));
        let bytes = rows.bytes(range);
        let chunks = rows.parts(range);
        // The lane is held until this send ends, also while it retries.
        let (ticket, idle) = self.lanes.choose();
        self.close_streams(idle);
        let lane = &ticket.lane;
        let mut first_unacked = 0usize;
        let mut attempt = 0u32;
        let mut last_offset = None;
        let mut retries = Retries::default();
        loop {
            let pending = |first_unacked: usize| {
                (chunks.get(first_unacked).map_or(range.1, |c| c.0), range.1)
            };
            if self.gave_up.is_set() {
                outcome.acknowledged = pending(first_unacked).0 - range.0;
                return Err(self.given_up(batch, pending(first_unacked), outcome).await);
            }
            attempt += 1;
            let todo = &chunks[first_unacked..];
            let attempted = self.attempt(
                (lane, retries.isolated, attempt),
                rows,
                todo,
                &mut first_unacked,
                &mut last_offset,
            );
            // Given up (Ctrl-C twice over): the attempt is dropped where it stands, the
            // rows it had acknowledged stay counted, the rest is dead-lettered above.
            let sent = tokio::select! {
                biased;
                sent = attempted => sent,
                _ = self.gave_up.wait() => continue,
            };
            let failure = match sent {
                Ok(()) => {
                    return Ok(TransmissionResult {
                        success: true,
                        error: None,
                        attempts: attempt,
                        latency_ms: Some(started.elapsed().as_millis() as u64),
                        batch_size_bytes: bytes,
                        rows: n,
                        ack_offset: last_offset,
                    });
                }
                Err(f) => f,
            };
            let pending = pending(first_unacked);
            let remaining = pending.1 - pending.0;
            if let Some(failure) = self.retry(failure, attempt, remaining, &mut retries).await {
                outcome.acknowledged = pending.0 - range.0;
                return Err(self
                    .undelivered(batch, pending, failure, attempt, outcome)
                    .await);
            }
        }
    }

    /// Rows counted as in flight until the returned guard is dropped.
    fn in_flight(&self, n: usize) -> InFlight {
        InFlight {
            counter: self.telemetry.as_ref().map(|t| {
                let c = t.metrics().rows_in_flight.clone();
                c.add(n as i64, t.attrs());
                (c, [t.attrs()[0].clone()])
            }),
            rows: n as i64,
        }
    }

    /// After failed attempt `attempt`: get ready for the next one (isolate the batch, back
    /// off, or take a fresh token once), or return the failure when no retry is left.
    async fn retry(
        &self,
        failure: Failure,
        attempt: u32,
        remaining: usize,
        retries: &mut Retries,
    ) -> Option<Failure> {
        let max = self.config.retry_max_attempts;
        match failure {
            Failure::Isolate(m) => {
                retries.isolated = true;
                tracing::warn!(table = %self.table(), attempt, remaining, error = %m,
                    "the service refused a request on the shared stream; resending this batch on a stream of its own");
                self.metric(|m, a| {
                    m.retries
                        .add(1, &[a[0].clone(), KeyValue::new("error.kind", "refused")]);
                });
            }
            Failure::Retry(m) | Failure::Token(m) if attempt < max => {
                let wait = self.backoff.delay(attempt);
                tracing::warn!(table = %self.table(), attempt, max, remaining, ?wait, error = %m, "retrying");
                self.backoff_span(attempt, "transient", &m, wait).await;
            }
            Failure::Auth(m) if !retries.fresh_token => {
                // The SDK drops a rejected token; the next stream fetches a fresh one.
                retries.fresh_token = true;
                tracing::warn!(table = %self.table(), error = %m, "credentials rejected; retrying once with a fresh token");
                self.backoff_span(attempt, "authentication", &m, Duration::ZERO)
                    .await;
            }
            failure => return Some(failure),
        }
        None
    }

    /// One attempt at sending `todo` (chunks of `rows`): on the lane's stream, or alone on
    /// a private stream when `isolated`; what failed, classified. `first_unacked` and
    /// `last_offset` advance with each acknowledgement, also when the attempt is dropped.
    async fn attempt(
        &self,
        (lane, isolated, attempt): (&Lane, bool, u32),
        rows: &Payload,
        todo: &[(usize, usize)],
        first_unacked: &mut usize,
        last_offset: &mut Option<i64>,
    ) -> std::result::Result<(), Failure> {
        if isolated {
            match self.open_stream(-1, None).await {
                Err(e) => Err(classify(&e)),
                Ok(mut stream) => {
                    let r = self
                        .send_chunks(
                            &stream,
                            (None, attempt),
                            rows,
                            todo,
                            first_unacked,
                            last_offset,
                        )
                        .await;
                    if let Err(e) = stream.close().await {
                        tracing::debug!(error = %e, "closing a private stream");
                    }
                    r.map_err(|e| classify(&e))
                }
            }
        } else {
            match self.current_stream(lane).await {
                Err(e) => Err(classify(&e)),
                Ok(current) => match self
                    .send_chunks(
                        &current.stream,
                        (Some(lane.index), attempt),
                        rows,
                        todo,
                        first_unacked,
                        last_offset,
                    )
                    .await
                {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        self.retire(lane, current.generation).await;
                        Err(match classify(&e) {
                            Failure::Final(m) => Failure::Isolate(m),
                            other => other,
                        })
                    }
                },
            }
        }
    }
}
