//! Debug files: every batch sent is appended to an Arrow IPC stream file
//! (`<table>.<ms>.<seq>.arrows`, readable by `pyarrow.ipc.open_stream`) and what was sent
//! for it to a second file: its encoded records, length-delimited protobuf (`….pb`:
//! varint length, then the record), or on the `flight` transport the batch in the table's
//! Flight schema (`….flight.arrows`, an Arrow IPC stream).
//! Files are flushed every `debug_flush_interval_secs`, rotated at `debug_max_file_size`
//! (and when the batch schema changes), and created 0600. They hold rows, never
//! credentials.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::ipc::writer::StreamWriter;

use crate::convert::EncodedRows;
use crate::error::{Detail, Result, ZerobusError};
use crate::files::{create_private, file_stem, unique_part, Counting};

type Sink = Counting<BufWriter<std::fs::File>>;

struct Open {
    schema: SchemaRef,
    ipc: StreamWriter<Sink>,
    sent: Sent,
}

/// The file of what was sent.
enum Sent {
    Proto(Sink),
    Flight(Box<StreamWriter<Sink>>),
}

impl Sent {
    fn written(&self) -> u64 {
        match self {
            Sent::Proto(s) => s.written,
            Sent::Flight(w) => w.get_ref().written,
        }
    }

    fn flush(&mut self) {
        let _ = match self {
            Sent::Proto(s) => s.flush(),
            Sent::Flight(w) => w.flush().map_err(std::io::Error::other),
        };
    }
}

/// What was sent for a batch.
enum Payload<'a> {
    Proto(&'a EncodedRows),
    Flight(&'a RecordBatch),
}

struct State {
    seq: u32,
    open: Option<Open>,
    files: Vec<PathBuf>,
}

/// The debug spool of one wrapper.
pub struct DebugSpool {
    dir: PathBuf,
    stem: String,
    max_size: Option<u64>,
    state: Mutex<State>,
}

impl std::fmt::Debug for DebugSpool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DebugSpool")
            .field("dir", &self.dir)
            .field("max_size", &self.max_size)
            .finish()
    }
}

fn io(path: &Path, e: impl std::error::Error + Send + Sync + 'static) -> ZerobusError {
    ZerobusError::Configuration(
        Detail::new(format!(
            "debug_output_dir: cannot write {}: {e}",
            path.display()
        ))
        .caused_by(e),
    )
}

impl DebugSpool {
    /// Prepare the directory; when called inside a Tokio runtime, a task flushes the files
    /// every `flush_every` until the spool is dropped.
    pub fn open(
        dir: &Path,
        table: &str,
        max_size: Option<u64>,
        flush_every: Duration,
    ) -> Result<Arc<DebugSpool>> {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let spool = Arc::new(DebugSpool {
            dir: dir.to_path_buf(),
            stem: format!("{}.{}", file_stem(table), unique_part()),
            max_size,
            state: Mutex::new(State {
                seq: 0,
                open: None,
                files: Vec::new(),
            }),
        });
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let weak: Weak<DebugSpool> = Arc::downgrade(&spool);
            handle.spawn(async move {
                let mut tick = tokio::time::interval(flush_every);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    match weak.upgrade() {
                        Some(s) => s.flush(),
                        None => break,
                    }
                }
            });
        }
        Ok(spool)
    }

    /// Append a batch and its encoded rows.
    pub fn record(&self, batch: &RecordBatch, rows: &EncodedRows) -> Result<()> {
        self.append(batch, Payload::Proto(rows))
    }

    /// Append a batch and the batch sent for it over Arrow Flight.
    pub fn record_flight(&self, batch: &RecordBatch, sent: &RecordBatch) -> Result<()> {
        self.append(batch, Payload::Flight(sent))
    }

    fn append(&self, batch: &RecordBatch, payload: Payload<'_>) -> Result<()> {
        let mut st = self
            .state
            .lock()
            .map_err(|_| ZerobusError::Configuration("debug spool lock poisoned".into()))?;
        let rotate = match &st.open {
            None => true,
            Some(o) => {
                o.schema.fields() != batch.schema().fields()
                    || self
                        .max_size
                        .is_some_and(|m| o.ipc.get_ref().written >= m || o.sent.written() >= m)
                    || matches!(
                        (&o.sent, &payload),
                        (Sent::Proto(_), Payload::Flight(_)) | (Sent::Flight(_), Payload::Proto(_))
                    )
            }
        };
        if rotate {
            if let Some(old) = st.open.take() {
                finish(old);
            }
            st.seq += 1;
            let ipc_path = self.dir.join(format!("{}.{:04}.arrows", self.stem, st.seq));
            let sent_path = self.dir.join(match payload {
                Payload::Proto(_) => format!("{}.{:04}.pb", self.stem, st.seq),
                Payload::Flight(_) => format!("{}.{:04}.flight.arrows", self.stem, st.seq),
            });
            let sink = |path: &Path| -> Result<Sink> {
                let file = create_private(path).map_err(|e| io(path, e))?;
                Ok(Counting {
                    inner: BufWriter::new(file),
                    written: 0,
                })
            };
            let ipc = StreamWriter::try_new(sink(&ipc_path)?, &batch.schema())
                .map_err(|e| io(&ipc_path, e))?;
            let sent = match payload {
                Payload::Proto(_) => Sent::Proto(sink(&sent_path)?),
                Payload::Flight(f) => Sent::Flight(Box::new(
                    StreamWriter::try_new(sink(&sent_path)?, &f.schema())
                        .map_err(|e| io(&sent_path, e))?,
                )),
            };
            st.files.push(ipc_path);
            st.files.push(sent_path);
            st.open = Some(Open {
                schema: batch.schema(),
                ipc,
                sent,
            });
        }
        let dir = self.dir.clone();
        let Some(open) = st.open.as_mut() else {
            return Ok(());
        };
        open.ipc.write(batch).map_err(|e| io(&dir, e))?;
        match (&mut open.sent, payload) {
            (Sent::Proto(proto), Payload::Proto(rows)) => {
                let mut len = Vec::with_capacity(10);
                for row in rows.iter() {
                    len.clear();
                    prost::encoding::encode_varint(row.len() as u64, &mut len);
                    proto.write_all(&len).map_err(|e| io(&dir, e))?;
                    proto.write_all(row).map_err(|e| io(&dir, e))?;
                }
            }
            (Sent::Flight(w), Payload::Flight(sent)) => w.write(sent).map_err(|e| io(&dir, e))?,
            // Files of the other kind were rotated away above.
            _ => {}
        }
        Ok(())
    }

    /// Push buffered bytes to the files.
    pub fn flush(&self) {
        if let Ok(mut st) = self.state.lock() {
            if let Some(o) = st.open.as_mut() {
                let _ = o.ipc.flush();
                o.sent.flush();
            }
        }
    }

    /// Finish the open files (the IPC stream gets its end marker).
    pub fn close(&self) {
        if let Ok(mut st) = self.state.lock() {
            if let Some(o) = st.open.take() {
                finish(o);
            }
        }
    }

    /// Every file written so far, in order (the batches, then what was sent, per rotation).
    pub fn files(&self) -> Vec<PathBuf> {
        self.state
            .lock()
            .map(|s| s.files.clone())
            .unwrap_or_default()
    }
}

fn finish(mut o: Open) {
    if let Err(e) = o.ipc.finish() {
        tracing::warn!(error = %e, "could not finish a debug IPC file");
    }
    let _ = o.ipc.flush();
    if let Sent::Flight(w) = &mut o.sent {
        if let Err(e) = w.finish() {
            tracing::warn!(error = %e, "could not finish a debug Flight file");
        }
    }
    o.sent.flush();
}

impl Drop for DebugSpool {
    fn drop(&mut self) {
        self.close();
    }
}
