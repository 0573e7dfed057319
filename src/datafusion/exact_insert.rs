//! [`ExactInsert`]: the analyzer rule that makes `INSERT INTO <zerobus table>` exact.
//!
//! DataFusion's SQL planner writes an INSERT as a projection that casts every query
//! column to the table column's type (and, for `INSERT … VALUES`, casts every value in
//! the VALUES node). Arrow's cast rounds, truncates and reinterprets without an error.
//! This rule takes those implicit casts out for Zerobus tables, so the write receives
//! the query's own types and converts them exactly or refuses
//! ([`crate::convert::cast_batch_exactly`]). A cast the user wrote is inside the query
//! and stays: it is the user's decision.
//!
//! It also refuses the positional mix-up an INSERT without a column list invites: a
//! query column named like *another* table column than the one it is written to
//! (`SELECT * FROM 'file.parquet'` whose columns are in another order than the table's).
//!
//! [`super::register`] adds the rule to the session; on a session built another way,
//! add it with `ctx.add_analyzer_rule(Arc::new(ExactInsert))`.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::datasource::DefaultTableSource;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::dml::WriteOp;
use datafusion::logical_expr::expr::Alias;
use datafusion::logical_expr::{
    DmlStatement, Expr, LogicalPlan, LogicalPlanBuilder, Projection, TableSource, Values,
};
use datafusion::optimizer::AnalyzerRule;

use super::table::ZerobusTable;

/// Name of the rule in a session's analyzer.
pub const EXACT_INSERT: &str = "zerobus_exact_insert";

/// Takes DataFusion's implicit casts out of INSERTs into Zerobus tables (see the module
/// docs).
#[derive(Debug, Default, Clone, Copy)]
pub struct ExactInsert;

impl AnalyzerRule for ExactInsert {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_down(|node| match node {
            LogicalPlan::Dml(dml) if zerobus_table(dml.target.as_ref()).is_some() => {
                if !matches!(dml.op, WriteOp::Insert(_)) {
                    return Ok(Transformed::no(LogicalPlan::Dml(dml)));
                }
                uncast(dml).map(Transformed::yes)
            }
            other => Ok(Transformed::no(other)),
        })
        .data()
    }

    fn name(&self) -> &str {
        EXACT_INSERT
    }
}

fn zerobus_table(target: &dyn TableSource) -> Option<&ZerobusTable> {
    target
        .downcast_ref::<DefaultTableSource>()?
        .table_provider
        .downcast_ref::<ZerobusTable>()
}

/// The INSERT with the planner's casts taken out of its projection (and its VALUES).
fn uncast(dml: DmlStatement) -> Result<LogicalPlan> {
    let table = zerobus_table(dml.target.as_ref())
        .map(|t| t.config().table_name.clone())
        .unwrap_or_default();
    let LogicalPlan::Projection(projection) = dml.input.as_ref() else {
        return Ok(LogicalPlan::Dml(dml));
    };
    // The table columns this INSERT writes from the query (not those it fills with NULL).
    let written: Vec<String> = projection
        .expr
        .iter()
        .filter_map(|e| match e {
            Expr::Alias(Alias { expr, name, .. }) if !is_null_literal(expr) => Some(name.clone()),
            _ => None,
        })
        .collect();
    let mut exprs = Vec::with_capacity(projection.expr.len());
    for (position, expr) in projection.expr.iter().enumerate() {
        let Expr::Alias(Alias { expr, name, .. }) = expr else {
            exprs.push(expr.clone());
            continue;
        };
        let inner = match expr.as_ref() {
            Expr::Cast(cast) if matches!(cast.expr.as_ref(), Expr::Column(_)) => {
                cast.expr.as_ref().clone()
            }
            // A column the INSERT's column list leaves out: the planner fills it with
            // NULL. Leave it out of the write instead, as a batch without the column
            // (the encoder refuses it if the table says NOT NULL).
            e if is_null_literal(e) => continue,
            other => other.clone(),
        };
        if let Expr::Column(column) = &inner {
            refuse_misplaced(&table, &written, position, name, &column.name)?;
        }
        exprs.push(inner.alias(name));
    }
    let input = match projection.input.as_ref() {
        LogicalPlan::Values(values) => Arc::new(uncast_values(&table, values)?),
        _ => projection.input.clone(),
    };
    let projection = Projection::try_new(exprs, input)?;
    Ok(LogicalPlan::Dml(DmlStatement::new(
        dml.table_name,
        dml.target,
        dml.op,
        Arc::new(LogicalPlan::Projection(projection)),
    )))
}

fn is_null_literal(e: &Expr) -> bool {
    match e {
        Expr::Literal(v, _) => v.is_null(),
        Expr::Cast(c) => is_null_literal(&c.expr),
        _ => false,
    }
}

/// Refuse a query column written to table column `written_to` (at `position`) whose own
/// name is that of another column the INSERT writes (`written`): the query's columns are
/// in another order than the table's, and INSERT matches by position.
pub(crate) fn refuse_misplaced(
    table: &str,
    written: &[String],
    position: usize,
    written_to: &str,
    query_name: &str,
) -> Result<()> {
    if query_name.eq_ignore_ascii_case(written_to) {
        return Ok(());
    }
    let Some(other) = written.iter().find(|w| w.eq_ignore_ascii_case(query_name)) else {
        return Ok(());
    };
    Err(DataFusionError::Plan(format!(
        "table '{table}': INSERT matches columns by position, and the query's column {} \
         '{query_name}' would be written to table column '{written_to}', not to '{}'. Select \
         the columns in the table's order, alias each with the name of the column it goes to \
         (SELECT {query_name} AS {written_to}, …), or use COPY, which matches columns by name",
        position + 1,
        other
    )))
}

/// `INSERT … VALUES`: the planner cast every value to its table column's type; plan the
/// VALUES from the values as written instead (their common type per column).
fn uncast_values(table: &str, values: &Values) -> Result<LogicalPlan> {
    let rows = values
        .values
        .iter()
        .map(|row| {
            row.iter()
                .map(|v| match v {
                    Expr::Cast(cast) => cast.expr.as_ref().clone(),
                    other => other.clone(),
                })
                .collect()
        })
        .collect();
    LogicalPlanBuilder::values(rows)
        .and_then(|b| b.build())
        .map_err(|e| {
            DataFusionError::Plan(format!(
                "table '{table}': the VALUES of this INSERT have no common type per column ({e}); \
                 write each column's values as one type"
            ))
        })
}
