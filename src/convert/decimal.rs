//! DECIMAL(p, s) type arguments as Unity Catalog writes them (`decimal(10,2)`).

/// Precision and scale of a UC `type_text` such as `decimal(10,2)`.
///
/// ```
/// use arrow_zerobus_sdk_wrapper::convert::decimal_args;
/// assert_eq!(decimal_args("DECIMAL(10, 2)"), Some((10, 2)));
/// assert_eq!(decimal_args("bigint"), None);
/// ```
pub fn decimal_args(type_text: &str) -> Option<(u8, i8)> {
    let text = type_text.trim().to_ascii_lowercase();
    let inner = text.strip_prefix("decimal(")?.strip_suffix(')')?;
    let (p, s) = inner.split_once(',')?;
    Some((p.trim().parse().ok()?, s.trim().parse().ok()?))
}
