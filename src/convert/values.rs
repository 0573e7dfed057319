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
    table: &str,
    path: &str,
    array: &ArrayRef,
    rule: Rule,
    valid: &Option<NullBuffer>,
    row_of: RowOf,
) -> Result<Vec<u64>> {
    let err = |i: usize, what: String| {
        conversion(table, format!("column '{path}', row {}: {what}", row_of(i)))
    };
    // Every valid value through `f`; null slots become 0 unseen.
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
    macro_rules! widen {
        ($t:ty) => {
            each::<$t>(array, valid, |_, v| Ok(v as i64))?
        };
    }
    let micros = |i: usize, v: i64, per: i64, what: &str| {
        v.checked_mul(per).ok_or_else(|| {
            err(
                i,
                format!("{what} {v} is outside the range of microsecond timestamps"),
            )
        })
    };
    let whole_day = |i: usize, ms: i64| {
        if ms % MILLIS_PER_DAY == 0 {
            Ok(ms)
        } else {
            Err(err(
                i,
                format!("Date64 value {ms} ms is not a whole day (Arrow's Date64 holds midnights)"),
            ))
        }
    };
    let vals: Vec<i64> = match (array.data_type(), rule) {
        (dt, Rule::Range(min, max)) if dt.is_integer() => {
            let vals = match dt {
                DataType::Int8 => widen!(Int8Type),
                DataType::Int16 => widen!(Int16Type),
                DataType::Int32 => widen!(Int32Type),
                DataType::Int64 => widen!(Int64Type),
                DataType::UInt8 => widen!(UInt8Type),
                DataType::UInt16 => widen!(UInt16Type),
                DataType::UInt32 => widen!(UInt32Type),
                _ => each::<UInt64Type>(array, valid, |i, v| {
                    i64::try_from(v).map_err(|_| {
                        err(
                            i,
                            format!("UInt64 value {v} is over the BIGINT maximum {}", i64::MAX),
                        )
                    })
                })?,
            };
            if min > i64::MIN || max < i64::MAX {
                if let Some((i, v)) = vals
                    .iter()
                    .enumerate()
                    .find(|(i, v)| (**v < min || **v > max) && is_valid(valid, *i))
                {
                    return Err(err(
                        i,
                        format!(
                            "value {v} does not fit the table's {} column ({min} to {max})",
                            int_type_name(min)
                        ),
                    ));
                }
            }
            vals
        }
        (DataType::Date32, Rule::Days) => widen!(Date32Type),
        (DataType::Date64, Rule::Days) => each::<Date64Type>(array, valid, |i, ms| {
            Ok(whole_day(i, ms)?.div_euclid(MILLIS_PER_DAY))
        })?,
        (DataType::Date32, Rule::Micros) => each::<Date32Type>(array, valid, |i, d| {
            micros(i, d.into(), MICROS_PER_DAY, "date")
        })?,
        (DataType::Date64, Rule::Micros) => each::<Date64Type>(array, valid, |i, ms| {
            micros(i, whole_day(i, ms)?, 1_000, "date")
        })?,
        (DataType::Timestamp(unit, _), Rule::Micros) => match unit {
            TimeUnit::Second => each::<TimestampSecondType>(array, valid, |i, v| {
                micros(i, v, 1_000_000, "timestamp")
            })?,
            TimeUnit::Millisecond => each::<TimestampMillisecondType>(array, valid, |i, v| {
                micros(i, v, 1_000, "timestamp")
            })?,
            TimeUnit::Microsecond => widen!(TimestampMicrosecondType),
            TimeUnit::Nanosecond => each::<TimestampNanosecondType>(array, valid, |i, ns| {
                if ns % 1_000 != 0 {
                    return Err(err(
                        i,
                        format!(
                            "timestamp {ns} ns has digits below a microsecond, which the table cannot hold; \
                             round or truncate it to microseconds first"
                        ),
                    ));
                }
                Ok(ns.div_euclid(1_000))
            })?,
        },
        (DataType::Boolean, Rule::Plain) => {
            let b = array.as_boolean();
            (0..b.len()).map(|i| b.value(i) as i64).collect()
        }
        (other, rule) => {
            return Err(conversion(
                table,
                format!("column '{path}': {other} values cannot be converted as {rule:?}"),
            ))
        }
    };
    Ok(vals.into_iter().map(|v| v as u64).collect())
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
    table: &str,
    path: &str,
    array: &ArrayRef,
    precision: u8,
    scale: i8,
    valid: &Option<NullBuffer>,
    row_of: RowOf,
) -> Result<StringArray> {
    let err = |i: usize, what: String| {
        conversion(table, format!("column '{path}', row {}: {what}", row_of(i)))
    };
    let target = format!("DECIMAL({precision},{scale})");
    let (source_scale, values): (i8, Vec<Option<i128>>) = match array.data_type() {
        DataType::Decimal128(_, s) => {
            let a = array.as_primitive::<Decimal128Type>();
            (*s, a.values().iter().map(|v| Some(*v)).collect())
        }
        DataType::Decimal256(_, s) => {
            let a = array.as_primitive::<Decimal256Type>();
            (*s, a.values().iter().map(|v| v.to_i128()).collect())
        }
        other => {
            return Err(conversion(
                table,
                format!("column '{path}': {other} is not a decimal"),
            ))
        }
    };
    let limit = 10i128.checked_pow(u32::from(precision));
    let diff = i32::from(source_scale) - i32::from(scale);
    let mut out = StringBuilder::with_capacity(values.len(), values.len() * 8);
    for (i, v) in values.into_iter().enumerate() {
        if !is_valid(valid, i) {
            out.append_null();
            continue;
        }
        let Some(v) = v else {
            return Err(err(
                i,
                format!("the value has more digits than any {target} column holds"),
            ));
        };
        let shown = || decimal_string(v, source_scale);
        let rescaled = if diff > 0 {
            match 10i128.checked_pow(diff as u32) {
                Some(d) if v % d == 0 => v / d,
                None if v == 0 => 0,
                _ => {
                    return Err(err(
                        i,
                        format!(
                            "{} has more than {scale} digits after the point; the table's {target} \
                             would round it: round it to {scale} places first",
                            shown()
                        ),
                    ))
                }
            }
        } else if diff < 0 {
            match 10i128
                .checked_pow((-diff) as u32)
                .and_then(|m| v.checked_mul(m))
            {
                Some(x) => x,
                None => {
                    return Err(err(
                        i,
                        format!("{} does not fit the table's {target}", shown()),
                    ))
                }
            }
        } else {
            v
        };
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
            return Err(err(
                i,
                format!("{text} has {digits} integer digits; the table's {target} holds {allowed}"),
            ));
        }
        out.append_value(decimal_string(rescaled, scale));
    }
    Ok(out.finish())
}

/// Refuse the first valid value that is not JSON as Databricks `parse_json` reads it
/// (VARIANT columns take JSON text; an object with a duplicate key is refused).
pub(super) fn check_json<'a>(
    table: &str,
    path: &str,
    len: usize,
    value: impl Fn(usize) -> &'a [u8],
    valid: &Option<NullBuffer>,
    row_of: RowOf,
) -> Result<()> {
    for i in 0..len {
        if !is_valid(valid, i) {
            continue;
        }
        parse_variant_json(table, path, value(i), row_of(i))?;
    }
    Ok(())
}

/// One VARIANT value's JSON text, parsed as `parse_json` reads it; refused naming column
/// and row (the same words on both transports).
pub(super) fn parse_variant_json(
    table: &str,
    path: &str,
    text: &[u8],
    row: usize,
) -> Result<zerobus_json_variant::Json> {
    let parsed = std::str::from_utf8(text)
        .map_err(|e| format!("it is not UTF-8 ({e})"))
        .and_then(|t| zerobus_json_variant::parse(t).map_err(|e| e.to_string()));
    parsed.map_err(|e| {
        conversion(
            table,
            format!("column '{path}', row {row}: VARIANT values are JSON text, and this is not JSON ({e})"),
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
