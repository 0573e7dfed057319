//! HTTP: the OAuth token endpoint the SDKs call (`POST /oidc/v1/token`) and the subset of
//! the Unity Catalog tables API that clients use to learn (or, locally, create) a table's
//! schema.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::table_from_authorization_details;
use crate::catalog::CatalogError;
use crate::requests::{error, refuse_without_token, HttpState};
use crate::types::{UcField, UcType};

type Shared = State<Arc<HttpState>>;

pub(crate) fn router(state: Arc<HttpState>) -> Router {
    Router::new()
        .route("/", get(dashboard))
        .route("/oidc/v1/token", post(token))
        .route(INFO_PATH, get(info))
        .route(STATS_PATH, get(stats))
        .route(HISTORY_PATH, get(history))
        .route(
            "/api/2.1/unity-catalog/tables",
            post(create_table).get(list_tables),
        )
        .route(
            "/api/2.1/unity-catalog/tables/{full_name}",
            get(get_table).delete(delete_table),
        )
        .route("/api/2.0/sql/statements", post(crate::statements::execute))
        .route(
            "/api/2.0/sql/statements/{statement_id}",
            get(crate::statements::status),
        )
        .with_state(state)
}

/// The dashboard: one page embedded in the binary (no external asset), drawing the
/// stats endpoint every second.
async fn dashboard() -> Response {
    axum::response::Html(include_str!("dashboard.html")).into_response()
}

/// Where the emulator says what it is, so clients can offer emulator-only conveniences
/// (creating tables from SQL) and refuse them against a real workspace.
pub const INFO_PATH: &str = "/zerobus-emulator/v1/info";

async fn info() -> Response {
    Json(json!({
        "service": "zerobus-emulator",
        "version": env!("CARGO_PKG_VERSION"),
        "sql_warehouse_id": crate::statements::WAREHOUSE_ID,
    }))
    .into_response()
}

/// Per-table figures of the streams: opened, open, records and bytes acknowledged, seconds
/// paced by the quota. `{"tables": {"main.default.t": {...}}}`.
pub const STATS_PATH: &str = "/zerobus-emulator/v1/stats";

async fn stats(State(state): Shared) -> Response {
    Json(json!({"tables": state.stats.snapshot()})).into_response()
}

/// A sample a second of every table over the last 5 minutes, for the dashboard's charts:
/// `{"tables": {"main.default.t": [[unix ms, records, bytes, seconds paced], ...]}}`.
pub const HISTORY_PATH: &str = "/zerobus-emulator/v1/history";

async fn history(State(state): Shared) -> Response {
    Json(json!({"tables": state.stats.history()})).into_response()
}

fn catalog_error(e: CatalogError) -> Response {
    let status = match e {
        CatalogError::InvalidName(_) | CatalogError::InvalidColumns(_) => StatusCode::BAD_REQUEST,
        CatalogError::AlreadyExists(_) => StatusCode::CONFLICT,
        CatalogError::NotFound(_) => StatusCode::NOT_FOUND,
        CatalogError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, e.code(), e.to_string())
}

fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": code, "error_description": description})),
    )
        .into_response()
}

async fn token(
    State(state): Shared,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some((status, left)) = &state.token_fault {
        use std::sync::atomic::Ordering;
        let taken = left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if taken.is_ok() {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
            tracing::info!(
                status = status.as_u16(),
                "token request answered with the injected fault"
            );
            let mut response = oauth_error(
                status,
                "temporarily_unavailable",
                "the token endpoint is throttled (an injected fault): retry after a moment",
            );
            response
                .headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
            return response;
        }
    }
    let grant = form.get("grant_type").map(String::as_str).unwrap_or("");
    if grant != "client_credentials" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "the emulator supports grant_type=client_credentials only",
        );
    }
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| BASE64.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        });
    let (id, secret) = match basic {
        Some(pair) => pair,
        None => match (form.get("client_id"), form.get("client_secret")) {
            (Some(i), Some(s)) => (i.clone(), s.clone()),
            _ => {
                return oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "client credentials are missing: send HTTP Basic auth or client_id and client_secret",
                )
            }
        },
    };
    if !state.authority.check_client(&id, &secret) {
        tracing::info!(client_id = %id, "token refused: wrong client id or secret");
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed: the client id or secret is wrong",
        );
    }
    let table = form
        .get("authorization_details")
        .and_then(|d| table_from_authorization_details(d));
    let token = state.authority.issue(table.as_deref());
    Json(json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": state.authority.ttl().as_secs().max(1),
        "scope": form.get("scope").cloned().unwrap_or_else(|| "all-apis".into()),
    }))
    .into_response()
}

#[derive(Deserialize)]
struct ColumnIn {
    name: String,
    #[serde(default)]
    type_name: Option<String>,
    #[serde(default)]
    type_text: Option<String>,
    #[serde(default)]
    type_json: Option<String>,
    #[serde(default)]
    nullable: Option<bool>,
    #[serde(default)]
    position: Option<i64>,
}

#[derive(Deserialize)]
struct CreateTableIn {
    name: String,
    catalog_name: String,
    schema_name: String,
    #[serde(default)]
    columns: Vec<ColumnIn>,
}

fn column_from_request(c: &ColumnIn) -> Result<UcField, String> {
    let ty = if let Some(j) = c.type_json.as_deref().filter(|j| !j.trim().is_empty()) {
        let v: Value = serde_json::from_str(j)
            .map_err(|e| format!("column '{}': type_json is not JSON: {e}", c.name))?;
        UcType::from_json(&v).map_err(|e| format!("column '{}': {e}", c.name))?
    } else if let Some(t) = c.type_text.as_deref().filter(|t| !t.trim().is_empty()) {
        UcType::parse(t).map_err(|e| format!("column '{}': {e}", c.name))?
    } else if let Some(t) = c.type_name.as_deref().filter(|t| !t.trim().is_empty()) {
        UcType::parse(t).map_err(|e| format!("column '{}': {e}", c.name))?
    } else {
        return Err(format!(
            "column '{}' has no type_name, type_text or type_json",
            c.name
        ));
    };
    Ok(UcField {
        name: c.name.clone(),
        ty,
        nullable: c.nullable.unwrap_or(true),
    })
}

async fn create_table(
    State(state): Shared,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(r) = refuse_without_token(&state, &headers) {
        return r;
    }
    let req: CreateTableIn = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETER_VALUE",
                format!("bad request body: {e}"),
            )
        }
    };
    let mut cols: Vec<&ColumnIn> = req.columns.iter().collect();
    cols.sort_by_key(|c| c.position.unwrap_or(i64::MAX));
    let columns = match cols
        .into_iter()
        .map(column_from_request)
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(c) => c,
        Err(e) => return error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", e),
    };
    let full = format!("{}.{}.{}", req.catalog_name, req.schema_name, req.name);
    match state.catalog.create(&full, columns).await {
        Ok(t) => Json(t.info_json()).into_response(),
        Err(e) => catalog_error(e),
    }
}

async fn get_table(State(state): Shared, headers: HeaderMap, Path(full): Path<String>) -> Response {
    if let Some(r) = refuse_without_token(&state, &headers) {
        return r;
    }
    match state.catalog.get(&full) {
        Some(t) => {
            state.stats.looked_up(&full);
            Json(t.info_json()).into_response()
        }
        None => catalog_error(CatalogError::NotFound(full)),
    }
}

async fn list_tables(
    State(state): Shared,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = refuse_without_token(&state, &headers) {
        return r;
    }
    let tables: Vec<Value> = state
        .catalog
        .list(
            q.get("catalog_name").map(String::as_str),
            q.get("schema_name").map(String::as_str),
        )
        .iter()
        .map(|t| t.info_json())
        .collect();
    Json(json!({ "tables": tables })).into_response()
}

async fn delete_table(
    State(state): Shared,
    headers: HeaderMap,
    Path(full): Path<String>,
) -> Response {
    if let Some(r) = refuse_without_token(&state, &headers) {
        return r;
    }
    match state.catalog.delete(&full).await {
        Ok(()) => Json(json!({})).into_response(),
        Err(e) => catalog_error(e),
    }
}
