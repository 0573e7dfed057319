//! [`ZerobusConnection`]: where and how to connect (endpoint, credentials, Unity Catalog
//! URL, retry, lanes, files, telemetry), everything of a [`crate::WrapperConfig`] but the
//! table. A catalog holds one connection and names the table per statement.
//!
//! The defaults of every option are written here, in [`ZerobusConnection::new`], and only
//! here: the builder, SQL OPTIONS, the Python keywords, `zerobus-sql` and the environment
//! all start from it (see [`crate::options`]).

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use crate::error::{Result, ZerobusError};

/// A secret that never shows itself in `Debug` or `Display`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where the table's schema (and so the protobuf descriptor) comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SchemaSource {
    /// Ask the Unity Catalog tables API (field numbers = UC position + 1). The default.
    #[default]
    UnityCatalog,
    /// Build the descriptor from each batch's Arrow schema (field numbers = column order),
    /// for workspaces whose UC API is not reachable.
    ArrowSchema,
}

/// How batches travel to the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// Protobuf records over the SDK's gRPC stream (one record per row). The default.
    #[default]
    Proto,
    /// Arrow batches over the SDK's Arrow Flight stream, cast to the table's Flight
    /// schema ([`crate::convert::flight_schema`]); the same rows are accepted and refused.
    Flight,
}

/// How Arrow IPC bodies are compressed on the `flight` transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlightCompression {
    /// LZ4 frames: fewer bytes than none, for 0.2–0.3 CPU s more per million rows
    /// (benches/RESULTS.md). The default.
    #[default]
    Lz4,
    /// Zstandard (the Rust SDK's default): the fewest bytes, about 60 % more CPU than LZ4.
    Zstd,
    /// None (the Python SDK's default): the least CPU, the most bytes on the wire and
    /// against the stream's 100 MB/s byte quota.
    None,
}

impl FlightCompression {
    /// The IPC compression the SDK's Arrow stream is built with.
    pub fn ipc(self) -> Option<arrow::ipc::CompressionType> {
        match self {
            FlightCompression::Lz4 => Some(arrow::ipc::CompressionType::LZ4_FRAME),
            FlightCompression::Zstd => Some(arrow::ipc::CompressionType::ZSTD),
            FlightCompression::None => None,
        }
    }
}

/// What the `proto` transport does with a NULL ARRAY or MAP (protobuf's repeated fields
/// cannot say NULL: the service stores an empty one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NullCollections {
    /// Refuse the batch, naming column and row (COALESCE in the query, or the `flight`
    /// transport, which carries NULL). The default.
    #[default]
    Refuse,
    /// Send an empty ARRAY or MAP in its place.
    Empty,
}

/// Default of [`ZerobusConnection::max_streams`].
pub const DEFAULT_MAX_STREAMS: usize = 16;
/// Largest [`ZerobusConnection::max_streams`] accepted.
pub const MAX_STREAMS_LIMIT: usize = 256;
/// Default of [`ZerobusConnection::max_inflight_bytes`]: 128 MiB of Arrow data. At the
/// service's quota 16 lanes take 1.6M rows/s; an ordinary row (100 bytes) keeps about
/// 30 MB in flight, so only wide rows meet this bound.
pub const DEFAULT_MAX_INFLIGHT_BYTES: usize = 128 * 1024 * 1024;
/// Smallest [`ZerobusConnection::max_inflight_bytes`] accepted.
pub const MIN_INFLIGHT_BYTES: usize = 64 * 1024;

/// The connection to a Zerobus endpoint and its workspace, for any table.
///
/// ```
/// use arrow_zerobus_sdk_wrapper::ZerobusConnection;
/// let connection = ZerobusConnection::new("http://127.0.0.1:50051")
///     .client_id("local")
///     .client_secret("local-secret")
///     .unity_catalog_url("http://127.0.0.1:8080");
/// let events = connection.for_table("main.default.events").unwrap();
/// let clicks = connection.for_table("main.default.clicks").unwrap();
/// assert_eq!((events.retry_max_attempts, clicks.table_name.as_str()), (5, "main.default.clicks"));
/// assert!(!format!("{connection:?}").contains("local-secret"));
/// ```
#[derive(Clone)]
pub struct ZerobusConnection {
    /// Zerobus endpoint URL (`https://…`, or `http://` for a loopback emulator).
    pub endpoint: String,
    /// OAuth client id (service principal application id).
    pub client_id: Option<String>,
    /// OAuth client secret.
    pub client_secret: Option<Secret>,
    /// Unity Catalog (workspace) URL: token endpoint and tables API.
    pub unity_catalog_url: Option<String>,
    /// Turn on OpenTelemetry metrics and traces.
    pub observability_enabled: bool,
    /// OpenTelemetry settings (endpoint, protocol, headers, …).
    pub observability_config: Option<HashMap<String, String>>,
    /// Write each batch (Arrow IPC) and its records (length-delimited protobuf) to files.
    pub debug_enabled: bool,
    /// Directory of the debug files.
    pub debug_output_dir: Option<PathBuf>,
    /// How often debug files are flushed to disk.
    pub debug_flush_interval_secs: u64,
    /// Size at which a debug file is closed and a new one started.
    pub debug_max_file_size: Option<u64>,
    /// Attempts for transient failures (1 = no retry).
    pub retry_max_attempts: u32,
    /// Base of the exponential backoff.
    pub retry_base_delay_ms: u64,
    /// Cap of the exponential backoff.
    pub retry_max_delay_ms: u64,
    /// Directory of dead-letter files (default: `debug_output_dir`, else
    /// `./zerobus-dead-letters`).
    pub dead_letter_dir: Option<PathBuf>,
    /// Directory of load journals (`COPY INTO`, `zerobus-sql copy`): local, or an
    /// object-store URL several machines share (default:
    /// `crate::load::default_journal_dir`).
    pub journal_dir: Option<PathBuf>,
    /// The SQL warehouse that runs `CREATE TABLE zerobus.…` against a workspace (Unity
    /// Catalog's REST API creates external tables only; Zerobus needs managed ones).
    pub warehouse_id: Option<String>,
    /// Where the descriptor comes from.
    pub schema_source: SchemaSource,
    /// How batches travel: protobuf records (default) or Arrow Flight.
    pub transport: Transport,
    /// IPC compression of the `flight` transport.
    pub flight_compression: FlightCompression,
    /// What the `proto` transport does with a NULL ARRAY or MAP.
    pub null_collections: NullCollections,
    /// Allow plain-text gRPC to a host that is not loopback.
    pub allow_plaintext: bool,
    /// How long the stream waits for an acknowledgement before it counts as broken (the
    /// batch is then retried on a new stream). `None`: the SDK's default, 60 s.
    pub ack_timeout_ms: Option<u64>,
    /// Most streams (lanes) the wrapper opens to the table at once. Each stream is capped
    /// by the service (100,000 records/s); lanes open while the open ones have a backlog
    /// and close after [`crate::wrapper::LANE_IDLE`] without work. 1 keeps every row in
    /// one stream, in order. Default [`DEFAULT_MAX_STREAMS`].
    pub max_streams: usize,
    /// Most bytes of rows in flight at once over every lane and every load of a wrapper
    /// (counted as Arrow data: what `get_slice_memory_size` of their rows says; their
    /// encoded copies are about as large again). A load waits for room before it starts
    /// a send; a single send larger than the whole budget goes alone. Default
    /// [`DEFAULT_MAX_INFLIGHT_BYTES`]; at least [`MIN_INFLIGHT_BYTES`].
    pub max_inflight_bytes: usize,
}

impl ZerobusConnection {
    /// A connection to `endpoint` with the defaults of every other option (no
    /// credentials yet: [`Self::validate`] asks for them).
    pub fn new(endpoint: impl Into<String>) -> Self {
        ZerobusConnection {
            endpoint: endpoint.into(),
            client_id: None,
            client_secret: None,
            unity_catalog_url: None,
            observability_enabled: false,
            observability_config: None,
            debug_enabled: false,
            debug_output_dir: None,
            debug_flush_interval_secs: 5,
            debug_max_file_size: None,
            retry_max_attempts: 5,
            retry_base_delay_ms: 100,
            retry_max_delay_ms: 30_000,
            dead_letter_dir: None,
            journal_dir: None,
            warehouse_id: None,
            schema_source: SchemaSource::UnityCatalog,
            transport: Transport::Proto,
            flight_compression: FlightCompression::Lz4,
            null_collections: NullCollections::Refuse,
            allow_plaintext: false,
            ack_timeout_ms: None,
            max_streams: DEFAULT_MAX_STREAMS,
            max_inflight_bytes: DEFAULT_MAX_INFLIGHT_BYTES,
        }
    }

    /// Check every field; the first problem is reported with the field's name.
    pub fn validate(&self) -> Result<()> {
        self.check_endpoint()?;
        self.check_credentials()?;
        self.check_workspace()?;
        self.check_limits()?;
        if self.observability_config.is_some() {
            crate::telemetry::ExportSettings::from_config(self.observability_config.as_ref())?;
        }
        Ok(())
    }

    /// The endpoint: encrypted unless loopback or `allow_plaintext`.
    fn check_endpoint(&self) -> Result<()> {
        let endpoint = self.endpoint_url()?;
        if endpoint.scheme() == "http" && !self.allow_plaintext && !is_loopback(&endpoint) {
            return bad(
                "endpoint",
                format!(
                    "'{}' is plain text to a host that is not loopback; use https:// or set allow_plaintext",
                    self.endpoint
                ),
            );
        }
        Ok(())
    }

    /// The workspace URL: present, and encrypted unless loopback or `allow_plaintext`
    /// (the client secret goes there).
    fn check_workspace(&self) -> Result<()> {
        if self
            .unity_catalog_url
            .as_deref()
            .unwrap_or_default()
            .is_empty()
        {
            return bad(
                "unity_catalog_url",
                "is required (the workspace URL, e.g. https://dbc-….cloud.databricks.com)".into(),
            );
        }
        let uc = self.unity_catalog_base()?;
        if uc.scheme() == "http" && !self.allow_plaintext && !is_loopback(&uc) {
            return bad(
                "unity_catalog_url",
                format!(
                    "'{}' is plain text to a host that is not loopback: the client secret would \
                     travel unencrypted; use https:// or set allow_plaintext",
                    uc.as_str().trim_end_matches('/')
                ),
            );
        }
        Ok(())
    }

    fn check_credentials(&self) -> Result<()> {
        if self.client_id.as_deref().unwrap_or_default().is_empty() {
            return bad(
                "client_id",
                "is required (the service principal's application id)".into(),
            );
        }
        match &self.client_secret {
            None => bad("client_secret", "is required".into()),
            Some(s) if s.expose().is_empty() => bad("client_secret", "is empty".into()),
            _ => Ok(()),
        }
    }

    /// Retry, debug, stream and acknowledgement settings within their bounds.
    fn check_limits(&self) -> Result<()> {
        if self.retry_max_attempts == 0 {
            return bad("retry_max_attempts", "must be at least 1".into());
        }
        if self.retry_base_delay_ms > self.retry_max_delay_ms {
            return bad(
                "retry_base_delay_ms",
                format!(
                    "{} is above retry_max_delay_ms {}",
                    self.retry_base_delay_ms, self.retry_max_delay_ms
                ),
            );
        }
        if self.debug_enabled && self.debug_output_dir.is_none() {
            return bad(
                "debug_output_dir",
                "is required when debug_enabled is true".into(),
            );
        }
        if self.debug_flush_interval_secs == 0 {
            return bad("debug_flush_interval_secs", "must be at least 1".into());
        }
        if self.debug_max_file_size == Some(0) {
            return bad("debug_max_file_size", "must be above 0".into());
        }
        if !(1..=MAX_STREAMS_LIMIT).contains(&self.max_streams) {
            return bad(
                "max_streams",
                format!(
                    "{} is not between 1 and {MAX_STREAMS_LIMIT}",
                    self.max_streams
                ),
            );
        }
        if self.max_inflight_bytes < MIN_INFLIGHT_BYTES {
            return bad(
                "max_inflight_bytes",
                format!(
                    "{} is below the smallest budget, {MIN_INFLIGHT_BYTES} bytes",
                    self.max_inflight_bytes
                ),
            );
        }
        if self.ack_timeout_ms == Some(0) {
            return bad("ack_timeout_ms", "must be above 0".into());
        }
        Ok(())
    }

    /// The endpoint with a scheme (`https://` when none was given).
    pub fn endpoint_url(&self) -> Result<url::Url> {
        normalize_url(&self.endpoint)
            .map_err(|e| ZerobusError::Configuration(format!("endpoint: {e}").into()))
    }

    /// The Unity Catalog URL with a scheme (`https://` when none was given), as every
    /// request (token, tables API, the SDK's token factory) uses it.
    pub fn unity_catalog_base(&self) -> Result<url::Url> {
        normalize_url(self.unity_catalog_url.as_deref().unwrap_or_default())
            .map_err(|e| ZerobusError::Configuration(format!("unity_catalog_url: {e}").into()))
    }

    /// Where dead-letter files go: `dead_letter_dir`, else `debug_output_dir`, else
    /// `zerobus-dead-letters` in the working directory — always made absolute, so every
    /// message names the real place (an object-store URL is kept as written).
    pub fn dead_letter_path(&self) -> PathBuf {
        let dir = self
            .dead_letter_dir
            .clone()
            .or_else(|| self.debug_output_dir.clone())
            .unwrap_or_else(|| PathBuf::from("zerobus-dead-letters"));
        if dir.to_str().is_some_and(crate::store::is_store_url) {
            return dir;
        }
        std::path::absolute(&dir).unwrap_or(dir)
    }

    /// [`Self::validate`]d, and kept as every request uses it (the UC URL with its
    /// scheme).
    pub fn validated(self) -> Result<ZerobusConnection> {
        self.validate()?;
        self.normalized()
    }

    /// The connection as it is kept once validated: the UC URL with its scheme.
    pub(crate) fn normalized(mut self) -> Result<ZerobusConnection> {
        let uc = self.unity_catalog_base()?;
        self.unity_catalog_url = Some(uc.as_str().trim_end_matches('/').to_string());
        Ok(self)
    }
}

impl fmt::Debug for ZerobusConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // observability_config may hold collector credentials in `headers`.
        let observability_config = self.observability_config.as_ref().map(|m| {
            let mut shown: Vec<(&str, &str)> = m
                .iter()
                .map(|(k, v)| {
                    let v = if k == "headers" {
                        "<redacted>"
                    } else {
                        v.as_str()
                    };
                    (k.as_str(), v)
                })
                .collect();
            shown.sort_unstable();
            shown
        });
        f.debug_struct("ZerobusConnection")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("unity_catalog_url", &self.unity_catalog_url)
            .field("observability_enabled", &self.observability_enabled)
            .field("observability_config", &observability_config)
            .field("debug_enabled", &self.debug_enabled)
            .field("debug_output_dir", &self.debug_output_dir)
            .field("debug_flush_interval_secs", &self.debug_flush_interval_secs)
            .field("debug_max_file_size", &self.debug_max_file_size)
            .field("retry_max_attempts", &self.retry_max_attempts)
            .field("retry_base_delay_ms", &self.retry_base_delay_ms)
            .field("retry_max_delay_ms", &self.retry_max_delay_ms)
            .field("dead_letter_dir", &self.dead_letter_dir)
            .field("journal_dir", &self.journal_dir)
            .field("warehouse_id", &self.warehouse_id)
            .field("schema_source", &self.schema_source)
            .field("transport", &self.transport)
            .field("flight_compression", &self.flight_compression)
            .field("null_collections", &self.null_collections)
            .field("allow_plaintext", &self.allow_plaintext)
            .field("ack_timeout_ms", &self.ack_timeout_ms)
            .field("max_streams", &self.max_streams)
            .field("max_inflight_bytes", &self.max_inflight_bytes)
            .finish()
    }
}

pub(crate) fn normalize_url(raw: &str) -> std::result::Result<url::Url, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("is empty".into());
    }
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("https://{raw}")
    };
    let url =
        url::Url::parse(&with_scheme).map_err(|e| format!("'{raw}' is not a valid URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("'{raw}' must use http:// or https://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("'{raw}' has no host"));
    }
    Ok(url)
}

/// True for `localhost`, 127.0.0.0/8 and ::1.
pub(crate) fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// A configuration error naming the field.
fn bad(field: &str, why: String) -> Result<()> {
    Err(ZerobusError::Configuration(
        format!("{field}: {why}").into(),
    ))
}
