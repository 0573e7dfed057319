//! The one parser of every option ([`apply_as`]) and its reverse ([`option_value`]).

use std::path::PathBuf;

use super::table::{known, normal_key};
use crate::connection::{
    FlightCompression, NullCollections, SchemaSource, Secret, Transport, ZerobusConnection,
};
use crate::error::{Result, ZerobusError};

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
        "max_inflight_bytes" => c.max_inflight_bytes = parse(said_as, value, "a number of bytes")?,
        "dead_letter_dir" => c.dead_letter_dir = Some(PathBuf::from(value)),
        "journal_dir" => c.journal_dir = Some(PathBuf::from(value)),
        "warehouse_id" => c.warehouse_id = Some(value.to_string()),
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
        "max_inflight_bytes" => Some(c.max_inflight_bytes.to_string()),
        "dead_letter_dir" => path(&c.dead_letter_dir),
        "journal_dir" => path(&c.journal_dir),
        "warehouse_id" => c.warehouse_id.clone(),
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
