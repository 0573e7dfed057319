//! [`ZerobusWrapper`]: Arrow batches in, durably acknowledged Zerobus records out.
//!
//! `send_batch` encodes the batch (columnar, see [`crate::convert`]), checks every record
//! against the 10 MiB limit before anything is sent, then sends the records in chunks on
//! one of the wrapper's streams (a lane, see [`LANE_BACKLOG`]) and waits for their
//! acknowledgements. A retryable failure re-creates that lane's stream and resends only the
//! chunks that were not acknowledged, after an exponential backoff with full jitter. When attempts run out (or the service refuses the records for
//! good) the unacknowledged rows are written to a dead-letter file named in the error.

mod interrupt;
mod lanes;
mod retry;
mod send_all;
mod sends;
mod tls;
pub(crate) mod uc;
mod watch;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use databricks_zerobus_ingest_sdk::{
    ProtoBytes, SecureTlsConfig, TlsConfig, ZerobusError as SdkError, ZerobusSdk, ZerobusStream,
};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry::{Context, KeyValue};
use tracing::Instrument;

pub use interrupt::Interrupt;
use lanes::Current;
pub use lanes::{LANE_BACKLOG, LANE_IDLE};
pub use retry::Backoff;
pub use send_all::{LoadProgress, LoadSummary, Progress, MAX_IN_FLIGHT};
pub use tls::PlainText;
pub use watch::LoadWatch;

use crate::config::{SchemaSource, WrapperConfig};
use crate::convert::{EncodedRows, RowEncoder, TableSchema};
use crate::dead_letter::{dead_letter_files, read_dead_letters, write_dead_letters};
use crate::debug::DebugSpool;
use crate::error::{LoadFailure, Result, ZerobusError};
use crate::telemetry::{end_span, in_context, Instruments, Telemetry};

/// Largest record that can be sent: the SDK refuses any ingest request whose records
/// exceed 10 MiB − 64 KiB (its `MAX_INGEST_PAYLOAD_BYTES`, kept under the service's 10 MiB
/// message limit), so a larger record is a ConversionError before anything is sent.
pub const MAX_RECORD_BYTES: usize = 10 * 1024 * 1024 - 64 * 1024;
/// Target size of one ingest request.
const CHUNK_BYTES: usize = 4 * 1024 * 1024;
/// Most records in one ingest request.
const CHUNK_ROWS: usize = 20_000;
/// The SDK's acknowledgement timeout when `ack_timeout_ms` is not set.
const SDK_ACK_TIMEOUT_MS: u64 = 60_000;

/// Outcome of one `send_batch` (the contract's fields, plus rows and the last offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransmissionResult {
    /// Whether every row was acknowledged.
    pub success: bool,
    /// Error message if not.
    pub error: Option<String>,
    /// Attempts made (0 for an empty batch).
    pub attempts: u32,
    /// Milliseconds from the call to the last acknowledgement.
    pub latency_ms: Option<u64>,
    /// Encoded size of the batch in bytes.
    pub batch_size_bytes: usize,
    /// Rows acknowledged.
    pub rows: usize,
    /// Stream offset of the last acknowledged request.
    pub ack_offset: Option<i64>,
}

struct Inner {
    config: WrapperConfig,
    sdk: ZerobusSdk,
    schema: tokio::sync::OnceCell<TableSchema>,
    lanes: lanes::Lanes,
    generation: AtomicU64,
    debug: Option<Arc<DebugSpool>>,
    closed: AtomicBool,
    backoff: Backoff,
    telemetry: Option<Telemetry>,
    sends: sends::Sends,
}

/// Counts rows as in flight from encoding until acknowledged or given up (also when the
/// send is cancelled).
struct InFlight {
    counter: Option<(opentelemetry::metrics::UpDownCounter<i64>, [KeyValue; 1])>,
    rows: i64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some((c, attrs)) = &self.counter {
            c.add(-self.rows, attrs);
        }
    }
}

/// Sends Arrow `RecordBatch`es to one Zerobus table. Cheap to clone, `Send + Sync`;
/// concurrent `send_batch` calls share one stream and encode in parallel.
///
/// ```no_run
/// # async fn demo(batch: arrow::array::RecordBatch) -> arrow_zerobus_sdk_wrapper::Result<()> {
/// use arrow_zerobus_sdk_wrapper::{WrapperConfig, ZerobusWrapper};
/// let wrapper = ZerobusWrapper::new(WrapperConfig::from_env("main.default.events")?)?;
/// let result = wrapper.send_batch(&batch).await?;
/// println!("{} rows acknowledged in {:?} ms", result.rows, result.latency_ms);
/// wrapper.shutdown().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ZerobusWrapper {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ZerobusWrapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZerobusWrapper")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// How a failed attempt should be handled.
enum Failure {
    /// Try again (new stream) after a backoff.
    Retry(String),
    /// Credentials were refused by the service; one fresh token is worth a try.
    Auth(String),
    /// Credentials are wrong: no retry helps.
    Credentials(String),
    /// A token could not be obtained (transient).
    Token(String),
    /// The service refused the records; retrying cannot help.
    Final(String),
    /// The service refused a request on the shared stream, perhaps another batch's: resend
    /// this batch alone to find out.
    Isolate(String),
}

/// Add what to check to the SDK's words where they are cryptic.
fn with_hint(text: String) -> String {
    let hint = if text.contains("tcp connect error") {
        "nothing answered at the endpoint: check its URL and port, and that it is reachable from here"
    } else if text.contains("InvalidContentType")
        || text.contains("tls handshake")
        || text.contains("received corrupt message")
    {
        "TLS failed: does the endpoint speak TLS? Use http:// for a plain-text endpoint such as the local emulator"
    } else if text.contains("Failed to create stream")
        && [
            "h2 protocol",
            "transport error",
            "operation was cancel",
            "invalid HTTP version",
        ]
        .iter()
        .any(|s| text.contains(s))
    {
        "the endpoint does not answer as a gRPC service: is it the Zerobus endpoint, https://<workspace-id>.zerobus.<region>.cloud.databricks.com?"
    } else {
        return text;
    };
    format!("{text} ({hint})")
}

fn classify(e: &SdkError) -> Failure {
    let text = e.to_string();
    match e {
        SdkError::InvalidUCTokenError(_) => Failure::Credentials(text),
        SdkError::TokenFetchError(_) => Failure::Token(text),
        SdkError::CreateStreamError(s) | SdkError::StreamClosedError(s)
            if matches!(
                s.code(),
                tonic::Code::Unauthenticated | tonic::Code::PermissionDenied
            ) =>
        {
            Failure::Auth(text)
        }
        _ if e.is_retryable() => Failure::Retry(with_hint(text)),
        _ => Failure::Final(text),
    }
}

impl ZerobusWrapper {
    /// Validate the configuration and prepare the SDK. No network traffic happens until
    /// the first `send_batch` (the stream is created on first write).
    pub fn new(config: WrapperConfig) -> Result<ZerobusWrapper> {
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
            .map_err(|e| ZerobusError::Configuration(format!("endpoint: {e}")))?;
        let debug = if config.debug_enabled {
            let dir = config.debug_output_dir.clone().unwrap_or_default();
            Some(DebugSpool::open(
                &dir,
                &config.table_name,
                config.debug_max_file_size,
                Duration::from_secs(config.debug_flush_interval_secs),
            )?)
        } else {
            None
        };
        let backoff = Backoff {
            base: Duration::from_millis(config.retry_base_delay_ms),
            max: Duration::from_millis(config.retry_max_delay_ms),
        };
        let telemetry = Telemetry::for_config(&config)?;
        let lanes = lanes::Lanes::new(config.max_streams);
        Ok(ZerobusWrapper {
            inner: Arc::new(Inner {
                config,
                sdk,
                schema: tokio::sync::OnceCell::new(),
                lanes,
                generation: AtomicU64::new(0),
                debug,
                closed: AtomicBool::new(false),
                backoff,
                telemetry,
                sends: sends::Sends::default(),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &WrapperConfig {
        &self.inner.config
    }

    /// Debug files written so far (empty when debug output is off).
    pub fn debug_files(&self) -> Vec<PathBuf> {
        self.inner
            .debug
            .as_ref()
            .map(|d| d.files())
            .unwrap_or_default()
    }

    fn table(&self) -> &str {
        &self.inner.config.table_name
    }

    /// Update metrics when telemetry is on.
    fn metric(&self, f: impl FnOnce(&Instruments, &[KeyValue])) {
        if let Some(t) = &self.inner.telemetry {
            f(t.metrics(), t.attrs());
        }
    }

    /// Start a span (child of the current OpenTelemetry context) when telemetry is on.
    pub(crate) fn start_span(&self, name: &'static str, attrs: Vec<KeyValue>) -> Option<Context> {
        self.inner.telemetry.as_ref().map(|t| t.start(name, attrs))
    }

    /// The current OpenTelemetry context when telemetry is on, to hand to spawned tasks.
    pub(crate) fn otel_context(&self) -> Option<Context> {
        self.inner.telemetry.as_ref().map(|_| Context::current())
    }

    async fn table_schema(&self, batch: &RecordBatch) -> Result<&TableSchema> {
        let inner = &self.inner;
        inner
            .schema
            .get_or_try_init(|| async {
                let table = &inner.config.table_name;
                match inner.config.schema_source {
                    SchemaSource::UnityCatalog => {
                        let columns = uc::table_columns(&inner.config).await?;
                        TableSchema::from_uc(table, &columns)
                    }
                    SchemaSource::ArrowSchema => TableSchema::from_arrow(table, &batch.schema()),
                }
            })
            .await
    }

    /// Encode `batch` for the table: every problem is found before anything is sent.
    pub async fn encode(&self, batch: &RecordBatch) -> Result<EncodedRows> {
        let schema = self.table_schema(batch).await?;
        let mut encoder = RowEncoder::new(schema, &batch.schema())?;
        encoder.encode_batch(batch)?;
        let rows = encoder.take_rows();
        if let Some((i, r)) = rows
            .iter()
            .enumerate()
            .find(|(_, r)| r.len() > MAX_RECORD_BYTES)
        {
            return Err(ZerobusError::Conversion(format!(
                "table '{}', row {i}: the record is {} bytes, over Zerobus's {MAX_RECORD_BYTES}-byte limit",
                self.table(),
                r.len()
            )));
        }
        Ok(rows)
    }

    /// The stream of `lane`, opened (again) if it has none or its stream closed.
    async fn current_stream(&self, lane: &lanes::Lane) -> std::result::Result<Current, SdkError> {
        let mut guard = lane.stream.lock().await;
        if let Some(c) = guard.as_ref() {
            if !c.stream.is_closed() {
                return Ok(c.clone());
            }
        }
        // Closed: the lane has no stream until a new one is open (opening may fail).
        self.set_lane_stream(lane, &mut guard, None);
        let generation = self.inner.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let stream = self
            .open_stream(generation as i64, Some(lane.index))
            .await?;
        let current = Current {
            generation,
            stream: Arc::new(stream),
        };
        self.set_lane_stream(lane, &mut guard, Some(current.clone()));
        Ok(current)
    }

    /// Put `new` in `lane`'s slot (`None`: empty it), keeping the lane's state and the
    /// `zerobus.streams.open` metric in step with the slot.
    fn set_lane_stream(
        &self,
        lane: &lanes::Lane,
        slot: &mut Option<Current>,
        new: Option<Current>,
    ) {
        let change = i64::from(new.is_some()) - i64::from(slot.is_some());
        *slot = new;
        self.inner.lanes.set_open(lane.index, slot.is_some());
        if change != 0 {
            self.metric(|m, a| m.streams_open.add(change, a));
        }
    }

    /// Close streams in the background (idle lanes), after their last acknowledgements.
    fn close_streams(&self, streams: Vec<Current>) {
        for c in streams {
            self.metric(|m, a| m.streams_open.add(-1, a));
            tracing::debug!(table = %self.table(), generation = c.generation, "closing an idle stream");
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(close_stream(c.stream));
            }
        }
    }

    /// A new SDK stream for the table (span `zerobus.create_stream`) on `lane`; `None` and
    /// generation -1 for a private stream that is not shared with other sends.
    async fn open_stream(
        &self,
        generation: i64,
        lane: Option<usize>,
    ) -> std::result::Result<ZerobusStream, SdkError> {
        let schema = self
            .inner
            .schema
            .get()
            .ok_or_else(|| SdkError::InvalidStateError("schema not resolved".into()))?;
        let cfg = &self.inner.config;
        let span =
            tracing::info_span!("zerobus.create_stream", table = %cfg.table_name, lane = ?lane);
        let cx = self.start_span(
            "zerobus.create_stream",
            vec![
                KeyValue::new("zerobus.stream.generation", generation),
                KeyValue::new("zerobus.lane", lane.map_or(-1, |l| l as i64)),
            ],
        );
        let mut builder = self
            .inner
            .sdk
            .stream_builder()
            .table(cfg.table_name.as_str())
            .oauth(
                cfg.client_id.as_deref().unwrap_or_default(),
                cfg.client_secret
                    .as_ref()
                    .map(|s| s.expose())
                    .unwrap_or_default(),
            )
            .compiled_proto(schema.descriptor().clone())
            // The SDK's own recovery handles planned closes; our retry (with jitter) is
            // the outer loop, so the SDK gets a small budget and a short backoff.
            .recovery_retries(1)
            .recovery_backoff_ms(cfg.retry_base_delay_ms.max(10));
        if let Some(ms) = cfg.ack_timeout_ms {
            builder = builder.server_lack_of_ack_timeout_ms(ms);
        }
        let built = builder.build().instrument(span);
        let built = in_context(cx.as_ref(), built).await;
        if let Some(cx) = &cx {
            end_span(
                cx,
                built.as_ref().err().map(|e| e.to_string()).as_deref(),
                vec![],
            );
        }
        let stream = built?;
        self.metric(|m, a| m.streams_created.add(1, a));
        Ok(stream)
    }

    /// Drop `lane`'s stream if it is still the one of `generation` (it failed).
    async fn retire(&self, lane: &lanes::Lane, generation: u64) {
        let mut guard = lane.stream.lock().await;
        if guard.as_ref().is_some_and(|c| c.generation == generation) {
            self.set_lane_stream(lane, &mut guard, None);
        }
    }

    /// Streams the wrapper has open now (lanes with a stream).
    pub fn streams_open(&self) -> usize {
        self.inner.lanes.open_count()
    }

    /// Send one batch and wait until every row is durably acknowledged.
    ///
    /// Errors: [`ZerobusError::Conversion`] before anything is sent; after that, a failure
    /// carries the path of the dead-letter file holding the unacknowledged rows.
    pub async fn send_batch(&self, batch: &RecordBatch) -> Result<TransmissionResult> {
        self.send_batch_counted(batch).await.0
    }

    /// [`Self::send_batch`], with the account of the rows when it fails.
    pub(crate) async fn send_batch_counted(
        &self,
        batch: &RecordBatch,
    ) -> (Result<TransmissionResult>, BatchOutcome) {
        self.counted(batch, None).await
    }

    /// [`Self::send_batch_counted`] of rows `range` of an encoded batch (a part of a large
    /// batch that `send_all` spreads over the lanes).
    pub(crate) async fn send_part_counted(
        &self,
        batch: &RecordBatch,
        rows: &EncodedRows,
        range: (usize, usize),
    ) -> (Result<TransmissionResult>, BatchOutcome) {
        self.counted(batch, Some((rows, range))).await
    }

    /// One send (of `batch`, or of an encoded `part` of it), counted as in progress for
    /// `flush`, with the account of its rows.
    async fn counted(
        &self,
        batch: &RecordBatch,
        part: Option<Part<'_>>,
    ) -> (Result<TransmissionResult>, BatchOutcome) {
        let _send = self.inner.sends.start();
        let mut outcome = BatchOutcome::default();
        let result = self.send_batch_traced(batch, part, &mut outcome).await;
        if let Ok(r) = &result {
            outcome.acknowledged = r.rows;
        }
        (result, outcome)
    }

    async fn send_batch_traced(
        &self,
        batch: &RecordBatch,
        part: Option<Part<'_>>,
        outcome: &mut BatchOutcome,
    ) -> Result<TransmissionResult> {
        let n = part.map_or(batch.num_rows(), |(_, (s, e))| e - s);
        let span = tracing::info_span!(
            "zerobus.send_batch",
            table = %self.table(),
            rows = n,
            trace_id = tracing::field::Empty,
            span_id = tracing::field::Empty
        );
        let Some(t) = &self.inner.telemetry else {
            return self
                .send_batch_inner(batch, part, outcome)
                .instrument(span)
                .await;
        };
        let log_span = span.clone();
        let started = Instant::now();
        let cx = t.start(
            "zerobus.send_batch",
            vec![KeyValue::new("zerobus.rows", n as i64)],
        );
        // Log lines inside this call carry the trace's ids.
        let (trace_id, span_id) = crate::telemetry::ids(&cx);
        span.record("trace_id", tracing::field::display(&trace_id));
        span.record("span_id", tracing::field::display(&span_id));
        let result = in_context(Some(&cx), self.send_batch_inner(batch, part, outcome))
            .instrument(span)
            .await;
        let seconds = started.elapsed().as_secs_f64();
        let m = t.metrics();
        match &result {
            Ok(r) => {
                m.send_duration
                    .record(seconds, &t.attrs_with(KeyValue::new("outcome", "ok")));
                end_span(
                    &cx,
                    None,
                    vec![
                        KeyValue::new("zerobus.attempts", i64::from(r.attempts)),
                        KeyValue::new("zerobus.bytes", r.batch_size_bytes as i64),
                    ],
                );
            }
            Err(e) => {
                log_span.in_scope(|| tracing::debug!(kind = e.kind(), "send_batch failed: {e}"));
                m.send_duration
                    .record(seconds, &t.attrs_with(KeyValue::new("outcome", "error")));
                m.errors
                    .add(1, &t.attrs_with(KeyValue::new("error.kind", e.kind())));
                end_span(
                    &cx,
                    Some(&e.to_string()),
                    vec![KeyValue::new("error.kind", e.kind())],
                );
            }
        }
        result
    }

    async fn send_batch_inner(
        &self,
        batch: &RecordBatch,
        part: Option<Part<'_>>,
        outcome: &mut BatchOutcome,
    ) -> Result<TransmissionResult> {
        let started = Instant::now();
        if let Some((rows, range)) = part {
            return self.send_rows(batch, rows, range, outcome, started).await;
        }
        if batch.num_rows() == 0 && !self.inner.closed.load(Ordering::SeqCst) {
            return Ok(TransmissionResult {
                success: true,
                error: None,
                attempts: 0,
                latency_ms: Some(0),
                batch_size_bytes: 0,
                rows: 0,
                ack_offset: None,
            });
        }
        let rows = self.encode_checked(batch, outcome).await?;
        self.send_rows(batch, &rows, (0, rows.len()), outcome, started)
            .await
    }

    /// Everything before sending: the wrapper is open, the table's schema is known (UC
    /// look-up retried; when it fails for good the batch is dead-lettered), the batch is
    /// encoded and checked (span `zerobus.encode`), and written to the debug files.
    pub(crate) async fn encode_checked(
        &self,
        batch: &RecordBatch,
        outcome: &mut BatchOutcome,
    ) -> Result<EncodedRows> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(ZerobusError::Transmission(format!(
                "the wrapper for table '{}' was shut down; create a new one",
                self.table()
            )));
        }
        self.resolve_schema(batch, outcome).await?;
        let cx = self.start_span("zerobus.encode", vec![]);
        let encoded = self.encode(batch).await;
        if let Some(cx) = &cx {
            let error = encoded.as_ref().err().map(|e| e.to_string());
            let bytes = encoded.as_ref().map_or(0, |r| r.total_bytes() as i64);
            end_span(
                cx,
                error.as_deref(),
                vec![KeyValue::new("zerobus.bytes", bytes)],
            );
        }
        let rows = encoded?;
        tracing::debug!(
            rows = rows.len(),
            bytes = rows.total_bytes(),
            "encoded; sending"
        );
        if let Some(debug) = &self.inner.debug {
            debug.record(batch, &rows)?;
        }
        Ok(rows)
    }

    /// Send rows `range` of the encoded `batch` on a lane, retrying, and wait for their
    /// acknowledgements; what cannot be delivered goes to a dead-letter file (rows of
    /// `batch` in `range` coordinates, so a part of a batch dead-letters only its rows).
    async fn send_rows(
        &self,
        batch: &RecordBatch,
        rows: &EncodedRows,
        range: (usize, usize),
        outcome: &mut BatchOutcome,
        started: Instant,
    ) -> Result<TransmissionResult> {
        let n = range.1 - range.0;
        let _in_flight = InFlight {
            counter: self.inner.telemetry.as_ref().map(|t| {
                let c = t.metrics().rows_in_flight.clone();
                c.add(n as i64, t.attrs());
                (c, [t.attrs()[0].clone()])
            }),
            rows: n as i64,
        };
        self.metric(|m, a| m.batches_sent.add(1, a));
        let bytes = rows.offsets()[range.1] - rows.offsets()[range.0];
        let chunks = chunk(rows, range);
        // The lane is held until this send ends, also while it retries.
        let (ticket, idle) = self.inner.lanes.choose();
        self.close_streams(idle);
        let lane = &ticket.lane;
        let mut first_unacked = 0usize;
        let mut attempt = 0u32;
        let mut auth_retry_used = false;
        let mut last_offset = None;
        let max = self.inner.config.retry_max_attempts;
        // After the service refused a request on the shared stream, the batch is resent
        // alone on a private stream: refused again, its own records were the cause (final);
        // accepted, it was a neighbour's, and this batch lands.
        let mut isolated = false;
        loop {
            attempt += 1;
            let todo = &chunks[first_unacked..];
            let sent = if isolated {
                match self.open_stream(-1, None).await {
                    Err(e) => Err(classify(&e)),
                    Ok(mut stream) => {
                        let r = self
                            .send_chunks(
                                &stream,
                                (None, attempt),
                                rows,
                                todo,
                                &mut first_unacked,
                                &mut last_offset,
                            )
                            .await;
                        if let Err(e) = stream.close().await {
                            tracing::debug!(error = %e, "closing a private stream");
                        }
                        r.map_err(|e| classify(&e))
                    }
                }
            } else {
                match self.current_stream(lane).await {
                    Err(e) => Err(classify(&e)),
                    Ok(current) => match self
                        .send_chunks(
                            &current.stream,
                            (Some(lane.index), attempt),
                            rows,
                            todo,
                            &mut first_unacked,
                            &mut last_offset,
                        )
                        .await
                    {
                        Ok(()) => Ok(()),
                        Err(e) => {
                            self.retire(lane, current.generation).await;
                            Err(match classify(&e) {
                                Failure::Final(m) => Failure::Isolate(m),
                                other => other,
                            })
                        }
                    },
                }
            };
            let failure = match sent {
                Ok(()) => {
                    return Ok(TransmissionResult {
                        success: true,
                        error: None,
                        attempts: attempt,
                        latency_ms: Some(started.elapsed().as_millis() as u64),
                        batch_size_bytes: bytes,
                        rows: n,
                        ack_offset: last_offset,
                    });
                }
                Err(f) => f,
            };
            let pending = (chunks.get(first_unacked).map_or(range.1, |c| c.0), range.1);
            let remaining = pending.1 - pending.0;
            match failure {
                Failure::Isolate(m) => {
                    isolated = true;
                    tracing::warn!(table = %self.table(), attempt, remaining, error = %m,
                        "the service refused a request on the shared stream; resending this batch on a stream of its own");
                    self.metric(|m, a| {
                        m.retries
                            .add(1, &[a[0].clone(), KeyValue::new("error.kind", "refused")]);
                    });
                }
                Failure::Retry(m) | Failure::Token(m) if attempt < max => {
                    let wait = self.inner.backoff.delay(attempt);
                    tracing::warn!(table = %self.table(), attempt, max, remaining, ?wait, error = %m, "retrying");
                    self.backoff_span(attempt, "transient", &m, wait).await;
                }
                Failure::Auth(m) if !auth_retry_used => {
                    // The SDK drops a rejected token; the next stream fetches a fresh one.
                    auth_retry_used = true;
                    tracing::warn!(table = %self.table(), error = %m, "credentials rejected; retrying once with a fresh token");
                    self.backoff_span(attempt, "authentication", &m, Duration::ZERO)
                        .await;
                }
                failure => {
                    outcome.acknowledged = pending.0 - range.0;
                    let written = self.dead_letter(batch, pending, outcome);
                    let place = match &written {
                        Ok(p) => format!("{remaining} unacknowledged rows were written to {}", p.display()),
                        Err(e) => format!("{remaining} unacknowledged rows could not be written to a dead-letter file: {e}"),
                    };
                    let (dead_letter, dead_letter_error) = match written {
                        Ok(p) => (Some(p), None),
                        Err(e) => (None, Some(e)),
                    };
                    let table = self.table();
                    return Err(match failure {
                        Failure::Retry(message) => ZerobusError::RetryExhausted {
                            message: format!("table '{table}': {message}"),
                            attempts: attempt,
                            rows: remaining,
                            dead_letter,
                            dead_letter_error,
                        },
                        Failure::Token(m) => {
                            ZerobusError::TokenRefresh(format!("table '{table}': {m} (after {attempt} attempts); {place}"))
                        }
                        Failure::Auth(m) | Failure::Credentials(m) => ZerobusError::Authentication(format!(
                            "table '{table}': {m}; check the client id and secret and the table grants; {place}"
                        )),
                        Failure::Final(m) | Failure::Isolate(m) => {
                            ZerobusError::Transmission(format!("table '{table}': the service refused the records: {m}; {place}"))
                        }
                    });
                }
            }
        }
    }
}

/// Close a stream once nobody else holds it (a holder still sending drops it when done).
async fn close_stream(stream: Arc<ZerobusStream>) {
    if let Ok(mut stream) = Arc::try_unwrap(stream) {
        if let Err(e) = stream.close().await {
            tracing::debug!(error = %e, "closing a stream");
        }
    }
}

/// Rows `range` of `rows` cut into ingest requests of at most [`CHUNK_BYTES`] bytes and
/// [`CHUNK_ROWS`] rows (a larger record goes alone).
fn chunk(rows: &EncodedRows, range: (usize, usize)) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = range.0;
    let mut bytes = 0;
    for i in range.0..range.1 {
        let len = rows.row(i).len();
        if i > start && (bytes + len > CHUNK_BYTES || i - start >= CHUNK_ROWS) {
            out.push((start, i));
            start = i;
            bytes = 0;
        }
        bytes += len;
    }
    if start < range.1 {
        out.push((start, range.1));
    }
    out
}

impl ZerobusWrapper {
    /// Send `chunks` (span `zerobus.ingest`) and wait for their acknowledgements in order
    /// (span `zerobus.flush`); `acked` counts the chunks acknowledged so far (acks are
    /// cumulative, so the unacknowledged ones are a suffix).
    /// `(lane, attempt)` is for the spans: the lane's index (`None`: a private stream) and
    /// the attempt's number.
    async fn send_chunks(
        &self,
        stream: &ZerobusStream,
        (lane, attempt): (Option<usize>, u32),
        rows: &EncodedRows,
        chunks: &[(usize, usize)],
        acked: &mut usize,
        last: &mut Option<i64>,
    ) -> std::result::Result<(), SdkError> {
        let attempt_kv = || KeyValue::new("zerobus.attempt", i64::from(attempt));
        let pending_rows = |c: &[(usize, usize)]| c.iter().map(|(s, e)| e - s).sum::<usize>();
        let cx = self.start_span(
            "zerobus.ingest",
            vec![
                attempt_kv(),
                KeyValue::new("zerobus.rows", pending_rows(chunks) as i64),
                KeyValue::new("zerobus.lane", lane.map_or(-1, |l| l as i64)),
            ],
        );
        let mut offsets = Vec::with_capacity(chunks.len());
        let mut send_error = None;
        for (s, e) in chunks {
            let records = (*s..*e).map(|i| ProtoBytes(rows.row(i).to_vec()));
            let sent = stream.ingest_records_offset(records);
            match in_context(cx.as_ref(), sent).await {
                Ok(off) => {
                    self.metric(|m, a| {
                        m.rows_sent.add((e - s) as u64, a);
                        m.bytes_sent
                            .add((*s..*e).map(|i| rows.row(i).len() as u64).sum(), a);
                    });
                    if let Some(off) = off {
                        offsets.push((off, e - s));
                    }
                }
                Err(err) => {
                    send_error = Some(err);
                    break;
                }
            }
        }
        if let Some(cx) = &cx {
            end_span(
                cx,
                send_error.as_ref().map(|e| e.to_string()).as_deref(),
                vec![],
            );
        }
        let cx = self.start_span("zerobus.flush", vec![attempt_kv()]);
        let mut waited = Ok(());
        // The SDK re-creates a stream whose acks are late and resends, without end when
        // every ack is later than its timeout: our own deadline turns that into a retry
        // (and, when attempts run out, a dead-letter file) instead of a wait forever.
        let deadline = Duration::from_millis(
            self.inner
                .config
                .ack_timeout_ms
                .unwrap_or(SDK_ACK_TIMEOUT_MS)
                .saturating_mul(3),
        );
        for (off, n) in offsets {
            let wait = tokio::time::timeout(deadline, stream.wait_for_offset(off));
            let waited_one = match in_context(cx.as_ref(), wait).await {
                Ok(r) => r,
                Err(_) => Err(SdkError::ConnectionTimeout(format!(
                    "no acknowledgement of offset {off} within {} ms (3 x the ack timeout)",
                    deadline.as_millis()
                ))),
            };
            if let Err(e) = waited_one {
                waited = Err(e);
                break;
            }
            *acked += 1;
            *last = Some(off);
            self.metric(|m, a| m.rows_acknowledged.add(n as u64, a));
        }
        if let Some(cx) = &cx {
            end_span(
                cx,
                waited.as_ref().err().map(|e| e.to_string()).as_deref(),
                vec![],
            );
        }
        waited?;
        match send_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Wait `wait` before attempt `attempt + 1`, in a `zerobus.retry` span, and count it.
    async fn backoff_span(&self, attempt: u32, kind: &'static str, error: &str, wait: Duration) {
        self.metric(|m, a| {
            m.retries
                .add(1, &[a[0].clone(), KeyValue::new("error.kind", kind)]);
        });
        let cx = self.start_span(
            "zerobus.retry",
            vec![
                KeyValue::new("zerobus.attempt", i64::from(attempt)),
                KeyValue::new("error.kind", kind),
                KeyValue::new("zerobus.backoff_ms", wait.as_millis() as i64),
            ],
        );
        if let Some(cx) = &cx {
            cx.span().add_event(
                "failure",
                vec![KeyValue::new("exception.message", error.to_string())],
            );
        }
        tokio::time::sleep(wait).await;
        if let Some(cx) = cx {
            end_span(&cx, None, vec![]);
        }
    }
}

impl ZerobusWrapper {
    /// Wait until every `send_batch` that began before this call has ended — its rows
    /// acknowledged or dead-lettered, also when it was retrying after its stream was
    /// replaced — and flush the debug files. (A send returns only once its own rows are
    /// acknowledged, so nothing else is left to wait for on the stream.)
    pub async fn flush(&self) -> Result<()> {
        self.inner.sends.wait_for_earlier().await;
        if let Some(d) = &self.inner.debug {
            d.flush();
        }
        Ok(())
    }

    /// Flush, close every lane's stream and the debug files. Later `send_batch` calls
    /// fail.
    pub async fn shutdown(&self) -> Result<()> {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.sends.wait_for_earlier().await;
        let mut result = Ok(());
        for c in self.inner.lanes.take_all().await {
            self.metric(|m, a| m.streams_open.add(-1, a));
            if let Err(e) = c.stream.flush().await {
                result = Err(ZerobusError::Transmission(format!(
                    "shutdown of table '{}': flush failed: {e}",
                    self.table()
                )));
            }
            close_stream(c.stream).await;
        }
        if let Some(d) = &self.inner.debug {
            d.close();
        }
        if let Some(t) = &self.inner.telemetry {
            t.flush().await;
        }
        result
    }

    /// Send the rows of a dead-letter file again — or of every `*.dead.arrow` file of a
    /// directory — and return the rows acknowledged. A replayed file is renamed with a
    /// `.replayed` suffix once each of its rows is acknowledged or in a new dead-letter
    /// file: a replay that fails part-way leaves no file whose rows were both re-sent and
    /// kept (the error names the new files).
    pub async fn replay_dead_letters(&self, path: &Path) -> Result<usize> {
        let mut rows = 0;
        for file in dead_letter_files(path)? {
            rows += self.replay_file(&file).await?;
        }
        Ok(rows)
    }

    async fn replay_file(&self, path: &Path) -> Result<usize> {
        let (table, batches) = read_dead_letters(path)?;
        if let Some(t) = table {
            if !t.eq_ignore_ascii_case(self.table()) {
                return Err(ZerobusError::Configuration(format!(
                    "{} holds rows for table '{t}', not '{}'",
                    path.display(),
                    self.table()
                )));
            }
        }
        let total: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
        let retire = |path: &Path| {
            let done = PathBuf::from(format!("{}.replayed", path.display()));
            std::fs::rename(path, &done).map_err(|e| {
                ZerobusError::Configuration(format!(
                    "replayed, but cannot rename {}: {e}; remove it by hand so that it is not replayed twice",
                    path.display()
                ))
            })
        };
        let mut acknowledged = 0usize;
        for (k, b) in batches.iter().enumerate() {
            let (result, outcome) = self.send_batch_counted(b).await;
            let error = match result {
                Ok(r) => {
                    acknowledged += r.rows;
                    continue;
                }
                Err(e) => e,
            };
            acknowledged += outcome.acknowledged;
            let mut dead_letters: Vec<PathBuf> = outcome.dead_letter.iter().cloned().collect();
            // What is neither acknowledged nor in the failed batch's own dead-letter file.
            let mut rest: Vec<RecordBatch> = Vec::new();
            if outcome.dead_letter.is_none() && outcome.acknowledged < b.num_rows() {
                rest.push(b.slice(outcome.acknowledged, b.num_rows() - outcome.acknowledged));
            }
            rest.extend(batches[k + 1..].iter().cloned());
            let rest_rows: usize = rest.iter().map(|b| b.num_rows()).sum();
            if !rest.is_empty() {
                let written =
                    write_dead_letters(&self.inner.config.dead_letter_dir(), self.table(), &rest)
                        .map_err(|we| {
                            ZerobusError::Configuration(format!(
                                "replay of {} stopped ({error}) and the rows not yet sent could not be \
                                 saved ({we}); {} is kept and holds {acknowledged} rows that were re-sent",
                                path.display(),
                                path.display()
                            ))
                        })?;
                dead_letters.push(written);
            }
            retire(path)?;
            return Err(ZerobusError::LoadIncomplete(Box::new(LoadFailure {
                source: error,
                rows_read: total,
                rows_acknowledged: acknowledged as u64,
                rows_dead_lettered: (outcome.dead_lettered + rest_rows) as u64,
                rows_unaccounted: 0,
                dead_letters,
                input_complete: true,
            })));
        }
        retire(path)?;
        Ok(acknowledged)
    }

    /// Resolve the table's schema (the UC look-up on first use), retrying what may be
    /// transient (UC unreachable, the token endpoint failing) with the same backoff as
    /// sends. When attempts run out, or the credentials are refused, the batch goes to a
    /// dead-letter file: a batch handed to us is never dropped without one.
    async fn resolve_schema(&self, batch: &RecordBatch, outcome: &mut BatchOutcome) -> Result<()> {
        let max = self.inner.config.retry_max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let e = match self.table_schema(batch).await {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let transient = matches!(
                e,
                ZerobusError::Connection(_) | ZerobusError::TokenRefresh(_)
            );
            if transient && attempt < max {
                tracing::warn!(table = %self.table(), attempt, error = %e, "table schema unavailable; retrying");
                let wait = self.inner.backoff.delay(attempt);
                self.backoff_span(attempt, "table_schema", &e.to_string(), wait)
                    .await;
                continue;
            }
            if !transient && !matches!(e, ZerobusError::Authentication(_)) {
                return Err(e);
            }
            let rows = batch.num_rows();
            let place = match self.dead_letter(batch, (0, rows), outcome) {
                Ok(p) => format!("{rows} rows were written to {}", p.display()),
                Err(e) => format!("{rows} rows could not be written to a dead-letter file: {e}"),
            };
            // The kind stays what went wrong; the message says where the rows are.
            return Err(match e {
                ZerobusError::Authentication(m) => {
                    ZerobusError::Authentication(format!("{m} (after {attempt} attempts); {place}"))
                }
                ZerobusError::TokenRefresh(m) => {
                    ZerobusError::TokenRefresh(format!("{m} (after {attempt} attempts); {place}"))
                }
                ZerobusError::Connection(m) => {
                    ZerobusError::Connection(format!("{m} (after {attempt} attempts); {place}"))
                }
                other => other,
            });
        }
    }

    /// Write rows `rows.0..rows.1` of `batch` to a new dead-letter file, noting it in
    /// `outcome`; the error text says why the file could not be written.
    fn dead_letter(
        &self,
        batch: &RecordBatch,
        rows: (usize, usize),
        outcome: &mut BatchOutcome,
    ) -> std::result::Result<PathBuf, String> {
        let n = rows.1 - rows.0;
        let slice = batch.slice(rows.0, n);
        match write_dead_letters(&self.inner.config.dead_letter_dir(), self.table(), &[slice]) {
            Ok(p) => {
                self.metric(|m, a| m.rows_dead_lettered.add(n as u64, a));
                outcome.dead_letter = Some(p.clone());
                outcome.dead_lettered = n;
                Ok(p)
            }
            Err(e) => {
                tracing::error!(table = %self.table(), error = %e, rows = n, "could not write dead letters");
                outcome.unaccounted = n;
                Err(e.to_string())
            }
        }
    }
}

/// Rows `range` of a batch, already encoded.
type Part<'a> = (&'a EncodedRows, (usize, usize));

/// What became of a batch's rows: acknowledged, in a dead-letter file, or neither (the
/// dead-letter file could not be written).
#[derive(Debug, Default, Clone)]
pub(crate) struct BatchOutcome {
    pub acknowledged: usize,
    pub dead_lettered: usize,
    pub unaccounted: usize,
    pub dead_letter: Option<PathBuf>,
}
