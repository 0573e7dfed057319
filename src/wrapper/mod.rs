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

mod budget;
mod chunks;
mod classify;
mod inner;
mod interrupt;
mod lanes;
mod outcome;
mod payload;
mod plans;
mod prepare;
mod replay;
mod retry;
mod sdk_stream;
mod send;
mod send_all;
mod sends;
mod streams;
mod tls;
mod watch;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use futures::Stream;
use opentelemetry::KeyValue;

use inner::Inner;
pub use interrupt::Interrupt;
pub use lanes::{LANE_BACKLOG, LANE_IDLE};
pub use outcome::TransmissionResult;
pub use prepare::MAX_RECORD_BYTES;
pub use send_all::{LoadProgress, LoadSummary, Progress, Receipt, Receipts, MAX_IN_FLIGHT};
#[doc(hidden)] // for the benchmark's official-SDK contender (examples/official_sdk.rs)
pub use tls::PlainText;
pub use watch::LoadWatch;

use crate::config::WrapperConfig;
use crate::convert::{EncodedRows, TableSchema};
use crate::error::Result;

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
        Ok(ZerobusWrapper {
            inner: Inner::new(config)?,
        })
    }

    /// The same wrapper with the table's schema already known (looked up from Unity
    /// Catalog by the caller, e.g. a catalog while planning an INSERT): its first send
    /// skips the look-up. Ignored when the wrapper takes its schema from the batches
    /// (`SchemaSource::ArrowSchema`) or has looked the table up already.
    pub fn with_table_schema(self, schema: TableSchema) -> ZerobusWrapper {
        if self.inner.config.schema_source == crate::config::SchemaSource::UnityCatalog {
            let _ = self.inner.schema.set(schema);
        }
        self
    }

    /// The configuration.
    pub fn config(&self) -> &WrapperConfig {
        &self.inner.config
    }

    /// Debug files written so far (empty when debug output is off).
    pub fn debug_files(&self) -> Vec<PathBuf> {
        self.inner.debug_files()
    }

    /// Encode `batch` for the table: every problem is found before anything is sent.
    pub async fn encode(&self, batch: &RecordBatch) -> Result<EncodedRows> {
        self.inner.encode(batch).await
    }

    /// `batch` in the table's Arrow Flight schema (what the `flight` transport sends):
    /// every problem is found before anything is sent, as for [`Self::encode`].
    pub async fn encode_flight(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        self.inner.encode_flight(batch).await
    }

    /// Send one batch and wait until every row is durably acknowledged. Concurrent sends
    /// share the wrapper's `max_inflight_bytes`: a send waits for room in it first.
    ///
    /// Errors: [`ZerobusError::Conversion`] before anything is sent; after that, a failure
    /// carries the path of the dead-letter file holding the unacknowledged rows.
    pub async fn send_batch(&self, batch: &RecordBatch) -> Result<TransmissionResult> {
        let _room = self.inner.budget.take(budget::arrow_bytes(batch)).await;
        self.inner.send_batch(batch).await
    }

    /// Batches [`Self::send_all`] keeps in flight: [`MAX_IN_FLIGHT`], or enough to give
    /// every lane a backlog (`LANE_BACKLOG × max_streams + 2`), whichever is more.
    pub fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight()
    }

    /// Send every batch of `batches` (never concatenated), at most
    /// [`Self::max_in_flight`] at once, over as many lanes as keep up, and return the
    /// totals once every row is acknowledged.
    ///
    /// On failure: [`crate::ZerobusError::LoadIncomplete`] (of the first failure's kind) with
    /// the account of every row, unless nothing was sent at all (then the failure itself,
    /// e.g. the `Conversion` error of a single bad batch).
    ///
    /// ```no_run
    /// # async fn demo(w: arrow_zerobus_sdk_wrapper::ZerobusWrapper, batches: Vec<arrow::array::RecordBatch>) -> arrow_zerobus_sdk_wrapper::Result<()> {
    /// let input = futures::stream::iter(batches.into_iter().map(Ok::<_, std::convert::Infallible>));
    /// let summary = w.send_all(input, &|p| eprintln!("{} rows acknowledged", p.rows_acknowledged)).await?;
    /// println!("{} rows in {} batches", summary.rows, summary.batches);
    /// # Ok(()) }
    /// ```
    pub async fn send_all<S, E>(&self, batches: S, progress: Progress<'_>) -> Result<LoadSummary>
    where
        S: Stream<Item = std::result::Result<RecordBatch, E>>,
        E: std::error::Error + 'static,
    {
        let limit = self.max_in_flight();
        self.inner
            .send_all_within(batches, progress, None, limit, None)
            .await
    }

    /// [`Self::send_all`] that also stops when `interrupt` is set: nothing more is read,
    /// the batches in flight are settled, and the error gives the account.
    pub async fn send_all_until<S, E>(
        &self,
        batches: S,
        progress: Progress<'_>,
        interrupt: Option<&Interrupt>,
    ) -> Result<LoadSummary>
    where
        S: Stream<Item = std::result::Result<RecordBatch, E>>,
        E: std::error::Error + 'static,
    {
        let limit = self.max_in_flight();
        self.inner
            .send_all_within(batches, progress, interrupt, limit, None)
            .await
    }

    /// [`Self::send_all_until`] that also hands every send's [`Receipt`] to `receipts`
    /// as it settles: which rows of which batch (numbered in the order read, from 0) were
    /// acknowledged, and which went to which dead-letter file. A load journal builds on
    /// this to know exactly which rows of its input landed.
    pub async fn send_all_with_receipts<S, E>(
        &self,
        batches: S,
        progress: Progress<'_>,
        interrupt: Option<&Interrupt>,
        receipts: Receipts<'_>,
    ) -> Result<LoadSummary>
    where
        S: Stream<Item = std::result::Result<RecordBatch, E>>,
        E: std::error::Error + 'static,
    {
        let limit = self.max_in_flight();
        self.inner
            .send_all_within(batches, progress, interrupt, limit, Some(receipts))
            .await
    }

    /// [`Self::send_all_until`] with at most `limit` batches in flight (several loads
    /// sharing one wrapper each take their share).
    pub(crate) async fn send_all_within<S, E>(
        &self,
        batches: S,
        progress: Progress<'_>,
        interrupt: Option<&Interrupt>,
        limit: usize,
    ) -> Result<LoadSummary>
    where
        S: Stream<Item = std::result::Result<RecordBatch, E>>,
        E: std::error::Error + 'static,
    {
        self.inner
            .send_all_within(batches, progress, interrupt, limit, None)
            .await
    }

    /// Wait until every `send_batch` that began before this call has ended — its rows
    /// acknowledged or dead-lettered, also when it was retrying after its stream was
    /// replaced — and flush the debug files. (A send returns only once its own rows are
    /// acknowledged, so nothing else is left to wait for on the stream.)
    pub async fn flush(&self) -> Result<()> {
        self.inner.flush().await
    }

    /// Stop waiting: the sends in progress stop retrying and waiting for
    /// acknowledgements, and write the rows not acknowledged to dead-letter files (rows that
    /// were sent may land as well: at-least-once); sends that begin later write theirs at
    /// once. What `zerobus-sql` does when the batches in flight have not settled a while
    /// after Ctrl-C ([`Interrupt::give_up`] reaches the wrappers of the loads watching it).
    /// The wrapper is shut down for further use; [`Self::shutdown`] then closes the streams
    /// without waiting for them.
    pub fn give_up(&self) {
        self.inner.give_up()
    }

    /// Flush, close every lane's stream and the debug files. Later `send_batch` calls
    /// fail. After [`Self::give_up`] the streams are dropped without a flush.
    pub async fn shutdown(&self) -> Result<()> {
        self.inner.shutdown().await
    }

    /// Send the rows of a dead-letter file again — or of every `*.dead.arrow` file of a
    /// directory — and return the rows acknowledged. A replayed file is renamed with a
    /// `.replayed` suffix once each of its rows is acknowledged or in a new dead-letter
    /// file: a replay that fails part-way leaves no file whose rows were both re-sent and
    /// kept (the error names the new files).
    pub async fn replay_dead_letters(&self, path: &Path) -> Result<usize> {
        self.inner.replay_dead_letters(path).await
    }

    /// Streams (lanes) open now.
    pub fn streams_open(&self) -> usize {
        self.inner.streams_open()
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
        self.inner.in_span(name, attrs, fut, close).await
    }
}
