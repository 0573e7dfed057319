//! The Unity Catalog (UC) REST client: a table's columns from the tables API, and table
//! creation on the local emulator, with an OAuth client-credentials token (scope
//! `all-apis`) from the workspace's token endpoint. The wrapper, the table provider, the
//! catalog and COPY's planning all describe tables through here.

use databricks_zerobus_ingest_sdk::schema::UcColumn;
use serde_json::Value;

use crate::config::WrapperConfig;
use crate::error::{Detail, Result, ZerobusError};

pub(crate) fn connection(what: &str, url: &str, e: reqwest::Error) -> ZerobusError {
    // reqwest's Display may include the URL, never credentials (they travel in headers).
    ZerobusError::Connection(Detail::new(format!("{what} at {url} failed: {e}")).caused_by(e))
}

pub(crate) fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| {
            ZerobusError::Configuration(
                Detail::new(format!("cannot build an HTTP client: {e}")).caused_by(e),
            )
        })
}

pub(crate) fn uc_base(config: &WrapperConfig) -> Result<String> {
    Ok(config
        .unity_catalog_base()?
        .as_str()
        .trim_end_matches('/')
        .to_string())
}

/// A workspace token (client credentials, scope `all-apis`) for the UC API.
pub(crate) async fn workspace_token(
    http: &reqwest::Client,
    config: &WrapperConfig,
) -> Result<String> {
    let client_id = config.client_id.as_deref().unwrap_or_default();
    let secret = config
        .client_secret
        .as_ref()
        .map(|s| s.expose())
        .unwrap_or_default();
    let token_url = format!("{}/oidc/v1/token", uc_base(config)?);
    // A throttled (429), timed-out (408) or failing (5xx) token endpoint is asked again
    // with backoff, waiting at least what its Retry-After says, within the retry budget.
    let backoff = crate::backoff::Backoff {
        base: std::time::Duration::from_millis(config.retry_base_delay_ms),
        max: std::time::Duration::from_millis(config.retry_max_delay_ms),
    };
    let mut attempt = 1u32;
    let resp = loop {
        let resp = http
            .post(&token_url)
            .basic_auth(client_id, Some(secret))
            .form(&[("grant_type", "client_credentials"), ("scope", "all-apis")])
            .send()
            .await
            .map_err(|e| connection("the token request", &token_url, e))?;
        let status = resp.status();
        let again = status == reqwest::StatusCode::TOO_MANY_REQUESTS
            || status == reqwest::StatusCode::REQUEST_TIMEOUT
            || status.is_server_error();
        if !again || attempt >= config.retry_max_attempts.max(1) {
            break resp;
        }
        let asked = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(std::time::Duration::from_secs)
            .unwrap_or_default()
            .min(backoff.max);
        tracing::warn!(
            status = status.as_u16(),
            attempt,
            "token endpoint asked to retry"
        );
        tokio::time::sleep(backoff.delay(attempt).max(asked)).await;
        attempt += 1;
    };
    let status = resp.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(ZerobusError::Authentication(format!(
            "the workspace refused client id '{client_id}' ({status}); check DATABRICKS_CLIENT_ID / DATABRICKS_CLIENT_SECRET"
        ).into()));
    }
    if !status.is_success() {
        return Err(ZerobusError::TokenRefresh(
            format!("token endpoint {token_url} answered {status}").into(),
        ));
    }
    let body: Value = resp.json().await.map_err(|e| {
        ZerobusError::TokenRefresh(
            Detail::new(format!(
                "token endpoint {token_url} sent an unreadable answer: {e}"
            ))
            .caused_by(e),
        )
    })?;
    body["access_token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| {
            ZerobusError::TokenRefresh(
                format!("token endpoint {token_url} sent no access_token").into(),
            )
        })
}

/// GET a UC API path; `None` on 404.
async fn uc_get(config: &WrapperConfig, path: &str, what: &str) -> Result<Option<Value>> {
    let http = http_client()?;
    let token = workspace_token(&http, config).await?;
    let url = format!("{}{path}", uc_base(config)?);
    let resp = http
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| connection("the Unity Catalog request", &url, e))?;
    let status = resp.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(ZerobusError::Authentication(format!(
            "Unity Catalog refused to describe {what} ({status}); grant the service principal USE CATALOG, USE SCHEMA and SELECT"
        ).into()));
    }
    if !status.is_success() {
        return Err(ZerobusError::Connection(
            format!("Unity Catalog answered {status} for {what}").into(),
        ));
    }
    resp.json().await.map(Some).map_err(|e| {
        ZerobusError::Connection(
            Detail::new(format!(
                "Unity Catalog sent an unreadable answer for {what}: {e}"
            ))
            .caused_by(e),
        )
    })
}

/// Columns of `config.table_name` as UC reports them; `None` when UC has no such table
/// (an answer, not a failure: a catalog lookup reports the table as unknown, and
/// `CREATE TABLE IF NOT EXISTS` goes on to create it).
pub async fn find_table_columns(config: &WrapperConfig) -> Result<Option<Vec<UcColumn>>> {
    let table = &config.table_name;
    let Some(body) = uc_get(
        config,
        &format!("/api/2.1/unity-catalog/tables/{table}"),
        &format!("table '{table}'"),
    )
    .await?
    else {
        return Ok(None);
    };
    serde_json::from_value(body["columns"].clone())
        .map(Some)
        .map_err(|e| {
            ZerobusError::Conversion(
                Detail::new(format!(
                    "table '{table}': Unity Catalog columns are not understood: {e}"
                ))
                .caused_by(e),
            )
        })
}

/// Columns of `config.table_name` as UC reports them; a table UC does not have is a
/// configuration error that says to create it.
pub async fn table_columns(config: &WrapperConfig) -> Result<Vec<UcColumn>> {
    find_table_columns(config).await?.ok_or_else(|| {
        let table = &config.table_name;
        ZerobusError::Configuration(format!(
            "table_name: table '{table}' does not exist in Unity Catalog; create it first (Zerobus does not create tables)"
        ).into())
    })
}

/// True when the UC URL is served by the local Zerobus emulator (which answers
/// `GET /zerobus-emulator/v1/info`), false for a real workspace.
pub async fn is_emulator(config: &WrapperConfig) -> Result<bool> {
    let http = http_client()?;
    let url = format!("{}/zerobus-emulator/v1/info", uc_base(config)?);
    let resp = http
        .get(&url)
        .send()
        .await
        .map_err(|e| connection("the emulator probe", &url, e))?;
    if !resp.status().is_success() {
        return Ok(false);
    }
    Ok(resp
        .json::<Value>()
        .await
        .map(|v| v["service"] == "zerobus-emulator")
        .unwrap_or(false))
}

/// A column of a table to create: name, UC type text (`BIGINT`, `ARRAY<STRING>`, …) and
/// whether it may hold NULL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewColumn {
    /// Column name.
    pub name: String,
    /// UC type, as Databricks SQL spells it.
    pub type_text: String,
    /// False for `NOT NULL`.
    pub nullable: bool,
}

/// Create `config.table_name` with `columns` on the emulator. Against a real workspace
/// this refuses, telling the user to create the table with Databricks SQL: Zerobus writes
/// into managed Delta tables that only Databricks can create.
pub async fn create_table_on_emulator(config: &WrapperConfig, columns: &[NewColumn]) -> Result<()> {
    let table = &config.table_name;
    if !is_emulator(config).await? {
        return Err(ZerobusError::Configuration(format!(
            "Zerobus does not create tables: create '{table}' with Databricks SQL (CREATE TABLE … USING DELTA), then INSERT INTO it"
        ).into()));
    }
    let parts: Vec<&str> = table.split('.').collect();
    let [catalog, schema, name] = parts.as_slice() else {
        return Err(ZerobusError::Configuration(
            format!("table_name: '{table}' is not catalog.schema.table").into(),
        ));
    };
    let body = serde_json::json!({
        "catalog_name": catalog,
        "schema_name": schema,
        "name": name,
        "columns": columns.iter().enumerate().map(|(i, c)| serde_json::json!({
            "name": c.name, "type_text": c.type_text, "nullable": c.nullable, "position": i,
        })).collect::<Vec<_>>(),
    });
    let http = http_client()?;
    let token = workspace_token(&http, config).await?;
    let url = format!("{}/api/2.1/unity-catalog/tables", uc_base(config)?);
    let resp = http
        .post(&url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .map_err(|e| connection("the create-table request", &url, e))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let message = resp
        .json::<Value>()
        .await
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_default();
    Err(ZerobusError::Configuration(
        format!("cannot create table '{table}' ({status}): {message}").into(),
    ))
}
