//! DataFusion integration: `INSERT INTO zerobus.main.default.t SELECT …` streams query
//! output through the encoder and the retrying writer.
//!
//! - [`ZerobusCatalog`]: a catalog whose schemas are Unity Catalog `catalog.schema` pairs
//!   and whose tables come from the UC tables API (cached for a minute).
//! - [`ZerobusTable`]: write-only table; `insert_into` plans [`write_plan`]: a
//!   [`ZerobusWriteExec`] per input partition, totalled by a [`ZerobusTotalExec`].
//! - [`ZerobusTableFactory`]: `CREATE EXTERNAL TABLE t STORED AS ZEROBUS LOCATION
//!   'main.default.t'`.
//! - [`ZerobusFormat`]: `COPY (SELECT …) TO 'zerobus://main.default.t' STORED AS ZEROBUS`.
//! - [`sql`]: runs SQL after folding 4-part names (`zerobus.main.default.t`) into the
//!   3-part form DataFusion resolves (`zerobus."main.default".t`).

#[cfg(feature = "ballista")]
pub mod ballista;
mod catalog;
#[cfg(feature = "ballista")]
mod cluster_jobs;
mod copy;
pub mod copy_into;
mod exact_insert;
mod exec;
mod factory;
mod load_history;
mod sink;
mod sql;
mod table;

pub use crate::wrapper::{LoadProgress, Progress};
pub use catalog::ZerobusCatalog;
pub use copy::{ZerobusFormat, ZerobusFormatFactory};
pub use copy_into::{CopyInto, JournalService};
#[cfg(feature = "python")]
pub(crate) use exact_insert::refuse_misplaced;
pub use exact_insert::{ExactInsert, EXACT_INSERT};
pub use exec::{write_plan, ZerobusTotalExec, ZerobusWriteExec};
pub use factory::ZerobusTableFactory;
pub use sink::{send_stream, ZerobusSink};
pub use sql::{copy_into_of, register, sql};
pub use table::{arrow_schema_from_uc, ZerobusTable};

/// The pieces of [`sql`] that a front end with its own statement loop needs one by one
/// (`zerobus-sql`, feature `cli`; the Python module, feature `python`).
#[cfg(any(feature = "cli", feature = "python"))]
pub use sql::{create_zerobus_table, fold_zerobus_names, hide_option_secrets, statement_sql};
