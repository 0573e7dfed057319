//! [`Inner`]: the state one wrapper's handles share (configuration, SDK, table schema,
//! lanes, debug files, telemetry), its setup and its end (flush, give-up, shutdown).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use databricks_zerobus_ingest_sdk::{SecureTlsConfig, TlsConfig, ZerobusSdk};
use opentelemetry::{Context, KeyValue};

use super::interrupt::Interrupt;
use super::lanes::{self, LANE_IDLE};
use super::sdk_stream::close_stream;
use super::sends::Sends;
use super::tls::{self, PlainText};
use crate::backoff::Backoff;
use crate::config::WrapperConfig;
use crate::convert::TableSchema;
use crate::debug::DebugSpool;
use crate::error::{Detail, Result, ZerobusError};
use crate::telemetry::{end_span, in_context, Instruments, Telemetry};

pub(super) struct Inner {
    pub(super) config: WrapperConfig,
    pub(super) sdk: ZerobusSdk,
    pub(super) schema: tokio::sync::OnceCell<TableSchema>,
    /// Encoders planned for the input schemas seen so far (see `prepare.rs`).
    pub(super) proto_plans: super::plans::Plans<crate::convert::RowEncoder>,
    pub(super) flight_plans: super::plans::Plans<crate::convert::FlightEncoder>,
    pub(super) lanes: lanes::Lanes,
    pub(super) generation: AtomicU64,
    pub(super) debug: Option<Arc<DebugSpool>>,
    /// Where dead letters go (`dead_letter_path`, a directory or an object-store prefix).
    pub(super) dead_letters: crate::store::Place,
    pub(super) closed: AtomicBool,
    /// Set by [`ZerobusWrapper::give_up`]: sends stop waiting and dead-letter.
    pub(super) gave_up: Interrupt,
    pub(super) backoff: Backoff,
    pub(super) telemetry: Option<Telemetry>,
    pub(super) sends: Sends,
    /// Bytes of rows in flight, over every lane and load (`max_inflight_bytes`).
    pub(super) budget: super::budget::ByteBudget,
}

impl Inner {
    /// Validate the configuration and prepare the SDK. No network traffic happens until
    /// the first `send_batch` (the stream is created on first write).
    pub(super) fn new(config: WrapperConfig) -> Result<Arc<Inner>> {
        config.validate()?;
        tls::install_crypto_provider();
        let endpoint = config.endpoint_url()?;
        let tls: Arc<dyn TlsConfig> = if endpoint.scheme() == "http" {
            Arc::new(PlainText {
                allow_remote: config.allow_plaintext,
            })
        } else {
            Arc::new(SecureTlsConfig::new())
        };
        let sdk = ZerobusSdk::builder()
            .endpoint(endpoint.as_str().trim_end_matches('/'))
            .unity_catalog_url(config.unity_catalog_base()?.as_str().trim_end_matches('/'))
            .tls_config(tls)
            .application_name("arrow-zerobus")
            .build()
            .map_err(|e| {
                ZerobusError::Configuration(Detail::new(format!("endpoint: {e}")).caused_by(e))
            })?;
        let debug = if config.debug_enabled {
            let dir = config.debug_output_dir.clone().unwrap_or_default();
            Some(DebugSpool::open(
                &crate::store::Place::parse(&dir, "debug_output_dir")?,
                &config.table_name,
                config.debug_max_file_size,
                Duration::from_secs(config.debug_flush_interval_secs),
            )?)
        } else {
            None
        };
        let dead_letters =
            crate::store::Place::parse(&config.dead_letter_path(), "dead_letter_dir")?;
        let backoff = Backoff {
            base: Duration::from_millis(config.retry_base_delay_ms),
            max: Duration::from_millis(config.retry_max_delay_ms),
        };
        let telemetry = if config.observability_enabled {
            Some(Telemetry::for_table(
                &config.table_name,
                config.observability_config.as_ref(),
            )?)
        } else {
            None
        };
        let lanes = lanes::Lanes::new(config.max_streams);
        let budget = super::budget::ByteBudget::new(config.max_inflight_bytes);
        let inner = Arc::new(Inner {
            config,
            sdk,
            schema: tokio::sync::OnceCell::new(),
            proto_plans: Default::default(),
            flight_plans: Default::default(),
            lanes,
            generation: AtomicU64::new(0),
            debug,
            dead_letters,
            closed: AtomicBool::new(false),
            gave_up: Interrupt::new(),
            backoff,
            telemetry,
            sends: Sends::default(),
            budget,
        });
        inner.close_idle_lanes_in_the_background();
        Ok(inner)
    }

    /// Close the streams of lanes idle for [`LANE_IDLE`] even when no send comes to notice
    /// them: a task checks every half of it while the wrapper lives and is not shut down.
    /// Without a Tokio runtime at hand, idle lanes close at the next send instead.
    fn close_idle_lanes_in_the_background(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let inner = Arc::downgrade(self);
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(LANE_IDLE / 2).await;
                // The task does not keep the wrapper alive: once every handle is dropped,
                // it ends.
                let Some(inner) = inner.upgrade() else { break };
                if inner.closed.load(Ordering::SeqCst) {
                    break;
                }
                let idle = inner.lanes.take_idle();
                inner.close_streams(idle);
            }
        });
    }

    /// The configuration.
    pub(super) fn config(&self) -> &WrapperConfig {
        &self.config
    }

    /// Debug files written so far (empty when debug output is off).
    pub(super) fn debug_files(&self) -> Vec<PathBuf> {
        self.debug.as_ref().map(|d| d.files()).unwrap_or_default()
    }

    pub(super) fn table(&self) -> &str {
        &self.config.table_name
    }

    /// Update metrics when telemetry is on.
    pub(super) fn metric(&self, f: impl FnOnce(&Instruments, &[KeyValue])) {
        if let Some(t) = &self.telemetry {
            f(t.metrics(), t.attrs());
        }
    }

    /// Start a span (child of the current OpenTelemetry context) when telemetry is on.
    pub(super) fn start_span(&self, name: &'static str, attrs: Vec<KeyValue>) -> Option<Context> {
        self.telemetry.as_ref().map(|t| t.start(name, attrs))
    }

    /// Await `fut` in a new span `name` (a child of the current context; no span when
    /// telemetry is off), ended with the error and the attributes `close` reads off the
    /// result. Spans started inside `fut` are its children.
    pub(super) async fn in_span<T>(
        &self,
        name: &'static str,
        attrs: Vec<KeyValue>,
        fut: impl std::future::Future<Output = T>,
        close: impl FnOnce(&T) -> (Option<String>, Vec<KeyValue>),
    ) -> T {
        let cx = self.start_span(name, attrs);
        let out = in_context(cx.as_ref(), fut).await;
        if let Some(cx) = &cx {
            let (error, attrs) = close(&out);
            end_span(cx, error.as_deref(), attrs);
        }
        out
    }

    /// The current OpenTelemetry context when telemetry is on, to hand to spawned tasks.
    pub(super) fn otel_context(&self) -> Option<Context> {
        self.telemetry.as_ref().map(|_| Context::current())
    }

    /// Wait until every `send_batch` that began before this call has ended — its rows
    /// acknowledged or dead-lettered, also when it was retrying after its stream was
    /// replaced — and flush the debug files. (A send returns only once its own rows are
    /// acknowledged, so nothing else is left to wait for on the stream.)
    pub(super) async fn flush(&self) -> Result<()> {
        self.sends.wait_for_earlier().await;
        if let Some(d) = &self.debug {
            d.flush();
        }
        Ok(())
    }

    /// Stop waiting: the sends in progress stop retrying and waiting for
    /// acknowledgements, and write the rows not acknowledged to dead-letter files (rows that
    /// were sent may land as well: at-least-once); sends that begin later write theirs at
    /// once. What `zerobus-sql` does when the batches in flight have not settled a while
    /// after Ctrl-C ([`Interrupt::give_up`] reaches the wrappers of the loads watching it).
    /// The wrapper is shut down for further use; [`Self::shutdown`] then closes the streams
    /// without waiting for them.
    pub(super) fn give_up(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.gave_up.give_up();
    }

    /// Flush, close every lane's stream and the debug files. Later `send_batch` calls
    /// fail. After [`Self::give_up`] the streams are dropped without a flush.
    pub(super) async fn shutdown(&self) -> Result<()> {
        self.closed.store(true, Ordering::SeqCst);
        self.sends.wait_for_earlier().await;
        let mut result = Ok(());
        for c in self.lanes.take_all().await {
            self.metric(|m, a| m.streams_open.add(-1, a));
            if self.gave_up.is_set() {
                continue;
            }
            if let Err(e) = c.stream.flush().await {
                let text = format!("shutdown of table '{}': flush failed: {e}", self.table());
                result = Err(ZerobusError::Transmission(Detail::new(text).caused_by(e)));
            }
            close_stream(c.stream).await;
        }
        if let Some(d) = &self.debug {
            d.close();
            if let Err(e) = d.upload_finished().await {
                tracing::error!(table = %self.table(), error = %e, "could not upload debug files");
            }
        }
        if let Some(t) = &self.telemetry {
            t.flush().await;
        }
        result
    }
}
