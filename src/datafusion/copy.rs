//! `COPY (SELECT …) TO 'zerobus://catalog.schema.table' STORED AS ZEROBUS`: the
//! "load this file into Delta" path. DataFusion plans COPY through a file format, so
//! [`ZerobusFormat`] is one whose only job is writing: its writer plan checks the query's
//! columns against the Unity Catalog table (at planning time, naming every mismatched
//! column) and sends the rows with the same [`ZerobusSink`] as `INSERT INTO`.
//!
//! [`super::sql`] and `zerobus-sql` add `STORED AS ZEROBUS` when the target starts with
//! `zerobus://`; other DataFusion sessions write it out.
//!
//! ```no_run
//! # async fn demo(connection: arrow_zerobus_sdk_wrapper::ZerobusConnection) -> datafusion::error::Result<()> {
//! use arrow_zerobus_sdk_wrapper::datafusion::{register, sql};
//! let ctx = datafusion::prelude::SessionContext::new();
//! register(&ctx, "zerobus", connection);
//! sql(&ctx, "COPY (SELECT * FROM 'events.parquet') TO 'zerobus://main.default.events'")
//!     .await?
//!     .collect()
//!     .await?;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::GetExt;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::{FileFormat, FileFormatFactory};
use datafusion::datasource::physical_plan::{FileOpener, FileScanConfig, FileSinkConfig};
use datafusion::error::{DataFusionError, Result};
use datafusion::object_store::{ObjectMeta, ObjectStore};
use datafusion::physical_expr::{LexRequirement, PhysicalExpr};
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::{ExecutionPlan, Statistics};
use datafusion_datasource::file::FileSource;
use datafusion_datasource::TableSchema;

use super::exec::write_plan;
use super::sink::ZerobusSink;
use crate::connection::{SchemaSource, ZerobusConnection};
use crate::convert::{RowEncoder, TableSchema as ZerobusTableSchema};
use crate::options::with_options;

/// The URL scheme of COPY targets: `zerobus://catalog.schema.table`.
pub const SCHEME: &str = "zerobus://";

/// The name under which the format is registered (`STORED AS ZEROBUS`).
pub const FORMAT: &str = "zerobus";

/// Makes [`ZerobusFormat`]s for `COPY … STORED AS ZEROBUS`; register it with
/// `SessionState::register_file_format` (done by [`super::register`]).
#[derive(Debug, Clone)]
pub struct ZerobusFormatFactory {
    connection: ZerobusConnection,
}

impl ZerobusFormatFactory {
    /// A factory whose COPY targets connect with `connection` unless OPTIONS say otherwise.
    pub fn new(connection: ZerobusConnection) -> Self {
        ZerobusFormatFactory { connection }
    }
}

impl GetExt for ZerobusFormatFactory {
    fn get_ext(&self) -> String {
        FORMAT.to_string()
    }
}

impl FileFormatFactory for ZerobusFormatFactory {
    fn create(
        &self,
        _state: &dyn Session,
        format_options: &HashMap<String, String>,
    ) -> Result<Arc<dyn FileFormat>> {
        let options = format_options
            .iter()
            .filter(|(k, _)| !k.to_ascii_lowercase().starts_with("execution."))
            .map(|(k, v)| (k.as_str(), v.as_str()));
        let connection = with_options(&self.connection, options).map_err(DataFusionError::from)?;
        Ok(Arc::new(ZerobusFormat { connection }))
    }

    fn default(&self) -> Arc<dyn FileFormat> {
        Arc::new(ZerobusFormat {
            connection: self.connection.clone(),
        })
    }
}

/// The write-only "file format" behind `COPY … TO 'zerobus://…'`.
#[derive(Debug, Clone)]
pub struct ZerobusFormat {
    connection: ZerobusConnection,
}

fn write_only() -> DataFusionError {
    DataFusionError::Plan(
        "the ZEROBUS format is write-only (COPY … TO 'zerobus://catalog.schema.table'): \
         Zerobus ingests, it does not serve reads; read the Delta table instead"
            .into(),
    )
}

/// `zerobus://main.default.t` → `main.default.t`, checked to have three non-empty parts.
pub(crate) fn table_of_url(url: &str) -> Result<String> {
    let table = url.trim();
    let table = if table
        .get(..SCHEME.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(SCHEME))
    {
        &table[SCHEME.len()..]
    } else {
        return Err(DataFusionError::Plan(format!(
            "COPY … STORED AS ZEROBUS needs a target of the form 'zerobus://catalog.schema.table', got '{url}'"
        )));
    };
    let table = table.trim_end_matches('/');
    let parts: Vec<&str> = table.split('.').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(DataFusionError::Plan(format!(
            "COPY target '{url}' must name a table as 'zerobus://catalog.schema.table'"
        )));
    }
    Ok(table.to_string())
}

#[async_trait]
impl FileFormat for ZerobusFormat {
    fn get_ext(&self) -> String {
        FORMAT.to_string()
    }

    fn get_ext_with_compression(&self, _c: &FileCompressionType) -> Result<String> {
        Ok(FORMAT.to_string())
    }

    fn compression_type(&self) -> Option<FileCompressionType> {
        None
    }

    async fn infer_schema(
        &self,
        _state: &dyn Session,
        _store: &Arc<dyn ObjectStore>,
        _objects: &[ObjectMeta],
    ) -> Result<SchemaRef> {
        Err(write_only())
    }

    async fn infer_stats(
        &self,
        _state: &dyn Session,
        _store: &Arc<dyn ObjectStore>,
        _table_schema: SchemaRef,
        _object: &ObjectMeta,
    ) -> Result<Statistics> {
        Err(write_only())
    }

    async fn create_physical_plan(
        &self,
        _state: &dyn Session,
        _conf: FileScanConfig,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Err(write_only())
    }

    async fn create_writer_physical_plan(
        &self,
        input: Arc<dyn ExecutionPlan>,
        _state: &dyn Session,
        conf: FileSinkConfig,
        _order_requirements: Option<LexRequirement>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let table = table_of_url(&conf.original_url)?;
        if !conf.table_partition_cols.is_empty() {
            return Err(DataFusionError::Plan(format!(
                "COPY into Zerobus table '{table}' cannot use PARTITIONED BY: the Delta table's own layout applies"
            )));
        }
        let config = self
            .connection
            .for_table(&table)
            .map_err(DataFusionError::from)?;
        let schema = input.schema();
        // The query's columns against the table's, now rather than at the first batch;
        // the write reuses the look-up.
        let mut known = None;
        if config.schema_source == SchemaSource::UnityCatalog {
            let columns = crate::unity_catalog::table_columns(&config)
                .await
                .map_err(DataFusionError::from)?;
            let table_schema =
                ZerobusTableSchema::from_uc(&table, &columns).map_err(DataFusionError::from)?;
            RowEncoder::new(&table_schema, &schema).map_err(DataFusionError::from)?;
            known = Some(table_schema);
        }
        let sink = ZerobusSink::new(config, schema).with_table_schema(known);
        Ok(write_plan(input, sink))
    }

    fn file_source(&self, table_schema: TableSchema) -> Arc<dyn FileSource> {
        Arc::new(WriteOnlySource {
            table_schema,
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }
}

/// The read side DataFusion asks every file format for; opening it is an error.
struct WriteOnlySource {
    table_schema: TableSchema,
    metrics: ExecutionPlanMetricsSet,
}

impl fmt::Debug for WriteOnlySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WriteOnlySource")
    }
}

impl FileSource for WriteOnlySource {
    fn create_file_opener(
        &self,
        _store: Arc<dyn ObjectStore>,
        _config: &FileScanConfig,
        _partition: usize,
    ) -> Result<Arc<dyn FileOpener>> {
        Err(write_only())
    }

    fn table_schema(&self) -> &TableSchema {
        &self.table_schema
    }

    fn with_batch_size(&self, _batch_size: usize) -> Arc<dyn FileSource> {
        Arc::new(WriteOnlySource {
            table_schema: self.table_schema.clone(),
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }

    fn metrics(&self) -> &ExecutionPlanMetricsSet {
        &self.metrics
    }

    fn file_type(&self) -> &str {
        FORMAT
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        // No filter and no projection: nothing to visit.
        Ok(TreeNodeRecursion::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_of_url_takes_three_parts() {
        assert_eq!(
            table_of_url("zerobus://main.default.t").unwrap(),
            "main.default.t"
        );
        assert_eq!(
            table_of_url("ZEROBUS://main.default.t/").unwrap(),
            "main.default.t"
        );
        let e = table_of_url("zerobus://default.t").unwrap_err().to_string();
        assert!(e.contains("catalog.schema.table"), "{e}");
        // Not a char boundary where the scheme would end: an error, not a panic.
        let e = table_of_url("zerobus:/ébad").unwrap_err().to_string();
        assert!(e.contains("zerobus://"), "{e}");
        let e = table_of_url("s3://b/main.default.t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("zerobus://"), "{e}");
    }
}
