//! [`WrapperConfig`]: every option of the Python contract with the same defaults, a
//! builder, `from_env`, and validation up front (each error names the field).

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

/// Configuration of a [`crate::ZerobusWrapper`].
///
/// ```
/// use arrow_zerobus_sdk_wrapper::WrapperConfig;
/// let config = WrapperConfig::builder("http://127.0.0.1:50051", "main.default.events")
///     .client_id("local")
///     .client_secret("local-secret")
///     .unity_catalog_url("http://127.0.0.1:8080")
///     .retry_max_attempts(3)
///     .build()
///     .unwrap();
/// assert_eq!(config.retry_base_delay_ms, 100);
/// assert!(!format!("{config:?}").contains("local-secret"));
/// ```
#[derive(Clone)]
pub struct WrapperConfig {
    /// Zerobus endpoint URL (`https://…`, or `http://` for a loopback emulator).
    pub endpoint: String,
    /// Target table, `catalog.schema.table`.
    pub table_name: String,
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
    /// Where the descriptor comes from.
    pub schema_source: SchemaSource,
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
}

/// Default of [`WrapperConfig::max_streams`].
pub const DEFAULT_MAX_STREAMS: usize = 16;
/// Largest [`WrapperConfig::max_streams`] accepted.
pub const MAX_STREAMS_LIMIT: usize = 256;

impl fmt::Debug for WrapperConfig {
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
        f.debug_struct("WrapperConfig")
            .field("endpoint", &self.endpoint)
            .field("table_name", &self.table_name)
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
            .field("schema_source", &self.schema_source)
            .field("allow_plaintext", &self.allow_plaintext)
            .field("ack_timeout_ms", &self.ack_timeout_ms)
            .field("max_streams", &self.max_streams)
            .finish()
    }
}

/// `ZEROBUS_MAX_STREAMS`, if set: a number of streams.
pub fn max_streams_from_env() -> Result<Option<usize>> {
    max_streams_from(&env_var)
}

/// An environment variable that is set and not blank.
fn env_var(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.trim().is_empty())
}

fn max_streams_from(var: &dyn Fn(&str) -> Option<String>) -> Result<Option<usize>> {
    match var("ZEROBUS_MAX_STREAMS") {
        Some(v) => v.trim().parse().map(Some).map_err(|_| {
            ZerobusError::Configuration(
                format!("ZEROBUS_MAX_STREAMS '{v}' is not a number of streams").into(),
            )
        }),
        None => Ok(None),
    }
}

/// Builder of [`WrapperConfig`]; `build` validates.
#[derive(Debug, Clone)]
pub struct WrapperConfigBuilder {
    config: WrapperConfig,
}

impl WrapperConfig {
    /// Start a configuration with the contract's defaults.
    pub fn builder(
        endpoint: impl Into<String>,
        table_name: impl Into<String>,
    ) -> WrapperConfigBuilder {
        WrapperConfigBuilder {
            config: WrapperConfig {
                endpoint: endpoint.into(),
                table_name: table_name.into(),
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
                schema_source: SchemaSource::UnityCatalog,
                allow_plaintext: false,
                ack_timeout_ms: None,
                max_streams: DEFAULT_MAX_STREAMS,
            },
        }
    }

    /// From `ZEROBUS_ENDPOINT`, `DATABRICKS_HOST` (the UC URL), `DATABRICKS_CLIENT_ID`,
    /// `DATABRICKS_CLIENT_SECRET` and, if set, `ZEROBUS_MAX_STREAMS`.
    pub fn from_env(table_name: impl Into<String>) -> Result<WrapperConfig> {
        Self::from_vars(table_name, &env_var)
    }

    /// [`Self::from_env`] with the variables looked up by `var` (set and not blank).
    fn from_vars(
        table_name: impl Into<String>,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<WrapperConfig> {
        let endpoint = var("ZEROBUS_ENDPOINT").ok_or_else(|| {
            ZerobusError::Configuration(
                "ZEROBUS_ENDPOINT is not set (the Zerobus endpoint URL)".into(),
            )
        })?;
        let mut b = WrapperConfig::builder(endpoint, table_name);
        if let Some(h) = var("DATABRICKS_HOST") {
            b = b.unity_catalog_url(if h.starts_with("http") {
                h
            } else {
                format!("https://{h}")
            });
        }
        if let Some(id) = var("DATABRICKS_CLIENT_ID") {
            b = b.client_id(id);
        }
        if let Some(s) = var("DATABRICKS_CLIENT_SECRET") {
            b = b.client_secret(s);
        }
        if let Some(n) = max_streams_from(var)? {
            b = b.max_streams(n);
        }
        b.build()
    }

    /// Check every field; the first problem is reported with the field's name.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, why: String| {
            Err(ZerobusError::Configuration(
                format!("{field}: {why}").into(),
            ))
        };
        let endpoint = normalize_url(&self.endpoint)
            .map_err(|e| ZerobusError::Configuration(format!("endpoint: {e}").into()))?;
        if endpoint.scheme() == "http" && !self.allow_plaintext && !is_loopback(&endpoint) {
            return bad(
                "endpoint",
                format!(
                    "'{}' is plain text to a host that is not loopback; use https:// or set allow_plaintext",
                    self.endpoint
                ),
            );
        }
        validate_table_name(&self.table_name)?;
        match self.client_id.as_deref() {
            None | Some("") => {
                return bad(
                    "client_id",
                    "is required (the service principal's application id)".into(),
                )
            }
            _ => {}
        }
        match &self.client_secret {
            None => return bad("client_secret", "is required".into()),
            Some(s) if s.expose().is_empty() => return bad("client_secret", "is empty".into()),
            _ => {}
        }
        match self.unity_catalog_url.as_deref() {
            None | Some("") => {
                return bad(
                    "unity_catalog_url",
                    "is required (the workspace URL, e.g. https://dbc-….cloud.databricks.com)"
                        .into(),
                )
            }
            Some(_) => {
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
            }
        }
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
        if self.ack_timeout_ms == Some(0) {
            return bad("ack_timeout_ms", "must be above 0".into());
        }
        if self.observability_config.is_some() {
            crate::telemetry::ExportSettings::from_config(self.observability_config.as_ref())?;
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
    /// message names the real place.
    pub fn dead_letter_dir(&self) -> PathBuf {
        let dir = self
            .dead_letter_dir
            .clone()
            .or_else(|| self.debug_output_dir.clone())
            .unwrap_or_else(|| PathBuf::from("zerobus-dead-letters"));
        std::path::absolute(&dir).unwrap_or(dir)
    }
}

fn normalize_url(raw: &str) -> std::result::Result<url::Url, String> {
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

/// `catalog.schema.table` with ASCII letters, digits and underscores in each part.
pub fn validate_table_name(name: &str) -> Result<()> {
    let parts: Vec<&str> = name.split('.').collect();
    let bad = |why: String| {
        Err(ZerobusError::Configuration(
            format!("table_name: {why}").into(),
        ))
    };
    if name.is_empty() {
        return bad("is empty; use catalog.schema.table".into());
    }
    if parts.len() != 3 {
        return bad(format!(
            "'{name}' must have three parts, catalog.schema.table"
        ));
    }
    for p in parts {
        if p.is_empty() {
            return bad(format!("'{name}' has an empty part"));
        }
        if let Some(c) = p
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
        {
            return bad(format!(
                "'{name}' contains '{c}': Zerobus accepts ASCII letters, digits and '_' only"
            ));
        }
    }
    Ok(())
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty => $conv:expr) => {
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.config.$name = $conv(value);
            self
        }
    };
}

impl WrapperConfigBuilder {
    setter!(/// OAuth client id.
        client_id: impl Into<String> => |v: _| Some(Into::<String>::into(v)));
    setter!(/// OAuth client secret.
        client_secret: impl Into<String> => |v: _| Some(Secret::new(v)));
    setter!(/// Unity Catalog URL.
        unity_catalog_url: impl Into<String> => |v: _| Some(Into::<String>::into(v)));
    setter!(/// Turn on OpenTelemetry.
        observability_enabled: bool => |v| v);
    setter!(/// OpenTelemetry settings.
        observability_config: HashMap<String, String> => Some);
    setter!(/// Turn on debug files.
        debug_enabled: bool => |v| v);
    setter!(/// Directory of debug files.
        debug_output_dir: impl Into<PathBuf> => |v: _| Some(Into::<PathBuf>::into(v)));
    setter!(/// Debug flush interval.
        debug_flush_interval_secs: u64 => |v| v);
    setter!(/// Debug file rotation size.
        debug_max_file_size: u64 => Some);
    setter!(/// Attempts for transient failures.
        retry_max_attempts: u32 => |v| v);
    setter!(/// Backoff base.
        retry_base_delay_ms: u64 => |v| v);
    setter!(/// Backoff cap.
        retry_max_delay_ms: u64 => |v| v);
    setter!(/// Dead-letter directory.
        dead_letter_dir: impl Into<PathBuf> => |v: _| Some(Into::<PathBuf>::into(v)));
    setter!(/// Where the descriptor comes from.
        schema_source: SchemaSource => |v| v);
    setter!(/// Allow plain text to non-loopback hosts.
        allow_plaintext: bool => |v| v);
    setter!(/// Acknowledgement timeout of the stream.
        ack_timeout_ms: u64 => Some);
    setter!(/// Most streams open to the table at once.
        max_streams: usize => |v| v);

    /// The configuration as set so far, not validated: the defaults, for front ends that
    /// show them.
    #[cfg(feature = "python")]
    pub(crate) fn config_unchecked(self) -> WrapperConfig {
        self.config
    }

    /// Validate and return the configuration (the UC URL stored with its scheme).
    pub fn build(mut self) -> Result<WrapperConfig> {
        self.config.validate()?;
        let uc = self.config.unity_catalog_base()?;
        self.config.unity_catalog_url = Some(uc.as_str().trim_end_matches('/').to_string());
        Ok(self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> WrapperConfigBuilder {
        WrapperConfig::builder("http://127.0.0.1:1", "main.default.t")
            .client_id("id")
            .client_secret("s3cr3t-value")
            .unity_catalog_url("http://127.0.0.1:2")
    }

    #[test]
    fn from_env_reads_the_connection_and_zerobus_max_streams() {
        let vars = |max: &'static str| {
            move |k: &str| {
                let v = match k {
                    "ZEROBUS_ENDPOINT" => "http://127.0.0.1:1",
                    "DATABRICKS_HOST" => "http://127.0.0.1:2",
                    "DATABRICKS_CLIENT_ID" => "a",
                    "DATABRICKS_CLIENT_SECRET" => "b",
                    "ZEROBUS_MAX_STREAMS" => max,
                    _ => return None,
                };
                Some(v.to_string()).filter(|v| !v.trim().is_empty())
            }
        };
        let c = WrapperConfig::from_vars("main.default.t", &vars("3")).unwrap();
        assert_eq!(c.max_streams, 3);
        assert_eq!(c.unity_catalog_url.as_deref(), Some("http://127.0.0.1:2"));
        let c = WrapperConfig::from_vars("main.default.t", &vars("")).unwrap();
        assert_eq!(c.max_streams, DEFAULT_MAX_STREAMS);
        let e = WrapperConfig::from_vars("main.default.t", &vars("many"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("ZEROBUS_MAX_STREAMS 'many'"), "{e}");
    }

    fn field_of(r: Result<WrapperConfig>) -> String {
        match r {
            Err(ZerobusError::Configuration(m)) => m.to_string(),
            other => panic!("expected a ConfigurationError, got {other:?}"),
        }
    }

    #[test]
    fn each_bad_field_is_named() {
        assert!(base().build().is_ok());
        assert!(field_of(base().client_secret("").build()).starts_with("client_secret"));
        assert!(
            field_of(WrapperConfig::builder("http://127.0.0.1:1", "main.default.t").build())
                .starts_with("client_id")
        );
        assert!(
            field_of(WrapperConfig::builder("::not a url", "main.default.t").build())
                .starts_with("endpoint")
        );
        assert!(field_of(
            WrapperConfig::builder("http://10.1.2.3:1", "main.default.t")
                .client_id("a")
                .client_secret("b")
                .unity_catalog_url("http://x")
                .build()
        )
        .contains("plain text"));
        for bad in [
            "",
            "t",
            "a.b",
            "a.b.c.d",
            "main.default.bad-name",
            "main.de fault.t",
            "main.default.t'",
        ] {
            let m = field_of(
                WrapperConfig::builder("http://127.0.0.1:1", bad)
                    .client_id("a")
                    .client_secret("b")
                    .unity_catalog_url("http://x")
                    .build(),
            );
            assert!(m.starts_with("table_name"), "{bad}: {m}");
        }
        assert!(field_of(base().retry_max_attempts(0).build()).starts_with("retry_max_attempts"));
        assert!(field_of(base().debug_enabled(true).build()).starts_with("debug_output_dir"));
    }

    #[test]
    fn the_unity_catalog_url_is_kept_with_its_scheme_and_plain_text_stays_local() {
        let c = base()
            .unity_catalog_url("dbc-123.cloud.databricks.com/")
            .build()
            .unwrap();
        assert_eq!(
            c.unity_catalog_url.as_deref(),
            Some("https://dbc-123.cloud.databricks.com")
        );
        let m = field_of(
            base()
                .unity_catalog_url("http://dbc-123.cloud.databricks.com")
                .build(),
        );
        assert!(
            m.starts_with("unity_catalog_url") && m.contains("plain text"),
            "{m}"
        );
        assert!(base()
            .unity_catalog_url("http://dbc-123.cloud.databricks.com")
            .allow_plaintext(true)
            .build()
            .is_ok());
        assert!(base().build().unwrap().dead_letter_dir().is_absolute());
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let c = base()
            .observability_config(HashMap::from([
                (
                    "headers".to_string(),
                    "authorization=Bearer otel-t0ken".to_string(),
                ),
                ("protocol".to_string(), "grpc".to_string()),
            ]))
            .build()
            .unwrap();
        let shown = format!("{c:?} {:?}", c.client_secret);
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        assert!(!shown.contains("otel-t0ken"), "{shown}");
        assert!(
            shown.contains("<redacted>") && shown.contains("grpc"),
            "{shown}"
        );
    }
}
