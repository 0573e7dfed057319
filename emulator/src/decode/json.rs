//! JSON records: each record's object against the table's columns, to cells.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::Value as Json;

use super::limits::MAX_RECORD_BYTES;
use super::values::{int_value, parse_date, parse_decimal, variant_text};
use crate::cells::Cell;
use crate::types::{Primitive, UcField, UcType};

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
