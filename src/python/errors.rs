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

/// The Python exception for `e`. `RetryExhausted` carries `attempts`, `rows` and
/// `dead_letter` (a path string or None) as attributes.
pub(crate) fn to_py(e: Error) -> PyErr {
    let message = e.to_string();
    match e {
        Error::Configuration(_) => ConfigurationError::new_err(message),
        Error::Authentication(_) => AuthenticationError::new_err(message),
        Error::Connection(_) => ConnectionError::new_err(message),
        Error::Conversion(_) => ConversionError::new_err(message),
        Error::Transmission(_) => TransmissionError::new_err(message),
        Error::TokenRefresh(_) => TokenRefreshError::new_err(message),
        Error::RetryExhausted {
            attempts,
            rows,
            dead_letter,
            ..
        } => Python::attach(|py| {
            let err = RetryExhausted::new_err(message);
            let value = err.value(py);
            let _ = value.setattr("attempts", attempts);
            let _ = value.setattr("rows", rows);
            let _ = value.setattr("dead_letter", dead_letter.map(|p| p.display().to_string()));
            err
        }),
    }
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
