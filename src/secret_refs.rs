//! Secrets written in SQL OPTIONS, kept out of plans.
//!
//! `COPY … TO 'zerobus://…' OPTIONS ('client_secret' '…')` and `CREATE EXTERNAL TABLE …
//! OPTIONS (…)` carry their options into DataFusion's logical plan, whose Display (EXPLAIN,
//! EXPLAIN VERBOSE) and the optimizer's debug log print them verbatim. Our SQL entry
//! points (`datafusion::sql`, `zerobus-sql`, Python's `fold_sql`) replace such a secret
//! with a reference (`zerobus-secret:<128 random bits>`) before planning, and keep the
//! secret here, in this process only. The option parser resolves the reference
//! ([`crate::options::with_options`]) — and only for the endpoint and Unity Catalog URL
//! written next to it, so a reference copied into another statement cannot carry the
//! secret to another host.
//!
//! ```
//! use arrow_zerobus_sdk_wrapper::secret_refs::keep;
//! let r = keep("s3cr3t", Some("https://ws.example.com"), None);
//! assert!(r.starts_with("zerobus-secret:") && !r.contains("s3cr3t"));
//! ```

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crate::connection::Secret;
use crate::error::{Result, ZerobusError};

/// How a reference starts.
pub const PREFIX: &str = "zerobus-secret:";

/// A kept secret and where it may go: the endpoint and UC URL written in its OPTIONS
/// (`None`: that option was not written, the connection's own applies).
struct Kept {
    secret: Secret,
    endpoint: Option<String>,
    unity_catalog_url: Option<String>,
}

fn vault() -> &'static Mutex<HashMap<String, Kept>> {
    static VAULT: OnceLock<Mutex<HashMap<String, Kept>>> = OnceLock::new();
    VAULT.get_or_init(Mutex::default)
}

/// Keep `secret`, said with `endpoint` and `unity_catalog_url` (as written in the same
/// OPTIONS, if they were), and return the reference that stands for it.
pub fn keep(secret: &str, endpoint: Option<&str>, unity_catalog_url: Option<&str>) -> String {
    let reference = format!("{PREFIX}{:032x}", rand::random::<u128>());
    let kept = Kept {
        secret: Secret::new(secret),
        endpoint: endpoint.map(str::to_string),
        unity_catalog_url: unity_catalog_url.map(str::to_string),
    };
    vault()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(reference.clone(), kept);
    reference
}

/// Whether `value` is a reference.
pub fn is_reference(value: &str) -> bool {
    value.starts_with(PREFIX)
}

/// The secret `reference` stands for, given the endpoint and UC URL written in the
/// OPTIONS it is used in: they must be the ones it was kept with.
pub(crate) fn resolve(
    reference: &str,
    endpoint: Option<&str>,
    unity_catalog_url: Option<&str>,
) -> Result<Secret> {
    let vault = vault().lock().unwrap_or_else(|p| p.into_inner());
    let Some(kept) = vault.get(reference) else {
        return Err(ZerobusError::Configuration(
            "OPTIONS client_secret: this secret reference is unknown in this process (a \
             reference stands for a secret written in a statement of this process)"
                .into(),
        ));
    };
    if kept.endpoint.as_deref() != endpoint
        || kept.unity_catalog_url.as_deref() != unity_catalog_url
    {
        return Err(ZerobusError::Configuration(
            "OPTIONS client_secret: this secret reference was written for another endpoint or \
             Unity Catalog URL; write the secret itself with the host it is for"
                .into(),
        ));
    }
    Ok(kept.secret.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_resolves_only_with_the_hosts_it_was_written_with() {
        let r = keep("s3cr3t", Some("https://a.example.com"), None);
        assert_eq!(
            resolve(&r, Some("https://a.example.com"), None)
                .unwrap()
                .expose(),
            "s3cr3t"
        );
        assert!(resolve(&r, Some("https://evil.example.com"), None).is_err());
        assert!(resolve(&r, None, None).is_err());
        let e = resolve("zerobus-secret:00", None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown"), "{e}");
        assert_ne!(keep("x", None, None), keep("x", None, None));
    }
}
