//! The emulator's Unity Catalog: tables live at `<warehouse>/<catalog>/<schema>/<table>`
//! as Delta tables, and the warehouse itself is the catalog's only state, so a restarted
//! emulator finds every table (and its schema) again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow::datatypes::SchemaRef;
use deltalake_core::BlindDeltaTable;
use serde_json::{json, Value as Json};

use crate::storage::{self, TableWriter};
use crate::types::{validate_identifier, UcField};

/// Most columns a Zerobus target table may have.
pub const MAX_COLUMNS: usize = 2000;

/// A table known to the catalog.
pub struct Table {
    /// `catalog.schema.table`, lower case.
    pub full_name: String,
    /// Catalog part.
    pub catalog: String,
    /// Schema part.
    pub schema: String,
    /// Table part.
    pub name: String,
    /// Columns in position order.
    pub columns: Vec<UcField>,
    /// Directory of the Delta table.
    pub location: PathBuf,
    /// Arrow schema of the Delta table (what rows are assembled into).
    pub arrow_schema: SchemaRef,
    /// Writer task of this table.
    pub writer: TableWriter,
    /// Milliseconds since the epoch when the emulator first saw the table.
    pub created_at: u64,
}

/// Why a catalog operation failed; each maps to a UC error code and an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// The name is not `catalog.schema.table` of valid identifiers.
    #[error("{0}")]
    InvalidName(String),
    /// The column definitions are unusable.
    #[error("{0}")]
    InvalidColumns(String),
    /// A table of that name exists.
    #[error("table '{0}' already exists")]
    AlreadyExists(String),
    /// No table of that name.
    #[error("table '{0}' does not exist; create it first (POST /api/2.1/unity-catalog/tables or --table)")]
    NotFound(String),
    /// The Delta table could not be created or opened.
    #[error("{0}")]
    Storage(String),
}

impl CatalogError {
    /// UC's `error_code` for this error.
    pub fn code(&self) -> &'static str {
        match self {
            CatalogError::InvalidName(_) | CatalogError::InvalidColumns(_) => {
                "INVALID_PARAMETER_VALUE"
            }
            CatalogError::AlreadyExists(_) => "TABLE_ALREADY_EXISTS",
            CatalogError::NotFound(_) => "TABLE_DOES_NOT_EXIST",
            CatalogError::Storage(_) => "INTERNAL_ERROR",
        }
    }
}

/// Split and check a three-part table name; returns its lower-case parts.
pub fn parse_table_name(full: &str) -> Result<(String, String, String), CatalogError> {
    let parts: Vec<&str> = full.split('.').collect();
    if parts.len() != 3 {
        return Err(CatalogError::InvalidName(format!(
            "table name '{full}' must have three parts, catalog.schema.table"
        )));
    }
    for p in &parts {
        validate_identifier(p)
            .map_err(|e| CatalogError::InvalidName(format!("table name '{full}': {e}")))?;
    }
    Ok((
        parts[0].to_ascii_lowercase(),
        parts[1].to_ascii_lowercase(),
        parts[2].to_ascii_lowercase(),
    ))
}

/// All tables of one warehouse.
pub struct Catalog {
    warehouse: PathBuf,
    commit_interval: Duration,
    tables: RwLock<HashMap<String, Arc<Table>>>,
    ddl: tokio::sync::Mutex<()>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Catalog {
    /// Open the warehouse, finding the Delta tables already in it.
    pub async fn open(
        warehouse: &Path,
        commit_interval: Duration,
    ) -> Result<Catalog, CatalogError> {
        std::fs::create_dir_all(warehouse).map_err(|e| {
            CatalogError::Storage(format!(
                "cannot create warehouse {}: {e}",
                warehouse.display()
            ))
        })?;
        let catalog = Catalog {
            warehouse: warehouse.to_path_buf(),
            commit_interval,
            tables: RwLock::new(HashMap::new()),
            ddl: tokio::sync::Mutex::new(()),
        };
        for c in subdirs(warehouse) {
            for s in subdirs(&c) {
                for t in subdirs(&s) {
                    if !t.join("_delta_log").is_dir() {
                        continue;
                    }
                    let name = |p: &Path| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .unwrap_or("")
                            .to_string()
                    };
                    let full = format!("{}.{}.{}", name(&c), name(&s), name(&t));
                    match catalog.load(&full, &t).await {
                        Ok(table) => {
                            tracing::info!(table = %full, "found existing table");
                            catalog.insert(table);
                        }
                        Err(e) => {
                            tracing::warn!(path = %t.display(), error = %e, "skipping unreadable table")
                        }
                    }
                }
            }
        }
        Ok(catalog)
    }

    fn insert(&self, table: Table) -> Arc<Table> {
        let t = Arc::new(table);
        if let Ok(mut map) = self.tables.write() {
            map.insert(t.full_name.clone(), t.clone());
        }
        t
    }

    async fn load(&self, full: &str, location: &Path) -> Result<Table, CatalogError> {
        let (catalog, schema, name) = parse_table_name(full)?;
        let uri = location
            .to_str()
            .ok_or_else(|| CatalogError::Storage("path is not UTF-8".into()))?;
        let delta = BlindDeltaTable::try_new(uri)
            .await
            .map_err(|e| CatalogError::Storage(e.to_string()))?;
        let columns = delta
            .schema()
            .fields()
            .map(UcField::from_delta)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CatalogError::Storage(e.to_string()))?;
        let (writer, arrow_schema) = storage::start_writer(location, self.commit_interval)
            .await
            .map_err(CatalogError::Storage)?;
        let created_at = std::fs::metadata(location)
            .and_then(|m| m.created().or_else(|_| m.modified()))
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as u64)
            .unwrap_or_else(now_ms);
        Ok(Table {
            full_name: format!("{catalog}.{schema}.{name}"),
            catalog,
            schema,
            name,
            columns,
            location: location.to_path_buf(),
            arrow_schema,
            writer,
            created_at,
        })
    }

    /// Create a table; its Delta table is written before this returns.
    pub async fn create(
        &self,
        full: &str,
        columns: Vec<UcField>,
    ) -> Result<Arc<Table>, CatalogError> {
        let (catalog, schema, name) = parse_table_name(full)?;
        if columns.is_empty() {
            return Err(CatalogError::InvalidColumns(format!(
                "table '{full}' needs at least one column"
            )));
        }
        if columns.len() > MAX_COLUMNS {
            return Err(CatalogError::InvalidColumns(format!(
                "table '{full}' has {} columns; Zerobus supports at most {MAX_COLUMNS}",
                columns.len()
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for c in &columns {
            validate_identifier(&c.name)
                .map_err(|e| CatalogError::InvalidColumns(format!("table '{full}': {e}")))?;
            c.ty.validate(&c.name)
                .map_err(|e| CatalogError::InvalidColumns(format!("table '{full}': {e}")))?;
            if !seen.insert(c.name.to_ascii_lowercase()) {
                return Err(CatalogError::InvalidColumns(format!(
                    "table '{full}': column '{}' appears twice",
                    c.name
                )));
            }
        }
        let fields = columns
            .iter()
            .map(UcField::to_delta)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CatalogError::InvalidColumns(format!("table '{full}': {e}")))?;
        let _guard = self.ddl.lock().await;
        let key = format!("{catalog}.{schema}.{name}");
        if self.get(&key).is_some() {
            return Err(CatalogError::AlreadyExists(key));
        }
        let location = self.warehouse.join(&catalog).join(&schema).join(&name);
        if location.join("_delta_log").exists() {
            return Err(CatalogError::AlreadyExists(key));
        }
        storage::create_table(&location, &name, fields)
            .await
            .map_err(CatalogError::Storage)?;
        let table = self.load(&key, &location).await?;
        tracing::info!(table = %key, columns = table.columns.len(), "created table");
        Ok(self.insert(table))
    }

    /// Look a table up by its three-part name (case-insensitive).
    pub fn get(&self, full: &str) -> Option<Arc<Table>> {
        self.tables
            .read()
            .ok()?
            .get(&full.to_ascii_lowercase())
            .cloned()
    }

    /// Tables, optionally of one catalog and schema, sorted by name.
    pub fn list(&self, catalog: Option<&str>, schema: Option<&str>) -> Vec<Arc<Table>> {
        let mut out: Vec<Arc<Table>> = match self.tables.read() {
            Ok(map) => map
                .values()
                .filter(|t| catalog.is_none_or(|c| t.catalog.eq_ignore_ascii_case(c)))
                .filter(|t| schema.is_none_or(|s| t.schema.eq_ignore_ascii_case(s)))
                .cloned()
                .collect(),
            Err(_) => Vec::new(),
        };
        out.sort_by(|a, b| a.full_name.cmp(&b.full_name));
        out
    }

    /// Drop a table: streams writing to it fail, its Delta directory is deleted.
    pub async fn delete(&self, full: &str) -> Result<(), CatalogError> {
        let (catalog, schema, name) = parse_table_name(full)?;
        let key = format!("{catalog}.{schema}.{name}");
        let _guard = self.ddl.lock().await;
        let removed = self.tables.write().ok().and_then(|mut m| m.remove(&key));
        let table = removed.ok_or_else(|| CatalogError::NotFound(key.clone()))?;
        table.writer.mark_dropped();
        std::fs::remove_dir_all(&table.location).map_err(|e| {
            CatalogError::Storage(format!("cannot delete {}: {e}", table.location.display()))
        })?;
        tracing::info!(table = %key, "dropped table");
        Ok(())
    }
}

/// Subdirectories of `dir` (hidden ones skipped), sorted: the warehouse's catalogs,
/// a catalog's schemas, a schema's tables.
pub fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.is_dir()
                        && !p
                            .file_name()
                            .and_then(|n| n.to_str())
                            .unwrap_or(".")
                            .starts_with('.')
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// `columns` as the UC tables API lists them (name, type_name, type_text, type_json,
/// position, nullable): what the SDK's `UcColumn` deserializes.
pub fn columns_json(columns: &[UcField]) -> Vec<Json> {
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({
                "name": c.name,
                "type_name": c.ty.type_name(),
                "type_text": c.ty.type_text(),
                "type_json": c.to_json().to_string(),
                "position": i,
                "nullable": c.nullable,
            })
        })
        .collect()
}

impl Table {
    /// The table as the UC tables API reports it.
    pub fn info_json(&self) -> Json {
        let columns = columns_json(&self.columns);
        let location = url::Url::from_directory_path(&self.location)
            .map(|u| u.to_string())
            .unwrap_or_else(|_| self.location.display().to_string());
        json!({
            "name": self.name,
            "catalog_name": self.catalog,
            "schema_name": self.schema,
            "full_name": self.full_name,
            "table_type": "MANAGED",
            "data_source_format": "DELTA",
            "storage_location": location,
            "columns": columns,
            "owner": "zerobus-emulator",
            "created_at": self.created_at,
            "updated_at": self.created_at,
        })
    }
}
