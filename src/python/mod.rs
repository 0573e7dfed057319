//! The Python extension module `arrow_zerobus_sdk_wrapper._native` (feature `python`).
//! It only adapts: Arrow data comes in through the PyCapsule interface without a copy,
//! work runs on one Tokio runtime with the GIL released, errors become the contract's
//! exception classes. The Python package (`python/arrow_zerobus_sdk_wrapper`) wraps it.

mod arrow_input;
mod errors;
mod keywords;
mod runtime;
mod sql;
mod wrapper;

use pyo3::prelude::*;
use runtime::runtime;

#[pymodule(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let _ = pyo3_async_runtimes::tokio::init_with_runtime(runtime());
    errors::register(m)?;
    m.add_class::<wrapper::NativeWrapper>()?;
    m.add_class::<sql::ZerobusCatalog>()?;
    m.add_class::<sql::ZerobusTableFactory>()?;
    m.add_class::<sql::ZerobusTable>()?;
    m.add_function(wrap_pyfunction!(sql::fold_sql, m)?)?;
    m.add_function(wrap_pyfunction!(sql::insert_parts, m)?)?;
    m.add_class::<sql::InsertTarget>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("DEFAULTS", wrapper::defaults(m.py())?)?;
    Ok(())
}
