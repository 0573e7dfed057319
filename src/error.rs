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
    #[error("{message} after {attempts} attempts; {rows} unacknowledged rows {}", match (dead_letter, dead_letter_error) {
        (Some(p), _) => format!("were written to {}", p.display()),
        (None, Some(e)) => format!("could not be written to a dead-letter file: {e}"),
        (None, None) => "could not be written to a dead-letter file".to_string(),
    })]
    RetryExhausted {
        /// The last error.
        message: String,
        /// Attempts made.
        attempts: u32,
        /// Rows not acknowledged.
        rows: usize,
        /// Where those rows are (Arrow IPC), if written.
        dead_letter: Option<PathBuf>,
        /// Why they could not be written, if they were not.
        dead_letter_error: Option<String>,
    },
    /// A new token could not be obtained.
    #[error("token refresh failed: {0}")]
    TokenRefresh(String),
    /// A load of many batches stopped: the first failure, with the account of every row.
    /// Its kind is the kind of that failure.
    #[error("{}", .0)]
    LoadIncomplete(Box<LoadFailure>),
}

/// The account of a load that stopped (see [`ZerobusError::LoadIncomplete`]).
#[derive(Debug, Clone)]
pub struct LoadFailure {
    /// The first failure.
    pub source: ZerobusError,
    /// Rows taken from the input.
    pub rows_read: u64,
    /// Rows durably acknowledged (in the table).
    pub rows_acknowledged: u64,
    /// Rows in the dead-letter files.
    pub rows_dead_lettered: u64,
    /// Rows that are in neither (a dead-letter file could not be written: see `source`).
    pub rows_unaccounted: u64,
    /// Every dead-letter file written by the load, in the order they were written.
    pub dead_letters: Vec<PathBuf>,
    /// True when the input was read to its end; false when the load stopped reading.
    pub input_complete: bool,
}

impl std::fmt::Display for LoadFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}; the load stopped: {} rows read, {} acknowledged, {} dead-lettered",
            self.source, self.rows_read, self.rows_acknowledged, self.rows_dead_lettered
        )?;
        if self.rows_unaccounted > 0 {
            write!(f, ", {} neither (see above)", self.rows_unaccounted)?;
        }
        if !self.dead_letters.is_empty() {
            let files: Vec<String> = self
                .dead_letters
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            write!(f, "; dead-letter files: {}", files.join(", "))?;
        }
        if !self.input_complete {
            write!(
                f,
                "; the input was not read to the end: re-run the statement (delivery is at-least-once) \
                 or send the rest, and replay the dead-letter files"
            )?;
        }
        Ok(())
    }
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
            ZerobusError::LoadIncomplete(f) => f.source.kind(),
        }
    }

    /// Dead-letter files this error reports (the one of a `RetryExhausted`, every one of a
    /// stopped load).
    pub fn dead_letters(&self) -> Vec<PathBuf> {
        match self {
            ZerobusError::RetryExhausted {
                dead_letter: Some(p),
                ..
            } => vec![p.clone()],
            ZerobusError::LoadIncomplete(f) => f.dead_letters.clone(),
            _ => Vec::new(),
        }
    }
}
