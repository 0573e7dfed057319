//! Arrow → the table's Arrow Flight batch: what the `flight` transport sends.
//!
//! Over Arrow Flight the service takes batches of one exact schema, the one it builds from
//! the Delta table ([`flight_schema`]): STRING and DECIMAL as `LargeUtf8` (a decimal travels
//! as text), BINARY as `LargeBinary`, TIMESTAMP as `Timestamp(µs, "UTC")`, TIMESTAMP_NTZ as
//! `Timestamp(µs)`, DATE as `Date32`, VARIANT as `Struct<metadata, value>` of the Parquet
//! variant encoding, ARRAY / MAP / STRUCT as `List` / `Map` / `Struct`.
//!
//! A [`FlightEncoder`] accepts exactly what the protobuf encoder accepts, planned by the
//! same rules ([`super::plan`]) and with the same value checks ([`super::values`]): a
//! batch that one transport refuses, the other refuses too, with the same words, and the
//! values that land are the same. Every table column is in the result; a nullable column
//! the batch leaves out is all NULL.

use std::sync::Arc;

use arrow::array::{
    make_array, Array, ArrayRef, AsArray, BooleanArray, Date32Array, Int16Array, Int32Array,
    Int64Array, Int8Array, LargeBinaryBuilder, ListArray, MapArray, RecordBatch,
    RecordBatchOptions, StructArray, TimestampMicrosecondArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{DataType, Field, SchemaRef};
use parquet_variant::VariantBuilder;

use super::bind::byte_source;
use super::encode::plan_batch;
use super::flight_schema::{flight_fields, flight_schema, flight_type, map_kv, variant_fields};
use super::plan::{FieldPlan, Rule, Scalar};
use super::sql_type::{SqlField, SqlType};
use super::table_schema::TableSchema;
use super::values::{conversion, decimal_text, int_values, parse_variant_json, At, RowOf};
use super::walk::{cast, Build, Rows, Walk};
use crate::error::Result;

/// Converts batches of one schema into batches of the table's Flight schema.
///
/// ```
/// use std::sync::Arc;
/// use arrow::array::{Int32Array, RecordBatch, StringArray};
/// use arrow::datatypes::{DataType, Field, Schema};
/// use arrow_zerobus_sdk_wrapper::convert::{FlightEncoder, TableSchema};
///
/// let table = TableSchema::from_arrow("main.default.t", &Schema::new(vec![
///     Field::new("id", DataType::Int64, false),
///     Field::new("name", DataType::Utf8, true),
/// ])).unwrap();
/// // Ids come as Int32 and the name is left out: the batch sent has both columns.
/// let input = Arc::new(Schema::new(vec![Field::new("id", DataType::Int32, false)]));
/// let batch = RecordBatch::try_new(input.clone(), vec![Arc::new(Int32Array::from(vec![1, 2]))]).unwrap();
/// let encoder = FlightEncoder::new(&table, &input).unwrap();
/// let sent = encoder.encode_batch(&batch).unwrap();
/// assert_eq!(sent.schema().field(0).data_type(), &DataType::Int64);
/// assert_eq!(sent.schema().field(1).data_type(), &DataType::LargeUtf8);
/// assert_eq!(sent.column(1).null_count(), 2);
/// ```
///
/// Cloning is cheap (plan and columns are shared): plan once per schema.
#[derive(Debug, Clone)]
pub struct FlightEncoder {
    table: String,
    input: SchemaRef,
    plan: Arc<[FieldPlan]>,
    columns: Arc<[SqlField]>,
    schema: SchemaRef,
}

impl FlightEncoder {
    /// Plan the conversion of batches of `input` for `table`; every mismatch is named in
    /// one [`crate::ZerobusError::Conversion`], as for the protobuf encoder.
    pub fn new(table: &TableSchema, input: &SchemaRef) -> Result<FlightEncoder> {
        Ok(FlightEncoder {
            table: table.table().to_string(),
            input: input.clone(),
            plan: plan_batch(table, input)?.into(),
            columns: table.columns().into(),
            schema: Arc::new(flight_schema(table.columns())),
        })
    }

    /// The Flight schema of the batches this encoder makes.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The input schema this encoder was planned for.
    pub fn input_schema(&self) -> &SchemaRef {
        &self.input
    }

    /// `batch` as a batch of the table's Flight schema, every value checked; on error
    /// nothing of the batch is usable (the error names column and row).
    pub fn encode_batch(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let table = self.table.as_str();
        let row_of: RowOf = &|i| i;
        let walk = Walk {
            table,
            build: &Flight,
            refuse_null_collections: false,
        };
        let built = walk.fields(
            &self.plan,
            Some(&self.columns),
            batch.columns(),
            None,
            row_of,
        )?;
        let columns = in_table_order(table, &self.columns, built, batch.num_rows())?;
        let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        RecordBatch::try_new_with_options(self.schema.clone(), columns, &options)
            .map_err(|e| conversion(table, format!("building the Arrow Flight batch: {e}")))
    }
}

/// The Flight encoder's side of the walk: arrays of the table's Flight types.
struct Flight;

impl Build for Flight {
    type Out = ArrayRef;

    fn scalar(
        &self,
        at: &At,
        scalar: (Scalar, Rule),
        ty: Option<&SqlType>,
        array: &ArrayRef,
        valid: Option<NullBuffer>,
    ) -> Result<ArrayRef> {
        let ty = ty.ok_or_else(|| undeclared(at))?;
        scalar_array(at, scalar, ty, array, valid)
    }

    fn message(
        &self,
        at: &At,
        fields: Option<&[SqlField]>,
        children: Vec<(&FieldPlan, ArrayRef)>,
        valid: Option<NullBuffer>,
        len: usize,
    ) -> Result<ArrayRef> {
        let fields = fields.ok_or_else(|| undeclared(at))?;
        let children = in_table_order(at.table, fields, children, len)?;
        let out = StructArray::try_new_with_length(flight_fields(fields), children, valid, len)
            .map_err(|e| at.error(e))?;
        Ok(Arc::new(out))
    }

    fn list(
        &self,
        at: &At,
        elem: Option<&SqlType>,
        rows: Rows,
        elements: ArrayRef,
    ) -> Result<ArrayRef> {
        let elem = elem.ok_or_else(|| undeclared(at))?;
        let item = Arc::new(Field::new("item", flight_type(elem), true));
        let out = ListArray::try_new(item, offsets(at, &rows)?, elements, rows.valid)
            .map_err(|e| at.error(e))?;
        Ok(Arc::new(out))
    }

    fn map(
        &self,
        at: &At,
        types: (Option<&SqlType>, Option<&SqlType>),
        rows: Rows,
        keys: ArrayRef,
        values: ArrayRef,
    ) -> Result<ArrayRef> {
        let (Some(key_ty), Some(value_ty)) = types else {
            return Err(undeclared(at));
        };
        let kv = map_kv(flight_type(key_ty), flight_type(value_ty));
        let entries_field = Arc::new(Field::new("entries", DataType::Struct(kv.clone()), false));
        let entries =
            StructArray::try_new(kv, vec![keys, values], None).map_err(|e| at.error(e))?;
        let out = MapArray::try_new(
            entries_field,
            offsets(at, &rows)?,
            entries,
            rows.valid,
            false,
        )
        .map_err(|e| at.error(e))?;
        Ok(Arc::new(out))
    }
}

fn undeclared(at: &At) -> crate::error::ZerobusError {
    no_declared_type(at.table, at.path)
}

fn no_declared_type(table: &str, path: &str) -> crate::error::ZerobusError {
    conversion(
        table,
        format!("column '{path}' has no declared type in the table"),
    )
}

/// A collection's offsets as an Arrow List holds them.
fn offsets(at: &At, rows: &Rows) -> Result<OffsetBuffer<i32>> {
    if rows.elements() > i32::MAX as usize {
        return Err(at.error(format!(
            "{} elements in one batch are more than an Arrow List holds; send smaller batches",
            rows.elements()
        )));
    }
    Ok(OffsetBuffer::new(
        rows.offsets.iter().map(|o| *o as i32).collect(),
    ))
}

/// The arrays of a message's fields (the table's columns, or a struct's fields) in the
/// table's order; a nullable field the batch leaves out is all NULL.
fn in_table_order(
    table: &str,
    fields: &[SqlField],
    children: Vec<(&FieldPlan, ArrayRef)>,
    len: usize,
) -> Result<Vec<ArrayRef>> {
    let mut out: Vec<Option<ArrayRef>> = vec![None; fields.len()];
    for (plan, array) in children {
        match plan.column.filter(|c| *c < fields.len()) {
            Some(c) => out[c] = Some(array),
            None => return Err(no_declared_type(table, &plan.path)),
        }
    }
    fields
        .iter()
        .zip(out)
        .map(|(field, array)| match array {
            Some(a) => Ok(a),
            None if field.nullable => {
                Ok(arrow::array::new_null_array(&flight_type(&field.ty), len))
            }
            None => Err(conversion(
                table,
                format!(
                    "column '{}' is NOT NULL in the table but missing from the batch",
                    field.name
                ),
            )),
        })
        .collect()
}

/// A scalar column's array of its Flight type: the buffers as they are when they already
/// fit, integers narrowed after their range check, decimals as text, JSON as VARIANT.
fn scalar_array(
    at: &At,
    (s, rule): (Scalar, Rule),
    ty: &SqlType,
    array: &ArrayRef,
    valid: Option<NullBuffer>,
) -> Result<ArrayRef> {
    if as_it_is(array.data_type(), rule, ty) {
        // Already the column's Flight type, and every value of the type fits the column:
        // the buffers go as they are.
        return Ok(match ty {
            SqlType::Timestamp => with_nulls(
                Arc::new(
                    array
                        .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                        .clone()
                        .with_timezone("UTC"),
                ),
                valid,
            ),
            _ => with_nulls(array.clone(), valid),
        });
    }
    Ok(match (s, rule) {
        (Scalar::Bool, _) => Arc::new(BooleanArray::new(
            array.as_boolean().values().clone(),
            valid,
        )),
        (Scalar::Int32 | Scalar::Int64, _) => {
            let v = int_values(at, array, rule, &valid)?;
            int_array(ty, &v, valid)
        }
        (Scalar::Float, _) => with_nulls(cast(at, array, &DataType::Float32)?, valid),
        (Scalar::Double, _) => with_nulls(cast(at, array, &DataType::Float64)?, valid),
        (_, Rule::Decimal(precision, scale)) => {
            let text = decimal_text(at, array, (precision, scale), &valid)?;
            cast(at, &(Arc::new(text) as ArrayRef), &DataType::LargeUtf8)?
        }
        (_, Rule::Json) => variant_array(at, array, valid)?,
        (Scalar::String, _) => with_nulls(cast(at, array, &DataType::LargeUtf8)?, valid),
        (Scalar::Bytes, _) => with_nulls(cast(at, array, &DataType::LargeBinary)?, valid),
    })
}

/// Integers, range-checked for their column, as the column's Flight type: the narrowing
/// is exact.
fn int_array(ty: &SqlType, v: &[u64], valid: Option<NullBuffer>) -> ArrayRef {
    match ty {
        SqlType::TinyInt => Arc::new(Int8Array::new(v.iter().map(|x| *x as i8).collect(), valid)),
        SqlType::SmallInt => Arc::new(Int16Array::new(
            v.iter().map(|x| *x as i16).collect(),
            valid,
        )),
        SqlType::Int => Arc::new(Int32Array::new(
            v.iter().map(|x| *x as i32).collect(),
            valid,
        )),
        SqlType::Date => Arc::new(Date32Array::new(
            v.iter().map(|x| *x as i32).collect(),
            valid,
        )),
        SqlType::Timestamp => Arc::new(
            TimestampMicrosecondArray::new(v.iter().map(|x| *x as i64).collect(), valid)
                .with_timezone("UTC"),
        ),
        SqlType::TimestampNtz => Arc::new(TimestampMicrosecondArray::new(
            v.iter().map(|x| *x as i64).collect(),
            valid,
        )),
        _ => Arc::new(Int64Array::new(
            v.iter().map(|x| *x as i64).collect(),
            valid,
        )),
    }
}

/// Whether values of `dt` go to a column of `ty` unchanged: the integer type of the
/// column's width, `Date32` for DATE, microsecond timestamps (any zone, an instant is the
/// same number) for TIMESTAMP, microseconds without zone for TIMESTAMP_NTZ.
fn as_it_is(dt: &DataType, rule: Rule, ty: &SqlType) -> bool {
    use arrow::datatypes::TimeUnit::Microsecond;
    matches!(
        (dt, rule, ty),
        (DataType::Int8, Rule::Range(..), SqlType::TinyInt)
            | (DataType::Int16, Rule::Range(..), SqlType::SmallInt)
            | (DataType::Int32, Rule::Range(..), SqlType::Int)
            | (DataType::Int64, Rule::Range(..), SqlType::BigInt)
            | (DataType::Date32, Rule::Days, SqlType::Date)
            | (
                DataType::Timestamp(Microsecond, None),
                Rule::Micros,
                SqlType::TimestampNtz
            )
            | (
                DataType::Timestamp(Microsecond, Some(_)),
                Rule::Micros,
                SqlType::Timestamp
            )
    )
}

/// `array` with the null buffer `valid` (its own nulls, or more under a null parent).
fn with_nulls(array: ArrayRef, valid: Option<NullBuffer>) -> ArrayRef {
    if array.nulls() == valid.as_ref() {
        return array;
    }
    let data = array.to_data().into_builder().nulls(valid);
    match data.build() {
        Ok(data) => make_array(data),
        // Only more nulls were set, which every layout allows; keep the array as it was.
        Err(_) => array,
    }
}

/// VARIANT values: JSON text (parsed as the protobuf path checks it, as Databricks
/// `parse_json` reads it) in the Parquet variant encoding: numbers without an exponent
/// stay exact (integers, decimals up to 38 digits), duplicate keys are refused.
fn variant_array(at: &At, array: &ArrayRef, valid: Option<NullBuffer>) -> Result<ArrayRef> {
    let src = byte_source(at, array)?;
    let n = array.len();
    let mut metadata = LargeBinaryBuilder::with_capacity(n, n * 4);
    let mut values = LargeBinaryBuilder::with_capacity(n, n * 16);
    for i in 0..n {
        if !valid.as_ref().is_none_or(|v| v.is_valid(i)) {
            metadata.append_value(b"");
            values.append_value(b"");
            continue;
        }
        let json = parse_variant_json(at, i, src.value(i))?;
        let mut builder = VariantBuilder::new();
        zerobus_json_variant::append(&json, &mut builder)
            .map_err(|e| at.row_error(i, format!("not representable as a VARIANT: {e}")))?;
        let (m, v) = builder.finish();
        metadata.append_value(m);
        values.append_value(v);
    }
    let children: Vec<ArrayRef> = vec![Arc::new(metadata.finish()), Arc::new(values.finish())];
    let out = StructArray::try_new(variant_fields(), children, valid).map_err(|e| at.error(e))?;
    Ok(Arc::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Date64Array, Decimal128Array, Float32Array, TimestampNanosecondArray};
    use arrow::datatypes::{Schema, TimeUnit};

    fn table(fields: Vec<Field>) -> TableSchema {
        TableSchema::from_arrow("main.default.t", &Schema::new(fields)).unwrap()
    }

    fn encode(t: &TableSchema, columns: Vec<(&str, ArrayRef)>) -> Result<RecordBatch> {
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        FlightEncoder::new(t, &batch.schema())?.encode_batch(&batch)
    }

    #[test]
    fn values_take_the_flight_types_of_their_columns() {
        let t = table(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("small", DataType::Int16, true),
            Field::new("day", DataType::Date32, true),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("price", DataType::Decimal128(10, 2), true),
            Field::new("ratio", DataType::Float64, true),
        ]);
        let sent = encode(
            &t,
            vec![
                ("id", Arc::new(Int32Array::from(vec![1, 2]))),
                ("small", Arc::new(Int8Array::from(vec![Some(-3), None]))),
                ("day", Arc::new(Date64Array::from(vec![86_400_000, 0]))),
                (
                    "at",
                    Arc::new(
                        TimestampNanosecondArray::from(vec![1_000, 2_000]).with_timezone("+02:00"),
                    ),
                ),
                (
                    "price",
                    Arc::new(
                        Decimal128Array::from(vec![12340, -50])
                            .with_precision_and_scale(9, 3)
                            .unwrap(),
                    ),
                ),
                ("ratio", Arc::new(Float32Array::from(vec![0.5, 1.5]))),
            ],
        )
        .unwrap();
        assert_eq!(sent.schema().as_ref(), &flight_schema(t.columns()));
        let at = sent
            .column(3)
            .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
        assert_eq!(at.values().to_vec(), vec![1, 2]);
        assert_eq!(
            sent.column(2)
                .as_primitive::<arrow::datatypes::Date32Type>()
                .value(0),
            1
        );
        let price = sent.column(4).as_string::<i64>();
        assert_eq!((price.value(0), price.value(1)), ("12.34", "-0.05"));
        assert!(sent.column(1).is_null(1));
    }

    /// A list view's rows may point anywhere in its values, in any order: the Flight list
    /// holds each row's elements in row order.
    #[test]
    fn list_views_out_of_order_become_lists_in_row_order() {
        use arrow::array::{ListViewArray, StringArray};
        use arrow::buffer::ScalarBuffer;
        let item = Arc::new(Field::new("item", DataType::Utf8, false));
        let view = ListViewArray::new(
            item.clone(),
            ScalarBuffer::from(vec![2, 0, 1]),
            ScalarBuffer::from(vec![1, 2, 1]),
            Arc::new(StringArray::from(vec!["a", "b", "c"])),
            Some(vec![true, true, false].into()),
        );
        let t = table(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("tags", DataType::List(item), true),
        ]);
        let sent = encode(
            &t,
            vec![
                ("id", Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef),
                ("tags", Arc::new(view) as ArrayRef),
            ],
        )
        .unwrap();
        let tags = sent.column(1).as_list::<i32>();
        let row = |i: usize| {
            let v = tags.value(i);
            let v = v.as_string::<i64>();
            (0..v.len())
                .map(|j| v.value(j).to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            (row(0), row(1)),
            (
                vec!["c".to_string()],
                vec!["a".to_string(), "b".to_string()]
            )
        );
        assert!(tags.is_null(2));
        assert_eq!(tags.value_offsets(), &[0, 1, 3, 3]);
    }
}
