//! DECIMAL(p, s) columns of a Unity Catalog table hold at most `p - s` integer digits.
//! Protobuf carries decimals as text, so the descriptor cannot say so; without this check
//! an out-of-range value was only refused by the service, after the batch was sent.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Decimal128Type, Decimal256Type};
use databricks_zerobus_ingest_sdk::schema::UcColumn;

use crate::error::{Result, ZerobusError};

/// A top-level DECIMAL column of the table and its precision and scale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecimalLimit {
    /// Column name.
    pub column: String,
    /// Total digits.
    pub precision: u8,
    /// Digits after the point.
    pub scale: i8,
}

/// Precision and scale of a UC `type_text` such as `decimal(10,2)`.
pub fn decimal_args(type_text: &str) -> Option<(u8, i8)> {
    let text = type_text.trim().to_ascii_lowercase();
    let inner = text.strip_prefix("decimal(")?.strip_suffix(')')?;
    let (p, s) = inner.split_once(',')?;
    Some((p.trim().parse().ok()?, s.trim().parse().ok()?))
}

/// The DECIMAL columns of `columns` (from `type_text` such as `decimal(10,2)`).
pub fn decimal_limits(columns: &[UcColumn]) -> Vec<DecimalLimit> {
    columns
        .iter()
        .filter_map(|c| {
            let (precision, scale) = decimal_args(&c.type_text)?;
            Some(DecimalLimit {
                column: c.name.clone(),
                precision,
                scale,
            })
        })
        .collect()
}

/// Refuse the first value of a DECIMAL column of `batch` with more integer digits than the
/// table's column holds, naming table, column and row.
pub fn check_decimals(table: &str, batch: &RecordBatch, limits: &[DecimalLimit]) -> Result<()> {
    for limit in limits {
        let Some(column) = batch.column_by_name(&limit.column) else {
            continue;
        };
        let allowed = (i32::from(limit.precision) - i32::from(limit.scale)).max(0) as usize;
        let too_long = |i: usize, text: String| {
            let digits = text
                .trim_start_matches('-')
                .split('.')
                .next()
                .unwrap_or_default()
                .trim_start_matches('0')
                .len();
            (digits > allowed).then(|| {
                ZerobusError::Conversion(format!(
                    "table '{table}': column '{}', row {i}: {text} has {digits} integer digits; the table's DECIMAL({},{}) holds {allowed}",
                    limit.column, limit.precision, limit.scale
                ))
            })
        };
        match column.data_type() {
            DataType::Decimal128(_, scale) => {
                let values = column.as_primitive::<Decimal128Type>();
                // |v| < 10^(allowed + scale) is in range; only larger values are printed.
                let bound = 10i128.checked_pow((allowed as i64 + i64::from(*scale)).max(0) as u32);
                for i in 0..values.len() {
                    if values.is_null(i) {
                        continue;
                    }
                    let v = values.value(i);
                    if bound.is_some_and(|b| v.unsigned_abs() < b.unsigned_abs()) {
                        continue;
                    }
                    if let Some(e) = too_long(i, values.value_as_string(i)) {
                        return Err(e);
                    }
                }
            }
            DataType::Decimal256(_, _) => {
                let values = column.as_primitive::<Decimal256Type>();
                for i in 0..values.len() {
                    if values.is_valid(i) {
                        if let Some(e) = too_long(i, values.value_as_string(i)) {
                            return Err(e);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Decimal128Array;
    use arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    fn batch(values: Vec<i128>, p: u8, s: i8) -> RecordBatch {
        let a = Decimal128Array::from(values)
            .with_precision_and_scale(p, s)
            .unwrap();
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(
                "d",
                a.data_type().clone(),
                true,
            )])),
            vec![Arc::new(a)],
        )
        .unwrap()
    }

    #[test]
    fn values_with_too_many_integer_digits_are_named() {
        let limits = vec![DecimalLimit {
            column: "d".into(),
            precision: 10,
            scale: 2,
        }];
        // 99999999.99 fits DECIMAL(10,2); 100000000.00 does not.
        check_decimals(
            "t",
            &batch(vec![9_999_999_999, -9_999_999_999], 38, 2),
            &limits,
        )
        .unwrap();
        let e = check_decimals("t", &batch(vec![1, 10_000_000_000], 38, 2), &limits)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("column 'd', row 1: 100000000.00 has 9 integer digits; the table's DECIMAL(10,2) holds 8"),
            "{e}"
        );
        // A batch scale larger than the table's does not change the integer digits.
        check_decimals("t", &batch(vec![999_999_999_999], 38, 4), &limits).unwrap();
    }
}
