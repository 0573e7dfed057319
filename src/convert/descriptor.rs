//! Protobuf descriptors for Zerobus streams: from an Arrow schema (field number = column
//! position + 1, names made valid proto identifiers), or from a Unity Catalog table through
//! the SDK's own `schema` module (field number = UC position + 1).

use std::collections::HashSet;

use arrow::datatypes::{DataType, Field, Schema};
use databricks_zerobus_ingest_sdk::schema::{descriptor_from_uc_columns, UcColumn};
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, MessageOptions};

use crate::error::{Result, ZerobusError};

/// Largest number of columns a Zerobus table (and so a descriptor) may have.
pub const MAX_COLUMNS: usize = 2000;

/// A descriptor for `columns` of a Unity Catalog table (the SDK's mapping, unchanged).
pub fn descriptor_from_uc(columns: &[UcColumn], message_name: &str) -> Result<DescriptorProto> {
    descriptor_from_uc_columns(columns, message_name).map_err(|e| {
        ZerobusError::Conversion(
            format!("cannot build a descriptor from the table schema: {e}").into(),
        )
    })
}

/// A valid protobuf identifier for `name`: characters outside `[A-Za-z0-9_]` become `_`,
/// a leading digit gets a `_` in front.
///
/// ```
/// use arrow_zerobus_sdk_wrapper::convert::proto_identifier;
/// assert_eq!(proto_identifier("order id"), "order_id");
/// assert_eq!(proto_identifier("1st"), "_1st");
/// ```
pub fn proto_identifier(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn message_name(path: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in path.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(if upper { c.to_ascii_uppercase() } else { c });
            upper = false;
        } else {
            upper = true;
        }
    }
    if !out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.insert(0, 'M');
    }
    out
}

struct Names {
    used: HashSet<String>,
}

impl Names {
    fn unique(&mut self, base: String) -> String {
        if self.used.insert(base.clone()) {
            return base;
        }
        (2..)
            .map(|n| format!("{base}{n}"))
            .find(|c| self.used.insert(c.clone()))
            .unwrap_or(base)
    }
}

/// A descriptor for batches of `schema` (see the module docs for numbering and names).
///
/// ```
/// use arrow::datatypes::{DataType, Field, Schema};
/// use arrow_zerobus_sdk_wrapper::convert::descriptor_from_arrow;
/// let schema = Schema::new(vec![
///     Field::new("id", DataType::Int64, false),
///     Field::new("tags", DataType::new_list(DataType::Utf8, true), true),
/// ]);
/// let d = descriptor_from_arrow(&schema, "events").unwrap();
/// assert_eq!(d.field[0].number(), 1);
/// assert_eq!(d.field[1].number(), 2);
/// ```
pub fn descriptor_from_arrow(schema: &Schema, table: &str) -> Result<DescriptorProto> {
    if schema.fields().len() > MAX_COLUMNS {
        return Err(ZerobusError::Conversion(
            format!(
                "table '{table}': the batch has {} columns; Zerobus supports at most {MAX_COLUMNS}",
                schema.fields().len()
            )
            .into(),
        ));
    }
    let mut problems = Vec::new();
    let mut names = Names {
        used: HashSet::new(),
    };
    let msg = message_fields(
        schema.fields().iter().map(|f| f.as_ref()),
        &message_name(table),
        &mut names,
        &mut problems,
    );
    if problems.is_empty() {
        Ok(msg)
    } else {
        Err(ZerobusError::Conversion(
            format!("table '{table}': {}", problems.join("; ")).into(),
        ))
    }
}

fn message_fields<'a>(
    fields: impl Iterator<Item = &'a Field>,
    name: &str,
    names: &mut Names,
    problems: &mut Vec<String>,
) -> DescriptorProto {
    let mut msg = DescriptorProto {
        name: Some(name.to_string()),
        ..Default::default()
    };
    let mut field_names = HashSet::new();
    for (i, f) in fields.enumerate() {
        let fname = proto_identifier(f.name());
        if !field_names.insert(fname.to_ascii_lowercase()) {
            problems.push(format!(
                "column '{}' collides with another column as proto field '{fname}'",
                f.name()
            ));
            continue;
        }
        let label = if f.is_nullable() {
            Label::Optional
        } else {
            Label::Required
        };
        match field_type(
            f.data_type(),
            &format!("{name}_{fname}"),
            f.name(),
            names,
            problems,
        ) {
            Some((ty, type_name, repeated, nested)) => {
                msg.nested_type.extend(nested);
                msg.field.push(FieldDescriptorProto {
                    name: Some(fname.clone()),
                    number: Some(i as i32 + 1),
                    label: Some(if repeated { Label::Repeated } else { label } as i32),
                    r#type: Some(ty as i32),
                    type_name,
                    json_name: Some(fname),
                    ..Default::default()
                });
            }
            None => continue,
        }
    }
    msg
}

type FieldShape = (Type, Option<String>, bool, Vec<DescriptorProto>);

/// The proto type of a scalar Arrow type (the table in ARCHITECTURE.md, "Types").
pub(crate) fn scalar_type(dt: &DataType) -> Option<Type> {
    Some(match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Type::String,
        DataType::Decimal128(..) | DataType::Decimal256(..) => Type::String,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::UInt8 | DataType::UInt16 => {
            Type::Int32
        }
        DataType::Date32 | DataType::Date64 => Type::Int32,
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 | DataType::Timestamp(..) => {
            Type::Int64
        }
        DataType::Float16 | DataType::Float32 => Type::Float,
        DataType::Float64 => Type::Double,
        DataType::Boolean => Type::Bool,
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => Type::Bytes,
        DataType::Dictionary(_, v) => return scalar_type(v),
        _ => return None,
    })
}

/// The element field of a list-like type.
pub(crate) fn list_element(dt: &DataType) -> Option<&Field> {
    match dt {
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::FixedSizeList(f, _)
        | DataType::ListView(f)
        | DataType::LargeListView(f) => Some(f),
        _ => None,
    }
}

fn field_type(
    dt: &DataType,
    path: &str,
    column: &str,
    names: &mut Names,
    problems: &mut Vec<String>,
) -> Option<FieldShape> {
    if let Some(t) = scalar_type(dt) {
        return Some((t, None, false, vec![]));
    }
    match dt {
        DataType::Struct(children) => {
            let name = names.unique(message_name(path));
            let nested =
                message_fields(children.iter().map(|f| f.as_ref()), &name, names, problems);
            Some((Type::Message, Some(name), false, vec![nested]))
        }
        DataType::Map(entries, _) => map_type(entries, path, column, names, problems),
        other => match list_element(other) {
            Some(elem) => {
                let (t, tn, rep, nested) = field_type(
                    elem.data_type(),
                    &format!("{path}_element"),
                    column,
                    names,
                    problems,
                )?;
                if rep {
                    problems.push(format!(
                        "column '{column}': lists of lists or of maps are not supported by Zerobus"
                    ));
                    return None;
                }
                Some((t, tn, true, nested))
            }
            None => {
                problems.push(format!(
                    "column '{column}': Arrow type {other} has no Zerobus mapping"
                ));
                None
            }
        },
    }
}

/// A MAP column: a nested entry message (key = 1, value = 2) marked as a map entry.
fn map_type(
    entries: &Field,
    path: &str,
    column: &str,
    names: &mut Names,
    problems: &mut Vec<String>,
) -> Option<FieldShape> {
    let DataType::Struct(kv) = entries.data_type() else {
        problems.push(format!("column '{column}': map entries are not a struct"));
        return None;
    };
    let (key, value) = (kv.first()?, kv.get(1)?);
    let key_type = match scalar_type(key.data_type()) {
        Some(t @ (Type::Int32 | Type::Int64 | Type::Bool | Type::String))
            if !matches!(
                key.data_type(),
                DataType::Decimal128(..) | DataType::Decimal256(..)
            ) =>
        {
            t
        }
        _ => {
            problems.push(format!(
                "column '{column}': map key type {} is not supported (keys must be integral, boolean or string)",
                key.data_type()
            ));
            return None;
        }
    };
    let entry_name = names.unique(format!("{}Entry", message_name(path)));
    let (vt, vtn, vrep, vnested) = field_type(
        value.data_type(),
        &format!("{path}_value"),
        column,
        names,
        problems,
    )?;
    if vrep {
        problems.push(format!(
            "column '{column}': maps with list or map values are not supported by Zerobus"
        ));
        return None;
    }
    let entry_field =
        |name: &str, number: i32, ty: Type, type_name: Option<String>| FieldDescriptorProto {
            name: Some(name.into()),
            number: Some(number),
            label: Some(Label::Optional as i32),
            r#type: Some(ty as i32),
            type_name,
            json_name: Some(name.into()),
            ..Default::default()
        };
    let entry = DescriptorProto {
        name: Some(entry_name.clone()),
        options: Some(MessageOptions {
            map_entry: Some(true),
            ..Default::default()
        }),
        nested_type: vnested,
        field: vec![
            entry_field("key", 1, key_type, None),
            entry_field("value", 2, vt, vtn.map(|n| format!("{entry_name}.{n}"))),
        ],
        ..Default::default()
    };
    Some((Type::Message, Some(entry_name), true, vec![entry]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{Fields, TimeUnit};
    use std::sync::Arc;

    #[test]
    fn nested_schema_resolves_in_a_descriptor_pool() {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                true,
            ),
            Field::new(
                "s",
                DataType::Struct(Fields::from(vec![
                    Field::new("a b", DataType::Int32, true),
                    Field::new(
                        "inner",
                        DataType::Struct(Fields::from(vec![Field::new(
                            "x",
                            DataType::Float64,
                            true,
                        )])),
                        true,
                    ),
                ])),
                true,
            ),
            Field::new_map(
                "m",
                "entries",
                Field::new("keys", DataType::Utf8, false),
                Field::new(
                    "values",
                    DataType::Struct(Fields::from(vec![Field::new("v", DataType::Int64, true)])),
                    true,
                ),
                false,
                true,
            ),
            Field::new(
                "l",
                DataType::List(Arc::new(Field::new(
                    "item",
                    DataType::Struct(Fields::from(vec![Field::new("k", DataType::Utf8, true)])),
                    true,
                ))),
                true,
            ),
        ]);
        let d = descriptor_from_arrow(&schema, "main.default.t").unwrap();
        let md = databricks_zerobus_ingest_sdk::message_descriptor(&d)
            .expect("pool accepts the descriptor");
        assert_eq!(md.fields().count(), 5);
        assert!(md.get_field_by_name("m").unwrap().is_map());
        assert!(md.get_field_by_name("l").unwrap().is_list());
        assert_eq!(
            md.get_field_by_name("id").unwrap().cardinality(),
            prost_reflect::Cardinality::Required
        );
        let s = md.get_field_by_name("s").unwrap();
        let prost_reflect::Kind::Message(sm) = s.kind() else {
            panic!("struct is a message")
        };
        assert!(sm.get_field_by_name("a_b").is_some());
    }

    #[test]
    fn unsupported_types_are_named_all_at_once() {
        let schema = Schema::new(vec![
            Field::new("t", DataType::Time64(TimeUnit::Microsecond), true),
            Field::new("ok", DataType::Utf8, true),
            Field::new(
                "ll",
                DataType::new_list(DataType::new_list(DataType::Int32, true), true),
                true,
            ),
        ]);
        let err = descriptor_from_arrow(&schema, "main.default.t")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("column 't'") && err.contains("column 'll'"),
            "{err}"
        );
    }
}
