//! The implicit casts of SQL `INSERT`, made exact: a query column whose type is not the
//! table column's is converted to it only where every value survives unchanged, and
//! refused otherwise, naming the table, the column, the row and the value.
//!
//! DataFusion plans `INSERT INTO t SELECT …` by casting each query column to the table's
//! type with Arrow's cast, which rounds decimals, truncates fractions and nanoseconds and
//! reinterprets integers as instants without an error. Our sessions take that cast out of
//! the plan (see `datafusion::exact_insert`), so the write sees the query's own types and
//! converts them here:
//!
//! - [`check_insert_types`] at planning: pairs that reinterpret rather than convert
//!   (a number as an instant, an instant as a number, a number as a boolean) are refused.
//! - [`cast_batch_exactly`] per batch: each value is cast, then cast back (or re-parsed,
//!   for text) and compared; the first value that changes is refused. `DOUBLE 2.0` into
//!   an `INT` column lands `2`; `2.5` is refused.
//!
//! ```
//! use std::sync::Arc;
//! use arrow::array::{Float64Array, RecordBatch};
//! use arrow::datatypes::{DataType, Field, Schema};
//! use arrow_zerobus_sdk_wrapper::convert::cast_batch_exactly;
//!
//! let table = Arc::new(Schema::new(vec![Field::new("n", DataType::Int32, true)]));
//! let query = Arc::new(Schema::new(vec![Field::new("n", DataType::Float64, true)]));
//! let whole = RecordBatch::try_new(query.clone(), vec![Arc::new(Float64Array::from(vec![2.0]))]).unwrap();
//! assert!(cast_batch_exactly("main.default.t", &whole, &table, 0).is_ok());
//! let half = RecordBatch::try_new(query, vec![Arc::new(Float64Array::from(vec![2.5]))]).unwrap();
//! let e = cast_batch_exactly("main.default.t", &half, &table, 0).unwrap_err().to_string();
//! assert!(e.contains("column 'n', row 0") && e.contains("2.5"), "{e}");
//! ```

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::kernels::cmp::not_distinct;
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::error::{Result, ZerobusError};

/// The fix every refusal names.
const FIX: &str = "write an explicit CAST (or ROUND/TRUNC) in the query if that is what you want";

fn refused(table: &str, msg: String) -> ZerobusError {
    ZerobusError::Conversion(format!("table '{table}': {msg}").into())
}

/// Broad kinds of values, for the pairs a cast would reinterpret.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Number,
    Boolean,
    Text,
    Binary,
    Temporal,
    Nested,
    Other,
}

fn kind(t: &DataType) -> Kind {
    use DataType::*;
    match t {
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 | Float16 | Float32
        | Float64 | Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..) => Kind::Number,
        Boolean => Kind::Boolean,
        Utf8 | LargeUtf8 | Utf8View => Kind::Text,
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => Kind::Binary,
        Date32 | Date64 | Timestamp(..) | Time32(_) | Time64(_) | Duration(_) | Interval(_) => {
            Kind::Temporal
        }
        List(_) | LargeList(_) | FixedSizeList(..) | ListView(_) | LargeListView(_) | Struct(_)
        | Map(..) => Kind::Nested,
        Dictionary(_, v) => kind(v),
        _ => Kind::Other,
    }
}

/// Why writing a `from` value into a `to` column would reinterpret it rather than convert
/// it, or `None` when the pair converts (exactly, or refused value by value).
fn reinterprets(from: &DataType, to: &DataType) -> Option<&'static str> {
    use Kind::*;
    if from == to {
        return None;
    }
    match (kind(from), kind(to)) {
        (_, Text) | (Text, _) => None,
        (Number, Number) | (Boolean, Boolean) | (Binary, Binary) => None,
        (Temporal, Temporal) => None,
        (Number, Temporal) => Some("a number is not a date or a time"),
        (Temporal, Number) => Some("a date or a time is not a number"),
        (Number, Boolean) | (Boolean, Number) => Some("a number is not a boolean"),
        (Nested, Nested) => nested_reinterprets(from, to),
        _ => Some("the types do not convert"),
    }
}

fn nested_reinterprets(from: &DataType, to: &DataType) -> Option<&'static str> {
    use DataType::*;
    let element = |t: &DataType| match t {
        List(f) | LargeList(f) | FixedSizeList(f, _) | ListView(f) | LargeListView(f) => {
            Some(f.data_type().clone())
        }
        _ => None,
    };
    match (from, to) {
        (Struct(a), Struct(b)) => a
            .iter()
            .zip(b.iter())
            .find_map(|(x, y)| reinterprets(x.data_type(), y.data_type())),
        (Map(a, _), Map(b, _)) => reinterprets(a.data_type(), b.data_type()),
        _ => match (element(from), element(to)) {
            (Some(x), Some(y)) => reinterprets(&x, &y),
            _ => Some("the types do not convert"),
        },
    }
}

/// The table's field of the query column named `name` (the plan has named the query's
/// columns after the table's).
fn target_field<'a>(
    target: &'a arrow::datatypes::Schema,
    name: &str,
) -> Option<&'a arrow::datatypes::FieldRef> {
    target
        .fields()
        .iter()
        .find(|f| f.name() == name)
        .or_else(|| {
            target
                .fields()
                .iter()
                .find(|f| f.name().eq_ignore_ascii_case(name))
        })
}

/// Refuse, before anything is sent, an INSERT whose query column (`source`) would be
/// reinterpreted as the table's column of its name (`target`) rather than converted, or
/// cannot be converted at all. A column the table does not have is left to the encoder,
/// which refuses it by name.
pub fn check_insert_types(
    table: &str,
    source: &arrow::datatypes::Schema,
    target: &arrow::datatypes::Schema,
) -> Result<()> {
    for s in source.fields() {
        let Some(t) = target_field(target, s.name()) else {
            continue;
        };
        let (from, to) = (s.data_type(), t.data_type());
        if same_shape(from, to) {
            continue;
        }
        let why = reinterprets(from, to).or_else(|| {
            (!arrow::compute::can_cast_types(from, to)).then_some("the types do not convert")
        });
        if let Some(why) = why {
            return Err(refused(
                table,
                format!(
                    "INSERT writes the query's {from} into column '{}' of type {to}: {why}; {FIX}",
                    t.name()
                ),
            ));
        }
    }
    Ok(())
}

/// The same types but for the names and nullability of nested fields: a cast that only
/// renames.
fn same_shape(from: &DataType, to: &DataType) -> bool {
    from.equals_datatype(to)
}

/// The schema of `source`'s columns converted to the table's (`target`) types: each
/// column takes the type of the table's column of its name, and keeps its own
/// nullability (a NULL for a NOT NULL column is the encoder's to refuse, naming the row).
/// A column the table does not have keeps its type.
pub fn insert_schema(source: &SchemaRef, target: &arrow::datatypes::Schema) -> SchemaRef {
    let fields: Vec<arrow::datatypes::Field> = source
        .fields()
        .iter()
        .map(|s| match target_field(target, s.name()) {
            Some(t) => t
                .as_ref()
                .clone()
                .with_nullable(t.is_nullable() || s.is_nullable()),
            None => s.as_ref().clone(),
        })
        .collect();
    std::sync::Arc::new(arrow::datatypes::Schema::new_with_metadata(
        fields,
        source.metadata().clone(),
    ))
}

/// `batch` (the query's output, its columns named after the table's) as a batch of
/// `target` (from [`insert_schema`]), every value converted exactly or the batch refused
/// naming the first value that would change. `first_row` is the batch's first row in the
/// query's output (for messages).
pub fn cast_batch_exactly(
    table: &str,
    batch: &RecordBatch,
    target: &SchemaRef,
    first_row: u64,
) -> Result<RecordBatch> {
    let target = insert_schema(&batch.schema(), target);
    let columns = batch
        .columns()
        .iter()
        .zip(target.fields())
        .map(|(column, field)| {
            cast_column(table, field.name(), column, field.data_type(), first_row)
        })
        .collect::<Result<Vec<_>>>()?;
    let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(target, columns, &options).map_err(|e| {
        refused(
            table,
            format!("INSERT's batch does not fit the table's schema: {e}"),
        )
    })
}

fn cast_column(
    table: &str,
    name: &str,
    column: &ArrayRef,
    to: &DataType,
    first_row: u64,
) -> Result<ArrayRef> {
    let from = column.data_type();
    if from == to {
        return Ok(column.clone());
    }
    let safe = CastOptions {
        safe: true,
        ..Default::default()
    };
    let fail = |row: usize, what: &str| {
        refused(
            table,
            format!(
                "column '{name}', row {}: the query's {from} value {} {what} as the table's {to}; {FIX}",
                first_row + row as u64,
                shown(column, row)
            ),
        )
    };
    let cast = cast_with_options(column, to, &safe).map_err(|e| {
        refused(
            table,
            format!(
                "column '{name}': the query's {from} cannot be written as the table's {to} ({e})"
            ),
        )
    })?;
    if same_shape(from, to) {
        return Ok(cast);
    }
    // A value the cast could not make (overflow, text that does not parse) became null.
    let lost = first_new_null(column, &cast);
    let changed = if kind(from) == Kind::Text {
        text_changes(column, &cast, to, &safe)?
    } else if kind(to) == Kind::Text || widens(from, to) {
        None
    } else {
        // Back to the query's type: a value that comes back different was rounded,
        // truncated or wrapped on the way.
        let back = cast_with_options(&cast, from, &safe)
            .map_err(|e| refused(table, format!("column '{name}': {e}")))?;
        first_difference(column, &back)
    };
    // The first row that does not survive, whichever way.
    match (lost, changed) {
        (None, None) => Ok(cast),
        (Some(l), Some(c)) if c < l => Err(fail(c, "would change")),
        (Some(l), _) if kind(from) == Kind::Text => Err(fail(l, "does not parse")),
        (Some(l), _) => Err(fail(l, "does not fit")),
        (None, Some(c)) => Err(fail(c, "would change")),
    }
}

/// Pairs whose every value converts unchanged (or to null when out of range, caught by
/// the null check).
fn widens(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    let int_bits = |t: &DataType| match t {
        Int8 => Some((8, true)),
        Int16 => Some((16, true)),
        Int32 => Some((32, true)),
        Int64 => Some((64, true)),
        UInt8 => Some((8, false)),
        UInt16 => Some((16, false)),
        UInt32 => Some((32, false)),
        UInt64 => Some((64, false)),
        _ => None,
    };
    match (from, to) {
        (Float16 | Float32, Float64) | (Float16, Float32) => true,
        (Date32 | Date64, Timestamp(..)) => true,
        (Timestamp(a, _), Timestamp(b, _)) => unit_rank(a) <= unit_rank(b),
        _ => match (int_bits(from), int_bits(to)) {
            (Some((a, sa)), Some((b, sb))) => (sa == sb && a <= b) || (!sa && sb && a < b),
            _ => false,
        },
    }
}

fn unit_rank(u: &TimeUnit) -> u8 {
    match u {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 1,
        TimeUnit::Microsecond => 2,
        TimeUnit::Nanosecond => 3,
    }
}

/// The value of `column` at `row` as text, for a message (cut at 60 characters).
fn shown(column: &ArrayRef, row: usize) -> String {
    let text = ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())
        .map(|f| f.value(row).to_string())
        .unwrap_or_else(|_| "?".into());
    let text = match column.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => format!("'{text}'"),
        _ => text,
    };
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(60).collect::<String>())
    } else {
        text
    }
}

fn first_new_null(before: &ArrayRef, after: &ArrayRef) -> Option<usize> {
    if after.null_count() == before.null_count() {
        return None;
    }
    (0..before.len()).find(|&i| before.is_valid(i) && after.is_null(i))
}

/// The first row whose values differ (nulls equal to nulls).
fn first_difference(a: &ArrayRef, b: &ArrayRef) -> Option<usize> {
    if let Ok(same) = not_distinct(a, b) {
        if same.true_count() == same.len() {
            return None;
        }
        return (0..same.len()).find(|&i| !same.value(i));
    }
    // Nested values: compare whole, then row by row.
    if a.to_data() == b.to_data() {
        return None;
    }
    (0..a.len()).find(|&i| a.slice(i, 1).to_data() != b.slice(i, 1).to_data())
}

/// For text parsed into `to`: the first row whose text says more than the parsed value
/// holds (digits beyond a decimal's scale, nanoseconds beyond a timestamp's µs).
fn text_changes(
    column: &ArrayRef,
    cast: &ArrayRef,
    to: &DataType,
    safe: &CastOptions,
) -> Result<Option<usize>> {
    match to {
        DataType::Decimal32(_, s)
        | DataType::Decimal64(_, s)
        | DataType::Decimal128(_, s)
        | DataType::Decimal256(_, s) => {
            let text = cast_with_options(column, &DataType::Utf8, safe)
                .map_err(|e| ZerobusError::Conversion(e.to_string().into()))?;
            let text = text.as_string::<i32>();
            Ok(
                (0..text.len())
                    .find(|&i| text.is_valid(i) && !decimal_text_fits(text.value(i), *s)),
            )
        }
        DataType::Timestamp(unit, tz) if *unit != TimeUnit::Nanosecond => {
            // Parsed at nanoseconds where it fits, the same instant must come back.
            let fine = DataType::Timestamp(TimeUnit::Nanosecond, tz.clone());
            let Ok(ns) = cast_with_options(column, &fine, safe) else {
                return Ok(None);
            };
            let Ok(coarse) = cast_with_options(cast, &fine, safe) else {
                return Ok(None);
            };
            let ns = ns.as_primitive::<arrow::datatypes::TimestampNanosecondType>();
            let coarse = coarse.as_primitive::<arrow::datatypes::TimestampNanosecondType>();
            Ok((0..ns.len())
                .find(|&i| ns.is_valid(i) && coarse.is_valid(i) && ns.value(i) != coarse.value(i)))
        }
        _ => Ok(None),
    }
}

/// Whether decimal text (`-12.3400`) has no non-zero digit beyond `scale` fractional
/// digits and no exponent.
fn decimal_text_fits(text: &str, scale: i8) -> bool {
    let text = text.trim();
    if text.contains(['e', 'E']) {
        return false;
    }
    match text.split_once('.') {
        None => true,
        Some((_, fraction)) => fraction
            .chars()
            .skip(scale.max(0) as usize)
            .all(|c| c == '0'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        Decimal128Array, Float64Array, Int64Array, StringArray, TimestampNanosecondArray,
    };
    use arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    fn one(from: ArrayRef, to: DataType) -> Result<ArrayRef> {
        let target = Arc::new(Schema::new(vec![Field::new("c", to, true)]));
        let source = Arc::new(Schema::new(vec![Field::new(
            "c",
            from.data_type().clone(),
            true,
        )]));
        let batch = RecordBatch::try_new(source, vec![from]).unwrap();
        cast_batch_exactly("t", &batch, &target, 100).map(|b| b.column(0).clone())
    }

    #[test]
    fn a_decimal_loses_no_digit() {
        let a = Arc::new(
            Decimal128Array::from(vec![Some(1230), None, Some(1239)])
                .with_precision_and_scale(10, 3)
                .unwrap(),
        );
        let e = one(a, DataType::Decimal128(10, 2)).unwrap_err().to_string();
        assert!(
            e.contains("column 'c', row 102") && e.contains("1.239"),
            "{e}"
        );
        let ok = Arc::new(
            Decimal128Array::from(vec![Some(1230), None])
                .with_precision_and_scale(10, 3)
                .unwrap(),
        );
        let got = one(ok, DataType::Decimal128(10, 2)).unwrap();
        assert_eq!(
            got.as_primitive::<arrow::datatypes::Decimal128Type>()
                .value(0),
            123
        );
        assert!(got.is_null(1));
    }

    #[test]
    fn a_double_into_an_int_must_be_whole_and_fit() {
        let got = one(
            Arc::new(Float64Array::from(vec![2.0, -7.0])),
            DataType::Int32,
        )
        .unwrap();
        assert_eq!(
            got.as_primitive::<arrow::datatypes::Int32Type>().values(),
            &[2, -7]
        );
        let e = one(
            Arc::new(Float64Array::from(vec![2.0, 2.7])),
            DataType::Int32,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("row 101") && e.contains("2.7") && e.contains("would change"),
            "{e}"
        );
        let e = one(
            Arc::new(Int64Array::from(vec![3_000_000_000])),
            DataType::Int32,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("3000000000") && e.contains("does not fit"),
            "{e}"
        );
    }

    #[test]
    fn a_double_into_a_float_keeps_its_value() {
        assert!(one(Arc::new(Float64Array::from(vec![0.5])), DataType::Float32).is_ok());
        let e = one(Arc::new(Float64Array::from(vec![0.1])), DataType::Float32).unwrap_err();
        assert!(e.to_string().contains("0.1"), "{e}");
    }

    #[test]
    fn nanoseconds_are_not_dropped() {
        let utc = Some("UTC".into());
        let a = Arc::new(
            TimestampNanosecondArray::from(vec![1_000_000_000, 1_000_000_001]).with_timezone("UTC"),
        );
        let e = one(a, DataType::Timestamp(TimeUnit::Microsecond, utc.clone()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("row 101"), "{e}");
        let whole =
            Arc::new(TimestampNanosecondArray::from(vec![1_000_000_000]).with_timezone("UTC"));
        assert!(one(
            whole,
            DataType::Timestamp(TimeUnit::Microsecond, utc.clone())
        )
        .is_ok());
        let text = Arc::new(StringArray::from(vec!["2024-01-01T00:00:00.123456789Z"]));
        let e = one(text, DataType::Timestamp(TimeUnit::Microsecond, utc))
            .unwrap_err()
            .to_string();
        assert!(e.contains("123456789"), "{e}");
    }

    #[test]
    fn text_must_parse_and_keep_its_digits() {
        let got = one(
            Arc::new(StringArray::from(vec!["12", "-3"])),
            DataType::Int32,
        )
        .unwrap();
        assert_eq!(
            got.as_primitive::<arrow::datatypes::Int32Type>().values(),
            &[12, -3]
        );
        let e = one(
            Arc::new(StringArray::from(vec!["12", "x"])),
            DataType::Int32,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("'x'") && e.contains("does not parse"), "{e}");
        assert!(one(
            Arc::new(StringArray::from(vec!["1.50"])),
            DataType::Decimal128(10, 2)
        )
        .is_ok());
        let e = one(
            Arc::new(StringArray::from(vec!["1.239"])),
            DataType::Decimal128(10, 2),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("'1.239'"), "{e}");
    }

    #[test]
    fn reinterpreting_pairs_are_refused_at_planning() {
        let s = |t: DataType| Schema::new(vec![Field::new("c", t, true)]);
        let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let e = check_insert_types("t", &s(DataType::Int64), &s(utc.clone()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("column 'c'") && e.contains("not a date or a time"),
            "{e}"
        );
        assert!(check_insert_types("t", &s(DataType::Int32), &s(DataType::Boolean)).is_err());
        assert!(check_insert_types("t", &s(DataType::Date32), &s(utc)).is_ok());
        assert!(check_insert_types("t", &s(DataType::Float64), &s(DataType::Int32)).is_ok());
        assert!(check_insert_types("t", &s(DataType::Utf8), &s(DataType::Int32)).is_ok());
    }
}
