//! [`TableSchema`]: everything the client knows about a target table's shape, in one
//! value: the protobuf descriptor streams are opened with, its resolved message, and the
//! column types that decide whether (and how) a batch's values fit.

use arrow::datatypes::{Field, Schema};
use databricks_zerobus_ingest_sdk::schema::UcColumn;
use prost_reflect::MessageDescriptor;

use super::descriptor::{descriptor_from_arrow, descriptor_from_uc};
use super::sql_type::{columns_from_arrow, columns_from_uc, SqlField};
use crate::error::{Result, ZerobusError};

/// A target table's descriptor and column types.
///
/// ```
/// use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
/// use arrow_zerobus_sdk_wrapper::convert::{SqlType, TableSchema};
/// let schema = Schema::new(vec![
///     Field::new("id", DataType::Int64, false),
///     Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true),
/// ]);
/// let table = TableSchema::from_arrow("main.default.t", &schema).unwrap();
/// assert_eq!(table.columns()[1].ty, SqlType::Timestamp);
/// ```
#[derive(Debug, Clone)]
pub struct TableSchema {
    table: String,
    descriptor: prost_types::DescriptorProto,
    message: MessageDescriptor,
    columns: Vec<SqlField>,
}

impl TableSchema {
    /// The schema of UC table `table` from its columns (the SDK's descriptor mapping).
    pub fn from_uc(table: &str, columns: &[UcColumn]) -> Result<TableSchema> {
        let descriptor = descriptor_from_uc(columns, "ZerobusRecord")
            .map_err(|e| ZerobusError::Conversion(format!("table '{table}': {e}").into()))?;
        Self::new(table, descriptor, columns_from_uc(table, columns)?)
    }

    /// A table described by an Arrow schema (field numbers in column order).
    pub fn from_arrow(table: &str, schema: &Schema) -> Result<TableSchema> {
        let descriptor = descriptor_from_arrow(schema, table)?;
        Self::new(table, descriptor, columns_from_arrow(schema))
    }

    fn new(
        table: &str,
        descriptor: prost_types::DescriptorProto,
        columns: Vec<SqlField>,
    ) -> Result<TableSchema> {
        let message =
            databricks_zerobus_ingest_sdk::message_descriptor(&descriptor).map_err(|e| {
                ZerobusError::Conversion(format!("table '{table}': invalid descriptor: {e}").into())
            })?;
        Ok(TableSchema {
            table: table.to_string(),
            descriptor,
            message,
            columns,
        })
    }

    /// The table's name, `catalog.schema.table`.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The descriptor streams are created with.
    pub fn descriptor(&self) -> &prost_types::DescriptorProto {
        &self.descriptor
    }

    /// The resolved message of the descriptor.
    pub fn message(&self) -> &MessageDescriptor {
        &self.message
    }

    /// The columns in table order.
    pub fn columns(&self) -> &[SqlField] {
        &self.columns
    }

    /// The Arrow schema SQL sees for the table (what INSERT casts a query to).
    pub fn arrow_schema(&self) -> Schema {
        Schema::new(
            self.columns
                .iter()
                .map(|c| Field::new(&c.name, c.ty.arrow_type(), c.nullable))
                .collect::<Vec<_>>(),
        )
    }
}
