//! Arrow data from Python without a copy, through the Arrow PyCapsule interface:
//! `__arrow_c_stream__` (pyarrow Table / RecordBatchReader, polars DataFrame, DuckDB
//! results, nanoarrow streams) or `__arrow_c_array__` (a record batch as a struct array).
//! pyarrow is not needed: only the capsules are.

use arrow::array::{RecordBatch, RecordBatchIterator, RecordBatchReader, StructArray};
use arrow::ffi::{from_ffi, FFI_ArrowArray, FFI_ArrowSchema};
use arrow::ffi_stream::{ArrowArrayStreamReader, FFI_ArrowArrayStream};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyTuple};

/// The batches of `data`, read lazily (a stream is never concatenated).
pub(crate) type Batches = Box<dyn RecordBatchReader + Send>;

fn capsule<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Bound<'py, PyCapsule>> {
    obj.clone()
        .cast_into::<PyCapsule>()
        .map_err(|_| PyTypeError::new_err(format!("{what} did not return a PyCapsule")))
}

/// Import `data` as a reader of record batches.
pub(crate) fn batches(data: &Bound<'_, PyAny>) -> PyResult<Batches> {
    if data.hasattr("__arrow_c_stream__")? {
        let c = capsule(
            &data.call_method0("__arrow_c_stream__")?,
            "__arrow_c_stream__",
        )?;
        let pointer = c.pointer_checked(Some(c"arrow_array_stream"))?;
        // SAFETY: the capsule is named "arrow_array_stream", so by the Arrow PyCapsule
        // interface it points to a valid, aligned, initialised FFI_ArrowArrayStream owned by
        // the capsule. `from_raw` moves the stream out and leaves a released (empty) one
        // behind, which is what the capsule's destructor expects after a move.
        let reader = unsafe {
            ArrowArrayStreamReader::from_raw(pointer.cast::<FFI_ArrowArrayStream>().as_ptr())
        }
        .map_err(|e| PyValueError::new_err(format!("cannot import the Arrow stream: {e}")))?;
        return Ok(Box::new(reader));
    }
    if data.hasattr("__arrow_c_array__")? {
        let pair = data.call_method0("__arrow_c_array__")?;
        let pair = pair.cast::<PyTuple>().map_err(|_| {
            PyTypeError::new_err("__arrow_c_array__ did not return a (schema, array) tuple")
        })?;
        if pair.len() != 2 {
            return Err(PyTypeError::new_err(
                "__arrow_c_array__ did not return a (schema, array) tuple",
            ));
        }
        let schema = capsule(&pair.get_item(0)?, "__arrow_c_array__")?;
        let array = capsule(&pair.get_item(1)?, "__arrow_c_array__")?;
        let schema_ptr = schema.pointer_checked(Some(c"arrow_schema"))?;
        let array_ptr = array.pointer_checked(Some(c"arrow_array"))?;
        // SAFETY: the capsule names were checked: by the PyCapsule interface "arrow_schema"
        // holds a valid FFI_ArrowSchema (borrowed here while `schema` is alive) and
        // "arrow_array" a valid FFI_ArrowArray, which `from_raw` moves out, leaving a
        // released one for the capsule's destructor. `from_ffi` validates the array
        // against the schema and keeps the moved array's buffers alive via its release.
        let data = unsafe {
            let schema = schema_ptr.cast::<FFI_ArrowSchema>().as_ref();
            let array = FFI_ArrowArray::from_raw(array_ptr.cast::<FFI_ArrowArray>().as_ptr());
            from_ffi(array, schema)
        }
        .map_err(|e| PyValueError::new_err(format!("cannot import the Arrow array: {e}")))?;
        if !matches!(data.data_type(), arrow::datatypes::DataType::Struct(_)) {
            return Err(PyTypeError::new_err(format!(
                "expected a record batch (a struct array), got an array of type {}",
                data.data_type()
            )));
        }
        if data.null_count() > 0 {
            return Err(PyValueError::new_err(
                "the record batch's struct array has top-level nulls; a record batch cannot",
            ));
        }
        let batch = RecordBatch::from(StructArray::from(data));
        let schema = batch.schema();
        return Ok(Box::new(RecordBatchIterator::new([Ok(batch)], schema)));
    }
    Err(PyTypeError::new_err(format!(
        "expected Arrow data (an object with __arrow_c_stream__ or __arrow_c_array__, such as a \
         pyarrow RecordBatch or Table, a polars DataFrame or a DuckDB result), got {}",
        data.get_type().name()?
    )))
}

/// Import a schema through `__arrow_c_schema__` (a pyarrow `Schema`, or anything with the
/// Arrow PyCapsule schema interface).
pub(crate) fn schema(obj: &Bound<'_, PyAny>) -> PyResult<arrow::datatypes::Schema> {
    if !obj.hasattr("__arrow_c_schema__")? {
        return Err(PyTypeError::new_err(
            "expected an Arrow schema (an object with __arrow_c_schema__)",
        ));
    }
    let c = capsule(
        &obj.call_method0("__arrow_c_schema__")?,
        "__arrow_c_schema__",
    )?;
    let pointer = c.pointer_checked(Some(c"arrow_schema"))?;
    // SAFETY: the capsule is named "arrow_schema", so by the Arrow PyCapsule interface it
    // points to a valid, initialised FFI_ArrowSchema owned by the capsule, which `c` keeps
    // alive for this borrow; `Schema::try_from` copies what it needs and releases nothing.
    let ffi = unsafe { pointer.cast::<FFI_ArrowSchema>().as_ref() };
    arrow::datatypes::Schema::try_from(ffi)
        .map_err(|e| PyValueError::new_err(format!("cannot import the Arrow schema: {e}")))
}
