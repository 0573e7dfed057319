//! Value conversions of the encoder: integers with the range of their column, dates and
//! timestamps in the unit of their column, decimals at the scale of their column, JSON
//! checked for VARIANT. Each either converts exactly or refuses, naming column and row.

use arrow::array::{Array, ArrayRef, AsArray, StringArray, StringBuilder};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Date64Type, Decimal128Type, Decimal256Type,
    Int16Type, Int32Type, Int64Type, Int8Type, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};

use super::plan::Rule;
use crate::error::{Result, ZerobusError};

/// Maps an index of the array being converted to the row of the batch (for messages).
pub(super) type RowOf<'a> = &'a dyn Fn(usize) -> usize;

const MICROS_PER_DAY: i64 = 86_400_000_000;
const MILLIS_PER_DAY: i64 = 86_400_000;

/// Where a value is: the table, the column's path (`s.inner.x`), its field number, and
/// the batch row of each index of the array at hand. Errors about values say all of it.
pub(super) struct At<'a> {
    pub table: &'a str,
    pub path: &'a str,
    pub number: u32,
    pub row_of: RowOf<'a>,
}

impl At<'_> {
    /// A conversion error about this column.
    pub fn error(&self, what: impl std::fmt::Display) -> ZerobusError {
        conversion(self.table, format!("column '{}': {what}", self.path))
    }

    /// A conversion error about the value at index `i` (named by its batch row).
    pub fn row_error(&self, i: usize, what: impl std::fmt::Display) -> ZerobusError {
        let row = (self.row_of)(i);
        conversion(
            self.table,
            format!("column '{}', row {row}: {what}", self.path),
        )
    }
}

pub(super) fn conversion(table: &str, msg: String) -> ZerobusError {
    ZerobusError::Conversion(format!("table '{table}': {msg}").into())
}

#[inline]
pub(super) fn is_valid(valid: &Option<NullBuffer>, i: usize) -> bool {
    valid.as_ref().is_none_or(|v| v.is_valid(i))
}

/// The name of the integer column type with these bounds.
fn int_type_name(min: i64) -> &'static str {
    match min {
        m if m == i64::from(i8::MIN) => "TINYINT",
        m if m == i64::from(i16::MIN) => "SMALLINT",
        m if m == i64::from(i32::MIN) => "INT",
        _ => "BIGINT",
    }
}

/// Integer values of one column as the 64-bit two's-complement a varint holds, converted
/// by `rule` (see [`Rule`]). Values under a null are not looked at (written as 0, never
/// sent).
pub(super) fn int_values(
    at: &At,
    array: &ArrayRef,
    rule: Rule,
    valid: &Option<NullBuffer>,
) -> Result<Vec<u64>> {
    let vals: Vec<i64> = match (array.data_type(), rule) {
        (dt, Rule::Range(min, max)) if dt.is_integer() => ranged(at, array, (min, max), valid)?,
        (DataType::Date32 | DataType::Date64, Rule::Days)
        | (DataType::Date32 | DataType::Date64 | DataType::Timestamp(..), Rule::Micros) => {
            time_values(at, array, rule, valid)?
        }
        (DataType::Boolean, Rule::Plain) => {
            array.as_boolean().values().iter().map(i64::from).collect()
        }
        (other, rule) => {
            return Err(at.error(format!("{other} values cannot be converted as {rule:?}")))
        }
    };
    Ok(vals.into_iter().map(|v| v as u64).collect())
}

/// Every valid value through `f`; null slots become 0 unseen.
fn each<T: ArrowPrimitiveType>(
    array: &ArrayRef,
    valid: &Option<NullBuffer>,
    mut f: impl FnMut(usize, T::Native) -> Result<i64>,
) -> Result<Vec<i64>> {
    let values = array.as_primitive::<T>().values();
    let mut out = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        out.push(if is_valid(valid, i) { f(i, *v)? } else { 0 });
    }
    Ok(out)
}

/// Every value of a type whose values all fit an i64, as i64 (values under a null too:
/// they are never sent).
fn widened<T: ArrowPrimitiveType>(array: &ArrayRef) -> Vec<i64>
where
    T::Native: Into<i64>,
{
    let values = array.as_primitive::<T>().values();
    values.iter().map(|v| (*v).into()).collect()
}

/// `(low, high)` as i64.
fn bounds<T: Into<i64>>(low: T, high: T) -> (i64, i64) {
    (low.into(), high.into())
}

/// Integers checked to lie in the column's `min..=max`.
fn ranged(
    at: &At,
    array: &ArrayRef,
    (min, max): (i64, i64),
    valid: &Option<NullBuffer>,
) -> Result<Vec<i64>> {
    // Each arm also gives the range of the Arrow type: no value needs checking when the
    // column holds all of it.
    let (vals, (low, high)) = match array.data_type() {
        DataType::Int8 => (widened::<Int8Type>(array), bounds(i8::MIN, i8::MAX)),
        DataType::Int16 => (widened::<Int16Type>(array), bounds(i16::MIN, i16::MAX)),
        DataType::Int32 => (widened::<Int32Type>(array), bounds(i32::MIN, i32::MAX)),
        DataType::Int64 => (widened::<Int64Type>(array), (i64::MIN, i64::MAX)),
        DataType::UInt8 => (widened::<UInt8Type>(array), bounds(0u8, u8::MAX)),
        DataType::UInt16 => (widened::<UInt16Type>(array), bounds(0u16, u16::MAX)),
        DataType::UInt32 => (widened::<UInt32Type>(array), bounds(0u32, u32::MAX)),
        _ => (
            each::<UInt64Type>(array, valid, |i, v| {
                i64::try_from(v).map_err(|_| {
                    at.row_error(
                        i,
                        format!("UInt64 value {v} is over the BIGINT maximum {}", i64::MAX),
                    )
                })
            })?,
            (0, i64::MAX),
        ),
    };
    if low < min || high > max {
        let out_of_range = |(i, v): &(usize, &i64)| (**v < min || **v > max) && is_valid(valid, *i);
        if let Some((i, v)) = vals.iter().enumerate().find(out_of_range) {
            return Err(at.row_error(
                i,
                format!(
                    "value {v} does not fit the table's {} column ({min} to {max})",
                    int_type_name(min)
                ),
            ));
        }
    }
    Ok(vals)
}

/// Dates as days (DATE) or dates and timestamps as microseconds (TIMESTAMP): exact, or
/// refused (a Date64 that is not a midnight, sub-microsecond digits, overflow).
fn time_values(
    at: &At,
    array: &ArrayRef,
    rule: Rule,
    valid: &Option<NullBuffer>,
) -> Result<Vec<i64>> {
    let micros = |i: usize, v: i64, per: i64, what: &str| {
        v.checked_mul(per).ok_or_else(|| {
            at.row_error(
                i,
                format!("{what} {v} is outside the range of microsecond timestamps"),
            )
        })
    };
    let whole_day = |i: usize, ms: i64| {
        if ms % MILLIS_PER_DAY == 0 {
            Ok(ms)
        } else {
            Err(at.row_error(
                i,
                format!("Date64 value {ms} ms is not a whole day (Arrow's Date64 holds midnights)"),
            ))
        }
    };
    match (array.data_type(), rule) {
        (DataType::Date32, Rule::Days) => Ok(widened::<Date32Type>(array)),
        (DataType::Date64, Rule::Days) => each::<Date64Type>(array, valid, |i, ms| {
            Ok(whole_day(i, ms)?.div_euclid(MILLIS_PER_DAY))
        }),
        (DataType::Date32, _) => each::<Date32Type>(array, valid, |i, d| {
            micros(i, d.into(), MICROS_PER_DAY, "date")
        }),
        (DataType::Date64, _) => each::<Date64Type>(array, valid, |i, ms| {
            micros(i, whole_day(i, ms)?, 1_000, "date")
        }),
        (DataType::Timestamp(TimeUnit::Second, _), _) => {
            each::<TimestampSecondType>(array, valid, |i, v| micros(i, v, 1_000_000, "timestamp"))
        }
        (DataType::Timestamp(TimeUnit::Millisecond, _), _) => {
            each::<TimestampMillisecondType>(array, valid, |i, v| micros(i, v, 1_000, "timestamp"))
        }
        (DataType::Timestamp(TimeUnit::Microsecond, _), _) => {
            Ok(widened::<TimestampMicrosecondType>(array))
        }
        (DataType::Timestamp(TimeUnit::Nanosecond, _), _) => {
            each::<TimestampNanosecondType>(array, valid, |i, ns| {
                if ns % 1_000 != 0 {
                    return Err(at.row_error(
                        i,
                        format!(
                            "timestamp {ns} ns has digits below a microsecond, which the table cannot hold; \
                             round or truncate it to microseconds first"
                        ),
                    ));
                }
                Ok(ns.div_euclid(1_000))
            })
        }
        (other, rule) => Err(at.error(format!("{other} values cannot be converted as {rule:?}"))),
    }
}

/// `v` (an unscaled decimal) as text with `scale` digits after the point.
pub(super) fn decimal_string(v: i128, scale: i8) -> String {
    let sign = if v < 0 { "-" } else { "" };
    let digits = v.unsigned_abs().to_string();
    if scale <= 0 {
        let zeros = if v == 0 { 0 } else { (-scale) as usize };
        return format!("{sign}{digits}{}", "0".repeat(zeros));
    }
    let scale = scale as usize;
    let digits = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = digits.split_at(digits.len() - scale);
    format!("{sign}{int}.{frac}")
}

/// Decimal values as exact text at the column's scale: digits beyond the scale are
/// refused unless they are zeros (the table would round them), and values over the
/// column's precision are refused, naming column and row.
pub(super) fn decimal_text(
    at: &At,
    array: &ArrayRef,
    (precision, scale): (u8, i8),
    valid: &Option<NullBuffer>,
) -> Result<StringArray> {
    let (source_scale, values): (i8, Vec<Option<i128>>) = match array.data_type() {
        DataType::Decimal128(_, s) => {
            let a = array.as_primitive::<Decimal128Type>();
            (*s, a.values().iter().map(|v| Some(*v)).collect())
        }
        DataType::Decimal256(_, s) => {
            let a = array.as_primitive::<Decimal256Type>();
            (*s, a.values().iter().map(|v| v.to_i128()).collect())
        }
        other => return Err(at.error(format!("{other} is not a decimal"))),
    };
    let column = DecimalColumn {
        precision,
        scale,
        source_scale,
    };
    let mut out = StringBuilder::with_capacity(values.len(), values.len() * 8);
    for (i, v) in values.into_iter().enumerate() {
        if !is_valid(valid, i) {
            out.append_null();
            continue;
        }
        let exact = column.rescale(v).map_err(|what| at.row_error(i, what))?;
        out.append_value(decimal_string(exact, scale));
    }
    Ok(out.finish())
}

/// A decimal column's precision and scale, and the scale of the values going into it.
struct DecimalColumn {
    precision: u8,
    scale: i8,
    source_scale: i8,
}

impl DecimalColumn {
    /// `v` (unscaled at the source scale; `None` when wider than 128 bits) unscaled at
    /// the column's scale, or why it does not fit exactly.
    fn rescale(&self, v: Option<i128>) -> std::result::Result<i128, String> {
        let (precision, scale) = (self.precision, self.scale);
        let target = format!("DECIMAL({precision},{scale})");
        let Some(v) = v else {
            return Err(format!(
                "the value has more digits than any {target} column holds"
            ));
        };
        let shown = || decimal_string(v, self.source_scale);
        let diff = i32::from(self.source_scale) - i32::from(scale);
        let rescaled = if diff > 0 {
            match 10i128.checked_pow(diff as u32) {
                Some(d) if v % d == 0 => v / d,
                None if v == 0 => 0,
                _ => {
                    return Err(format!(
                        "{} has more than {scale} digits after the point; the table's {target} \
                         would round it: round it to {scale} places first",
                        shown()
                    ))
                }
            }
        } else {
            10i128
                .checked_pow(diff.unsigned_abs())
                .and_then(|m| v.checked_mul(m))
                .ok_or_else(|| format!("{} does not fit the table's {target}", shown()))?
        };
        let limit = 10i128.checked_pow(u32::from(precision));
        if limit.is_some_and(|l| rescaled.unsigned_abs() >= l.unsigned_abs()) {
            let text = decimal_string(rescaled, scale);
            let digits = text
                .trim_start_matches('-')
                .split('.')
                .next()
                .unwrap_or_default()
                .trim_start_matches('0')
                .len();
            let allowed = (i32::from(precision) - i32::from(scale)).max(0);
            return Err(format!(
                "{text} has {digits} integer digits; the table's {target} holds {allowed}"
            ));
        }
        Ok(rescaled)
    }
}

/// Refuse the first valid value that is not JSON as Databricks `parse_json` reads it
/// (VARIANT columns take JSON text; an object with a duplicate key is refused).
pub(super) fn check_json<'a>(
    at: &At,
    len: usize,
    value: impl Fn(usize) -> &'a [u8],
    valid: &Option<NullBuffer>,
) -> Result<()> {
    for i in 0..len {
        if !is_valid(valid, i) {
            continue;
        }
        parse_variant_json(at, i, value(i))?;
    }
    Ok(())
}

/// One VARIANT value's JSON text, parsed as `parse_json` reads it; refused naming column
/// and row (the same words on both transports).
pub(super) fn parse_variant_json(
    at: &At,
    i: usize,
    text: &[u8],
) -> Result<zerobus_json_variant::Json> {
    let parsed = std::str::from_utf8(text)
        .map_err(|e| format!("it is not UTF-8 ({e})"))
        .and_then(|t| zerobus_json_variant::parse(t).map_err(|e| e.to_string()));
    parsed.map_err(|e| {
        at.row_error(
            i,
            format!("VARIANT values are JSON text, and this is not JSON ({e})"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_text_is_exact() {
        assert_eq!(decimal_string(12345, 2), "123.45");
        assert_eq!(decimal_string(-5, 2), "-0.05");
        assert_eq!(decimal_string(0, 3), "0.000");
        assert_eq!(decimal_string(7, 0), "7");
        assert_eq!(decimal_string(7, -2), "700");
    }
}
