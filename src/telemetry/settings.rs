//! What to export where: [`ExportSettings`] from `observability_config` and the standard
//! `OTEL_*` variables, each value checked (a header's value is never shown).

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use crate::error::{Result, ZerobusError};

/// Keys accepted in `observability_config`.
pub const CONFIG_KEYS: [&str; 6] = [
    "endpoint",
    "protocol",
    "headers",
    "export_interval_ms",
    "timeout_ms",
    "service_name",
];

/// OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// OTLP over gRPC (tonic).
    Grpc,
    /// OTLP over HTTP with protobuf bodies.
    HttpProtobuf,
}

/// The exporter settings, from `observability_config` (validated) and the environment.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ExportSettings {
    /// Collector URL (`None`: the exporter's own default and `OTEL_EXPORTER_OTLP_*`).
    pub endpoint: Option<String>,
    /// Transport.
    pub protocol: Protocol,
    /// Extra headers (`None`: `OTEL_EXPORTER_OTLP_HEADERS`).
    pub headers: Option<Vec<(String, String)>>,
    /// Metric push interval (`None`: `OTEL_METRIC_EXPORT_INTERVAL` or 60 s).
    pub export_interval: Option<Duration>,
    /// Per-export timeout (`None`: `OTEL_EXPORTER_OTLP_TIMEOUT` or 10 s).
    pub timeout: Option<Duration>,
    /// `service.name` (`None`: `OTEL_SERVICE_NAME` or `arrow-zerobus`).
    pub service_name: Option<String>,
}

impl fmt::Debug for ExportSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values are credentials more often than not.
        let headers: Option<Vec<String>> = self
            .headers
            .as_ref()
            .map(|h| h.iter().map(|(k, _)| format!("{k}=<redacted>")).collect());
        f.debug_struct("ExportSettings")
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.protocol)
            .field("headers", &headers)
            .field("export_interval", &self.export_interval)
            .field("timeout", &self.timeout)
            .field("service_name", &self.service_name)
            .finish()
    }
}

pub(super) fn config_error(key: &str, why: impl fmt::Display) -> ZerobusError {
    ZerobusError::Configuration(format!("observability_config['{key}']: {why}").into())
}

/// The variable the OTLP exporter reads its headers from when the map has none.
pub(super) const HEADERS_VARIABLE: &str = "OTEL_EXPORTER_OTLP_HEADERS";

/// Parse `key=value,key2=value2` (the `OTEL_EXPORTER_OTLP_HEADERS` format). An error
/// names the entry by its place, never any part of it: it may hold a credential.
pub(super) fn parse_headers(raw: &str) -> Result<Vec<(String, String)>> {
    parse_headers_from(raw, |why| config_error("headers", why))
}

pub(super) fn parse_headers_from(
    raw: &str,
    error: impl Fn(String) -> ZerobusError,
) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (i, pair) in raw
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .enumerate()
    {
        // The entry itself is not shown: it may hold a credential.
        let Some((k, v)) = pair.split_once('=') else {
            return Err(error(format!(
                "entry {} is not key=value (write key=value,key2=value2)",
                i + 1
            )));
        };
        let k = k.trim();
        if k.is_empty()
            || !k
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(error(format!(
                "entry {} does not start with a header name (letters, digits, '-', '_', '.') \
                 before its '='",
                i + 1
            )));
        }
        out.push((k.to_ascii_lowercase(), v.trim().to_string()));
    }
    Ok(out)
}

pub(super) fn parse_ms(map: &HashMap<String, String>, key: &str) -> Result<Option<Duration>> {
    map.get(key)
        .map(|v| match v.trim().parse::<u64>() {
            Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
            _ => Err(config_error(
                key,
                format!("'{v}' is not a positive number of milliseconds"),
            )),
        })
        .transpose()
}

/// Refuse a malformed `OTEL_EXPORTER_OTLP_HEADERS`, naming the variable and the entry.
pub(super) fn check_headers_variable(raw: &str) -> Result<()> {
    parse_headers_from(raw, |why| {
        ZerobusError::Configuration(format!("{HEADERS_VARIABLE}: {why}").into())
    })
    .map(|_| ())
}

impl ExportSettings {
    /// Read `observability_config` (unknown keys and bad values are errors naming the
    /// key) and `OTEL_EXPORTER_OTLP_PROTOCOL` for the transport when the map has none.
    pub fn from_config(map: Option<&HashMap<String, String>>) -> Result<ExportSettings> {
        let empty = HashMap::new();
        let map = map.unwrap_or(&empty);
        if let Some(k) = map.keys().find(|k| !CONFIG_KEYS.contains(&k.as_str())) {
            return Err(config_error(
                k,
                format!("unknown key; known keys: {}", CONFIG_KEYS.join(", ")),
            ));
        }
        let protocol_source = map
            .get("protocol")
            .map(|p| ("protocol", p.clone()))
            .or_else(|| {
                std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL")
                    .ok()
                    .map(|p| ("OTEL_EXPORTER_OTLP_PROTOCOL", p))
            });
        let protocol = match protocol_source {
            None => Protocol::Grpc,
            Some((source, p)) => match p.trim().to_ascii_lowercase().as_str() {
                "grpc" => Protocol::Grpc,
                "http/protobuf" | "http" => Protocol::HttpProtobuf,
                other => {
                    return Err(config_error(
                        source,
                        format!("'{other}' is not supported; use grpc or http/protobuf"),
                    ))
                }
            },
        };
        let endpoint = match map.get("endpoint").map(|e| e.trim()) {
            None => None,
            Some(e) => {
                let url = url::Url::parse(e).map_err(|err| {
                    config_error("endpoint", format!("'{e}' is not a URL ({err})"))
                })?;
                if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                    return Err(config_error(
                        "endpoint",
                        format!("'{e}' must be http://host:port or https://host:port"),
                    ));
                }
                Some(e.trim_end_matches('/').to_string())
            }
        };
        let headers = map.get("headers").map(|h| parse_headers(h)).transpose()?;
        if headers.is_none() {
            // The exporter reads the variable itself and skips an entry it cannot parse:
            // a mistyped auth header would go missing without a word. Check it here.
            if let Ok(raw) = std::env::var(HEADERS_VARIABLE) {
                check_headers_variable(&raw)?;
            }
        }
        let service_name = match map.get("service_name").map(|s| s.trim()) {
            Some("") => return Err(config_error("service_name", "is empty")),
            s => s.map(str::to_string),
        };
        Ok(ExportSettings {
            endpoint,
            protocol,
            headers,
            export_interval: parse_ms(map, "export_interval_ms")?,
            timeout: parse_ms(map, "timeout_ms")?,
            service_name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn error_of(pairs: &[(&str, &str)]) -> String {
        match ExportSettings::from_config(Some(&map(pairs))) {
            Err(ZerobusError::Configuration(m)) => m.to_string(),
            other => panic!("expected a ConfigurationError, got {other:?}"),
        }
    }

    #[test]
    fn settings_are_read_and_checked() {
        let s = ExportSettings::from_config(Some(&map(&[
            ("endpoint", "http://127.0.0.1:4318/"),
            ("protocol", "http/protobuf"),
            ("headers", "Authorization=Bearer abc, x-team = data"),
            ("export_interval_ms", "250"),
            ("service_name", "loader"),
        ])))
        .unwrap();
        assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:4318"));
        assert_eq!(s.protocol, Protocol::HttpProtobuf);
        assert_eq!(
            s.headers.as_deref(),
            Some(
                &[
                    ("authorization".to_string(), "Bearer abc".to_string()),
                    ("x-team".to_string(), "data".to_string())
                ][..]
            )
        );
        assert_eq!(s.export_interval, Some(Duration::from_millis(250)));
        let shown = format!("{s:?}");
        assert!(!shown.contains("abc"), "{shown}");
        assert!(shown.contains("authorization=<redacted>"), "{shown}");

        assert!(error_of(&[("endpont", "x")]).contains("['endpont']: unknown key"));
        assert!(error_of(&[("protocol", "http/json")]).contains("use grpc or http/protobuf"));
        assert!(error_of(&[("endpoint", "collector:4317")]).contains("['endpoint']"));
        assert!(error_of(&[("export_interval_ms", "0")]).contains("positive"));
        assert!(error_of(&[("timeout_ms", "soon")]).contains("['timeout_ms']"));
        let m = error_of(&[("headers", "Authorization: Bearer s3cr3t")]);
        assert!(m.contains("not key=value") && !m.contains("s3cr3t"), "{m}");
        // A colon instead of '=' before base64 padding: the name part would be the
        // credential; nothing of it is echoed.
        let m = error_of(&[("headers", "x-team=a, Authorization: Basic dXNlcjpwYXNz==")]);
        assert!(m.contains("entry 2") && !m.contains("dXNlcjpwYXNz"), "{m}");
        let m = check_headers_variable("Authorization: Basic dXNlcjpwYXNz==")
            .unwrap_err()
            .to_string();
        assert!(
            m.contains("OTEL_EXPORTER_OTLP_HEADERS")
                && m.contains("entry 1")
                && !m.contains("dXNl"),
            "{m}"
        );
        assert!(check_headers_variable("api-key=abc%3D%3D,x=y").is_ok());
    }
}
