//! Decoded values in a format-neutral form, and their assembly into Arrow arrays.
//!
//! Records arrive as protobuf or JSON; both decoders produce rows of [`Cell`]s that are
//! already checked against the table's types (range, precision, NOT NULL), so turning a
//! commit's worth of rows into a `RecordBatch` cannot fail on user input.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array,
    Int16Array, Int32Array, Int64Array, Int8Array, ListArray, MapArray, RecordBatch, StringArray,
    StructArray, TimestampMicrosecondArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{DataType, Field, Fields, SchemaRef, TimeUnit};

/// One value of one column of one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Absent / NULL.
    Null,
    /// BOOLEAN.
    Bool(bool),
    /// Any integer type, DATE (days) and TIMESTAMP (µs).
    Int(i64),
    /// FLOAT.
    F32(f32),
    /// DOUBLE.
    F64(f64),
    /// DECIMAL, as the unscaled integer.
    Dec(i128),
    /// STRING and VARIANT (JSON text).
    Str(String),
    /// BINARY.
    Bytes(Vec<u8>),
    /// ARRAY elements.
    List(Vec<Cell>),
    /// STRUCT fields, in the table's field order.
    Struct(Vec<Cell>),
    /// MAP entries, in arrival order.
    Map(Vec<(Cell, Cell)>),
}

/// Assemble rows (each a `Vec<Cell>` in schema order) into a batch of `schema`.
pub fn rows_to_batch(schema: &SchemaRef, rows: Vec<Vec<Cell>>) -> Result<RecordBatch, String> {
    let ncols = schema.fields().len();
    let nrows = rows.len();
    let mut columns: Vec<Vec<Cell>> = (0..ncols).map(|_| Vec::with_capacity(nrows)).collect();
    for row in rows {
        if row.len() != ncols {
            return Err(format!(
                "row has {} values, table has {ncols} columns",
                row.len()
            ));
        }
        for (col, cell) in columns.iter_mut().zip(row) {
            col.push(cell);
        }
    }
    let arrays = schema
        .fields()
        .iter()
        .zip(columns)
        .map(|(f, cells)| build_array(f.data_type(), cells))
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema.clone(), arrays).map_err(|e| e.to_string())
}

fn nulls_of(cells: &[Cell]) -> Option<NullBuffer> {
    if cells.iter().any(|c| matches!(c, Cell::Null)) {
        Some(NullBuffer::from_iter(
            cells.iter().map(|c| !matches!(c, Cell::Null)),
        ))
    } else {
        None
    }
}

fn ints(cells: Vec<Cell>) -> impl Iterator<Item = Option<i64>> {
    cells.into_iter().map(|c| match c {
        Cell::Int(v) => Some(v),
        _ => None,
    })
}

/// Build one Arrow array of type `dt` from cells of that column.
pub fn build_array(dt: &DataType, cells: Vec<Cell>) -> Result<ArrayRef, String> {
    Ok(match dt {
        DataType::Boolean => Arc::new(BooleanArray::from_iter(cells.into_iter().map(
            |c| match c {
                Cell::Bool(b) => Some(b),
                _ => None,
            },
        ))),
        DataType::Int8 => Arc::new(Int8Array::from_iter(
            ints(cells).map(|v| v.map(|v| v as i8)),
        )),
        DataType::Int16 => Arc::new(Int16Array::from_iter(
            ints(cells).map(|v| v.map(|v| v as i16)),
        )),
        DataType::Int32 => Arc::new(Int32Array::from_iter(
            ints(cells).map(|v| v.map(|v| v as i32)),
        )),
        DataType::Int64 => Arc::new(Int64Array::from_iter(ints(cells))),
        DataType::Date32 => Arc::new(Date32Array::from_iter(
            ints(cells).map(|v| v.map(|v| v as i32)),
        )),
        DataType::Timestamp(TimeUnit::Microsecond, tz) => Arc::new(
            TimestampMicrosecondArray::from_iter(ints(cells)).with_timezone_opt(tz.clone()),
        ),
        DataType::Float32 => Arc::new(Float32Array::from_iter(cells.into_iter().map(
            |c| match c {
                Cell::F32(v) => Some(v),
                _ => None,
            },
        ))),
        DataType::Float64 => Arc::new(Float64Array::from_iter(cells.into_iter().map(
            |c| match c {
                Cell::F64(v) => Some(v),
                _ => None,
            },
        ))),
        DataType::Decimal128(p, s) => Arc::new(
            Decimal128Array::from_iter(cells.into_iter().map(|c| match c {
                Cell::Dec(v) => Some(v),
                _ => None,
            }))
            .with_precision_and_scale(*p, *s)
            .map_err(|e| e.to_string())?,
        ),
        DataType::Utf8 => Arc::new(StringArray::from_iter(cells.into_iter().map(|c| match c {
            Cell::Str(s) => Some(s),
            _ => None,
        }))),
        DataType::Binary => Arc::new(BinaryArray::from_iter(cells.into_iter().map(|c| match c {
            Cell::Bytes(b) => Some(b),
            _ => None,
        }))),
        DataType::List(field) => {
            let nulls = nulls_of(&cells);
            let mut offsets = Vec::with_capacity(cells.len() + 1);
            offsets.push(0i32);
            let mut children = Vec::new();
            for c in cells {
                if let Cell::List(items) = c {
                    children.extend(items);
                }
                offsets
                    .push(i32::try_from(children.len()).map_err(|_| "list too long".to_string())?);
            }
            let child = build_array(field.data_type(), children)?;
            Arc::new(
                ListArray::try_new(
                    field.clone(),
                    OffsetBuffer::new(offsets.into()),
                    child,
                    nulls,
                )
                .map_err(|e| e.to_string())?,
            )
        }
        DataType::Struct(fields) => Arc::new(build_struct(fields, cells)?),
        DataType::Map(entries_field, sorted) => {
            let DataType::Struct(entry_fields) = entries_field.data_type() else {
                return Err(format!("map entries of type {}", entries_field.data_type()));
            };
            let nulls = nulls_of(&cells);
            let mut offsets = Vec::with_capacity(cells.len() + 1);
            offsets.push(0i32);
            let mut entries = Vec::new();
            for c in cells {
                if let Cell::Map(kvs) = c {
                    entries.extend(kvs.into_iter().map(|(k, v)| Cell::Struct(vec![k, v])));
                }
                offsets.push(i32::try_from(entries.len()).map_err(|_| "map too long".to_string())?);
            }
            let entries = build_struct(entry_fields, entries)?;
            Arc::new(
                MapArray::try_new(
                    entries_field.clone(),
                    OffsetBuffer::new(offsets.into()),
                    entries,
                    nulls,
                    *sorted,
                )
                .map_err(|e| e.to_string())?,
            )
        }
        other => return Err(format!("the emulator cannot store Arrow type {other}")),
    })
}

fn build_struct(fields: &Fields, cells: Vec<Cell>) -> Result<StructArray, String> {
    let nulls = nulls_of(&cells);
    let n = cells.len();
    let mut children: Vec<Vec<Cell>> = fields.iter().map(|_| Vec::with_capacity(n)).collect();
    for c in cells {
        match c {
            Cell::Struct(values) => {
                for (child, v) in children.iter_mut().zip(values) {
                    child.push(v);
                }
            }
            _ => children.iter_mut().for_each(|child| child.push(Cell::Null)),
        }
    }
    let arrays = fields
        .iter()
        .zip(children)
        .map(|(f, cells): (&Arc<Field>, Vec<Cell>)| build_array(f.data_type(), cells))
        .collect::<Result<Vec<_>, _>>()?;
    if fields.is_empty() {
        return Ok(StructArray::new_empty_fields(n, nulls));
    }
    StructArray::try_new(fields.clone(), arrays, nulls).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;
    use arrow::datatypes::Schema;

    #[test]
    fn builds_nested_columns_with_nulls() {
        let item = Arc::new(Field::new("element", DataType::Int64, true));
        let entries = Arc::new(Field::new(
            "key_value",
            DataType::Struct(Fields::from(vec![
                Field::new("key", DataType::Utf8, false),
                Field::new("value", DataType::Float64, true),
            ])),
            false,
        ));
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("l", DataType::List(item), true),
            Field::new("m", DataType::Map(entries, false), true),
            Field::new(
                "s",
                DataType::Struct(Fields::from(vec![Field::new("a", DataType::Int32, false)])),
                true,
            ),
        ]));
        let rows = vec![
            vec![
                Cell::Int(1),
                Cell::List(vec![Cell::Int(5), Cell::Int(6)]),
                Cell::Map(vec![(Cell::Str("k".into()), Cell::F64(1.5))]),
                Cell::Struct(vec![Cell::Int(7)]),
            ],
            vec![Cell::Int(2), Cell::Null, Cell::Null, Cell::Null],
        ];
        let batch = rows_to_batch(&schema, rows).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.column(1).null_count(), 1);
        assert_eq!(batch.column(3).null_count(), 1);
        let l = batch
            .column(1)
            .as_any()
            .downcast_ref::<ListArray>()
            .unwrap();
        assert_eq!(l.value(0).len(), 2);
        assert_eq!(batch.column(2).len(), 2);
    }
}
