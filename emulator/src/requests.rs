//! What every HTTP handler of the emulator shares: its state, the error body, and the
//! bearer-token check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::auth::Authority;
use crate::catalog::Catalog;

/// The state of the HTTP handlers.
pub(crate) struct HttpState {
    pub catalog: Arc<Catalog>,
    pub authority: Authority,
    pub stats: Arc<crate::quota::Stats>,
    /// The status the token endpoint answers with, and for how many more requests.
    pub token_fault: Option<(u16, std::sync::atomic::AtomicU32)>,
    /// Statements of the SQL Statement Execution API run so far: their status, by id.
    pub statements: Mutex<HashMap<String, Value>>,
}

/// An error body as Databricks APIs answer one: `{"error_code", "message"}`.
pub(crate) fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"error_code": code, "message": message.into()})),
    )
        .into_response()
}

/// `None` when the request carries a valid bearer token, else the 401 to answer.
pub(crate) fn refuse_without_token(state: &HttpState, headers: &HeaderMap) -> Option<Response> {
    let header = headers.get("authorization").and_then(|v| v.to_str().ok());
    state
        .authority
        .verify(header)
        .err()
        .map(|r| error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", r.to_string()))
}
