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
use datafusion::sql::parser::{DFParser, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{visit_relations_mut, Ident, ObjectName, ObjectNamePart};

use super::catalog::ZerobusCatalog;
use super::factory::ZerobusTableFactory;
use crate::config::WrapperConfig;

/// Names of the Zerobus catalogs registered on a session (kept in its config, because
/// DataFusion may wrap catalog providers, e.g. for URL tables, so they cannot be
/// recognised by downcasting).
#[derive(Debug, Default)]
struct ZerobusCatalogNames(Vec<String>);

/// Register catalog `name` and the `STORED AS ZEROBUS` factory, both connecting with
/// `template`.
pub fn register(ctx: &SessionContext, name: &str, template: WrapperConfig) {
    ctx.register_catalog(name, Arc::new(ZerobusCatalog::new(template.clone())));
    let state = ctx.state_ref();
    let mut state = state.write();
    state.table_factories_mut().insert(
        "ZEROBUS".to_string(),
        Arc::new(ZerobusTableFactory::new(template)),
    );
    let mut names = state
        .config()
        .get_extension::<ZerobusCatalogNames>()
        .map(|n| n.0.clone())
        .unwrap_or_default();
    names.push(name.to_string());
    state
        .config_mut()
        .set_extension(Arc::new(ZerobusCatalogNames(names)));
}

fn zerobus_catalogs(ctx: &SessionContext) -> Vec<String> {
    ctx.state()
        .config()
        .get_extension::<ZerobusCatalogNames>()
        .map(|n| n.0.clone())
        .unwrap_or_default()
}

/// Rewrite every 4-part relation whose first part is one of `catalogs` into the 3-part
/// form `catalog."uc_catalog.uc_schema".table`.
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
        _ => {}
    }
}

/// Plan and run `query` (one statement) with Zerobus names folded; returns its DataFrame.
pub async fn sql(ctx: &SessionContext, query: &str) -> Result<DataFrame> {
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
    fold_zerobus_names(&mut statement, &zerobus_catalogs(ctx));
    let state = ctx.state();
    let plan = state.statement_to_plan(statement).await?;
    ctx.execute_logical_plan(plan).await
}
