//! [`ZerobusCatalog`]: Unity Catalog tables as a DataFusion catalog. A schema of this
//! catalog is a UC `catalog.schema` pair (so `zerobus."main.default".events` is UC table
//! `main.default.events`); tables are described by the UC tables API and cached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider};
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result};

use super::table::ZerobusTable;
use crate::connection::ZerobusConnection;

/// How long a table description is reused before UC is asked again.
const CACHE_TTL: Duration = Duration::from_secs(60);

type Cache = Arc<Mutex<HashMap<String, (Instant, Arc<ZerobusTable>)>>>;

/// A DataFusion catalog of Zerobus tables, every one connecting with one
/// [`ZerobusConnection`] (endpoint, UC URL, credentials, retry and debug options).
///
/// ```no_run
/// # fn demo(connection: arrow_zerobus_sdk_wrapper::ZerobusConnection) {
/// use std::sync::Arc;
/// use arrow_zerobus_sdk_wrapper::datafusion::ZerobusCatalog;
/// let ctx = datafusion::prelude::SessionContext::new();
/// ctx.register_catalog("zerobus", Arc::new(ZerobusCatalog::new(connection)));
/// // INSERT INTO zerobus."main.default".events SELECT …
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ZerobusCatalog {
    connection: ZerobusConnection,
    cache: Cache,
}

impl ZerobusCatalog {
    /// A catalog connecting with `connection`.
    pub fn new(connection: ZerobusConnection) -> Self {
        ZerobusCatalog {
            connection,
            cache: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The connection of every table.
    pub fn connection(&self) -> &ZerobusConnection {
        &self.connection
    }
}

impl CatalogProvider for ZerobusCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .cache
            .lock()
            .map(|c| {
                c.keys()
                    .filter_map(|k| k.rsplit_once('.').map(|(s, _)| s.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names.dedup();
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let (catalog, schema) = name.split_once('.')?;
        if catalog.is_empty() || schema.is_empty() || schema.contains('.') {
            return None;
        }
        Some(Arc::new(ZerobusSchema {
            connection: self.connection.clone(),
            prefix: format!("{catalog}.{schema}"),
            cache: self.cache.clone(),
        }))
    }
}

#[derive(Debug)]
struct ZerobusSchema {
    connection: ZerobusConnection,
    prefix: String,
    cache: Cache,
}

#[async_trait]
impl SchemaProvider for ZerobusSchema {
    fn table_names(&self) -> Vec<String> {
        let prefix = format!("{}.", self.prefix);
        let mut names: Vec<String> = self
            .cache
            .lock()
            .map(|c| {
                c.keys()
                    .filter_map(|k| k.strip_prefix(&prefix).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let full = format!("{}.{name}", self.prefix);
        if let Ok(cache) = self.cache.lock() {
            if let Some((at, t)) = cache.get(&full) {
                if at.elapsed() < CACHE_TTL {
                    return Ok(Some(t.clone() as Arc<dyn TableProvider>));
                }
            }
        }
        let config = self
            .connection
            .for_table(&full)
            .map_err(DataFusionError::from)?;
        // A table UC does not have is an answer, not an error: DataFusion reports the
        // table as unknown.
        let Some(t) = ZerobusTable::find_in_unity_catalog(config)
            .await
            .map_err(DataFusionError::from)?
        else {
            return Ok(None);
        };
        let t = Arc::new(t);
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(full, (Instant::now(), t.clone()));
        }
        Ok(Some(t as Arc<dyn TableProvider>))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.cache
            .lock()
            .map(|c| c.contains_key(&format!("{}.{name}", self.prefix)))
            .unwrap_or(false)
    }
}
