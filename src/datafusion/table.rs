//! [`ZerobusTable`]: a write-only DataFusion table backed by a Zerobus target table.

use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use async_trait::async_trait;
use databricks_zerobus_ingest_sdk::schema::UcColumn;
use datafusion::catalog::Session;
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;

use super::exec::write_plan;
use super::sink::ZerobusSink;
use crate::config::WrapperConfig;
use crate::convert::TableSchema;

/// The Arrow schema SQL sees for a UC table: the SDK's UC → Arrow mapping, with DECIMAL
/// columns as `Decimal128(p, s)` and VARIANT columns as JSON text (`Utf8`) at every
/// nesting level, which is what queries produce and what Zerobus accepts for them.
pub fn arrow_schema_from_uc(table: &str, columns: &[UcColumn]) -> crate::Result<Schema> {
    Ok(TableSchema::from_uc(table, columns)?.arrow_schema())
}

/// A Zerobus target table as DataFusion sees it: append-only, write-only.
#[derive(Debug, Clone)]
pub struct ZerobusTable {
    config: WrapperConfig,
    schema: SchemaRef,
    /// The schema DataFusion is shown instead of the table's: one INSERT's query schema
    /// under the table's column names, so that its planner adds no cast (see
    /// [`Self::for_query`]).
    query_schema: Option<SchemaRef>,
    /// Why this process cannot write to the table (see `ZerobusSink`).
    unconnected: Option<String>,
    /// The table's schema as Unity Catalog described it, handed to the writes.
    table_schema: Option<TableSchema>,
}

impl ZerobusTable {
    /// A table with a known schema; `config.table_name` is the UC table.
    pub fn new(config: WrapperConfig, schema: SchemaRef) -> Self {
        ZerobusTable {
            config,
            schema,
            query_schema: None,
            unconnected: None,
            table_schema: None,
        }
    }

    /// The same table for one INSERT whose query has `query` (columns named after the
    /// table's, in the INSERT's order): DataFusion sees that schema and casts nothing,
    /// and the write converts each value exactly or refuses it, as in our own sessions
    /// (for planners our [`super::ExactInsert`] rule cannot reach: datafusion-python).
    /// Pairs that would be reinterpreted are refused here.
    pub fn for_query(&self, query: SchemaRef) -> crate::Result<Self> {
        crate::convert::check_insert_types(&self.config.table_name, &query, &self.schema)?;
        Ok(ZerobusTable {
            query_schema: Some(query),
            ..self.clone()
        })
    }

    /// The same table, whose writes fail with `why` when it is set (a Ballista executor
    /// without the table's connection).
    #[cfg(feature = "ballista")]
    pub(crate) fn with_unconnected(mut self, why: Option<String>) -> Self {
        self.unconnected = why;
        self
    }

    /// Describe the table through the UC tables API; a table UC does not have is a
    /// configuration error that says to create it.
    pub async fn from_unity_catalog(config: WrapperConfig) -> crate::Result<Self> {
        let columns = crate::unity_catalog::table_columns(&config).await?;
        Self::from_columns(config, &columns)
    }

    /// As [`from_unity_catalog`](Self::from_unity_catalog), with `None` for a table UC
    /// does not have.
    pub async fn find_in_unity_catalog(config: WrapperConfig) -> crate::Result<Option<Self>> {
        match crate::unity_catalog::find_table_columns(&config).await? {
            Some(columns) => Self::from_columns(config, &columns).map(Some),
            None => Ok(None),
        }
    }

    fn from_columns(
        config: WrapperConfig,
        columns: &[databricks_zerobus_ingest_sdk::schema::UcColumn],
    ) -> crate::Result<Self> {
        let table_schema = TableSchema::from_uc(&config.table_name, columns)?;
        let schema = Arc::new(table_schema.arrow_schema());
        Ok(ZerobusTable {
            table_schema: Some(table_schema),
            ..ZerobusTable::new(config, schema)
        })
    }

    /// The wrapper configuration used for writes.
    pub fn config(&self) -> &WrapperConfig {
        &self.config
    }
}

#[async_trait]
impl TableProvider for ZerobusTable {
    fn schema(&self) -> SchemaRef {
        self.query_schema
            .clone()
            .unwrap_or_else(|| self.schema.clone())
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Err(DataFusionError::Plan(format!(
            "Zerobus table '{}' is write-only: Zerobus ingests, it does not serve reads. Read the Delta \
             table instead (Databricks SQL, or delta-rs on the emulator's warehouse)",
            self.config.table_name
        )))
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if insert_op != InsertOp::Append {
            return Err(DataFusionError::Plan(format!(
                "{insert_op} is not supported for Zerobus table '{}': Zerobus only appends (use INSERT INTO)",
                self.config.table_name
            )));
        }
        // In our sessions the INSERT arrives with the query's own types (see
        // exact_insert.rs): refuse what would be reinterpreted, convert the rest exactly
        // batch by batch (sink.rs). Elsewhere it arrives cast already.
        crate::convert::check_insert_types(&self.config.table_name, &input.schema(), &self.schema)
            .map_err(DataFusionError::from)?;
        // Each input partition writes on its own, then one node totals (see sink.rs).
        // No stream is opened here (planning may run twice).
        let sink = ZerobusSink::new(self.config.clone(), self.schema.clone())
            .with_unconnected(self.unconnected.clone())
            .with_table_schema(self.table_schema.clone());
        Ok(write_plan(input, sink))
    }
}
