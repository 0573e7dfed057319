//! [`ZerobusWrapper`]: Arrow batches in, durably acknowledged Zerobus records out.
//!
//! `send_batch` encodes the batch for the wrapper's transport (protobuf records, columnar,
//! or the table's Arrow Flight batch; see [`crate::convert`] and [`crate::Transport`]),
//! checks every row against the 10 MiB limit before anything is sent, then sends it in
//! chunks on one of the wrapper's streams (a lane, see [`LANE_BACKLOG`]) and waits for
//! their acknowledgements. A retryable failure re-creates that lane's stream and resends
//! only the chunks that were not acknowledged, after an exponential backoff with full
//! jitter. When attempts run out (or the service refuses the records for good) the
//! unacknowledged rows are written to a dead-letter file named in the error.

mod chunks;
mod classify;
mod interrupt;
mod lanes;
mod payload;
mod replay;
mod retry;
mod sdk_stream;
mod send_all;
mod sends;
mod streams;
mod tls;
mod watch;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use databricks_zerobus_ingest_sdk::{SecureTlsConfig, TlsConfig, ZerobusSdk};
use opentelemetry::{Context, KeyValue};
use tracing::Instrument;

use classify::{classify, Cause, Failure};
pub use interrupt::Interrupt;
pub use lanes::{LANE_BACKLOG, LANE_IDLE};
use sdk_stream::close_stream;
pub use send_all::{LoadProgress, LoadSummary, Progress, MAX_IN_FLIGHT};
#[doc(hidden)] // for the benchmark's official-SDK contender (examples/official_sdk.rs)
pub use tls::PlainText;
pub use watch::LoadWatch;

use crate::backoff::Backoff;
use crate::config::{SchemaSource, Transport, WrapperConfig};
use crate::convert::{EncodedRows, FlightEncoder, RowEncoder, TableSchema};
use crate::dead_letter::write_dead_letters_at;
use crate::debug::DebugSpool;
use crate::error::{Detail, Result, ZerobusError};
use crate::telemetry::{end_span, in_context, Instruments, Telemetry};
pub(crate) use payload::Payload;

/// Largest record that can be sent: the SDK refuses any ingest request whose records
/// exceed 10 MiB − 64 KiB (its `MAX_INGEST_PAYLOAD_BYTES`, kept under the service's 10 MiB
/// message limit), so a larger record is a ConversionError before anything is sent.
pub const MAX_RECORD_BYTES: usize = 10 * 1024 * 1024 - 64 * 1024;

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
    /// Where dead letters go (`dead_letter_path`, a directory or an object-store prefix).
    dead_letters: crate::store::Place,
    closed: AtomicBool,
    /// Set by [`ZerobusWrapper::give_up`]: sends stop waiting and dead-letter.
    gave_up: Interrupt,
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
/// concurrent `send_batch` calls encode in parallel and share the wrapper's streams (lanes).
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
        let wrapper = ZerobusWrapper {
            inner: Arc::new(Inner {
                config,
                sdk,
                schema: tokio::sync::OnceCell::new(),
                lanes,
                generation: AtomicU64::new(0),
                debug,
                dead_letters,
                closed: AtomicBool::new(false),
                gave_up: Interrupt::new(),
                backoff,
                telemetry,
                sends: sends::Sends::default(),
            }),
        };
        wrapper.close_idle_lanes_in_the_background();
        Ok(wrapper)
    }

    /// Close the streams of lanes idle for [`LANE_IDLE`] even when no send comes to notice
    /// them: a task checks every half of it while the wrapper lives and is not shut down.
    /// Without a Tokio runtime at hand, idle lanes close at the next send instead.
    fn close_idle_lanes_in_the_background(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let inner = Arc::downgrade(&self.inner);
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(LANE_IDLE / 2).await;
                // The task does not keep the wrapper alive: once every handle is dropped,
                // it ends.
                let Some(inner) = inner.upgrade() else { break };
                if inner.closed.load(Ordering::SeqCst) {
                    break;
                }
                let wrapper = ZerobusWrapper { inner };
                let idle = wrapper.inner.lanes.take_idle();
                wrapper.close_streams(idle);
            }
        });
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

    /// Await `fut` in a new span `name` (a child of the current context; no span when
    /// telemetry is off), ended with the error and the attributes `close` reads off the
    /// result. Spans started inside `fut` are its children.
    pub(crate) async fn in_span<T>(
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
                        let columns = crate::unity_catalog::table_columns(&inner.config).await?;
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
        let mut encoder = RowEncoder::new(schema, &batch.schema())?
            .with_null_collections(self.inner.config.null_collections);
        encoder.encode_batch(batch)?;
        let rows = encoder.take_rows();
        if let Some((i, r)) = rows
            .iter()
            .enumerate()
            .find(|(_, r)| r.len() > MAX_RECORD_BYTES)
        {
            return Err(ZerobusError::Conversion(format!(
                "table '{}', row {i}: the row is {} bytes, over Zerobus's {MAX_RECORD_BYTES}-byte limit",
                self.table(),
                r.len()
            ).into()));
        }
        Ok(rows)
    }

    /// `batch` in the table's Arrow Flight schema (what the `flight` transport sends):
    /// every problem is found before anything is sent, as for [`Self::encode`].
    pub async fn encode_flight(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let schema = self.table_schema(batch).await?;
        let sent = FlightEncoder::new(schema, &batch.schema())?.encode_batch(batch)?;
        check_row_sizes(self.table(), &sent)?;
        Ok(sent)
    }

    /// The batch encoded for the wrapper's transport.
    async fn encode_payload(&self, batch: &RecordBatch) -> Result<Payload> {
        Ok(match self.inner.config.transport {
            Transport::Proto => Payload::Proto(self.encode(batch).await?),
            Transport::Flight => Payload::Flight(self.encode_flight(batch).await?),
        })
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
        rows: &Payload,
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
        if self.inner.gave_up.is_set() {
            let range = part.map_or((0, batch.num_rows()), |(_, range)| range);
            return Err(self.given_up(batch, range, outcome).await);
        }
        if let Some((rows, range)) = part {
            if self.inner.closed.load(Ordering::SeqCst) {
                return Err(self.unsent_after_shutdown(batch, range, outcome).await);
            }
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
    ) -> Result<Payload> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(ZerobusError::Transmission(
                format!(
                    "the wrapper for table '{}' was shut down; create a new one",
                    self.table()
                )
                .into(),
            ));
        }
        self.resolve_schema(batch, outcome).await?;
        let rows = self
            .in_span("zerobus.encode", vec![], self.encode_payload(batch), |r| {
                let bytes = r.as_ref().map_or(0, |r| r.bytes((0, r.len())) as i64);
                (
                    r.as_ref().err().map(|e| e.to_string()),
                    vec![KeyValue::new("zerobus.bytes", bytes)],
                )
            })
            .await?;
        tracing::debug!(
            rows = rows.len(),
            bytes = rows.bytes((0, rows.len())),
            "encoded; sending"
        );
        if let Some(debug) = &self.inner.debug {
            match &rows {
                Payload::Proto(encoded) => debug.record(batch, encoded)?,
                Payload::Flight(sent) => debug.record_flight(batch, sent)?,
            }
        }
        Ok(rows)
    }

    /// Send rows `range` of the encoded `batch` on a lane, retrying, and wait for their
    /// acknowledgements; what cannot be delivered goes to a dead-letter file (rows of
    /// `batch` in `range` coordinates, so a part of a batch dead-letters only its rows).
    async fn send_rows(
        &self,
        batch: &RecordBatch,
        rows: &Payload,
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
        let bytes = rows.bytes(range);
        let chunks = rows.parts(range);
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
            let pending = |first_unacked: usize| {
                (chunks.get(first_unacked).map_or(range.1, |c| c.0), range.1)
            };
            if self.inner.gave_up.is_set() {
                outcome.acknowledged = pending(first_unacked).0 - range.0;
                return Err(self.given_up(batch, pending(first_unacked), outcome).await);
            }
            attempt += 1;
            let todo = &chunks[first_unacked..];
            let attempted = async {
                if isolated {
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
                }
            };
            // Given up (Ctrl-C twice over): the attempt is dropped where it stands, the
            // rows it had acknowledged stay counted, the rest is dead-lettered above.
            let sent = tokio::select! {
                biased;
                sent = attempted => sent,
                _ = self.inner.gave_up.wait() => continue,
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
            let pending = pending(first_unacked);
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
                    let written = self.dead_letter(batch, pending, outcome).await;
                    let place = match &written {
                        Ok(p) => format!("{remaining} unacknowledged rows were written to {}", p.display()),
                        Err(e) => format!("{remaining} unacknowledged rows could not be written to a dead-letter file: {e}"),
                    };
                    let (dead_letter, dead_letter_error) = match written {
                        Ok(p) => (Some(p), None),
                        Err(e) => (None, Some(e)),
                    };
                    let table = self.table();
                    // The SDK's error stays the source of the one the caller sees.
                    let said =
                        |m: &Cause, text: String| Detail::new(text).caused_by_shared(m.sdk());
                    return Err(match failure {
                        Failure::Retry(m) => ZerobusError::RetryExhausted {
                            message: said(&m, format!("table '{table}': {m}")),
                            attempts: attempt,
                            rows: remaining,
                            dead_letter,
                            dead_letter_error,
                        },
                        Failure::Token(m) => ZerobusError::TokenRefresh(said(
                            &m,
                            format!("table '{table}': {m} (after {attempt} attempts); {place}"),
                        )),
                        Failure::Auth(m) | Failure::Credentials(m) => ZerobusError::Authentication(said(
                            &m,
                            format!("table '{table}': {m}; check the client id and secret and the table grants; {place}"),
                        )),
                        Failure::Final(m) | Failure::Isolate(m) => ZerobusError::Transmission(said(
                            &m,
                            format!("table '{table}': the service refused the records: {m}; {place}"),
                        )),
                    });
                }
            }
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

    /// Stop waiting: the sends in progress stop retrying and waiting for
    /// acknowledgements, and write the rows not acknowledged to dead-letter files (rows that
    /// were sent may land as well: at-least-once); sends that begin later write theirs at
    /// once. What `zerobus-sql` does when the batches in flight have not settled a while
    /// after Ctrl-C ([`Interrupt::give_up`] reaches the wrappers of the loads watching it).
    /// The wrapper is shut down for further use; [`Self::shutdown`] then closes the streams
    /// without waiting for them.
    pub fn give_up(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.gave_up.give_up();
    }

    /// Flush, close every lane's stream and the debug files. Later `send_batch` calls
    /// fail. After [`Self::give_up`] the streams are dropped without a flush.
    pub async fn shutdown(&self) -> Result<()> {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.sends.wait_for_earlier().await;
        let mut result = Ok(());
        for c in self.inner.lanes.take_all().await {
            self.metric(|m, a| m.streams_open.add(-1, a));
            if self.inner.gave_up.is_set() {
                continue;
            }
            if let Err(e) = c.stream.flush().await {
                let text = format!("shutdown of table '{}': flush failed: {e}", self.table());
                result = Err(ZerobusError::Transmission(Detail::new(text).caused_by(e)));
            }
            close_stream(c.stream).await;
        }
        if let Some(d) = &self.inner.debug {
            d.close();
            if let Err(e) = d.upload_finished().await {
                tracing::error!(table = %self.table(), error = %e, "could not upload debug files");
            }
        }
        if let Some(t) = &self.inner.telemetry {
            t.flush().await;
        }
        result
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
            if transient && attempt < max && !self.inner.gave_up.is_set() {
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
            let place = match self.dead_letter(batch, (0, rows), outcome).await {
                Ok(p) => format!("{rows} rows were written to {}", p.display()),
                Err(e) => format!("{rows} rows could not be written to a dead-letter file: {e}"),
            };
            // The kind stays what went wrong; the message says where the rows are.
            let said = |m: &Detail| m.reworded(format!("{m} (after {attempt} attempts); {place}"));
            return Err(match e {
                ZerobusError::Authentication(m) => ZerobusError::Authentication(said(&m)),
                ZerobusError::TokenRefresh(m) => ZerobusError::TokenRefresh(said(&m)),
                ZerobusError::Connection(m) => ZerobusError::Connection(said(&m)),
                other => other,
            });
        }
    }

    /// Rows `range` of `batch` that a send given up on ([`Self::give_up`]) had not seen
    /// acknowledged: dead-lettered, and the error says where.
    async fn given_up(
        &self,
        batch: &RecordBatch,
        range: (usize, usize),
        outcome: &mut BatchOutcome,
    ) -> ZerobusError {
        let n = range.1 - range.0;
        let went = match self.dead_letter(batch, range, outcome).await {
            Ok(p) => format!("written to {}", p.display()),
            Err(e) => format!("not written to a dead-letter file either ({e})"),
        };
        ZerobusError::Transmission(
            format!(
                "table '{}': gave up waiting for the batches in flight after the interrupt; {n} \
                 rows not acknowledged were {went} (those already sent may land as well)",
                self.table()
            )
            .into(),
        )
    }

    /// A part of a split batch that reached the wrapper after `shutdown`: never sent (no
    /// stream is opened after shutdown), its rows dead-lettered.
    async fn unsent_after_shutdown(
        &self,
        batch: &RecordBatch,
        range: (usize, usize),
        outcome: &mut BatchOutcome,
    ) -> ZerobusError {
        let n = range.1 - range.0;
        let went = match self.dead_letter(batch, range, outcome).await {
            Ok(p) => format!("written to {}", p.display()),
            Err(e) => format!("not written to a dead-letter file either ({e})"),
        };
        ZerobusError::Transmission(
            format!(
                "the wrapper for table '{}' was shut down; {n} rows of a split batch were not sent, {went}",
                self.table()
            )
            .into(),
        )
    }

    /// Write rows `rows.0..rows.1` of `batch` to a new dead-letter file, noting it in
    /// `outcome`; the error text says why the file could not be written.
    async fn dead_letter(
        &self,
        batch: &RecordBatch,
        rows: (usize, usize),
        outcome: &mut BatchOutcome,
    ) -> std::result::Result<PathBuf, String> {
        let n = rows.1 - rows.0;
        let slice = batch.slice(rows.0, n);
        match write_dead_letters_at(&self.inner.dead_letters, self.table(), &[slice]).await {
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
type Part<'a> = (&'a Payload, (usize, usize));

/// Refuse a row of a Flight batch that no message could carry: its values, over every
/// column and nesting level ([`crate::convert::row_bytes`]), over [`MAX_RECORD_BYTES`] —
/// the limit the protobuf transport applies to its records, with the same words.
fn check_row_sizes(table: &str, batch: &RecordBatch) -> Result<()> {
    let sizes = crate::convert::row_bytes(batch);
    match sizes.iter().position(|n| *n > MAX_RECORD_BYTES) {
        None => Ok(()),
        Some(i) => Err(ZerobusError::Conversion(
            format!(
                "table '{table}', row {i}: the row is {} bytes, over Zerobus's {MAX_RECORD_BYTES}-byte limit",
                sizes[i]
            )
            .into(),
        )),
    }
}

/// What became of a batch's rows: acknowledged, in a dead-letter file, or neither (the
/// dead-letter file could not be written).
#[derive(Debug, Default, Clone)]
pub(crate) struct BatchOutcome {
    pub acknowledged: usize,
    pub dead_lettered: usize,
    pub unaccounted: usize,
    pub dead_letter: Option<PathBuf>,
}
