//! Options given in SQL (`CREATE EXTERNAL TABLE … OPTIONS (…)`, `COPY … OPTIONS (…)`):
//! one list of keys and one parser, applied on top of the connection the operator
//! configured.
//!
//! A SQL author may point a table at another endpoint or workspace, but not with the
//! operator's credentials: an `endpoint` or `unity_catalog_url` on another host than the
//! configured one needs `client_id` and `client_secret` in the same OPTIONS, or the
//! statement is refused before anything is sent anywhere.

use std::path::PathBuf;

use crate::config::{SchemaSource, Secret, WrapperConfig};
use crate::error::{Result, ZerobusError};

/// Every key SQL OPTIONS accept, with what it sets.
pub const OPTION_KEYS: &[(&str, &str)] = &[
    ("endpoint", "Zerobus endpoint URL"),
    ("unity_catalog_url", "workspace (Unity Catalog) URL"),
    ("client_id", "OAuth client id"),
    ("client_secret", "OAuth client secret"),
    (
        "retry_max_attempts",
        "attempts for transient failures (1 = no retry)",
    ),
    ("retry_base_delay_ms", "base of the exponential backoff"),
    ("retry_max_delay_ms", "cap of the exponential backoff"),
    ("ack_timeout_ms", "how long an acknowledgement may take"),
    (
        "max_streams",
        "most streams open to the table at once (each is capped by the service)",
    ),
    ("dead_letter_dir", "directory of dead-letter files"),
    ("debug_enabled", "write debug files (true/false)"),
    ("debug_output_dir", "directory of debug files"),
    (
        "debug_flush_interval_secs",
        "how often debug files are flushed",
    ),
    (
        "debug_max_file_size",
        "size at which a debug file is rotated",
    ),
    (
        "allow_plaintext",
        "allow http:// to hosts that are not loopback (true/false)",
    ),
    (
        "observability_enabled",
        "OpenTelemetry metrics and traces (true/false)",
    ),
    ("schema_source", "unity_catalog or arrow_schema"),
];

fn known() -> String {
    OPTION_KEYS
        .iter()
        .map(|(k, _)| *k)
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse<T: std::str::FromStr>(key: &str, value: &str, what: &str) -> Result<T> {
    value.trim().parse().map_err(|_| {
        ZerobusError::Configuration(format!("OPTIONS {key} '{value}' is not {what}").into())
    })
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ZerobusError::Configuration(
            format!("OPTIONS {key} '{value}' is not true or false").into(),
        )),
    }
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

/// Apply one option to `config`. Unknown keys are an error listing the known ones.
pub fn apply_option(config: &mut WrapperConfig, key: &str, value: &str) -> Result<()> {
    let key = normal_key(key);
    let key = key.as_str();
    match key {
        "endpoint" => config.endpoint = value.to_string(),
        "unity_catalog_url" => config.unity_catalog_url = Some(value.to_string()),
        "client_id" => config.client_id = Some(value.to_string()),
        "client_secret" => config.client_secret = Some(Secret::new(value)),
        "retry_max_attempts" => config.retry_max_attempts = parse(key, value, "a number")?,
        "retry_base_delay_ms" => config.retry_base_delay_ms = parse(key, value, "a number")?,
        "retry_max_delay_ms" => config.retry_max_delay_ms = parse(key, value, "a number")?,
        "ack_timeout_ms" => config.ack_timeout_ms = Some(parse(key, value, "a number")?),
        "max_streams" => config.max_streams = parse(key, value, "a number of streams")?,
        "dead_letter_dir" => config.dead_letter_dir = Some(PathBuf::from(value)),
        "debug_enabled" => config.debug_enabled = parse_bool(key, value)?,
        "debug_output_dir" => config.debug_output_dir = Some(PathBuf::from(value)),
        "debug_flush_interval_secs" => {
            config.debug_flush_interval_secs = parse(key, value, "a number")?
        }
        "debug_max_file_size" => config.debug_max_file_size = Some(parse(key, value, "a number")?),
        "allow_plaintext" => config.allow_plaintext = parse_bool(key, value)?,
        "observability_enabled" => config.observability_enabled = parse_bool(key, value)?,
        "schema_source" => {
            config.schema_source = match value.trim().to_ascii_lowercase().as_str() {
                "unity_catalog" => SchemaSource::UnityCatalog,
                "arrow_schema" => SchemaSource::ArrowSchema,
                _ => {
                    return Err(ZerobusError::Configuration(
                        format!(
                            "OPTIONS schema_source '{value}' is not unity_catalog or arrow_schema"
                        )
                        .into(),
                    ))
                }
            }
        }
        other => {
            return Err(ZerobusError::Configuration(
                format!("unknown Zerobus option '{other}' (known: {})", known()).into(),
            ))
        }
    }
    Ok(())
}

/// scheme://host:port of a URL as the client would use it.
fn origin(url: Option<url::Url>) -> Option<(String, String, Option<u16>)> {
    let u = url?;
    Some((
        u.scheme().to_string(),
        u.host_str()?.to_ascii_lowercase(),
        u.port_or_known_default(),
    ))
}

/// `template` with `options` applied (keys case-insensitive). Refused when the options
/// move the endpoint or the UC URL to another host while keeping the template's
/// credentials (see the module docs).
///
/// ```
/// use arrow_zerobus_sdk_wrapper::{options::with_options, WrapperConfig};
/// let template = WrapperConfig::builder("http://127.0.0.1:5000", "main.default.t")
///     .client_id("ops").client_secret("ops-secret")
///     .unity_catalog_url("http://127.0.0.1:8080").build().unwrap();
/// let tuned = with_options(&template, [("retry_max_attempts", "3")]).unwrap();
/// assert_eq!(tuned.retry_max_attempts, 3);
/// let err = with_options(&template, [("unity_catalog_url", "http://127.0.0.1:9977")]).unwrap_err();
/// assert!(err.to_string().contains("client_id and client_secret"));
/// ```
pub fn with_options<'a>(
    template: &WrapperConfig,
    options: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<WrapperConfig> {
    let mut config = template.clone();
    let mut own_id = false;
    let mut own_secret = false;
    for (key, value) in options {
        let lower = normal_key(key);
        own_id |= lower == "client_id";
        own_secret |= lower == "client_secret";
        apply_option(&mut config, &lower, value)?;
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

    fn template() -> WrapperConfig {
        WrapperConfig::builder("http://127.0.0.1:5000", "main.default.t")
            .client_id("ops")
            .client_secret("ops-secret")
            .unity_catalog_url("http://127.0.0.1:8080")
            .build()
            .unwrap()
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
}
