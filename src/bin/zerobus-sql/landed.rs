//! The emulator's landed Delta tables, readable in SQL as `<catalog>.<schema>.<table>`.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider};
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result};
use zerobus_emulator::catalog::subdirs;

/// A UC catalog directory of the emulator's warehouse: schemas are its subdirectories.
#[derive(Debug)]
pub(crate) struct LandedCatalog {
    pub(crate) dir: PathBuf,
}

impl CatalogProvider for LandedCatalog {
    fn schema_names(&self) -> Vec<String> {
        subdirs(&self.dir)
            .iter()
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .collect()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let dir = self.dir.join(name);
        dir.is_dir()
            .then(|| Arc::new(LandedSchema { dir }) as Arc<dyn SchemaProvider>)
    }
}

/// Delta tables of one schema directory, opened at each query (so new rows are seen).
#[derive(Debug)]
struct LandedSchema {
    dir: PathBuf,
}

#[async_trait]
impl SchemaProvider for LandedSchema {
    fn table_names(&self) -> Vec<String> {
        subdirs(&self.dir)
            .iter()
            .filter(|p| p.join("_delta_log").is_dir())
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let dir = self.dir.join(name);
        if !dir.join("_delta_log").is_dir() {
            return Ok(None);
        }
        let url = url::Url::from_directory_path(&dir).map_err(|_| {
            DataFusionError::Plan(format!("{} is not an absolute path", dir.display()))
        })?;
        let table = deltalake_core::DeltaTable::try_from_url(url)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let provider = table
            .table_provider()
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(Some(provider))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.dir.join(name).join("_delta_log").is_dir()
    }
}
