//! `NativeWrapper`: the Rust [`ZerobusWrapper`] behind the Python `ZerobusWrapper`.

use std::path::PathBuf;
use std::time::Instant;

use arrow::record_batch::{RecordBatch, RecordBatchReader};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::arrow_input::batches;
use super::errors::to_py;
use super::keywords;
use super::runtime::{block_on, runtime};
use crate::error::Result;
use crate::wrapper::{Interrupt, TransmissionResult, ZerobusWrapper};

/// The fields of the Python `TransmissionResult`, in its order.
type ResultTuple = (
    bool,
    Option<String>,
    u32,
    Option<u64>,
    usize,
    usize,
    Option<i64>,
);

fn tuple(r: TransmissionResult) -> ResultTuple {
    (
        r.success,
        r.error,
        r.attempts,
        r.latency_ms,
        r.batch_size_bytes,
        r.rows,
        r.ack_offset,
    )
}

/// The batches of `reader`, pulled on a blocking thread (a reader backed by a Python
/// generator, a dataset scan or a database cursor blocks, and takes the GIL: on the
/// runtime's few worker threads it would stall acknowledgements and timers). Two batches
/// wait at most; the thread stops when the receiver is dropped.
fn read_on_a_thread(
    reader: Box<dyn RecordBatchReader + Send>,
) -> impl futures::Stream<Item = std::result::Result<RecordBatch, arrow::error::ArrowError>> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    tokio::task::spawn_blocking(move || {
        for batch in reader {
            if tx.blocking_send(batch).is_err() {
                break;
            }
        }
    });
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Send every batch of `reader` (a single batch, a Table, a stream: never concatenated)
/// with [`ZerobusWrapper::send_all`] and sum the results. A failure carries the account of
/// every row (`LoadIncomplete`, raised as the class of the first failure).
pub(crate) async fn send_reader(
    wrapper: ZerobusWrapper,
    reader: Box<dyn RecordBatchReader + Send>,
    interrupt: Option<&Interrupt>,
) -> Result<TransmissionResult> {
    let started = Instant::now();
    let summary = wrapper
        .send_all_until(read_on_a_thread(reader), &|_| {}, interrupt)
        .await?;
    Ok(TransmissionResult {
        success: true,
        error: None,
        attempts: summary.max_attempts,
        latency_ms: Some(started.elapsed().as_millis() as u64),
        batch_size_bytes: summary.bytes as usize,
        rows: summary.rows as usize,
        ack_offset: summary.ack_offset,
    })
}

/// The Rust half of `arrow_zerobus_sdk_wrapper.ZerobusWrapper`.
#[pyclass(
    name = "NativeWrapper",
    module = "arrow_zerobus_sdk_wrapper._native",
    frozen
)]
pub struct NativeWrapper {
    inner: ZerobusWrapper,
}

#[pymethods]
impl NativeWrapper {
    /// Every keyword is optional: one not given (or None) keeps the default of
    /// [`crate::ZerobusConnection::new`], the one place defaults are written (the Python
    /// signature repeats them for its users, and a test holds the two equal through
    /// `_native.DEFAULTS`). The keywords are the keys of [`crate::options::OPTIONS`],
    /// checked by its parser.
    #[new]
    #[pyo3(signature = (endpoint, table_name, **options))]
    fn new(
        py: Python<'_>,
        endpoint: String,
        table_name: String,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let config = keywords::connection(endpoint, options)?
            .for_table(table_name)
            .map_err(to_py)?;
        // The wrapper starts its debug-file flusher on the runtime.
        let _guard = runtime().enter();
        let inner = py.detach(|| ZerobusWrapper::new(config)).map_err(to_py)?;
        Ok(NativeWrapper { inner })
    }

    /// Send `data` (anything with `__arrow_c_array__` or `__arrow_c_stream__`); returns an
    /// awaitable of the TransmissionResult fields.
    fn send_batch<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let reader = batches(data)?;
        let w = self.inner.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            send_reader(w, reader, None).await.map(tuple).map_err(to_py)
        })
    }

    /// As `send_batch`, blocking, with the GIL released. Ctrl-C (KeyboardInterrupt) stops
    /// the load: nothing more is read, the batches in flight settle, and KeyboardInterrupt
    /// is raised with the load's account as its `__cause__`.
    fn send_batch_sync(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<ResultTuple> {
        let reader = batches(data)?;
        let w = self.inner.clone();
        interruptible(py, move |stop| async move {
            send_reader(w, reader, Some(&stop)).await
        })
        .map(tuple)
    }

    /// A journaled load of files (`load::copy_into`), blocking, Ctrl-C as for
    /// `send_batch_sync`; returns the summary's fields and its one-line account.
    #[pyo3(signature = (inputs, file_format=None, force=false, journal_dir=None, source_file_column=None, source_row_column=None))]
    #[allow(clippy::too_many_arguments)]
    fn copy_into_sync<'py>(
        &self,
        py: Python<'py>,
        inputs: Vec<String>,
        file_format: Option<String>,
        force: bool,
        journal_dir: Option<PathBuf>,
        source_file_column: Option<String>,
        source_row_column: Option<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let format = file_format
            .as_deref()
            .map(crate::load::FileFormat::parse)
            .transpose()
            .map_err(to_py)?;
        let options = crate::load::CopyOptions {
            format,
            force,
            journal_dir,
            service: None,
            source_file_column,
            source_row_column,
        };
        let w = self.inner.clone();
        let s = interruptible(py, move |stop| async move {
            crate::load::copy_into(&w, &inputs, &options, &|_| {}, Some(&stop)).await
        })?;
        let d = PyDict::new(py);
        d.set_item("table", &s.table)?;
        d.set_item("load", &s.load)?;
        d.set_item("journal", &s.journal)?;
        d.set_item("files", s.files)?;
        d.set_item("files_skipped", s.files_skipped)?;
        d.set_item("files_loaded", s.files_loaded)?;
        d.set_item("rows_sent", s.rows_sent)?;
        d.set_item("rows_acknowledged", s.rows_acknowledged)?;
        d.set_item("rows_skipped", s.rows_skipped)?;
        d.set_item("rows_resent", s.rows_resent)?;
        d.set_item("rows_dead_lettered", s.rows_dead_lettered)?;
        d.set_item("dead_letters_superseded", s.dead_letters_superseded.clone())?;
        d.set_item("seconds", s.seconds)?;
        d.set_item("summary", s.to_string())?;
        Ok(d)
    }

    fn flush<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let w = self.inner.clone();
        pyo3_async_runtimes::tokio::future_into_py(
            py,
            async move { w.flush().await.map_err(to_py) },
        )
    }

    fn flush_sync(&self, py: Python<'_>) -> PyResult<()> {
        let w = self.inner.clone();
        block_on(py, async move { w.flush().await }).map_err(to_py)
    }

    fn shutdown<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let w = self.inner.clone();
        pyo3_async_runtimes::tokio::future_into_py(
            py,
            async move { w.shutdown().await.map_err(to_py) },
        )
    }

    fn shutdown_sync(&self, py: Python<'_>) -> PyResult<()> {
        let w = self.inner.clone();
        block_on(py, async move { w.shutdown().await }).map_err(to_py)
    }

    /// Resend the rows of a dead-letter file; returns the rows acknowledged.
    fn replay_dead_letters_sync(&self, py: Python<'_>, path: PathBuf) -> PyResult<usize> {
        let w = self.inner.clone();
        block_on(py, async move { w.replay_dead_letters(&path).await }).map_err(to_py)
    }

    /// The debug files written so far.
    fn debug_files(&self) -> Vec<String> {
        self.inner
            .debug_files()
            .into_iter()
            .map(|p| p.display().to_string())
            .collect()
    }

    #[getter]
    fn table_name(&self) -> String {
        self.inner.config().table_name.clone()
    }

    #[getter]
    fn endpoint(&self) -> String {
        self.inner.config().endpoint.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "ZerobusWrapper(endpoint={:?}, table_name={:?})",
            self.inner.config().endpoint,
            self.inner.config().table_name
        )
    }
}

/// `work` run on the runtime while Python keeps its signals: a Ctrl-C sets the work's
/// [`Interrupt`] (nothing more is read, what is in flight settles) and is raised as
/// KeyboardInterrupt once the work ended, with the work's error as its `__cause__`.
fn interruptible<T, F, Fut>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send + 'static,
    F: FnOnce(Interrupt) -> Fut,
    Fut: std::future::Future<Output = Result<T>> + Send + 'static,
{
    let interrupt = Interrupt::new();
    let mut handle = runtime().spawn(work(interrupt.clone()));
    let tick = std::time::Duration::from_millis(100);
    let mut keyboard = None;
    let joined = loop {
        // The timer is made inside the runtime (it needs its reactor).
        let waited = py
            .detach(|| runtime().block_on(async { tokio::time::timeout(tick, &mut handle).await }));
        if let Ok(joined) = waited {
            break joined;
        }
        if keyboard.is_none() {
            if let Err(e) = py.check_signals() {
                interrupt.set();
                keyboard = Some(e);
            }
        }
    };
    let result = joined
        .map_err(|e| {
            crate::error::ZerobusError::Transmission(format!("the task stopped: {e}").into())
        })
        .and_then(|r| r);
    match keyboard {
        None => result.map_err(to_py),
        Some(interrupted) => {
            if let Err(e) = result {
                interrupted.set_cause(py, Some(to_py(e)));
            }
            Err(interrupted)
        }
    }
}

/// The defaults of every keyword of `NativeWrapper` that has one, as
/// [`crate::ZerobusConnection::new`] sets them: `_native.DEFAULTS`.
pub(crate) fn defaults(py: Python<'_>) -> PyResult<Bound<'_, pyo3::types::PyDict>> {
    let c = crate::ZerobusConnection::new("");
    let d = pyo3::types::PyDict::new(py);
    d.set_item("client_id", c.client_id)?;
    d.set_item("client_secret", None::<String>)?;
    d.set_item("unity_catalog_url", c.unity_catalog_url)?;
    d.set_item("observability_enabled", c.observability_enabled)?;
    d.set_item("observability_config", None::<String>)?;
    d.set_item("debug_enabled", c.debug_enabled)?;
    d.set_item("debug_output_dir", c.debug_output_dir)?;
    d.set_item("debug_flush_interval_secs", c.debug_flush_interval_secs)?;
    d.set_item("debug_max_file_size", c.debug_max_file_size)?;
    d.set_item("retry_max_attempts", c.retry_max_attempts)?;
    d.set_item("retry_base_delay_ms", c.retry_base_delay_ms)?;
    d.set_item("retry_max_delay_ms", c.retry_max_delay_ms)?;
    d.set_item("dead_letter_dir", c.dead_letter_dir)?;
    d.set_item("journal_dir", c.journal_dir)?;
    d.set_item("allow_plaintext", c.allow_plaintext)?;
    d.set_item("ack_timeout_ms", c.ack_timeout_ms)?;
    d.set_item("max_streams", c.max_streams)?;
    d.set_item("max_inflight_bytes", c.max_inflight_bytes)?;
    let word = |s: String| s.to_ascii_lowercase();
    d.set_item("transport", word(format!("{:?}", c.transport)))?;
    d.set_item(
        "flight_compression",
        word(format!("{:?}", c.flight_compression)),
    )?;
    d.set_item(
        "null_collections",
        word(format!("{:?}", c.null_collections)),
    )?;
    Ok(d)
}
