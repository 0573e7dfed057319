//! The options themselves: key, environment variable, kind and help of each.

/// What an option's value is, for front ends that shape their input by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionKind {
    /// A URL or a name.
    Text,
    /// A credential: never shown.
    Secret,
    /// A whole number.
    Number,
    /// true/false (also 1/0, yes/no, on/off).
    Flag,
    /// A directory.
    Path,
    /// One of a few words.
    Choice(&'static [&'static str]),
}

/// One option: its key (SQL OPTIONS, Python keyword, `--key-with-dashes`), its
/// environment variable, its kind and what it sets.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionOption {
    /// The key, e.g. `retry_max_attempts`.
    pub key: &'static str,
    /// The environment variable read by [`crate::ZerobusConnection::from_env`] and `zerobus-sql`.
    pub env: &'static str,
    /// What the value is.
    pub kind: OptionKind,
    /// What it sets.
    pub help: &'static str,
}

const fn option(
    key: &'static str,
    env: &'static str,
    kind: OptionKind,
    help: &'static str,
) -> ConnectionOption {
    ConnectionOption {
        key,
        env,
        kind,
        help,
    }
}

use OptionKind::{Choice, Flag, Number, Path, Text};

/// The options that say where to connect and as whom. Against the embedded emulator
/// `zerobus-sql` takes these from the emulator.
pub const CONNECTION_KEYS: &[&str] = &[
    "endpoint",
    "unity_catalog_url",
    "client_id",
    "client_secret",
];

/// Every option, in the order front ends list them.
pub const OPTIONS: &[ConnectionOption] = &[
    option("endpoint", "ZEROBUS_ENDPOINT", Text, "Zerobus endpoint URL"),
    option(
        "unity_catalog_url",
        "DATABRICKS_HOST",
        Text,
        "workspace (Unity Catalog) URL",
    ),
    option("client_id", "DATABRICKS_CLIENT_ID", Text, "OAuth client id"),
    option(
        "client_secret",
        "DATABRICKS_CLIENT_SECRET",
        OptionKind::Secret,
        "OAuth client secret",
    ),
    option(
        "retry_max_attempts",
        "ZEROBUS_RETRY_MAX_ATTEMPTS",
        Number,
        "attempts for transient failures (1 = no retry)",
    ),
    option(
        "retry_base_delay_ms",
        "ZEROBUS_RETRY_BASE_DELAY_MS",
        Number,
        "base of the exponential backoff",
    ),
    option(
        "retry_max_delay_ms",
        "ZEROBUS_RETRY_MAX_DELAY_MS",
        Number,
        "cap of the exponential backoff",
    ),
    option(
        "ack_timeout_ms",
        "ZEROBUS_ACK_TIMEOUT_MS",
        Number,
        "how long an acknowledgement may take",
    ),
    option(
        "max_streams",
        "ZEROBUS_MAX_STREAMS",
        Number,
        "most streams open to the table at once (each is capped by the service)",
    ),
    option(
        "max_inflight_bytes",
        "ZEROBUS_MAX_INFLIGHT_BYTES",
        Number,
        "most bytes of rows in flight at once, over every stream (Arrow bytes)",
    ),
    option(
        "dead_letter_dir",
        "ZEROBUS_DEAD_LETTER_DIR",
        Path,
        "directory of dead-letter files",
    ),
    option(
        "journal_dir",
        "ZEROBUS_JOURNAL_DIR",
        Path,
        "directory of load journals (COPY INTO, zerobus-sql copy): local or an object-store URL",
    ),
    option(
        "warehouse_id",
        "DATABRICKS_WAREHOUSE_ID",
        Text,
        "SQL warehouse that runs CREATE TABLE against a workspace",
    ),
    option(
        "debug_enabled",
        "ZEROBUS_DEBUG_ENABLED",
        Flag,
        "write debug files",
    ),
    option(
        "debug_output_dir",
        "ZEROBUS_DEBUG_OUTPUT_DIR",
        Path,
        "directory of debug files",
    ),
    option(
        "debug_flush_interval_secs",
        "ZEROBUS_DEBUG_FLUSH_INTERVAL_SECS",
        Number,
        "how often debug files are flushed",
    ),
    option(
        "debug_max_file_size",
        "ZEROBUS_DEBUG_MAX_FILE_SIZE",
        Number,
        "size at which a debug file is rotated",
    ),
    option(
        "allow_plaintext",
        "ZEROBUS_ALLOW_PLAINTEXT",
        Flag,
        "allow http:// to hosts that are not loopback",
    ),
    option(
        "observability_enabled",
        "ZEROBUS_OBSERVABILITY_ENABLED",
        Flag,
        "OpenTelemetry metrics and traces",
    ),
    option(
        "schema_source",
        "ZEROBUS_SCHEMA_SOURCE",
        Choice(&["unity_catalog", "arrow_schema"]),
        "where the table's schema comes from",
    ),
    option(
        "transport",
        "ZEROBUS_TRANSPORT",
        Choice(&["proto", "flight"]),
        "protobuf records over gRPC, or Arrow batches over Arrow Flight",
    ),
    option(
        "flight_compression",
        "ZEROBUS_FLIGHT_COMPRESSION",
        Choice(&["lz4", "zstd", "none"]),
        "IPC compression of the flight transport",
    ),
    option(
        "null_collections",
        "ZEROBUS_NULL_COLLECTIONS",
        Choice(&["refuse", "empty"]),
        "a NULL ARRAY or MAP on the proto transport: refused, or sent empty",
    ),
];

/// The option of `key` (as written in SQL: any case, with or without DataFusion's
/// `format.` prefix).
pub fn find(key: &str) -> Option<&'static ConnectionOption> {
    let key = normal_key(key);
    OPTIONS.iter().find(|o| o.key == key)
}

pub(super) fn known() -> String {
    OPTIONS.iter().map(|o| o.key).collect::<Vec<_>>().join(", ")
}

/// A key as written in SQL, lower-cased, without the `format.` prefix DataFusion puts on
/// OPTIONS keys that have no dot.
pub(super) fn normal_key(key: &str) -> String {
    let key = key.trim().to_ascii_lowercase();
    match key.strip_prefix("format.") {
        Some(k) => k.to_string(),
        None => key,
    }
}
