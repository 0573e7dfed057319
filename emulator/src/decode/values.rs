//! Value parsers both record formats share: integers in range, text as the column's
//! type, DECIMAL and DATE text, VARIANT JSON.

use crate::cells::Cell;
use crate::types::Primitive;

pub(super) fn int_value(p: Primitive, i: i64, path: &str) -> Result<Cell, String> {
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
pub(super) fn variant_text(text: &str, path: &str) -> Result<Cell, String> {
    zerobus_json_variant::canonical_json(text)
        .map(Cell::Str)
        .map_err(|e| format!("column '{path}': VARIANT value is not valid JSON: {e}"))
}

pub(super) fn text_value(p: Primitive, s: &str, path: &str) -> Result<Cell, String> {
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
