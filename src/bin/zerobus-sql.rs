//! `zerobus-sql`: DataFusion's SQL shell with Zerobus tables.
//!
//! `INSERT INTO zerobus.main.default.t SELECT …` streams query output into Zerobus. With no
//! `ZEROBUS_ENDPOINT` the embedded emulator is started (warehouse `./zerobus-warehouse`),
//! `CREATE TABLE zerobus.main.default.t (…)` creates tables on it, and the Delta tables it
//! lands are readable as `main.default.t`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use arrow_zerobus_sdk_wrapper::datafusion::{
    create_zerobus_table, fold_zerobus_names, hide_option_secrets, register, send_stream,
    statement_sql,
};
use arrow_zerobus_sdk_wrapper::options::{self, OptionKind, CONNECTION_KEYS, OPTIONS};
use arrow_zerobus_sdk_wrapper::wrapper::{Interrupt, LoadProgress, LoadWatch};
use arrow_zerobus_sdk_wrapper::{ZerobusConnection, ZerobusWrapper};
use async_trait::async_trait;
use clap::{CommandFactory, FromArgMatches};
use datafusion::catalog::{CatalogProvider, SchemaProvider};
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParser, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{ObjectNamePart, Statement};
use datafusion_cli::exec::exec_from_commands;
use datafusion_cli::print_format::PrintFormat;
use datafusion_cli::print_options::{MaxRows, PrintOptions};
use zerobus_emulator::catalog::subdirs;
use zerobus_emulator::{Emulator, EmulatorConfig, EmulatorHandle};

// mimalloc, as datafusion-cli: with glibc malloc the embedded emulator's Delta load grew
// RSS without bound (per-thread arenas) while the heap stayed flat.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// DataFusion SQL with Zerobus tables: INSERT INTO zerobus.<catalog>.<schema>.<table> SELECT …
///
/// Every connection option is a flag here too (`--retry-max-attempts`, `--max-streams`, …,
/// each with its environment variable): see [`with_connection_options`].
#[derive(clap::Parser, Debug)]
#[command(name = "zerobus-sql", version)]
struct Args {
    /// Run these statements and exit (repeatable).
    #[arg(short = 'c', long = "command")]
    commands: Vec<String>,
    /// Run the statements of these files and exit (repeatable).
    #[arg(short = 'f', long = "file")]
    files: Vec<PathBuf>,
    /// Output format: table, csv, tsv, json, nd-json, automatic.
    #[arg(long, default_value = "automatic")]
    format: String,
    /// No timing lines.
    #[arg(short, long)]
    quiet: bool,
    /// Warehouse of the embedded emulator.
    #[arg(long, default_value = "./zerobus-warehouse")]
    warehouse: PathBuf,
    /// Name of the Zerobus catalog in SQL.
    #[arg(long, default_value = "zerobus")]
    catalog: String,
    /// Export OpenTelemetry metrics and traces over OTLP (set by the OTEL_EXPORTER_OTLP_*
    /// and OTEL_SERVICE_NAME variables); the same as --observability-enabled.
    #[arg(long, env = "ZEROBUS_OTEL")]
    otel: bool,
    /// After Ctrl-C, how many seconds the batches in flight may take to be acknowledged;
    /// then the rows still unacknowledged are written to dead-letter files instead and the
    /// account is printed.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    settle_secs: u64,
    /// Run statements on a Ballista cluster (its scheduler's df://HOST:PORT): a Zerobus
    /// INSERT is written by the executors, each input partition on its own streams, with
    /// the connection in each executor's environment. Needs --endpoint / ZEROBUS_ENDPOINT.
    #[cfg(feature = "ballista")]
    #[arg(long, value_name = "df://HOST:PORT")]
    ballista: Option<String>,
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Send dead-letter files again (files, or directories of *.dead.arrow files); each
    /// file names its table. A replayed file is renamed *.replayed.
    Replay {
        /// Dead-letter files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Load a Parquet, CSV or JSON file into a Zerobus table, with a progress bar.
    Copy {
        /// The file (its extension tells the format).
        file: PathBuf,
        /// Target table, catalog.schema.table.
        table: String,
    },
}

/// `command` with one flag per connection option of [`OPTIONS`]: `--key-with-dashes`,
/// read from the option's environment variable when not given. Booleans may be given
/// bare (`--debug-enabled`). The values stay text for the options' own parser.
fn with_connection_options(mut command: clap::Command) -> clap::Command {
    for o in OPTIONS {
        let mut arg = clap::Arg::new(o.key)
            .long(o.key.replace('_', "-"))
            .env(o.env)
            .help(if o.key == "endpoint" {
                "Zerobus endpoint URL; without it the embedded emulator is used".to_string()
            } else {
                let mut help = o.help.to_string();
                if let Some(first) = help.get_mut(..1) {
                    first.make_ascii_uppercase();
                }
                help
            });
        arg = match o.kind {
            OptionKind::Flag => arg
                .num_args(0..=1)
                .default_missing_value("true")
                .value_name("BOOL"),
            OptionKind::Secret => arg.hide_env_values(true).value_name("SECRET"),
            OptionKind::Number => arg.value_name("N"),
            OptionKind::Path => arg.value_name("DIR"),
            OptionKind::Choice(words) => arg.value_name(words.join("|")),
            OptionKind::Text => arg.value_name("TEXT"),
        };
        command = command.arg(arg);
    }
    command
}

/// The connection options given (by flag or environment variable): option, value, and the
/// flag or variable it came from, for error messages.
fn given_options(
    matches: &clap::ArgMatches,
) -> Vec<(&'static options::ConnectionOption, String, String)> {
    OPTIONS
        .iter()
        .filter_map(|o| {
            let value = matches.get_one::<String>(o.key)?.clone();
            let said_as = match matches.value_source(o.key) {
                Some(clap::parser::ValueSource::EnvVariable) => o.env.to_string(),
                _ => format!("--{}", o.key.replace('_', "-")),
            };
            Some((o, value, said_as))
        })
        .filter(|(_, value, _)| !value.trim().is_empty())
        .collect()
}

fn main() -> ExitCode {
    let matches = with_connection_options(Args::command()).get_matches();
    let args = match Args::from_arg_matches(&matches) {
        Ok(args) => args,
        Err(e) => e.exit(),
    };
    let given = given_options(&matches);
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("zerobus-sql: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args, given)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

struct Shell {
    ctx: SessionContext,
    /// Set by Ctrl-C; cleared before each statement.
    interrupt: Interrupt,
    /// Where the running statement's loads stand.
    board: Board,
    /// The connection every Zerobus table uses.
    connection: ZerobusConnection,
    catalog: String,
    emulator: Option<EmulatorHandle>,
    print: PrintOptions,
}

async fn run(
    args: Args,
    given: Vec<(&'static options::ConnectionOption, String, String)>,
) -> std::result::Result<(), String> {
    let format: PrintFormat = args
        .format
        .parse()
        .map_err(|e: String| format!("--format: {e}"))?;
    let endpoint = given
        .iter()
        .find(|(o, _, _)| o.key == "endpoint")
        .map(|(_, v, _)| v.clone());
    let (emulator, mut connection) = match endpoint {
        Some(endpoint) => (None, ZerobusConnection::new(endpoint)),
        None => {
            let emu = Emulator::start(EmulatorConfig::new(&args.warehouse))
                .await
                .map_err(|e| format!("cannot start the embedded Zerobus emulator: {e}"))?;
            eprintln!(
                "zerobus-sql: no ZEROBUS_ENDPOINT set; using the embedded Zerobus emulator (warehouse {}). \
                 Landed rows are readable as <catalog>.<schema>.<table>, e.g. SELECT * FROM main.default.t",
                emu.warehouse().display()
            );
            let connection = ZerobusConnection::new(emu.grpc_url())
                .client_id(emu.client_id())
                .client_secret(emu.client_secret())
                .unity_catalog_url(emu.http_url());
            (Some(emu), connection)
        }
    };
    for (option, value, said_as) in &given {
        // The embedded emulator is its own endpoint, workspace and login.
        if emulator.is_some() && CONNECTION_KEYS.contains(&option.key) {
            continue;
        }
        options::apply_as(&mut connection, option.key, value, said_as)
            .map_err(|e| e.to_string())?;
    }
    connection.observability_enabled |= args.otel;
    let connection = connection.validated().map_err(|e| e.to_string())?;
    // As datafusion-cli: files can be queried by path, `SELECT * FROM 'data.parquet'`.
    // Ctrl-C: the first stops the running load (its batches in flight settle and it reports
    // what landed), a second exits at once. Every Zerobus INSERT/COPY of the session obeys
    // the signal through the session config.
    let _ = SETTLE.set(std::time::Duration::from_secs(args.settle_secs));
    let interrupt = Interrupt::new();
    let signal = interrupt.clone();
    // Under --ballista the executors do the reading and writing: a Ctrl-C cancels the
    // session's cluster jobs on the scheduler.
    #[cfg(feature = "ballista")]
    let cluster_jobs = args.ballista.as_deref().map(|url| {
        arrow_zerobus_sdk_wrapper::datafusion::ballista::ClusterJobs::new(format!(
            "http://{}",
            url.trim_start_matches("df://")
        ))
    });
    #[cfg(feature = "ballista")]
    let jobs = cluster_jobs.clone();
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            if signal.is_set() {
                eprintln!("zerobus-sql: interrupted twice; exiting now");
                std::process::exit(130);
            }
            eprintln!(
                "zerobus-sql: interrupting: nothing more is read; waiting for the batches in flight \
                 to settle (Ctrl-C again exits at once)"
            );
            signal.set();
            #[cfg(feature = "ballista")]
            if let Some(jobs) = &jobs {
                for line in jobs.cancel_running().await {
                    eprintln!("zerobus-sql: {line}");
                }
            }
        }
    });
    // Every Zerobus INSERT/COPY reports to the board: a live line on a terminal, a summary.
    let board = Board::new(args.quiet);
    // information_schema on, so that `\d` (SHOW TABLES) works as in datafusion-cli.
    let shell_config = |config: datafusion::prelude::SessionConfig| {
        config
            .with_information_schema(true)
            .with_extension(Arc::new(interrupt.clone()))
            .with_extension(Arc::new(board.watch()))
    };
    #[cfg(feature = "ballista")]
    let ctx = match &args.ballista {
        Some(url) => {
            if emulator.is_some() {
                return Err(
                    "--ballista needs --endpoint (ZEROBUS_ENDPOINT): the executors write to \
                     the endpoint of their own environment, not to an emulator embedded here"
                        .into(),
                );
            }
            let config = arrow_zerobus_sdk_wrapper::datafusion::ballista::ballista_session_config();
            let ctx = on_ballista(url, shell_config(config), runtime()?).await?;
            match &cluster_jobs {
                Some(jobs) => SessionContext::new_with_state(
                    jobs.track(ctx.state())
                        .map_err(|e| format!("--ballista {url}: {e}"))?,
                ),
                None => ctx,
            }
        }
        None => SessionContext::new_with_config_rt(shell_config(Default::default()), runtime()?),
    };
    #[cfg(not(feature = "ballista"))]
    let ctx = SessionContext::new_with_config_rt(shell_config(Default::default()), runtime()?);
    let ctx = ctx.enable_url_table();
    register(&ctx, &args.catalog, connection.clone());
    let mut shell = Shell {
        ctx,
        interrupt: interrupt.clone(),
        board: board.clone(),
        connection,
        catalog: args.catalog.clone(),
        emulator,
        print: PrintOptions {
            format,
            quiet: args.quiet,
            maxrows: MaxRows::Limited(40),
            color: false,
            instrumented_registry: Arc::new(
                datafusion_cli::object_storage::instrumented::InstrumentedObjectStoreRegistry::new(
                ),
            ),
        },
    };
    shell.refresh_local_tables();
    let mut result = Ok(());
    if let Some(Action::Copy { file, table }) = &args.action {
        result = guarded(Session::Batch, &interrupt, &board, shell.copy(file, table))
            .await
            .map_err(|e| e.to_string());
    } else if let Some(Action::Replay { paths }) = &args.action {
        result = shell.replay(paths).await;
    } else if !args.commands.is_empty() || !args.files.is_empty() {
        for c in &args.commands {
            if let Err(e) = guarded(Session::Batch, &interrupt, &board, shell.run_text(c)).await {
                result = Err(e.to_string());
                break;
            }
        }
        if result.is_ok() {
            for f in &args.files {
                let text = std::fs::read_to_string(f)
                    .map_err(|e| format!("cannot read {}: {e}", f.display()))?;
                if let Err(e) =
                    guarded(Session::Batch, &interrupt, &board, shell.run_text(&text)).await
                {
                    result = Err(format!("{}: {e}", f.display()));
                    break;
                }
            }
        }
    } else {
        shell.repl().await;
    }
    if let Some(emu) = shell.emulator.take() {
        emu.shutdown().await;
    }
    result
}

/// The session's runtime: object-store URLs (`s3://…`, `gs://…`, `az://…`) in queries
/// and `copy` get a store set up from the environment.
fn runtime() -> std::result::Result<Arc<datafusion::execution::runtime_env::RuntimeEnv>, String> {
    datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(
            arrow_zerobus_sdk_wrapper::store::StoresFromEnv::default(),
        ))
        .build_arc()
        .map_err(|e| format!("cannot set up the session: {e}"))
}

/// A session whose statements run on the Ballista cluster of scheduler `url`.
#[cfg(feature = "ballista")]
async fn on_ballista(
    url: &str,
    config: datafusion::prelude::SessionConfig,
    runtime: Arc<datafusion::execution::runtime_env::RuntimeEnv>,
) -> std::result::Result<SessionContext, String> {
    use ballista::prelude::SessionContextExt;
    let state = datafusion::execution::SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .build();
    SessionContext::remote_with_state(url, state)
        .await
        .map_err(|e| format!("--ballista {url}: {e}"))
}

impl Shell {
    /// `zerobus-sql copy FILE TABLE`: stream the file's rows into the table, showing rows
    /// read, rows acknowledged and rows/s, then a summary.
    async fn copy(&self, file: &Path, table: &str) -> Result<()> {
        let wrapper = self
            .connection
            .for_table(table)
            .and_then(ZerobusWrapper::new)
            .map_err(|e| DataFusionError::Plan(e.to_string()))?;
        let path = file
            .to_str()
            .ok_or_else(|| DataFusionError::Plan(format!("{} is not UTF-8", file.display())))?;
        let stream = self
            .ctx
            .sql(&format!("SELECT * FROM '{}'", path.replace('\'', "''")))
            .await?
            .execute_stream()
            .await?;
        // A Parquet file says how many rows it holds: then a bar with percent and ETA.
        let bar = match parquet_rows(file) {
            Some(total) => {
                let bar = indicatif::ProgressBar::new(total);
                if let Ok(style) = indicatif::ProgressStyle::with_template(
                    "{bar:30} {percent:>3}% {pos}/{len} rows acknowledged, {msg}, ETA {eta}",
                ) {
                    bar.set_style(style);
                }
                bar
            }
            None => indicatif::ProgressBar::new_spinner(),
        };
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        let started = std::time::Instant::now();
        let rate = move |n: u64| n as f64 / started.elapsed().as_secs_f64().max(1e-3);
        let shown = bar.clone();
        let most_streams = std::sync::atomic::AtomicUsize::new(0);
        let sent = send_stream(
            &wrapper,
            stream,
            &|p| {
                most_streams.fetch_max(p.streams_open, std::sync::atomic::Ordering::Relaxed);
                shown.set_position(p.rows_acknowledged);
                shown.set_message(format!(
                    "{} rows read, {} acknowledged, {:.0} rows/s, {} streams open",
                    p.rows_read,
                    p.rows_acknowledged,
                    rate(p.rows_acknowledged),
                    p.streams_open
                ));
            },
            Some(&self.interrupt),
        )
        .await;
        let closed = wrapper.shutdown().await;
        bar.finish_and_clear();
        let acked = sent?;
        closed.map_err(|e| DataFusionError::Plan(e.to_string()))?;
        println!(
            "copied {acked} rows from {} into {table} in {:.2} s ({:.0} rows/s, up to {} streams)",
            file.display(),
            started.elapsed().as_secs_f64(),
            rate(acked),
            most_streams.load(std::sync::atomic::Ordering::Relaxed)
        );
        Ok(())
    }

    /// `zerobus-sql replay PATH...`: send each dead-letter file to the table it names.
    async fn replay(&self, paths: &[PathBuf]) -> std::result::Result<(), String> {
        use arrow_zerobus_sdk_wrapper::dead_letter::{dead_letter_files, dead_letter_table};
        let mut files = Vec::new();
        for p in paths {
            files.extend(dead_letter_files(p).map_err(|e| e.to_string())?);
        }
        if files.is_empty() {
            return Err("no *.dead.arrow files found".into());
        }
        let mut total = 0;
        for file in &files {
            let table = dead_letter_table(file)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("{} does not name its table", file.display()))?;
            let wrapper = self
                .connection
                .for_table(&table)
                .and_then(ZerobusWrapper::new)
                .map_err(|e| e.to_string())?;
            let replayed = wrapper.replay_dead_letters(file).await;
            let closed = wrapper.shutdown().await;
            let rows = replayed.map_err(|e| e.to_string())?;
            closed.map_err(|e| e.to_string())?;
            println!("replayed {rows} rows of {} into {table}", file.display());
            total += rows;
        }
        println!("replayed {total} rows from {} files", files.len());
        Ok(())
    }

    /// Run every statement of `text`, in order. Statements are cut where a line ends with
    /// `;` (as datafusion-cli does); a statement that needs no Zerobus handling is passed
    /// to datafusion-cli as written, a folded one as its re-printed SQL.
    async fn run_text(&mut self, text: &str) -> Result<()> {
        for chunk in statements_of(text) {
            // A Ctrl-C during an earlier statement of this text stops the rest.
            if self.interrupt.is_set() {
                return Err(not_run());
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
    /// against a workspace, the library's "create it with Databricks SQL" error.
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
        create_zerobus_table(&self.ctx, statement).await?;
        if !self.print.quiet {
            println!("Zerobus table {name} is ready on the emulator.");
        }
        self.refresh_local_tables();
        Ok(())
    }

    /// Register each UC catalog of the emulator's warehouse as a read-only catalog of its
    /// Delta tables (`SELECT * FROM main.default.t`).
    fn refresh_local_tables(&self) {
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

    async fn repl(&mut self) {
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

/// How long an interrupted statement may take to settle its batches in flight and report
/// (`--settle-secs`, set once at start).
static SETTLE: std::sync::OnceLock<std::time::Duration> = std::sync::OnceLock::new();

fn settle_time() -> std::time::Duration {
    *SETTLE.get_or_init(|| std::time::Duration::from_secs(60))
}

/// How long, after giving up on the batches in flight, their dead-letter files may take
/// to be written (an object store far away) before the statement is abandoned.
const GIVE_UP: std::time::Duration = std::time::Duration::from_secs(30);

/// Rows of a Parquet file, from its footer; `None` for other files or an unreadable one.
fn parquet_rows(file: &Path) -> Option<u64> {
    use datafusion::parquet::file::reader::FileReader;
    let is_parquet = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    if !is_parquet {
        return None;
    }
    let f = std::fs::File::open(file).ok()?;
    let reader = datafusion::parquet::file::serialized_reader::SerializedFileReader::new(f).ok()?;
    u64::try_from(reader.metadata().file_metadata().num_rows()).ok()
}

/// The Zerobus loads of the running statement: each table's latest progress, drawn as a
/// live line on stderr when it is a terminal, and summed up when the statement ends.
#[derive(Clone)]
struct Board {
    state: Arc<std::sync::Mutex<BoardState>>,
    quiet: bool,
}

#[derive(Default)]
struct BoardState {
    /// (table, latest progress, most streams seen open)
    loads: Vec<(String, LoadProgress, usize)>,
    started: Option<std::time::Instant>,
}

impl Board {
    fn new(quiet: bool) -> Board {
        Board {
            state: Arc::default(),
            quiet,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BoardState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session-config extension the Zerobus sink reports to.
    fn watch(&self) -> LoadWatch {
        let board = self.clone();
        LoadWatch::new(move |table, p| {
            let mut st = board.lock();
            match st.loads.iter_mut().find(|(t, _, _)| t == table) {
                Some(entry) => {
                    entry.1 = p;
                    entry.2 = entry.2.max(p.streams_open);
                }
                None => st.loads.push((table.to_string(), p, p.streams_open)),
            }
        })
    }

    fn start(&self) {
        let mut st = self.lock();
        st.loads.clear();
        st.started = Some(std::time::Instant::now());
    }

    /// One line: every table's rows read and acknowledged, rate and streams open.
    fn line(&self, summary: bool) -> Option<String> {
        let st = self.lock();
        let secs = st.started?.elapsed().as_secs_f64().max(1e-3);
        let parts: Vec<String> = st
            .loads
            .iter()
            .map(|(table, p, most)| {
                let rate = p.rows_acknowledged as f64 / secs;
                if summary {
                    format!(
                        "{table}: {} rows acknowledged of {} read in {secs:.2} s ({rate:.0} rows/s, up to {most} streams)",
                        p.rows_acknowledged, p.rows_read
                    )
                } else {
                    format!(
                        "{table}: {} rows read, {} acknowledged, {rate:.0} rows/s, {} streams open",
                        p.rows_read, p.rows_acknowledged, p.streams_open
                    )
                }
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    /// Draw the live line until the returned bar is finished (nothing is drawn when stderr
    /// is not a terminal).
    fn show(&self) -> (indicatif::ProgressBar, tokio::task::JoinHandle<()>) {
        let bar = indicatif::ProgressBar::new_spinner();
        let shown = bar.clone();
        let board = self.clone();
        let ticker = tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
            loop {
                tick.tick().await;
                if let Some(line) = board.line(false) {
                    shown.set_message(line);
                    shown.tick();
                }
            }
        });
        (bar, ticker)
    }

    fn finish(&self, bar: indicatif::ProgressBar, ticker: tokio::task::JoinHandle<()>) {
        ticker.abort();
        bar.finish_and_clear();
        if !self.quiet {
            if let Some(line) = self.line(true) {
                eprintln!("zerobus: {line}");
            }
        }
        self.lock().started = None;
    }
}

/// The error of statements a Ctrl-C kept from running.
fn not_run() -> DataFusionError {
    DataFusionError::Execution(
        "interrupted (Ctrl-C): the statements after this point were not run".into(),
    )
}

/// How a Ctrl-C that the statement outlived is taken.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Session {
    /// `-c`, `-f`, `copy`: it stops everything after (exit non-zero), also when it came
    /// between two statements or while the statement was finishing anyway.
    Batch,
    /// The REPL: the next statement typed runs.
    Repl,
}

/// Run `statement` with the live progress line of its loads; once `interrupt` is set, give
/// it [`SETTLE`] to stop and report (a Zerobus load returns its account), then give up on
/// its batches in flight (their unacknowledged rows are dead-lettered and it reports).
async fn guarded<T>(
    session: Session,
    interrupt: &Interrupt,
    board: &Board,
    statement: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    match session {
        Session::Batch if interrupt.is_set() => return Err(not_run()),
        Session::Batch => {}
        Session::Repl => interrupt.clear(),
    }
    board.start();
    let (bar, ticker) = board.show();
    let result = settled(interrupt, statement).await;
    board.finish(bar, ticker);
    let fired = interrupt.is_set();
    if session == Session::Repl {
        interrupt.clear();
    }
    match result {
        Ok(_) if fired && session == Session::Batch => Err(DataFusionError::Execution(
            "interrupted (Ctrl-C) while the statement was finishing: it completed, and the \
             statements after it were not run"
                .into(),
        )),
        other => other,
    }
}

/// `statement`, stopped as [`guarded`] says.
async fn settled<T>(
    interrupt: &Interrupt,
    statement: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    tokio::pin!(statement);
    let result = tokio::select! {
        r = &mut statement => r,
        _ = interrupt.wait() => match tokio::time::timeout(settle_time(), &mut statement).await {
            Ok(r) => r,
            Err(_) => {
                eprintln!(
                    "zerobus-sql: the batches in flight did not settle within {} s; writing \
                     their unacknowledged rows to dead-letter files",
                    settle_time().as_secs()
                );
                interrupt.give_up();
                match tokio::time::timeout(GIVE_UP, &mut statement).await {
                    Ok(r) => r,
                    Err(_) => Err(DataFusionError::Execution(format!(
                        "interrupted; the statement did not stop within {} s, nor {} s after \
                         giving up on its batches in flight: rows it read may be neither \
                         acknowledged nor dead-lettered",
                        settle_time().as_secs(),
                        GIVE_UP.as_secs()
                    ))),
                }
            }
        },
    };
    result
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

/// A UC catalog directory of the emulator's warehouse: schemas are its subdirectories.
#[derive(Debug)]
struct LandedCatalog {
    dir: PathBuf,
}

impl CatalogProvider for LandedCatalog {
    fn schema_names(&self) -> Vec<String> {
        subdirs(&self.dir)
            .iter()
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .collect()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let dir = self.dir.join(name);
        dir.is_dir()
            .then(|| Arc::new(LandedSchema { dir }) as Arc<dyn SchemaProvider>)
    }
}

/// Delta tables of one schema directory, opened at each query (so new rows are seen).
#[derive(Debug)]
struct LandedSchema {
    dir: PathBuf,
}

#[async_trait]
impl SchemaProvider for LandedSchema {
    fn table_names(&self) -> Vec<String> {
        subdirs(&self.dir)
            .iter()
            .filter(|p| p.join("_delta_log").is_dir())
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let dir = self.dir.join(name);
        if !dir.join("_delta_log").is_dir() {
            return Ok(None);
        }
        let url = url::Url::from_directory_path(&dir).map_err(|_| {
            DataFusionError::Plan(format!("{} is not an absolute path", dir.display()))
        })?;
        let table = deltalake_core::DeltaTable::try_from_url(url)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let provider = table
            .table_provider()
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(Some(provider))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.dir.join(name).join("_delta_log").is_dir()
    }
}
