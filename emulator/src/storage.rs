//! Delta storage: one writer task per table groups the rows of every stream that writes
//! to it into one Delta commit per `commit_interval`, and reports success to each
//! submitter only after the commit that holds its rows is durable. That single writer is
//! what makes many concurrent streams into one table safe.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use deltalake_core::kernel::StructField;
use deltalake_core::operations::create::CreateBuilder;
use deltalake_core::writer::{DeltaWriter, RecordBatchWriter};
use deltalake_core::BlindDeltaTable;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::cells::{rows_to_batch, Cell};

/// Rows sent by one ingest request, and where to report their fate.
pub struct Submission {
    /// Decoded rows in table column order.
    pub rows: Vec<Vec<Cell>>,
    /// `Ok(version)` once committed, `Err(reason)` if the commit failed.
    pub done: oneshot::Sender<Result<u64, String>>,
}

/// A checkpoint is written after every this many commits (in the background, after the
/// commit's rows are acknowledged), so that opening the table — which the writer does after
/// each commit — replays at most this many JSON commits, not the table's whole history.
pub const CHECKPOINT_EVERY: u64 = 100;

/// Most rows one commit gathers before it is written, whatever the interval.
const MAX_ROWS_PER_COMMIT: usize = 500_000;

/// Submissions queued per table before ingest requests wait (back-pressure).
const QUEUE_DEPTH: usize = 256;

/// Handle to a table's writer task.
#[derive(Clone)]
pub struct TableWriter {
    tx: mpsc::Sender<Submission>,
    dropped: Arc<AtomicBool>,
}

impl TableWriter {
    /// Queue rows for the next commit; waits while the queue is full.
    pub async fn submit(
        &self,
        rows: Vec<Vec<Cell>>,
    ) -> Result<oneshot::Receiver<Result<u64, String>>, String> {
        let (done, rx) = oneshot::channel();
        self.tx
            .send(Submission { rows, done })
            .await
            .map_err(|_| "the table's writer has stopped (the table was dropped or the emulator is shutting down)".to_string())?;
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
    tokio::spawn(run_writer(
        table,
        schema.clone(),
        rx,
        commit_interval,
        dropped.clone(),
    ));
    Ok((TableWriter { tx, dropped }, schema))
}

async fn run_writer(
    mut table: BlindDeltaTable,
    schema: SchemaRef,
    mut rx: mpsc::Receiver<Submission>,
    interval: Duration,
    dropped: Arc<AtomicBool>,
) {
    let checkpointing = Arc::new(AtomicBool::new(false));
    while let Some(first) = rx.recv().await {
        let deadline = Instant::now() + interval;
        let mut rows_count = first.rows.len();
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
                    rows_count += s.rows.len();
                    pending.push(s);
                }
                None => break,
            }
        }
        let mut rows = Vec::with_capacity(rows_count);
        let mut waiters = Vec::with_capacity(pending.len());
        for s in pending {
            rows.extend(s.rows);
            waiters.push(s.done);
        }
        let result = if dropped.load(Ordering::SeqCst) {
            Err("the table was dropped; rows were not written".to_string())
        } else {
            commit(&mut table, &schema, rows).await
        };
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
    schema: &SchemaRef,
    rows: Vec<Vec<Cell>>,
) -> Result<u64, String> {
    let n = rows.len();
    let batch = rows_to_batch(schema, rows)?;
    let mut writer = RecordBatchWriter::for_blind_appends(table).map_err(|e| e.to_string())?;
    writer.write(batch).await.map_err(|e| e.to_string())?;
    let adds = writer.flush().await.map_err(|e| e.to_string())?;
    let version = table.commit(adds).await.map_err(|e| e.to_string())?;
    tracing::debug!(table = %table.table_url(), rows = n, version, "committed");
    Ok(version)
}
