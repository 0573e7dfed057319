//! Everything before sending: the table's schema (looked up once, retried), the batch
//! encoded for the transport and checked in full (every row under the message limit),
//! the debug files.

use std::sync::atomic::Ordering;

use arrow::array::RecordBatch;
use opentelemetry::KeyValue;

use super::inner::Inner;
use super::outcome::BatchOutcome;
use super::payload::Payload;
use crate::config::{SchemaSource, Transport};
use crate::convert::{EncodedRows, FlightEncoder, RowEncoder, TableSchema};
use crate::error::{Detail, Result, ZerobusError};

/// Largest record that can be sent: the SDK refuses any ingest request whose records
/// exceed 10 MiB − 64 KiB (its `MAX_INGEST_PAYLOAD_BYTES`, kept under the service's 10 MiB
/// message limit), so a larger record is a ConversionError before anything is sent.
pub const MAX_RECORD_BYTES: usize = 10 * 1024 * 1024 - 64 * 1024;

impl Inner {
    pub(super) async fn table_schema(&self, batch: &RecordBatch) -> Result<&TableSchema> {
        let inner = self;
        inner
            .schema
            .get_or_try_init(|| async {
                let table = &inner.config.table_name;
                match inner.config.schema_source {
                    SchemaSource::UnityCatalog => {
                        let columns = crate::unity_catalog::table_columns(&inner.config).await?;
                        TableSchema::from_uc(table, &columns)
                    }
                    SchemaSource::ArrowSchema => TableSchema::from_arrow(table, &batch.schema()),
                }
            })
            .await
    }

    /// Encode `batch` for the table: every problem is found before anything is sent.
    pub(super) async fn encode(&self, batch: &RecordBatch) -> Result<EncodedRows> {
        let schema = self.table_schema(batch).await?;
        let mut encoder = self.proto_plans.get(&batch.schema(), || {
            Ok(RowEncoder::new(schema, &batch.schema())?
                .with_null_collections(self.config.null_collections))
        })?;
        encoder.encode_batch(batch)?;
        let rows = encoder.take_rows();
        // No row can be over the limit when all of them together are not.
        let over = match rows.total_bytes() > MAX_RECORD_BYTES {
            true => rows
                .iter()
                .enumerate()
                .find(|(_, r)| r.len() > MAX_RECORD_BYTES),
            false => None,
        };
        if let Some((i, r)) = over {
            return Err(ZerobusError::Conversion(format!(
                "table '{}', row {i}: the row is {} bytes, over Zerobus's {MAX_RECORD_BYTES}-byte limit",
                self.table(),
                r.len()
            ).into()));
        }
        Ok(rows)
    }

    /// `batch` in the table's Arrow Flight schema (what the `flight` transport sends):
    /// every problem is found before anything is sent, as for [`Self::encode`].
    pub(super) async fn encode_flight(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let schema = self.table_schema(batch).await?;
        let encoder = self.flight_plans.get(&batch.schema(), || {
            FlightEncoder::new(schema, &batch.schema())
        })?;
        let sent = encoder.encode_batch(batch)?;
        check_row_sizes(self.table(), &sent)?;
        Ok(sent)
    }

    /// The batch encoded for the wrapper's transport.
    pub(super) async fn encode_payload(&self, batch: &RecordBatch) -> Result<Payload> {
        Ok(match self.config.transport {
            Transport::Proto => Payload::Proto(self.encode(batch).await?),
            Transport::Flight => Payload::Flight(self.encode_flight(batch).await?),
        })
    }

    /// Everything before sending: the wrapper is open, the table's schema is known (UC
    /// look-up retried; when it fails for good the batch is dead-lettered), the batch is
    /// encoded and checked (span `zerobus.encode`), and written to the debug files.
    pub(super) async fn encode_checked(
        &self,
        batch: &RecordBatch,
        outcome: &mut BatchOutcome,
    ) -> Result<Payload> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(ZerobusError::Transmission(
                format!(
                    "the wrapper for table '{}' was shut down; create a new one",
                    self.table()
                )
                .into(),
            ));
        }
        self.resolve_schema(batch, outcome).await?;
        let rows = self
            .in_span("zerobus.encode", vec![], self.encode_payload(batch), |r| {
                let bytes = r.as_ref().map_or(0, |r| r.bytes((0, r.len())) as i64);
                (
                    r.as_ref().err().map(|e| e.to_string()),
                    vec![KeyValue::new("zerobus.bytes", bytes)],
                )
            })
            .await?;
        tracing::debug!(
            rows = rows.len(),
            bytes = rows.bytes((0, rows.len())),
            "encoded; sending"
        );
        if let Some(debug) = &self.debug {
            match &rows {
                Payload::Proto(encoded) => debug.record(batch, encoded)?,
                Payload::Flight(sent) => debug.record_flight(batch, sent)?,
            }
        }
        Ok(rows)
    }

    /// Resolve the table's schema (the UC look-up on first use), retrying what may be
    /// transient (UC unreachable, the token endpoint failing) with the same backoff as
    /// sends. When attempts run out, or the credentials are refused, the batch goes to a
    /// dead-letter file: a batch handed to us is never dropped without one.
    pub(super) async fn resolve_schema(
        &self,
        batch: &RecordBatch,
        outcome: &mut BatchOutcome,
    ) -> Result<()> {
        let max = self.config.retry_max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let e = match self.table_schema(batch).await {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let transient = matches!(
                e,
                ZerobusError::Connection(_) | ZerobusError::TokenRefresh(_)
            );
            if transient && attempt < max && !self.gave_up.is_set() {
                tracing::warn!(table = %self.table(), attempt, error = %e, "table schema unavailable; retrying");
                let wait = self.backoff.delay(attempt);
                self.backoff_span(attempt, "table_schema", &e.to_string(), wait)
                    .await;
                continue;
            }
            if !transient && !matches!(e, ZerobusError::Authentication(_)) {
                return Err(e);
            }
            let rows = batch.num_rows();
            let place = match self.dead_letter(batch, (0, rows), outcome).await {
                Ok(p) => format!("{rows} rows were written to {}", p.display()),
                Err(e) => format!("{rows} rows could not be written to a dead-letter file: {e}"),
            };
            // The kind stays what went wrong; the message says where the rows are.
            let said = |m: &Detail| m.reworded(format!("{m} (after {attempt} attempts); {place}"));
            return Err(match e {
                ZerobusError::Authentication(m) => ZerobusError::Authentication(said(&m)),
                ZerobusError::TokenRefresh(m) => ZerobusError::TokenRefresh(said(&m)),
                ZerobusError::Connection(m) => ZerobusError::Connection(said(&m)),
                other => other,
            });
        }
    }
}

/// Refuse a row of a Flight batch that no message could carry: its values, over every
/// column and nesting level ([`crate::convert::row_bytes`]), over [`MAX_RECORD_BYTES`] —
/// the limit the protobuf transport applies to its records, with the same words.
///
/// A batch whose columns hold at most that many bytes in all cannot have such a row (a
/// row's count is part of its columns' bytes), so it is not measured row by row: most
/// batches are far under the limit.
fn check_row_sizes(table: &str, batch: &RecordBatch) -> Result<()> {
    let total = batch.columns().iter().try_fold(0usize, |sum, c| {
        c.to_data()
            .get_slice_memory_size()
            .ok()
            .map(|n| sum.saturating_add(n))
    });
    if total.is_some_and(|n| n <= MAX_RECORD_BYTES) {
        return Ok(());
    }
    let sizes = crate::convert::row_bytes(batch);
    match sizes.iter().position(|n| *n > MAX_RECORD_BYTES) {
        None => Ok(()),
        Some(i) => Err(ZerobusError::Conversion(
            format!(
                "table '{table}', row {i}: the row is {} bytes, over Zerobus's {MAX_RECORD_BYTES}-byte limit",
                sizes[i]
            )
            .into(),
        )),
    }
}
