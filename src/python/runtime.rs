//! The one Tokio runtime of the Python module, and running on it with the GIL released.

use std::sync::OnceLock;

use pyo3::prelude::*;

/// The runtime every Python-facing call runs on (created on first use).
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("zerobus-py")
            .build();
        match rt {
            Ok(rt) => rt,
            // Without threads or timers nothing here can work; there is no caller to tell.
            Err(e) => panic!("cannot start the Tokio runtime: {e}"),
        }
    })
}

/// Run `fut` to completion on the runtime with the GIL released.
pub(crate) fn block_on<F>(py: Python<'_>, fut: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    py.detach(|| runtime().block_on(fut))
}
