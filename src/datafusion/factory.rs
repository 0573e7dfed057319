//! [`ZerobusTableFactory`]: `CREATE EXTERNAL TABLE t [(columns)] STORED AS ZEROBUS
//! LOCATION 'catalog.schema.table' [OPTIONS (...)]`. A column list in the DDL is used as
//! the table's schema (no UC look-up, for workspaces whose UC API is not reachable);
//! without one the schema comes from Unity Catalog. OPTIONS take the keys of
//! [`crate::options::OPTIONS`]; another host needs its own credentials.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{Session, TableProviderFactory};
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::CreateExternalTable;

use super::table::ZerobusTable;
use crate::connection::{SchemaSource, ZerobusConnection};
use crate::options::with_options;

/// Creates Zerobus tables from `CREATE EXTERNAL TABLE … STORED AS ZEROBUS`.
#[derive(Debug, Clone)]
pub struct ZerobusTableFactory {
    connection: ZerobusConnection,
}

impl ZerobusTableFactory {
    /// A factory whose tables connect with `connection` unless OPTIONS say otherwise.
    pub fn new(connection: ZerobusConnection) -> Self {
        ZerobusTableFactory { connection }
    }
}

#[async_trait]
impl TableProviderFactory for ZerobusTableFactory {
    async fn create(
        &self,
        _state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> Result<Arc<dyn TableProvider>> {
        self.create_table(cmd).await
    }
}

impl ZerobusTableFactory {
    /// The table of `cmd` (what [`TableProviderFactory::create`] does; no session needed).
    pub async fn create_table(&self, cmd: &CreateExternalTable) -> Result<Arc<dyn TableProvider>> {
        let location = match cmd.locations.as_slice() {
            [one] => one.trim().trim_start_matches("zerobus://").to_string(),
            _ => {
                return Err(DataFusionError::Plan(
                    "STORED AS ZEROBUS needs LOCATION 'catalog.schema.table'".into(),
                ))
            }
        };
        let mut connection = with_options(
            &self.connection,
            cmd.options.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        )
        .map_err(DataFusionError::from)?;
        let columns = cmd.schema.as_arrow();
        if columns.fields().is_empty() {
            let config = connection
                .for_table(location)
                .map_err(DataFusionError::from)?;
            Ok(Arc::new(
                ZerobusTable::from_unity_catalog(config)
                    .await
                    .map_err(DataFusionError::from)?,
            ))
        } else {
            connection.schema_source = SchemaSource::ArrowSchema;
            let config = connection
                .for_table(location)
                .map_err(DataFusionError::from)?;
            Ok(Arc::new(ZerobusTable::new(
                config,
                Arc::new(columns.clone()),
            )))
        }
    }
}
