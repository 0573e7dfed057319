//! [`ZerobusSink`]: what one Zerobus INSERT or COPY writes to, and how a partition of its
//! input is sent: converted exactly to the table's types, then through the statement's
//! one shared [`ZerobusWrapper`] (its lanes bound the streams of the whole statement),
//! with the partitions' progress added up for a [`LoadWatch`]. The plan around it is in
//! [`super::exec`].

use std::fmt;
use std::sync::Mutex;

use arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType};
use futures::StreamExt;
use opentelemetry::KeyValue;
use tracing::Instrument;

use crate::config::WrapperConfig;
use crate::convert::TableSchema;
use crate::error::{LoadFailure, ZerobusError};
use crate::wrapper::{Interrupt, LoadProgress, LoadWatch, Progress, ZerobusWrapper};

/// Writes query output into one Zerobus table: the configuration and the table's schema
/// that a [`ZerobusWriteExec`] writes with, and the metrics its partitions add to.
pub struct ZerobusSink {
    config: WrapperConfig,
    schema: SchemaRef,
    pub(super) metrics: ExecutionPlanMetricsSet,
    /// The one wrapper the partitions of this write share in this process.
    shared: SharedWrapper,
    /// Why this process cannot write (a plan decoded where the environment names no
    /// connection): the error of every partition, before anything is contacted.
    unconnected: Option<String>,
    /// The table's schema as planning looked it up, so that the write does not look it
    /// up again (not carried to Ballista executors: they look it up once per task).
    table_schema: Option<TableSchema>,
}

impl ZerobusSink {
    /// A sink for `config.table_name` with the table's schema.
    pub fn new(config: WrapperConfig, schema: SchemaRef) -> Self {
        ZerobusSink {
            config,
            schema,
            metrics: ExecutionPlanMetricsSet::new(),
            shared: SharedWrapper::default(),
            unconnected: None,
            table_schema: None,
        }
    }

    /// The same sink, whose wrapper starts with the table's schema `known` (one Unity
    /// Catalog look-up per statement).
    pub(crate) fn with_table_schema(mut self, known: Option<TableSchema>) -> Self {
        self.table_schema = known;
        self
    }

    /// The same sink, refusing to write with `why` when it is set.
    pub(crate) fn with_unconnected(mut self, why: Option<String>) -> Self {
        self.unconnected = why;
        self
    }

    /// The configuration partitions write with (its secret included: it is never
    /// serialized, see the `ballista` module).
    pub fn config(&self) -> &WrapperConfig {
        &self.config
    }

    /// The table's schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Record what `partition` sent in the sink's metrics: `output_rows` is the rows
    /// acknowledged; the rest are named for what they count.
    fn record(&self, partition: usize, last: &LoadProgress, most_streams: usize) {
        let summary = || MetricBuilder::new(&self.metrics).with_type(MetricType::Summary);
        summary()
            .output_rows(partition)
            .add(last.rows_acknowledged as usize);
        summary()
            .counter("rows_read", partition)
            .add(last.rows_read as usize);
        summary()
            .counter("rows_dead_lettered", partition)
            .add(last.rows_dead_lettered as usize);
        summary()
            .counter("retries", partition)
            .add(last.retries as usize);
        MetricBuilder::new(&self.metrics)
            .gauge("streams_used", partition)
            .set_max(most_streams);
    }

    /// Send `data` (partition `partition` of the `partitions` this process runs at once)
    /// and return the rows acknowledged. The partitions running at once share one
    /// wrapper (one table look-up, one token cache, one pool of `max_streams` lanes), so
    /// the write's streams stay within `max_streams` however many partitions it has; each
    /// keeps its share of the in-flight bound. (On Ballista each task has its own:
    /// `max_streams` holds per task.)
    pub(super) async fn write_partition(
        &self,
        partition: usize,
        partitions: usize,
        data: SendableRecordBatchStream,
        context: &TaskContext,
        progress: &PartitionsProgress,
    ) -> Result<u64> {
        if let Some(why) = &self.unconnected {
            return Err(DataFusionError::Configuration(why.clone()));
        }
        let interrupt = context.session_config().get_extension::<Interrupt>();
        let watch = context.session_config().get_extension::<LoadWatch>();
        let table = self.config.table_name.clone();
        // This partition's last progress and the most streams it had, for the metrics.
        let seen = Mutex::new((LoadProgress::default(), 0usize));
        let report = |p: LoadProgress| {
            if let Ok(mut s) = seen.lock() {
                s.1 = s.1.max(p.streams_open);
                s.0 = p;
            }
            let total = progress.report(partition, p);
            if let Some(w) = &watch {
                w.report(&table, total);
            }
        };
        tracing::info!(
            table = %table,
            partition,
            partitions,
            max_streams = self.config.max_streams,
            "zerobus write partition started"
        );
        let data = exact_input(&table, data, &self.schema);
        let wrapper = self
            .shared
            .acquire(&self.config, self.table_schema.as_ref())
            .map_err(DataFusionError::from)?;
        let in_flight =
            (wrapper.max_in_flight() / partitions.max(1)).max(crate::wrapper::MAX_IN_FLIGHT);
        let send = send_stream_within(&wrapper, data, &report, interrupt.as_deref(), in_flight);
        let sent = traced_insert(&wrapper, &table, partition, send).await;
        if let Ok(s) = seen.lock() {
            self.record(partition, &s.0, s.1);
        }
        // The last partition of the write to end closes the shared wrapper.
        let closed = match self.shared.release() {
            Some(last) => last.shutdown().await,
            None => Ok(()),
        };
        let acknowledged = match sent {
            Ok(n) => n,
            // One partition of several: its error carries its own account, so that the
            // total can add every partition's up (ZerobusTotalExec).
            Err(e) if partitions > 1 => {
                let last = seen.lock().map(|s| s.0).unwrap_or_default();
                return Err(with_account(e, &last));
            }
            Err(e) => return Err(e),
        };
        closed.map_err(DataFusionError::from)?;
        tracing::info!(
            table = %table,
            partition,
            partitions,
            rows = acknowledged,
            "zerobus write partition done"
        );
        Ok(acknowledged)
    }
}

/// `send` in the spans of one partition's INSERT (`zerobus.insert`, tracing and
/// OpenTelemetry), which record the rows acknowledged or the error.
async fn traced_insert(
    wrapper: &ZerobusWrapper,
    table: &str,
    partition: usize,
    send: impl std::future::Future<Output = Result<u64>>,
) -> Result<u64> {
    let span = tracing::info_span!("zerobus.insert", table = %table, partition);
    wrapper
        .in_span(
            "zerobus.insert",
            vec![KeyValue::new("zerobus.partition", partition as i64)],
            send,
            |r| {
                let rows = *r.as_ref().unwrap_or(&0) as i64;
                (
                    r.as_ref().err().map(|e| e.to_string()),
                    vec![KeyValue::new("zerobus.rows", rows)],
                )
            },
        )
        .instrument(span)
        .await
}

impl fmt::Debug for ZerobusSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZerobusSink")
            .field("table", &self.config.table_name)
            .finish()
    }
}

impl DisplayAs for ZerobusSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ZerobusSink: table={}", self.config.table_name)
    }
}

/// Send every batch of `data` through `wrapper` ([`ZerobusWrapper::send_all`]: bounded,
/// every failed row accounted for; stopped by `interrupt` when it is set) and return the
/// rows acknowledged.
pub async fn send_stream(
    wrapper: &ZerobusWrapper,
    data: SendableRecordBatchStream,
    progress: Progress<'_>,
    interrupt: Option<&Interrupt>,
) -> Result<u64> {
    let limit = wrapper.max_in_flight();
    send_stream_within(wrapper, data, progress, interrupt, limit).await
}

/// [`send_stream`] with at most `limit` batches in flight.
async fn send_stream_within(
    wrapper: &ZerobusWrapper,
    data: SendableRecordBatchStream,
    progress: Progress<'_>,
    interrupt: Option<&Interrupt>,
    limit: usize,
) -> Result<u64> {
    wrapper
        .send_all_within(data, progress, interrupt, limit)
        .await
        .map(|s| s.rows)
        .map_err(DataFusionError::from)
}

/// The wrapper the partitions of one write share while any of them runs: made by the
/// first, shut down by the last.
#[derive(Default)]
struct SharedWrapper(Mutex<Option<(ZerobusWrapper, usize)>>);

impl SharedWrapper {
    fn acquire(
        &self,
        config: &WrapperConfig,
        known: Option<&TableSchema>,
    ) -> crate::Result<ZerobusWrapper> {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((w, users)) = slot.as_mut() {
            *users += 1;
            return Ok(w.clone());
        }
        let mut w = ZerobusWrapper::new(config.clone())?;
        if let Some(schema) = known {
            w = w.with_table_schema(schema.clone());
        }
        *slot = Some((w.clone(), 1));
        Ok(w)
    }

    /// The wrapper to shut down when the caller was its last user.
    fn release(&self) -> Option<ZerobusWrapper> {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (_, users) = slot.as_mut()?;
        *users = users.saturating_sub(1);
        if *users == 0 {
            return slot.take().map(|(w, _)| w);
        }
        None
    }
}

/// `data` as batches of the table's types: where a column's type is not the table's
/// column of its name (an INSERT whose implicit casts [`super::ExactInsert`] took out),
/// each batch is converted exactly or refused ([`crate::convert::cast_batch_exactly`],
/// naming the row counted from the start of this partition's input).
fn exact_input(
    table: &str,
    data: SendableRecordBatchStream,
    target: &SchemaRef,
) -> SendableRecordBatchStream {
    let out = crate::convert::insert_schema(&data.schema(), target);
    let same = data
        .schema()
        .fields()
        .iter()
        .zip(out.fields())
        .all(|(s, t)| s.data_type() == t.data_type());
    if same {
        return data;
    }
    let table = table.to_string();
    let target = target.clone();
    let converted = data.scan(0u64, move |row, batch| {
        let first = *row;
        let batch = batch.and_then(|b| {
            *row += b.num_rows() as u64;
            crate::convert::cast_batch_exactly(&table, &b, &target, first)
                .map_err(DataFusionError::from)
        });
        futures::future::ready(Some(batch))
    });
    Box::pin(RecordBatchStreamAdapter::new(out, converted))
}

/// A partition's failure as a [`LoadFailure`] with the partition's account: a failure
/// that reports none (a refused batch, nothing of it sent) is given `last`.
fn with_account(e: DataFusionError, last: &LoadProgress) -> DataFusionError {
    match ZerobusError::find_in(&e) {
        Some(ZerobusError::LoadIncomplete(_)) | None => e,
        Some(source) => {
            DataFusionError::from(ZerobusError::LoadIncomplete(Box::new(LoadFailure {
                source,
                rows_read: last.rows_read,
                rows_acknowledged: last.rows_acknowledged,
                rows_dead_lettered: last.rows_dead_lettered,
                rows_unaccounted: 0,
                dead_letters: Vec::new(),
                input_complete: true,
            })))
        }
    }
}

/// The last progress of every partition of one write, so that a [`LoadWatch`] sees the
/// table's load as a whole rather than whichever partition reported last.
#[derive(Debug, Default)]
pub(super) struct PartitionsProgress(Mutex<Vec<LoadProgress>>);

impl PartitionsProgress {
    /// Store `p` for `partition` and return the sum over the partitions.
    fn report(&self, partition: usize, p: LoadProgress) -> LoadProgress {
        let Ok(mut all) = self.0.lock() else {
            return p;
        };
        if all.len() <= partition {
            all.resize(partition + 1, LoadProgress::default());
        }
        all[partition] = p;
        let total = all
            .iter()
            .fold(LoadProgress::default(), |t, p| LoadProgress {
                rows_read: t.rows_read + p.rows_read,
                rows_acknowledged: t.rows_acknowledged + p.rows_acknowledged,
                // The partitions share one wrapper: each reports its lanes.
                streams_open: t.streams_open.max(p.streams_open),
                rows_dead_lettered: t.rows_dead_lettered + p.rows_dead_lettered,
                retries: t.retries + p.retries,
                bytes_in_flight: 0,
            });
        // The byte budget is the shared wrapper's too: the latest report is the newest.
        LoadProgress {
            bytes_in_flight: p.bytes_in_flight,
            ..total
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_sees_the_sum_over_the_partitions_and_the_shared_lanes() {
        let all = PartitionsProgress::default();
        let p = |read, acked, streams| LoadProgress {
            rows_read: read,
            rows_acknowledged: acked,
            streams_open: streams,
            rows_dead_lettered: 1,
            retries: 2,
            bytes_in_flight: read * 100,
        };
        all.report(1, p(10, 5, 2));
        let total = all.report(0, p(7, 7, 1));
        // Rows add up; the streams are the shared wrapper's, reported by each partition.
        assert_eq!(
            (total.rows_read, total.rows_acknowledged, total.streams_open),
            (17, 12, 2)
        );
        // The byte budget is the shared wrapper's too: the latest report holds.
        assert_eq!(total.bytes_in_flight, 700);
        assert_eq!((total.rows_dead_lettered, total.retries), (2, 4));
        // A partition's later report replaces its earlier one.
        let total = all.report(1, p(20, 20, 0));
        assert_eq!((total.rows_read, total.streams_open), (27, 1));
    }
}
