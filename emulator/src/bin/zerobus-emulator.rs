//! `zerobus-emulator`: run the local Zerobus service from the command line.
//!
//! Prints exactly one line on stdout when ready:
//! `ready grpc=http://HOST:PORT http=http://HOST:PORT warehouse=DIR`; logs go to stderr.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use zerobus_emulator::{Emulator, EmulatorConfig, Faults, StreamQuota, TableSpec, TokenFault};

// mimalloc: with glibc malloc a long Delta load grew RSS without bound (per-thread arenas
// holding freed memory) while the heap stayed flat (heaptrack: 325 MB peak, 348 KB leaked).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A local Zerobus Ingest service that lands records in Delta tables.
#[derive(Parser, Debug)]
#[command(name = "zerobus-emulator", version)]
struct Args {
    /// Directory for the Delta tables (created if missing).
    #[arg(long)]
    warehouse: PathBuf,
    /// gRPC listen address (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    grpc_addr: SocketAddr,
    /// HTTP (OAuth + Unity Catalog) listen address.
    #[arg(long, default_value = "127.0.0.1:0")]
    http_addr: SocketAddr,
    /// Accepted OAuth client id.
    #[arg(long, default_value = zerobus_emulator::DEFAULT_CLIENT_ID)]
    client_id: String,
    /// Accepted OAuth client secret.
    #[arg(long, env = "ZEROBUS_EMULATOR_CLIENT_SECRET", default_value = zerobus_emulator::DEFAULT_CLIENT_SECRET, hide_default_value = true, hide_env_values = true)]
    client_secret: String,
    /// Lifetime of issued tokens, in seconds (fractions allowed).
    #[arg(long, default_value_t = 3600.0, value_parser = positive_secs)]
    token_ttl_secs: f64,
    /// A table to create: 'main.default.t:id BIGINT NOT NULL, name STRING, ...' (repeatable).
    #[arg(long = "table")]
    tables: Vec<TableSpec>,
    /// Milliseconds a table's writer gathers rows into one Delta commit.
    #[arg(long, default_value_t = 50)]
    commit_interval_ms: u64,
    /// Fault: refuse (INVALID_ARGUMENT) each request holding a record that contains TEXT.
    #[arg(long)]
    refuse_records_containing: Option<String>,
    /// Fault: announce a close once a stream has taken N records.
    #[arg(long)]
    close_stream_after_records: Option<u64>,
    /// Fault: probability (0..1) that a stream creation or ingest request gets UNAVAILABLE.
    #[arg(long, default_value_t = 0.0)]
    unavailable_rate: f64,
    /// Fault: answer the first COUNT token requests with HTTP STATUS ('429:5').
    #[arg(long)]
    token_fault: Option<TokenFault>,
    /// Fault: delay each acknowledgement by N milliseconds.
    #[arg(long, default_value_t = 0)]
    ack_delay_ms: u64,
    /// Seconds after which a stream is closed (announced), as the service does.
    #[arg(long, default_value_t = 900)]
    max_stream_duration_secs: u64,
    /// Acknowledge records without decoding or writing them (client benchmarks); the
    /// quotas still apply unless turned off.
    #[arg(long)]
    discard: bool,
    /// Records one stream may take per second, as the service's quota (0: no limit).
    /// Enforced by pacing: acknowledgements come later, nothing is refused.
    #[arg(long, default_value_t = StreamQuota::SERVICE.records_per_sec)]
    stream_max_records_per_sec: u64,
    /// Record bytes one stream may take per second (0: no limit).
    #[arg(long, default_value_t = StreamQuota::SERVICE.bytes_per_sec)]
    stream_max_bytes_per_sec: u64,
    /// Stop (as on SIGTERM) when standard input reaches its end: a parent that holds a pipe
    /// to it (Python's `emulator.start()`) takes the emulator with it however it exits.
    #[arg(long)]
    exit_on_stdin_close: bool,
}

fn positive_secs(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(s),
        _ => Err(format!("'{text}' is not a number of seconds above 0")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,deltalake_core::writer::stats=error")
            }),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("zerobus-emulator: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    let exit_on_stdin_close = args.exit_on_stdin_close;
    let config = EmulatorConfig {
        warehouse: args.warehouse,
        grpc_addr: args.grpc_addr,
        http_addr: args.http_addr,
        client_id: args.client_id,
        client_secret: args.client_secret,
        token_ttl: Duration::from_secs_f64(args.token_ttl_secs),
        tables: args.tables,
        commit_interval: Duration::from_millis(args.commit_interval_ms),
        max_stream_duration: Duration::from_secs(args.max_stream_duration_secs),
        faults: Faults {
            close_stream_after_records: args.close_stream_after_records,
            unavailable_rate: args.unavailable_rate,
            ack_delay: Duration::from_millis(args.ack_delay_ms),
            refuse_records_containing: args.refuse_records_containing.map(String::into_bytes),
            token_fault: args.token_fault,
        },
        discard: args.discard,
        stream_quota: StreamQuota {
            records_per_sec: args.stream_max_records_per_sec,
            bytes_per_sec: args.stream_max_bytes_per_sec,
        },
    };
    let emulator = match Emulator::start(config).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("zerobus-emulator: {e}");
            return ExitCode::FAILURE;
        }
    };
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "ready grpc={} http={} warehouse={}",
            emulator.grpc_url(),
            emulator.http_url(),
            emulator.warehouse().display()
        );
        let _ = out.flush();
    }
    wait_for_signal(exit_on_stdin_close).await;
    tracing::info!("stopping: announcing close to open streams and committing acknowledged data");
    emulator.shutdown().await;
    ExitCode::SUCCESS
}

/// Until SIGINT or SIGTERM, or (with `stdin_close`) the end of standard input.
async fn wait_for_signal(stdin_close: bool) {
    let closed = stdin_closed(stdin_close);
    tokio::select! {
        _ = signalled() => {}
        _ = closed => tracing::info!("standard input closed"),
    }
}

/// Resolves when standard input reaches its end (or fails); never when `watch` is false.
/// A plain thread reads it, so that a read still blocked at exit does not hold the
/// runtime's shutdown (a Tokio blocking task would).
async fn stdin_closed(watch: bool) {
    if !watch {
        return std::future::pending().await;
    }
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        let _ = tx.send(());
    });
    let _ = rx.await;
}

async fn signalled() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
