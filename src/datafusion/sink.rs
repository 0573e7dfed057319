//! The plan of a Zerobus INSERT or COPY: every input partition writes on its own
//! ([`ZerobusWriteExec`], a [`ZerobusWrapper`] and its lanes per partition), then one
//! [`ZerobusTotalExec`] adds up what each partition had acknowledged.
//!
//! ```text
//! ZerobusTotalExec            one partition: count = Σ partitions' counts
//!   CoalescePartitionsExec    (a stage boundary on Ballista)
//!     ZerobusWriteExec        N partitions: each sends its input partition
//!       <query>               N partitions
//! ```
//!
//! No row depends on an optimizer keeping the coalesce (iceberg-rust lost rows that way,
//! its commit node reading one partition): the total reads every partition of its input
//! itself, coalesce or not, so every write partition runs and every count is added, and
//! it waits for all of them, also after one failed. On Ballista the coalesce is the stage
//! boundary: the writes run as tasks on the executors, the total reads their answers from
//! the shuffle.

use std::fmt;
use std::sync::{Arc, Mutex};

use arrow::array::{AsArray, RecordBatch, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt64Type};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{Distribution, EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{
    ExecutionPlanMetricsSet, MetricBuilder, MetricType, MetricsSet,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PlanProperties,
};
use futures::StreamExt;
use opentelemetry::KeyValue;
use tracing::Instrument;

use crate::config::WrapperConfig;
use crate::error::{LoadFailure, ZerobusError};
use crate::wrapper::{Interrupt, LoadProgress, LoadWatch, Progress, ZerobusWrapper};

/// Writes query output into one Zerobus table: the configuration and the table's schema
/// that a [`ZerobusWriteExec`] writes with, and the metrics its partitions add to.
pub struct ZerobusSink {
    config: WrapperConfig,
    schema: SchemaRef,
    metrics: ExecutionPlanMetricsSet,
    /// The one wrapper the partitions of this write share in this process.
    shared: SharedWrapper,
    /// Why this process cannot write (a plan decoded where the environment names no
    /// connection): the error of every partition, before anything is contacted.
    unconnected: Option<String>,
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
        }
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
    async fn write_partition(
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
            .acquire(&self.config)
            .map_err(DataFusionError::from)?;
        let in_flight =
            (wrapper.max_in_flight() / partitions.max(1)).max(crate::wrapper::MAX_IN_FLIGHT);
        let span = tracing::info_span!("zerobus.insert", table = %table, partition);
        let sent = wrapper
            .in_span(
                "zerobus.insert",
                vec![KeyValue::new("zerobus.partition", partition as i64)],
                send_stream_within(&wrapper, data, &report, interrupt.as_deref(), in_flight),
                |r| {
                    let rows = *r.as_ref().unwrap_or(&0) as i64;
                    (
                        r.as_ref().err().map(|e| e.to_string()),
                        vec![KeyValue::new("zerobus.rows", rows)],
                    )
                },
            )
            .instrument(span)
            .await;
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
    fn acquire(&self, config: &WrapperConfig) -> crate::Result<ZerobusWrapper> {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((w, users)) = slot.as_mut() {
            *users += 1;
            return Ok(w.clone());
        }
        let w = ZerobusWrapper::new(config.clone())?;
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

/// What every partition of a write ended with, added up into the statement's answer.
#[derive(Default)]
struct WriteTotal {
    /// Rows acknowledged by the partitions that succeeded.
    succeeded: u64,
    /// The failures, in the order they came.
    failures: Vec<DataFusionError>,
}

impl WriteTotal {
    /// The statement's result: the count, or ONE error whose account sums every
    /// partition (rows read, acknowledged, dead-lettered, every dead-letter file). A
    /// failure that is not ours (no account) is returned as it is.
    fn result(mut self) -> Result<u64> {
        if self.failures.is_empty() {
            return Ok(self.succeeded);
        }
        if self.failures.len() == 1 && self.succeeded == 0 {
            return Err(self.failures.remove(0));
        }
        let mut accounts = Vec::new();
        for e in &self.failures {
            match ZerobusError::find_in(e) {
                Some(ZerobusError::LoadIncomplete(f)) => accounts.push(*f),
                Some(other) => accounts.push(LoadFailure {
                    source: other,
                    rows_read: 0,
                    rows_acknowledged: 0,
                    rows_dead_lettered: 0,
                    rows_unaccounted: 0,
                    dead_letters: Vec::new(),
                    input_complete: true,
                }),
                None => return Err(self.failures.remove(0)),
            }
        }
        for (i, a) in accounts.iter().enumerate().skip(1) {
            tracing::error!(
                failure = i + 1,
                "another partition of the write failed: {}",
                a.source
            );
        }
        let mut all = accounts.into_iter();
        let Some(mut total) = all.next() else {
            return Ok(self.succeeded);
        };
        total.rows_read += self.succeeded;
        total.rows_acknowledged += self.succeeded;
        for a in all {
            total.rows_read += a.rows_read;
            total.rows_acknowledged += a.rows_acknowledged;
            total.rows_dead_lettered += a.rows_dead_lettered;
            total.rows_unaccounted += a.rows_unaccounted;
            total.dead_letters.extend(a.dead_letters);
            total.input_complete &= a.input_complete;
        }
        Err(DataFusionError::from(ZerobusError::LoadIncomplete(
            Box::new(total),
        )))
    }
}

/// The last progress of every partition of one write, so that a [`LoadWatch`] sees the
/// table's load as a whole rather than whichever partition reported last.
#[derive(Debug, Default)]
struct PartitionsProgress(Mutex<Vec<LoadProgress>>);

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
        all.iter()
            .fold(LoadProgress::default(), |t, p| LoadProgress {
                rows_read: t.rows_read + p.rows_read,
                rows_acknowledged: t.rows_acknowledged + p.rows_acknowledged,
                // The partitions share one wrapper: each reports its lanes.
                streams_open: t.streams_open.max(p.streams_open),
                rows_dead_lettered: t.rows_dead_lettered + p.rows_dead_lettered,
                retries: t.retries + p.retries,
            })
    }
}

/// The one input of a node that takes one (`with_new_children`).
fn only_child<'a>(
    node: &str,
    children: &'a [Arc<dyn ExecutionPlan>],
) -> Result<&'a Arc<dyn ExecutionPlan>> {
    match children {
        [input] => Ok(input),
        _ => Err(DataFusionError::Internal(format!(
            "{node} takes one input, got {}",
            children.len()
        ))),
    }
}

/// The schema of a [`ZerobusWriteExec`] partition's answer and of the INSERT's: `count`,
/// as DataFusion's own sinks have it.
fn count_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "count",
        DataType::UInt64,
        false,
    )]))
}

fn count_batch(count: u64) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(
        count_schema(),
        vec![Arc::new(UInt64Array::from(vec![count]))],
    )?)
}

fn properties(partitions: usize) -> Arc<PlanProperties> {
    Arc::new(PlanProperties::new(
        EquivalenceProperties::new(count_schema()),
        Partitioning::UnknownPartitioning(partitions),
        EmissionType::Final,
        Boundedness::Bounded,
    ))
}

/// The whole plan that writes `input` with `sink`: a [`ZerobusWriteExec`] on every input
/// partition, merged, then totalled by a [`ZerobusTotalExec`] (see the module docs).
pub fn write_plan(input: Arc<dyn ExecutionPlan>, sink: ZerobusSink) -> Arc<dyn ExecutionPlan> {
    let write: Arc<dyn ExecutionPlan> = Arc::new(ZerobusWriteExec::new(input, sink));
    let merged: Arc<dyn ExecutionPlan> = if write.output_partitioning().partition_count() > 1 {
        Arc::new(CoalescePartitionsExec::new(write))
    } else {
        write
    };
    Arc::new(ZerobusTotalExec::new(merged))
}

/// Sends each partition of its input through a wrapper of its own and answers, per
/// partition, one row `count`: the rows acknowledged. Used under a [`ZerobusTotalExec`]
/// ([`write_plan`]).
#[derive(Debug)]
pub struct ZerobusWriteExec {
    input: Arc<dyn ExecutionPlan>,
    sink: Arc<ZerobusSink>,
    properties: Arc<PlanProperties>,
    progress: Arc<PartitionsProgress>,
}

impl ZerobusWriteExec {
    /// Write the rows of `input` (any number of partitions, each on its own) with `sink`.
    pub fn new(input: Arc<dyn ExecutionPlan>, sink: ZerobusSink) -> Self {
        Self::with_sink(input, Arc::new(sink))
    }

    fn with_sink(input: Arc<dyn ExecutionPlan>, sink: Arc<ZerobusSink>) -> Self {
        let partitions = input.output_partitioning().partition_count();
        ZerobusWriteExec {
            input,
            sink,
            properties: properties(partitions),
            progress: Arc::default(),
        }
    }

    /// The sink the partitions write with.
    pub fn sink(&self) -> &ZerobusSink {
        &self.sink
    }
}

impl DisplayAs for ZerobusWriteExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ZerobusWriteExec: ")?;
        self.sink.fmt_as(t, f)
    }
}

impl ExecutionPlan for ZerobusWriteExec {
    fn name(&self) -> &str {
        "ZerobusWriteExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        // Write the partitions the query has: a repartition would only open more streams.
        vec![false]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![false]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.sink.metrics.clone_inner())
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = only_child("ZerobusWriteExec", &children)?;
        Ok(Arc::new(Self::with_sink(input.clone(), self.sink.clone())))
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let partitions = self.input.output_partitioning().partition_count();
        if partition >= partitions {
            return Err(DataFusionError::Internal(format!(
                "ZerobusWriteExec has {partitions} partitions, asked for {partition}"
            )));
        }
        let data = self.input.execute(partition, context.clone())?;
        let sink = self.sink.clone();
        let progress = self.progress.clone();
        let written = futures::stream::once(async move {
            let count = sink
                .write_partition(partition, partitions, data, &context, &progress)
                .await?;
            count_batch(count)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            count_schema(),
            written,
        )))
    }
}

/// Adds up the counts of a [`ZerobusWriteExec`]'s partitions into the INSERT's one-row
/// answer `count`. It reads every partition of its input itself (a
/// `CoalescePartitionsExec` above the write, or the write itself if an optimizer dropped
/// the coalesce, or a repartition an optimizer put there), so no write partition is left
/// unrun, and it returns only when every one of them has ended.
#[derive(Debug)]
pub struct ZerobusTotalExec {
    input: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

impl ZerobusTotalExec {
    /// Total the per-partition counts of `input` (a [`ZerobusWriteExec`], merged or not).
    pub fn new(input: Arc<dyn ExecutionPlan>) -> Self {
        ZerobusTotalExec {
            input,
            properties: properties(1),
        }
    }
}

impl DisplayAs for ZerobusTotalExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ZerobusTotalExec")
    }
}

impl ExecutionPlan for ZerobusTotalExec {
    fn name(&self) -> &str {
        "ZerobusTotalExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::SinglePartition]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = only_child("ZerobusTotalExec", &children)?;
        Ok(Arc::new(ZerobusTotalExec::new(input.clone())))
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "ZerobusTotalExec has one output partition, asked for {partition}"
            )));
        }
        // One partition (the coalesce above the write; on Ballista the shuffle reader of
        // the write stage): it runs every write partition. Several (an optimizer dropped
        // the coalesce, or put a repartition here): each is read here, in this task,
        // never spawned (across datafusion-ffi a foreign node must be polled where it
        // was called from).
        let partitions = self.input.output_partitioning().partition_count();
        let streams = (0..partitions)
            .map(|p| self.input.execute(p, context.clone()))
            .collect::<Result<Vec<_>>>()?;
        let total = futures::stream::once(async move {
            let mut counts = futures::stream::select_all(streams);
            let mut total = WriteTotal::default();
            // Every partition runs to its end, also after another one failed: dropping the
            // others would abandon rows they had read and not yet settled.
            while let Some(batch) = counts.next().await {
                match batch.and_then(|b| count_of(&b)) {
                    Ok(n) => total.succeeded += n,
                    Err(e) => total.failures.push(e),
                }
            }
            count_batch(total.result()?)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            count_schema(),
            total,
        )))
    }
}

/// The sum of the counts in a batch of a [`ZerobusWriteExec`]'s answers.
fn count_of(batch: &RecordBatch) -> Result<u64> {
    let column = batch
        .columns()
        .first()
        .and_then(|c| c.as_primitive_opt::<UInt64Type>())
        .ok_or_else(|| {
            DataFusionError::Internal(format!(
                "ZerobusTotalExec expects the write's counts, got {}",
                batch.schema()
            ))
        })?;
    Ok(column.values().iter().sum())
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
        };
        all.report(1, p(10, 5, 2));
        let total = all.report(0, p(7, 7, 1));
        // Rows add up; the streams are the shared wrapper's, reported by each partition.
        assert_eq!(
            (total.rows_read, total.rows_acknowledged, total.streams_open),
            (17, 12, 2)
        );
        assert_eq!((total.rows_dead_lettered, total.retries), (2, 4));
        // A partition's later report replaces its earlier one.
        let total = all.report(1, p(20, 20, 0));
        assert_eq!((total.rows_read, total.streams_open), (27, 1));
    }

    #[test]
    fn the_total_adds_every_count_and_refuses_what_is_not_one() {
        let two = RecordBatch::try_new(
            count_schema(),
            vec![Arc::new(UInt64Array::from(vec![10, 5]))],
        )
        .unwrap();
        assert_eq!(count_of(&two).unwrap(), 15);
        let other = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)])),
            vec![Arc::new(arrow::array::Int32Array::from(vec![1]))],
        )
        .unwrap();
        let e = count_of(&other).unwrap_err().to_string();
        assert!(e.contains("expects the write's counts"), "{e}");
    }
}
