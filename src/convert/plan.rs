//! Planning: match a batch's columns to the table's fields, once per batch schema.
//!
//! Every column is matched by name (case-insensitive) to a descriptor field and to the
//! column type the table declares ([`SqlType`]). The pair (Arrow type, table type) decides
//! how values are written ([`Rule`]) or, when no exact conversion exists, is refused here,
//! before any batch is encoded. Every problem of a schema is reported at once.

use std::collections::HashMap;

use arrow::datatypes::{DataType, Field};
use prost_reflect::{Cardinality, FieldDescriptor, Kind, MessageDescriptor};

use super::descriptor::{list_element, proto_identifier};
use super::sql_type::{SqlField, SqlType};

/// The proto scalar a column is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scalar {
    Int32,
    Int64,
    Bool,
    Float,
    Double,
    String,
    Bytes,
}

/// How the values of a scalar column become the field's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rule {
    /// As they are (booleans, floats, text into STRING, bytes into BINARY).
    Plain,
    /// Integers, each checked to lie in `min..=max` (TINYINT, SMALLINT, INT, BIGINT).
    Range(i64, i64),
    /// Dates as days since the epoch (DATE).
    Days,
    /// Instants or wall-clock times in microseconds (TIMESTAMP, TIMESTAMP_NTZ); dates
    /// become midnight. Sub-microsecond digits are refused, never dropped.
    Micros,
    /// Decimal text at the table's scale, checked against its precision.
    Decimal(u8, i8),
    /// Text that must be JSON (VARIANT).
    Json,
}

#[derive(Debug, Clone)]
pub(super) enum Target {
    Scalar(Scalar, Rule),
    Message(Vec<FieldPlan>),
    /// `repeated` of a scalar or message element.
    Repeated(Box<Target>),
    /// A map field: entries with key (1) and value (2).
    Map((Scalar, Rule), Box<Target>),
}

#[derive(Debug, Clone)]
pub(super) struct FieldPlan {
    /// Index of the column among its siblings (batch columns or struct children).
    pub index: usize,
    /// Column path for messages (`s.inner.x`).
    pub path: String,
    pub number: u32,
    pub required: bool,
    pub target: Target,
    /// Index of the table's column (or struct field) this field is, among the declared
    /// ones (`None` when the table declares no type for it).
    pub column: Option<usize>,
}

fn scalar_of(kind: &Kind) -> Option<Scalar> {
    Some(match kind {
        Kind::Int32 => Scalar::Int32,
        Kind::Int64 => Scalar::Int64,
        Kind::Bool => Scalar::Bool,
        Kind::Float => Scalar::Float,
        Kind::Double => Scalar::Double,
        Kind::String => Scalar::String,
        Kind::Bytes => Scalar::Bytes,
        _ => return None,
    })
}

/// The table type a descriptor field implies when the table declares none for it.
fn sql_of_kind(kind: &Kind) -> SqlType {
    match kind {
        Kind::Int32 => SqlType::Int,
        Kind::Int64 => SqlType::BigInt,
        Kind::Bool => SqlType::Boolean,
        Kind::Float => SqlType::Float,
        Kind::Double => SqlType::Double,
        Kind::String => SqlType::String,
        Kind::Bytes => SqlType::Binary,
        _ => SqlType::Struct(Vec::new()),
    }
}

pub(super) fn unwrap_dictionary(dt: &DataType) -> &DataType {
    match dt {
        DataType::Dictionary(_, v) => unwrap_dictionary(v),
        other => other,
    }
}

/// Can a value of Arrow type `dt` be written as proto scalar `s` at all?
fn scalar_compatible(dt: &DataType, s: Scalar) -> bool {
    use DataType::*;
    match unwrap_dictionary(dt) {
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 | Date32 | Date64
        | Timestamp(..) => {
            matches!(s, Scalar::Int32 | Scalar::Int64)
        }
        Boolean => s == Scalar::Bool,
        Float16 | Float32 => matches!(s, Scalar::Float | Scalar::Double),
        Float64 => s == Scalar::Double,
        Utf8 | LargeUtf8 | Utf8View => matches!(s, Scalar::String | Scalar::Bytes),
        Decimal128(..) | Decimal256(..) => s == Scalar::String,
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => s == Scalar::Bytes,
        _ => false,
    }
}

fn is_text(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// The rule for values of Arrow type `dt` in a column of table type `sql`, or why there
/// is no exact conversion.
fn scalar_rule(dt: &DataType, sql: &SqlType) -> std::result::Result<Rule, String> {
    use DataType as D;
    let dt = unwrap_dictionary(dt);
    let refuse = |hint: &str| {
        Err(format!(
            "of Arrow type {dt} cannot be written to the table's {} column{hint}",
            sql.sql_name()
        ))
    };
    let range = |min: i64, max: i64| {
        if dt.is_integer() {
            Ok(Rule::Range(min, max))
        } else {
            refuse("")
        }
    };
    match sql {
        SqlType::Boolean if *dt == D::Boolean => Ok(Rule::Plain),
        SqlType::TinyInt => range(i8::MIN.into(), i8::MAX.into()),
        SqlType::SmallInt => range(i16::MIN.into(), i16::MAX.into()),
        SqlType::Int => range(i32::MIN.into(), i32::MAX.into()),
        SqlType::BigInt => range(i64::MIN, i64::MAX),
        SqlType::Float if matches!(dt, D::Float16 | D::Float32) => Ok(Rule::Plain),
        SqlType::Float if *dt == D::Float64 => {
            refuse(" without losing precision; cast it to FLOAT (Float32) first")
        }
        SqlType::Double if matches!(dt, D::Float16 | D::Float32 | D::Float64) => Ok(Rule::Plain),
        SqlType::String if is_text(dt) || matches!(dt, D::Decimal128(..) | D::Decimal256(..)) => {
            Ok(Rule::Plain)
        }
        SqlType::Binary
            if is_text(dt)
                || matches!(
                    dt,
                    D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_)
                ) =>
        {
            Ok(Rule::Plain)
        }
        SqlType::Date if matches!(dt, D::Date32 | D::Date64) => Ok(Rule::Days),
        SqlType::Date if matches!(dt, D::Timestamp(..)) => {
            refuse(": a timestamp is not a date; cast it to DATE first to say which day it is")
        }
        SqlType::Timestamp | SqlType::TimestampNtz if matches!(dt, D::Date32 | D::Date64) => {
            Ok(Rule::Micros)
        }
        SqlType::Timestamp => match dt {
            D::Timestamp(_, Some(_)) => Ok(Rule::Micros),
            D::Timestamp(_, None) => refuse(
                ": a timestamp without time zone is a wall-clock time, not an instant; give it a zone \
                 (e.g. Timestamp(Microsecond, \"UTC\")) or write it to a TIMESTAMP_NTZ column",
            ),
            _ => refuse(""),
        },
        SqlType::TimestampNtz => match dt {
            D::Timestamp(_, None) => Ok(Rule::Micros),
            D::Timestamp(_, Some(_)) => refuse(
                ": an instant has no wall-clock time until a zone is chosen; convert it to a \
                 timestamp without time zone first, or write it to a TIMESTAMP column",
            ),
            _ => refuse(""),
        },
        SqlType::Decimal { precision, scale } => match dt {
            D::Decimal128(..) | D::Decimal256(..) => Ok(Rule::Decimal(*precision, *scale)),
            _ => refuse(&format!("; cast it to DECIMAL({precision},{scale}) first")),
        },
        SqlType::Variant if is_text(dt) => Ok(Rule::Json),
        SqlType::Variant => refuse(": VARIANT values are sent as JSON text (a string column)"),
        _ => refuse(""),
    }
}

fn kind_text(f: &FieldDescriptor) -> String {
    let base = match f.kind() {
        Kind::Message(m) if f.is_map() => format!(
            "map<{:?}, {:?}>",
            m.map_entry_key_field().kind(),
            m.map_entry_value_field().kind()
        ),
        Kind::Message(m) => format!("message {}", m.name()),
        other => format!("{other:?}").to_ascii_lowercase(),
    };
    if f.is_list() {
        format!("repeated {base}")
    } else {
        base
    }
}

/// The scalar target of a value of `dt` for proto `kind` and table type `sql`.
fn plan_scalar(
    dt: &DataType,
    kind: &Kind,
    sql: &SqlType,
    path: &str,
    problems: &mut Vec<String>,
) -> Option<(Scalar, Rule)> {
    let s = scalar_of(kind)?;
    if !scalar_compatible(dt, s) {
        problems.push(format!(
            "column '{path}' of Arrow type {} cannot be written as protobuf {s:?} ({} column)",
            unwrap_dictionary(dt),
            sql.sql_name()
        ));
        return None;
    }
    match scalar_rule(dt, sql) {
        Ok(rule) => Some((s, rule)),
        Err(why) => {
            problems.push(format!("column '{path}' {why}"));
            None
        }
    }
}

fn plan_value(
    dt: &DataType,
    kind: &Kind,
    sql: &SqlType,
    path: &str,
    problems: &mut Vec<String>,
) -> Option<Target> {
    let dt = unwrap_dictionary(dt);
    if scalar_of(kind).is_some() {
        let sql = match sql {
            SqlType::Struct(_) | SqlType::Array(_) | SqlType::Map(..) => sql_of_kind(kind),
            other => other.clone(),
        };
        return plan_scalar(dt, kind, &sql, path, problems).map(|(s, r)| Target::Scalar(s, r));
    }
    match (dt, kind) {
        (DataType::Struct(children), Kind::Message(m)) => {
            let declared = match sql {
                SqlType::Struct(fields) => fields.as_slice(),
                _ => &[],
            };
            Some(Target::Message(plan_message(
                children.iter().map(|f| f.as_ref()),
                m,
                declared,
                path,
                problems,
            )?))
        }
        _ => {
            problems.push(format!(
                "column '{path}' of Arrow type {dt} cannot be written as protobuf {kind:?}"
            ));
            None
        }
    }
}

fn plan_field(
    field: &Field,
    fd: &FieldDescriptor,
    sql: &SqlType,
    path: &str,
    problems: &mut Vec<String>,
) -> Option<Target> {
    let dt = unwrap_dictionary(field.data_type());
    if fd.is_map() {
        let (DataType::Map(entries, _), Kind::Message(entry)) = (dt, fd.kind()) else {
            problems.push(format!(
                "column '{path}' of Arrow type {dt} cannot be written as {}",
                kind_text(fd)
            ));
            return None;
        };
        let DataType::Struct(kv) = entries.data_type() else {
            problems.push(format!("column '{path}': map entries are not a struct"));
            return None;
        };
        let (Some(k), Some(v)) = (kv.first(), kv.get(1)) else {
            problems.push(format!(
                "column '{path}': map entries need a key and a value"
            ));
            return None;
        };
        let (key_kind, value_kind) = (
            entry.map_entry_key_field().kind(),
            entry.map_entry_value_field().kind(),
        );
        let (key_sql, value_sql) = match sql {
            SqlType::Map(k, v) => ((**k).clone(), (**v).clone()),
            _ => (sql_of_kind(&key_kind), sql_of_kind(&value_kind)),
        };
        let key = plan_scalar(
            k.data_type(),
            &key_kind,
            &key_sql,
            &format!("{path}.key"),
            problems,
        );
        let value = plan_value(
            v.data_type(),
            &value_kind,
            &value_sql,
            &format!("{path}.value"),
            problems,
        );
        return Some(Target::Map(key?, Box::new(value?)));
    }
    if fd.is_list() {
        let Some(elem) = list_element(dt) else {
            problems.push(format!(
                "column '{path}' of Arrow type {dt} is not a list but the field is {}",
                kind_text(fd)
            ));
            return None;
        };
        let elem_sql = match sql {
            SqlType::Array(e) => (**e).clone(),
            _ => sql_of_kind(&fd.kind()),
        };
        return Some(Target::Repeated(Box::new(plan_value(
            elem.data_type(),
            &fd.kind(),
            &elem_sql,
            path,
            problems,
        )?)));
    }
    if list_element(dt).is_some() || matches!(dt, DataType::Map(..)) {
        problems.push(format!(
            "column '{path}' of Arrow type {dt} is a collection but the field is {}",
            kind_text(fd)
        ));
        return None;
    }
    plan_value(dt, &fd.kind(), sql, path, problems)
}

/// The declared column of descriptor field `fd`: same name, then any case, then the name
/// made a proto identifier (descriptors built from Arrow schemas use those).
fn declared(columns: &[SqlField], fd: &FieldDescriptor) -> Option<usize> {
    let position = |f: &dyn Fn(&SqlField) -> bool| columns.iter().position(f);
    position(&|c| c.name == fd.name())
        .or_else(|| position(&|c| c.name.eq_ignore_ascii_case(fd.name())))
        .or_else(|| position(&|c| proto_identifier(&c.name).eq_ignore_ascii_case(fd.name())))
}

pub(super) fn plan_message<'a>(
    fields: impl Iterator<Item = &'a Field>,
    message: &MessageDescriptor,
    columns: &[SqlField],
    prefix: &str,
    problems: &mut Vec<String>,
) -> Option<Vec<FieldPlan>> {
    let before = problems.len();
    let mut plans = Vec::new();
    let mut used: HashMap<u32, String> = HashMap::new();
    for (index, field) in fields.enumerate() {
        let path = if prefix.is_empty() {
            field.name().clone()
        } else {
            format!("{prefix}.{}", field.name())
        };
        let fd = message
            .get_field_by_name(field.name())
            .or_else(|| {
                message
                    .fields()
                    .find(|f| f.name().eq_ignore_ascii_case(field.name()))
            })
            .or_else(|| {
                let ident = proto_identifier(field.name());
                message
                    .fields()
                    .find(|f| f.name().eq_ignore_ascii_case(&ident))
            });
        let Some(fd) = fd else {
            problems.push(format!("column '{path}' is not a column of the table"));
            continue;
        };
        if let Some(first) = used.get(&fd.number()) {
            problems.push(format!(
                "columns '{first}' and '{path}' both name the table's column '{}' (names are matched without regard to case)",
                fd.name()
            ));
            continue;
        }
        used.insert(fd.number(), path.clone());
        let column = declared(columns, &fd);
        let sql = column
            .map(|c| columns[c].ty.clone())
            .unwrap_or_else(|| sql_of_kind(&fd.kind()));
        if let Some(target) = plan_field(field, &fd, &sql, &path, problems) {
            plans.push(FieldPlan {
                index,
                path,
                number: fd.number(),
                required: fd.cardinality() == Cardinality::Required,
                target,
                column,
            });
        }
    }
    for fd in message.fields() {
        if fd.cardinality() == Cardinality::Required && !used.contains_key(&fd.number()) {
            let path = if prefix.is_empty() {
                fd.name().to_string()
            } else {
                format!("{prefix}.{}", fd.name())
            };
            problems.push(format!(
                "column '{path}' is NOT NULL in the table but missing from the batch"
            ));
        }
    }
    (problems.len() == before).then_some(plans)
}
