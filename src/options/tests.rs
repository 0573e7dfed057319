//! The options table against its parser, readers and the environment.

use super::env::from_vars;
use super::*;
use crate::connection::{SchemaSource, ZerobusConnection};

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
        ("max_inflight_bytes", "1048576"),
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
