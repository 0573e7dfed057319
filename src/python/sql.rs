//! Zerobus tables for datafusion-python sessions, through datafusion-ffi 55:
//! `ZerobusCatalog` (`__datafusion_catalog_provider__`), `ZerobusTableFactory`
//! (`__datafusion_table_provider_factory__`), `ZerobusTable`
//! (`__datafusion_table_provider__`), and `fold_sql` for 4-part names.
//!
//! Two things datafusion-python needs that a Rust session does not: every provider gets
//! `Some(handle)` of our runtime (with `None`, Tokio use inside `write_all` aborts the
//! process), and `ZerobusTable::insert_into` merges its input's partitions itself (a plan
//! crossing the FFI does not carry DataSinkExec's single-partition requirement, so
//! nothing else would).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{
    CatalogProvider, SchemaProvider, Session, TableProvider, TableProviderFactory,
};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::CreateExternalTable;
use datafusion::sql::parser::{DFParser, Statement as DFStatement};
use datafusion_ffi::catalog_provider::FFI_CatalogProvider;
use datafusion_ffi::proto::logical_extension_codec::FFI_LogicalExtensionCodec;
use datafusion_ffi::table_provider::FFI_TableProvider;
use datafusion_ffi::table_provider_factory::FFI_TableProviderFactory;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict};

use super::errors::{df_to_py, to_py};
use super::keywords;
use super::runtime::{block_on, runtime};
use crate::connection::{SchemaSource, ZerobusConnection};
use crate::datafusion::{fold_zerobus_names, hide_option_secrets, statement_sql};

const CODEC_CAPSULE: &std::ffi::CStr = c"datafusion_logical_extension_codec";

/// The session's logical extension codec, from `session.__datafusion_logical_extension_codec__()`.
fn session_codec(session: &Bound<'_, PyAny>) -> PyResult<FFI_LogicalExtensionCodec> {
    let attr = "__datafusion_logical_extension_codec__";
    let capsule = if session.hasattr(attr)? {
        session.getattr(attr)?.call0()?
    } else {
        session.clone()
    };
    let capsule = capsule.cast::<PyCapsule>().map_err(|_| {
        PyTypeError::new_err(
            "expected a datafusion-python 55 session (with __datafusion_logical_extension_codec__)",
        )
    })?;
    let pointer = capsule.pointer_checked(Some(CODEC_CAPSULE))?;
    // SAFETY: `pointer_checked` verified the capsule's name; by the datafusion-python FFI
    // protocol a capsule of that name holds an `FFI_LogicalExtensionCodec`, which lives as
    // long as the capsule, and `capsule` is held for the duration of this borrow. We clone
    // it (the FFI struct's own clone, which takes its own reference) before returning.
    let codec = unsafe { pointer.cast::<FFI_LogicalExtensionCodec>().as_ref() };
    Ok(codec.clone())
}

/// Run `fut` on the module's runtime and wait for it from wherever we are polled.
///
/// datafusion-python polls the futures of our providers on its own threads, where the
/// Tokio of this library (a separate copy of Tokio's thread-locals) has no runtime
/// context: a timer or a spawn there panics ("there is no reactor running"). A
/// `JoinHandle` may be awaited from any executor.
async fn on_runtime<T: Send + 'static>(
    fut: impl std::future::Future<Output = DfResult<T>> + Send + 'static,
) -> DfResult<T> {
    runtime()
        .spawn(fut)
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?
}

/// [`crate::datafusion::ZerobusCatalog`] whose look-ups run on the module's runtime.
#[derive(Debug)]
struct CatalogOnRuntime(crate::datafusion::ZerobusCatalog);

impl CatalogProvider for CatalogOnRuntime {
    fn schema_names(&self) -> Vec<String> {
        self.0.schema_names()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        self.0
            .schema(name)
            .map(|s| Arc::new(SchemaOnRuntime(s)) as Arc<dyn SchemaProvider>)
    }
}

#[derive(Debug)]
struct SchemaOnRuntime(Arc<dyn SchemaProvider>);

#[async_trait]
impl SchemaProvider for SchemaOnRuntime {
    fn table_names(&self) -> Vec<String> {
        self.0.table_names()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let inner = self.0.clone();
        let name = name.to_string();
        on_runtime(async move { inner.table(&name).await }).await
    }

    fn table_exist(&self, name: &str) -> bool {
        self.0.table_exist(name)
    }
}

/// [`crate::datafusion::ZerobusTableFactory`] whose UC look-ups run on the module's runtime.
#[derive(Debug)]
struct FactoryOnRuntime(crate::datafusion::ZerobusTableFactory);

#[async_trait]
impl TableProviderFactory for FactoryOnRuntime {
    async fn create(
        &self,
        _state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> DfResult<Arc<dyn TableProvider>> {
        let factory = self.0.clone();
        let cmd = cmd.clone();
        on_runtime(async move { factory.create_table(&cmd).await }).await
    }
}

/// Unity Catalog tables as a DataFusion catalog for datafusion-python:
/// `ctx.register_catalog_provider("zerobus", ZerobusCatalog(...))`, then
/// `INSERT INTO zerobus."main.default".events SELECT …` (or use `sql()` for the 4-part
/// spelling). Keywords: those of `ZerobusWrapper` (the keys of [`crate::options::OPTIONS`]).
#[pyclass(
    name = "ZerobusCatalog",
    module = "arrow_zerobus_sdk_wrapper._native",
    frozen
)]
pub struct ZerobusCatalog {
    connection: ZerobusConnection,
}

#[pymethods]
impl ZerobusCatalog {
    #[new]
    #[pyo3(signature = (endpoint, **options))]
    fn new(endpoint: String, options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        Ok(ZerobusCatalog {
            connection: keywords::connection(endpoint, options)?
                .validated()
                .map_err(to_py)?,
        })
    }

    fn __datafusion_catalog_provider__<'py>(
        &self,
        py: Python<'py>,
        session: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let codec = session_codec(&session)?;
        let catalog = Arc::new(CatalogOnRuntime(crate::datafusion::ZerobusCatalog::new(
            self.connection.clone(),
        )));
        let ffi = FFI_CatalogProvider::new_with_ffi_codec(
            catalog,
            Some(runtime().handle().clone()),
            codec,
        );
        PyCapsule::new_with_value(py, ffi, c"datafusion_catalog_provider")
    }

    fn __repr__(&self) -> String {
        format!("ZerobusCatalog(endpoint={:?})", self.connection.endpoint)
    }
}

/// `CREATE EXTERNAL TABLE t [(columns)] STORED AS ZEROBUS LOCATION 'main.default.t'` for
/// datafusion-python: `ctx.register_table_factory("ZEROBUS", ZerobusTableFactory(...))`.
/// Takes the keywords of `ZerobusCatalog`.
#[pyclass(
    name = "ZerobusTableFactory",
    module = "arrow_zerobus_sdk_wrapper._native",
    frozen
)]
pub struct ZerobusTableFactory {
    connection: ZerobusConnection,
}

#[pymethods]
impl ZerobusTableFactory {
    #[new]
    #[pyo3(signature = (endpoint, **options))]
    fn new(endpoint: String, options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        Ok(ZerobusTableFactory {
            connection: keywords::connection(endpoint, options)?
                .validated()
                .map_err(to_py)?,
        })
    }

    fn __datafusion_table_provider_factory__<'py>(
        &self,
        py: Python<'py>,
        session: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let codec = session_codec(&session)?;
        let factory: Arc<dyn TableProviderFactory + Send> = Arc::new(FactoryOnRuntime(
            crate::datafusion::ZerobusTableFactory::new(self.connection.clone()),
        ));
        let ffi = FFI_TableProviderFactory::new_with_ffi_codec(
            factory,
            Some(runtime().handle().clone()),
            codec,
        );
        PyCapsule::new_with_value(py, ffi, c"datafusion_table_provider_factory")
    }
}

/// One Zerobus table for datafusion-python: `ctx.register_table("events",
/// ZerobusTable(endpoint, "main.default.events", ...))`, then `INSERT INTO events SELECT …`.
/// The schema is read from Unity Catalog when the object is made. Takes the keywords of
/// `ZerobusCatalog`.
#[pyclass(
    name = "ZerobusTable",
    module = "arrow_zerobus_sdk_wrapper._native",
    frozen
)]
pub struct ZerobusTable {
    table: Arc<crate::datafusion::ZerobusTable>,
}

#[pymethods]
impl ZerobusTable {
    #[new]
    #[pyo3(signature = (endpoint, table_name, **options))]
    fn new(
        py: Python<'_>,
        endpoint: String,
        table_name: String,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let mut connection = keywords::connection(endpoint, options)?;
        connection.schema_source = SchemaSource::UnityCatalog;
        let config = connection.for_table(table_name).map_err(to_py)?;
        let table = block_on(
            py,
            crate::datafusion::ZerobusTable::from_unity_catalog(config),
        )
        .map_err(to_py)?;
        Ok(ZerobusTable {
            table: Arc::new(table),
        })
    }

    fn __datafusion_table_provider__<'py>(
        &self,
        py: Python<'py>,
        session: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let codec = session_codec(&session)?;
        let provider: Arc<dyn TableProvider> = self.table.clone();
        let ffi = FFI_TableProvider::new_with_ffi_codec(
            provider,
            false,
            Some(runtime().handle().clone()),
            codec,
        );
        PyCapsule::new_with_value(py, ffi, c"datafusion_table_provider")
    }

    #[getter]
    fn table_name(&self) -> String {
        self.table.config().table_name.clone()
    }
}

/// (catalog, `c.s.t`, the INSERT's column list, the query's SQL).
type InsertParts = (String, String, Vec<String>, String);

/// The parts of `INSERT INTO <catalog>."c.s".t [(columns)] <query>` (after
/// [`fold_sql`]) whose catalog is one of `catalogs`: (catalog, `c.s.t`, the column list,
/// the query's SQL); `None` for any other statement. Python's `sql()` plans the query on
/// its own to learn its schema, then writes it through an [`InsertTarget`].
#[pyfunction]
pub fn insert_parts(query: &str, catalogs: Vec<String>) -> PyResult<Option<InsertParts>> {
    use datafusion::sql::sqlparser::ast::{ObjectNamePart, Statement, TableObject};
    let mut statements = DFParser::parse_sql(query).map_err(df_to_py)?;
    let (Some(DFStatement::Statement(statement)), None) =
        (statements.pop_front(), statements.pop_front())
    else {
        return Ok(None);
    };
    let Statement::Insert(insert) = *statement else {
        return Ok(None);
    };
    let (TableObject::TableName(name), Some(source), false) =
        (&insert.table, &insert.source, insert.overwrite)
    else {
        return Ok(None);
    };
    let parts: Vec<&str> = name
        .0
        .iter()
        .filter_map(|p| match p {
            ObjectNamePart::Identifier(i) => Some(i.value.as_str()),
            _ => None,
        })
        .collect();
    let [catalog, schema, table] = parts.as_slice() else {
        return Ok(None);
    };
    if !catalogs.iter().any(|c| c.eq_ignore_ascii_case(catalog)) || !schema.contains('.') {
        return Ok(None);
    }
    let columns = insert
        .columns
        .iter()
        .map(|c| {
            c.0.last()
                .and_then(|p| p.as_ident())
                .map(|i| i.value.clone())
                .unwrap_or_default()
        })
        .collect();
    Ok(Some((
        catalog.to_string(),
        format!("{schema}.{table}"),
        columns,
        source.to_string(),
    )))
}

/// One INSERT's target for datafusion-python, whose planner our exact-INSERT rule cannot
/// reach: the table shown with the query's own types under the table's column names, so
/// that DataFusion adds no cast; the write converts each value exactly or refuses it (see
/// the README's INSERT table). Made by Python's `sql()`; takes the keywords of
/// `ZerobusCatalog`.
#[pyclass(
    name = "InsertTarget",
    module = "arrow_zerobus_sdk_wrapper._native",
    frozen
)]
pub struct InsertTarget {
    table: Arc<crate::datafusion::ZerobusTable>,
}

#[pymethods]
impl InsertTarget {
    #[new]
    #[pyo3(signature = (endpoint, table_name, columns, query_schema, **options))]
    fn new(
        py: Python<'_>,
        endpoint: String,
        table_name: String,
        columns: Vec<String>,
        query_schema: &Bound<'_, PyAny>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let query = super::arrow_input::schema(query_schema)?;
        let mut connection = keywords::connection(endpoint, options)?;
        connection.schema_source = SchemaSource::UnityCatalog;
        let config = connection.for_table(table_name).map_err(to_py)?;
        let table = block_on(
            py,
            crate::datafusion::ZerobusTable::from_unity_catalog(config),
        )
        .map_err(to_py)?;
        let table_schema = datafusion::catalog::TableProvider::schema(&table);
        let names: Vec<String> = if columns.is_empty() {
            table_schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect()
        } else {
            columns
        };
        if names.len() != query.fields().len() {
            return Err(PyValueError::new_err(format!(
                "INSERT INTO {}: the query gives {} columns for {} table columns",
                table.config().table_name,
                query.fields().len(),
                names.len()
            )));
        }
        let mut fields = Vec::with_capacity(names.len());
        for (position, (field, name)) in query.fields().iter().zip(&names).enumerate() {
            let Some(target) = table_schema
                .fields()
                .iter()
                .find(|f| f.name().eq_ignore_ascii_case(name))
            else {
                return Err(PyValueError::new_err(format!(
                    "INSERT INTO {}: the table has no column '{name}'",
                    table.config().table_name
                )));
            };
            crate::datafusion::refuse_misplaced(
                &table.config().table_name,
                &names,
                position,
                target.name(),
                field.name(),
            )
            .map_err(df_to_py)?;
            fields.push(field.as_ref().clone().with_name(target.name()));
        }
        let query = Arc::new(arrow::datatypes::Schema::new(fields));
        let table = table.for_query(query).map_err(to_py)?;
        Ok(InsertTarget {
            table: Arc::new(table),
        })
    }

    fn __datafusion_table_provider__<'py>(
        &self,
        py: Python<'py>,
        session: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let codec = session_codec(&session)?;
        let provider: Arc<dyn TableProvider> = self.table.clone();
        let ffi = FFI_TableProvider::new_with_ffi_codec(
            provider,
            false,
            Some(runtime().handle().clone()),
            codec,
        );
        PyCapsule::new_with_value(py, ffi, c"datafusion_table_provider")
    }
}

/// SQL with `catalog.c.s.t` names (for any catalog in `catalogs`) folded into the
/// `catalog."c.s".t` spelling DataFusion resolves. `COPY … TO 'zerobus://…'` is refused
/// with the INSERT to write instead: datafusion-ffi 55 cannot carry a file format.
#[pyfunction]
pub fn fold_sql(query: &str, catalogs: Vec<String>) -> PyResult<String> {
    let statements = DFParser::parse_sql(query).map_err(df_to_py)?;
    let mut out = Vec::with_capacity(statements.len());
    for mut statement in statements {
        let original = statement.clone();
        fold_zerobus_names(&mut statement, &catalogs);
        hide_option_secrets(&mut statement);
        if let DFStatement::CopyTo(copy) = &statement {
            if copy
                .stored_as
                .as_deref()
                .is_some_and(|f| f.eq_ignore_ascii_case("zerobus"))
            {
                return Err(PyValueError::new_err(format!(
                    "COPY … TO '{}' is not available in datafusion-python (its FFI has no file formats); \
                     write INSERT INTO {}.{} SELECT … instead, or use zerobus-sql",
                    copy.target,
                    catalogs.first().map(String::as_str).unwrap_or("zerobus"),
                    copy.target.trim_start_matches("zerobus://")
                )));
            }
        }
        out.push(if statement == original {
            None
        } else {
            Some(statement_sql(&statement))
        });
    }
    // Unchanged text is passed through as written (DataFusion's printing is not exact).
    if out.iter().all(Option::is_none) {
        return Ok(query.to_string());
    }
    let parsed = DFParser::parse_sql(query).map_err(df_to_py)?;
    Ok(parsed
        .into_iter()
        .zip(out)
        .map(|(s, folded)| folded.unwrap_or_else(|| statement_sql(&s)))
        .collect::<Vec<_>>()
        .join(";\n"))
}
