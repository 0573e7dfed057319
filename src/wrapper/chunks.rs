//! A send's records cut into ingest requests, sent on a stream, and their acknowledgements
//! awaited with a deadline of our own.

use std::time::Duration;

use databricks_zerobus_ingest_sdk::{ProtoBytes, ZerobusError as SdkError};
use opentelemetry::KeyValue;

use super::inner::Inner;
use super::payload::compact_part;
use super::payload::Payload;
use super::sdk_stream::SdkStream;

/// The SDK's acknowledgement timeout when `ack_timeout_ms` is not set.
const SDK_ACK_TIMEOUT_MS: u64 = 60_000;

impl Inner {
    /// Send `chunks` of `payload` (span `zerobus.ingest`) and wait for their acknowledgements in order
    /// (span `zerobus.flush`); `acked` counts the chunks acknowledged so far (acks are
    /// cumulative, so the unacknowledged ones are a suffix).
    /// `(lane, attempt)` is for the spans: the lane's index (`None`: a private stream) and
    /// the attempt's number.
    pub(super) async fn send_chunks(
        &self,
        stream: &SdkStream,
        (lane, attempt): (Option<usize>, u32),
        payload: &Payload,
        chunks: &[(usize, usize)],
        acked: &mut usize,
        last: &mut Option<i64>,
    ) -> std::result::Result<(), SdkError> {
        let attempt_kv = || KeyValue::new("zerobus.attempt", i64::from(attempt));
        let pending_rows = |c: &[(usize, usize)]| c.iter().map(|(s, e)| e - s).sum::<usize>();
        let ingest_attrs = vec![
            attempt_kv(),
            KeyValue::new("zerobus.rows", pending_rows(chunks) as i64),
            KeyValue::new("zerobus.lane", lane.map_or(-1, |l| l as i64)),
        ];
        let (offsets, send_error) = self
            .in_span(
                "zerobus.ingest",
                ingest_attrs,
                self.ingest_chunks(stream, payload, chunks),
                |(_, e)| (e.as_ref().map(|e| e.to_string()), vec![]),
            )
            .await;
        let flush = self.wait_for_acks(stream, offsets, acked, last);
        self.in_span("zerobus.flush", vec![attempt_kv()], flush, |r| {
            (r.as_ref().err().map(|e| e.to_string()), vec![])
        })
        .await?;
        match send_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Hand each chunk to the SDK: the offsets it gave with each chunk's row count, and
    /// the error that stopped it, if any.
    async fn ingest_chunks(
        &self,
        stream: &SdkStream,
        payload: &Payload,
        chunks: &[(usize, usize)],
    ) -> (Vec<(i64, usize)>, Option<SdkError>) {
        let mut offsets = Vec::with_capacity(chunks.len());
        for (s, e) in chunks {
            let sent = match (stream, payload) {
                (SdkStream::Proto(stream), Payload::Proto(rows)) => {
                    let records = (*s..*e).map(|i| ProtoBytes(rows.row(i).to_vec()));
                    stream.ingest_records_offset(records).await
                }
                (SdkStream::Flight(stream), Payload::Flight(batch)) => stream
                    .ingest_batch(compact_part(batch, (*s, *e)))
                    .await
                    .map(Some),
                _ => Err(SdkError::InvalidStateError(
                    "the stream and the encoded batch are of different transports".into(),
                )),
            };
            match sent {
                Ok(off) => {
                    self.metric(|m, a| {
                        m.rows_sent.add((e - s) as u64, a);
                        m.bytes_sent.add(payload.bytes((*s, *e)) as u64, a);
                    });
                    if let Some(off) = off {
                        offsets.push((off, e - s));
                    }
                }
                Err(err) => return (offsets, Some(err)),
            }
        }
        (offsets, None)
    }

    /// Wait for each offset's acknowledgement in order, counting them into `acked` and
    /// `last`.
    ///
    /// The SDK re-creates a stream whose acks are late and resends, without end when
    /// every ack is later than its timeout: our own deadline turns that into a retry
    /// (and, when attempts run out, a dead-letter file) instead of a wait forever.
    async fn wait_for_acks(
        &self,
        stream: &SdkStream,
        offsets: Vec<(i64, usize)>,
        acked: &mut usize,
        last: &mut Option<i64>,
    ) -> std::result::Result<(), SdkError> {
        let deadline = Duration::from_millis(
            self.config
                .ack_timeout_ms
                .unwrap_or(SDK_ACK_TIMEOUT_MS)
                .saturating_mul(3),
        );
        for (off, n) in offsets {
            match tokio::time::timeout(deadline, stream.wait_for_offset(off)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(SdkError::ConnectionTimeout(format!(
                        "no acknowledgement of offset {off} within {} ms (3 x the ack timeout)",
                        deadline.as_millis()
                    )))
                }
            }
            *acked += 1;
            *last = Some(off);
            self.metric(|m, a| m.rows_acknowledged.add(n as u64, a));
        }
        Ok(())
    }
}
