//! Records to rows: the stream's protobuf descriptor is checked against the table once,
//! at stream creation (as the real service does), then every record is decoded into
//! [`Cell`]s, in the table's column order, with the service's value checks (integer
//! ranges, decimal precision, NOT NULL, JSON validity of VARIANT).
//!
//! Protobuf has no null for `repeated` fields: an ARRAY or MAP column that a record leaves
//! empty lands as an empty array/map, never as NULL. Protobuf maps are unordered: MAP
//! entries from protobuf records land sorted by key.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, Value};
use serde_json::Value as Json;

use crate::cells::Cell;
use crate::types::{Primitive, UcField, UcType};

/// Largest record the service accepts (10 MiB).
pub const MAX_RECORD_BYTES: usize = 10 * 1024 * 1024;

/// Most bytes of records one ingest request may carry (the service's 10 MiB message
/// limit; the SDK keeps its requests 64 KiB under it).
pub const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;

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

fn int_value(p: Primitive, i: i64, path: &str) -> Result<Cell, String> {
    let (lo, hi, name) = match p {
        Primitive::Byte => (i8::MIN as i64, i8::MAX as i64, "TINYINT"),
        Primitive::Short => (i16::MIN as i64, i16::MAX as i64, "SMALLINT"),
        Primitive::Int | Primitive::Date => (i32::MIN as i64, i32::MAX as i64, "INT"),
        Primitive::Long | Primitive::Timestamp | Primitive::TimestampNtz => {
            (i64::MIN, i64::MAX, "BIGINT")
        }
        other => {
            return Err(format!(
                "column '{path}': an integer cannot be stored in a {} column",
                other.type_name()
            ))
        }
    };
    if i < lo || i > hi {
        return Err(format!(
            "column '{path}': value {i} is out of range for {name}"
        ));
    }
    Ok(Cell::Int(i))
}

/// A VARIANT value as the service stores `parse_json(text)`: refused when it is not JSON
/// or repeats a key, else read back as its variant's JSON (keys sorted, numbers exact),
/// the same text a Flight batch's variant of that JSON is stored as.
fn variant_text(text: &str, path: &str) -> Result<Cell, String> {
    zerobus_json_variant::canonical_json(text)
        .map(Cell::Str)
        .map_err(|e| format!("column '{path}': VARIANT value is not valid JSON: {e}"))
}

fn text_value(p: Primitive, s: &str, path: &str) -> Result<Cell, String> {
    match p {
        Primitive::String => Ok(Cell::Str(s.to_string())),
        Primitive::Variant => variant_text(s, path),
        Primitive::Decimal(prec, scale) => parse_decimal(s, prec, scale)
            .map(Cell::Dec)
            .map_err(|e| format!("column '{path}': {e}")),
        other => Err(format!(
            "column '{path}': text cannot be stored in a {} column",
            other.type_name()
        )),
    }
}

/// Parse exact decimal text (`-12.340`, `1e3`) into the unscaled value at `scale`.
pub fn parse_decimal(text: &str, precision: u8, scale: u8) -> Result<i128, String> {
    let t = text.trim();
    let bad = || format!("'{text}' is not a decimal number");
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], t[i + 1..].parse::<i32>().map_err(|_| bad())?),
        None => (t, 0),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((a, b)) => (a, b),
        None => (mantissa, ""),
    };
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let mut digits: String = format!("{int_part}{frac_part}");
    let mut frac_len = frac_part.len() as i32 - exp;
    if frac_len < 0 {
        digits.extend(std::iter::repeat_n('0', (-frac_len) as usize));
        frac_len = 0;
    }
    let want = scale as i32;
    if frac_len > want {
        let cut = (frac_len - want) as usize;
        let (keep, dropped) = digits.split_at(digits.len() - cut.min(digits.len()));
        if dropped.bytes().any(|b| b != b'0') {
            return Err(format!("'{text}' has more than {scale} decimal places"));
        }
        digits = keep.to_string();
    } else {
        digits.extend(std::iter::repeat_n('0', (want - frac_len) as usize));
    }
    let trimmed = digits.trim_start_matches('0');
    if trimmed.len() > precision as usize {
        return Err(format!(
            "'{text}' does not fit DECIMAL({precision},{scale})"
        ));
    }
    let v: i128 = if trimmed.is_empty() {
        0
    } else {
        trimmed.parse().map_err(|_| bad())?
    };
    Ok(if neg { -v } else { v })
}

/// Decode one JSON record against the table columns.
pub fn decode_json(columns: &[UcField], text: &str) -> Result<Vec<Cell>, String> {
    if text.len() > MAX_RECORD_BYTES {
        return Err(format!(
            "record is {} bytes, over the {MAX_RECORD_BYTES}-byte limit",
            text.len()
        ));
    }
    let value: Json =
        serde_json::from_str(text).map_err(|e| format!("record is not valid JSON: {e}"))?;
    json_struct(columns, &value, "")
}

fn json_struct(cols: &[UcField], value: &Json, prefix: &str) -> Result<Vec<Cell>, String> {
    let Json::Object(obj) = value else {
        let what = if prefix.is_empty() {
            "record".to_string()
        } else {
            format!("column '{prefix}'")
        };
        return Err(format!("{what} must be a JSON object"));
    };
    let join = |name: &str| {
        if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        }
    };
    let mut by_name: HashMap<String, &Json> = HashMap::with_capacity(obj.len());
    for (k, v) in obj {
        if !cols.iter().any(|c| c.name.eq_ignore_ascii_case(k)) {
            return Err(format!("field '{}' is not a column of the table", join(k)));
        }
        by_name.insert(k.to_ascii_lowercase(), v);
    }
    let mut out = Vec::with_capacity(cols.len());
    for col in cols {
        let path = join(&col.name);
        let cell = match by_name.get(&col.name.to_ascii_lowercase()) {
            None | Some(Json::Null) => Cell::Null,
            Some(v) => json_value(&col.ty, v, &path)?,
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

fn json_value(ty: &UcType, v: &Json, path: &str) -> Result<Cell, String> {
    let wrong = |want: &str| format!("column '{path}': expected {want}, got {v}");
    match ty {
        UcType::Primitive(p) => match p {
            Primitive::String => v
                .as_str()
                .map(|s| Cell::Str(s.to_string()))
                .ok_or_else(|| wrong("a string")),
            Primitive::Variant => variant_text(&v.to_string(), path),
            Primitive::Boolean => v
                .as_bool()
                .map(Cell::Bool)
                .ok_or_else(|| wrong("true or false")),
            Primitive::Float | Primitive::Double => {
                let f = match v {
                    Json::Number(n) => n.as_f64(),
                    Json::String(s) => match s.as_str() {
                        "NaN" => Some(f64::NAN),
                        "Infinity" | "+Infinity" => Some(f64::INFINITY),
                        "-Infinity" => Some(f64::NEG_INFINITY),
                        other => other.parse().ok(),
                    },
                    _ => None,
                }
                .ok_or_else(|| wrong("a number"))?;
                Ok(if *p == Primitive::Float {
                    Cell::F32(f as f32)
                } else {
                    Cell::F64(f)
                })
            }
            Primitive::Binary => {
                let s = v.as_str().ok_or_else(|| wrong("base64 text"))?;
                BASE64
                    .decode(s)
                    .map(Cell::Bytes)
                    .map_err(|e| format!("column '{path}': BINARY value is not base64: {e}"))
            }
            Primitive::Decimal(prec, scale) => {
                let text = match v {
                    Json::String(s) => s.clone(),
                    Json::Number(n) => n.to_string(),
                    _ => return Err(wrong("a decimal number or decimal text")),
                };
                parse_decimal(&text, *prec, *scale)
                    .map(Cell::Dec)
                    .map_err(|e| format!("column '{path}': {e}"))
            }
            Primitive::Date => match v {
                Json::String(s) => parse_date(s)
                    .map(|d| Cell::Int(d as i64))
                    .ok_or_else(|| wrong("days since 1970-01-01 or 'YYYY-MM-DD'")),
                _ => json_int(v)
                    .ok_or_else(|| wrong("an integer"))
                    .and_then(|i| int_value(*p, i, path)),
            },
            _ => json_int(v)
                .ok_or_else(|| wrong("an integer"))
                .and_then(|i| int_value(*p, i, path)),
        },
        UcType::Array(elem) => {
            let items = v.as_array().ok_or_else(|| wrong("an array"))?;
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                if item.is_null() {
                    return Err(format!("column '{path}': element {i} is null; ARRAY elements cannot be null in Zerobus"));
                }
                out.push(json_value(elem, item, path)?);
            }
            Ok(Cell::List(out))
        }
        UcType::Map(kt, vt) => {
            let mut out = Vec::new();
            match v {
                Json::Object(obj) => {
                    for (k, val) in obj {
                        let key = match kt.as_ref() {
                            UcType::Primitive(Primitive::String) => Cell::Str(k.clone()),
                            UcType::Primitive(Primitive::Boolean) => match k.as_str() {
                                "true" => Cell::Bool(true),
                                "false" => Cell::Bool(false),
                                _ => {
                                    return Err(format!(
                                        "column '{path}': map key '{k}' is not a boolean"
                                    ))
                                }
                            },
                            UcType::Primitive(p) => {
                                let i: i64 = k.parse().map_err(|_| {
                                    format!("column '{path}': map key '{k}' is not an integer")
                                })?;
                                int_value(*p, i, path)?
                            }
                            _ => return Err(format!("column '{path}': unsupported map key type")),
                        };
                        out.push((key, json_value(vt, val, path)?));
                    }
                }
                Json::Array(entries) => {
                    for e in entries {
                        let k = e
                            .get("key")
                            .ok_or_else(|| wrong("map entries with 'key' and 'value'"))?;
                        let key = json_value(kt, k, path)?;
                        let val = match e.get("value") {
                            None | Some(Json::Null) => Cell::Null,
                            Some(x) => json_value(vt, x, path)?,
                        };
                        out.push((key, val));
                    }
                }
                _ => return Err(wrong("an object")),
            }
            Ok(Cell::Map(out))
        }
        UcType::Struct(fields) => Ok(Cell::Struct(json_struct(fields, v, path)?)),
    }
}

fn json_int(v: &Json) -> Option<i64> {
    match v {
        Json::Number(n) => n
            .as_i64()
            .or_else(|| n.as_u64().and_then(|u| i64::try_from(u).ok())),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Days since 1970-01-01 for a `YYYY-MM-DD` date (proleptic Gregorian).
pub fn parse_date(s: &str) -> Option<i32> {
    let mut it = s.trim().splitn(3, '-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: i64 = it.next()?.parse().ok()?;
    let d: i64 = it.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    i32::try_from(era * 146097 + doe - 719468).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::parse_columns;

    #[test]
    fn decimals_are_exact() {
        assert_eq!(parse_decimal("12.34", 10, 2), Ok(1234));
        assert_eq!(parse_decimal("-0.5", 3, 2), Ok(-50));
        assert_eq!(parse_decimal("1e3", 6, 2), Ok(100000));
        assert_eq!(parse_decimal("7", 3, 0), Ok(7));
        assert_eq!(parse_decimal("1.230", 5, 2), Ok(123));
        assert!(parse_decimal("1.234", 5, 2)
            .unwrap_err()
            .contains("decimal places"));
        assert!(parse_decimal("123456", 5, 0)
            .unwrap_err()
            .contains("does not fit"));
        assert!(parse_decimal("1.2.3", 5, 0).is_err());
        assert!(parse_decimal("", 5, 0).is_err());
    }

    #[test]
    fn dates_parse() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2000-03-01"), Some(11017));
        assert_eq!(parse_date("1969-12-31"), Some(-1));
        assert_eq!(parse_date("2024-13-01"), None);
    }

    #[test]
    fn json_records_are_checked_against_the_table() {
        let cols = parse_columns("id BIGINT NOT NULL, t TINYINT, tags ARRAY<STRING>, m MAP<INT, STRING>, s STRUCT<a: DATE>").unwrap();
        let row = decode_json(
            &cols,
            r#"{"id": 5, "t": -3, "tags": ["x"], "m": {"1": "one"}, "s": {"a": "1970-01-02"}}"#,
        )
        .unwrap();
        assert_eq!(row[0], Cell::Int(5));
        assert_eq!(
            row[3],
            Cell::Map(vec![(Cell::Int(1), Cell::Str("one".into()))])
        );
        assert_eq!(row[4], Cell::Struct(vec![Cell::Int(1)]));
        assert!(decode_json(&cols, r#"{"t": 1}"#)
            .unwrap_err()
            .contains("'id' is NOT NULL"));
        assert!(decode_json(&cols, r#"{"id": 1, "t": 300}"#)
            .unwrap_err()
            .contains("out of range for TINYINT"));
        assert!(decode_json(&cols, r#"{"id": 1, "zzz": 1}"#)
            .unwrap_err()
            .contains("'zzz' is not a column"));
        assert!(decode_json(&cols, r#"{"id": 1, "tags": [null]}"#)
            .unwrap_err()
            .contains("element 0 is null"));
        assert!(decode_json(&cols, "[1]")
            .unwrap_err()
            .contains("JSON object"));
    }
}
