//! [`WrapperConfig`]: a [`ZerobusConnection`] and the table it sends to, with a builder,
//! `from_env`, and validation up front (each error names the field).

use std::collections::HashMap;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::path::PathBuf;

pub use crate::connection::{
    FlightCompression, NullCollections, SchemaSource, Secret, Transport, ZerobusConnection,
    DEFAULT_MAX_STREAMS, MAX_STREAMS_LIMIT,
};
use crate::error::{Result, ZerobusError};

/// Configuration of a [`crate::ZerobusWrapper`]: a connection and a table. It reads as its
/// connection (`config.endpoint`, `config.retry_max_attempts`): the fields of
/// [`ZerobusConnection`] are reached through it.
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
    /// Endpoint, credentials, retry, lanes, files and telemetry.
    pub connection: ZerobusConnection,
    /// Target table, `catalog.schema.table`.
    pub table_name: String,
}

impl Deref for WrapperConfig {
    type Target = ZerobusConnection;

    fn deref(&self) -> &ZerobusConnection {
        &self.connection
    }
}

impl DerefMut for WrapperConfig {
    fn deref_mut(&mut self) -> &mut ZerobusConnection {
        &mut self.connection
    }
}

impl fmt::Debug for WrapperConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrapperConfig")
            .field("table_name", &self.table_name)
            .field("connection", &self.connection)
            .finish()
    }
}

/// `ZEROBUS_MAX_STREAMS`, if set: a number of streams.
pub fn max_streams_from_env() -> Result<Option<usize>> {
    let Some(value) = std::env::var("ZEROBUS_MAX_STREAMS")
        .ok()
        .filter(|v| !v.trim().is_empty())
    else {
        return Ok(None);
    };
    let mut c = ZerobusConnection::new("");
    crate::options::apply_as(&mut c, "max_streams", &value, "ZEROBUS_MAX_STREAMS")?;
    Ok(Some(c.max_streams))
}

/// Builder of [`WrapperConfig`]; `build` validates.
#[derive(Debug, Clone)]
pub struct WrapperConfigBuilder {
    config: WrapperConfig,
}

impl ZerobusConnection {
    /// This connection with a table: a validated [`WrapperConfig`].
    pub fn for_table(&self, table_name: impl Into<String>) -> Result<WrapperConfig> {
        WrapperConfig::from_parts(self.clone(), table_name.into())
    }
}

impl WrapperConfig {
    /// Start a configuration with the defaults of [`ZerobusConnection::new`].
    pub fn builder(
        endpoint: impl Into<String>,
        table_name: impl Into<String>,
    ) -> WrapperConfigBuilder {
        WrapperConfigBuilder {
            config: WrapperConfig {
                connection: ZerobusConnection::new(endpoint),
                table_name: table_name.into(),
            },
        }
    }

    /// [`ZerobusConnection::from_env`] with `table_name`.
    pub fn from_env(table_name: impl Into<String>) -> Result<WrapperConfig> {
        ZerobusConnection::from_env()?.for_table(table_name)
    }

    /// `connection` and `table_name`, validated, the UC URL kept with its scheme.
    pub(crate) fn from_parts(
        connection: ZerobusConnection,
        table_name: String,
    ) -> Result<WrapperConfig> {
        let config = WrapperConfig {
            connection,
            table_name,
        };
        config.validate()?;
        Ok(WrapperConfig {
            connection: config.connection.normalized()?,
            table_name: config.table_name,
        })
    }

    /// Check every field; the first problem is reported with the field's name.
    pub fn validate(&self) -> Result<()> {
        // The endpoint first, then the table, then the rest (the order errors always had).
        self.connection.endpoint_url()?;
        validate_table_name(&self.table_name)?;
        self.connection.validate()
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

/// The setters of every connection option, on [`ZerobusConnection`] and on
/// [`WrapperConfigBuilder`] alike.
macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty => $conv:expr;)*) => {
        impl ZerobusConnection {
            $(
                $(#[$doc])*
                pub fn $name(mut self, value: $ty) -> Self {
                    self.$name = $conv(value);
                    self
                }
            )*
        }
        impl WrapperConfigBuilder {
            $(
                $(#[$doc])*
                pub fn $name(mut self, value: $ty) -> Self {
                    self.config.connection.$name = $conv(value);
                    self
                }
            )*
        }
    };
}

setters! {
    /// OAuth client id.
    client_id: impl Into<String> => |v: _| Some(Into::<String>::into(v));
    /// OAuth client secret.
    client_secret: impl Into<String> => |v: _| Some(Secret::new(v));
    /// Unity Catalog URL.
    unity_catalog_url: impl Into<String> => |v: _| Some(Into::<String>::into(v));
    /// Turn on OpenTelemetry.
    observability_enabled: bool => |v| v;
    /// OpenTelemetry settings.
    observability_config: HashMap<String, String> => Some;
    /// Turn on debug files.
    debug_enabled: bool => |v| v;
    /// Directory of debug files.
    debug_output_dir: impl Into<PathBuf> => |v: _| Some(Into::<PathBuf>::into(v));
    /// Debug flush interval.
    debug_flush_interval_secs: u64 => |v| v;
    /// Debug file rotation size.
    debug_max_file_size: u64 => Some;
    /// Attempts for transient failures.
    retry_max_attempts: u32 => |v| v;
    /// Backoff base.
    retry_base_delay_ms: u64 => |v| v;
    /// Backoff cap.
    retry_max_delay_ms: u64 => |v| v;
    /// Dead-letter directory.
    dead_letter_dir: impl Into<PathBuf> => |v: _| Some(Into::<PathBuf>::into(v));
    /// Load journal directory.
    journal_dir: impl Into<PathBuf> => |v: _| Some(Into::<PathBuf>::into(v));
    /// SQL warehouse for CREATE TABLE against a workspace.
    warehouse_id: impl Into<String> => |v: _| Some(Into::<String>::into(v));
    /// Where the descriptor comes from.
    schema_source: SchemaSource => |v| v;
    /// How batches travel (protobuf records or Arrow Flight).
    transport: Transport => |v| v;
    /// IPC compression of the Arrow Flight transport.
    flight_compression: FlightCompression => |v| v;
    /// NULL ARRAY / MAP on the proto transport: refused (default) or sent empty.
    null_collections: NullCollections => |v| v;
    /// Allow plain text to non-loopback hosts.
    allow_plaintext: bool => |v| v;
    /// Acknowledgement timeout of the stream.
    ack_timeout_ms: u64 => Some;
    /// Most streams open to the table at once.
    max_streams: usize => |v| v;
    /// Most bytes of rows in flight at once, over every lane and load.
    max_inflight_bytes: usize => |v| v;
}

impl WrapperConfigBuilder {
    /// Validate and return the configuration (the UC URL stored with its scheme).
    pub fn build(self) -> Result<WrapperConfig> {
        WrapperConfig::from_parts(self.config.connection, self.config.table_name)
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
                Some(v.to_string())
            }
        };
        let c = crate::options::from_vars(&vars("3"))
            .unwrap()
            .for_table("main.default.t")
            .unwrap();
        assert_eq!(c.max_streams, 3);
        assert_eq!(c.unity_catalog_url.as_deref(), Some("http://127.0.0.1:2"));
        let c = crate::options::from_vars(&vars("")).unwrap();
        assert_eq!(c.max_streams, DEFAULT_MAX_STREAMS);
        let e = crate::options::from_vars(&vars("many"))
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
        assert!(base().build().unwrap().dead_letter_path().is_absolute());
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
