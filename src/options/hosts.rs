//! Which hosts a table's OPTIONS may name with the configured credentials.

use super::apply::apply;
use super::table::normal_key;
use crate::connection::ZerobusConnection;
use crate::error::{Result, ZerobusError};

/// `scheme://host:port` of `url` (host lower-cased, default port made explicit), or the
/// text itself when it does not parse: two URLs of one origin compare equal.
#[cfg(feature = "ballista")]
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
