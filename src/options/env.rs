//! Options from the environment: each option's variable.

use super::apply::apply_as;
use super::table::OPTIONS;
use crate::connection::ZerobusConnection;
use crate::error::{Result, ZerobusError};

impl ZerobusConnection {
    /// From the environment: each option's variable of [`OPTIONS`]
    /// (`ZEROBUS_ENDPOINT`, `DATABRICKS_HOST`, `DATABRICKS_CLIENT_ID`,
    /// `DATABRICKS_CLIENT_SECRET`, `ZEROBUS_MAX_STREAMS`, `ZEROBUS_RETRY_MAX_ATTEMPTS`, …),
    /// blank ones ignored. Validated.
    pub fn from_env() -> Result<ZerobusConnection> {
        from_vars(&|key| std::env::var(key).ok())
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
