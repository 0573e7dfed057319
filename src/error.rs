//! Errors of the wrapper: one kind per thing that can go wrong, each message saying what
//! failed, for which table, and what to do. Secrets never appear in a message.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// `Result` with [`ZerobusError`].
pub type Result<T, E = ZerobusError> = std::result::Result<T, E>;

/// What went wrong, in words for people, and the error that caused it (if any) for code:
/// an SDK, tonic, reqwest or I/O error is kept whole as the [`std::error::Error::source`]
/// of the [`ZerobusError`] that carries this, rather than only as text.
///
/// It reads as its message (`Display`, and `Deref` to `str`), so matching on a kind and
/// reading its text work as with a `String`.
///
/// ```
/// use arrow_zerobus_sdk_wrapper::error::{Detail, ZerobusError};
/// use std::error::Error as _;
///
/// let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
/// let e = ZerobusError::Configuration(Detail::new("dead_letter_dir: cannot write /x").caused_by(io));
/// assert_eq!(e.to_string(), "configuration error: dead_letter_dir: cannot write /x");
/// assert_eq!(e.source().unwrap().to_string(), "denied");
/// ```
#[derive(Clone)]
pub struct Detail {
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl Detail {
    /// A message with no underlying error.
    pub fn new(message: impl Into<String>) -> Self {
        Detail {
            message: message.into(),
            source: None,
        }
    }

    /// Keep `cause` as the source.
    pub fn caused_by(self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.caused_by_shared(Arc::new(cause))
    }

    /// Keep an already shared `cause` as the source.
    pub fn caused_by_shared(mut self, cause: Arc<dyn std::error::Error + Send + Sync>) -> Self {
        self.source = Some(cause);
        self
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same source with another message (to add where the rows went, say).
    pub fn reworded(&self, message: impl Into<String>) -> Self {
        Detail {
            message: message.into(),
            source: self.source.clone(),
        }
    }

    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl std::ops::Deref for Detail {
    type Target = str;
    fn deref(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Detail {
    // The source by its message: its own Debug may show more than its Display does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Detail");
        d.field("message", &self.message);
        if let Some(s) = &self.source {
            d.field("source", &s.to_string());
        }
        d.finish()
    }
}

impl From<String> for Detail {
    fn from(message: String) -> Self {
        Detail::new(message)
    }
}

impl From<&str> for Detail {
    fn from(message: &str) -> Self {
        Detail::new(message)
    }
}

/// Everything the wrapper can fail with. The Python package raises the class of the same
/// name (`ConfigurationError`, `ConversionError`, …). Where another error caused it, that
/// error is the [`source`](std::error::Error::source).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ZerobusError {
    /// The configuration is invalid (names the field).
    Configuration(Detail),
    /// Credentials were refused.
    Authentication(Detail),
    /// The service could not be reached.
    Connection(Detail),
    /// The batch cannot be turned into records for the table (names column and row).
    /// Nothing of that batch was sent.
    Conversion(Detail),
    /// The service refused the records for a reason retrying cannot fix.
    Transmission(Detail),
    /// Retries ran out; the rows that were not acknowledged are in the dead-letter file.
    RetryExhausted {
        /// The last error (its source is the SDK's error).
        message: Detail,
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
    TokenRefresh(Detail),
    /// A load of many batches stopped: the first failure, with the account of every row.
    /// Its kind is the kind of that failure, and its source is that failure.
    LoadIncomplete(Box<LoadFailure>),
}

impl fmt::Display for ZerobusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZerobusError::Configuration(d) => write!(f, "configuration error: {d}"),
            ZerobusError::Authentication(d) => write!(f, "authentication failed: {d}"),
            ZerobusError::Connection(d) => write!(f, "connection error: {d}"),
            ZerobusError::Conversion(d) => write!(f, "conversion error: {d}"),
            ZerobusError::Transmission(d) => write!(f, "transmission error: {d}"),
            ZerobusError::TokenRefresh(d) => write!(f, "token refresh failed: {d}"),
            ZerobusError::RetryExhausted {
                message,
                attempts,
                rows,
                dead_letter,
                dead_letter_error,
            } => {
                write!(
                    f,
                    "{message} after {attempts} attempts; {rows} unacknowledged rows "
                )?;
                match (dead_letter, dead_letter_error) {
                    (Some(p), _) => write!(f, "were written to {}", p.display()),
                    (None, Some(e)) => write!(f, "could not be written to a dead-letter file: {e}"),
                    (None, None) => f.write_str("could not be written to a dead-letter file"),
                }
            }
            ZerobusError::LoadIncomplete(failure) => write!(f, "{failure}"),
        }
    }
}

impl std::error::Error for ZerobusError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ZerobusError::Configuration(d)
            | ZerobusError::Authentication(d)
            | ZerobusError::Connection(d)
            | ZerobusError::Conversion(d)
            | ZerobusError::Transmission(d)
            | ZerobusError::TokenRefresh(d)
            | ZerobusError::RetryExhausted { message: d, .. } => d.source(),
            ZerobusError::LoadIncomplete(failure) => Some(&failure.source),
        }
    }
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
    /// The first `ZerobusError` in `e`'s chain of sources (`e` itself included): ours,
    /// carried through another library's error (a DataFusion `External`, say).
    pub fn find_in(e: &(dyn std::error::Error + 'static)) -> Option<ZerobusError> {
        let mut cause = Some(e);
        while let Some(c) = cause {
            if let Some(ours) = c.downcast_ref::<ZerobusError>() {
                return Some(ours.clone());
            }
            cause = c.source();
        }
        None
    }

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

/// A DataFusion error that carries ours (its kind, message and source), so that our front
/// ends find it again ([`ZerobusError::find_in`]).
#[cfg(feature = "datafusion")]
impl From<ZerobusError> for datafusion::error::DataFusionError {
    fn from(e: ZerobusError) -> Self {
        datafusion::error::DataFusionError::External(Box::new(e))
    }
}
