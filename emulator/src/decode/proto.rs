//! Protobuf records: a decode plan from the stream's descriptor against the table's
//! columns (refusing a descriptor the service would refuse), then each record to cells.

use std::collections::HashMap;

use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, Value};

use super::limits::MAX_RECORD_BYTES;
use super::values::{int_value, text_value};
use crate::cells::Cell;
use crate::types::{Primitive, UcField, UcType};

/// How one table column (or struct field) is read from a record.
#[derive(Debug, Clone)]
enum Conv {
    Prim(Primitive),
    List(Box<Conv>),
    Map(Box<Conv>, Box<Conv>),
    Struct(StructPlan),
}

#[derive(Debug, Clone)]
struct ColPlan {
    name: String,
    nullable: bool,
    field: Option<FieldDescriptor>,
    conv: Conv,
}

#[derive(Debug, Clone)]
struct StructPlan {
    cols: Vec<ColPlan>,
}

/// A checked mapping from a stream's protobuf message to a table's columns.
#[derive(Debug, Clone)]
pub struct ProtoPlan {
    message: MessageDescriptor,
    root: StructPlan,
}

fn kind_name(kind: &Kind) -> String {
    match kind {
        Kind::Message(m) => format!("message {}", m.name()),
        Kind::Enum(e) => format!("enum {}", e.name()),
        other => format!("{other:?}").to_ascii_lowercase(),
    }
}

/// Whether a descriptor field of `kind` is the one the service maps a column of `p` to
/// (the SDK's UC → descriptor mapping): exactly that type, no narrower one. An int32 field
/// for a TIMESTAMP column would store days or seconds as microseconds.
fn scalar_compatible(p: Primitive, kind: &Kind) -> bool {
    use Kind::*;
    match p {
        Primitive::String | Primitive::Variant | Primitive::Decimal(..) => matches!(kind, String),
        Primitive::Long | Primitive::Timestamp | Primitive::TimestampNtz => matches!(kind, Int64),
        Primitive::Int | Primitive::Short | Primitive::Byte | Primitive::Date => {
            matches!(kind, Int32)
        }
        Primitive::Float => matches!(kind, Float),
        Primitive::Double => matches!(kind, Double),
        Primitive::Boolean => matches!(kind, Bool),
        Primitive::Binary => matches!(kind, Bytes),
    }
}

fn plan_value(
    ty: &UcType,
    field: &FieldDescriptor,
    path: &str,
    element: bool,
) -> Result<Conv, String> {
    let kind = field.kind();
    let mismatch = || {
        format!(
            "field '{path}' has protobuf type {}{} but the column is {}",
            if field.is_list() && !element {
                "repeated "
            } else {
                ""
            },
            kind_name(&kind),
            ty.type_text()
        )
    };
    match ty {
        UcType::Primitive(p) => {
            if scalar_compatible(*p, &kind) {
                Ok(Conv::Prim(*p))
            } else {
                Err(mismatch())
            }
        }
        UcType::Struct(fields) => match &kind {
            Kind::Message(m) if !field.is_map() => Ok(Conv::Struct(plan_struct(fields, m, path)?)),
            _ => Err(mismatch()),
        },
        UcType::Array(_) | UcType::Map(..) => Err(mismatch()),
    }
}

fn plan_column(col: &UcField, field: &FieldDescriptor, path: &str) -> Result<Conv, String> {
    match &col.ty {
        UcType::Array(elem) => {
            if !field.is_list() {
                return Err(format!(
                    "field '{path}' is not repeated but the column is {}",
                    col.ty.type_text()
                ));
            }
            Ok(Conv::List(Box::new(plan_value(elem, field, path, true)?)))
        }
        UcType::Map(k, v) => {
            if !field.is_map() {
                return Err(format!(
                    "field '{path}' is not a map entry but the column is {}",
                    col.ty.type_text()
                ));
            }
            let Kind::Message(entry) = field.kind() else {
                return Err(format!("field '{path}' is a map without an entry message"));
            };
            let kf = entry.map_entry_key_field();
            let vf = entry.map_entry_value_field();
            Ok(Conv::Map(
                Box::new(plan_value(k, &kf, &format!("{path}.key"), true)?),
                Box::new(plan_value(v, &vf, &format!("{path}.value"), true)?),
            ))
        }
        other => {
            if field.is_list() || field.is_map() {
                return Err(format!(
                    "field '{path}' is repeated but the column is {}",
                    other.type_text()
                ));
            }
            plan_value(other, field, path, false)
        }
    }
}

fn plan_struct(
    cols: &[UcField],
    message: &MessageDescriptor,
    prefix: &str,
) -> Result<StructPlan, String> {
    let join = |name: &str| {
        if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        }
    };
    let by_name: HashMap<String, &UcField> = cols
        .iter()
        .map(|c| (c.name.to_ascii_lowercase(), c))
        .collect();
    let mut problems = Vec::new();
    let mut matched: HashMap<String, FieldDescriptor> = HashMap::new();
    for f in message.fields() {
        match by_name.get(&f.name().to_ascii_lowercase()) {
            Some(_) => {
                matched.insert(f.name().to_ascii_lowercase(), f);
            }
            None => problems.push(format!(
                "field '{}' is not a column of the table",
                join(f.name())
            )),
        }
    }
    let mut plans = Vec::with_capacity(cols.len());
    for col in cols {
        let path = join(&col.name);
        let field = matched.get(&col.name.to_ascii_lowercase()).cloned();
        let conv = match &field {
            Some(f) => match plan_column(col, f, &path) {
                Ok(c) => c,
                Err(e) => {
                    problems.push(e);
                    continue;
                }
            },
            None => {
                if !col.nullable {
                    problems.push(format!(
                        "column '{path}' is NOT NULL but the descriptor has no field for it"
                    ));
                }
                Conv::Prim(Primitive::String)
            }
        };
        plans.push(ColPlan {
            name: col.name.clone(),
            nullable: col.nullable,
            field,
            conv,
        });
    }
    if problems.is_empty() {
        Ok(StructPlan { cols: plans })
    } else {
        Err(problems.join("; "))
    }
}

impl ProtoPlan {
    /// Check `descriptor` against the table columns; every incompatibility is listed.
    pub fn new(
        columns: &[UcField],
        descriptor: &prost_types::DescriptorProto,
    ) -> Result<ProtoPlan, String> {
        let message = databricks_zerobus_ingest_sdk::message_descriptor(descriptor)
            .map_err(|e| format!("the descriptor is not a valid protobuf message: {e}"))?;
        let root = plan_struct(columns, &message, "")?;
        Ok(ProtoPlan { message, root })
    }

    /// Decode one record into a row of cells.
    pub fn decode(&self, bytes: &[u8]) -> Result<Vec<Cell>, String> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(format!(
                "record is {} bytes, over the {MAX_RECORD_BYTES}-byte limit",
                bytes.len()
            ));
        }
        let msg = DynamicMessage::decode(self.message.clone(), bytes).map_err(|e| {
            format!(
                "record is not a valid '{}' message: {e}",
                self.message.name()
            )
        })?;
        decode_struct(&self.root, &msg, "")
    }
}

fn decode_struct(
    plan: &StructPlan,
    msg: &DynamicMessage,
    prefix: &str,
) -> Result<Vec<Cell>, String> {
    let mut out = Vec::with_capacity(plan.cols.len());
    for col in &plan.cols {
        let path = if prefix.is_empty() {
            col.name.clone()
        } else {
            format!("{prefix}.{}", col.name)
        };
        let cell = match &col.field {
            None => Cell::Null,
            Some(f) => match &col.conv {
                Conv::List(elem) => {
                    let v = msg.get_field(f);
                    let items = v.as_list().unwrap_or(&[]);
                    Cell::List(
                        items
                            .iter()
                            .map(|item| proto_value(elem, item, &path))
                            .collect::<Result<_, _>>()?,
                    )
                }
                Conv::Map(kc, vc) => {
                    let v = msg.get_field(f);
                    let mut entries = Vec::new();
                    if let Some(map) = v.as_map() {
                        // Protobuf maps are unordered (and decoded into a hash map here):
                        // entries land sorted by key, so the stored order is deterministic.
                        let mut sorted: Vec<_> = map.iter().collect();
                        sorted.sort_by(|a, b| a.0.cmp(b.0));
                        for (k, val) in sorted {
                            entries.push((map_key(kc, k, &path)?, proto_value(vc, val, &path)?));
                        }
                    }
                    Cell::Map(entries)
                }
                conv => {
                    if msg.has_field(f) {
                        proto_value(conv, &msg.get_field(f), &path)?
                    } else {
                        Cell::Null
                    }
                }
            },
        };
        if matches!(cell, Cell::Null) && !col.nullable {
            return Err(format!(
                "column '{path}' is NOT NULL but the record has no value for it"
            ));
        }
        out.push(cell);
    }
    Ok(out)
}

fn map_key(conv: &Conv, k: &MapKey, path: &str) -> Result<Cell, String> {
    let v = match k {
        MapKey::Bool(b) => Value::Bool(*b),
        MapKey::I32(i) => Value::I32(*i),
        MapKey::I64(i) => Value::I64(*i),
        MapKey::U32(i) => Value::U32(*i),
        MapKey::U64(i) => Value::U64(*i),
        MapKey::String(s) => Value::String(s.clone()),
    };
    proto_value(conv, &v, path)
}

fn proto_value(conv: &Conv, v: &Value, path: &str) -> Result<Cell, String> {
    match conv {
        Conv::Prim(p) => {
            let int = match v {
                Value::I32(i) => Some(*i as i64),
                Value::I64(i) => Some(*i),
                Value::U32(i) => Some(*i as i64),
                _ => None,
            };
            match (p, v) {
                (Primitive::Float, Value::F32(f)) => Ok(Cell::F32(*f)),
                (Primitive::Double, Value::F64(f)) => Ok(Cell::F64(*f)),
                (Primitive::Double, Value::F32(f)) => Ok(Cell::F64(*f as f64)),
                (Primitive::Boolean, Value::Bool(b)) => Ok(Cell::Bool(*b)),
                (Primitive::Binary, Value::Bytes(b)) => Ok(Cell::Bytes(b.to_vec())),
                (
                    Primitive::String | Primitive::Variant | Primitive::Decimal(..),
                    Value::String(s),
                ) => text_value(*p, s, path),
                _ => match int {
                    Some(i) => int_value(*p, i, path),
                    None => Err(format!("column '{path}': unexpected protobuf value {v:?}")),
                },
            }
        }
        Conv::Struct(plan) => match v {
            Value::Message(m) => Ok(Cell::Struct(decode_struct(plan, m, path)?)),
            other => Err(format!(
                "column '{path}': expected a message, got {other:?}"
            )),
        },
        Conv::List(_) | Conv::Map(..) => Err(format!(
            "column '{path}': nested collections are not supported"
        )),
    }
}
