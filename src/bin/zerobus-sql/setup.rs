//! Setting up a run: the connection (or the embedded emulator), Ctrl-C, the session (local
//! or on Ballista), then the action the arguments ask for.

use std::sync::Arc;

use arrow_zerobus_sdk_wrapper::datafusion::{register, JournalService};
use arrow_zerobus_sdk_wrapper::options::{self, CONNECTION_KEYS};
use arrow_zerobus_sdk_wrapper::wrapper::Interrupt;
use arrow_zerobus_sdk_wrapper::ZerobusConnection;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_cli::print_format::PrintFormat;
use datafusion_cli::print_options::{MaxRows, PrintOptions};
use zerobus_emulator::{Emulator, EmulatorConfig, EmulatorHandle};

use crate::board::Board;
use crate::ctrl_c::{self, guarded, Session};
use crate::flags::{Action, Args, Given};
use crate::load::{embedded_service, CopyFlags};
use crate::shell::Shell;

type Outcome = std::result::Result<(), String>;

/// Run what `args` ask for: a `copy`, a `replay`, the `-c`/`-f` statements, or the REPL.
pub(crate) async fn run(args: Args, given: Vec<Given>) -> Outcome {
    let format: PrintFormat = args
        .format
        .parse()
        .map_err(|e: String| format!("--format: {e}"))?;
    let (emulator, connection) = connect(&args, &given).await?;
    let interrupt = Interrupt::new();
    let jobs = cluster_jobs(&args);
    ctrl_c::install(&interrupt, args.settle_secs, jobs.clone());
    // Every Zerobus INSERT/COPY reports to the board: a live line on a terminal, a summary.
    let board = Board::new(args.quiet);
    let ctx = session(&args, &interrupt, &board, emulator.is_some(), jobs).await?;
    register(&ctx, &args.catalog, connection.clone());
    let mut shell = Shell {
        ctx,
        interrupt,
        board,
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
    let result = act(&mut shell, &args).await;
    if let Some(emu) = shell.emulator.take() {
        emu.shutdown().await;
    }
    result
}

/// The connection the flags and variables describe, or the embedded emulator's when no
/// endpoint is given (its own endpoint, workspace and login win over the flags').
async fn connect(
    args: &Args,
    given: &[Given],
) -> std::result::Result<(Option<EmulatorHandle>, ZerobusConnection), String> {
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
                "zerobus-sql: no ZEROBUS_ENDPOINT set; using the embedded Zerobus emulator (warehouse {}, \
                 dashboard {}/). Landed rows are readable as <catalog>.<schema>.<table>, e.g. SELECT * \
                 FROM main.default.t",
                emu.warehouse().display(),
                emu.http_url()
            );
            let connection = ZerobusConnection::new(emu.grpc_url())
                .client_id(emu.client_id())
                .client_secret(emu.client_secret())
                .unity_catalog_url(emu.http_url());
            (Some(emu), connection)
        }
    };
    for (option, value, said_as) in given {
        if emulator.is_some() && CONNECTION_KEYS.contains(&option.key) {
            continue;
        }
        options::apply_as(&mut connection, option.key, value, said_as)
            .map_err(|e| e.to_string())?;
    }
    connection.observability_enabled |= args.otel;
    let connection = connection.validated().map_err(|e| e.to_string())?;
    Ok((emulator, connection))
}

/// The SQL session: every Zerobus INSERT/COPY in it obeys `interrupt` and reports to
/// `board` (both through the session config); information_schema is on, so that `\d`
/// works as in datafusion-cli, and files can be queried by path as there. On Ballista
/// with `--ballista`.
async fn session(
    args: &Args,
    interrupt: &Interrupt,
    board: &Board,
    embedded: bool,
    jobs: ctrl_c::Jobs,
) -> std::result::Result<SessionContext, String> {
    let shell_config = |config: SessionConfig| {
        let config = config
            .with_information_schema(true)
            .with_extension(Arc::new(interrupt.clone()))
            .with_extension(Arc::new(board.watch()));
        match embedded {
            true => {
                config.with_extension(Arc::new(JournalService(embedded_service(&args.warehouse))))
            }
            false => config,
        }
    };
    #[cfg(feature = "ballista")]
    if let Some(url) = &args.ballista {
        if embedded {
            return Err(
                "--ballista needs --endpoint (ZEROBUS_ENDPOINT): the executors write to \
                 the endpoint of their own environment, not to an emulator embedded here"
                    .into(),
            );
        }
        let config = arrow_zerobus_sdk_wrapper::datafusion::ballista::ballista_session_config();
        let ctx = on_ballista(url, shell_config(config), runtime()?, jobs).await?;
        return Ok(ctx.enable_url_table());
    }
    let _ = jobs;
    let mut config = shell_config(Default::default());
    // One file is read by one partition, not cut into byte ranges. DataFusion 55's Arrow
    // file source reads a whole range before its first batch (the 2M-row benchmark file:
    // 440 MiB peak against 260, 27 % more CPU per row), and a load's pace is the
    // service's, not the scan's: an INSERT from one Arrow or Parquet file ran faster
    // this way too. `SET datafusion.optimizer.repartition_file_scans = true` undoes it.
    // On Ballista the ranges are what spread one file over the executors: left on there.
    config.options_mut().optimizer.repartition_file_scans = false;
    let ctx = SessionContext::new_with_config_rt(config, runtime()?);
    Ok(ctx.enable_url_table())
}

/// The action of `args`, with Ctrl-C guarding each statement.
async fn act(shell: &mut Shell, args: &Args) -> Outcome {
    let (interrupt, board) = (shell.interrupt.clone(), shell.board.clone());
    if let Some(Action::Copy {
        inputs,
        file_format,
        force,
        source_file_column,
        source_row_column,
        watch,
        poll_secs,
    }) = &args.action
    {
        let (table, inputs) = inputs.split_last().ok_or("copy needs INPUT... TABLE")?;
        let flags = CopyFlags {
            format: file_format.clone(),
            force: *force,
            source_file_column: source_file_column.clone(),
            source_row_column: source_row_column.clone(),
            watch: watch.then(|| std::time::Duration::from_secs_f64(poll_secs.max(0.1))),
        };
        // A watch ends with Ctrl-C: as in the REPL, that stops it and is no error.
        let session = match flags.watch {
            Some(_) => Session::Repl,
            None => Session::Batch,
        };
        return guarded(
            session,
            &interrupt,
            &board,
            shell.copy(inputs, table, &flags),
        )
        .await
        .map_err(|e| e.to_string());
    }
    if let Some(Action::LoadHistory { table }) = &args.action {
        return shell.load_history(table).await;
    }
    if let Some(Action::Replay { paths }) = &args.action {
        return shell.replay(paths).await;
    }
    if args.commands.is_empty() && args.files.is_empty() {
        shell.repl().await;
        return Ok(());
    }
    for c in &args.commands {
        guarded(Session::Batch, &interrupt, &board, shell.run_text(c))
            .await
            .map_err(|e| e.to_string())?;
    }
    for f in &args.files {
        let text =
            std::fs::read_to_string(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        guarded(Session::Batch, &interrupt, &board, shell.run_text(&text))
            .await
            .map_err(|e| format!("{}: {e}", f.display()))?;
    }
    Ok(())
}

/// The session's runtime: object-store URLs (`s3://…`, `gs://…`, `az://…`) in queries
/// and `copy` get a store set up from the environment.
fn runtime() -> std::result::Result<Arc<RuntimeEnv>, String> {
    datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(
            arrow_zerobus_sdk_wrapper::store::StoresFromEnv::default(),
        ))
        .build_arc()
        .map_err(|e| format!("cannot set up the session: {e}"))
}

/// The jobs `--ballista` sessions submit, for Ctrl-C to cancel.
#[cfg(feature = "ballista")]
fn cluster_jobs(args: &Args) -> ctrl_c::Jobs {
    args.ballista.as_deref().map(|url| {
        arrow_zerobus_sdk_wrapper::datafusion::ballista::ClusterJobs::new(format!(
            "http://{}",
            url.trim_start_matches("df://")
        ))
    })
}

#[cfg(not(feature = "ballista"))]
fn cluster_jobs(_: &Args) -> ctrl_c::Jobs {}

/// A session whose statements run on the Ballista cluster of scheduler `url`, its jobs
/// recorded for Ctrl-C to cancel.
#[cfg(feature = "ballista")]
async fn on_ballista(
    url: &str,
    config: SessionConfig,
    runtime: Arc<RuntimeEnv>,
    jobs: ctrl_c::Jobs,
) -> std::result::Result<SessionContext, String> {
    use ballista::prelude::SessionContextExt;
    let state = datafusion::execution::SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .build();
    let ctx = SessionContext::remote_with_state(url, state)
        .await
        .map_err(|e| format!("--ballista {url}: {e}"))?;
    let Some(jobs) = jobs else {
        return Ok(ctx);
    };
    let state = jobs
        .track(ctx.state())
        .map_err(|e| format!("--ballista {url}: {e}"))?;
    Ok(SessionContext::new_with_state(state))
}
