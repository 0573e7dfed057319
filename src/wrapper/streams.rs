//! The life of a lane's stream: opened on first use, replaced after a failure, closed when
//! idle or at shutdown; `zerobus.streams.open` follows the lanes' slots.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use databricks_zerobus_ingest_sdk::ZerobusError as SdkError;
use opentelemetry::KeyValue;
use tracing::Instrument;

use super::inner::Inner;
use super::lanes::{self, Current};
use super::sdk_stream::{close_stream, SdkStream};
use crate::config::Transport;
use crate::convert::flight_schema;

/// Ingest requests a protobuf stream holds unacknowledged before the SDK makes the next
/// one wait. The SDK's default (1,000,000) is sized for one record per request, and it
/// allocates its queues for that many up front: about 32 MB per stream, whose pages the
/// kernel zeroes as they are touched (8 % of an INSERT's CPU, profiled). Our requests carry
/// up to 20,000 records and `send_all` bounds the batches in flight itself, so a stream
/// never nears this; if one did (a single huge `send_batch`), the SDK would wait for
/// acknowledgements, not fail.
const SDK_INFLIGHT_REQUESTS: usize = 4096;

impl Inner {
    /// The stream of `lane`, opened (again) if it has none or its stream closed.
    pub(super) async fn current_stream(
        &self,
        lane: &lanes::Lane,
    ) -> std::result::Result<Current, SdkError> {
        let mut guard = lane.stream.lock().await;
        if let Some(c) = guard.as_ref() {
            if !c.stream.is_closed() {
                return Ok(c.clone());
            }
        }
        // Closed: the lane has no stream until a new one is open (opening may fail).
        self.set_lane_stream(lane, &mut guard, None);
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let stream = self
            .open_stream(generation as i64, Some(lane.index))
            .await?;
        let current = Current {
            generation,
            stream: Arc::new(stream),
        };
        self.set_lane_stream(lane, &mut guard, Some(current.clone()));
        Ok(current)
    }

    /// Put `new` in `lane`'s slot (`None`: empty it), keeping the lane's state and the
    /// `zerobus.streams.open` metric in step with the slot.
    fn set_lane_stream(
        &self,
        lane: &lanes::Lane,
        slot: &mut Option<Current>,
        new: Option<Current>,
    ) {
        let change = i64::from(new.is_some()) - i64::from(slot.is_some());
        *slot = new;
        self.lanes.set_open(lane.index, slot.is_some());
        if change != 0 {
            self.metric(|m, a| m.streams_open.add(change, a));
        }
    }

    /// Close streams in the background (idle lanes), after their last acknowledgements.
    pub(super) fn close_streams(&self, streams: Vec<Current>) {
        for c in streams {
            self.metric(|m, a| m.streams_open.add(-1, a));
            tracing::debug!(table = %self.table(), generation = c.generation, "closing an idle stream");
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(close_stream(c.stream));
            }
        }
    }

    /// A new SDK stream for the table (span `zerobus.create_stream`) on `lane`; `None` and
    /// generation -1 for a private stream that is not shared with other sends.
    pub(super) async fn open_stream(
        &self,
        generation: i64,
        lane: Option<usize>,
    ) -> std::result::Result<SdkStream, SdkError> {
        let schema = self
            .schema
            .get()
            .ok_or_else(|| SdkError::InvalidStateError("schema not resolved".into()))?;
        let cfg = &self.config;
        let span =
            tracing::info_span!("zerobus.create_stream", table = %cfg.table_name, lane = ?lane);
        let attrs = vec![
            KeyValue::new("zerobus.stream.generation", generation),
            KeyValue::new("zerobus.lane", lane.map_or(-1, |l| l as i64)),
        ];
        let builder = self
            .sdk
            .stream_builder()
            .table(cfg.table_name.as_str())
            .oauth(
                cfg.client_id.as_deref().unwrap_or_default(),
                cfg.client_secret
                    .as_ref()
                    .map(|s| s.expose())
                    .unwrap_or_default(),
            );
        // The SDK's own recovery handles planned closes; our retry (with jitter) is the
        // outer loop, so the SDK gets a small budget and a short backoff.
        let backoff = cfg.retry_base_delay_ms.max(10);
        let build = async {
            match cfg.transport {
                Transport::Proto => {
                    let mut b = builder
                        .compiled_proto(schema.descriptor().clone())
                        .max_inflight_requests(SDK_INFLIGHT_REQUESTS)
                        .recovery_retries(1)
                        .recovery_backoff_ms(backoff);
                    if let Some(ms) = cfg.ack_timeout_ms {
                        b = b.server_lack_of_ack_timeout_ms(ms);
                    }
                    b.build().await.map(|s| SdkStream::Proto(Box::new(s)))
                }
                Transport::Flight => {
                    let mut b = builder
                        .arrow(Arc::new(flight_schema(schema.columns())))
                        .recovery_retries(1)
                        .recovery_backoff_ms(backoff)
                        .ipc_compression(cfg.flight_compression.ipc());
                    if let Some(ms) = cfg.ack_timeout_ms {
                        b = b.server_lack_of_ack_timeout_ms(ms);
                    }
                    b.build_arrow()
                        .await
                        .map(|s| SdkStream::Flight(Box::new(s)))
                }
            }
        };
        let stream = self
            .in_span(
                "zerobus.create_stream",
                attrs,
                build.instrument(span),
                |r| (r.as_ref().err().map(|e| e.to_string()), vec![]),
            )
            .await?;
        self.metric(|m, a| m.streams_created.add(1, a));
        Ok(stream)
    }

    /// Drop `lane`'s stream if it is still the one of `generation` (it failed).
    pub(super) async fn retire(&self, lane: &lanes::Lane, generation: u64) {
        let mut guard = lane.stream.lock().await;
        if guard.as_ref().is_some_and(|c| c.generation == generation) {
            self.set_lane_stream(lane, &mut guard, None);
        }
    }

    /// Streams the wrapper has open now (lanes with a stream).
    pub(super) fn streams_open(&self) -> usize {
        self.lanes.open_count()
    }
}
