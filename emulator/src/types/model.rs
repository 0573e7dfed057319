//! The types themselves and their printed, JSON and Delta forms.

use std::fmt;

use deltalake_core::kernel::{
    ArrayType, DataType, MapType, MetadataValue, PrimitiveType, StructField, StructType,
};
use serde_json::{json, Value as JsonValue};

/// Delta field metadata key that remembers a UC type Delta cannot hold natively.
pub const UC_TYPE_METADATA_KEY: &str = "zerobus_emulator.uc_type";

/// Maximum nesting of STRUCT/ARRAY/MAP accepted from user text, to bound recursion.
pub(super) const MAX_DEPTH: usize = 64;

/// A UC primitive type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Primitive {
    /// STRING
    String,
    /// BIGINT / LONG
    Long,
    /// INT / INTEGER
    Int,
    /// SMALLINT / SHORT
    Short,
    /// TINYINT / BYTE
    Byte,
    /// FLOAT / REAL
    Float,
    /// DOUBLE
    Double,
    /// BOOLEAN
    Boolean,
    /// BINARY
    Binary,
    /// DATE
    Date,
    /// TIMESTAMP (UTC instant)
    Timestamp,
    /// TIMESTAMP_NTZ (wall clock, no zone)
    TimestampNtz,
    /// DECIMAL(precision, scale)
    Decimal(u8, u8),
    /// VARIANT (JSON text on the wire)
    Variant,
}

/// A UC column type, possibly nested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UcType {
    /// A scalar.
    Primitive(Primitive),
    /// ARRAY<element>.
    Array(Box<UcType>),
    /// MAP<key, value>.
    Map(Box<UcType>, Box<UcType>),
    /// STRUCT<fields>.
    Struct(Vec<UcField>),
}

/// A named, typed field of a table or of a STRUCT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UcField {
    /// Column name as the user wrote it.
    pub name: String,
    /// Column type.
    pub ty: UcType,
    /// False for NOT NULL columns.
    pub nullable: bool,
}

/// A type or column definition that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TypeError(pub String);

pub(super) type Result<T> = std::result::Result<T, TypeError>;

impl Primitive {
    pub(super) fn from_keyword(word: &str) -> Option<Primitive> {
        Some(match word.to_ascii_uppercase().as_str() {
            "STRING" | "VARCHAR" | "CHAR" | "TEXT" => Primitive::String,
            "BIGINT" | "LONG" => Primitive::Long,
            "INT" | "INTEGER" => Primitive::Int,
            "SMALLINT" | "SHORT" => Primitive::Short,
            "TINYINT" | "BYTE" => Primitive::Byte,
            "FLOAT" | "REAL" => Primitive::Float,
            "DOUBLE" => Primitive::Double,
            "BOOLEAN" | "BOOL" => Primitive::Boolean,
            "BINARY" => Primitive::Binary,
            "DATE" => Primitive::Date,
            "TIMESTAMP" | "TIMESTAMP_LTZ" => Primitive::Timestamp,
            "TIMESTAMP_NTZ" => Primitive::TimestampNtz,
            "DECIMAL" | "DEC" | "NUMERIC" => Primitive::Decimal(10, 0),
            "VARIANT" => Primitive::Variant,
            _ => return None,
        })
    }

    /// The UC `type_name` of this primitive.
    pub fn type_name(self) -> &'static str {
        match self {
            Primitive::String => "STRING",
            Primitive::Long => "LONG",
            Primitive::Int => "INT",
            Primitive::Short => "SHORT",
            Primitive::Byte => "BYTE",
            Primitive::Float => "FLOAT",
            Primitive::Double => "DOUBLE",
            Primitive::Boolean => "BOOLEAN",
            Primitive::Binary => "BINARY",
            Primitive::Date => "DATE",
            Primitive::Timestamp => "TIMESTAMP",
            Primitive::TimestampNtz => "TIMESTAMP_NTZ",
            Primitive::Decimal(..) => "DECIMAL",
            Primitive::Variant => "VARIANT",
        }
    }

    /// Spark's JSON / `type_text` spelling (`long`, `decimal(10,2)`, …).
    pub fn spark_name(self) -> String {
        match self {
            Primitive::String => "string".into(),
            Primitive::Long => "long".into(),
            Primitive::Int => "integer".into(),
            Primitive::Short => "short".into(),
            Primitive::Byte => "byte".into(),
            Primitive::Float => "float".into(),
            Primitive::Double => "double".into(),
            Primitive::Boolean => "boolean".into(),
            Primitive::Binary => "binary".into(),
            Primitive::Date => "date".into(),
            Primitive::Timestamp => "timestamp".into(),
            Primitive::TimestampNtz => "timestamp_ntz".into(),
            Primitive::Decimal(p, s) => format!("decimal({p},{s})"),
            Primitive::Variant => "variant".into(),
        }
    }

    fn text(self) -> String {
        match self {
            Primitive::Long => "bigint".into(),
            Primitive::Int => "int".into(),
            Primitive::Short => "smallint".into(),
            Primitive::Byte => "tinyint".into(),
            other => other.spark_name(),
        }
    }

    fn from_spark_name(name: &str) -> Option<Primitive> {
        let lower = name.trim().to_ascii_lowercase();
        if let Some(args) = lower.strip_prefix("decimal") {
            return parse_decimal_args(args).ok();
        }
        Primitive::from_keyword(&lower)
    }
}

pub(super) fn parse_decimal_args(rest: &str) -> Result<Primitive> {
    let rest = rest.trim();
    if rest.is_empty() {
        return Ok(Primitive::Decimal(10, 0));
    }
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| {
            TypeError(format!(
                "DECIMAL arguments must be (precision, scale), got '{rest}'"
            ))
        })?;
    let mut parts = inner.split(',').map(str::trim);
    let precision: u8 = parts
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| TypeError(format!("DECIMAL precision is not a number in '{rest}'")))?;
    let scale: u8 = match parts.next() {
        Some(s) => s
            .parse()
            .map_err(|_| TypeError(format!("DECIMAL scale is not a number in '{rest}'")))?,
        None => 0,
    };
    if parts.next().is_some() {
        return Err(TypeError(format!(
            "DECIMAL takes at most two arguments, got '{rest}'"
        )));
    }
    if precision == 0 || precision > 38 || scale > precision {
        return Err(TypeError(format!(
            "DECIMAL({precision},{scale}) is out of range: precision must be 1..=38 and scale <= precision"
        )));
    }
    Ok(Primitive::Decimal(precision, scale))
}

impl UcType {
    /// The UC `type_name` (top level only): `LONG`, `STRUCT`, `ARRAY`, …
    pub fn type_name(&self) -> &'static str {
        match self {
            UcType::Primitive(p) => p.type_name(),
            UcType::Array(_) => "ARRAY",
            UcType::Map(..) => "MAP",
            UcType::Struct(_) => "STRUCT",
        }
    }

    /// The UC `type_text`: `bigint`, `array<struct<a:int>>`, …
    pub fn type_text(&self) -> String {
        match self {
            UcType::Primitive(p) => p.text(),
            UcType::Array(e) => format!("array<{}>", e.type_text()),
            UcType::Map(k, v) => format!("map<{},{}>", k.type_text(), v.type_text()),
            UcType::Struct(fields) => {
                let inner: Vec<String> = fields
                    .iter()
                    .map(|f| {
                        let nn = if f.nullable { "" } else { " not null" };
                        format!("{}:{}{}", f.name, f.ty.type_text(), nn)
                    })
                    .collect();
                format!("struct<{}>", inner.join(","))
            }
        }
    }

    /// Spark JSON of the type (a string for primitives, an object for nested types).
    pub fn to_json(&self) -> JsonValue {
        match self {
            UcType::Primitive(p) => JsonValue::String(p.spark_name()),
            UcType::Array(e) => {
                json!({"type": "array", "elementType": e.to_json(), "containsNull": true})
            }
            UcType::Map(k, v) => json!({
                "type": "map", "keyType": k.to_json(), "valueType": v.to_json(), "valueContainsNull": true
            }),
            UcType::Struct(fields) => json!({
                "type": "struct",
                "fields": fields.iter().map(UcField::to_json).collect::<Vec<_>>()
            }),
        }
    }

    /// Parse Spark JSON of a type (inverse of [`UcType::to_json`]); also accepts UC's
    /// column wrapper `{"name": …, "type": …}`.
    pub fn from_json(value: &JsonValue) -> Result<UcType> {
        Self::from_json_at(value, 0)
    }

    fn from_json_at(value: &JsonValue, depth: usize) -> Result<UcType> {
        if depth > MAX_DEPTH {
            return Err(TypeError(format!("type nesting deeper than {MAX_DEPTH}")));
        }
        match value {
            JsonValue::String(s) => Primitive::from_spark_name(s)
                .map(UcType::Primitive)
                .ok_or_else(|| TypeError(format!("unknown type '{s}' in type_json"))),
            JsonValue::Object(obj) => {
                if obj.contains_key("name") && !obj.contains_key("fields") {
                    if let Some(inner) = obj.get("type") {
                        return Self::from_json_at(inner, depth + 1);
                    }
                }
                match obj.get("type").and_then(JsonValue::as_str) {
                    Some("array") => {
                        let e = obj.get("elementType").ok_or_else(|| {
                            TypeError("array type_json without elementType".into())
                        })?;
                        Ok(UcType::Array(Box::new(Self::from_json_at(e, depth + 1)?)))
                    }
                    Some("map") => {
                        let k = obj
                            .get("keyType")
                            .ok_or_else(|| TypeError("map type_json without keyType".into()))?;
                        let v = obj
                            .get("valueType")
                            .ok_or_else(|| TypeError("map type_json without valueType".into()))?;
                        Ok(UcType::Map(
                            Box::new(Self::from_json_at(k, depth + 1)?),
                            Box::new(Self::from_json_at(v, depth + 1)?),
                        ))
                    }
                    Some("struct") => {
                        let fields = obj
                            .get("fields")
                            .and_then(JsonValue::as_array)
                            .ok_or_else(|| TypeError("struct type_json without fields".into()))?;
                        let mut out = Vec::with_capacity(fields.len());
                        for f in fields {
                            let name = f
                                .get("name")
                                .and_then(JsonValue::as_str)
                                .ok_or_else(|| TypeError("struct field without a name".into()))?;
                            let ty = f.get("type").ok_or_else(|| {
                                TypeError(format!("struct field '{name}' without a type"))
                            })?;
                            let nullable = f
                                .get("nullable")
                                .and_then(JsonValue::as_bool)
                                .unwrap_or(true);
                            out.push(UcField {
                                name: name.to_string(),
                                ty: Self::from_json_at(ty, depth + 1)?,
                                nullable,
                            });
                        }
                        Ok(UcType::Struct(out))
                    }
                    other => Err(TypeError(format!(
                        "unknown nested type {other:?} in type_json"
                    ))),
                }
            }
            other => Err(TypeError(format!(
                "type_json must be a string or an object, got {other}"
            ))),
        }
    }

    /// The Delta type that stores this UC type.
    pub fn to_delta(&self) -> Result<DataType> {
        Ok(match self {
            UcType::Primitive(p) => DataType::Primitive(match p {
                Primitive::String | Primitive::Variant => PrimitiveType::String,
                Primitive::Long => PrimitiveType::Long,
                Primitive::Int => PrimitiveType::Integer,
                Primitive::Short => PrimitiveType::Short,
                Primitive::Byte => PrimitiveType::Byte,
                Primitive::Float => PrimitiveType::Float,
                Primitive::Double => PrimitiveType::Double,
                Primitive::Boolean => PrimitiveType::Boolean,
                Primitive::Binary => PrimitiveType::Binary,
                Primitive::Date => PrimitiveType::Date,
                Primitive::Timestamp => PrimitiveType::Timestamp,
                Primitive::TimestampNtz => PrimitiveType::TimestampNtz,
                Primitive::Decimal(prec, scale) => {
                    return DataType::decimal(*prec, *scale).map_err(|e| TypeError(e.to_string()))
                }
            }),
            UcType::Array(e) => DataType::Array(Box::new(ArrayType::new(e.to_delta()?, true))),
            UcType::Map(k, v) => {
                DataType::Map(Box::new(MapType::new(k.to_delta()?, v.to_delta()?, true)))
            }
            UcType::Struct(fields) => {
                let fields: Result<Vec<StructField>> =
                    fields.iter().map(UcField::to_delta).collect();
                DataType::Struct(Box::new(
                    StructType::try_new(fields?).map_err(|e| TypeError(e.to_string()))?,
                ))
            }
        })
    }

    fn from_delta(dt: &DataType, uc_hint: Option<&str>) -> Result<UcType> {
        if uc_hint == Some("VARIANT") {
            return Ok(UcType::Primitive(Primitive::Variant));
        }
        Ok(match dt {
            DataType::Primitive(p) => UcType::Primitive(match p {
                PrimitiveType::String => Primitive::String,
                PrimitiveType::Long => Primitive::Long,
                PrimitiveType::Integer => Primitive::Int,
                PrimitiveType::Short => Primitive::Short,
                PrimitiveType::Byte => Primitive::Byte,
                PrimitiveType::Float => Primitive::Float,
                PrimitiveType::Double => Primitive::Double,
                PrimitiveType::Boolean => Primitive::Boolean,
                PrimitiveType::Binary => Primitive::Binary,
                PrimitiveType::Date => Primitive::Date,
                PrimitiveType::Timestamp => Primitive::Timestamp,
                PrimitiveType::TimestampNtz => Primitive::TimestampNtz,
                PrimitiveType::Decimal(d) => Primitive::Decimal(d.precision(), d.scale()),
                other => {
                    return Err(TypeError(format!(
                        "Delta type {other:?} has no UC mapping here"
                    )))
                }
            }),
            DataType::Array(a) => {
                UcType::Array(Box::new(Self::from_delta(a.element_type(), None)?))
            }
            DataType::Map(m) => UcType::Map(
                Box::new(Self::from_delta(m.key_type(), None)?),
                Box::new(Self::from_delta(m.value_type(), None)?),
            ),
            DataType::Struct(s) => UcType::Struct(
                s.fields()
                    .map(UcField::from_delta)
                    .collect::<Result<Vec<_>>>()?,
            ),
            DataType::Variant(_) => UcType::Primitive(Primitive::Variant),
        })
    }

    /// Checks the rules Zerobus enforces on nested shapes: map keys are integral, bool or
    /// string; no nested arrays, arrays of maps, or maps with nested values.
    pub fn validate(&self, path: &str) -> Result<()> {
        match self {
            UcType::Primitive(_) => Ok(()),
            UcType::Array(e) => match e.as_ref() {
                UcType::Array(_) => Err(TypeError(format!(
                    "column '{path}': nested arrays are not supported by Zerobus"
                ))),
                UcType::Map(..) => Err(TypeError(format!(
                    "column '{path}': arrays of maps are not supported by Zerobus"
                ))),
                other => other.validate(path),
            },
            UcType::Map(k, v) => {
                match k.as_ref() {
                    UcType::Primitive(
                        Primitive::Float
                        | Primitive::Double
                        | Primitive::Binary
                        | Primitive::Variant
                        | Primitive::Decimal(..),
                    )
                    | UcType::Array(_)
                    | UcType::Map(..)
                    | UcType::Struct(_) => {
                        return Err(TypeError(format!(
                            "column '{path}': map keys must be integral, boolean or string, got {}",
                            k.type_text()
                        )))
                    }
                    UcType::Primitive(_) => {}
                }
                match v.as_ref() {
                    UcType::Array(_) | UcType::Map(..) => Err(TypeError(format!(
                        "column '{path}': maps with array or map values are not supported by Zerobus"
                    ))),
                    other => other.validate(path),
                }
            }
            UcType::Struct(fields) => {
                for f in fields {
                    validate_identifier(&f.name)?;
                    f.ty.validate(&format!("{path}.{}", f.name))?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for UcType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.type_text())
    }
}

impl UcField {
    /// Spark JSON of the field (`{"name","type","nullable","metadata"}`): UC's `type_json`.
    pub fn to_json(&self) -> JsonValue {
        json!({"name": self.name, "type": self.ty.to_json(), "nullable": self.nullable, "metadata": {}})
    }

    /// The Delta field that stores this column.
    pub fn to_delta(&self) -> Result<StructField> {
        let field = StructField::new(self.name.clone(), self.ty.to_delta()?, self.nullable);
        Ok(if self.ty == UcType::Primitive(Primitive::Variant) {
            field.with_metadata([(
                UC_TYPE_METADATA_KEY.to_string(),
                MetadataValue::String("VARIANT".into()),
            )])
        } else {
            field
        })
    }

    /// The UC column a Delta field stores (inverse of [`UcField::to_delta`]).
    pub fn from_delta(field: &StructField) -> Result<UcField> {
        let hint = match field.metadata().get(UC_TYPE_METADATA_KEY) {
            Some(MetadataValue::String(s)) => Some(s.as_str()),
            _ => None,
        };
        Ok(UcField {
            name: field.name().clone(),
            ty: UcType::from_delta(field.data_type(), hint)?,
            nullable: field.is_nullable(),
        })
    }
}

/// Zerobus accepts ASCII letters, digits and underscores in names, not starting with a digit.
pub fn validate_identifier(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(TypeError("a name is empty".into()));
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(TypeError(format!("name '{name}' starts with a digit")));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        return Err(TypeError(format!(
            "name '{name}' contains '{bad}': only ASCII letters, digits and '_' are allowed"
        )));
    }
    Ok(())
}
