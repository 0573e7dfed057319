//! The shell: statements from `-c`, `-f` and the REPL, each passed to datafusion-cli as
//! written or, where Zerobus needs it, folded and planned here.

use std::sync::Arc;

use arrow_zerobus_sdk_wrapper::create_table::Created;
use arrow_zerobus_sdk_wrapper::datafusion::copy_into::{copy_result, run_copy_into};
use arrow_zerobus_sdk_wrapper::datafusion::{
    copy_into_of, create_zerobus_table, fold_zerobus_names, hide_option_secrets, statement_sql,
};
use arrow_zerobus_sdk_wrapper::wrapper::Interrupt;
use arrow_zerobus_sdk_wrapper::ZerobusConnection;
use datafusion::error::{DataFusionError, Result};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParser, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{ObjectNamePart, Statement};
use datafusion_cli::exec::exec_from_commands;
use datafusion_cli::print_options::PrintOptions;
use zerobus_emulator::catalog::subdirs;
use zerobus_emulator::EmulatorHandle;

use crate::board::Board;
use crate::ctrl_c::{guarded, not_run, Session};
use crate::landed::LandedCatalog;

pub(crate) struct Shell {
    pub(crate) ctx: SessionContext,
    /// Set by Ctrl-C; cleared before each statement.
    pub(crate) interrupt: Interrupt,
    /// Where the running statement's loads stand.
    pub(crate) board: Board,
    /// The connection every Zerobus table uses.
    pub(crate) connection: ZerobusConnection,
    pub(crate) catalog: String,
    pub(crate) emulator: Option<EmulatorHandle>,
    pub(crate) print: PrintOptions,
}

impl Shell {
    /// Run every statement of `text`, in order. Statements are cut where a line ends with
    /// `;` (as datafusion-cli does); a statement that needs no Zerobus handling is passed
    /// to datafusion-cli as written, a folded one as its re-printed SQL.
    pub(crate) async fn run_text(&mut self, text: &str) -> Result<()> {
        for chunk in statements_of(text) {
            // A Ctrl-C during an earlier statement of this text stops the rest.
            if self.interrupt.is_set() {
                return Err(not_run());
            }
            if let Some(copy) = copy_into_of(&self.ctx, &chunk) {
                self.copy_into(copy).await?;
                continue;
            }
            let parsed = DFParser::parse_sql(&chunk)?;
            let mut folded = Vec::with_capacity(parsed.len());
            let mut changed = false;
            for original in parsed {
                let mut statement = original.clone();
                fold_zerobus_names(&mut statement, std::slice::from_ref(&self.catalog));
                hide_option_secrets(&mut statement);
                changed |= statement != original;
                folded.push(statement);
            }
            if !changed
                && !folded
                    .iter()
                    .any(|s| self.zerobus_create(s).is_some() || planned_here(s))
            {
                exec_from_commands(&self.ctx, vec![chunk], &self.print).await?;
                self.refresh_local_tables();
                continue;
            }
            for statement in folded {
                if self.zerobus_create(&statement).is_some() {
                    self.create_table(&statement).await?;
                    continue;
                }
                if planned_here(&statement) {
                    self.run_planned(statement).await?;
                    continue;
                }
                exec_from_commands(&self.ctx, vec![statement_sql(&statement)], &self.print).await?;
                self.refresh_local_tables();
            }
        }
        Ok(())
    }

    /// Plan and run `statement` here rather than in datafusion-cli, which would look for
    /// an object store behind a `zerobus://` COPY target; print its result the same way.
    async fn run_planned(&self, statement: DFStatement) -> Result<()> {
        let started = datafusion::common::instant::Instant::now();
        let state = self.ctx.state();
        let plan = state.statement_to_plan(statement).await?;
        let df = self.ctx.execute_logical_plan(plan).await?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await?;
        let rows = batches.iter().map(|b| b.num_rows()).sum();
        self.print.print_batches(
            schema,
            &batches,
            started,
            rows,
            &state.config().options().format,
        )
    }

    /// `COPY INTO zerobus.c.s.t FROM …`: the journaled load, its one-row account printed
    /// as any statement's result.
    async fn copy_into(
        &self,
        copy: Result<(
            arrow_zerobus_sdk_wrapper::datafusion::CopyInto,
            ZerobusConnection,
        )>,
    ) -> Result<()> {
        let started = datafusion::common::instant::Instant::now();
        let (copy, connection) = copy?;
        let state = self.ctx.state();
        let summary = run_copy_into(&copy, &connection, state.config()).await?;
        let batch = copy_result(&summary)?;
        self.print.print_batches(
            batch.schema(),
            &[batch],
            started,
            1,
            &state.config().options().format,
        )
    }

    /// The statement, if it is `CREATE TABLE <zerobus catalog>.…` (folded to 3 parts).
    fn zerobus_create<'a>(
        &self,
        statement: &'a DFStatement,
    ) -> Option<&'a datafusion::sql::sqlparser::ast::CreateTable> {
        match statement {
            DFStatement::Statement(s) => match s.as_ref() {
                Statement::CreateTable(create) if self.is_zerobus(&create.name.0) => Some(create),
                _ => None,
            },
            _ => None,
        }
    }

    fn is_zerobus(&self, parts: &[ObjectNamePart]) -> bool {
        matches!(parts.first(), Some(ObjectNamePart::Identifier(i)) if i.value.eq_ignore_ascii_case(&self.catalog))
            && parts.len() == 3
    }

    /// `CREATE TABLE zerobus.main.default.t (…)`: on the emulator, create the UC table;
    /// against a workspace, by its SQL warehouse (`warehouse_id`), or the error saying to set one.
    async fn create_table(&mut self, statement: &DFStatement) -> Result<()> {
        let name = self
            .zerobus_create(statement)
            .map(|c| {
                let parts: Vec<&str> = c
                    .name
                    .0
                    .iter()
                    .skip(1)
                    .filter_map(|p| p.as_ident().map(|i| i.value.as_str()))
                    .collect();
                parts.join(".")
            })
            .unwrap_or_default();
        let created = create_zerobus_table(&self.ctx, statement).await?;
        if !self.print.quiet {
            match created {
                Some(Created::ByWarehouse(w)) => {
                    println!("Zerobus table {name} was created by SQL warehouse {w}.")
                }
                Some(Created::AlreadyThere) => println!("Zerobus table {name} exists already."),
                _ => println!("Zerobus table {name} is ready on the emulator."),
            }
        }
        self.refresh_local_tables();
        Ok(())
    }

    /// Register each UC catalog of the emulator's warehouse as a read-only catalog of its
    /// Delta tables (`SELECT * FROM main.default.t`).
    pub(crate) fn refresh_local_tables(&self) {
        let Some(emu) = &self.emulator else { return };
        for dir in subdirs(emu.warehouse()) {
            let Some(name) = dir.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
                continue;
            };
            if self.ctx.catalog(&name).is_none() {
                self.ctx
                    .register_catalog(&name, Arc::new(LandedCatalog { dir }));
            }
        }
    }

    pub(crate) async fn repl(&mut self) {
        use rustyline::error::ReadlineError;
        let mut rl = match rustyline::DefaultEditor::new() {
            Ok(r) => r,
            Err(e) => {
                eprintln!("cannot start the line editor: {e}");
                return;
            }
        };
        let mut buffer = String::new();
        loop {
            let prompt = if buffer.is_empty() {
                "zerobus> "
            } else {
                "       > "
            };
            match rl.readline(prompt) {
                Ok(line) => {
                    let trimmed = line.trim();
                    if buffer.is_empty()
                        && (trimmed == "\\q" || trimmed == "quit" || trimmed == "exit")
                    {
                        break;
                    }
                    if buffer.is_empty() && trimmed.starts_with('\\') {
                        let _ = rl.add_history_entry(trimmed);
                        if let Err(e) = self.backslash(trimmed).await {
                            eprintln!("{e}");
                        }
                        continue;
                    }
                    buffer.push_str(&line);
                    buffer.push('\n');
                    if trimmed.ends_with(';') {
                        let _ = rl.add_history_entry(buffer.trim());
                        let interrupt = self.interrupt.clone();
                        let board = self.board.clone();
                        if let Err(e) =
                            guarded(Session::Repl, &interrupt, &board, self.run_text(&buffer)).await
                        {
                            eprintln!("{e}");
                        }
                        buffer.clear();
                    }
                }
                Err(ReadlineError::Interrupted) => buffer.clear(),
                Err(_) => break,
            }
        }
    }
}

const REPL_HELP: &str = "\
Statements end with ';' (they may span lines). Commands:
  \\d              list tables (SHOW TABLES)
  \\d NAME         describe a table (DESCRIBE NAME)
  \\pset format F  output format: table, csv, tsv, json, nd-json, automatic
  \\?              this help
  \\q              quit (also: quit, exit, Ctrl-D)
Zerobus tables: INSERT INTO zerobus.catalog.schema.table SELECT …;
                COPY (SELECT …) TO 'zerobus://catalog.schema.table';";

impl Shell {
    /// The REPL's backslash commands.
    async fn backslash(&mut self, command: &str) -> Result<()> {
        let mut words = command.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("\\?"), None, _) | (Some("\\h"), None, _) => println!("{REPL_HELP}"),
            (Some("\\d"), None, _) => self.run_text("SHOW TABLES;").await?,
            (Some("\\d"), Some(name), None) => self.run_text(&format!("DESCRIBE {name};")).await?,
            (Some("\\pset"), Some("format"), Some(f)) => {
                self.print.format = f
                    .parse()
                    .map_err(|e: String| DataFusionError::Plan(format!("\\pset format: {e}")))?;
            }
            _ => {
                return Err(DataFusionError::Plan(format!(
                    "unknown command '{command}'; \\? lists the commands"
                )))
            }
        }
        Ok(())
    }
}

/// Statements planned here rather than by datafusion-cli: `COPY … STORED AS ZEROBUS` (the
/// `zerobus://` targets, once folded), where datafusion-cli would look for an object store,
/// and `CREATE EXTERNAL TABLE … STORED AS ZEROBUS`, whose OPTIONS datafusion-cli would parse
/// as file-format options and refuse ("Specify a format for TableOptions").
fn planned_here(statement: &DFStatement) -> bool {
    match statement {
        DFStatement::CopyTo(c) => c
            .stored_as
            .as_deref()
            .is_some_and(|f| f.eq_ignore_ascii_case("zerobus")),
        DFStatement::CreateExternalTable(c) => c.file_type.eq_ignore_ascii_case("zerobus"),
        _ => false,
    }
}

/// Statements of a script: cut after each line that ends with `;`; comment lines dropped.
fn statements_of(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim_end();
        if trimmed.trim_start().starts_with("--") {
            continue;
        }
        current.push_str(trimmed);
        current.push('\n');
        if trimmed.ends_with(';') {
            out.push(std::mem::take(&mut current));
        }
    }
    if current.trim().chars().any(|c| !c.is_whitespace()) {
        out.push(current);
    }
    out
}
