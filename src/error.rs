//! Errors of the wrapper: one kind per thing that can go wrong, each message saying what
//! failed, for which table, and what to do. Secrets never appear in a message.

use std::path::PathBuf;

/// `Result` with [`ZerobusError`].
pub type Result<T, E = ZerobusError> = std::result::Result<T, E>;

/// Everything the wrapper can fail with. The Python package raises the class of the same
/// name (`ConfigurationError`, `ConversionError`, …).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ZerobusError {
    /// The configuration is invalid (names the field).
    #[error("configuration error: {0}")]
    Configuration(String),
    /// Credentials were refused.
    #[error("authentication failed: {0}")]
    Authentication(String),
    /// The service could not be reached.
    #[error("connection error: {0}")]
    Connection(String),
    /// The batch cannot be turned into records for the table (names column and row).
    /// Nothing of that batch was sent.
    #[error("conversion error: {0}")]
    Conversion(String),
    /// The service refused the records for a reason retrying cannot fix.
    #[error("transmission error: {0}")]
    Transmission(String),
    /// Retries ran out; the rows that were not acknowledged are in the dead-letter file.
    #[error("{message} after {attempts} attempts; {rows} unacknowledged rows were written to {}", dead_letter.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "no dead-letter file (none configured)".into()))]
    RetryExhausted {
        /// The last error.
        message: String,
        /// Attempts made.
        attempts: u32,
        /// Rows not acknowledged.
        rows: usize,
        /// Where those rows are (Arrow IPC), if written.
        dead_letter: Option<PathBuf>,
    },
    /// A new token could not be obtained.
    #[error("token refresh failed: {0}")]
    TokenRefresh(String),
}

impl ZerobusError {
    /// The kind's name, as the Python exception class is called.
    pub fn kind(&self) -> &'static str {
        match self {
            ZerobusError::Configuration(_) => "ConfigurationError",
            ZerobusError::Authentication(_) => "AuthenticationError",
            ZerobusError::Connection(_) => "ConnectionError",
            ZerobusError::Conversion(_) => "ConversionError",
            ZerobusError::Transmission(_) => "TransmissionError",
            ZerobusError::RetryExhausted { .. } => "RetryExhausted",
            ZerobusError::TokenRefresh(_) => "TokenRefreshError",
        }
    }
}
