//! The SQL Statement Execution API (`POST /api/2.0/sql/statements`, `GET
//! /api/2.0/sql/statements/{id}`) for the one statement clients send it: `CREATE TABLE [IF
//! NOT EXISTS] c.s.t (…) USING DELTA`, the managed Delta table Zerobus writes into. Any
//! other statement fails, as a real warehouse would fail one it cannot run, with the
//! reason. `wait_timeout` `0s` answers `PENDING` at once and runs the statement after (so
//! clients' polling is exercised); any other waits for the result.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::catalog::{Catalog, CatalogError};
use crate::requests::{error, refuse_without_token, HttpState};
use crate::types::parse_columns;

/// The id of the emulator's one SQL warehouse (also in `GET /zerobus-emulator/v1/info`).
pub const WAREHOUSE_ID: &str = "emulator-warehouse";

/// Note the `status` of statement `id`.
fn set(state: &HttpState, id: &str, status: Value) {
    state
        .statements
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id.to_string(), status);
}

fn get(state: &HttpState, id: &str) -> Option<Value> {
    state
        .statements
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(id)
        .cloned()
}

#[derive(Deserialize)]
struct StatementIn {
    warehouse_id: String,
    statement: String,
    #[serde(default)]
    wait_timeout: Option<String>,
}

/// `CREATE TABLE [IF NOT EXISTS] name (columns) [USING DELTA]`: the table's full name
/// (backticks dropped), whether IF NOT EXISTS was said, and the column list's text.
fn parse_create(sql: &str) -> Result<(String, bool, String), String> {
    let refused = || {
        "the Zerobus emulator's warehouse runs only CREATE TABLE [IF NOT EXISTS] \
         catalog.schema.table (…) USING DELTA"
            .to_string()
    };
    let text = sql.trim().trim_end_matches(';').trim();
    let words: Vec<&str> = text.splitn(6, char::is_whitespace).collect();
    let upper = |i: usize| words.get(i).map(|w| w.to_ascii_uppercase());
    if upper(0).as_deref() != Some("CREATE") || upper(1).as_deref() != Some("TABLE") {
        return Err(refused());
    }
    let rest = text[text.to_ascii_uppercase().find("TABLE").unwrap_or(0) + 5..].trim_start();
    let (if_not_exists, rest) = match rest.get(..13) {
        Some(p) if p.eq_ignore_ascii_case("IF NOT EXISTS") => (true, rest[13..].trim_start()),
        _ => (false, rest),
    };
    let open = rest.find('(').ok_or_else(refused)?;
    let name = rest[..open].trim().replace('`', "");
    let mut depth = 0;
    let mut close = None;
    for (i, c) in rest[open..].char_indices() {
        match c {
            '(' | '<' => depth += 1,
            ')' | '>' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(open + i);
                    break;
                }
            }
            _ => {}
        }
    }
    let close = close.ok_or("the column list is not closed")?;
    let tail = rest[close + 1..].trim();
    if !(tail.is_empty() || tail.eq_ignore_ascii_case("USING DELTA")) {
        return Err(format!(
            "'{tail}' after the column list: the emulator creates managed Delta tables only (USING DELTA)"
        ));
    }
    Ok((name, if_not_exists, rest[open + 1..close].replace('`', "")))
}

/// Run a parsed CREATE TABLE: the status object.
async fn create(catalog: &Catalog, sql: &str) -> Value {
    let failed = |code: &str, message: String| json!({"state": "FAILED", "error": {"error_code": code, "message": message}});
    let (name, if_not_exists, columns) = match parse_create(sql) {
        Ok(p) => p,
        Err(e) => return failed("NOT_IMPLEMENTED", e),
    };
    let columns = match parse_columns(&columns) {
        Ok(c) => c,
        Err(e) => return failed("INVALID_PARAMETER_VALUE", e.to_string()),
    };
    match catalog.create(&name, columns).await {
        Ok(_) => json!({"state": "SUCCEEDED"}),
        Err(CatalogError::AlreadyExists(_)) if if_not_exists => json!({"state": "SUCCEEDED"}),
        Err(e) => failed(e.code(), e.to_string()),
    }
}

/// `POST /api/2.0/sql/statements`.
pub(crate) async fn execute(
    State(state): State<Arc<HttpState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(r) = refuse_without_token(&state, &headers) {
        return r;
    }
    let req: StatementIn = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETER_VALUE",
                format!("bad request body: {e}"),
            )
        }
    };
    if req.warehouse_id != WAREHOUSE_ID {
        return error(
            StatusCode::NOT_FOUND,
            "RESOURCE_DOES_NOT_EXIST",
            format!(
                "warehouse '{}' does not exist (the emulator's is '{WAREHOUSE_ID}')",
                req.warehouse_id
            ),
        );
    }
    let id = format!("{:032x}", rand::random::<u128>());
    if req.wait_timeout.as_deref() == Some("0s") {
        set(&state, &id, json!({"state": "PENDING"}));
        let (state, id2) = (Arc::clone(&state), id.clone());
        tokio::spawn(async move {
            let status = create(&state.catalog, &req.statement).await;
            set(&state, &id2, status);
        });
        return Json(json!({"statement_id": id, "status": {"state": "PENDING"}})).into_response();
    }
    let status = create(&state.catalog, &req.statement).await;
    set(&state, &id, status.clone());
    Json(json!({"statement_id": id, "status": status})).into_response()
}

/// `GET /api/2.0/sql/statements/{id}`.
pub(crate) async fn status(
    State(state): State<Arc<HttpState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = refuse_without_token(&state, &headers) {
        return r;
    }
    match get(&state, &id) {
        Some(status) => Json(json!({"statement_id": id, "status": status})).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "RESOURCE_DOES_NOT_EXIST",
            format!("statement '{id}' does not exist"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_table_statements_are_read_and_others_refused() {
        let (name, ine, cols) = parse_create(
            "create table if not exists `main`.`default`.`t` (`id` BIGINT NOT NULL, d DECIMAL(10,2), m MAP<STRING, ARRAY<INT>>) USING DELTA;",
        )
        .unwrap();
        assert_eq!(name, "main.default.t");
        assert!(ine);
        assert_eq!(
            cols,
            "id BIGINT NOT NULL, d DECIMAL(10,2), m MAP<STRING, ARRAY<INT>>"
        );
        assert!(parse_create("SELECT 1")
            .unwrap_err()
            .contains("runs only CREATE TABLE"));
        assert!(parse_create("CREATE TABLE t (id INT) USING PARQUET")
            .unwrap_err()
            .contains("managed Delta tables only"));
        assert!(parse_create("DROP TABLE main.default.t").is_err());
    }
}
