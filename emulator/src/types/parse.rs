//! The column-list DDL (`id BIGINT NOT NULL, tags ARRAY<STRING>, …`) into [`UcField`]s.

use super::model::*;

/// Parse a column list: `id BIGINT NOT NULL, name STRING, tags ARRAY<STRING>`.
///
/// ```
/// use zerobus_emulator::types::parse_columns;
/// let cols = parse_columns("id BIGINT NOT NULL, s STRUCT<a: INT, b: MAP<STRING, DOUBLE>>").unwrap();
/// assert_eq!(cols.len(), 2);
/// assert!(!cols[0].nullable);
/// ```
pub fn parse_columns(text: &str) -> Result<Vec<UcField>> {
    let mut p = Parser { s: text, pos: 0 };
    let mut out = Vec::new();
    loop {
        p.skip_ws();
        if p.pos == p.s.len() {
            break;
        }
        let field = p.parse_field(0, false)?;
        validate_identifier(&field.name)?;
        field.ty.validate(&field.name)?;
        out.push(field);
        p.skip_ws();
        if !p.eat(',') {
            break;
        }
    }
    p.skip_ws();
    if p.pos != p.s.len() {
        return Err(TypeError(format!(
            "unexpected '{}' in column list",
            &p.s[p.pos..]
        )));
    }
    if out.is_empty() {
        return Err(TypeError("the column list is empty".into()));
    }
    Ok(out)
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while let Some(c) = self.s[self.pos..].chars().next() {
            if c.is_whitespace() {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.s[self.pos..].starts_with(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<()> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(TypeError(format!(
                "expected '{c}' at '{}' in '{}'",
                &self.s[self.pos..],
                self.s
            )))
        }
    }

    fn ident(&mut self) -> Result<String> {
        self.skip_ws();
        let rest = &self.s[self.pos..];
        if let Some(quoted) = rest.strip_prefix('`') {
            let end = quoted
                .find('`')
                .ok_or_else(|| TypeError(format!("unclosed ` in '{}'", self.s)))?;
            self.pos += end + 2;
            return Ok(quoted[..end].to_string());
        }
        let len = rest
            .char_indices()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        if len == 0 {
            return Err(TypeError(format!(
                "expected a name at '{rest}' in '{}'",
                self.s
            )));
        }
        self.pos += len;
        Ok(rest[..len].to_string())
    }

    fn keyword(&mut self, word: &str) -> bool {
        self.skip_ws();
        let rest = &self.s[self.pos..];
        if rest.len() >= word.len()
            && rest[..word.len()].eq_ignore_ascii_case(word)
            && !rest[word.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
        {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    fn parse_field(&mut self, depth: usize, in_struct: bool) -> Result<UcField> {
        let name = self.ident()?;
        if in_struct {
            self.eat(':');
        }
        let ty = self.parse_type(depth + 1)?;
        let mut nullable = true;
        if self.keyword("NOT") {
            if !self.keyword("NULL") {
                return Err(TypeError(format!("expected NULL after NOT for '{name}'")));
            }
            nullable = false;
        }
        if self.keyword("COMMENT") {
            self.skip_ws();
            let rest = &self.s[self.pos..];
            let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"');
            let Some(q) = quote else {
                return Err(TypeError(format!(
                    "COMMENT for '{name}' needs a quoted string"
                )));
            };
            let end = rest[1..]
                .find(q)
                .ok_or_else(|| TypeError(format!("unclosed COMMENT for '{name}'")))?;
            self.pos += end + 2;
        }
        Ok(UcField { name, ty, nullable })
    }

    fn parse_type(&mut self, depth: usize) -> Result<UcType> {
        if depth > MAX_DEPTH {
            return Err(TypeError(format!("type nesting deeper than {MAX_DEPTH}")));
        }
        let word = self.ident()?;
        match word.to_ascii_uppercase().as_str() {
            "ARRAY" => {
                self.expect('<')?;
                let e = self.parse_type(depth + 1)?;
                self.expect('>')?;
                Ok(UcType::Array(Box::new(e)))
            }
            "MAP" => {
                // MAP<K, V> (Spark, UC) or MAP(K, V) (how SQL parsers print it).
                let close = if self.eat('(') {
                    ')'
                } else {
                    self.expect('<')?;
                    '>'
                };
                let k = self.parse_type(depth + 1)?;
                self.expect(',')?;
                let v = self.parse_type(depth + 1)?;
                self.expect(close)?;
                Ok(UcType::Map(Box::new(k), Box::new(v)))
            }
            "STRUCT" => {
                self.expect('<')?;
                let mut fields = Vec::new();
                if !self.eat('>') {
                    loop {
                        fields.push(self.parse_field(depth, true)?);
                        if self.eat('>') {
                            break;
                        }
                        self.expect(',')?;
                    }
                }
                Ok(UcType::Struct(fields))
            }
            "DECIMAL" | "DEC" | "NUMERIC" => {
                self.skip_ws();
                if self.s[self.pos..].starts_with('(') {
                    let end = self.s[self.pos..]
                        .find(')')
                        .ok_or_else(|| TypeError(format!("unclosed DECIMAL( in '{}'", self.s)))?;
                    let args = &self.s[self.pos..self.pos + end + 1];
                    self.pos += end + 1;
                    Ok(UcType::Primitive(parse_decimal_args(args)?))
                } else {
                    Ok(UcType::Primitive(Primitive::Decimal(10, 0)))
                }
            }
            "VARCHAR" | "CHAR" => {
                // VARCHAR(n) / CHAR(n) are STRING with a length the service does not enforce.
                self.skip_ws();
                if self.s[self.pos..].starts_with('(') {
                    let end = self.s[self.pos..]
                        .find(')')
                        .ok_or_else(|| TypeError(format!("unclosed ( in '{}'", self.s)))?;
                    self.pos += end + 1;
                }
                Ok(UcType::Primitive(Primitive::String))
            }
            _ => Primitive::from_keyword(&word)
                .map(UcType::Primitive)
                .ok_or_else(|| TypeError(format!("unknown type '{word}' in '{}'", self.s))),
        }
    }
}

impl UcType {
    /// Parse DDL type text, case-insensitively: `BIGINT`, `DECIMAL(10,2)`,
    /// `ARRAY<STRING>`, `MAP<STRING, BIGINT>`, `STRUCT<a: INT, b STRING NOT NULL>`.
    ///
    /// ```
    /// use zerobus_emulator::types::{Primitive, UcType};
    /// let t = UcType::parse("array<decimal(5,2)>").unwrap();
    /// assert_eq!(t, UcType::Array(Box::new(UcType::Primitive(Primitive::Decimal(5, 2)))));
    /// ```
    pub fn parse(text: &str) -> Result<UcType> {
        let mut p = Parser { s: text, pos: 0 };
        let ty = p.parse_type(0)?;
        p.skip_ws();
        if p.pos != p.s.len() {
            return Err(TypeError(format!(
                "unexpected '{}' after type in '{text}'",
                &p.s[p.pos..]
            )));
        }
        Ok(ty)
    }
}
