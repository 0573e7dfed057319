//! The column types of a Zerobus table as Unity Catalog declares them.
//!
//! A protobuf descriptor cannot tell a BIGINT from a TIMESTAMP (both `int64`), an INT from
//! a DATE or a SMALLINT (all `int32`), or a STRING from a DECIMAL or a VARIANT (all
//! `string`). The encoder needs to know, or it writes days into a microsecond field and
//! sends text the table refuses. [`SqlType`] is that knowledge: read from the UC columns
//! (`type_name`, `type_text`, `type_json`), or derived from an Arrow schema when the table
//! is described by the batches themselves.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, Schema, TimeUnit};
use databricks_zerobus_ingest_sdk::schema::UcColumn;
use serde_json::Value;

use super::decimal::decimal_args;

/// A Unity Catalog (Delta) column type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlType {
    /// BOOLEAN
    Boolean,
    /// TINYINT (8-bit)
    TinyInt,
    /// SMALLINT (16-bit)
    SmallInt,
    /// INT (32-bit)
    Int,
    /// BIGINT (64-bit)
    BigInt,
    /// FLOAT (32-bit)
    Float,
    /// DOUBLE (64-bit)
    Double,
    /// STRING
    String,
    /// BINARY
    Binary,
    /// DATE: days since 1970-01-01.
    Date,
    /// TIMESTAMP: an instant, microseconds since the epoch in UTC.
    Timestamp,
    /// TIMESTAMP_NTZ: a wall-clock time without zone, in microseconds.
    TimestampNtz,
    /// DECIMAL(precision, scale)
    Decimal {
        /// Total digits.
        precision: u8,
        /// Digits after the point.
        scale: i8,
    },
    /// VARIANT, sent as JSON text.
    Variant,
    /// `ARRAY<element>`
    Array(Box<SqlType>),
    /// MAP<key, value>
    Map(Box<SqlType>, Box<SqlType>),
    /// `STRUCT<fields>`
    Struct(Vec<SqlField>),
}

/// A named column (or struct field) and its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlField {
    /// Column name as the table spells it.
    pub name: String,
    /// Its type.
    pub ty: SqlType,
    /// False for NOT NULL.
    pub nullable: bool,
}

/// Deepest nesting read from `type_json` (bounds recursion on service input).
const MAX_DEPTH: usize = 100;

impl SqlType {
    /// A primitive type from its UC `type_name` (`BIGINT`, `TIMESTAMP_NTZ`, …) or its
    /// `type_json` spelling (`long`, `timestamp_ntz`, `decimal(10,2)`, …).
    ///
    /// ```
    /// use arrow_zerobus_sdk_wrapper::convert::SqlType;
    /// assert_eq!(SqlType::primitive("long"), Some(SqlType::BigInt));
    /// assert_eq!(SqlType::primitive("decimal(10,2)"),
    ///            Some(SqlType::Decimal { precision: 10, scale: 2 }));
    /// ```
    pub fn primitive(name: &str) -> Option<SqlType> {
        let lower = name.trim().to_ascii_lowercase();
        Some(match lower.as_str() {
            "boolean" | "bool" => SqlType::Boolean,
            "byte" | "tinyint" => SqlType::TinyInt,
            "short" | "smallint" => SqlType::SmallInt,
            "int" | "integer" => SqlType::Int,
            "long" | "bigint" => SqlType::BigInt,
            "float" | "real" => SqlType::Float,
            "double" => SqlType::Double,
            "string" => SqlType::String,
            "binary" => SqlType::Binary,
            "date" => SqlType::Date,
            "timestamp" => SqlType::Timestamp,
            "timestamp_ntz" => SqlType::TimestampNtz,
            "variant" => SqlType::Variant,
            "decimal" => SqlType::Decimal {
                precision: 10,
                scale: 0,
            },
            other => {
                let (precision, scale) = decimal_args(other)?;
                SqlType::Decimal { precision, scale }
            }
        })
    }

    /// A type from a `type_json` value: a primitive name, or a Spark-style
    /// `{"type": "struct" | "array" | "map", …}` object.
    pub fn from_type_json(value: &Value) -> std::result::Result<SqlType, String> {
        from_json(value, 0)
    }

    /// The type a column of Arrow type `dt` declares, when the batches describe the table.
    /// `None` for Arrow types with no Zerobus mapping.
    pub fn from_arrow(dt: &DataType) -> Option<SqlType> {
        use DataType as D;
        Some(match dt {
            D::Boolean => SqlType::Boolean,
            D::Int8 => SqlType::TinyInt,
            D::Int16 | D::UInt8 => SqlType::SmallInt,
            D::Int32 | D::UInt16 => SqlType::Int,
            D::Int64 | D::UInt32 | D::UInt64 => SqlType::BigInt,
            D::Float16 | D::Float32 => SqlType::Float,
            D::Float64 => SqlType::Double,
            D::Utf8 | D::LargeUtf8 | D::Utf8View => SqlType::String,
            D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_) => SqlType::Binary,
            D::Date32 | D::Date64 => SqlType::Date,
            D::Timestamp(_, Some(_)) => SqlType::Timestamp,
            D::Timestamp(_, None) => SqlType::TimestampNtz,
            D::Decimal128(p, s) | D::Decimal256(p, s) => SqlType::Decimal {
                precision: *p,
                scale: *s,
            },
            D::Dictionary(_, v) => return SqlType::from_arrow(v),
            D::Struct(children) => SqlType::Struct(
                children
                    .iter()
                    .map(|f| {
                        Some(SqlField {
                            name: f.name().clone(),
                            ty: SqlType::from_arrow(f.data_type())?,
                            nullable: f.is_nullable(),
                        })
                    })
                    .collect::<Option<Vec<_>>>()?,
            ),
            D::Map(entries, _) => {
                let D::Struct(kv) = entries.data_type() else {
                    return None;
                };
                SqlType::Map(
                    Box::new(SqlType::from_arrow(kv.first()?.data_type())?),
                    Box::new(SqlType::from_arrow(kv.get(1)?.data_type())?),
                )
            }
            other => SqlType::Array(Box::new(SqlType::from_arrow(
                super::descriptor::list_element(other)?.data_type(),
            )?)),
        })
    }

    /// The Arrow type SQL sees for this column (what an INSERT casts the query to): the
    /// SDK's UC → Arrow mapping, with DECIMAL as `Decimal128(p, s)` and VARIANT as JSON
    /// text (`Utf8`), which are what queries produce and what Zerobus accepts.
    pub fn arrow_type(&self) -> DataType {
        match self {
            SqlType::Boolean => DataType::Boolean,
            SqlType::TinyInt => DataType::Int8,
            SqlType::SmallInt => DataType::Int16,
            SqlType::Int => DataType::Int32,
            SqlType::BigInt => DataType::Int64,
            SqlType::Float => DataType::Float32,
            SqlType::Double => DataType::Float64,
            SqlType::String => DataType::LargeUtf8,
            SqlType::Binary => DataType::LargeBinary,
            SqlType::Date => DataType::Date32,
            SqlType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            SqlType::TimestampNtz => DataType::Timestamp(TimeUnit::Microsecond, None),
            SqlType::Decimal { precision, scale } => DataType::Decimal128(*precision, *scale),
            SqlType::Variant => DataType::Utf8,
            SqlType::Array(e) => DataType::List(Arc::new(Field::new("item", e.arrow_type(), true))),
            SqlType::Map(k, v) => DataType::Map(
                Arc::new(Field::new(
                    "entries",
                    DataType::Struct(Fields::from(vec![
                        Field::new("keys", k.arrow_type(), false),
                        Field::new("values", v.arrow_type(), true),
                    ])),
                    false,
                )),
                false,
            ),
            SqlType::Struct(fields) => DataType::Struct(
                fields
                    .iter()
                    .map(|f| Field::new(&f.name, f.ty.arrow_type(), f.nullable))
                    .collect::<Fields>(),
            ),
        }
    }

    /// The type as Databricks SQL writes it (`TIMESTAMP`, `DECIMAL(10,2)`, `ARRAY<INT>`).
    pub fn sql_name(&self) -> String {
        match self {
            SqlType::Boolean => "BOOLEAN".into(),
            SqlType::TinyInt => "TINYINT".into(),
            SqlType::SmallInt => "SMALLINT".into(),
            SqlType::Int => "INT".into(),
            SqlType::BigInt => "BIGINT".into(),
            SqlType::Float => "FLOAT".into(),
            SqlType::Double => "DOUBLE".into(),
            SqlType::String => "STRING".into(),
            SqlType::Binary => "BINARY".into(),
            SqlType::Date => "DATE".into(),
            SqlType::Timestamp => "TIMESTAMP".into(),
            SqlType::TimestampNtz => "TIMESTAMP_NTZ".into(),
            SqlType::Decimal { precision, scale } => format!("DECIMAL({precision},{scale})"),
            SqlType::Variant => "VARIANT".into(),
            SqlType::Array(e) => format!("ARRAY<{}>", e.sql_name()),
            SqlType::Map(k, v) => format!("MAP<{}, {}>", k.sql_name(), v.sql_name()),
            SqlType::Struct(fields) => format!(
                "STRUCT<{}>",
                fields
                    .iter()
                    .map(|f| format!("{}: {}", f.name, f.ty.sql_name()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

fn from_json(value: &Value, depth: usize) -> std::result::Result<SqlType, String> {
    if depth > MAX_DEPTH {
        return Err(format!("type nested deeper than {MAX_DEPTH} levels"));
    }
    match value {
        Value::String(s) => {
            SqlType::primitive(s).ok_or_else(|| format!("unknown primitive type '{s}'"))
        }
        Value::Object(o) => {
            let kind = o.get("type").ok_or("a type object without \"type\"")?;
            // A StructField wrapper: {"name": …, "type": …, "nullable": …}.
            let complex = matches!(kind.as_str(), Some("struct" | "array" | "map"));
            if o.contains_key("name") && !complex {
                return from_json(kind, depth + 1);
            }
            match kind.as_str() {
                Some("struct") => {
                    let fields = o
                        .get("fields")
                        .and_then(Value::as_array)
                        .ok_or("a struct without \"fields\"")?;
                    let mut out = Vec::with_capacity(fields.len());
                    for f in fields {
                        let name = f
                            .get("name")
                            .and_then(Value::as_str)
                            .ok_or("a struct field without a name")?;
                        let ty = f.get("type").ok_or("a struct field without a type")?;
                        out.push(SqlField {
                            name: name.to_string(),
                            ty: from_json(ty, depth + 1)?,
                            nullable: f.get("nullable").and_then(Value::as_bool).unwrap_or(true),
                        });
                    }
                    Ok(SqlType::Struct(out))
                }
                Some("array") => Ok(SqlType::Array(Box::new(from_json(
                    o.get("elementType")
                        .ok_or("an array without \"elementType\"")?,
                    depth + 1,
                )?))),
                Some("map") => Ok(SqlType::Map(
                    Box::new(from_json(
                        o.get("keyType").ok_or("a map without \"keyType\"")?,
                        depth + 1,
                    )?),
                    Box::new(from_json(
                        o.get("valueType").ok_or("a map without \"valueType\"")?,
                        depth + 1,
                    )?),
                )),
                _ => from_json(kind, depth + 1),
            }
        }
        other => Err(format!("unexpected type JSON {other}")),
    }
}

/// The columns of a UC table in position order, with their types.
pub fn columns_from_uc(table: &str, columns: &[UcColumn]) -> crate::Result<Vec<SqlField>> {
    let mut sorted: Vec<&UcColumn> = columns.iter().filter(|c| c.position >= 0).collect();
    sorted.sort_by_key(|c| c.position);
    sorted
        .into_iter()
        .map(|c| {
            let bad = |why: String| {
                crate::ZerobusError::Conversion(format!(
                    "table '{table}': column '{}' has a type this client does not understand ({why})",
                    c.name
                ).into())
            };
            let ty = if matches!(
                c.type_name.to_ascii_uppercase().as_str(),
                "STRUCT" | "ARRAY" | "MAP"
            ) {
                let json: Value = serde_json::from_str(&c.type_json)
                    .map_err(|e| bad(format!("type_json: {e}")))?;
                SqlType::from_type_json(&json).map_err(bad)?
            } else if c.type_name.eq_ignore_ascii_case("DECIMAL") {
                SqlType::primitive(&c.type_text)
                    .filter(|t| matches!(t, SqlType::Decimal { .. }))
                    .unwrap_or(SqlType::Decimal {
                        precision: 10,
                        scale: 0,
                    })
            } else {
                SqlType::primitive(&c.type_name).ok_or_else(|| bad(c.type_name.clone()))?
            };
            Ok(SqlField {
                name: c.name.clone(),
                ty,
                nullable: c.nullable,
            })
        })
        .collect()
}

/// The columns an Arrow schema declares (for tables described by their batches).
pub fn columns_from_arrow(schema: &Schema) -> Vec<SqlField> {
    schema
        .fields()
        .iter()
        .filter_map(|f| {
            Some(SqlField {
                name: f.name().clone(),
                ty: SqlType::from_arrow(f.data_type())?,
                nullable: f.is_nullable(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_json_forms_are_read() {
        let wrapped: Value = serde_json::from_str(
            r#"{"name":"m","type":{"type":"map","keyType":"string","valueType":"decimal(5,1)","valueContainsNull":true},"nullable":true,"metadata":{}}"#,
        )
        .unwrap();
        assert_eq!(
            SqlType::from_type_json(&wrapped).unwrap(),
            SqlType::Map(
                Box::new(SqlType::String),
                Box::new(SqlType::Decimal {
                    precision: 5,
                    scale: 1
                })
            )
        );
        let nested: Value = serde_json::from_str(
            r#"{"type":"array","elementType":{"type":"struct","fields":[{"name":"ts","type":"timestamp","nullable":false}]},"containsNull":true}"#,
        )
        .unwrap();
        assert_eq!(
            SqlType::from_type_json(&nested).unwrap().sql_name(),
            "ARRAY<STRUCT<ts: TIMESTAMP>>"
        );
        let top: Value =
            serde_json::from_str(r#"{"name":"id","type":"integer","nullable":false}"#).unwrap();
        assert_eq!(SqlType::from_type_json(&top).unwrap(), SqlType::Int);
        assert!(SqlType::from_type_json(&Value::String("interval".into())).is_err());
    }

    #[test]
    fn arrow_types_declare_what_they_hold() {
        assert_eq!(
            SqlType::from_arrow(&DataType::Timestamp(
                TimeUnit::Nanosecond,
                Some("+02:00".into())
            )),
            Some(SqlType::Timestamp)
        );
        assert_eq!(
            SqlType::from_arrow(&DataType::Timestamp(TimeUnit::Second, None)),
            Some(SqlType::TimestampNtz)
        );
        assert_eq!(SqlType::from_arrow(&DataType::Date64), Some(SqlType::Date));
        assert_eq!(
            SqlType::from_arrow(&DataType::Time64(TimeUnit::Microsecond)),
            None
        );
    }
}
