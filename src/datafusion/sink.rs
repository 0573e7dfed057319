//! [`ZerobusSink`]: the `DataSink` that sends a query's batches through a
//! [`ZerobusWrapper`], a bounded number at a time, and returns the count of rows durably
//! acknowledged. Its metrics (rows read, acknowledged, dead-lettered, retries, streams)
//! show in `EXPLAIN ANALYZE`.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{Distribution, PhysicalExpr};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::metrics::{
    ExecutionPlanMetricsSet, MetricBuilder, MetricType, MetricsSet,
};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties,
};
use datafusion_datasource::sink::{DataSink, DataSinkExec};
use opentelemetry::KeyValue;
use tracing::Instrument;

use super::df_error;
use crate::config::WrapperConfig;
use crate::wrapper::{Interrupt, LoadProgress, LoadWatch, Progress, ZerobusWrapper};

/// Writes query output into one Zerobus table.
pub struct ZerobusSink {
    config: WrapperConfig,
    schema: SchemaRef,
    metrics: ExecutionPlanMetricsSet,
}

impl ZerobusSink {
    /// A sink for `config.table_name` with the table's schema.
    pub fn new(config: WrapperConfig, schema: SchemaRef) -> Self {
        ZerobusSink {
            config,
            schema,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// Record a finished (or stopped) load in the sink's metrics: `output_rows` is the rows
    /// acknowledged; the rest are named for what they count.
    fn record(&self, last: &LoadProgress, most_streams: usize) {
        let summary = || MetricBuilder::new(&self.metrics).with_type(MetricType::Summary);
        summary()
            .output_rows(0)
            .add(last.rows_acknowledged as usize);
        summary()
            .counter("rows_read", 0)
            .add(last.rows_read as usize);
        summary()
            .counter("rows_dead_lettered", 0)
            .add(last.rows_dead_lettered as usize);
        summary().counter("retries", 0).add(last.retries as usize);
        MetricBuilder::new(&self.metrics)
            .gauge("streams_used", 0)
            .set_max(most_streams);
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

#[async_trait]
impl DataSink for ZerobusSink {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    async fn write_all(
        &self,
        data: SendableRecordBatchStream,
        context: &Arc<TaskContext>,
    ) -> Result<u64> {
        let interrupt = context.session_config().get_extension::<Interrupt>();
        let watch = context.session_config().get_extension::<LoadWatch>();
        let table = self.config.table_name.clone();
        // The last progress and the most streams seen, for the plan's metrics.
        let seen = std::sync::Mutex::new((LoadProgress::default(), 0usize));
        let report = |p: LoadProgress| {
            if let Ok(mut s) = seen.lock() {
                s.1 = s.1.max(p.streams_open);
                s.0 = p;
            }
            if let Some(w) = &watch {
                w.report(&table, p);
            }
        };
        let wrapper = ZerobusWrapper::new(self.config.clone()).map_err(df_error)?;
        let span = tracing::info_span!("zerobus.insert", table = %self.config.table_name);
        let sent = wrapper
            .in_span(
                "zerobus.insert",
                vec![],
                send_stream(&wrapper, data, &report, interrupt.as_deref()),
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
            self.record(&s.0, s.1);
        }
        let closed = wrapper.shutdown().await;
        let acknowledged = sent?;
        closed.map_err(df_error)?;
        Ok(acknowledged)
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
    wrapper
        .send_all_until(data, progress, interrupt)
        .await
        .map(|s| s.rows)
        .map_err(df_error)
}

/// The plan of a Zerobus INSERT or COPY: a [`DataSinkExec`] with a [`ZerobusSink`] that
/// reads every partition of its input, whatever the optimizer put below it.
///
/// DataSinkExec reads only partition 0 and relies on the optimizer honouring its
/// single-partition requirement. Across datafusion-ffi that requirement is lost, and
/// datafusion-python's optimizer puts a round-robin repartition under the sink: half of
/// the rows were silently never read. This exec merges its input's partitions itself when
/// it runs, so no row depends on the optimizer.
#[derive(Debug)]
pub struct ZerobusWriteExec {
    input: Arc<dyn ExecutionPlan>,
    sink: Arc<ZerobusSink>,
    /// Built with the plan for its properties and display; rebuilt at execution.
    planned: DataSinkExec,
}

impl ZerobusWriteExec {
    /// Write the rows of `input` (any number of partitions) with `sink`.
    pub fn new(input: Arc<dyn ExecutionPlan>, sink: ZerobusSink) -> Self {
        let sink = Arc::new(sink);
        let planned = DataSinkExec::new(input.clone(), sink.clone(), None);
        ZerobusWriteExec {
            input,
            sink,
            planned,
        }
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
        self.planned.properties()
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::SinglePartition]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn metrics(&self) -> Option<MetricsSet> {
        self.sink.metrics()
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [input] = children.as_slice() else {
            return Err(DataFusionError::Internal(format!(
                "ZerobusWriteExec takes one input, got {}",
                children.len()
            )));
        };
        let planned = DataSinkExec::new(input.clone(), self.sink.clone(), None);
        Ok(Arc::new(ZerobusWriteExec {
            input: input.clone(),
            sink: self.sink.clone(),
            planned,
        }))
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
                "ZerobusWriteExec has one output partition, asked for {partition}"
            )));
        }
        let input: Arc<dyn ExecutionPlan> =
            if self.input.output_partitioning().partition_count() > 1 {
                Arc::new(CoalescePartitionsExec::new(self.input.clone()))
            } else {
                self.input.clone()
            };
        DataSinkExec::new(input, self.sink.clone(), None).execute(0, context)
    }
}
