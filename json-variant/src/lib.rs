//! JSON text to a VARIANT the way Databricks `parse_json` reads it, for both sides of
//! the wire: the client (its `flight` transport builds the variant; both transports check
//! the text) and the emulator (its `proto` path stores what `parse_json` would).
//!
//! What `parse_json` does that a plain JSON parser does not:
//! - a number keeps its digits: an integer that fits 64 bits is the narrowest integer
//!   type, any other number without an exponent is a decimal while it has at most 38
//!   digits, and only a number with an exponent (or more digits) is a double;
//! - an object with the same key twice is refused.
//!
//! ```
//! use zerobus_json_variant::{canonical_json, parse};
//! assert_eq!(canonical_json(r#"{"b": 19.990, "a": 12345678901234567.5}"#).unwrap(),
//!            r#"{"a":12345678901234567.5,"b":19.99}"#);
//! let e = parse(r#"{"a": 1, "a": 2}"#).unwrap_err();
//! assert!(e.to_string().contains("duplicate key 'a'"));
//! ```

use std::collections::HashSet;
use std::fmt;

use parquet_variant::{
    ObjectFieldBuilder, Variant, VariantBuilder, VariantBuilderExt, VariantDecimal16,
    VariantDecimal4, VariantDecimal8,
};
use parquet_variant_json::VariantToJson;

/// Most digits of a VARIANT decimal.
const MAX_DECIMAL_DIGITS: usize = 38;
/// Deepest nesting accepted (as serde_json's default recursion limit).
const MAX_DEPTH: usize = 128;

/// Why a text is not a VARIANT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// What is wrong.
    pub message: String,
    /// Byte offset in the text where it was found.
    pub offset: usize,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.message, self.offset)
    }
}

impl std::error::Error for JsonError {}

/// A parsed JSON value whose numbers are kept as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number's text, valid JSON.
    Number(String),
    /// A string, unescaped.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object, keys in the order written (unique).
    Object(Vec<(String, Json)>),
}

/// Parse `text` as one JSON value (surrounding whitespace allowed), refusing duplicate
/// keys.
pub fn parse(text: &str) -> Result<Json, JsonError> {
    let mut p = Parser {
        bytes: text.as_bytes(),
        at: 0,
    };
    p.skip_ws();
    let value = p.value(0)?;
    p.skip_ws();
    if p.at != p.bytes.len() {
        return Err(p.error("trailing characters after the JSON value"));
    }
    Ok(value)
}

/// Append `json` to `builder` as `parse_json` types it (see the crate docs).
pub fn append(json: &Json, builder: &mut impl VariantBuilderExt) -> Result<(), JsonError> {
    match json {
        Json::Null => builder.append_value(Variant::Null),
        Json::Bool(b) => builder.append_value(*b),
        Json::Number(n) => builder.append_value(number(n)?),
        Json::String(s) => builder.append_value(s.as_str()),
        Json::Array(items) => {
            let mut list = builder.try_new_list().map_err(builder_error)?;
            for item in items {
                append(item, &mut list)?;
            }
            list.finish();
        }
        Json::Object(fields) => {
            let mut object = builder.try_new_object().map_err(builder_error)?;
            for (key, value) in fields {
                let mut field = ObjectFieldBuilder::new(key, &mut object);
                append(value, &mut field)?;
            }
            object.finish();
        }
    }
    Ok(())
}

fn builder_error(e: impl fmt::Display) -> JsonError {
    JsonError {
        message: format!("cannot build the variant: {e}"),
        offset: 0,
    }
}

/// The variant (metadata, value) of JSON `text`.
pub fn to_variant(text: &str) -> Result<(Vec<u8>, Vec<u8>), JsonError> {
    let json = parse(text)?;
    let mut builder = VariantBuilder::new();
    append(&json, &mut builder)?;
    Ok(builder.finish())
}

/// The JSON text of the variant of `text`: what a VARIANT column holding `parse_json(text)`
/// reads back as (keys sorted, numbers exact, no whitespace).
pub fn canonical_json(text: &str) -> Result<String, JsonError> {
    let (metadata, value) = to_variant(text)?;
    let variant = Variant::try_new(&metadata, &value).map_err(builder_error)?;
    variant.to_json_string().map_err(builder_error)
}

/// The variant of a JSON number's text.
fn number(text: &str) -> Result<Variant<'static, 'static>, JsonError> {
    let bad = |what: &str| JsonError {
        message: format!("the number {text} {what}"),
        offset: 0,
    };
    let exponent = text.contains(['e', 'E']);
    if !exponent && !text.contains('.') {
        if let Ok(i) = text.parse::<i64>() {
            return Ok(narrowest_integer(i));
        }
    }
    if !exponent {
        let negative = text.starts_with('-');
        let body = text.trim_start_matches('-');
        let (whole, fraction) = body.split_once('.').unwrap_or((body, ""));
        let digits = format!("{whole}{fraction}");
        let significant = digits.trim_start_matches('0');
        let precision = significant.len().max(fraction.len()).max(1);
        if precision <= MAX_DECIMAL_DIGITS {
            let scale = fraction.len() as u8;
            let unscaled: i128 = digits.parse().map_err(|_| bad("does not parse"))?;
            let unscaled = if negative { -unscaled } else { unscaled };
            return decimal(unscaled, scale, precision).map_err(|e| bad(&e));
        }
    }
    let f: f64 = text.parse().map_err(|_| bad("does not parse"))?;
    if !f.is_finite() {
        return Err(bad("is out of the range of a double"));
    }
    Ok(Variant::Double(f))
}

fn narrowest_integer(i: i64) -> Variant<'static, 'static> {
    if let Ok(v) = i8::try_from(i) {
        Variant::Int8(v)
    } else if let Ok(v) = i16::try_from(i) {
        Variant::Int16(v)
    } else if let Ok(v) = i32::try_from(i) {
        Variant::Int32(v)
    } else {
        Variant::Int64(i)
    }
}

fn decimal(
    unscaled: i128,
    scale: u8,
    precision: usize,
) -> Result<Variant<'static, 'static>, String> {
    let e = |e: arrow_schema::ArrowError| e.to_string();
    Ok(if precision <= 9 {
        Variant::from(VariantDecimal4::try_new(unscaled as i32, scale).map_err(e)?)
    } else if precision <= 18 {
        Variant::from(VariantDecimal8::try_new(unscaled as i64, scale).map_err(e)?)
    } else {
        Variant::from(VariantDecimal16::try_new(unscaled, scale).map_err(e)?)
    })
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn error(&self, message: impl Into<String>) -> JsonError {
        JsonError {
            message: message.into(),
            offset: self.at,
        }
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn expect(&mut self, word: &str) -> Result<(), JsonError> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(())
        } else {
            Err(self.error(format!("expected '{word}'")))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        match self.peek() {
            None => Err(self.error("expected a JSON value, found the end")),
            Some(b'n') => self.expect("null").map(|_| Json::Null),
            Some(b't') => self.expect("true").map(|_| Json::Bool(true)),
            Some(b'f') => self.expect("false").map(|_| Json::Bool(false)),
            Some(b'"') => self.string().map(Json::String),
            Some(b'[') => self.array(depth),
            Some(b'{') => self.object(depth),
            Some(b'-' | b'0'..=b'9') => self.number().map(Json::Number),
            Some(c) => Err(self.error(format!("unexpected character '{}'", c as char))),
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json, JsonError> {
        self.at += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Json::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.error("expected ',' or ']' in an array")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, JsonError> {
        self.at += 1;
        let mut fields = Vec::new();
        let mut seen = HashSet::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Json::Object(fields));
        }
        loop {
            self.skip_ws();
            let key_at = self.at;
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key in an object"));
            }
            let key = self.string()?;
            if !seen.insert(key.clone()) {
                return Err(JsonError {
                    message: format!(
                        "duplicate key '{key}' in an object (Databricks parse_json refuses duplicate keys)"
                    ),
                    offset: key_at,
                });
            }
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.error("expected ':' after an object key"));
            }
            self.at += 1;
            self.skip_ws();
            let value = self.value(depth + 1)?;
            fields.push((key, value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Json::Object(fields));
                }
                _ => return Err(self.error("expected ',' or '}' in an object")),
            }
        }
    }

    /// A number's text, checked against JSON's grammar.
    fn number(&mut self) -> Result<String, JsonError> {
        let start = self.at;
        let digits = |p: &mut Self| {
            let from = p.at;
            while let Some(b'0'..=b'9') = p.peek() {
                p.at += 1;
            }
            p.at - from
        };
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let whole_at = self.at;
        let whole = digits(self);
        if whole == 0 || (whole > 1 && self.bytes[whole_at] == b'0') {
            return Err(self.error("not a JSON number (digits expected, no leading zero)"));
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if digits(self) == 0 {
                return Err(self.error("not a JSON number (digits expected after '.')"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if digits(self) == 0 {
                return Err(self.error("not a JSON number (digits expected in the exponent)"));
            }
        }
        Ok(String::from_utf8_lossy(&self.bytes[start..self.at]).into_owned())
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.at += 1;
        let mut out = String::new();
        loop {
            let start = self.at;
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.at += 1;
            }
            // The input is a &str, and the run stops at ASCII bytes only: valid UTF-8.
            out.push_str(&String::from_utf8_lossy(&self.bytes[start..self.at]));
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.at += 1;
                    let escaped = self
                        .peek()
                        .ok_or_else(|| self.error("unterminated escape"))?;
                    self.at += 1;
                    match escaped {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => out.push(self.unicode_escape()?),
                        other => {
                            return Err(self.error(format!("invalid escape '\\{}'", other as char)))
                        }
                    }
                }
                Some(_) => return Err(self.error("a control character inside a string")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let text = self
            .bytes
            .get(self.at..self.at + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .ok_or_else(|| self.error("expected four hex digits after '\\u'"))?;
        let v = u32::from_str_radix(text, 16)
            .map_err(|_| self.error("expected four hex digits after '\\u'"))?;
        self.at += 4;
        Ok(v)
    }

    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let first = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&first) {
            if !self.bytes[self.at..].starts_with(b"\\u") {
                return Err(self.error("a lone UTF-16 surrogate in '\\u' escapes"));
            }
            self.at += 2;
            let second = self.hex4()?;
            if !(0xDC00..0xE000).contains(&second) {
                return Err(self.error("a lone UTF-16 surrogate in '\\u' escapes"));
            }
            0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        } else {
            first
        };
        char::from_u32(code).ok_or_else(|| self.error("a lone UTF-16 surrogate in '\\u' escapes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(text: &str) -> String {
        canonical_json(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn numbers_keep_their_digits() {
        assert_eq!(canon("19.990"), "19.99");
        assert_eq!(canon("-0.5"), "-0.5");
        assert_eq!(canon("12345678901234567.5"), "12345678901234567.5");
        assert_eq!(
            canon("123456789012345678901234567890"),
            "123456789012345678901234567890"
        );
        assert_eq!(canon("-9223372036854775808"), "-9223372036854775808");
        assert_eq!(canon("1E2"), "100");
        assert_eq!(canon("0.1"), "0.1");
        // 39 digits: a double.
        let big = "1".repeat(39);
        assert_eq!(canon(&big), format!("{}", big.parse::<f64>().unwrap()));
    }

    #[test]
    fn integers_take_the_narrowest_type() {
        let (m, v) = to_variant("300").unwrap();
        assert_eq!(Variant::try_new(&m, &v).unwrap(), Variant::Int16(300));
        let (m, v) = to_variant("1.50").unwrap();
        assert_eq!(
            Variant::try_new(&m, &v).unwrap(),
            Variant::from(VariantDecimal4::try_new(150, 2).unwrap())
        );
    }

    #[test]
    fn objects_sort_keys_and_refuse_duplicates() {
        assert_eq!(
            canon(r#" { "b" : [1, "x\n", null] , "a" : {"c": true} } "#),
            r#"{"a":{"c":true},"b":[1,"x\n",null]}"#
        );
        let e = parse(r#"{"a": {"k": 1, "k": 2}}"#).unwrap_err();
        assert!(e.message.contains("duplicate key 'k'"), "{e}");
        assert!(
            parse(r#"[{"k": 1}, {"k": 2}]"#).is_ok(),
            "the same key in two objects"
        );
    }

    #[test]
    fn strings_unescape() {
        assert_eq!(
            parse(r#""\u00e9\ud83d\ude00\/""#).unwrap(),
            Json::String("é😀/".into())
        );
        assert!(parse(r#""\ud83d""#).is_err());
    }

    #[test]
    fn invalid_json_is_refused_with_its_place() {
        for bad in [
            "", "{", "[1,]", "01", "1.", "-", "1e", "{a:1}", "tru", "1 2", "\"\t\"", "nan",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
        assert_eq!(parse("[1, }").unwrap_err().offset, 4);
    }
}
