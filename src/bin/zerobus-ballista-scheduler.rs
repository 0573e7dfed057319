//! `zerobus-ballista-scheduler`: Ballista's scheduler (same flags: `--bind-host`,
//! `--bind-port`, …) with the Zerobus codecs, so that a client's
//! `INSERT INTO zerobus.main.default.t SELECT …` is planned here and written by the
//! executors, every input partition on its own streams.
//!
//! The scheduler never contacts Zerobus; it needs no credentials.

use std::process::ExitCode;
use std::sync::Arc;

use arrow_zerobus_sdk_wrapper::datafusion::ballista::{ZerobusLogicalCodec, ZerobusPhysicalCodec};
use ballista_core::object_store::{session_config_with_s3_support, session_state_with_s3_support};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::{Config, SchedulerConfig};
use ballista_scheduler::scheduler_process::start_server;
use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let opt = Config::parse();
    // As Ballista's own scheduler: deep plans need a large stack.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(32 * 1024 * 1024)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("zerobus-ballista-scheduler: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(opt)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zerobus-ballista-scheduler: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(opt: Config) -> ballista_core::error::Result<()> {
    let filter = std::env::var(EnvFilter::DEFAULT_ENV).unwrap_or(opt.log_level_setting.clone());
    tracing_subscriber::fmt()
        .with_ansi(false)
        .with_env_filter(EnvFilter::new(filter))
        .init();
    let addr = format!("{}:{}", opt.bind_host, opt.bind_port);
    let addr = addr.parse().map_err(|e: std::net::AddrParseError| {
        ballista_core::error::BallistaError::Configuration(format!("{addr}: {e}"))
    })?;
    let mut config: SchedulerConfig = opt.try_into()?;
    config = config
        .with_override_config_producer(Arc::new(session_config_with_s3_support))
        .with_override_session_builder(Arc::new(session_state_with_s3_support));
    config.override_logical_codec = Some(Arc::new(ZerobusLogicalCodec::default()));
    config.override_physical_codec = Some(Arc::new(ZerobusPhysicalCodec::default()));
    let cluster = BallistaCluster::new_from_config(&config).await?;
    start_server(cluster, addr, Arc::new(config)).await
}
