//! `zerobus-sql`: DataFusion's SQL shell with Zerobus tables.
//!
//! `INSERT INTO zerobus.main.default.t SELECT …` streams query output into Zerobus. With no
//! `ZEROBUS_ENDPOINT` the embedded emulator is started (warehouse `./zerobus-warehouse`),
//! `CREATE TABLE zerobus.main.default.t (…)` creates tables on it, and the Delta tables it
//! lands are readable as `main.default.t`.
//!
//! The pieces: [`flags`] (arguments, one flag per connection option), [`setup`] (the
//! connection, the embedded emulator, the session, Ballista), [`shell`] (statements and
//! the REPL), [`load`] (`copy` and `replay`), [`ctrl_c`] (what Ctrl-C does), [`board`] (the
//! live progress line) and [`landed`] (the emulator's Delta tables as catalogs).

mod board;
mod ctrl_c;
mod flags;
mod landed;
mod load;
mod setup;
mod shell;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use flags::{given_options, with_connection_options, Args};

// mimalloc, as datafusion-cli: with glibc malloc the embedded emulator's Delta load grew
// RSS without bound (per-thread arenas) while the heap stayed flat.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    match runtime.block_on(setup::run(args, given)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
