//! Delta storage: one writer task per table groups the rows of every stream that writes
//! to it into one Delta commit per `commit_interval`, and reports success to each
//! submitter only after the commit that holds its rows is durable. That single writer is
//! what makes many concurrent streams into one table safe.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use deltalake_core::kernel::StructField;
use deltalake_core::operations::create::CreateBuilder;
use deltalake_core::writer::{DeltaWriter, RecordBatchWriter};
use deltalake_core::BlindDeltaTable;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::cells::{rows_to_batch, Cell};

/// Rows sent by one ingest request, and where to report their fate.
struct Submission {
    /// The request's rows, already columnar: a few tens of bytes a row where the decoded
    /// cells took a few hundred, and built by the request's own task, in parallel.
    batch: RecordBatch,
    /// `Ok(version)` once committed, `Err(reason)` if the commit failed.
    done: oneshot::Sender<Result<u64, String>>,
    /// The submission's share of [`MAX_HELD_ROWS`], given back once its commit is over.
    held: OwnedSemaphorePermit,
}

/// A checkpoint is written after every this many commits (in the background, after the
/// commit's rows are acknowledged), so that opening the table — which the writer does after
/// each commit — replays at most this many JSON commits, not the table's whole history.
pub const CHECKPOINT_EVERY: u64 = 100;

/// Most rows one commit gathers before it is written, whatever the interval.
const MAX_ROWS_PER_COMMIT: usize = 500_000;

/// Submissions queued per table before ingest requests wait (back-pressure).
const QUEUE_DEPTH: usize = 256;

/// Most rows a table's writer holds, queued and being committed together; an ingest
/// request whose rows do not fit waits (and so its stream is read no further) until a
/// commit gives room back. This, not the number of queued requests, bounds the emulator's
/// memory under load whatever the size of the requests. Twice a commit's worth, so the
/// writer can gather its next commit while one is written.
pub const MAX_HELD_ROWS: usize = 2 * MAX_ROWS_PER_COMMIT;

/// Handle to a table's writer task.
#[derive(Clone)]
pub struct TableWriter {
    tx: mpsc::Sender<Submission>,
    dropped: Arc<AtomicBool>,
    held_rows: Arc<Semaphore>,
    schema: SchemaRef,
}

/// Why rows were not queued.
#[derive(Debug)]
pub enum Refused {
    /// The writer has stopped: the table was dropped or the emulator is shutting down.
    Stopped,
    /// The decoded rows do not make a batch of the table's schema (a decoder defect).
    Rows(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Stopped => f.write_str("the table's writer has stopped (the table was dropped or the emulator is shutting down)"),
            Refused::Rows(e) => write!(f, "decoded rows do not fit the table: {e}"),
        }
    }
}

impl TableWriter {
    /// Queue rows for the next commit; waits while the writer holds [`MAX_HELD_ROWS`]
    /// rows or the queue is full.
    pub async fn submit(
        &self,
        rows: Vec<Vec<Cell>>,
    ) -> Result<oneshot::Receiver<Result<u64, String>>, Refused> {
        // Columnar first, so that a request waiting for room holds its rows compactly.
        let batch = rows_to_batch(&self.schema, rows).map_err(Refused::Rows)?;
        self.queue(batch).await
    }

    /// Queue a batch of the table's schema (an Arrow Flight request, checked and
    /// converted) for the next commit; waits as [`Self::submit`] does.
    pub async fn submit_batch(
        &self,
        batch: RecordBatch,
    ) -> Result<oneshot::Receiver<Result<u64, String>>, Refused> {
        if !Arc::ptr_eq(&batch.schema(), &self.schema)
            && batch.schema().fields() != self.schema.fields()
        {
            return Err(Refused::Rows(format!(
                "the batch's schema is not the table's: {:?}",
                batch.schema()
            )));
        }
        self.queue(batch).await
    }

    /// Queue a batch built with the table's schema; waits for room as [`Self::submit`].
    async fn queue(
        &self,
        batch: RecordBatch,
    ) -> Result<oneshot::Receiver<Result<u64, String>>, Refused> {
        // A request larger than the whole allowance takes all of it (so it waits for an
        // empty writer) rather than waiting forever.
        let share = u32::try_from(batch.num_rows().clamp(1, MAX_HELD_ROWS)).unwrap_or(u32::MAX);
        let held = self
            .held_rows
            .clone()
            .acquire_many_owned(share)
            .await
            .map_err(|_| Refused::Stopped)?;
        let (done, rx) = oneshot::channel();
        self.tx
            .send(Submission { batch, done, held })
            .await
            .map_err(|_| Refused::Stopped)?;
        Ok(rx)
    }

    /// Mark the table as dropped: queued and future rows are refused, not written.
    pub fn mark_dropped(&self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

/// Create a new Delta table at `location` (an existing table there is an error).
pub async fn create_table(
    location: &Path,
    name: &str,
    fields: Vec<StructField>,
) -> Result<(), String> {
    std::fs::create_dir_all(location)
        .map_err(|e| format!("cannot create {}: {e}", location.display()))?;
    let uri = location
        .to_str()
        .ok_or_else(|| format!("table path {} is not UTF-8", location.display()))?;
    CreateBuilder::new()
        .with_location(uri)
        .with_table_name(name)
        .with_columns(fields)
        .with_save_mode(deltalake_core::protocol::SaveMode::ErrorIfExists)
        .await
        .map(|_| ())
        .map_err(|e| format!("cannot create Delta table at {}: {e}", location.display()))
}

/// Open the table at `location` and start its writer task.
pub async fn start_writer(
    location: &Path,
    commit_interval: Duration,
) -> Result<(TableWriter, SchemaRef), String> {
    let uri = location
        .to_str()
        .ok_or_else(|| format!("table path {} is not UTF-8", location.display()))?;
    let table = BlindDeltaTable::try_new(uri)
        .await
        .map_err(|e| format!("cannot open Delta table at {}: {e}", location.display()))?;
    let schema = table.arrow_schema().map_err(|e| e.to_string())?;
    let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
    let dropped = Arc::new(AtomicBool::new(false));
    tokio::spawn(run_writer(table, rx, commit_interval, dropped.clone()));
    let held_rows = Arc::new(Semaphore::new(MAX_HELD_ROWS));
    Ok((
        TableWriter {
            tx,
            dropped,
            held_rows,
            schema: schema.clone(),
        },
        schema,
    ))
}

async fn run_writer(
    mut table: BlindDeltaTable,
    mut rx: mpsc::Receiver<Submission>,
    interval: Duration,
    dropped: Arc<AtomicBool>,
) {
    let checkpointing = Arc::new(AtomicBool::new(false));
    while let Some(first) = rx.recv().await {
        let deadline = Instant::now() + interval;
        let mut rows_count = first.batch.num_rows();
        let mut pending = vec![first];
        while rows_count < MAX_ROWS_PER_COMMIT {
            let next = if interval.is_zero() {
                rx.try_recv().ok()
            } else {
                tokio::time::timeout_at(deadline, rx.recv())
                    .await
                    .ok()
                    .flatten()
            };
            match next {
                Some(s) => {
                    rows_count += s.batch.num_rows();
                    pending.push(s);
                }
                None => break,
            }
        }
        let mut batches = Vec::with_capacity(pending.len());
        let mut waiters = Vec::with_capacity(pending.len());
        let mut held = Vec::with_capacity(pending.len());
        for s in pending {
            batches.push(s.batch);
            waiters.push(s.done);
            held.push(s.held);
        }
        let result = if dropped.load(Ordering::SeqCst) {
            Err("the table was dropped; rows were not written".to_string())
        } else {
            commit(&mut table, batches, rows_count).await
        };
        // The rows are written (or refused) and freed: let waiting requests in.
        drop(held);
        if let Err(e) = &result {
            tracing::error!(table = %table.table_url(), error = %e, "Delta commit failed");
            // The in-memory snapshot may be stale after a failed commit: reload it.
            if let Ok(fresh) = BlindDeltaTable::try_new(table.table_url().as_str()).await {
                table = fresh;
            }
        }
        for w in waiters {
            let _ = w.send(result.clone());
        }
        if let Ok(version) = result {
            if version % CHECKPOINT_EVERY == 0 && !checkpointing.swap(true, Ordering::SeqCst) {
                let url = table.table_url().clone();
                let done = checkpointing.clone();
                tokio::spawn(async move {
                    let written = deltalake_core::protocol::checkpoints::create_checkpoint_from_table_url_and_cleanup(
                        url.clone(),
                        version,
                        Some(false),
                        None,
                    )
                    .await;
                    match written {
                        Ok(()) => tracing::debug!(table = %url, version, "checkpoint written"),
                        Err(e) => {
                            tracing::warn!(table = %url, version, error = %e, "checkpoint failed; the JSON log is intact")
                        }
                    }
                    done.store(false, Ordering::SeqCst);
                });
            }
        }
    }
}

/// Every row of the Delta table at `location`, read from its active files.
///
/// A convenience for tests, examples and inspection; it reads the whole table into memory.
pub async fn read_table(location: &Path) -> Result<Vec<arrow::array::RecordBatch>, String> {
    use deltalake_core::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let url = url::Url::from_directory_path(location)
        .map_err(|_| format!("{} is not an absolute directory path", location.display()))?;
    let table = deltalake_core::DeltaTable::try_from_url(url)
        .await
        .map_err(|e| format!("cannot open Delta table at {}: {e}", location.display()))?;
    let mut out = Vec::new();
    for uri in table.get_file_uris().map_err(|e| e.to_string())? {
        // delta-rs gives plain paths for local tables and URLs for others.
        let path = match url::Url::parse(&uri) {
            Ok(u) if u.scheme() == "file" => u
                .to_file_path()
                .map_err(|_| format!("data file {uri} is not a local file"))?,
            Ok(u) if u.scheme().len() > 1 => {
                return Err(format!("data file {u} is not a local file"))
            }
            _ => std::path::PathBuf::from(&uri),
        };
        let file = std::fs::File::open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.build())
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for batch in reader {
            out.push(batch.map_err(|e| format!("cannot read {}: {e}", path.display()))?);
        }
    }
    Ok(out)
}

async fn commit(
    table: &mut BlindDeltaTable,
    batches: Vec<RecordBatch>,
    n: usize,
) -> Result<u64, String> {
    let mut writer = RecordBatchWriter::for_blind_appends(table).map_err(|e| e.to_string())?;
    for batch in batches {
        writer.write(batch).await.map_err(|e| e.to_string())?;
    }
    let adds = writer.flush().await.map_err(|e| e.to_string())?;
    let version = table.commit(adds).await.map_err(|e| e.to_string())?;
    tracing::debug!(table = %table.table_url(), rows = n, version, "committed");
    Ok(version)
}
