//! The contract's exception classes, raised from the matching [`ZerobusError`] kinds.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

use crate::error::ZerobusError as Error;

create_exception!(
    _native,
    ZerobusError,
    PyException,
    "Base class of every error raised by arrow_zerobus_sdk_wrapper."
);
create_exception!(
    _native,
    ConfigurationError,
    ZerobusError,
    "The configuration is invalid; the message names the field."
);
create_exception!(
    _native,
    AuthenticationError,
    ZerobusError,
    "The credentials were refused."
);
create_exception!(
    _native,
    ConnectionError,
    ZerobusError,
    "The service could not be reached."
);
create_exception!(
    _native,
    ConversionError,
    ZerobusError,
    "The Arrow data cannot be written to the table (names the column and row); nothing of it was sent."
);
create_exception!(
    _native,
    TransmissionError,
    ZerobusError,
    "The service refused the records for a reason retrying cannot fix."
);
create_exception!(
    _native,
    RetryExhausted,
    ZerobusError,
    "Retries ran out; `dead_letter` names the Arrow IPC file holding the unacknowledged rows."
);
create_exception!(
    _native,
    TokenRefreshError,
    ZerobusError,
    "A new OAuth token could not be obtained."
);

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("ZerobusError", py.get_type::<ZerobusError>())?;
    m.add("ConfigurationError", py.get_type::<ConfigurationError>())?;
    m.add("AuthenticationError", py.get_type::<AuthenticationError>())?;
    m.add("ConnectionError", py.get_type::<ConnectionError>())?;
    m.add("ConversionError", py.get_type::<ConversionError>())?;
    m.add("TransmissionError", py.get_type::<TransmissionError>())?;
    m.add("RetryExhausted", py.get_type::<RetryExhausted>())?;
    m.add("TokenRefreshError", py.get_type::<TokenRefreshError>())?;
    Ok(())
}

/// The Python exception for `e`. Every exception carries `dead_letters` (a list of path
/// strings, empty when no row was dead-lettered); `RetryExhausted` also `attempts`, `rows`
/// and `dead_letter` (the first path or None); an error that stopped a load of many
/// batches also `rows_read`, `rows_acknowledged`, `rows_dead_lettered` and
/// `input_complete`.
pub(crate) fn to_py(e: Error) -> PyErr {
    let message = e.to_string();
    let dead_letters: Vec<String> = e
        .dead_letters()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let (kind, load) = match e {
        Error::LoadIncomplete(f) => {
            let f = *f;
            let load = (
                f.rows_read,
                f.rows_acknowledged,
                f.rows_dead_lettered,
                f.input_complete,
            );
            (f.source, Some(load))
        }
        other => (other, None),
    };
    let err = match &kind {
        Error::Configuration(_) => ConfigurationError::new_err(message),
        Error::Authentication(_) => AuthenticationError::new_err(message),
        Error::Connection(_) => ConnectionError::new_err(message),
        Error::Conversion(_) => ConversionError::new_err(message),
        Error::Transmission(_) | Error::LoadIncomplete(_) => TransmissionError::new_err(message),
        Error::TokenRefresh(_) => TokenRefreshError::new_err(message),
        Error::RetryExhausted { .. } => RetryExhausted::new_err(message),
    };
    Python::attach(|py| {
        let value = err.value(py);
        if let Error::RetryExhausted {
            attempts,
            rows,
            dead_letter,
            ..
        } = &kind
        {
            let _ = value.setattr("attempts", *attempts);
            let _ = value.setattr("rows", *rows);
            let first = dead_letter
                .as_ref()
                .map(|p| p.display().to_string())
                .or_else(|| dead_letters.first().cloned());
            let _ = value.setattr("dead_letter", first);
        }
        if let Some((read, acked, dead, complete)) = load {
            let _ = value.setattr("rows_read", read);
            let _ = value.setattr("rows_acknowledged", acked);
            let _ = value.setattr("rows_dead_lettered", dead);
            let _ = value.setattr("input_complete", complete);
        }
        let _ = value.setattr("dead_letters", dead_letters);
    });
    err
}

/// A DataFusion error raised as the Python exception of the Zerobus error inside it, if
/// there is one (so an INSERT that fails conversion raises ConversionError).
pub(crate) fn df_to_py(e: datafusion::error::DataFusionError) -> PyErr {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if let Some(z) = err.downcast_ref::<Error>() {
            return to_py(z.clone());
        }
        source = err.source();
    }
    ZerobusError::new_err(e.to_string())
}
