//! The plan of a Zerobus INSERT or COPY: every input partition writes on its own
//! ([`ZerobusWriteExec`], sending with the statement's shared wrapper), then one
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
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt64Type};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{Distribution, EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::MetricsSet;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PlanProperties,
};
use futures::StreamExt;

use super::sink::{PartitionsProgress, ZerobusSink};
use crate::error::{LoadFailure, ZerobusError};

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
