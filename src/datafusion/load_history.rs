//! `SELECT * FROM load_history('main.default.t')`: the loads the load journal holds for a
//! table (what `zerobus-sql load-history` prints), as a table function of every session
//! our `register` set up.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMillisecondArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl};
use datafusion::datasource::{MemTable, TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::scalar::ScalarValue;

use super::copy_into::JournalService;
use crate::connection::ZerobusConnection;
use crate::load::{default_journal_dir, service_of, Journal, LoadRecord};

/// The table function `load_history(table)`; `connections` are the session's Zerobus
/// catalogs (a 4-part name picks one, a 3-part name takes the first).
#[derive(Debug)]
pub struct LoadHistory {
    pub(crate) connections: Vec<(String, ZerobusConnection)>,
}

fn schema() -> SchemaRef {
    let ms = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    let n = |name: &str| Field::new(name, DataType::UInt64, false);
    Arc::new(Schema::new(vec![
        Field::new("load", DataType::Utf8, false),
        Field::new("started", ms.clone(), false),
        Field::new("finished", ms, true),
        Field::new("state", DataType::Utf8, false),
        n("files"),
        n("files_skipped"),
        n("rows_sent"),
        n("rows_acknowledged"),
        n("rows_skipped"),
        n("rows_dead_lettered"),
        Field::new("error", DataType::Utf8, true),
    ]))
}

fn batch(loads: &[LoadRecord]) -> Result<RecordBatch> {
    let text = |f: &dyn Fn(&LoadRecord) -> Option<String>| {
        Arc::new(StringArray::from(loads.iter().map(f).collect::<Vec<_>>())) as ArrayRef
    };
    let n = |f: &dyn Fn(&LoadRecord) -> u64| {
        Arc::new(UInt64Array::from(loads.iter().map(f).collect::<Vec<_>>())) as ArrayRef
    };
    let ms = |f: &dyn Fn(&LoadRecord) -> Option<i64>| {
        Arc::new(
            TimestampMillisecondArray::from(loads.iter().map(f).collect::<Vec<_>>())
                .with_timezone("UTC"),
        ) as ArrayRef
    };
    Ok(RecordBatch::try_new(
        schema(),
        vec![
            text(&|l| Some(l.load.clone())),
            ms(&|l| Some(l.started_ms)),
            ms(&|l| l.finished_ms),
            text(&|l| Some(l.state.clone())),
            n(&|l| l.files),
            n(&|l| l.files_skipped),
            n(&|l| l.rows_sent),
            n(&|l| l.rows_acknowledged),
            n(&|l| l.rows_skipped),
            n(&|l| l.rows_dead_lettered),
            text(&|l| l.error.clone()),
        ],
    )?)
}

impl TableFunctionImpl for LoadHistory {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let usage = || {
            DataFusionError::Plan(
                "load_history takes one argument, the table: load_history('main.default.t')".into(),
            )
        };
        let name = match args.exprs() {
            [Expr::Literal(ScalarValue::Utf8(Some(s)), _)] => s.clone(),
            _ => return Err(usage()),
        };
        let parts: Vec<&str> = name.split('.').collect();
        let (connection, table) = match parts.as_slice() {
            [catalog, c, s, t] => (
                self.connections
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(catalog))
                    .map(|(_, conn)| conn),
                format!("{c}.{s}.{t}"),
            ),
            [_, _, _] => (self.connections.first().map(|(_, c)| c), name.clone()),
            _ => return Err(usage()),
        };
        let connection = connection.ok_or_else(|| {
            DataFusionError::Plan(format!(
                "load_history('{name}'): no Zerobus catalog of that name"
            ))
        })?;
        let service = match args.session().config().get_extension::<JournalService>() {
            Some(s) => s.0.clone(),
            None => service_of(&connection.endpoint),
        };
        let dir = connection
            .journal_dir
            .clone()
            .unwrap_or_else(default_journal_dir);
        let journal = Journal::open(&dir, &service, &table)?;
        Ok(Arc::new(HistoryTable { journal }))
    }
}

/// The loads of one target's journal, read when the query runs.
#[derive(Debug)]
struct HistoryTable {
    journal: Journal,
}

#[async_trait]
impl TableProvider for HistoryTable {
    fn schema(&self) -> SchemaRef {
        schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let (loads, _) = self.journal.history().await?;
        MemTable::try_new(schema(), vec![vec![batch(&loads)?]])?
            .scan(state, projection, filters, limit)
            .await
    }
}
