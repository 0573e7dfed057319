//! `zerobus-ballista-executor`: Ballista's executor (same flags: `--scheduler-host`,
//! `--scheduler-port`, `--bind-host`, `--bind-port`, `--bind-grpc-port`, `--work-dir`, …)
//! with the Zerobus codecs.
//!
//! Each executor takes its Zerobus connection from its own environment, never from the
//! plan: `ZEROBUS_ENDPOINT`, `DATABRICKS_HOST`, `DATABRICKS_CLIENT_ID`,
//! `DATABRICKS_CLIENT_SECRET` (and any other `ZEROBUS_*` option as a default).

use std::process::ExitCode;
use std::sync::Arc;

use arrow_zerobus_sdk_wrapper::datafusion::ballista::{ZerobusLogicalCodec, ZerobusPhysicalCodec};
use ballista_core::object_store::{runtime_env_with_s3_support, session_config_with_s3_support};
use ballista_executor::config::Config;
use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
use clap::Parser;
use tracing_subscriber::EnvFilter;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    match run(Config::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zerobus-ballista-executor: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(opt: Config) -> ballista_core::error::Result<()> {
    let mut config: ExecutorProcessConfig = opt.try_into()?;
    config.override_config_producer = Some(Arc::new(session_config_with_s3_support));
    config.override_runtime_producer = Some(Arc::new(runtime_env_with_s3_support));
    config.override_logical_codec = Some(Arc::new(ZerobusLogicalCodec::default()));
    config.override_physical_codec = Some(Arc::new(ZerobusPhysicalCodec::default()));
    let filter = std::env::var(EnvFilter::DEFAULT_ENV)
        .unwrap_or_else(|_| config.special_mod_log_level.clone());
    tracing_subscriber::fmt()
        .with_ansi(false)
        .with_env_filter(EnvFilter::new(filter))
        .init();
    start_executor_process(Arc::new(config)).await
}
