//! Every option of a [`ZerobusConnection`], in one table ([`OPTIONS`]) with one parser
//! ([`apply`]): SQL OPTIONS (`CREATE EXTERNAL TABLE`, `COPY`), the Python keywords,
//! `zerobus-sql`'s flags and the environment all go through it, so a key means the same
//! everywhere and is checked the same way. Defaults are those of
//! [`ZerobusConnection::new`].
//!
//! A SQL author may point a table at another endpoint or workspace, but not with the
//! operator's credentials: an `endpoint` or `unity_catalog_url` on another host than the
//! configured one needs `client_id` and `client_secret` in the same OPTIONS, or the
//! statement is refused before anything is sent anywhere.

use std::path::PathBuf;

use crate::connection::{
    FlightCompression, NullCollections, SchemaSource, Secret, Transport, ZerobusConnection,
};
use crate::error::{Result, ZerobusError};

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
    /// The environment variable read by [`ZerobusConnection::from_env`] and `zerobus-sql`.
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
        "dead_letter_dir",
        "ZEROBUS_DEAD_LETTER_DIR",
        Path,
        "directory of dead-letter files",
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

fn known() -> String {
    OPTIONS.iter().map(|o| o.key).collect::<Vec<_>>().join(", ")
}

fn parse<T: std::str::FromStr>(said_as: &str, value: &str, what: &str) -> Result<T> {
    value.trim().parse().map_err(|_| {
        ZerobusError::Configuration(format!("{said_as} '{value}' is not {what}").into())
    })
}

fn parse_bool(said_as: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ZerobusError::Configuration(
            format!("{said_as} '{value}' is not true or false").into(),
        )),
    }
}

/// The value of `words` that `value` names (any case): "is not a, b or c" otherwise.
fn one_of<T: Copy>(said_as: &str, value: &str, words: &[(&str, T)]) -> Result<T> {
    let given = value.trim().to_ascii_lowercase();
    if let Some((_, v)) = words.iter().find(|(w, _)| *w == given) {
        return Ok(*v);
    }
    let names: Vec<&str> = words.iter().map(|(w, _)| *w).collect();
    let list = match names.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    Err(ZerobusError::Configuration(
        format!("{said_as} '{value}' is not {list}").into(),
    ))
}

/// A key as written in SQL, lower-cased, without the `format.` prefix DataFusion puts on
/// OPTIONS keys that have no dot.
fn normal_key(key: &str) -> String {
    let key = key.trim().to_ascii_lowercase();
    match key.strip_prefix("format.") {
        Some(k) => k.to_string(),
        None => key,
    }
}

/// Apply one SQL option to `connection`. Unknown keys are an error listing the known ones.
pub fn apply(connection: &mut ZerobusConnection, key: &str, value: &str) -> Result<()> {
    let key = normal_key(key);
    apply_as(connection, &key, value, &format!("OPTIONS {key}"))
}

/// Apply option `key` = `value` (text, as every front end has it); a bad value's error
/// names it `said_as` (`OPTIONS max_streams`, `ZEROBUS_MAX_STREAMS`, `--max-streams`, …).
/// The one parser of every option.
pub fn apply_as(
    connection: &mut ZerobusConnection,
    key: &str,
    value: &str,
    said_as: &str,
) -> Result<()> {
    let c = connection;
    let number = "a number";
    match key {
        "endpoint" => c.endpoint = value.to_string(),
        "unity_catalog_url" => c.unity_catalog_url = Some(value.to_string()),
        "client_id" => c.client_id = Some(value.to_string()),
        "client_secret" => c.client_secret = Some(Secret::new(value)),
        "retry_max_attempts" => c.retry_max_attempts = parse(said_as, value, number)?,
        "retry_base_delay_ms" => c.retry_base_delay_ms = parse(said_as, value, number)?,
        "retry_max_delay_ms" => c.retry_max_delay_ms = parse(said_as, value, number)?,
        "ack_timeout_ms" => c.ack_timeout_ms = Some(parse(said_as, value, number)?),
        "max_streams" => c.max_streams = parse(said_as, value, "a number of streams")?,
        "dead_letter_dir" => c.dead_letter_dir = Some(PathBuf::from(value)),
        "debug_enabled" => c.debug_enabled = parse_bool(said_as, value)?,
        "debug_output_dir" => c.debug_output_dir = Some(PathBuf::from(value)),
        "debug_flush_interval_secs" => c.debug_flush_interval_secs = parse(said_as, value, number)?,
        "debug_max_file_size" => c.debug_max_file_size = Some(parse(said_as, value, number)?),
        "allow_plaintext" => c.allow_plaintext = parse_bool(said_as, value)?,
        "observability_enabled" => c.observability_enabled = parse_bool(said_as, value)?,
        "schema_source" => {
            c.schema_source = one_of(
                said_as,
                value,
                &[
                    ("unity_catalog", SchemaSource::UnityCatalog),
                    ("arrow_schema", SchemaSource::ArrowSchema),
                ],
            )?
        }
        "transport" => {
            c.transport = one_of(
                said_as,
                value,
                &[("proto", Transport::Proto), ("flight", Transport::Flight)],
            )?
        }
        "flight_compression" => {
            c.flight_compression = one_of(
                said_as,
                value,
                &[
                    ("lz4", FlightCompression::Lz4),
                    ("zstd", FlightCompression::Zstd),
                    ("none", FlightCompression::None),
                ],
            )?
        }
        "null_collections" => {
            c.null_collections = one_of(
                said_as,
                value,
                &[
                    ("refuse", NullCollections::Refuse),
                    ("empty", NullCollections::Empty),
                ],
            )?
        }
        other => {
            return Err(ZerobusError::Configuration(
                format!("unknown Zerobus option '{other}' (known: {})", known()).into(),
            ))
        }
    }
    Ok(())
}

/// The value of option `key` in `connection` as text that [`apply`] reads back to the same
/// setting; `None` for an option that is not set. Secrets come back as `None`: this is for
/// carrying settings elsewhere (a Ballista plan), never credentials.
///
/// ```
/// use arrow_zerobus_sdk_wrapper::{options::option_value, ZerobusConnection};
/// let c = ZerobusConnection::new("http://127.0.0.1:5000").client_secret("s");
/// assert_eq!(option_value(&c, "retry_max_attempts").as_deref(), Some("5"));
/// assert_eq!(option_value(&c, "client_secret"), None);
/// ```
pub fn option_value(connection: &ZerobusConnection, key: &str) -> Option<String> {
    let c = connection;
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    match key {
        "endpoint" => Some(c.endpoint.clone()),
        "unity_catalog_url" => c.unity_catalog_url.clone(),
        "client_id" => c.client_id.clone(),
        "client_secret" => None,
        "retry_max_attempts" => Some(c.retry_max_attempts.to_string()),
        "retry_base_delay_ms" => Some(c.retry_base_delay_ms.to_string()),
        "retry_max_delay_ms" => Some(c.retry_max_delay_ms.to_string()),
        "ack_timeout_ms" => c.ack_timeout_ms.map(|v| v.to_string()),
        "max_streams" => Some(c.max_streams.to_string()),
        "dead_letter_dir" => path(&c.dead_letter_dir),
        "debug_enabled" => Some(c.debug_enabled.to_string()),
        "debug_output_dir" => path(&c.debug_output_dir),
        "debug_flush_interval_secs" => Some(c.debug_flush_interval_secs.to_string()),
        "debug_max_file_size" => c.debug_max_file_size.map(|v| v.to_string()),
        "allow_plaintext" => Some(c.allow_plaintext.to_string()),
        "observability_enabled" => Some(c.observability_enabled.to_string()),
        "schema_source" => Some(
            match c.schema_source {
                SchemaSource::UnityCatalog => "unity_catalog",
                SchemaSource::ArrowSchema => "arrow_schema",
            }
            .into(),
        ),
        "transport" => Some(
            match c.transport {
                Transport::Proto => "proto",
                Transport::Flight => "flight",
            }
            .into(),
        ),
        "flight_compression" => Some(
            match c.flight_compression {
                FlightCompression::Lz4 => "lz4",
                FlightCompression::Zstd => "zstd",
                FlightCompression::None => "none",
            }
            .into(),
        ),
        "null_collections" => Some(
            match c.null_collections {
                NullCollections::Refuse => "refuse",
                NullCollections::Empty => "empty",
            }
            .into(),
        ),
        _ => None,
    }
}

/// A validated connection from variables looked up by `var`: each option's
/// [`ConnectionOption::env`], blank ones ignored; `ZEROBUS_ENDPOINT` is required.
pub(crate) fn from_vars(var: &dyn Fn(&str) -> Option<String>) -> Result<ZerobusConnection> {
    let var = |key: &str| var(key).filter(|v| !v.trim().is_empty());
    let endpoint = var("ZEROBUS_ENDPOINT").ok_or_else(|| {
        ZerobusError::Configuration("ZEROBUS_ENDPOINT is not set (the Zerobus endpoint URL)".into())
    })?;
    let mut c = ZerobusConnection::new(endpoint);
    for o in OPTIONS.iter().filter(|o| o.key != "endpoint") {
        if let Some(value) = var(o.env) {
            apply_as(&mut c, o.key, &value, o.env)?;
        }
    }
    c.validated()
}

/// scheme://host:port of a URL as the client would use it.
/// `scheme://host:port` of `url` (host lower-cased, default port made explicit), or the
/// text itself when it does not parse: two URLs of one origin compare equal.
pub(crate) fn origin_of(url: &str) -> String {
    let url = url.trim();
    let with_scheme = if url.contains("://") {
        url.to_string()
    } else {
        format!("https://{url}")
    };
    match origin(url::Url::parse(&with_scheme).ok()) {
        Some((scheme, host, port)) => format!("{scheme}://{host}:{}", port.unwrap_or(0)),
        None => url.trim().to_ascii_lowercase(),
    }
}

fn origin(url: Option<url::Url>) -> Option<(String, String, Option<u16>)> {
    let u = url?;
    Some((
        u.scheme().to_string(),
        u.host_str()?.to_ascii_lowercase(),
        u.port_or_known_default(),
    ))
}

/// `template` with SQL `options` applied (keys case-insensitive). Refused when the options
/// move the endpoint or the UC URL to another host while keeping the template's
/// credentials (see the module docs).
///
/// ```
/// use arrow_zerobus_sdk_wrapper::{options::with_options, ZerobusConnection};
/// let template = ZerobusConnection::new("http://127.0.0.1:5000")
///     .client_id("ops").client_secret("ops-secret")
///     .unity_catalog_url("http://127.0.0.1:8080");
/// let tuned = with_options(&template, [("retry_max_attempts", "3")]).unwrap();
/// assert_eq!(tuned.retry_max_attempts, 3);
/// let err = with_options(&template, [("unity_catalog_url", "http://127.0.0.1:9977")]).unwrap_err();
/// assert!(err.to_string().contains("client_id and client_secret"));
/// ```
pub fn with_options<'a>(
    template: &ZerobusConnection,
    options: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<ZerobusConnection> {
    let mut config = template.clone();
    let mut own_id = false;
    let mut own_secret = false;
    // A secret written as a reference (crate::secret_refs) and the hosts written with it.
    let (mut reference, mut endpoint, mut uc) = (None, None, None);
    for (key, value) in options {
        let lower = normal_key(key);
        own_id |= lower == "client_id";
        own_secret |= lower == "client_secret";
        match lower.as_str() {
            "client_secret" if crate::secret_refs::is_reference(value) => {
                reference = Some(value);
                continue;
            }
            "endpoint" => endpoint = Some(value),
            "unity_catalog_url" => uc = Some(value),
            _ => {}
        }
        apply(&mut config, &lower, value)?;
    }
    if let Some(r) = reference {
        config.client_secret = Some(crate::secret_refs::resolve(r, endpoint, uc)?);
    }
    let moved = |what: &str, before: Option<url::Url>, after: Option<url::Url>| {
        let (before, after) = (origin(before), origin(after));
        (after.is_some() && before != after).then(|| what.to_string())
    };
    let moved: Vec<String> = [
        moved(
            "endpoint",
            template.endpoint_url().ok(),
            config.endpoint_url().ok(),
        ),
        moved(
            "unity_catalog_url",
            template.unity_catalog_base().ok(),
            config.unity_catalog_base().ok(),
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    let own_credentials = own_id && own_secret;
    if !moved.is_empty() && !own_credentials {
        return Err(ZerobusError::Configuration(format!(
            "OPTIONS {} name{} another host than the configured one: give client_id and client_secret \
             for it in the same OPTIONS (the configured credentials are only sent to the configured hosts)",
            moved.join(" and "),
            if moved.len() == 1 { "s" } else { "" }
        ).into()));
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> ZerobusConnection {
        ZerobusConnection::new("http://127.0.0.1:5000")
            .client_id("ops")
            .client_secret("ops-secret")
            .unity_catalog_url("http://127.0.0.1:8080")
    }

    /// Every option read back by `option_value` and applied to a default connection gives
    /// the same setting, for a connection where each option differs from its default.
    #[test]
    fn every_option_value_reads_back_to_the_same_setting() {
        let mut set = template();
        for (key, value) in [
            ("retry_max_attempts", "3"),
            ("retry_base_delay_ms", "7"),
            ("retry_max_delay_ms", "70"),
            ("ack_timeout_ms", "900"),
            ("max_streams", "4"),
            ("dead_letter_dir", "/tmp/dl"),
            ("debug_enabled", "true"),
            ("debug_output_dir", "/tmp/dbg"),
            ("debug_flush_interval_secs", "9"),
            ("debug_max_file_size", "12345"),
            ("allow_plaintext", "true"),
            ("observability_enabled", "true"),
            ("schema_source", "arrow_schema"),
            ("transport", "flight"),
            ("flight_compression", "zstd"),
            ("null_collections", "empty"),
        ] {
            apply(&mut set, key, value).unwrap();
            assert_eq!(option_value(&set, key).as_deref(), Some(value), "{key}");
        }
        let mut back = ZerobusConnection::new(set.endpoint.clone());
        for o in OPTIONS {
            if let Some(v) = option_value(&set, o.key) {
                apply(&mut back, o.key, &v).unwrap_or_else(|e| panic!("{}: {e}", o.key));
            }
        }
        back.client_secret = set.client_secret.clone();
        assert_eq!(format!("{back:?}"), format!("{set:?}"));
        assert_eq!(option_value(&set, "client_secret"), None);
    }

    #[test]
    fn another_host_needs_its_own_credentials() {
        let t = template();
        for (k, v) in [
            ("unity_catalog_url", "http://127.0.0.1:9977"),
            ("endpoint", "http://localhost:5001"),
            ("ENDPOINT", "https://evil.example.com"),
        ] {
            let e = with_options(&t, [(k, v)]).unwrap_err().to_string();
            assert!(e.contains("client_id and client_secret"), "{k}: {e}");
            assert!(!e.contains("ops-secret"), "{e}");
        }
        // Only one of the two is not enough.
        assert!(with_options(
            &t,
            [
                ("unity_catalog_url", "http://127.0.0.1:9977"),
                ("client_secret", "x")
            ]
        )
        .is_err());
        // The same host (spelled differently) keeps the configured credentials.
        let same = with_options(&t, [("unity_catalog_url", "http://127.0.0.1:8080/")]).unwrap();
        assert_eq!(same.client_secret.unwrap().expose(), "ops-secret");
        // Their own credentials: allowed.
        let own = with_options(
            &t,
            [
                ("unity_catalog_url", "http://127.0.0.1:9977"),
                ("client_id", "me"),
                ("client_secret", "mine"),
            ],
        )
        .unwrap();
        assert_eq!(own.client_secret.unwrap().expose(), "mine");
    }

    #[test]
    fn every_key_parses_and_unknown_keys_list_the_known_ones() {
        let t = template();
        let c = with_options(
            &t,
            [
                ("retry_max_attempts", "3"),
                ("retry_base_delay_ms", "5"),
                ("retry_max_delay_ms", "50"),
                ("ack_timeout_ms", "2000"),
                ("dead_letter_dir", "/tmp/dl"),
                ("debug_enabled", "true"),
                ("debug_output_dir", "/tmp/dbg"),
                ("debug_flush_interval_secs", "2"),
                ("debug_max_file_size", "1000"),
                ("allow_plaintext", "false"),
                ("observability_enabled", "off"),
                ("schema_source", "arrow_schema"),
            ],
        )
        .unwrap();
        assert_eq!(
            (
                c.retry_max_attempts,
                c.retry_base_delay_ms,
                c.retry_max_delay_ms
            ),
            (3, 5, 50)
        );
        assert_eq!(c.ack_timeout_ms, Some(2000));
        assert!(c.debug_enabled && c.schema_source == SchemaSource::ArrowSchema);
        let e = with_options(&t, [("retries", "3")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("'retries'") && e.contains("retry_max_attempts, retry_base_delay_ms"),
            "{e}"
        );
        let e = with_options(&t, [("retry_max_attempts", "many")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("retry_max_attempts 'many' is not a number"),
            "{e}"
        );
    }

    #[test]
    fn the_table_and_the_parser_agree() {
        let mut keys: Vec<&str> = OPTIONS.iter().map(|o| o.key).collect();
        let mut envs: Vec<&str> = OPTIONS.iter().map(|o| o.env).collect();
        keys.sort_unstable();
        keys.dedup();
        envs.sort_unstable();
        envs.dedup();
        assert_eq!((keys.len(), envs.len()), (OPTIONS.len(), OPTIONS.len()));
        for o in OPTIONS {
            let value = match o.kind {
                OptionKind::Number => "7".to_string(),
                OptionKind::Flag => "yes".to_string(),
                OptionKind::Choice(words) => words[words.len() - 1].to_string(),
                OptionKind::Path => "/tmp/x".to_string(),
                OptionKind::Text | OptionKind::Secret => "http://127.0.0.1:9".to_string(),
            };
            let mut c = ZerobusConnection::new("http://127.0.0.1:1");
            let before = format!("{c:?}");
            apply_as(&mut c, o.key, &value, o.env).unwrap_or_else(|e| panic!("{}: {e}", o.key));
            // Every key of the table sets something (a secret shows as <redacted>).
            let after = format!("{c:?}");
            assert!(
                after != before || o.kind == OptionKind::Secret,
                "{} set nothing",
                o.key
            );
            assert_eq!(
                find(&format!("format.{}", o.key.to_uppercase())).map(|f| f.key),
                Some(o.key)
            );
            if matches!(
                o.kind,
                OptionKind::Number | OptionKind::Flag | OptionKind::Choice(_)
            ) {
                let e = apply_as(&mut c, o.key, "??", o.env)
                    .unwrap_err()
                    .to_string();
                assert!(e.contains(&format!("{} '??' is not", o.env)), "{e}");
            }
        }
        let c = ZerobusConnection::new("http://127.0.0.1:1");
        assert_eq!((c.retry_max_attempts, c.max_streams), (5, 16));
    }

    #[test]
    fn the_environment_sets_every_option_by_its_variable() {
        let vars = |k: &str| {
            Some(
                match k {
                    "ZEROBUS_ENDPOINT" => "http://127.0.0.1:1",
                    "DATABRICKS_HOST" => "127.0.0.1:2",
                    "DATABRICKS_CLIENT_ID" => "a",
                    "DATABRICKS_CLIENT_SECRET" => "b",
                    "ZEROBUS_RETRY_MAX_ATTEMPTS" => "2",
                    "ZEROBUS_DEBUG_ENABLED" => "true",
                    "ZEROBUS_DEBUG_OUTPUT_DIR" => "/tmp/dbg",
                    "ZEROBUS_SCHEMA_SOURCE" => "  ",
                    _ => return None,
                }
                .to_string(),
            )
        };
        let c = from_vars(&vars).unwrap();
        assert_eq!(c.retry_max_attempts, 2);
        assert!(c.debug_enabled);
        assert_eq!(c.schema_source, SchemaSource::UnityCatalog);
        // A host without a scheme is https, as DATABRICKS_HOST usually is.
        assert_eq!(c.unity_catalog_url.as_deref(), Some("https://127.0.0.1:2"));
        let e = from_vars(&|k| (k != "ZEROBUS_ENDPOINT").then(|| "x".to_string()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("ZEROBUS_ENDPOINT is not set"), "{e}");
    }
}
