//! `NativeEmulator`: the local Zerobus emulator, started inside the Python process (on
//! the module's runtime), for notebooks and tests with no Databricks account.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use zerobus_emulator::{Emulator, EmulatorConfig, EmulatorHandle, Faults, StreamQuota};

use super::runtime::{block_on, runtime};

fn emulator_error(e: impl std::fmt::Display) -> PyErr {
    PyRuntimeError::new_err(format!("zerobus emulator: {e}"))
}

/// A running emulator. `stop()` (or leaving the `with` block of the Python handle)
/// announces a close on every stream, acknowledges what is committed and stops serving.
#[pyclass(
    name = "NativeEmulator",
    module = "arrow_zerobus_sdk_wrapper._native",
    frozen
)]
pub struct NativeEmulator {
    handle: Mutex<Option<Arc<EmulatorHandle>>>,
    endpoint: String,
    unity_catalog_url: String,
    client_id: String,
    client_secret: String,
    warehouse: PathBuf,
}

impl NativeEmulator {
    fn handle(&self) -> PyResult<Arc<EmulatorHandle>> {
        self.handle
            .lock()
            .ok()
            .and_then(|h| h.clone())
            .ok_or_else(|| PyRuntimeError::new_err("the emulator has been stopped"))
    }
}

#[pymethods]
impl NativeEmulator {
    #[new]
    #[pyo3(signature = (warehouse, *, host="127.0.0.1", grpc_port=0, http_port=0,
        token_ttl_secs=None, discard=false, close_stream_after_records=None,
        unavailable_rate=0.0, stream_max_records_per_sec=StreamQuota::SERVICE.records_per_sec,
        stream_max_bytes_per_sec=StreamQuota::SERVICE.bytes_per_sec))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        warehouse: PathBuf,
        host: &str,
        grpc_port: u16,
        http_port: u16,
        token_ttl_secs: Option<f64>,
        discard: bool,
        close_stream_after_records: Option<u64>,
        unavailable_rate: f64,
        stream_max_records_per_sec: u64,
        stream_max_bytes_per_sec: u64,
    ) -> PyResult<Self> {
        let ip: std::net::IpAddr = host
            .parse()
            .map_err(|e| PyValueError::new_err(format!("host '{host}': {e}")))?;
        let mut config = EmulatorConfig::new(&warehouse)
            .with_grpc_addr(SocketAddr::new(ip, grpc_port))
            .with_http_addr(SocketAddr::new(ip, http_port))
            .with_discard(discard)
            .with_stream_quota(StreamQuota {
                records_per_sec: stream_max_records_per_sec,
                bytes_per_sec: stream_max_bytes_per_sec,
            })
            .with_faults(Faults {
                close_stream_after_records,
                unavailable_rate,
                ..Faults::default()
            });
        if let Some(ttl) = token_ttl_secs {
            if !(ttl.is_finite() && ttl > 0.0) {
                return Err(PyValueError::new_err(format!(
                    "token_ttl_secs must be positive, got {ttl}"
                )));
            }
            config = config.with_token_ttl(Duration::from_secs_f64(ttl));
        }
        let handle = block_on(py, async move {
            // Spawned on the module runtime, so the servers outlive this call.
            runtime()
                .spawn(Emulator::start(config))
                .await
                .map_err(emulator_error)?
                .map_err(emulator_error)
        })?;
        Ok(NativeEmulator {
            endpoint: handle.grpc_url(),
            unity_catalog_url: handle.http_url(),
            client_id: handle.client_id().to_string(),
            client_secret: handle.client_secret().to_string(),
            warehouse: handle.warehouse().to_path_buf(),
            handle: Mutex::new(Some(Arc::new(handle))),
        })
    }

    /// Create UC table `name` (`catalog.schema.table`) with `columns` in Databricks SQL
    /// spelling (`"id BIGINT NOT NULL, tags ARRAY<STRING>"`); returns its Delta directory.
    fn create_table(&self, py: Python<'_>, name: String, columns: String) -> PyResult<String> {
        let handle = self.handle()?;
        block_on(
            py,
            async move { handle.create_table(&name, &columns).await },
        )
        .map(|p| p.display().to_string())
        .map_err(emulator_error)
    }

    /// The Delta directory of table `name`, or None.
    fn table_location(&self, name: &str) -> PyResult<Option<String>> {
        Ok(self
            .handle()?
            .table_location(name)
            .map(|p| p.display().to_string()))
    }

    /// Streams opened since start (reconnections included).
    fn streams_opened(&self) -> PyResult<u64> {
        Ok(self.handle()?.streams_opened())
    }

    /// Per-table figures as JSON text (what `GET /zerobus-emulator/v1/stats` shows).
    fn stats_json(&self) -> PyResult<String> {
        serde_json::to_string(&serde_json::json!({"tables": self.handle()?.stats()}))
            .map_err(emulator_error)
    }

    /// Stop serving; a second call does nothing.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        let taken = self.handle.lock().ok().and_then(|mut h| h.take());
        let Some(handle) = taken else { return Ok(()) };
        let handle = match Arc::try_unwrap(handle) {
            Ok(h) => h,
            Err(still_shared) => {
                if let Ok(mut h) = self.handle.lock() {
                    *h = Some(still_shared);
                }
                return Err(PyRuntimeError::new_err(
                    "the emulator is busy; stop it when no call is running",
                ));
            }
        };
        block_on(py, handle.shutdown());
        Ok(())
    }

    #[getter]
    fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    #[getter]
    fn unity_catalog_url(&self) -> String {
        self.unity_catalog_url.clone()
    }

    #[getter]
    fn client_id(&self) -> String {
        self.client_id.clone()
    }

    #[getter]
    fn client_secret(&self) -> String {
        self.client_secret.clone()
    }

    #[getter]
    fn warehouse(&self) -> String {
        self.warehouse.display().to_string()
    }

    fn __repr__(&self) -> String {
        format!(
            "Emulator(endpoint={:?}, unity_catalog_url={:?}, warehouse={:?})",
            self.endpoint,
            self.unity_catalog_url,
            self.warehouse.display().to_string()
        )
    }
}
