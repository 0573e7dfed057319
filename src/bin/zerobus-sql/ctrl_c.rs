//! What Ctrl-C does: the first stops the running load (its batches in flight settle, or
//! are given up on after `--settle-secs`, and it reports what landed) and, under
//! `--ballista`, cancels the session's cluster jobs; a second exits at once.

use arrow_zerobus_sdk_wrapper::wrapper::Interrupt;
use datafusion::error::{DataFusionError, Result};

use crate::board::Board;

/// The cluster jobs a Ctrl-C cancels (`--ballista`).
#[cfg(feature = "ballista")]
pub(crate) type Jobs = Option<arrow_zerobus_sdk_wrapper::datafusion::ballista::ClusterJobs>;
/// The cluster jobs a Ctrl-C cancels: none without Ballista.
#[cfg(not(feature = "ballista"))]
pub(crate) type Jobs = ();

/// Take Ctrl-C from now on: the first sets `interrupt` (every Zerobus INSERT/COPY of the
/// session obeys it through the session config) and cancels `jobs`; a second exits at
/// once. `settle_secs`: how long a statement may take to settle after the first.
pub(crate) fn install(interrupt: &Interrupt, settle_secs: u64, jobs: Jobs) {
    let _ = SETTLE.set(std::time::Duration::from_secs(settle_secs));
    let signal = interrupt.clone();
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
            #[cfg(not(feature = "ballista"))]
            let () = jobs;
        }
    });
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

/// The error of statements a Ctrl-C kept from running.
pub(crate) fn not_run() -> DataFusionError {
    DataFusionError::Execution(
        "interrupted (Ctrl-C): the statements after this point were not run".into(),
    )
}

/// How a Ctrl-C that the statement outlived is taken.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Session {
    /// `-c`, `-f`, `copy`: it stops everything after (exit non-zero), also when it came
    /// between two statements or while the statement was finishing anyway.
    Batch,
    /// The REPL: the next statement typed runs.
    Repl,
}

/// Run `statement` with the live progress line of its loads; once `interrupt` is set, give
/// it [`SETTLE`] to stop and report (a Zerobus load returns its account), then give up on
/// its batches in flight (their unacknowledged rows are dead-lettered and it reports).
pub(crate) async fn guarded<T>(
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
