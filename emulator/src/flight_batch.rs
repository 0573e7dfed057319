//! Arrow batches arriving over Arrow Flight: the schema a table accepts, and the checks
//! and conversion that turn a client batch into a batch of the Delta table.
//!
//! The Flight types of a UC table are the ones the service builds from Delta (and that the
//! SDK's `arrow_schema_from_uc_columns` sends): STRING and DECIMAL → `LargeUtf8` (a
//! decimal travels as text), BINARY → `LargeBinary`, TIMESTAMP → `Timestamp(µs, "UTC")`,
//! TIMESTAMP_NTZ → `Timestamp(µs)`, DATE → `Date32`, VARIANT → `Struct<metadata:
//! LargeBinary, value: LargeBinary>` (the Parquet variant encoding), ARRAY → `List`, MAP
//! → `Map`, STRUCT → `Struct`; the integer, float and boolean types as themselves. A batch
//! must carry every NOT NULL column; a nullable column may be left out (it lands as NULL).
//! Anything else is refused, naming the column: nothing is cast silently. Each value is
//! then checked as the protobuf path checks it (NOT NULL, decimal precision and scale, a
//! valid variant) and refused with its column and row.

use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, Decimal128Array, LargeStringArray, ListArray,
    MapArray, RecordBatch, StringArray, StructArray,
};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

use parquet_variant_json::VariantToJson as _;

use crate::decode::parse_decimal;
use crate::types::{Primitive, UcField, UcType};

/// The Flight type of a UC type.
pub fn flight_type(ty: &UcType) -> DataType {
    match ty {
        UcType::Primitive(p) => match p {
            Primitive::String | Primitive::Decimal(..) => DataType::LargeUtf8,
            Primitive::Long => DataType::Int64,
            Primitive::Int => DataType::Int32,
            Primitive::Short => DataType::Int16,
            Primitive::Byte => DataType::Int8,
            Primitive::Float => DataType::Float32,
            Primitive::Double => DataType::Float64,
            Primitive::Boolean => DataType::Boolean,
            Primitive::Binary => DataType::LargeBinary,
            Primitive::Date => DataType::Date32,
            Primitive::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Primitive::TimestampNtz => DataType::Timestamp(TimeUnit::Microsecond, None),
            Primitive::Variant => DataType::Struct(Fields::from(vec![
                Field::new("metadata", DataType::LargeBinary, false),
                Field::new("value", DataType::LargeBinary, false),
            ])),
        },
        UcType::Array(element) => {
            DataType::List(Arc::new(Field::new("item", flight_type(element), true)))
        }
        UcType::Map(key, value) => DataType::Map(
            Arc::new(Field::new(
                "entries",
                DataType::Struct(Fields::from(vec![
                    Field::new("keys", flight_type(key), false),
                    Field::new("values", flight_type(value), true),
                ])),
                false,
            )),
            false,
        ),
        UcType::Struct(fields) => DataType::Struct(
            fields
                .iter()
                .map(|f| Field::new(&f.name, flight_type(&f.ty), f.nullable))
                .collect(),
        ),
    }
}

/// The Flight schema of a table with `columns`.
pub fn flight_schema(columns: &[UcField]) -> Schema {
    Schema::new(
        columns
            .iter()
            .map(|c| Field::new(&c.name, flight_type(&c.ty), c.nullable))
            .collect::<Vec<_>>(),
    )
}

/// How the columns of a client's schema meet the table's: for each table column, the
/// index of the client column that carries it (`None`: left out, nullable).
#[derive(Debug, Clone)]
pub struct FlightPlan {
    columns: Vec<UcField>,
    sources: Vec<Option<usize>>,
    storage: SchemaRef,
}

/// Does the client's type `got` carry UC type `ty`? Field names of lists and maps do not
/// matter (the service normalises them); struct fields are matched by name.
fn check_type(path: &str, ty: &UcType, got: &DataType) -> Result<(), String> {
    let refuse = || {
        Err(format!(
            "column '{path}' is {} in the table, which Arrow Flight carries as {}; the batch has {got}",
            ty.type_text(),
            flight_type(ty)
        ))
    };
    match (ty, got) {
        (UcType::Primitive(Primitive::Variant), DataType::Struct(fields)) => {
            let binary = |name: &str| {
                fields
                    .iter()
                    .any(|f| f.name() == name && f.data_type() == &DataType::LargeBinary)
            };
            if fields.len() == 2 && binary("metadata") && binary("value") {
                Ok(())
            } else {
                refuse()
            }
        }
        (UcType::Primitive(_), got) if got == &flight_type(ty) => Ok(()),
        (UcType::Array(element), DataType::List(item)) => {
            check_type(&format!("{path}[]"), element, item.data_type())
        }
        (UcType::Map(key, value), DataType::Map(entries, _)) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                check_type(&format!("{path}.key"), key, kv[0].data_type())?;
                check_type(&format!("{path}.value"), value, kv[1].data_type())
            }
            _ => refuse(),
        },
        (UcType::Struct(fields), DataType::Struct(got_fields)) => {
            for g in got_fields.iter() {
                if !fields.iter().any(|f| f.name.eq_ignore_ascii_case(g.name())) {
                    return Err(format!(
                        "column '{path}' has no field '{}' in the table",
                        g.name()
                    ));
                }
            }
            for f in fields {
                let sub = format!("{path}.{}", f.name);
                match got_fields
                    .iter()
                    .find(|g| g.name().eq_ignore_ascii_case(&f.name))
                {
                    Some(g) => check_type(&sub, &f.ty, g.data_type())?,
                    None => return Err(format!("the batch has no field '{sub}'")),
                }
            }
            Ok(())
        }
        _ => refuse(),
    }
}

impl FlightPlan {
    /// Match the client's `schema` to the table's `columns` (stored as `storage`).
    pub fn new(columns: &[UcField], storage: SchemaRef, schema: &Schema) -> Result<Self, String> {
        let mut sources = Vec::with_capacity(columns.len());
        for (i, f) in schema.fields().iter().enumerate() {
            if !columns
                .iter()
                .any(|c| c.name.eq_ignore_ascii_case(f.name()))
            {
                return Err(format!("the table has no column '{}'", f.name()));
            }
            if schema.fields()[..i]
                .iter()
                .any(|g| g.name().eq_ignore_ascii_case(f.name()))
            {
                return Err(format!("column '{}' appears twice in the schema", f.name()));
            }
        }
        for c in columns {
            let found = schema
                .fields()
                .iter()
                .position(|f| f.name().eq_ignore_ascii_case(&c.name));
            match found {
                Some(i) => check_type(&c.name, &c.ty, schema.fields()[i].data_type())?,
                None if c.nullable => {}
                None => {
                    return Err(format!(
                        "column '{}' is NOT NULL and the schema does not have it",
                        c.name
                    ))
                }
            }
            sources.push(found);
        }
        Ok(FlightPlan {
            columns: columns.to_vec(),
            sources,
            storage,
        })
    }

    /// The client's `batch` as a batch of the Delta table, every value checked; an error
    /// names the column and the row.
    pub fn to_storage(&self, batch: &RecordBatch) -> Result<RecordBatch, String> {
        let rows = batch.num_rows();
        let mut arrays = Vec::with_capacity(self.columns.len());
        for ((column, source), target) in self
            .columns
            .iter()
            .zip(&self.sources)
            .zip(self.storage.fields())
        {
            let array = match source {
                Some(i) => {
                    let got = batch.column(*i);
                    if !column.nullable {
                        if let Some(row) = first_null(got.as_ref(), None) {
                            return Err(format!(
                                "column '{}' is NOT NULL, row {row} is null",
                                column.name
                            ));
                        }
                    }
                    convert(&column.name, &column.ty, got, target.data_type())?
                }
                None => new_null_array(target.data_type(), rows),
            };
            arrays.push(array);
        }
        RecordBatch::try_new(self.storage.clone(), arrays)
            .map_err(|e| format!("the batch does not fit the table: {e}"))
    }
}

/// The first row of `array` that is null where `parent` (if any) is not.
fn first_null(array: &dyn Array, parent: Option<&arrow::buffer::NullBuffer>) -> Option<usize> {
    (0..array.len()).find(|&i| array.is_null(i) && parent.is_none_or(|p| p.is_valid(i)))
}

/// `array` (of the Flight type of `ty`) as the stored type `target`.
fn convert(
    path: &str,
    ty: &UcType,
    array: &ArrayRef,
    target: &DataType,
) -> Result<ArrayRef, String> {
    let at = |row: usize, why: String| format!("column '{path}', row {row}: {why}");
    match ty {
        UcType::Primitive(Primitive::Decimal(precision, scale)) => {
            let text = array.as_string::<i64>();
            let mut values = Vec::with_capacity(text.len());
            for (row, v) in text.iter().enumerate() {
                values.push(match v {
                    Some(t) => Some(parse_decimal(t, *precision, *scale).map_err(|e| at(row, e))?),
                    None => None,
                });
            }
            let decimals = Decimal128Array::from(values)
                .with_precision_and_scale(*precision, *scale as i8)
                .map_err(|e| at(0, e.to_string()))?;
            Ok(Arc::new(decimals))
        }
        UcType::Primitive(Primitive::Variant) => {
            let s = array.as_struct();
            let (metadata, value) = (
                s.column_by_name("metadata")
                    .map(|a| a.as_binary::<i64>())
                    .ok_or_else(|| at(0, "no metadata field".into()))?,
                s.column_by_name("value")
                    .map(|a| a.as_binary::<i64>())
                    .ok_or_else(|| at(0, "no value field".into()))?,
            );
            let mut json = Vec::with_capacity(s.len());
            for row in 0..s.len() {
                if s.is_null(row) {
                    json.push(None);
                    continue;
                }
                let variant =
                    parquet_variant::Variant::try_new(metadata.value(row), value.value(row))
                        .map_err(|e| at(row, format!("not a valid variant: {e}")))?;
                let text = variant
                    .to_json_string()
                    .map_err(|e| at(row, format!("the variant has no JSON form: {e}")))?;
                json.push(Some(text));
            }
            let json: ArrayRef = match target {
                DataType::LargeUtf8 => Arc::new(LargeStringArray::from(json)),
                _ => Arc::new(StringArray::from(json)),
            };
            Ok(json)
        }
        UcType::Primitive(_) => {
            if array.data_type() == target {
                return Ok(array.clone());
            }
            arrow::compute::cast(array, target).map_err(|e| at(0, e.to_string()))
        }
        UcType::Array(element) => {
            let list = array.as_list::<i32>();
            let DataType::List(item) = target else {
                return Err(at(0, format!("stored as {target}, not a list")));
            };
            let values = convert(
                &format!("{path}[]"),
                element,
                list.values(),
                item.data_type(),
            )?;
            let list = ListArray::try_new(
                item.clone(),
                list.offsets().clone(),
                values,
                list.nulls().cloned(),
            )
            .map_err(|e| at(0, e.to_string()))?;
            Ok(Arc::new(list))
        }
        UcType::Map(key, value) => {
            let map = array.as_map();
            let DataType::Map(entries, ordered) = target else {
                return Err(at(0, format!("stored as {target}, not a map")));
            };
            let DataType::Struct(kv) = entries.data_type() else {
                return Err(at(0, format!("stored as {target}, not a map")));
            };
            let keys = convert(&format!("{path}.key"), key, map.keys(), kv[0].data_type())?;
            let values = convert(
                &format!("{path}.value"),
                value,
                map.values(),
                kv[1].data_type(),
            )?;
            let entries_array = StructArray::try_new(kv.clone(), vec![keys, values], None)
                .map_err(|e| at(0, e.to_string()))?;
            let map = MapArray::try_new(
                entries.clone(),
                map.offsets().clone(),
                entries_array,
                map.nulls().cloned(),
                *ordered,
            )
            .map_err(|e| at(0, e.to_string()))?;
            Ok(Arc::new(map))
        }
        UcType::Struct(fields) => {
            let s = array.as_struct();
            let DataType::Struct(targets) = target else {
                return Err(at(0, format!("stored as {target}, not a struct")));
            };
            let mut children = Vec::with_capacity(fields.len());
            for (f, t) in fields.iter().zip(targets.iter()) {
                let sub = format!("{path}.{}", f.name);
                let child = (0..s.num_columns())
                    .find(|&i| s.fields()[i].name().eq_ignore_ascii_case(&f.name))
                    .map(|i| s.column(i).clone())
                    .ok_or_else(|| at(0, format!("no field '{sub}'")))?;
                if !f.nullable {
                    if let Some(row) = first_null(child.as_ref(), s.nulls()) {
                        return Err(format!("field '{sub}' is NOT NULL, row {row} is null"));
                    }
                }
                children.push(convert(&sub, &f.ty, &child, t.data_type())?);
            }
            let s = StructArray::try_new(targets.clone(), children, s.nulls().cloned())
                .map_err(|e| at(0, e.to_string()))?;
            Ok(Arc::new(s))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::parse_columns;

    #[test]
    fn every_uc_type_has_the_services_flight_type() {
        let columns = parse_columns(
            "s STRING, d DECIMAL(10,2) NOT NULL, ts TIMESTAMP, ntz TIMESTAMP_NTZ, day DATE, \
             b BINARY, v VARIANT, tags ARRAY<STRING>, m MAP<STRING, BIGINT>, st STRUCT<a: INT, b: STRING>",
        )
        .unwrap();
        let schema = flight_schema(&columns);
        let types: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| f.data_type().to_string())
            .collect();
        assert_eq!(types[0], "LargeUtf8");
        assert_eq!(types[1], "LargeUtf8");
        assert!(!schema.field(1).is_nullable());
        assert_eq!(types[2], r#"Timestamp(µs, "UTC")"#);
        assert_eq!(types[3], "Timestamp(µs)");
        assert_eq!(types[4], "Date32");
        assert_eq!(types[5], "LargeBinary");
        assert!(types[6].starts_with("Struct("), "{}", types[6]);
        assert!(types[7].starts_with("List("), "{}", types[7]);
        assert!(types[8].starts_with("Map("), "{}", types[8]);
    }

    #[test]
    fn a_variant_that_is_not_valid_is_refused_with_its_row() {
        use arrow::array::LargeBinaryArray;
        let columns = parse_columns("id BIGINT NOT NULL, v VARIANT").unwrap();
        let schema = Arc::new(flight_schema(&columns));
        let storage = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("v", DataType::Utf8, true),
        ]));
        let plan = FlightPlan::new(&columns, storage, &schema).unwrap();
        let DataType::Struct(fields) = schema.field(1).data_type().clone() else {
            unreachable!()
        };
        // Row 0: the variant `null` (metadata header 0x01, value header 0x00); row 1:
        // garbage.
        let v = StructArray::new(
            fields,
            vec![
                Arc::new(LargeBinaryArray::from_iter_values([
                    &[1u8, 0, 0][..],
                    &[0xff][..],
                ])),
                Arc::new(LargeBinaryArray::from_iter_values([
                    &[0u8][..],
                    &[0xff, 0xff][..],
                ])),
            ],
            None,
        );
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(arrow::array::Int64Array::from(vec![1, 2])),
                Arc::new(v),
            ],
        )
        .unwrap();
        let e = plan.to_storage(&batch).unwrap_err();
        assert!(
            e.starts_with("column 'v', row 1: not a valid variant"),
            "{e}"
        );
        let one = plan.to_storage(&batch.slice(0, 1)).unwrap();
        assert_eq!(one.column(1).as_string::<i32>().value(0), "null");
    }
}
