//! `CREATE TABLE zerobus.c.s.t (…)`: the managed Delta table Zerobus writes into.
//!
//! Unity Catalog's REST API creates external tables only, so against a workspace the table
//! is created by a SQL warehouse through the Statement Execution API (`POST
//! /api/2.0/sql/statements`, polled until it ends), with `warehouse_id` (`--warehouse-id`,
//! `DATABRICKS_WAREHOUSE_ID`). The DDL holds exactly the column types our type table maps,
//! spelled as Databricks spells them; anything else is refused, naming the column, before
//! anything is sent. The table is then read back from Unity Catalog. On the emulator with
//! no `warehouse_id` the table is created through its tables API, as before.
//!
//! ```
//! use arrow_zerobus_sdk_wrapper::create_table::ddl_type;
//! assert_eq!(ddl_type("integer").unwrap(), "INT");
//! assert_eq!(ddl_type("array<varchar(20)>").unwrap(), "ARRAY<STRING>");
//! assert_eq!(ddl_type("STRUCT<a: INT, b: MAP<STRING, DECIMAL(10,2)>>").unwrap(),
//!            "STRUCT<a: INT, b: MAP<STRING, DECIMAL(10,2)>>");
//! assert!(ddl_type("TIME").is_err());
//! ```

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::config::WrapperConfig;
use crate::error::{Result, ZerobusError};
use crate::unity_catalog::{
    connection, create_table_on_emulator, find_table_columns, http_client, is_emulator, uc_base,
    workspace_token, NewColumn,
};

/// How long a CREATE TABLE may take on a warehouse (which may have to start first).
pub const STATEMENT_DEADLINE: Duration = Duration::from_secs(600);

/// Where a table was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// By the emulator's tables API (no warehouse).
    OnEmulator,
    /// By the SQL warehouse of this id.
    ByWarehouse(String),
    /// Nothing was done: it exists and the statement said IF NOT EXISTS.
    AlreadyThere,
}

/// `text` (a column type as written in a CREATE TABLE) as Databricks spells it, if our
/// type table maps it: BOOLEAN, TINYINT, SMALLINT, INT, BIGINT, FLOAT, DOUBLE,
/// DECIMAL(p,s), STRING (also VARCHAR(n), CHAR(n), TEXT), BINARY, DATE, TIMESTAMP,
/// TIMESTAMP_NTZ, VARIANT, ARRAY<…>, MAP<…, …>, STRUCT<name: …, …>.
pub fn ddl_type(text: &str) -> std::result::Result<String, String> {
    let t = text.trim();
    let upper = t.to_ascii_uppercase();
    let (head, inner) = match (upper.find(['<', '(']), upper.ends_with(['>', ')'])) {
        (Some(at), true) => (upper[..at].trim(), &t[at + 1..t.len() - 1]),
        _ => (upper.as_str(), ""),
    };
    let simple = match head {
        "BOOLEAN" | "BOOL" => "BOOLEAN",
        "TINYINT" | "BYTE" => "TINYINT",
        "SMALLINT" | "SHORT" => "SMALLINT",
        "INT" | "INTEGER" => "INT",
        "BIGINT" | "LONG" => "BIGINT",
        "FLOAT" | "REAL" => "FLOAT",
        "DOUBLE" | "DOUBLE PRECISION" => "DOUBLE",
        "STRING" | "VARCHAR" | "CHAR" | "TEXT" => "STRING",
        "BINARY" | "BYTEA" | "VARBINARY" => "BINARY",
        "DATE" => "DATE",
        "TIMESTAMP" | "TIMESTAMP_LTZ" => "TIMESTAMP",
        "TIMESTAMP_NTZ" => "TIMESTAMP_NTZ",
        "VARIANT" => "VARIANT",
        _ => "",
    };
    if !simple.is_empty() && (inner.is_empty() || simple == "STRING") {
        return Ok(simple.to_string());
    }
    match head {
        "DECIMAL" | "NUMERIC" | "DEC" => {
            let (p, s) = match inner.split_once(',') {
                Some((p, s)) => (p.trim(), s.trim()),
                None if inner.is_empty() => ("10", "0"),
                None => (inner.trim(), "0"),
            };
            let (p, s): (u8, u8) = (
                p.parse()
                    .map_err(|_| format!("'{text}': a bad precision"))?,
                s.parse().map_err(|_| format!("'{text}': a bad scale"))?,
            );
            if !(1..=38).contains(&p) || s > p {
                return Err(format!(
                    "'{text}': DECIMAL takes precision 1..38 and scale 0..precision"
                ));
            }
            Ok(format!("DECIMAL({p},{s})"))
        }
        "ARRAY" => Ok(format!("ARRAY<{}>", ddl_type(inner)?)),
        "MAP" => {
            let parts = split_top(inner);
            let [k, v] = parts.as_slice() else {
                return Err(format!("'{text}': MAP takes a key and a value type"));
            };
            Ok(format!("MAP<{}, {}>", ddl_type(k)?, ddl_type(v)?))
        }
        "STRUCT" => {
            let mut fields = Vec::new();
            for f in split_top(inner) {
                let (name, ty) = f
                    .split_once(':')
                    .or_else(|| f.trim().split_once(char::is_whitespace))
                    .ok_or_else(|| format!("'{text}': a STRUCT field needs a name and a type"))?;
                fields.push(format!(
                    "{}: {}",
                    name.trim().trim_matches('`'),
                    ddl_type(ty)?
                ));
            }
            Ok(format!("STRUCT<{}>", fields.join(", ")))
        }
        _ => Err(format!(
            "'{text}' is not a type Zerobus tables take (BOOLEAN, TINYINT, SMALLINT, INT, BIGINT, \
             FLOAT, DOUBLE, DECIMAL(p,s), STRING, BINARY, DATE, TIMESTAMP, TIMESTAMP_NTZ, \
             VARIANT, ARRAY, MAP, STRUCT)"
        )),
    }
}

/// `text` cut at its top-level commas.
fn split_top(text: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '<' | '(' => depth += 1,
            '>' | ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

/// The CREATE TABLE statement a warehouse runs for `table` (`catalog.schema.table`).
pub fn create_statement(table: &str, columns: &[NewColumn], if_not_exists: bool) -> Result<String> {
    let quote = |name: &str| format!("`{}`", name.replace('`', "``"));
    let name: Vec<String> = table.split('.').map(quote).collect();
    if name.len() != 3 {
        return Err(ZerobusError::Configuration(
            format!("'{table}' is not catalog.schema.table").into(),
        ));
    }
    let mut cols = Vec::new();
    for c in columns {
        let ty = ddl_type(&c.type_text).map_err(|e| {
            ZerobusError::Configuration(
                format!("CREATE TABLE {table}: column '{}': {e}", c.name).into(),
            )
        })?;
        let not_null = if c.nullable { "" } else { " NOT NULL" };
        cols.push(format!("{} {ty}{not_null}", quote(&c.name)));
    }
    Ok(format!(
        "CREATE TABLE {}{} ({}) USING DELTA",
        if if_not_exists { "IF NOT EXISTS " } else { "" },
        name.join("."),
        cols.join(", ")
    ))
}

/// Create `config.table_name` with `columns`: by the SQL warehouse `warehouse_id` when
/// it is set, else on the emulator; against a workspace with no warehouse, an error that
/// says to set one.
pub async fn create_table(
    config: &WrapperConfig,
    columns: &[NewColumn],
    if_not_exists: bool,
) -> Result<Created> {
    let table = &config.table_name;
    // The DDL is checked first, whichever way the table is made.
    let statement = create_statement(table, columns, if_not_exists)?;
    if if_not_exists && find_table_columns(config).await?.is_some() {
        return Ok(Created::AlreadyThere);
    }
    let Some(warehouse) = config.warehouse_id.clone() else {
        if is_emulator(config).await? {
            create_table_on_emulator(config, columns).await?;
            return Ok(Created::OnEmulator);
        }
        return Err(ZerobusError::Configuration(
            format!(
            "CREATE TABLE {table}: a workspace creates managed Delta tables on a SQL warehouse; \
             set warehouse_id (--warehouse-id, DATABRICKS_WAREHOUSE_ID) or create the table with \
             Databricks SQL"
        )
            .into(),
        ));
    };
    run_statement(config, &warehouse, &statement).await?;
    // Read back: the table as Unity Catalog now describes it.
    let described = find_table_columns(config).await?.ok_or_else(|| {
        ZerobusError::Configuration(
            format!("CREATE TABLE {table} succeeded on warehouse {warehouse}, but Unity Catalog does not show the table").into(),
        )
    })?;
    let names: Vec<&str> = described.iter().map(|c| c.name.as_str()).collect();
    let wanted: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    if !names
        .iter()
        .map(|n| n.to_ascii_lowercase())
        .eq(wanted.iter().map(|n| n.to_ascii_lowercase()))
    {
        return Err(ZerobusError::Configuration(
            format!("CREATE TABLE {table}: Unity Catalog shows the columns {names:?}, not {wanted:?} (it existed already?)").into(),
        ));
    }
    Ok(Created::ByWarehouse(warehouse))
}

/// Run `statement` on warehouse `warehouse`, polling until it ends; its error when it
/// fails.
async fn run_statement(config: &WrapperConfig, warehouse: &str, statement: &str) -> Result<()> {
    let table = &config.table_name;
    let http = http_client()?;
    let token = workspace_token(&http, config).await?;
    let base = format!("{}/api/2.0/sql/statements", uc_base(config)?);
    let body = json!({"warehouse_id": warehouse, "statement": statement, "wait_timeout": "0s"});
    let resp = http
        .post(&base)
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .map_err(|e| connection("the SQL statement request", &base, e))?;
    let mut answer = answer_of(table, warehouse, resp).await?;
    let started = Instant::now();
    let mut wait = Duration::from_millis(100);
    loop {
        let state = answer["status"]["state"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        match state.as_str() {
            "SUCCEEDED" => return Ok(()),
            "PENDING" | "RUNNING" if started.elapsed() < STATEMENT_DEADLINE => {}
            "PENDING" | "RUNNING" => {
                return Err(ZerobusError::Connection(
                    format!(
                        "CREATE TABLE {table} on warehouse {warehouse} did not finish within {} s",
                        STATEMENT_DEADLINE.as_secs()
                    )
                    .into(),
                ))
            }
            _ => {
                let error = &answer["status"]["error"];
                return Err(ZerobusError::Configuration(
                    format!(
                        "CREATE TABLE {table} on warehouse {warehouse} {}: {} {}",
                        state.to_ascii_lowercase(),
                        error["error_code"].as_str().unwrap_or_default(),
                        error["message"].as_str().unwrap_or_default()
                    )
                    .into(),
                ));
            }
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(5));
        let id = answer["statement_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let url = format!("{base}/{id}");
        let resp = http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .map_err(|e| connection("the SQL statement poll", &url, e))?;
        answer = answer_of(table, warehouse, resp).await?;
    }
}

async fn answer_of(table: &str, warehouse: &str, resp: reqwest::Response) -> Result<Value> {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    Err(ZerobusError::Configuration(
        format!(
            "CREATE TABLE {table} on warehouse {warehouse}: the SQL Statement API answered {status}: {}",
            body["message"].as_str().unwrap_or_default()
        )
        .into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ddl_spells_types_as_databricks_and_refuses_others_by_column() {
        let cols = [
            NewColumn {
                name: "id".into(),
                type_text: "bigint".into(),
                nullable: false,
            },
            NewColumn {
                name: "tags".into(),
                type_text: "ARRAY<VARCHAR>".into(),
                nullable: true,
            },
            NewColumn {
                name: "amount".into(),
                type_text: "NUMERIC(12, 2)".into(),
                nullable: true,
            },
        ];
        assert_eq!(
            create_statement("main.default.t", &cols, true).unwrap(),
            "CREATE TABLE IF NOT EXISTS `main`.`default`.`t` (`id` BIGINT NOT NULL, `tags` ARRAY<STRING>, `amount` DECIMAL(12,2)) USING DELTA"
        );
        let bad = [NewColumn {
            name: "at".into(),
            type_text: "TIME".into(),
            nullable: true,
        }];
        let e = create_statement("main.default.t", &bad, false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("column 'at'") && e.contains("'TIME' is not a type"),
            "{e}"
        );
        assert!(ddl_type("DECIMAL(40,2)").is_err());
        assert_eq!(
            ddl_type("MAP<STRING, STRUCT<a INT>>").unwrap(),
            "MAP<STRING, STRUCT<a: INT>>"
        );
    }
}
