//! SQL entry point helpers: register the Zerobus catalog and factory on a session, and run
//! SQL with 4-part names folded.
//!
//! DataFusion resolves at most 3-part names, so `zerobus.main.default.t` cannot be
//! planned as written. When the first part names a registered [`ZerobusCatalog`], the name
//! is folded to `zerobus."main.default".t` on the parsed statement, before planning. In
//! plain DataFusion, write that 3-part form directly.

use std::sync::Arc;

use datafusion::dataframe::DataFrame;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SessionContext;
use datafusion::sql::parser::{CopyToSource, DFParser, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{
    visit_relations_mut, ColumnOption, Ident, ObjectName, ObjectNamePart, Statement,
};

use super::catalog::ZerobusCatalog;
use super::copy::{ZerobusFormatFactory, FORMAT, SCHEME};
use super::copy_into::{copy_result, parse_copy_into, run_copy_into, CopyInto};
use super::exact_insert::{ExactInsert, EXACT_INSERT};
use super::factory::ZerobusTableFactory;
use super::load_history::LoadHistory;
use crate::connection::ZerobusConnection;
use crate::create_table::Created;
use crate::unity_catalog::NewColumn;

/// Names of the Zerobus catalogs registered on a session (kept in its config, because
/// DataFusion may wrap catalog providers, e.g. for URL tables, so they cannot be
/// recognised by downcasting).
#[derive(Debug, Default)]
struct ZerobusCatalogNames(Vec<(String, ZerobusConnection)>);

/// Register catalog `name`, the `STORED AS ZEROBUS` table factory and the `ZEROBUS`
/// COPY format, all connecting with `connection`, and the [`ExactInsert`] rule that keeps
/// INSERTs into Zerobus tables exact.
pub fn register(ctx: &SessionContext, name: &str, connection: ZerobusConnection) {
    ctx.register_catalog(name, Arc::new(ZerobusCatalog::new(connection.clone())));
    if !ctx
        .state()
        .analyzer()
        .rules
        .iter()
        .any(|r| r.name() == EXACT_INSERT)
    {
        ctx.add_analyzer_rule(Arc::new(ExactInsert));
    }
    let state = ctx.state_ref();
    let mut state = state.write();
    // Only fails when a format of that name exists and overwrite is false.
    let _ = state.register_file_format(
        Arc::new(ZerobusFormatFactory::new(connection.clone())),
        true,
    );
    state.table_factories_mut().insert(
        "ZEROBUS".to_string(),
        Arc::new(ZerobusTableFactory::new(connection.clone())),
    );
    let mut names = state
        .config()
        .get_extension::<ZerobusCatalogNames>()
        .map(|n| n.0.clone())
        .unwrap_or_default();
    names.retain(|(n, _)| n != name);
    names.push((name.to_string(), connection));
    state
        .config_mut()
        .set_extension(Arc::new(ZerobusCatalogNames(names.clone())));
    drop(state);
    // `SELECT * FROM load_history('main.default.t')`: the journal's loads into a table.
    ctx.register_udtf("load_history", Arc::new(LoadHistory { connections: names }));
}

fn zerobus_catalogs(ctx: &SessionContext) -> Vec<(String, ZerobusConnection)> {
    ctx.state()
        .config()
        .get_extension::<ZerobusCatalogNames>()
        .map(|n| n.0.clone())
        .unwrap_or_default()
}

/// `CREATE TABLE <zerobus catalog>.catalog.schema.table (…)` (or its folded 3-part form):
/// creates the managed Delta table, by the SQL warehouse `warehouse_id` when the connection
/// has one, else on the emulator (see [`crate::create_table`]). Returns where it was made,
/// or `None`, doing nothing, for any other statement.
pub async fn create_zerobus_table(
    ctx: &SessionContext,
    statement: &DFStatement,
) -> Result<Option<Created>> {
    let DFStatement::Statement(s) = statement else {
        return Ok(None);
    };
    let Statement::CreateTable(create) = s.as_ref() else {
        return Ok(None);
    };
    let idents: Vec<&str> = create
        .name
        .0
        .iter()
        .filter_map(|p| match p {
            ObjectNamePart::Identifier(i) => Some(i.value.as_str()),
            _ => None,
        })
        .collect();
    let catalogs = zerobus_catalogs(ctx);
    let connection = match idents.as_slice() {
        [catalog, _, _] => catalogs
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(catalog))
            .map(|(_, t)| t),
        _ => None,
    };
    let Some(connection) = connection else {
        return Ok(None);
    };
    let table = format!("{}.{}", idents[1], idents[2]);
    if create.query.is_some() {
        return Err(DataFusionError::Plan(format!(
            "CREATE TABLE … AS SELECT is not supported for Zerobus table '{table}': CREATE TABLE it, then INSERT INTO … SELECT"
        )));
    }
    if create.columns.is_empty() {
        return Err(DataFusionError::Plan(format!(
            "CREATE TABLE for Zerobus table '{table}' needs a column list"
        )));
    }
    let config = connection
        .for_table(&table)
        .map_err(DataFusionError::from)?;
    let columns: Vec<NewColumn> = create
        .columns
        .iter()
        .map(|c| NewColumn {
            name: c.name.value.clone(),
            type_text: c.data_type.to_string(),
            nullable: !c
                .options
                .iter()
                .any(|o| matches!(o.option, ColumnOption::NotNull)),
        })
        .collect();
    let created = crate::create_table::create_table(&config, &columns, create.if_not_exists)
        .await
        .map_err(DataFusionError::from)?;
    Ok(Some(created))
}

/// Rewrite every 4-part relation whose first part is one of `catalogs` into the 3-part
/// form `catalog."uc_catalog.uc_schema".table`, and give `COPY … TO 'zerobus://…'`
/// its `STORED AS ZEROBUS` when it has none.
pub fn fold_zerobus_names(statement: &mut DFStatement, catalogs: &[String]) {
    let fold = |name: &mut ObjectName| {
        let parts: Vec<Ident> = name
            .0
            .iter()
            .filter_map(|p| match p {
                ObjectNamePart::Identifier(i) => Some(i.clone()),
                _ => None,
            })
            .collect();
        if parts.len() == 4
            && parts.len() == name.0.len()
            && catalogs
                .iter()
                .any(|c| c.eq_ignore_ascii_case(&parts[0].value))
        {
            let schema = Ident::with_quote('"', format!("{}.{}", parts[1].value, parts[2].value));
            name.0 = vec![
                ObjectNamePart::Identifier(parts[0].clone()),
                ObjectNamePart::Identifier(schema),
                ObjectNamePart::Identifier(parts[3].clone()),
            ];
        }
        std::ops::ControlFlow::<()>::Continue(())
    };
    match statement {
        DFStatement::Statement(s) => {
            let _ = visit_relations_mut(s.as_mut(), fold);
        }
        DFStatement::Explain(e) => fold_zerobus_names(&mut e.statement, catalogs),
        DFStatement::CopyTo(copy) => {
            if let CopyToSource::Query(q) = &mut copy.source {
                let _ = visit_relations_mut(q.as_mut(), fold);
            }
            let target = copy.target.trim_start();
            if copy.stored_as.is_none()
                && target
                    .get(..SCHEME.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(SCHEME))
            {
                copy.stored_as = Some(FORMAT.to_ascii_uppercase());
            }
        }
        _ => {}
    }
}

/// Replace each `client_secret` written in the OPTIONS of a COPY or CREATE EXTERNAL TABLE
/// (also under EXPLAIN) with a reference to it ([`crate::secret_refs`]), so that no plan,
/// EXPLAIN output or plan log holds the secret.
pub fn hide_option_secrets(statement: &mut DFStatement) {
    use datafusion::sql::sqlparser::ast::Value;
    fn text(v: &Value) -> String {
        match v {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
            other => other.to_string(),
        }
    }
    fn hide(options: &mut [(String, Value)]) {
        let key = |k: &str| crate::options::find(k).map(|o| o.key);
        let written = |name: &str| {
            options
                .iter()
                .find(|(k, _)| key(k) == Some(name))
                .map(|(_, v)| text(v))
        };
        let (endpoint, uc) = (written("endpoint"), written("unity_catalog_url"));
        for (k, v) in options.iter_mut() {
            let secret = text(v);
            if key(k) == Some("client_secret") && !crate::secret_refs::is_reference(&secret) {
                *v = Value::SingleQuotedString(crate::secret_refs::keep(
                    &secret,
                    endpoint.as_deref(),
                    uc.as_deref(),
                ));
            }
        }
    }
    match statement {
        DFStatement::CopyTo(copy) => hide(&mut copy.options),
        DFStatement::CreateExternalTable(create) => hide(&mut create.options),
        DFStatement::Explain(e) => hide_option_secrets(&mut e.statement),
        _ => {}
    }
}

/// SQL text of `statement` that parses back to it. DataFusion's own printing of COPY
/// drops the quotes around the target; this one keeps them.
#[cfg(any(feature = "cli", feature = "python"))]
pub fn statement_sql(statement: &DFStatement) -> String {
    match statement {
        DFStatement::CopyTo(copy) => {
            let mut text = format!(
                "COPY {} TO '{}'",
                copy.source,
                copy.target.replace('\'', "''")
            );
            if let Some(format) = &copy.stored_as {
                text.push_str(&format!(" STORED AS {format}"));
            }
            if !copy.partitioned_by.is_empty() {
                text.push_str(&format!(
                    " PARTITIONED BY ({})",
                    copy.partitioned_by.join(", ")
                ));
            }
            if !copy.options.is_empty() {
                let options: Vec<String> = copy
                    .options
                    .iter()
                    .map(|(k, v)| format!("'{}' {v}", k.replace('\'', "''")))
                    .collect();
                text.push_str(&format!(" OPTIONS ({})", options.join(", ")));
            }
            text
        }
        // EXPLAIN's own words as DataFusion prints them, then the statement as above.
        DFStatement::Explain(e) => {
            let full = e.to_string();
            let inner = e.statement.to_string();
            match full.strip_suffix(&inner) {
                Some(prefix) => format!("{prefix}{}", statement_sql(&e.statement)),
                None => full,
            }
        }
        other => other.to_string(),
    }
}

/// `query` as a `COPY INTO` one of the session's Zerobus catalogs, with that catalog's
/// connection; `None` when it is no `COPY INTO` statement.
pub fn copy_into_of(
    ctx: &SessionContext,
    query: &str,
) -> Option<Result<(CopyInto, ZerobusConnection)>> {
    let catalogs = zerobus_catalogs(ctx);
    let names: Vec<String> = catalogs.iter().map(|(n, _)| n.clone()).collect();
    let copy = match parse_copy_into(query, &names)? {
        Ok(c) => c,
        Err(e) => return Some(Err(e)),
    };
    let connection = catalogs
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(&copy.catalog))
        .map(|(_, c)| c)?;
    Some(Ok((copy, connection)))
}

/// Plan and run `query` (one statement) with Zerobus names folded; returns its DataFrame.
/// `CREATE TABLE zerobus.catalog.schema.table (…)` creates the table on the emulator (see
/// [`create_zerobus_table`]) and returns an empty DataFrame.
///
/// `COPY INTO zerobus.catalog.schema.table FROM 'path' …` runs a journaled, resumable
/// load of files (see [`super::copy_into`]) and returns its one-row account.
pub async fn sql(ctx: &SessionContext, query: &str) -> Result<DataFrame> {
    if let Some(copy) = copy_into_of(ctx, query) {
        let (copy, connection) = copy?;
        let summary = run_copy_into(&copy, &connection, ctx.state().config()).await?;
        return ctx.read_batch(copy_result(&summary)?);
    }
    let mut statements = DFParser::parse_sql(query)?;
    if statements.len() != 1 {
        return Err(DataFusionError::Plan(format!(
            "expected one SQL statement, got {}",
            statements.len()
        )));
    }
    let mut statement = statements
        .pop_front()
        .ok_or_else(|| DataFusionError::Plan("empty SQL".into()))?;
    let names: Vec<String> = zerobus_catalogs(ctx).into_iter().map(|(n, _)| n).collect();
    fold_zerobus_names(&mut statement, &names);
    hide_option_secrets(&mut statement);
    if create_zerobus_table(ctx, &statement).await?.is_some() {
        return ctx.read_empty();
    }
    let state = ctx.state();
    let plan = state.statement_to_plan(statement).await?;
    ctx.execute_logical_plan(plan).await
}
