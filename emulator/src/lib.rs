//! A local Zerobus Ingest service that lands records in real Delta tables.
//!
//! The official Zerobus SDKs connect to it unchanged, except that it speaks plain text:
//! gRPC `EphemeralStream` (protobuf and JSON records) and Arrow Flight `DoPut` (Arrow
//! batches, on the same port) for ingestion, `POST /oidc/v1/token` for OAuth client
//! credentials, and the Unity Catalog tables API for schemas. Each table is a Delta table
//! at `<warehouse>/<catalog>/<schema>/<table>`; a record is acknowledged only after the
//! Delta commit that holds it.
//!
//! In-process use, as tests do:
//!
//! ```no_run
//! # async fn demo() -> Result<(), zerobus_emulator::EmulatorError> {
//! use zerobus_emulator::{Emulator, EmulatorConfig};
//! let emu = Emulator::start(
//!     EmulatorConfig::new("/tmp/warehouse").with_table("main.default.events:id BIGINT NOT NULL, body STRING")?,
//! )
//! .await?;
//! println!("gRPC at {}, Unity Catalog at {}", emu.grpc_url(), emu.http_url());
//! emu.shutdown().await;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod auth;
pub mod catalog;
pub mod cells;
pub mod decode;
mod flight;
pub mod flight_batch;
mod grpc;
mod http;
mod ingest;
pub mod quota;
mod requests;
pub mod statements;
pub mod storage;
pub mod types;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use databricks_zerobus_ingest_sdk::databricks::zerobus::zerobus_server::ZerobusServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::auth::Authority;
use crate::catalog::Catalog;
pub use crate::quota::{StreamQuota, TableStats};
use crate::types::{parse_columns, UcField};

/// Largest gRPC message the service accepts (a batch of records).
const MAX_GRPC_MESSAGE: usize = 256 * 1024 * 1024;

/// Faults to inject, for tests of clients' recovery.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Announce a close (CloseStreamSignal) once a stream has taken this many records.
    pub close_stream_after_records: Option<u64>,
    /// Probability in [0, 1] that a stream creation or an ingest request is answered
    /// with UNAVAILABLE (the stream ends; nothing of that request is written).
    pub unavailable_rate: f64,
    /// Extra delay before each acknowledgement.
    pub ack_delay: Duration,
    /// Refuse (INVALID_ARGUMENT, as for an invalid record) every ingest request holding a
    /// record that contains these bytes: one bad record among good neighbours, for tests.
    pub refuse_records_containing: Option<Vec<u8>>,
    /// Answer the first token requests with an HTTP error (429 with `Retry-After: 1`, or
    /// 5xx), as a throttled or failing token endpoint does.
    pub token_fault: Option<TokenFault>,
}

/// `STATUS:COUNT`: the first COUNT token requests are answered with HTTP STATUS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenFault {
    /// The HTTP status (4xx or 5xx).
    pub status: u16,
    /// How many requests get it, from the first.
    pub count: u32,
}

impl FromStr for TokenFault {
    type Err = EmulatorError;

    /// `429:5`
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            EmulatorError::Config(format!(
                "token fault '{s}' must look like STATUS:COUNT with a 4xx or 5xx status, e.g. 429:5"
            ))
        };
        let (status, count) = s.split_once(':').ok_or_else(bad)?;
        let status: u16 = status.trim().parse().map_err(|_| bad())?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        if !(400..600).contains(&status) {
            return Err(bad());
        }
        Ok(TokenFault { status, count })
    }
}

/// A table to create at start (kept if it already exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// `catalog.schema.table`.
    pub name: String,
    /// Columns in order.
    pub columns: Vec<UcField>,
}

impl FromStr for TableSpec {
    type Err = EmulatorError;

    /// `main.default.t:id BIGINT NOT NULL, name STRING, tags ARRAY<STRING>`
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, cols) = s.split_once(':').ok_or_else(|| {
            EmulatorError::Config(format!(
                "table spec '{s}' must look like 'catalog.schema.table:col TYPE [NOT NULL], ...'"
            ))
        })?;
        catalog::parse_table_name(name.trim()).map_err(|e| EmulatorError::Config(e.to_string()))?;
        let columns = parse_columns(cols)
            .map_err(|e| EmulatorError::Config(format!("table '{}': {e}", name.trim())))?;
        Ok(TableSpec {
            name: name.trim().to_string(),
            columns,
        })
    }
}

/// Everything the emulator can be told at start.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Directory holding the Delta tables.
    pub warehouse: PathBuf,
    /// gRPC listen address (port 0 picks a free port).
    pub grpc_addr: SocketAddr,
    /// HTTP listen address (port 0 picks a free port).
    pub http_addr: SocketAddr,
    /// Accepted OAuth client id.
    pub client_id: String,
    /// Accepted OAuth client secret.
    pub client_secret: String,
    /// Lifetime of issued tokens; streams are closed (with a CloseStreamSignal) when
    /// the token they were opened with expires.
    pub token_ttl: Duration,
    /// Tables to create at start.
    pub tables: Vec<TableSpec>,
    /// How long a table's writer gathers rows into one Delta commit.
    pub commit_interval: Duration,
    /// Streams are closed (announced) after this long, as the service does every ~15 min.
    pub max_stream_duration: Duration,
    /// Faults to inject.
    pub faults: Faults,
    /// Acknowledge without decoding or writing (for client benchmarks): on both protocols
    /// only the record and request sizes and the refusal fault are checked. The quotas
    /// still apply unless turned off.
    pub discard: bool,
    /// Per-stream quotas, enforced by pacing; the service's by default.
    pub stream_quota: StreamQuota,
}

/// Default OAuth client id.
pub const DEFAULT_CLIENT_ID: &str = "local";
/// Default OAuth client secret.
pub const DEFAULT_CLIENT_SECRET: &str = "local-secret";

impl EmulatorConfig {
    /// Defaults: loopback on free ports, client `local`/`local-secret`, token TTL 1 h,
    /// commits every 50 ms, streams closed after 15 minutes, no faults, the service's
    /// per-stream quotas (100,000 records/s, 100 MB/s).
    pub fn new(warehouse: impl Into<PathBuf>) -> Self {
        let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
        EmulatorConfig {
            warehouse: warehouse.into(),
            grpc_addr: loopback,
            http_addr: loopback,
            client_id: DEFAULT_CLIENT_ID.into(),
            client_secret: DEFAULT_CLIENT_SECRET.into(),
            token_ttl: Duration::from_secs(3600),
            tables: Vec::new(),
            commit_interval: Duration::from_millis(50),
            max_stream_duration: Duration::from_secs(15 * 60),
            faults: Faults::default(),
            discard: false,
            stream_quota: StreamQuota::SERVICE,
        }
    }

    /// Add a table from its spec text (see [`TableSpec`]).
    pub fn with_table(mut self, spec: &str) -> Result<Self, EmulatorError> {
        self.tables.push(spec.parse()?);
        Ok(self)
    }

    /// Set the token lifetime.
    pub fn with_token_ttl(mut self, ttl: Duration) -> Self {
        self.token_ttl = ttl;
        self
    }

    /// Set the faults to inject.
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Acknowledge without writing.
    pub fn with_discard(mut self, discard: bool) -> Self {
        self.discard = discard;
        self
    }

    /// Set the per-stream quotas ([`StreamQuota::OFF`] for none).
    pub fn with_stream_quota(mut self, quota: StreamQuota) -> Self {
        self.stream_quota = quota;
        self
    }

    /// Set the commit interval.
    pub fn with_commit_interval(mut self, interval: Duration) -> Self {
        self.commit_interval = interval;
        self
    }

    /// Set the HTTP listen address.
    pub fn with_http_addr(mut self, addr: SocketAddr) -> Self {
        self.http_addr = addr;
        self
    }

    /// Set the gRPC listen address.
    pub fn with_grpc_addr(mut self, addr: SocketAddr) -> Self {
        self.grpc_addr = addr;
        self
    }
}

/// Why the emulator could not start or do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// Bad configuration.
    #[error("configuration: {0}")]
    Config(String),
    /// A socket or file could not be used.
    #[error("{0}")]
    Io(String),
    /// A catalog operation failed.
    #[error(transparent)]
    Catalog(#[from] catalog::CatalogError),
}

/// Refuse to serve beyond this machine with the well-known default secret: anyone who can
/// reach the port could mint tokens, create and delete tables.
fn check_exposure(config: &EmulatorConfig) -> Result<(), EmulatorError> {
    if config.client_secret != DEFAULT_CLIENT_SECRET {
        return Ok(());
    }
    for (what, addr) in [("gRPC", config.grpc_addr), ("HTTP", config.http_addr)] {
        if !addr.ip().is_loopback() {
            return Err(EmulatorError::Config(format!(
                "the {what} address {addr} is not loopback, and the client secret is the public default \
                 '{DEFAULT_CLIENT_SECRET}': set a secret of your own (--client-secret or \
                 ZEROBUS_EMULATOR_CLIENT_SECRET; EmulatorConfig::client_secret) before listening beyond this machine"
            )));
        }
    }
    Ok(())
}

/// Entry point: see [`Emulator::start`].
pub struct Emulator;

/// A running emulator. Dropping it without [`EmulatorHandle::shutdown`] leaves its
/// servers running until the runtime ends.
pub struct EmulatorHandle {
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    warehouse: PathBuf,
    client_id: String,
    client_secret: String,
    catalog: Arc<Catalog>,
    streams_opened: Arc<AtomicU64>,
    stats: Arc<quota::Stats>,
    shutdown: watch::Sender<bool>,
    grpc_task: JoinHandle<()>,
    http_task: JoinHandle<()>,
}

impl std::fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("grpc", &self.grpc_addr)
            .field("http", &self.http_addr)
            .field("warehouse", &self.warehouse)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Bind both listeners, open the warehouse, create the configured tables and serve.
    pub async fn start(config: EmulatorConfig) -> Result<EmulatorHandle, EmulatorError> {
        if !(0.0..=1.0).contains(&config.faults.unavailable_rate) {
            return Err(EmulatorError::Config(format!(
                "unavailable rate {} must be between 0 and 1",
                config.faults.unavailable_rate
            )));
        }
        let warehouse = absolute(&config.warehouse)?;
        let catalog = Arc::new(Catalog::open(&warehouse, config.commit_interval).await?);
        for spec in &config.tables {
            match catalog.create(&spec.name, spec.columns.clone()).await {
                Ok(_) => {}
                Err(catalog::CatalogError::AlreadyExists(name)) => {
                    let existing = catalog
                        .get(&name)
                        .map(|t| t.columns.clone())
                        .unwrap_or_default();
                    if existing != spec.columns {
                        tracing::warn!(table = %name, "table exists with a different schema; keeping the existing table");
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        let authority = Authority::open(
            &warehouse,
            config.client_id.clone(),
            config.client_secret.clone(),
            config.token_ttl,
        )
        .map_err(|e| {
            EmulatorError::Io(format!(
                "cannot prepare the token key in {}: {e}",
                warehouse.display()
            ))
        })?;

        check_exposure(&config)?;
        let grpc_listener = TcpListener::bind(config.grpc_addr).await.map_err(|e| {
            EmulatorError::Io(format!(
                "cannot listen for gRPC on {}: {e}",
                config.grpc_addr
            ))
        })?;
        let http_listener = TcpListener::bind(config.http_addr).await.map_err(|e| {
            EmulatorError::Io(format!(
                "cannot listen for HTTP on {}: {e}",
                config.http_addr
            ))
        })?;
        let grpc_addr = grpc_listener
            .local_addr()
            .map_err(|e| EmulatorError::Io(e.to_string()))?;
        let http_addr = http_listener
            .local_addr()
            .map_err(|e| EmulatorError::Io(e.to_string()))?;

        let (shutdown, shutdown_rx) = watch::channel(false);
        let streams_opened = Arc::new(AtomicU64::new(0));
        let stats = Arc::new(quota::Stats::default());
        quota::spawn_sampler(stats.clone(), shutdown_rx.clone());
        let service = grpc::ZerobusService {
            shared: Arc::new(ingest::Shared {
                catalog: catalog.clone(),
                authority: authority.clone(),
                faults: config.faults.clone(),
                discard: config.discard,
                max_stream_duration: config.max_stream_duration,
                shutdown: shutdown_rx.clone(),
                streams_opened: streams_opened.clone(),
                quota: config.stream_quota,
                stats: stats.clone(),
            }),
        };
        let flight =
            arrow_flight::flight_service_server::FlightServiceServer::new(flight::FlightIngest {
                shared: service.shared.clone(),
            })
            .max_decoding_message_size(MAX_GRPC_MESSAGE)
            .max_encoding_message_size(MAX_GRPC_MESSAGE);
        let server = ZerobusServer::new(service)
            .max_decoding_message_size(MAX_GRPC_MESSAGE)
            .max_encoding_message_size(MAX_GRPC_MESSAGE);
        let mut grpc_stop = shutdown_rx.clone();
        let grpc_task = tokio::spawn(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(grpc_listener);
            let result = tonic::transport::Server::builder()
                .tcp_nodelay(true)
                .add_service(server)
                .add_service(flight)
                .serve_with_incoming_shutdown(incoming, async move {
                    let _ = grpc_stop.wait_for(|s| *s).await;
                    // Sessions announce their close and end after the grace period.
                    tokio::time::sleep(ingest::CLOSE_GRACE).await;
                })
                .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "gRPC server failed");
            }
        });
        let router = http::router(Arc::new(requests::HttpState {
            catalog: catalog.clone(),
            authority,
            stats: stats.clone(),
            token_fault: config
                .faults
                .token_fault
                .map(|f| (f.status, std::sync::atomic::AtomicU32::new(f.count))),
            statements: Default::default(),
        }));
        let mut http_stop = shutdown_rx;
        let http_task = tokio::spawn(async move {
            let result = axum::serve(http_listener, router)
                .with_graceful_shutdown(async move {
                    let _ = http_stop.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "HTTP server failed");
            }
        });
        tracing::info!(%grpc_addr, %http_addr, warehouse = %warehouse.display(), discard = config.discard,
            records_per_sec = config.stream_quota.records_per_sec, bytes_per_sec = config.stream_quota.bytes_per_sec,
            "Zerobus emulator ready");
        Ok(EmulatorHandle {
            grpc_addr,
            http_addr,
            warehouse,
            client_id: config.client_id,
            client_secret: config.client_secret,
            catalog,
            streams_opened,
            stats,
            shutdown,
            grpc_task,
            http_task,
        })
    }
}

fn absolute(p: &Path) -> Result<PathBuf, EmulatorError> {
    std::fs::create_dir_all(p)
        .map_err(|e| EmulatorError::Io(format!("cannot create warehouse {}: {e}", p.display())))?;
    p.canonicalize()
        .map_err(|e| EmulatorError::Io(format!("cannot resolve warehouse {}: {e}", p.display())))
}

impl EmulatorHandle {
    /// `http://127.0.0.1:PORT` of the gRPC service (the SDK's Zerobus endpoint).
    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// `http://127.0.0.1:PORT` of the HTTP service (the SDK's Unity Catalog URL).
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// gRPC socket address.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// HTTP socket address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The warehouse directory (absolute).
    pub fn warehouse(&self) -> &Path {
        &self.warehouse
    }

    /// The accepted client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The accepted client secret.
    pub fn client_secret(&self) -> &str {
        &self.client_secret
    }

    /// Create a table in-process: `create_table("main.default.t", "id BIGINT NOT NULL, s STRING")`.
    pub async fn create_table(&self, name: &str, columns: &str) -> Result<PathBuf, EmulatorError> {
        let cols = parse_columns(columns)
            .map_err(|e| EmulatorError::Config(format!("table '{name}': {e}")))?;
        let t = self.catalog.create(name, cols).await?;
        Ok(t.location.clone())
    }

    /// Streams successfully created since start (reconnections included).
    pub fn streams_opened(&self) -> u64 {
        self.streams_opened
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The figures of every table that has had a stream (what
    /// `GET /zerobus-emulator/v1/stats` shows), by lower-case full name.
    pub fn stats(&self) -> std::collections::BTreeMap<String, TableStats> {
        self.stats.snapshot()
    }

    /// Directory of a table's Delta table, if it exists.
    pub fn table_location(&self, name: &str) -> Option<PathBuf> {
        self.catalog.get(name).map(|t| t.location.clone())
    }

    /// Announce a close on every stream, acknowledge what is committed, stop serving.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let limit = ingest::CLOSE_GRACE + Duration::from_secs(10);
        if tokio::time::timeout(limit, self.grpc_task).await.is_err() {
            tracing::warn!("gRPC server did not stop within {limit:?}");
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), self.http_task).await;
    }
}
