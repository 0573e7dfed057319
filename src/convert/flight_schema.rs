//! The table's Arrow Flight schema: the Arrow type Arrow Flight ingest carries each table
//! type as ([`flight_type`]), and the schema of every batch sent ([`flight_schema`]).

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema};

use super::sql_type::{SqlField, SqlType};

/// The Arrow type Arrow Flight ingest carries a column of table type `ty` as.
///
/// ```
/// use arrow::datatypes::DataType;
/// use arrow_zerobus_sdk_wrapper::convert::{flight_type, SqlType};
/// let decimal = SqlType::Decimal { precision: 10, scale: 2 };
/// assert_eq!(flight_type(&decimal), DataType::LargeUtf8);
/// assert_eq!(flight_type(&SqlType::Int), DataType::Int32);
/// ```
pub fn flight_type(ty: &SqlType) -> DataType {
    match ty {
        SqlType::Decimal { .. } => DataType::LargeUtf8,
        SqlType::Variant => DataType::Struct(variant_fields()),
        SqlType::Array(e) => DataType::List(Arc::new(Field::new("item", flight_type(e), true))),
        SqlType::Map(k, v) => DataType::Map(map_entries(flight_type(k), flight_type(v)), false),
        SqlType::Struct(fields) => DataType::Struct(flight_fields(fields)),
        primitive => primitive.arrow_type(),
    }
}

pub(super) fn variant_fields() -> Fields {
    Fields::from(vec![
        Field::new("metadata", DataType::LargeBinary, false),
        Field::new("value", DataType::LargeBinary, false),
    ])
}

/// The key and value fields of a map's entries.
pub(super) fn map_kv(key: DataType, value: DataType) -> Fields {
    Fields::from(vec![
        Field::new("keys", key, false),
        Field::new("values", value, true),
    ])
}

fn map_entries(key: DataType, value: DataType) -> FieldRef {
    Arc::new(Field::new(
        "entries",
        DataType::Struct(map_kv(key, value)),
        false,
    ))
}

pub(super) fn flight_fields(fields: &[SqlField]) -> Fields {
    fields
        .iter()
        .map(|f| Field::new(&f.name, flight_type(&f.ty), f.nullable))
        .collect()
}

/// The schema of every batch sent to a table with `columns` over Arrow Flight (the one
/// the SDK's `arrow_schema_from_uc_columns` builds).
pub fn flight_schema(columns: &[SqlField]) -> Schema {
    Schema::new(flight_fields(columns))
}
