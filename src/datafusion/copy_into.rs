//! `COPY INTO zerobus.catalog.schema.table FROM 'path-or-glob' FILEFORMAT = PARQUET`: the
//! Databricks statement users know, run as a journaled, resumable load
//! ([`crate::load::copy_into`]).
//!
//! ```text
//! COPY INTO zerobus.main.default.events
//!   FROM 's3://bucket/events/'            -- a file, a directory, or a glob
//!   FILEFORMAT = PARQUET                  -- PARQUET | CSV | JSON (else each file's extension)
//!   [FILES = ('a.parquet', 'b.parquet')]  -- files under FROM
//!   [PATTERN = '2026-*.parquet']          -- a glob under FROM
//!   [COPY_OPTIONS ('force' = 'true', 'journal_dir' = '…',
//!                  'source_file_column' = 'src_file', 'source_row_column' = 'src_row')]
//! ```
//!
//! DataFusion's parser does not know the statement; [`parse_copy_into`] reads it with the
//! SQL tokenizer, before DataFusion sees the text.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::error::{DataFusionError, Result};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use crate::connection::ZerobusConnection;
use crate::load::{copy_into, CopyOptions, CopySummary, FileFormat};
use crate::wrapper::{Interrupt, LoadWatch};
use crate::ZerobusWrapper;

/// What the journal calls the service of a session's loads, when the endpoint does not
/// name it for good (`zerobus-sql`'s embedded emulator, whose port changes from run to
/// run, names its warehouse). Put it in the session config as an extension.
#[derive(Debug, Clone)]
pub struct JournalService(pub String);

/// A parsed `COPY INTO` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyInto {
    /// The Zerobus catalog named (`zerobus`).
    pub catalog: String,
    /// The table, `catalog.schema.table`.
    pub table: String,
    /// The inputs: FROM, or each of FILES under it, or FROM joined with PATTERN.
    pub inputs: Vec<String>,
    /// FILEFORMAT.
    pub format: Option<FileFormat>,
    /// COPY_OPTIONS 'force'.
    pub force: bool,
    /// COPY_OPTIONS 'journal_dir'.
    pub journal_dir: Option<String>,
    /// COPY_OPTIONS 'source_file_column'.
    pub source_file_column: Option<String>,
    /// COPY_OPTIONS 'source_row_column'.
    pub source_row_column: Option<String>,
}

fn syntax(why: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Plan(format!(
        "COPY INTO: {why}; expected COPY INTO <zerobus catalog>.<catalog>.<schema>.<table> \
         FROM '<path or glob>' [FILEFORMAT = PARQUET|CSV|JSON] [FILES = ('…', …)] \
         [PATTERN = '…'] [COPY_OPTIONS ('force' = 'true', …)]"
    ))
}

/// Tokens without whitespace and comments.
struct Tokens {
    tokens: Vec<Token>,
    at: usize,
}

impl Tokens {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn keyword(&mut self, word: &str) -> bool {
        match self.peek() {
            Some(Token::Word(w))
                if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word) =>
            {
                self.at += 1;
                true
            }
            _ => false,
        }
    }

    fn expect(&mut self, token: Token, what: &str) -> Result<()> {
        match self.next() {
            Some(t) if t == token => Ok(()),
            other => Err(syntax(format!("expected {what}, found {}", shown(other)))),
        }
    }

    fn string(&mut self, what: &str) -> Result<String> {
        match self.next() {
            Some(Token::SingleQuotedString(s)) => Ok(s),
            other => Err(syntax(format!(
                "expected {what} as a quoted string, found {}",
                shown(other)
            ))),
        }
    }

    /// `( 'a', 'b' )` or `( 'k' = 'v', … )` (with or without `=`).
    fn list(&mut self, what: &str, pairs: bool) -> Result<Vec<(String, String)>> {
        self.expect(Token::LParen, &format!("( after {what}"))?;
        let mut out = Vec::new();
        loop {
            if matches!(self.peek(), Some(Token::RParen)) {
                self.at += 1;
                return Ok(out);
            }
            let key = self.string(what)?;
            let value = if pairs {
                if matches!(self.peek(), Some(Token::Eq)) {
                    self.at += 1;
                }
                self.string(&format!("the value of '{key}'"))?
            } else {
                String::new()
            };
            out.push((key, value));
            match self.next() {
                Some(Token::Comma) => {}
                Some(Token::RParen) => return Ok(out),
                other => {
                    return Err(syntax(format!(
                        "expected , or ) in {what}, found {}",
                        shown(other)
                    )))
                }
            }
        }
    }
}

fn shown(t: Option<Token>) -> String {
    t.map_or_else(|| "the end".to_string(), |t| format!("'{t}'"))
}

/// `sql` as a `COPY INTO` statement into one of the Zerobus `catalogs`; `None` when it is
/// not a `COPY INTO` statement at all (other COPY statements are DataFusion's).
pub fn parse_copy_into(sql: &str, catalogs: &[String]) -> Option<Result<CopyInto>> {
    let tokens = Tokenizer::new(&GenericDialect {}, sql).tokenize().ok()?;
    let tokens: Vec<Token> = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    let mut t = Tokens { tokens, at: 0 };
    if !(t.keyword("COPY") && t.keyword("INTO")) {
        return None;
    }
    Some(parse_rest(&mut t, catalogs))
}

fn parse_rest(t: &mut Tokens, catalogs: &[String]) -> Result<CopyInto> {
    let (catalog, table) = target(t, catalogs)?;
    if !t.keyword("FROM") {
        return Err(syntax("expected FROM"));
    }
    let from = t.string("the FROM path")?;
    let mut copy = CopyInto {
        catalog,
        table,
        inputs: vec![from.clone()],
        format: None,
        force: false,
        journal_dir: None,
        source_file_column: None,
        source_row_column: None,
    };
    clauses(t, &mut copy, &from)?;
    Ok(copy)
}

/// The target, `<zerobus catalog>.<catalog>.<schema>.<table>` (or the folded 3-part form
/// `zerobus."main.default".t`), its first part one of `catalogs`: (catalog, table).
fn target(t: &mut Tokens, catalogs: &[String]) -> Result<(String, String)> {
    let mut parts = Vec::new();
    loop {
        match t.next() {
            Some(Token::Word(w)) => parts.push(w.value),
            other => {
                return Err(syntax(format!(
                    "expected the table name, found {}",
                    shown(other)
                )))
            }
        }
        if !matches!(t.peek(), Some(Token::Period)) {
            break;
        }
        t.at += 1;
    }
    // 4 parts, or the folded 3-part form zerobus."main.default".t.
    let (catalog, table) = match parts.as_slice() {
        [z, c, s, n] => (z.clone(), format!("{c}.{s}.{n}")),
        [z, cs, n] if cs.contains('.') => (z.clone(), format!("{cs}.{n}")),
        _ => {
            return Err(syntax(format!(
                "'{}' is not <zerobus catalog>.<catalog>.<schema>.<table>",
                parts.join(".")
            )))
        }
    };
    if !catalogs.iter().any(|c| c.eq_ignore_ascii_case(&catalog)) {
        return Err(DataFusionError::Plan(format!(
            "COPY INTO {catalog}.{table}: '{catalog}' is not a Zerobus catalog of this session (it has: {})",
            catalogs.join(", ")
        )));
    }
    Ok((catalog, table))
}

/// FILEFORMAT, FILES, PATTERN and COPY_OPTIONS, in any order, to the end.
fn clauses(t: &mut Tokens, copy: &mut CopyInto, from: &str) -> Result<()> {
    let under = |name: &str| {
        format!(
            "{}/{}",
            from.trim_end_matches('/'),
            name.trim_start_matches('/')
        )
    };
    loop {
        if t.keyword("FILEFORMAT") {
            t.expect(Token::Eq, "= after FILEFORMAT")?;
            let format = match t.next() {
                Some(Token::Word(w)) => w.value,
                Some(Token::SingleQuotedString(s)) => s,
                other => {
                    return Err(syntax(format!(
                        "expected a file format, found {}",
                        shown(other)
                    )))
                }
            };
            copy.format = Some(FileFormat::parse(&format).map_err(|e| syntax(e.to_string()))?);
        } else if t.keyword("FILES") {
            t.expect(Token::Eq, "= after FILES")?;
            copy.inputs = t
                .list("FILES", false)?
                .into_iter()
                .map(|(f, _)| under(&f))
                .collect();
        } else if t.keyword("PATTERN") {
            t.expect(Token::Eq, "= after PATTERN")?;
            copy.inputs = vec![under(&t.string("PATTERN")?)];
        } else if t.keyword("COPY_OPTIONS") {
            for (key, value) in t.list("COPY_OPTIONS", true)? {
                copy_option(copy, &key, value)?;
            }
        } else if matches!(t.peek(), Some(Token::SemiColon)) {
            t.at += 1;
        } else if let Some(other) = t.next() {
            return Err(syntax(format!("unexpected '{other}'")));
        } else {
            return Ok(());
        }
    }
}

fn copy_option(copy: &mut CopyInto, key: &str, value: String) -> Result<()> {
    match key.to_ascii_lowercase().as_str() {
        "force" => {
            copy.force = match value.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(syntax(format!(
                        "'force' is 'true' or 'false', not '{value}'"
                    )))
                }
            }
        }
        "journal_dir" => copy.journal_dir = Some(value),
        "source_file_column" => copy.source_file_column = Some(value),
        "source_row_column" => copy.source_row_column = Some(value),
        other => {
            return Err(syntax(format!(
                "unknown COPY_OPTIONS key '{other}' (known: force, journal_dir, \
                 source_file_column, source_row_column)"
            )))
        }
    }
    Ok(())
}

/// Run `copy` with `connection` (the catalog's), obeying the session's [`Interrupt`] and
/// reporting to its [`LoadWatch`]; the journal names the service as the session's
/// [`JournalService`] says, else as the endpoint.
pub async fn run_copy_into(
    copy: &CopyInto,
    connection: &ZerobusConnection,
    session: &datafusion::prelude::SessionConfig,
) -> Result<CopySummary> {
    let wrapper = ZerobusWrapper::new(connection.for_table(&copy.table)?)?;
    let options = CopyOptions {
        format: copy.format,
        force: copy.force,
        journal_dir: copy.journal_dir.as_ref().map(Into::into),
        service: session
            .get_extension::<JournalService>()
            .map(|s| s.0.clone()),
        source_file_column: copy.source_file_column.clone(),
        source_row_column: copy.source_row_column.clone(),
    };
    let interrupt = session.get_extension::<Interrupt>();
    let watch = session.get_extension::<LoadWatch>();
    let table = copy.table.clone();
    let report = move |p| {
        if let Some(w) = &watch {
            w.report(&table, p);
        }
    };
    let loaded = copy_into(
        &wrapper,
        &copy.inputs,
        &options,
        &report,
        interrupt.as_deref(),
    )
    .await;
    let closed = wrapper.shutdown().await;
    let summary = loaded?;
    closed?;
    Ok(summary)
}

/// The one-row result of a `COPY INTO`, as Databricks names its first two columns.
pub fn copy_result(summary: &CopySummary) -> Result<RecordBatch> {
    let n = |v: u64| Arc::new(UInt64Array::from(vec![v])) as ArrayRef;
    let fields = [
        "num_affected_rows",
        "num_inserted_rows",
        "num_files",
        "num_skipped_files",
        "num_skipped_rows",
        "num_resent_rows",
        "num_dead_lettered_rows",
    ];
    let mut schema: Vec<Field> = fields
        .iter()
        .map(|f| Field::new(*f, DataType::UInt64, false))
        .collect();
    schema.push(Field::new("summary", DataType::Utf8, false));
    let columns = vec![
        n(summary.rows_acknowledged),
        n(summary.rows_acknowledged),
        n(summary.files),
        n(summary.files_skipped),
        n(summary.rows_skipped),
        n(summary.rows_resent),
        n(summary.rows_dead_lettered),
        Arc::new(StringArray::from(vec![summary.to_string()])) as ArrayRef,
    ];
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(schema)),
        columns,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sql: &str) -> Result<CopyInto> {
        parse_copy_into(sql, &["zerobus".to_string()]).expect("a COPY INTO statement")
    }

    #[test]
    fn the_databricks_statement_is_read() {
        let c = parse(
            "copy into zerobus.main.default.t from 's3://b/events/' FILEFORMAT = parquet \
             PATTERN = '2026-*.parquet' COPY_OPTIONS ('force' = 'true', 'source_row_column' = 'r');",
        )
        .unwrap();
        assert_eq!(c.table, "main.default.t");
        assert_eq!(c.inputs, ["s3://b/events/2026-*.parquet"]);
        assert_eq!(c.format, Some(FileFormat::Parquet));
        assert!(c.force);
        assert_eq!(c.source_row_column.as_deref(), Some("r"));
        let c =
            parse("COPY INTO zerobus.main.default.t FROM '/d' FILES = ('a.csv', 'b.csv')").unwrap();
        assert_eq!(c.inputs, ["/d/a.csv", "/d/b.csv"]);
        assert_eq!(c.format, None);
    }

    #[test]
    fn other_statements_are_left_alone_and_mistakes_are_named() {
        assert!(parse_copy_into("COPY (SELECT 1) TO 'x'", &[]).is_none());
        assert!(parse_copy_into("SELECT 1", &[]).is_none());
        let e = parse("COPY INTO main.default.t FROM '/d'")
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not <zerobus catalog>"), "{e}");
        let e = parse("COPY INTO zerobus.main.default.t FROM '/d' FILEFORMAT = AVRO")
            .unwrap_err()
            .to_string();
        assert!(e.contains("AVRO") || e.contains("avro"), "{e}");
        let e = parse(
            "COPY INTO zerobus.main.default.t FROM '/d' COPY_OPTIONS ('mergeSchema' = 'true')",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown COPY_OPTIONS key 'mergeschema'"), "{e}");
        let e = parse_copy_into(
            "COPY INTO other.main.default.t FROM '/d'",
            &["zerobus".into()],
        )
        .unwrap()
        .unwrap_err()
        .to_string();
        assert!(e.contains("not a Zerobus catalog"), "{e}");
    }
}
