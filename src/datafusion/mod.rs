//! DataFusion integration: `INSERT INTO zerobus.main.default.t SELECT …` streams query
//! output through the encoder and the retrying writer.
//!
//! - [`ZerobusCatalog`]: a catalog whose schemas are Unity Catalog `catalog.schema` pairs
//!   and whose tables come from the UC tables API (cached for a minute).
//! - [`ZerobusTable`]: write-only table; `insert_into` plans a [`ZerobusSink`].
//! - [`ZerobusTableFactory`]: `CREATE EXTERNAL TABLE t STORED AS ZEROBUS LOCATION
//!   'main.default.t'`.
//! - [`sql`]: runs SQL after folding 4-part names (`zerobus.main.default.t`) into the
//!   3-part form DataFusion resolves (`zerobus."main.default".t`).

mod catalog;
mod factory;
mod sink;
mod sql;
mod table;

pub use catalog::ZerobusCatalog;
pub use factory::ZerobusTableFactory;
pub use sink::{send_stream, Progress, ZerobusSink};
pub use sql::{fold_zerobus_names, register, sql};
pub use table::{arrow_schema_from_uc, ZerobusTable};

use datafusion::error::DataFusionError;

use crate::error::ZerobusError;

pub(crate) fn df_error(e: ZerobusError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}
