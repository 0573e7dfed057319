//! What became of a send's rows: [`TransmissionResult`] when every row was acknowledged,
//! [`BatchOutcome`] (acknowledged, dead-lettered, unaccounted) always, and the dead-letter
//! files of rows that could not be delivered.

use std::path::PathBuf;

use arrow::array::RecordBatch;

use super::classify::{Cause, Failure};
use super::inner::Inner;
use crate::dead_letter::write_dead_letters_at;
use crate::error::{Detail, ZerobusError};

/// Outcome of one `send_batch` (the contract's fields, plus rows and the last offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransmissionResult {
    /// Whether every row was acknowledged.
    pub success: bool,
    /// Error message if not.
    pub error: Option<String>,
    /// Attempts made (0 for an empty batch).
    pub attempts: u32,
    /// Milliseconds from the call to the last acknowledgement.
    pub latency_ms: Option<u64>,
    /// Encoded size of the batch in bytes.
    pub batch_size_bytes: usize,
    /// Rows acknowledged.
    pub rows: usize,
    /// Stream offset of the last acknowledged request.
    pub ack_offset: Option<i64>,
}

/// What became of a batch's rows: acknowledged, in a dead-letter file, or neither (the
/// dead-letter file could not be written).
#[derive(Debug, Default, Clone)]
pub(crate) struct BatchOutcome {
    pub acknowledged: usize,
    pub dead_lettered: usize,
    pub unaccounted: usize,
    pub dead_letter: Option<PathBuf>,
}

impl Inner {
    /// Rows `range` of `batch` that a send given up on ([`Self::give_up`]) had not seen
    /// acknowledged: dead-lettered, and the error says where.
    pub(super) async fn given_up(
        &self,
        batch: &RecordBatch,
        range: (usize, usize),
        outcome: &mut BatchOutcome,
    ) -> ZerobusError {
        let n = range.1 - range.0;
        let went = match self.dead_letter(batch, range, outcome).await {
            Ok(p) => format!("written to {}", p.display()),
            Err(e) => format!("not written to a dead-letter file either ({e})"),
        };
        ZerobusError::Transmission(
            format!(
                "table '{}': gave up waiting for the batches in flight after the interrupt; {n} \
                 rows not acknowledged were {went} (those already sent may land as well)",
                self.table()
            )
            .into(),
        )
    }

    /// A part of a split batch that reached the wrapper after `shutdown`: never sent (no
    /// stream is opened after shutdown), its rows dead-lettered.
    pub(super) async fn unsent_after_shutdown(
        &self,
        batch: &RecordBatch,
        range: (usize, usize),
        outcome: &mut BatchOutcome,
    ) -> ZerobusError {
        let n = range.1 - range.0;
        let went = match self.dead_letter(batch, range, outcome).await {
            Ok(p) => format!("written to {}", p.display()),
            Err(e) => format!("not written to a dead-letter file either ({e})"),
        };
        ZerobusError::Transmission(
            format!(
                "the wrapper for table '{}' was shut down; {n} rows of a split batch were not sent, {went}",
                self.table()
            )
            .into(),
        )
    }

    /// Write rows `rows.0..rows.1` of `batch` to a new dead-letter file, noting it in
    /// `outcome`; the error text says why the file could not be written.
    pub(super) async fn dead_letter(
        &self,
        batch: &RecordBatch,
        rows: (usize, usize),
        outcome: &mut BatchOutcome,
    ) -> std::result::Result<PathBuf, String> {
        let n = rows.1 - rows.0;
        let slice = batch.slice(rows.0, n);
        match write_dead_letters_at(&self.dead_letters, self.table(), &[slice]).await {
            Ok(p) => {
                self.metric(|m, a| m.rows_dead_lettered.add(n as u64, a));
                outcome.dead_letter = Some(p.clone());
                outcome.dead_lettered = n;
                Ok(p)
            }
            Err(e) => {
                tracing::error!(table = %self.table(), error = %e, rows = n, "could not write dead letters");
                outcome.unaccounted = n;
                Err(e.to_string())
            }
        }
    }

    /// Rows `pending` of `batch` that `failure` kept from being delivered after `attempt`
    /// attempts: dead-lettered, and the error of the failure's kind saying where they are.
    pub(super) async fn undelivered(
        &self,
        batch: &RecordBatch,
        pending: (usize, usize),
        failure: Failure,
        attempt: u32,
        outcome: &mut BatchOutcome,
    ) -> ZerobusError {
        let remaining = pending.1 - pending.0;
        let written = self.dead_letter(batch, pending, outcome).await;
        let place = match &written {
            Ok(p) => format!(
                "{remaining} unacknowledged rows were written to {}",
                p.display()
            ),
            Err(e) => format!(
                "{remaining} unacknowledged rows could not be written to a dead-letter file: {e}"
            ),
        };
        let (dead_letter, dead_letter_error) = match written {
            Ok(p) => (Some(p), None),
            Err(e) => (None, Some(e)),
        };
        let table = self.table();
        // The SDK's error stays the source of the one the caller sees.
        let said = |m: &Cause, text: String| Detail::new(text).caused_by_shared(m.sdk());
        match failure {
            Failure::Retry(m) => ZerobusError::RetryExhausted {
                message: said(&m, format!("table '{table}': {m}")),
                attempts: attempt,
                rows: remaining,
                dead_letter,
                dead_letter_error,
            },
            Failure::Token(m) => ZerobusError::TokenRefresh(said(
                &m,
                format!("table '{table}': {m} (after {attempt} attempts); {place}"),
            )),
            Failure::Auth(m) | Failure::Credentials(m) => ZerobusError::Authentication(said(
                &m,
                format!("table '{table}': {m}; check the client id and secret and the table grants; {place}"),
            )),
            Failure::Final(m) | Failure::Isolate(m) => ZerobusError::Transmission(said(
                &m,
                format!("table '{table}': the service refused the records: {m}; {place}"),
            )),
        }
    }
}
